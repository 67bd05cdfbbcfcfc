//! Live: a video file's decoder threads run at a lower priority than the rest of the process,
//! so that on a machine with few cores the frame's way to the screen (tile, classify, draw,
//! present) does not wait behind a decoder that is already a frame or more ahead. Lowering a
//! thread's priority needs no privilege; raising ours would.
//!
//! GStreamer posts a stream-status message from each streaming thread as it enters its loop and
//! as it leaves it; a synchronous bus handler runs in that thread, so it can lower the thread's
//! own priority there (and threads the codec starts from it, such as libav's, inherit it), and
//! restore it when the thread goes back to GStreamer's shared pool.

use std::sync::atomic::{AtomicI32, Ordering};

use gstreamer as gst;
use gstreamer::prelude::*;

/// Nice value the decoder's streaming threads take, or `i32::MIN` to leave them alone.
static DECODER_NICE: AtomicI32 = AtomicI32::new(i32::MIN);

/// From now on, video files opened in this process decode on threads `increment` steps nicer
/// than the calling thread (0 leaves them alone). Live runs set it; offline renders, which want
/// every core for throughput, do not.
pub fn lower_decoder_threads(increment: i32) {
    let target = if increment > 0 && can_restore() {
        own_nice().map_or(i32::MIN, |base| (base + increment).min(19))
    } else {
        i32::MIN
    };
    DECODER_NICE.store(target, Ordering::Relaxed);
}

/// Whether a thread may take its priority back after lowering it. Without that right (an
/// unprivileged user whose RLIMIT_NICE does not allow it), a streaming thread would go back to
/// GStreamer's shared thread pool still lowered, and a pipeline that reuses it later (the
/// recorder's encoder) would run behind; so the decoder is then left alone. Tried on a thread
/// of its own, which ends with the try.
fn can_restore() -> bool {
    std::thread::Builder::new()
        .name("emojicam-nice-probe".into())
        .spawn(|| {
            let Some(base) = own_nice() else { return false };
            if base >= 19 {
                return false;
            }
            set_own_nice(base + 1) && set_own_nice(base)
        })
        .ok()
        .and_then(|t| t.join().ok())
        .unwrap_or(false)
}

/// Installs the handler that applies [`lower_decoder_threads`] to `pipeline`'s streaming
/// threads, if it was asked for.
pub(super) fn watch(pipeline: &gst::Pipeline) {
    let target = DECODER_NICE.load(Ordering::Relaxed);
    if target == i32::MIN {
        return;
    }
    let Some(bus) = pipeline.bus() else { return };
    let Some(base) = own_nice() else { return };
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::StreamStatus(s) = msg.view() {
            match s.type_() {
                gst::StreamStatusType::Enter => {
                    set_own_nice(target);
                }
                gst::StreamStatusType::Leave => {
                    set_own_nice(base);
                }
                _ => {}
            }
        }
        gst::BusSyncReply::Pass
    });
}

/// The calling thread's nice value (Linux: `PRIO_PROCESS` with 0 is the calling thread).
fn own_nice() -> Option<i32> {
    // SAFETY: getpriority reads the calling thread's priority; -1 is a valid value, so errno
    // tells an error apart.
    unsafe {
        *libc::__errno_location() = 0;
        let n = libc::getpriority(libc::PRIO_PROCESS, 0);
        (n != -1 || *libc::__errno_location() == 0).then_some(n)
    }
}

/// Sets the calling thread's nice value; false where the system refuses (raising it back
/// needs privilege or RLIMIT_NICE), which leaves the thread as it was.
fn set_own_nice(n: i32) -> bool {
    // SAFETY: setpriority on the calling thread only.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A streaming thread of a pipeline opened while the setting is on runs nicer than the
    /// thread that opened it; one opened after it is turned off runs as that thread.
    #[test]
    fn streaming_threads_run_nicer() {
        crate::media::init().expect("GStreamer");
        let seen = |increment: i32| -> Option<i32> {
            lower_decoder_threads(increment);
            let pipeline = gst::Pipeline::new();
            let src = gst::ElementFactory::make("videotestsrc")
                .property("num-buffers", 2)
                .build()
                .expect("videotestsrc");
            let sink = gst::ElementFactory::make("fakesink").build().expect("fakesink");
            pipeline.add_many([&src, &sink]).expect("add");
            src.link(&sink).expect("link");
            watch(&pipeline);
            lower_decoder_threads(0);
            let nice = Arc::new(Mutex::new(None));
            let pad = src.static_pad("src").expect("pad");
            let into = nice.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if let Ok(mut n) = into.lock() {
                    *n = own_nice();
                }
                gst::PadProbeReturn::Ok
            });
            pipeline.set_state(gst::State::Playing).expect("play");
            let bus = pipeline.bus().expect("bus");
            let _ = bus.timed_pop_filtered(
                gst::ClockTime::from_seconds(20),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            );
            pipeline.set_state(gst::State::Null).expect("stop");
            nice.lock().map(|n| *n).expect("lock")
        };
        let base = own_nice().expect("own priority");
        // Lowered only where the thread can take its priority back (root, or RLIMIT_NICE).
        let lowered = if can_restore() { (base + 3).min(19) } else { base };
        assert_eq!(seen(3), Some(lowered));
        assert_eq!(seen(0), Some(base));
    }
}
