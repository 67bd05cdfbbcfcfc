//! Animated (and still) GIFs, decoded by the `gif` crate and composited here onto the canvas
//! as GIF's disposal rules say (as browsers and the `image` crate do). (GStreamer has a GIF
//! decoder but no GIF demuxer.) Frames are decoded on the frame reader's thread
//! (`source/reader.rs`), which reads ahead of the pipeline.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gif::DisposalMethod;

use super::Source;
use crate::error::{Error, Result};
use crate::frame::{Frame, Rate, StreamInfo, StreamKind};

/// Browsers show delays under 20 ms as 100 ms; so do we (the timing people see).
const MIN_DELAY: Duration = Duration::from_millis(20);
const SLOW_DELAY: Duration = Duration::from_millis(100);

pub struct GifSource {
    path: PathBuf,
    info: StreamInfo,
    decoder: gif::Decoder<BufReader<File>>,
    /// The picture the next frame is drawn over: every frame so far, as their disposal
    /// methods left it (RGBA, the canvas size; transparent where nothing was drawn).
    canvas: Vec<u8>,
    /// The first frame, decoded by `open` to learn the rate, not yet returned.
    pending: Option<Frame>,
    next_pts: Duration,
    last_pts: Option<Duration>,
    /// A decoding error was returned: the stream ends there.
    ended: bool,
    /// Every frame was returned: the stream ends at `next_pts`.
    complete: bool,
    /// Frames returned so far.
    frames: u64,
}

/// Whether a damaged GIF's warning was printed (once a run: live `--input` reopens the file at
/// each loop).
static DAMAGE_SAID: AtomicBool = AtomicBool::new(false);

impl GifSource {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        // The crate's own default (50 MB a frame) refused any GIF over 3535x3535 with "Out of
        // Memory": a frame may be as large as any picture emojicam reads.
        options.set_memory_limit(FRAME_MEMORY_LIMIT);
        let decoder = options
            .read_info(BufReader::new(file))
            .map_err(|e| Error::decode(path, format!("not a readable GIF: {e}")))?;
        let (width, height) = (u32::from(decoder.width()), u32::from(decoder.height()));
        if width == 0 || height == 0 {
            return Err(Error::decode(path, "the GIF has a 0x0 canvas"));
        }
        // Refused before the canvas is allocated.
        super::check_size(path, "GIF header", width.into(), height.into())?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut source = Self {
            path: path.to_path_buf(),
            info: StreamInfo {
                kind: StreamKind::Video,
                width,
                height,
                rate: None,
                frames: None,
                description: format!("{name}: GIF {width}x{height}"),
            },
            decoder,
            canvas: vec![0; width as usize * height as usize * 4],
            pending: None,
            next_pts: Duration::ZERO,
            last_pts: None,
            ended: false,
            complete: false,
            frames: 0,
        };
        // The first frame's delay stands for the rate (GIFs have per-frame delays only).
        let (first, delay) = source
            .decode()
            .map_err(|e| Error::decode(path, decoding_failed(&e)))?
            .ok_or_else(|| Error::decode(path, "the GIF has no frames"))?;
        source.info.rate = Some(reduce(Rate::new(1_000_000, delay.as_micros().max(1) as u32)));
        source.pending = Some(first);
        source.next_pts = delay;
        Ok(source)
    }

    /// The next frame composited onto the canvas, and how long it is shown.
    fn decode(&mut self) -> std::result::Result<Option<(Frame, Duration)>, gif::DecodingError> {
        let Some(frame) = self.decoder.read_next_frame()? else {
            return Ok(None);
        };
        let mut delay = Duration::from_millis(u64::from(frame.delay) * 10);
        if delay < MIN_DELAY {
            delay = SLOW_DELAY;
        }
        let (width, height) = (self.info.width, self.info.height);
        let mut rgba = composite(&mut self.canvas, width as usize, frame);
        // What no frame covers shows the background, as a transparent photo's pixels do (it
        // was black whatever the background: a sticker's white page went dark).
        super::image::over_background(&mut rgba, super::image::transparent_background());
        Ok(Some((Frame::new(width, height, rgba), delay)))
    }
}

/// The most bytes one decoded frame may take: [`super::MAX_PIXELS`] as RGBA (512 MiB).
const FRAME_MEMORY_LIMIT: gif::MemoryLimit = match std::num::NonZeroU64::new(super::MAX_PIXELS * 4) {
    Some(bytes) => gif::MemoryLimit::Bytes(bytes),
    None => gif::MemoryLimit::Unlimited,
};

/// What a GIF decoding error means, in words: over the memory limit is a frame (or a block)
/// that declares more than emojicam reads, not a machine out of memory.
fn decoding_failed(e: &gif::DecodingError) -> String {
    match e {
        gif::DecodingError::MemoryLimit | gif::DecodingError::OutOfMemory => format!(
            "GIF decoding failed: a frame or block in it declares more than emojicam reads ({} \
             megapixels a frame): a damaged file",
            super::MAX_PIXELS / 1_000_000
        ),
        e => format!("GIF decoding failed: {e}"),
    }
}

/// Draws `frame` over `canvas` (`width` pixels wide) and returns the picture shown, then
/// leaves in `canvas` what the frame's disposal method says the next one is drawn over.
/// A frame's transparent pixels show what is under them; parts of the frame outside the
/// canvas are cut off.
fn composite(canvas: &mut [u8], width: usize, frame: &gif::Frame<'_>) -> Vec<u8> {
    let mut shown = canvas.to_vec();
    let height = canvas.len() / 4 / width.max(1);
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let frame_width = usize::from(frame.width);
    for (fy, row) in frame.buffer.chunks_exact(frame_width.max(1) * 4).enumerate() {
        let y = top + fy;
        if y >= height {
            break;
        }
        for (fx, pixel) in row.chunks_exact(4).enumerate() {
            let x = left + fx;
            if x >= width {
                break;
            }
            let at = (y * width + x) * 4;
            let under = &mut canvas[at..at + 4];
            let drawn = if pixel[3] == 0 { &*under } else { pixel };
            shown[at..at + 4].copy_from_slice(drawn);
            match frame.dispose {
                DisposalMethod::Any | DisposalMethod::Keep => under.copy_from_slice(&shown[at..at + 4]),
                DisposalMethod::Background => under.fill(0),
                DisposalMethod::Previous => {}
            }
        }
    }
    shown
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
            self.frames = 1;
            return Ok(Some(first));
        }
        if self.ended {
            return Ok(None);
        }
        match self.decode() {
            Ok(Some((frame, delay))) => {
                self.frames += 1;
                self.last_pts = Some(self.next_pts);
                self.next_pts += delay;
                Ok(Some(frame))
            }
            Ok(None) => {
                self.complete = true;
                Ok(None)
            }
            Err(e) => {
                // Cut short or damaged after some frames: the frames before it are shown, as
                // browsers show them, and the damage is said (once a run: live `--input` loops).
                self.ended = true;
                self.complete = true;
                if !DAMAGE_SAID.swap(true, Ordering::Relaxed) {
                    let name = self.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                    crate::say!(
                        "emojicam: warning: {name}: the GIF is cut short or damaged after its first {} frame(s) ({}): only those are shown",
                        self.frames,
                        decoding_failed(&e)
                    );
                }
                Ok(None)
            }
        }
    }

    fn timestamp(&self) -> Option<Duration> {
        self.last_pts
    }

    fn end(&self) -> Option<Duration> {
        self.complete.then_some(self.next_pts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::AnimationDecoder;

    /// A frame of `w`x`h` at (`left`, `top`) in one colour, with a transparent first column.
    fn frame(w: u16, h: u16, left: u16, top: u16, colour: [u8; 3], dispose: DisposalMethod) -> gif::Frame<'static> {
        let mut rgba = Vec::new();
        for _ in 0..h {
            for x in 0..w {
                let alpha = if x == 0 { 0 } else { 255 };
                rgba.extend_from_slice(&[colour[0], colour[1], colour[2], alpha]);
            }
        }
        let mut f = gif::Frame::from_rgba(w, h, &mut rgba);
        (f.left, f.top, f.dispose, f.delay) = (left, top, dispose, 3 + w);
        f
    }

    /// Every disposal method, offsets, transparency and a frame running off the canvas:
    /// composited exactly as the `image` crate's GIF decoder does it, with the delays as times.
    #[test]
    fn frames_composite_as_the_image_crate_does() {
        let frames = [
            frame(6, 4, 0, 0, [200, 10, 10], DisposalMethod::Keep),
            frame(3, 2, 2, 1, [10, 200, 10], DisposalMethod::Background),
            frame(2, 2, 1, 1, [10, 10, 200], DisposalMethod::Previous),
            frame(4, 3, 4, 2, [200, 200, 10], DisposalMethod::Any),
            frame(6, 4, 0, 0, [10, 200, 200], DisposalMethod::Keep),
        ];
        let mut bytes = Vec::new();
        {
            let mut encoder = gif::Encoder::new(&mut bytes, 6, 4, &[]).expect("encoder");
            for f in &frames {
                encoder.write_frame(f).expect("frame");
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("anim.gif");
        std::fs::write(&path, &bytes).expect("write");
        let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&bytes)).expect("image decoder");
        let expected = decoder.into_frames().collect_frames().expect("image frames");
        let mut source = GifSource::open(&path).expect("open");
        let mut at = Duration::ZERO;
        for (n, want) in expected.into_iter().enumerate() {
            let got = source.next_frame().expect("decode").expect("a frame");
            assert_eq!((got.width, got.height), (6, 4));
            let mut pixels = want.buffer().as_raw().clone();
            super::super::image::over_background(&mut pixels, super::super::image::transparent_background());
            assert_eq!(got.rgba, pixels, "frame {n}");
            assert_eq!(source.timestamp(), Some(at), "frame {n}");
            let (num, den) = want.delay().numer_denom_ms();
            at += Duration::from_millis(u64::from(num / den));
        }
        assert!(source.next_frame().expect("end").is_none());
        assert_eq!(source.info().rate, Some(reduce(Rate::new(1000, 90))));
    }
}
