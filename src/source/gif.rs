//! Animated (and still) GIFs, decoded by the `image` crate's GIF decoder, which composites each
//! frame onto the canvas as GIF's disposal rules say. (GStreamer has a GIF decoder but no GIF
//! demuxer.) Frames are decoded on a thread of their own, a couple ahead of the pipeline.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver};
use image::AnimationDecoder;

use super::Source;
use crate::error::{Error, Result};
use crate::frame::{Frame, Rate, StreamInfo, StreamKind};

/// Browsers show delays under 20 ms as 100 ms; so do we (the timing people see).
const MIN_DELAY: Duration = Duration::from_millis(20);
const SLOW_DELAY: Duration = Duration::from_millis(100);

pub struct GifSource {
    path: PathBuf,
    info: StreamInfo,
    frames: Receiver<Result<Frame>>,
    pending: Option<Frame>,
    next_pts: Duration,
    last_pts: Option<Duration>,
    delays: Receiver<Duration>,
}

impl GifSource {
    pub fn open(path: &Path) -> Result<Self> {
        let open = |p: &Path| -> Result<image::codecs::gif::GifDecoder<BufReader<File>>> {
            let file = File::open(p).map_err(|source| Error::Read {
                path: p.to_path_buf(),
                source,
            })?;
            image::codecs::gif::GifDecoder::new(BufReader::new(file))
                .map_err(|e| Error::decode(p, format!("not a readable GIF: {e}")))
        };
        let decoder = open(path)?;
        let (decoder, width, height) = limited(decoder, path)?;
        let (tx, frames) = bounded::<Result<Frame>>(2);
        let (delay_tx, delays) = bounded::<Duration>(4);
        let thread_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("gif-decode".into())
            .spawn(move || {
                for item in decoder.into_frames() {
                    let sent = match item {
                        Ok(frame) => {
                            let (num, den) = frame.delay().numer_denom_ms();
                            let mut delay = Duration::from_micros(num as u64 * 1000 / den.max(1) as u64);
                            if delay < MIN_DELAY {
                                delay = SLOW_DELAY;
                            }
                            let buffer = frame.into_buffer();
                            let (w, h) = buffer.dimensions();
                            delay_tx.send(delay).is_ok() && tx.send(Ok(Frame::new(w, h, buffer.into_raw()))).is_ok()
                        }
                        Err(e) => {
                            let _ = tx.send(Err(Error::decode(&thread_path, format!("GIF decoding failed: {e}"))));
                            false
                        }
                    };
                    if !sent {
                        break;
                    }
                }
            })
            .map_err(|e| Error::Other(format!("cannot start the GIF decoder thread: {e}")))?;
        let mut source = Self {
            path: path.to_path_buf(),
            info: StreamInfo {
                kind: StreamKind::Video,
                width,
                height,
                rate: None,
                frames: None,
                description: String::new(),
            },
            frames,
            pending: None,
            next_pts: Duration::ZERO,
            last_pts: None,
            delays,
        };
        // The first frame's delay stands for the rate (GIFs have per-frame delays only).
        let first = source
            .frames
            .recv()
            .map_err(|_| Error::decode(path, "the GIF has no frames"))??;
        let delay = source.delays.recv().unwrap_or(SLOW_DELAY);
        let rate = Rate::new(1_000_000, delay.as_micros().max(1) as u32);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        source.info.rate = Some(reduce(rate));
        source.info.description = format!("{name}: GIF {width}x{height}");
        source.pending = Some(first);
        source.next_pts = delay;
        source.last_pts = None;
        Ok(source)
    }
}

/// The decoder with limits set, and its canvas size. Every frame is composited on a canvas of
/// the size the header declares: an absurd one is refused before it is allocated (and the
/// decoder checks each frame against the same limits).
fn limited<D: image::ImageDecoder>(mut decoder: D, path: &Path) -> Result<(D, u32, u32)> {
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(Error::decode(path, "the GIF has a 0x0 canvas"));
    }
    super::check_size(path, "GIF header", width.into(), height.into())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(super::MAX_SIDE as u32);
    limits.max_image_height = Some(super::MAX_SIDE as u32);
    limits.max_alloc = Some(super::MAX_PIXELS * 8);
    decoder
        .set_limits(limits)
        .map_err(|e| Error::decode(path, format!("the GIF is too large: {e}")))?;
    Ok((decoder, width, height))
}

fn reduce(r: Rate) -> Rate {
    let (mut a, mut b) = (r.num, r.den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let g = a.max(1);
    Rate::new(r.num / g, r.den / g)
}

impl Source for GifSource {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        if let Some(first) = self.pending.take() {
            self.last_pts = Some(Duration::ZERO);
            return Ok(Some(first));
        }
        match self.frames.recv() {
            Ok(Ok(frame)) => {
                self.last_pts = Some(self.next_pts);
                self.next_pts += self.delays.recv().unwrap_or(SLOW_DELAY);
                Ok(Some(frame))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                let _ = &self.path;
                Ok(None)
            }
        }
    }

    fn timestamp(&self) -> Option<Duration> {
        self.last_pts
    }
}
