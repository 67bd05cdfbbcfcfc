//! Sinks on their own threads (MP4 recorder, virtual camera, Y4M stream), each fed through a
//! bounded channel. A sink that falls behind loses frames (counted); the preview never waits.

use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender, TrySendError};

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::sink::{Mosaic, Sink};

/// One rendered mosaic on its way to a sink.
pub struct SinkFrame {
    pub image: Frame,
    pub tile: u32,
    pub cols: u32,
    pub rows: u32,
    pub emoji: Vec<u32>,
    /// For a recording: the frame number this mosaic belongs at, from its capture time, so a
    /// recording plays back in real time however slowly the pipeline ran (the previous mosaic
    /// fills the slots in between, as it stayed on screen). `None`: the next frame.
    pub slot: Option<u64>,
}

/// What a sink did, for the summary line.
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
        write!(f, "{} {}: {} frames", self.label, self.path.display(), self.written)?;
        if self.dropped > 0 {
            write!(f, " ({} dropped: the {} fell behind)", self.dropped, self.label)?;
        }
        Ok(())
    }
}

pub struct SinkWorker {
    label: String,
    path: PathBuf,
    tx: Option<Sender<SinkFrame>>,
    /// How many frames the file should hold when it ends (the last mosaic held until then).
    end: Sender<u64>,
    handle: Option<JoinHandle<Result<u64>>>,
    dropped: u64,
    failed: bool,
}

impl SinkWorker {
    /// `capacity` frames may wait for the sink before new ones are dropped.
    pub fn spawn(label: &str, path: PathBuf, mut sink: Box<dyn Sink>, capacity: usize) -> Result<Self> {
        let (tx, rx) = bounded::<SinkFrame>(capacity.max(1));
        let (end, end_rx) = bounded::<u64>(1);
        let handle = std::thread::Builder::new()
            .name(label.to_string())
            .spawn(move || {
                let mut index = 0u64;
                let mut previous: Option<SinkFrame> = None;
                let mut write = |f: &SinkFrame, index: u64| {
                    sink.write(&Mosaic {
                        index,
                        image: Some(&f.image),
                        tile: f.tile,
                        cols: f.cols,
                        rows: f.rows,
                        emoji: &f.emoji,
                    })
                };
                for f in rx.iter() {
                    if let (Some(slot), Some(prev)) = (f.slot, &previous) {
                        while index < slot {
                            write(prev, index)?;
                            index += 1;
                        }
                    }
                    write(&f, index)?;
                    index += 1;
                    previous = Some(f);
                }
                if let (Ok(end), Some(prev)) = (end_rx.try_recv(), &previous) {
                    while index < end {
                        write(prev, index)?;
                        index += 1;
                    }
                }
                sink.finish()?;
                Ok(index)
            })
            .map_err(|e| Error::Other(format!("cannot start the {label} thread: {e}")))?;
        Ok(Self {
            label: label.to_string(),
            path,
            tx: Some(tx),
            end,
            handle: Some(handle),
            dropped: 0,
            failed: false,
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Queues a frame without waiting. Returns false once the sink has failed (its error comes
    /// from [`Self::finish`]).
    pub fn push(&mut self, frame: SinkFrame) -> bool {
        let Some(tx) = &self.tx else { return false };
        match tx.try_send(frame) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                true
            }
            Err(TrySendError::Disconnected(_)) => {
                self.failed = true;
                false
            }
        }
    }

    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Lets the sink write what is queued, finishes its file and reports.
    pub fn finish(mut self) -> Result<SinkReport> {
        self.finish_inner()
    }

    /// Like [`Self::finish`], holding the last frame until the file has `frames` frames (a
    /// recording that ends when it was stopped, not when its last mosaic was captured).
    pub fn finish_at(self, frames: u64) -> Result<SinkReport> {
        let _ = self.end.try_send(frames);
        self.finish()
    }

    fn finish_inner(&mut self) -> Result<SinkReport> {
        self.tx.take();
        let written = match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| Error::Other(format!("the {} thread panicked", self.label)))??,
            None => 0,
        };
        Ok(SinkReport {
            label: self.label.clone(),
            path: self.path.clone(),
            written,
            dropped: self.dropped,
        })
    }
}

impl Drop for SinkWorker {
    fn drop(&mut self) {
        // Never leave a recording without its end: finish it even on an early return.
        if self.handle.is_some() {
            if let Err(e) = self.finish_inner() {
                crate::say!("emojicam: {}: {e}", self.label);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    struct Slow {
        delay: Duration,
        done: mpsc::Sender<u64>,
        n: u64,
    }

    impl Sink for Slow {
        fn write(&mut self, _: &Mosaic<'_>) -> Result<()> {
            std::thread::sleep(self.delay);
            self.n += 1;
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            let _ = self.done.send(self.n);
            Ok(())
        }
    }

    fn frame() -> SinkFrame {
        SinkFrame {
            image: Frame::filled(2, 2, [0, 0, 0, 255]),
            tile: 1,
            cols: 2,
            rows: 2,
            emoji: vec![0; 4],
            slot: None,
        }
    }

    #[test]
    fn a_slow_sink_drops_instead_of_blocking() {
        let (done, got) = mpsc::channel();
        let mut w = SinkWorker::spawn(
            "recorder",
            "x.mp4".into(),
            Box::new(Slow {
                delay: Duration::from_millis(20),
                done,
                n: 0,
            }),
            2,
        )
        .expect("spawn");
        let t = std::time::Instant::now();
        for _ in 0..50 {
            assert!(w.push(frame()));
        }
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "push must not wait for the sink"
        );
        let report = w.finish().expect("finish");
        assert_eq!(report.written + report.dropped, 50);
        assert!(report.dropped > 0);
        assert_eq!(got.recv().ok(), Some(report.written));
    }
}
