//! The frame reader: one thread that pulls frames from a [`Source`] and hands them to the
//! pipeline through a bounded channel, for every mode. Live ([`FrameReader::start`]: a camera, or a
//! file played as if it were one) it keeps one slot where the newest frame wins, so a slow
//! pipeline always works on the freshest picture and every frame it never saw is counted as
//! dropped; offline ([`FrameReader::spawn`] with [`Keep::All`]) it decodes ahead and never drops.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

use super::Source;
use crate::error::{Error, Result};
use crate::frame::{Frame, StreamInfo};

/// One frame off the source.
#[derive(Debug)]
pub struct ReadFrame {
    pub frame: Frame,
    /// Zero-based number of the frame since capture started (dropped frames included).
    pub seq: u64,
    /// When the source delivered it: the start of the latency the overlay shows.
    pub at: Instant,
    /// Frames replaced in the channel before the pipeline took them, since capture started.
    pub dropped: u64,
    /// Presentation time from the stream's start, when the source knows it.
    pub timestamp: Option<Duration>,
}

#[derive(Debug)]
pub enum ReaderEvent {
    /// The source is open (a camera has chosen its format); sent once, before the first frame.
    Started(StreamInfo),
    Frame(ReadFrame),
    /// The source ended (a file that yields nothing more).
    End,
    /// The source failed (for a camera: it was unplugged or stopped delivering).
    Failed(Error),
}

/// How the capture thread paces a source.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// The source blocks until its next frame (a camera).
    Source,
    /// One frame per interval (a file played as if it were a camera).
    Every(Duration),
}

/// Which frames the reader delivers when the consumer is slower than the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Only the newest: a stale queued frame is replaced and counted as dropped (live).
    Newest,
    /// Every frame: the reader waits for room in the queue (offline).
    All,
}

/// How a reader runs.
#[derive(Clone, Copy, Debug)]
pub struct ReaderOptions {
    pub pace: Pace,
    pub keep: Keep,
    /// Events that may wait for the consumer.
    pub queue: usize,
    /// Stop (with [`ReaderEvent::End`]) after this many frames.
    pub limit: Option<u64>,
}

/// Called after each event is queued, to wake the thread that consumes them (the window's
/// event loop); headless consumers block on the channel and need none.
pub type Wake = Box<dyn Fn() + Send>;

/// The running capture thread. Dropping it stops the thread.
pub struct FrameReader {
    rx: Receiver<ReaderEvent>,
    stop: Option<Sender<()>>,
    /// Returns the frames the source found damaged and where its stream ended.
    handle: Option<JoinHandle<(u64, Option<Duration>)>>,
    info: StreamInfo,
    /// The source's [`Source::end`], known once [`Self::finish`] returned.
    end: Option<Duration>,
}

impl FrameReader {
    /// Starts the thread and waits until the source has delivered its first frame (or failed),
    /// so a missing camera is reported before any window opens. Returns that first frame too.
    pub fn start(source: Box<dyn Source>, pace: Pace, wake: Option<Wake>) -> Result<(Self, ReadFrame)> {
        let options = ReaderOptions {
            pace,
            keep: Keep::Newest,
            queue: 1,
            limit: None,
        };
        let mut capture = Self::spawn(source, options, wake)?;
        loop {
            match capture.rx.recv() {
                Ok(ReaderEvent::Started(info)) => capture.info = info,
                Ok(ReaderEvent::Frame(first)) => return Ok((capture, first)),
                Ok(ReaderEvent::Failed(e)) => return Err(e),
                Ok(ReaderEvent::End) | Err(_) => {
                    return Err(Error::Other("the input delivered no frames".into()));
                }
            }
        }
    }

    /// Starts the reader thread without waiting; its events come from [`Self::receiver`].
    pub fn spawn(mut source: Box<dyn Source>, options: ReaderOptions, wake: Option<Wake>) -> Result<Self> {
        let (tx, rx) = bounded::<ReaderEvent>(options.queue.max(1));
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let stale = rx.clone();
        let handle = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                capture_loop(source.as_mut(), options, tx, stale, stop_rx, wake);
                (source.damaged(), source.end())
            })
            .map_err(|e| Error::Other(format!("cannot start the capture thread: {e}")))?;
        Ok(Self {
            rx,
            stop: Some(stop_tx),
            handle: Some(handle),
            info: StreamInfo {
                kind: crate::frame::StreamKind::Camera,
                width: 0,
                height: 0,
                rate: None,
                frames: None,
                description: String::new(),
            },
            end: None,
        })
    }

    /// What the source reported once open (the camera's chosen format, the file's rate).
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    pub fn receiver(&self) -> &Receiver<ReaderEvent> {
        &self.rx
    }

    /// The newest queued event, without waiting.
    pub fn try_next(&self) -> Option<ReaderEvent> {
        self.rx.try_recv().ok()
    }

    /// Stops the thread and waits for it (a camera read in progress finishes first).
    pub fn stop(&mut self) {
        self.finish();
    }

    /// Stops the thread, waits for it and returns how many frames the source found damaged.
    pub fn finish(&mut self) -> u64 {
        self.stop.take();
        // Unblock a sender waiting to queue an event.
        while self.rx.try_recv().is_ok() {}
        let (damaged, end) = self.handle.take().map_or((0, None), |h| h.join().unwrap_or((0, None)));
        self.end = self.end.or(end);
        damaged
    }

    /// Where the source's stream ended (its last frame's end, [`Source::end`]), once
    /// [`Self::finish`] returned and when the source knows.
    pub fn end(&self) -> Option<Duration> {
        self.end
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stopped(stop: &Receiver<()>) -> bool {
    !matches!(stop.try_recv(), Err(TryRecvError::Empty))
}

/// Queues an event that must not be lost (end, failure; every frame with `Keep::All`),
/// waiting for room; gives up when the consumer stops. Returns whether it was queued.
fn send_blocking(tx: &Sender<ReaderEvent>, stop: &Receiver<()>, mut event: ReaderEvent) -> bool {
    loop {
        match tx.send_timeout(event, Duration::from_millis(50)) {
            Ok(()) => return true,
            Err(crossbeam_channel::SendTimeoutError::Timeout(e)) => {
                if stopped(stop) {
                    return false;
                }
                event = e;
            }
            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
        }
    }
}

/// Queues a frame where the newest wins: a stale queued frame is taken out and counted in
/// `dropped`. Returns false when the consumer is gone.
fn send_newest(
    tx: &Sender<ReaderEvent>,
    stale: &Receiver<ReaderEvent>,
    mut event: ReaderEvent,
    dropped: &mut u64,
) -> bool {
    loop {
        match tx.try_send(event) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if let Ok(ReaderEvent::Frame(_)) = stale.try_recv() {
                    *dropped += 1;
                }
                event = back;
                if let ReaderEvent::Frame(c) = &mut event {
                    c.dropped = *dropped;
                }
            }
        }
    }
}

/// One frame per `period` from the reader's start.
struct Schedule {
    origin: Instant,
    due: u64,
}

impl Schedule {
    /// Waits until the next frame is due; false if the reader was stopped meanwhile.
    fn wait(&mut self, period: Duration, stop: &Receiver<()>) -> bool {
        let target = self.origin + period.mul_f64(self.due as f64);
        let now = Instant::now();
        if target > now {
            if !matches!(stop.recv_timeout(target - now), Err(RecvTimeoutError::Timeout)) {
                return false;
            }
        } else if now - target > period * 4 {
            // Decoding fell far behind (or the machine slept): restart the schedule rather
            // than burst to catch up.
            self.due = ((now - self.origin).as_secs_f64() / period.as_secs_f64().max(1e-6)) as u64;
        }
        self.due += 1;
        true
    }
}

/// The source's next frame, or the event that ends the stream (its end, or its failure).
fn next_or_end(source: &mut dyn Source) -> Result<Frame, ReaderEvent> {
    match source.next_frame() {
        Ok(Some(frame)) => Ok(frame),
        Ok(None) => Err(ReaderEvent::End),
        Err(e) => Err(ReaderEvent::Failed(e)),
    }
}

/// Where the reader thread's events go: the channel, its own end of it (to take out a stale
/// frame), the stop signal and the consumer's wake-up.
struct Outbox {
    tx: Sender<ReaderEvent>,
    stale: Receiver<ReaderEvent>,
    stop: Receiver<()>,
    wake: Option<Wake>,
}

impl Outbox {
    fn notify(&self, sent: bool) -> bool {
        if let (true, Some(wake)) = (sent, &self.wake) {
            wake();
        }
        sent
    }

    /// Queues an event that must not be lost (see [`send_blocking`]).
    fn send_final(&self, event: ReaderEvent) -> bool {
        self.notify(send_blocking(&self.tx, &self.stop, event))
    }

    /// Queues a frame as `keep` says; false when the consumer is gone.
    fn send_frame(&self, event: ReaderEvent, keep: Keep, dropped: &mut u64) -> bool {
        match keep {
            Keep::All => self.send_final(event),
            Keep::Newest => self.notify(send_newest(&self.tx, &self.stale, event, dropped)),
        }
    }

    /// Sends `Started` and waits until the consumer took it, so the first frame cannot
    /// displace it; false if the reader was stopped meanwhile.
    fn send_started(&self, info: StreamInfo) -> bool {
        self.send_final(ReaderEvent::Started(info));
        while !self.tx.is_empty() {
            if stopped(&self.stop) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

fn capture_loop(
    source: &mut dyn Source,
    options: ReaderOptions,
    tx: Sender<ReaderEvent>,
    stale: Receiver<ReaderEvent>,
    stop: Receiver<()>,
    wake: Option<Wake>,
) {
    let out = Outbox { tx, stale, stop, wake };
    let mut seq = 0u64;
    let mut dropped = 0u64;
    let mut schedule = Schedule {
        origin: Instant::now(),
        due: 0,
    };
    loop {
        if let Pace::Every(period) = options.pace {
            if !schedule.wait(period, &out.stop) {
                return;
            }
        }
        if stopped(&out.stop) {
            return;
        }
        if options.limit.is_some_and(|limit| seq >= limit) {
            out.send_final(ReaderEvent::End);
            return;
        }
        let frame = match next_or_end(source) {
            Ok(frame) => frame,
            Err(last) => {
                out.send_final(last);
                return;
            }
        };
        if seq == 0 && !out.send_started(source.info().clone()) {
            return;
        }
        let event = ReaderEvent::Frame(ReadFrame {
            frame,
            seq,
            at: source.arrived().unwrap_or_else(Instant::now),
            dropped,
            timestamp: source.timestamp(),
        });
        seq += 1;
        if !out.send_frame(event, options.keep, &mut dropped) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Rate, StreamKind};

    struct Counter {
        info: StreamInfo,
        n: u32,
        limit: u32,
        fail: bool,
    }

    impl Counter {
        fn new(limit: u32, fail: bool) -> Self {
            Self {
                info: StreamInfo {
                    kind: StreamKind::Video,
                    width: 2,
                    height: 1,
                    rate: Some(Rate::new(1000, 1)),
                    frames: None,
                    description: "counter".into(),
                },
                n: 0,
                limit,
                fail,
            }
        }
    }

    impl Source for Counter {
        fn info(&self) -> &StreamInfo {
            &self.info
        }
        fn next_frame(&mut self) -> Result<Option<Frame>> {
            if self.n >= self.limit {
                return if self.fail {
                    Err(Error::camera("camera lost: unplugged"))
                } else {
                    Ok(None)
                };
            }
            self.n += 1;
            std::thread::sleep(Duration::from_micros(500));
            Ok(Some(Frame::filled(2, 1, [self.n as u8, 0, 0, 255])))
        }
    }

    fn drain(capture: &FrameReader) -> (u64, u64, Option<ReaderEvent>) {
        let (mut got, mut dropped) = (1u64, 0u64);
        loop {
            match capture.receiver().recv_timeout(Duration::from_secs(5)) {
                Ok(ReaderEvent::Frame(c)) => {
                    got += 1;
                    dropped = c.dropped;
                    // A slow consumer: the capture thread must drop, not queue.
                    std::thread::sleep(Duration::from_millis(3));
                }
                Ok(other) => return (got, dropped, Some(other)),
                Err(_) => return (got, dropped, None),
            }
        }
    }

    #[test]
    fn newest_frame_wins_and_drops_are_counted() {
        let (capture, first) =
            FrameReader::start(Box::new(Counter::new(200, false)), Pace::Source, None).expect("start");
        assert!(
            first.seq <= first.dropped,
            "frames before the first one taken count as dropped"
        );
        assert_eq!(capture.info().description, "counter");
        let (got, dropped, last) = drain(&capture);
        assert!(matches!(last, Some(ReaderEvent::End)), "{last:?}");
        assert!(dropped > 0, "a slow consumer must see drops");
        assert!(
            got + dropped <= 200 && got + dropped >= 199,
            "got {got} dropped {dropped}"
        );
    }

    /// Offline: every frame, in order, however slow the consumer; then the end.
    fn read_all(limit: Option<u64>) -> (Vec<u64>, Option<ReaderEvent>) {
        let options = ReaderOptions {
            pace: Pace::Source,
            keep: Keep::All,
            queue: 2,
            limit,
        };
        let mut reader = FrameReader::spawn(Box::new(Counter::new(40, false)), options, None).expect("spawn");
        let mut seqs = Vec::new();
        let last = loop {
            match reader.receiver().recv_timeout(Duration::from_secs(5)) {
                Ok(ReaderEvent::Frame(c)) => {
                    assert_eq!(c.dropped, 0);
                    assert_eq!(c.frame.rgba[0] as u64, c.seq + 1, "the frame numbered {}", c.seq);
                    seqs.push(c.seq);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(ReaderEvent::Started(_)) => {}
                Ok(other) => break Some(other),
                Err(_) => break None,
            }
        };
        assert_eq!(reader.finish(), 0);
        (seqs, last)
    }

    #[test]
    fn keep_all_delivers_every_frame_then_the_end() {
        let (seqs, last) = read_all(None);
        assert_eq!(seqs, (0..40).collect::<Vec<_>>());
        assert!(matches!(last, Some(ReaderEvent::End)), "{last:?}");
        let (seqs, last) = read_all(Some(1));
        assert_eq!(seqs, [0]);
        assert!(matches!(last, Some(ReaderEvent::End)), "{last:?}");
    }

    #[test]
    fn failure_is_delivered() {
        let (capture, _) = FrameReader::start(
            Box::new(Counter::new(3, true)),
            Pace::Every(Duration::from_millis(2)),
            None,
        )
        .expect("start");
        let (_, _, last) = drain(&capture);
        assert!(matches!(last, Some(ReaderEvent::Failed(Error::Camera(_)))), "{last:?}");
    }

    #[test]
    fn failure_before_first_frame_is_an_error() {
        let r = FrameReader::start(Box::new(Counter::new(0, true)), Pace::Source, None);
        assert!(matches!(r, Err(Error::Camera(_))));
    }

    #[test]
    fn pacing_holds_the_rate() {
        // The pace is a floor: frame number n leaves the source no earlier than n periods after
        // the reader started. Asserted on the reader's own stamps (`at`, `seq`), not on when the
        // consumer got round to a frame: a loaded machine delays the consumer, and frames that
        // waited in the slot then arrive back to back (which made a check on receipt times fail
        // under load). Delays only make the stamps later, so this cannot fail spuriously, and an
        // unpaced reader (the counter gives a frame every 0.5 ms) fails it at once.
        let period = Duration::from_millis(20);
        let before = Instant::now();
        let (mut capture, first) =
            FrameReader::start(Box::new(Counter::new(1000, false)), Pace::Every(period), None).expect("start");
        let mut stamps = vec![(first.seq, first.at)];
        while stamps.last().is_some_and(|&(seq, _)| seq < 8) {
            match capture.receiver().recv_timeout(Duration::from_secs(10)) {
                Ok(ReaderEvent::Frame(f)) => stamps.push((f.seq, f.at)),
                Ok(ReaderEvent::Started(_)) => {}
                Ok(other) => panic!("the source ended after {stamps:?}: {other:?}"),
                Err(e) => panic!("no frame after {stamps:?} within 10 s: {e}"),
            }
        }
        capture.stop();
        for &(seq, at) in &stamps {
            let since = at.duration_since(before);
            assert!(
                since >= period * seq as u32,
                "frame {seq} left the source {since:?} after the start, before its slot at {:?}: the pace was not held",
                period * seq as u32
            );
        }
        // Numbered in order, each frame once.
        assert!(stamps.windows(2).all(|w| w[0].0 < w[1].0), "{stamps:?}");
    }
}
