//! A sink on a thread of its own, fed through a bounded channel. Offline rendering encodes
//! frame N while the pipeline works on frame N+1 and never loses one ([`Policy::Block`]); the
//! live outputs (recorder, virtual camera, stream) never make the preview wait and count the
//! frames they could not keep up with ([`Policy::DropAndCount`]).

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender, TrySendError};

use super::Sink;
use crate::domain::MosaicFrame;
use crate::error::{Error, Result};
use crate::frame::{Frame, I420Frame};

/// Frames that may wait for an offline sink: enough to even out the encoder's pace, little
/// memory.
pub const ENCODE_AHEAD: usize = 2;

/// What [`SinkThread::push`] does when the sink's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Wait until the sink has room: every frame is written (offline).
    Block,
    /// Drop the frame and count it: the caller never waits (live).
    DropAndCount,
}

/// What a sink thread did, for the summary line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkReport {
    pub label: String,
    pub path: PathBuf,
    pub written: u64,
    /// Frames the sink could not keep up with.
    pub dropped: u64,
}

impl std::fmt::Display for SinkReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.written == 0 && self.dropped == 0 {
            return write!(f, "{} {}: no frames", self.label, self.path.display());
        }
        write!(f, "{} {}: {} frames", self.label, self.path.display(), self.written)?;
        if self.dropped > 0 {
            write!(f, " ({} dropped: the {} fell behind)", self.dropped, self.label)?;
        }
        Ok(())
    }
}

/// A rendered mosaic in the form its sink takes ([`Sink::takes_i420`]).
#[derive(Clone, Debug)]
pub enum Picture {
    Rgba(Frame),
    I420(I420Frame),
}

/// One mosaic on its way to the sink.
struct Queued {
    mosaic: MosaicFrame,
    image: Option<Picture>,
    /// The frame number it belongs at (see [`SinkThread::push`]); `None`: the next one.
    slot: Option<u64>,
}

enum Message {
    Frame(Queued),
    /// Finish the output, holding the last slotted frame until it has this many frames.
    Finish(Option<u64>),
    /// The input's stream ends here ([`Sink::end_at`]).
    EndAt(std::time::Duration),
}

/// A [`Sink`] running on its own thread. Each frame's stamp `seq` is set to its number in the
/// output on the thread.
pub struct SinkThread {
    label: String,
    path: PathBuf,
    policy: Policy,
    tx: Option<Sender<Message>>,
    /// The thread's result: frames written, and the sink's [`Sink::left_out`] once finished.
    handle: Option<JoinHandle<Result<(u64, u64)>>>,
    needs_image: bool,
    takes_i420: bool,
    dropped: u64,
    failed: bool,
    finish_on_drop: bool,
    /// The sink's [`Sink::left_out`], from its thread's result once it has finished.
    left_out: u64,
}

impl SinkThread {
    /// Starts `sink` on a thread named `label` (also used in messages); `capacity` frames may
    /// wait for it. Dropped without finishing, the sink is dropped unfinished (it leaves no
    /// output that looks valid) unless [`Self::finish_on_drop`] says otherwise.
    pub fn spawn(label: &str, path: PathBuf, mut sink: Box<dyn Sink>, capacity: usize, policy: Policy) -> Result<Self> {
        let needs_image = sink.needs_image();
        let takes_i420 = sink.takes_i420();
        let (tx, rx) = bounded::<Message>(capacity.max(1));
        let handle = std::thread::Builder::new()
            .name(label.to_string())
            .spawn(move || {
                let mut index = 0u64;
                // The last frame that had a slot, to fill the slots up to the next one.
                let mut previous: Option<Queued> = None;
                let write = |sink: &mut Box<dyn Sink>, q: &mut Queued, index: u64| {
                    q.mosaic.stamp.seq = index;
                    // A frame without a slot is written once: its pixels are handed over.
                    if q.slot.is_none() && matches!(q.image, Some(Picture::Rgba(_))) {
                        if let Some(Picture::Rgba(image)) = q.image.take() {
                            return sink.write_owned(&q.mosaic, Some(image));
                        }
                    }
                    match &q.image {
                        Some(Picture::I420(image)) => sink.write_i420(&q.mosaic, image),
                        Some(Picture::Rgba(image)) => sink.write(&q.mosaic, Some(image)),
                        None => sink.write(&q.mosaic, None),
                    }
                };
                for message in rx.iter() {
                    let end = match message {
                        Message::Frame(mut q) => {
                            if q.slot.is_some_and(|slot| slot < index) {
                                // Its slot is taken (two captures within one frame's time):
                                // an output placed by time holds one frame a slot, so this one
                                // is shown from the next slot a later frame leaves free.
                                previous = Some(q);
                                continue;
                            }
                            if let (Some(slot), Some(prev)) = (q.slot, previous.as_mut()) {
                                while index < slot {
                                    write(&mut sink, prev, index)?;
                                    index += 1;
                                }
                            }
                            write(&mut sink, &mut q, index)?;
                            index += 1;
                            previous = q.slot.is_some().then_some(q);
                            continue;
                        }
                        Message::EndAt(end) => {
                            sink.end_at(end);
                            continue;
                        }
                        Message::Finish(end) => end,
                    };
                    if let (Some(end), Some(prev)) = (end, previous.as_mut()) {
                        while index < end {
                            write(&mut sink, prev, index)?;
                            index += 1;
                        }
                    }
                    sink.finish()?;
                    return Ok((index, sink.left_out()));
                }
                // Closed without `Finish`: the sink is dropped unfinished.
                Ok((index, 0))
            })
            .map_err(|e| Error::Other(format!("cannot start the {label} thread: {e}")))?;
        Ok(Self {
            label: label.to_string(),
            path,
            policy,
            tx: Some(tx),
            handle: Some(handle),
            needs_image,
            takes_i420,
            dropped: 0,
            failed: false,
            finish_on_drop: false,
            left_out: 0,
        })
    }

    /// Finish the output when dropped (a live recording is never left without its end, even
    /// on an early return); errors then are printed.
    pub fn finish_on_drop(mut self) -> Self {
        self.finish_on_drop = true;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Whether the sink takes its images as I420 ([`Sink::takes_i420`]).
    pub fn takes_i420(&self) -> bool {
        self.takes_i420
    }

    /// Queues a mosaic (blocking or dropping as the policy says). `slot`: the frame number it
    /// belongs at in the output, for a recording placed by capture time; the previous slotted
    /// mosaic fills the slots in between, as it stayed on screen. Returns false once the sink
    /// has failed (its error comes from [`Self::close`]).
    pub fn push(&mut self, mosaic: MosaicFrame, image: Option<Picture>, slot: Option<u64>) -> bool {
        let Some(tx) = &self.tx else { return false };
        let message = Message::Frame(Queued { mosaic, image, slot });
        let sent = match self.policy {
            Policy::Block => tx.send(message).is_ok(),
            Policy::DropAndCount => match tx.try_send(message) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.dropped += 1;
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        };
        self.failed |= !sent;
        sent
    }

    /// Lets the sink write what is queued, finishes its output and reports.
    pub fn close(mut self) -> Result<SinkReport> {
        self.finish_inner(None)
    }

    /// Like [`Self::close`], holding the last slotted frame until the output has `frames`
    /// frames (a recording that ends when it was stopped, not when its last mosaic was made).
    pub fn close_at(mut self, frames: u64) -> Result<SinkReport> {
        self.finish_inner(Some(frames))
    }

    fn finish_inner(&mut self, end: Option<u64>) -> Result<SinkReport> {
        if let Some(tx) = self.tx.take() {
            // Fails only if the thread stopped: joining it says why.
            let _ = tx.send(Message::Finish(end));
        }
        let (written, left_out) = self.join()?;
        self.left_out = left_out;
        Ok(SinkReport {
            label: self.label.clone(),
            path: self.path.clone(),
            written,
            dropped: self.dropped,
        })
    }

    /// The thread's result once it has stopped (its error, if writing failed).
    fn join(&mut self) -> Result<(u64, u64)> {
        self.tx.take();
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| Error::Other(format!("the {} thread panicked", self.label)))?,
            None => Ok((0, 0)),
        }
    }
}

impl Sink for SinkThread {
    fn write(&mut self, mosaic: &MosaicFrame, image: Option<&Frame>) -> Result<()> {
        self.write_owned(mosaic, image.cloned())
    }

    fn write_owned(&mut self, mosaic: &MosaicFrame, image: Option<Frame>) -> Result<()> {
        if self.push(mosaic.clone(), image.map(Picture::Rgba), None) {
            return Ok(());
        }
        // The thread stopped: it failed writing; report why.
        self.join()?;
        Err(Error::Other(format!("the {} thread stopped", self.label)))
    }

    fn finish(&mut self) -> Result<()> {
        self.finish_inner(None).map(drop)
    }

    fn end_at(&mut self, end: std::time::Duration) {
        // A thread that stopped has failed: `finish` reports why.
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::EndAt(end));
        }
    }

    fn needs_image(&self) -> bool {
        self.needs_image
    }

    fn takes_i420(&self) -> bool {
        self.takes_i420
    }

    fn left_out(&self) -> u64 {
        self.left_out
    }

    fn write_i420(&mut self, mosaic: &MosaicFrame, image: &I420Frame) -> Result<()> {
        if self.push(mosaic.clone(), Some(Picture::I420(image.clone())), None) {
            return Ok(());
        }
        self.join()?;
        Err(Error::Other(format!("the {} thread stopped", self.label)))
    }
}

impl Drop for SinkThread {
    fn drop(&mut self) {
        if self.handle.is_none() {
            return;
        }
        if self.finish_on_drop {
            if let Err(e) = self.finish_inner(None) {
                crate::say!("emojicam: {}: {e}", self.label);
            }
        } else {
            // Its error, if any, was already reported by `write`.
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{mpsc, Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::domain::{Grid, Stamp};

    /// Records what reaches it; fails writing frame `fail_at`; with a gate, each write first
    /// waits for the gate (at most 10 s).
    struct Probe {
        log: Arc<Mutex<Vec<String>>>,
        fail_at: Option<u64>,
        gate: Option<mpsc::Receiver<()>>,
    }

    impl Probe {
        fn new(log: &Arc<Mutex<Vec<String>>>) -> Self {
            Self {
                log: log.clone(),
                fail_at: None,
                gate: None,
            }
        }
    }

    impl Sink for Probe {
        fn write(&mut self, m: &MosaicFrame, _: Option<&Frame>) -> Result<()> {
            if let Some(gate) = &self.gate {
                let _ = gate.recv_timeout(Duration::from_secs(10));
            }
            if Some(m.stamp.seq) == self.fail_at {
                return Err(Error::Other(format!("disk full at frame {}", m.stamp.seq)));
            }
            self.log.lock().unwrap().push(format!("{} {:?}", m.stamp.seq, m.emoji));
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.log.lock().unwrap().push("finish".into());
            Ok(())
        }
    }

    fn mosaic(seq: u64, emoji: u32) -> MosaicFrame {
        MosaicFrame {
            stamp: Stamp::new(seq, None),
            grid: Grid::new(10, 10, 10),
            emoji: vec![emoji],
            ..MosaicFrame::default()
        }
    }

    fn blocking(probe: Probe) -> SinkThread {
        SinkThread::spawn("output", "x".into(), Box::new(probe), 2, Policy::Block).unwrap()
    }

    #[test]
    fn passes_every_frame_in_order_then_finishes() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut s = blocking(Probe::new(&log));
        for i in 0..20u32 {
            s.write(&mosaic(i as u64, i), None).unwrap();
        }
        Sink::finish(&mut s).unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 21);
        assert_eq!(log[7], "7 [7]");
        assert_eq!(log[20], "finish");
    }

    #[test]
    fn a_failing_sink_reports_its_error_and_is_never_finished() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut s = blocking(Probe {
            fail_at: Some(3),
            ..Probe::new(&log)
        });
        let err = (0..50u64).find_map(|i| s.write(&mosaic(i, 1), None).err());
        let err = err.expect("the failure surfaces in a later write");
        assert!(err.to_string().contains("disk full at frame 3"), "{err}");
        drop(s);
        assert!(!log.lock().unwrap().iter().any(|l| l == "finish"));
    }

    #[test]
    fn dropped_without_finish_does_not_finish() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut s = blocking(Probe::new(&log));
        s.write(&mosaic(0, 1), None).unwrap();
        drop(s);
        assert_eq!(*log.lock().unwrap(), vec!["0 [1]".to_string()]);
    }

    #[test]
    fn a_slow_sink_drops_and_counts_instead_of_blocking() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (open, gate) = mpsc::channel();
        let mut w = SinkThread::spawn(
            "recorder",
            "x.mp4".into(),
            Box::new(Probe {
                gate: Some(gate),
                ..Probe::new(&log)
            }),
            2,
            Policy::DropAndCount,
        )
        .expect("spawn");
        // The sink writes nothing until the gate opens: at most one frame in its hands and
        // two queued; a push that waited would let more through.
        for i in 0..50 {
            assert!(w.push(mosaic(i, 0), None, None));
        }
        assert!(w.dropped() >= 47, "{} dropped", w.dropped());
        for _ in 0..50 {
            let _ = open.send(());
        }
        let report = w.close().expect("finish");
        assert_eq!(report.written + report.dropped, 50);
        assert_eq!(log.lock().unwrap().len() as u64, report.written + 1);
    }

    #[test]
    fn slots_hold_the_previous_frame_until_the_end() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = SinkThread::spawn("recorder", "x.mp4".into(), Box::new(Probe::new(&log)), 8, Policy::Block)
            .expect("spawn")
            .finish_on_drop();
        assert!(w.push(mosaic(40, 1), None, Some(0)));
        assert!(w.push(mosaic(41, 2), None, Some(3)));
        let report = w.close_at(5).expect("finish");
        assert_eq!(report.written, 5);
        let log = log.lock().unwrap();
        assert_eq!(*log, ["0 [1]", "1 [1]", "2 [1]", "3 [2]", "4 [2]", "finish"]);
    }

    #[test]
    fn a_slot_already_taken_is_not_written_twice() {
        // Two captures within one frame's time: the output keeps one frame a slot, and the
        // later capture is what fills the next free slot (here slot 1, before slot 2's frame).
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = SinkThread::spawn("recorder", "x.mp4".into(), Box::new(Probe::new(&log)), 8, Policy::Block)
            .expect("spawn")
            .finish_on_drop();
        assert!(w.push(mosaic(40, 1), None, Some(0)));
        assert!(w.push(mosaic(41, 2), None, Some(0)));
        assert!(w.push(mosaic(42, 3), None, Some(2)));
        assert!(w.push(mosaic(43, 4), None, Some(2)));
        let report = w.close_at(4).expect("finish");
        assert_eq!(report.written, 4);
        let log = log.lock().unwrap();
        assert_eq!(*log, ["0 [1]", "1 [2]", "2 [3]", "3 [4]", "finish"]);
    }

    #[test]
    fn finish_on_drop_finishes() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = blocking(Probe::new(&log)).finish_on_drop();
        assert!(w.push(mosaic(0, 1), None, None));
        drop(w);
        assert_eq!(*log.lock().unwrap(), ["0 [1]", "finish"]);
    }
}
