//! A sink on its own thread that never drops frames: offline rendering encodes frame N while
//! the pipeline works on frame N+1. (The live outputs use `live::recorder`, which drops frames
//! rather than slow the preview.)

use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};

use super::{Mosaic, Sink};
use crate::error::{Error, Result};
use crate::frame::Frame;

/// Frames that may wait for the sink: enough to even out the encoder's pace, little memory.
const QUEUE: usize = 2;

enum Message {
    Frame {
        index: u64,
        image: Option<Frame>,
        tile: u32,
        cols: u32,
        rows: u32,
        emoji: Vec<u32>,
        pts: Option<std::time::Duration>,
    },
    Finish,
}

pub struct ThreadedSink {
    tx: Option<Sender<Message>>,
    handle: Option<JoinHandle<Result<()>>>,
    needs_image: bool,
}

impl ThreadedSink {
    pub fn new(mut sink: Box<dyn Sink>) -> Result<Self> {
        let needs_image = sink.needs_image();
        let (tx, rx) = bounded::<Message>(QUEUE);
        let handle = std::thread::Builder::new()
            .name("sink".into())
            .spawn(move || {
                for message in rx.iter() {
                    match message {
                        Message::Frame {
                            index,
                            image,
                            tile,
                            cols,
                            rows,
                            emoji,
                            pts,
                        } => sink.write_at(
                            &Mosaic {
                                index,
                                image: image.as_ref(),
                                tile,
                                cols,
                                rows,
                                emoji: &emoji,
                            },
                            pts,
                        )?,
                        Message::Finish => return sink.finish(),
                    }
                }
                // Dropped without finish: the sink removes its partial output.
                Ok(())
            })
            .map_err(|e| Error::Other(format!("cannot start the output thread: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
            needs_image,
        })
    }

    /// The thread's result once it has stopped (its error, if writing failed).
    fn join(&mut self) -> Result<()> {
        self.tx.take();
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| Error::Other("the output thread panicked".into()))?,
            None => Ok(()),
        }
    }

    fn send(&mut self, message: Message) -> Result<()> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(message).is_ok());
        if sent {
            return Ok(());
        }
        // The thread stopped: it failed writing; report why.
        self.join()?;
        Err(Error::Other("the output thread stopped".into()))
    }
}

impl Sink for ThreadedSink {
    fn write(&mut self, mosaic: &Mosaic<'_>) -> Result<()> {
        self.write_at(mosaic, None)
    }

    fn write_at(&mut self, mosaic: &Mosaic<'_>, pts: Option<std::time::Duration>) -> Result<()> {
        self.send(Message::Frame {
            index: mosaic.index,
            image: mosaic.image.cloned(),
            tile: mosaic.tile,
            cols: mosaic.cols,
            rows: mosaic.rows,
            emoji: mosaic.emoji.to_vec(),
            pts,
        })
    }

    fn finish(&mut self) -> Result<()> {
        self.send(Message::Finish)?;
        self.join()
    }

    fn needs_image(&self) -> bool {
        self.needs_image
    }
}

impl Drop for ThreadedSink {
    fn drop(&mut self) {
        // Without `finish` the thread ends without finishing the output (no valid-looking
        // partial file); its error, if any, was already reported by `write`.
        let _ = self.join();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Records what reaches it; fails writing frame `fail_at`.
    struct Probe {
        log: Arc<Mutex<Vec<String>>>,
        fail_at: Option<u64>,
    }

    impl Sink for Probe {
        fn write(&mut self, m: &Mosaic<'_>) -> Result<()> {
            if Some(m.index) == self.fail_at {
                return Err(Error::Other(format!("disk full at frame {}", m.index)));
            }
            self.log.lock().unwrap().push(format!("{} {:?}", m.index, m.emoji));
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.log.lock().unwrap().push("finish".into());
            Ok(())
        }
    }

    fn mosaic(index: u64, emoji: &[u32]) -> Mosaic<'_> {
        Mosaic {
            index,
            image: None,
            tile: 10,
            cols: 1,
            rows: 1,
            emoji,
        }
    }

    #[test]
    fn passes_every_frame_in_order_then_finishes() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut s = ThreadedSink::new(Box::new(Probe {
            log: log.clone(),
            fail_at: None,
        }))
        .unwrap();
        for i in 0..20u32 {
            s.write(&mosaic(i as u64, &[i])).unwrap();
        }
        s.finish().unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 21);
        assert_eq!(log[7], "7 [7]");
        assert_eq!(log[20], "finish");
    }

    #[test]
    fn a_failing_sink_reports_its_error_and_is_never_finished() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut s = ThreadedSink::new(Box::new(Probe {
            log: log.clone(),
            fail_at: Some(3),
        }))
        .unwrap();
        let err = (0..50u64).find_map(|i| s.write(&mosaic(i, &[1])).err());
        let err = err.expect("the failure surfaces in a later write");
        assert!(err.to_string().contains("disk full at frame 3"), "{err}");
        drop(s);
        assert!(!log.lock().unwrap().iter().any(|l| l == "finish"));
    }

    #[test]
    fn dropped_without_finish_does_not_finish() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut s = ThreadedSink::new(Box::new(Probe {
            log: log.clone(),
            fail_at: None,
        }))
        .unwrap();
        s.write(&mosaic(0, &[1])).unwrap();
        drop(s);
        assert_eq!(*log.lock().unwrap(), vec!["0 [1]".to_string()]);
    }
}
