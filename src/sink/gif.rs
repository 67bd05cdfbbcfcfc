//! Animated GIF output (what people share), by the `gif` crate (the `image` crate's GIF
//! codec): a palette of up to 256 colours per frame (NeuQuant), looping forever. Each frame is shown for as long as
//! the input showed it (its timestamps), in GIF's 10 ms steps, at least 20 ms: of a clip over 50 fps,
//! the frames that would last less are left out.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{image_of, AtomicFile, Sink};
use crate::domain::MosaicFrame;
use crate::error::{Error, Result};
use crate::frame::{Frame, Rate, StreamInfo};

/// NeuQuant's sampling factor (1 best .. 30 fastest); 10 is its usual trade-off.
const SPEED: i32 = 10;

/// The shortest frame delay written, in centiseconds: browsers (and ffmpeg) show a frame of 0
/// or 1 for 0.1 s, so a 60 fps clip's 1 cs frames played it 2.8 times slower.
const MIN_DELAY_CS: u64 = 2;

pub struct GifSink {
    path: PathBuf,
    file: AtomicFile,
    /// Starts with the first frame (a GIF's header holds its size).
    writer: Option<BufWriter<File>>,
    encoder: Option<gif::Encoder<BufWriter<File>>>,
    rate: Rate,
    /// The frame waiting for the next one's timestamp (its display time), with its own.
    pending: Option<(Frame, Duration)>,
    size: Option<(u32, u32)>,
    frames: u64,
    /// Frames left out for lasting less than [`MIN_DELAY_CS`].
    left_out: u64,
    /// Where the frames written so far end, in centiseconds of the input's time (from its
    /// first frame's), so rounding never accumulates.
    written_cs: u64,
    /// Where the input's stream ends ([`Sink::end_at`]): the last frame lasts until then.
    end: Option<Duration>,
}

impl GifSink {
    pub fn create(path: &Path, info: &StreamInfo) -> Result<Self> {
        let (file, writer) = AtomicFile::create(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            writer: Some(writer),
            encoder: None,
            rate: info.rate.filter(|r| r.num > 0 && r.den > 0).unwrap_or(Rate::new(25, 1)),
            pending: None,
            size: None,
            frames: 0,
            left_out: 0,
            written_cs: 0,
            end: None,
        })
    }

    /// Writes `frame`, shown until `end` (from the start of the animation).
    fn emit(&mut self, mut frame: Frame, end: Duration) -> Result<()> {
        let path = self.path.clone();
        let fail = |e: &dyn std::fmt::Display| Error::encode(&path, format!("GIF encoding failed: {e}"));
        let end_cs = (end.as_millis() as u64)
            .div_ceil(10)
            .max(self.written_cs + MIN_DELAY_CS);
        let delay_cs = (end_cs - self.written_cs).min(u16::MAX as u64) as u16;
        self.written_cs = end_cs;
        let (w, h) = (frame.width as u16, frame.height as u16);
        if self.encoder.is_none() {
            let writer = self.writer.take().ok_or_else(|| fail(&"write after finish"))?;
            let mut encoder = gif::Encoder::new(writer, w, h, &[]).map_err(|e| fail(&e))?;
            encoder.set_repeat(gif::Repeat::Infinite).map_err(|e| fail(&e))?;
            self.encoder = Some(encoder);
        }
        let mut gif_frame = gif::Frame::from_rgba_speed(w, h, &mut frame.rgba, SPEED);
        gif_frame.delay = delay_cs;
        self.encoder
            .as_mut()
            .ok_or_else(|| fail(&"write after finish"))?
            .write_frame(&gif_frame)
            .map_err(|e| fail(&e))
    }
}

impl Sink for GifSink {
    fn write(&mut self, mosaic: &MosaicFrame, image: Option<&Frame>) -> Result<()> {
        let pts = mosaic.stamp.timestamp;
        let frame = image_of(image, &self.path)?;
        let size = (frame.width, frame.height);
        if frame.width > u16::MAX as u32 || frame.height > u16::MAX as u32 {
            return Err(Error::encode(
                &self.path,
                "GIF frames are at most 65535 pixels wide and high",
            ));
        }
        if *self.size.get_or_insert(size) != size {
            return Err(Error::encode(&self.path, "frame size changed"));
        }
        let at = pts.unwrap_or_else(|| self.rate.frame_duration() * self.frames as u32);
        if self.frames == 0 {
            // The animation starts with its first frame: a picture that starts after its
            // file's sound (0.5 s into an MKV) held its first frame that long.
            self.written_cs = (at.as_millis() as u64).div_ceil(10);
        }
        let at = match &self.pending {
            Some((_, prev)) if at <= *prev => *prev + Duration::from_millis(10),
            _ => at,
        };
        if let Some((prev, _)) = self.pending.take() {
            // A frame that would last less than the shortest delay browsers keep is left out,
            // and the next one takes its place: its time is kept, not slowed to 0.1 s.
            if (at.as_millis() as u64).div_ceil(10) >= self.written_cs + MIN_DELAY_CS {
                self.emit(prev, at)?;
            } else {
                self.left_out += 1;
            }
        }
        self.pending = Some((frame.clone(), at));
        self.frames += 1;
        Ok(())
    }

    fn left_out(&self) -> u64 {
        self.left_out
    }

    fn finish(&mut self) -> Result<()> {
        let Some((last, at)) = self.pending.take() else {
            return Err(Error::encode(&self.path, "no frame was produced"));
        };
        let end = self
            .end
            .filter(|&end| end > at)
            .unwrap_or(at + self.rate.frame_duration());
        self.emit(last, end)?;
        let encoder = self
            .encoder
            .take()
            .ok_or_else(|| Error::encode(&self.path, "finished twice"))?;
        let writer = encoder
            .into_inner()
            .map_err(|e| Error::encode(&self.path, format!("GIF encoding failed: {e}")))?;
        self.file.commit(writer)
    }

    fn end_at(&mut self, end: Duration) {
        self.end = Some(end);
    }
}
