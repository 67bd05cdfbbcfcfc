//! Where frames come from: image files, video files, cameras. All deliver `Frame`s (RGBA, or a
//! video's I420 planes when opened for the pipeline: [`open_yuv`]) through the same trait so live and
//! offline rendering share one pipeline.
//!
//! Video decoding happens inside the source, which runs on the capture thread; video files
//! go through GStreamer (any container and codec its installed plugins read), GIFs through the
//! `image` crate, Y4M through the `y4m` crate.

pub mod camera;
mod colour;
mod gif;
mod heif;
mod image;
mod jpeg;
pub mod priority;
pub mod reader;
pub(crate) mod v4l2;
mod video;
mod y4m;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::frame::{Frame, StreamInfo, StreamKind};

pub use self::gif::GifSource;
pub use self::image::{set_transparent_background, ImageSource};
pub use self::video::VideoSource;
pub use self::y4m::Y4mSource;

/// A stream of frames. `next_frame` returns `Ok(None)` at the end of the stream.
pub trait Source: Send {
    fn info(&self) -> &StreamInfo;
    fn next_frame(&mut self) -> Result<Option<Frame>>;
    /// When the last frame came off the device, for sources whose frames wait in a queue
    /// before `next_frame` returns them (a camera); `None`: when `next_frame` returned.
    fn arrived(&self) -> Option<std::time::Instant> {
        None
    }
    /// When the last frame returned by `next_frame` is shown, from the stream's start (video
    /// files: the file's own timestamps, so variable-rate clips keep their timing). `None`:
    /// frames are evenly spaced at the stream's rate.
    fn timestamp(&self) -> Option<std::time::Duration> {
        None
    }
    /// Damaged frames the decoder concealed or skipped so far.
    fn damaged(&self) -> u64 {
        0
    }
    /// Where the stream ends (its last frame's timestamp plus that frame's own duration), once
    /// `next_frame` has returned `None`; `None` when the source does not know. A GIF's last
    /// frame is often held longer than the others: outputs show it for as long.
    fn end(&self) -> Option<std::time::Duration> {
        None
    }
    /// Whether the file may hold a sound track beside its picture (a video container read by
    /// GStreamer). GIF, Y4M and still images hold none: their sound is not looked for (a
    /// GStreamer probe of a cut GIF waits 20 s, and GStreamer's Y4M reader asserts on a grey one).
    fn may_have_sound(&self) -> bool {
        false
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Image,
    Gif,
    Video,
    Y4m,
}

/// The largest picture emojicam reads, per side (a JPEG's own limit: a phone's panorama can be
/// 20000 or more pixels wide): what a file's header declares (a damaged or hostile one can claim
/// 65535x65535) is checked against this and [`MAX_PIXELS`] before anything of that size is
/// allocated.
pub const MAX_SIDE: u64 = 65535;
/// The most pixels a picture may have: 2^27, about 134 megapixels (512 MiB as RGBA).
pub const MAX_PIXELS: u64 = 1 << 27;

/// Refuses a picture size that a `what` header declares over [`MAX_SIDE`] or [`MAX_PIXELS`]:
/// one line naming it, before it is allocated.
pub(crate) fn check_size(path: &Path, what: &str, width: u64, height: u64) -> Result<()> {
    if width <= MAX_SIDE && height <= MAX_SIDE && width.saturating_mul(height) <= MAX_PIXELS {
        return Ok(());
    }
    Err(Error::decode(
        path,
        format!(
            "the {what} declares {width}x{height} pixels, more than emojicam reads \
             ({MAX_SIDE} per side, {} megapixels in all): a damaged file, or a picture to scale down first",
            MAX_PIXELS / 1_000_000
        ),
    ))
}

const SUPPORTED: &str =
    "use PNG, JPEG, HEIC, AVIF, WebP, BMP, TIFF, GIF, MP4, MOV, MKV, WebM, AVI, MPEG-TS/PS, raw H.264/HEVC or Y4M";

/// How many of a file's first bytes [`sniff`] reads: four M2TS packets, the longest signature it
/// looks for.
const HEAD: usize = 4 * 192;

fn sniff(head: &[u8]) -> Option<Format> {
    let webp = head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP");
    let tiff = head.starts_with(b"II*\0") || head.starts_with(b"MM\0*");
    // "BM", then the file size, then four reserved zero bytes.
    let bmp = head.starts_with(b"BM") && head.get(6..10) == Some(&[0, 0, 0, 0]);
    // HEIC and AVIF photos are ISO-BMFF files like MP4: told apart by the `ftyp` box's brand.
    let heif = heif::brand(head).is_some();
    // MPEG-PS (a pack header: `.mpg`, `.vob`), and raw H.264 or HEVC (Annex B: a start code, then
    // an SPS or access unit delimiter (H.264), or a VPS or delimiter (HEVC), as streams begin).
    let mpeg_ps = head.starts_with(&[0, 0, 1, 0xba]);
    // MPEG-TS (a broadcast recording, a camcorder's `.mts`): 188-byte packets, each starting with the
    // sync byte 0x47, or 192 bytes with a 4-byte timecode first (M2TS, AVCHD); four sync bytes at that
    // spacing (one alone is too weak a sign: 0x47 is the letter G).
    let sync = |first: usize, size: usize| (0..4).all(|k| head.get(first + k * size) == Some(&0x47));
    let mpeg_ts = sync(0, 188) || sync(4, 192);
    let annex_b = head.starts_with(&[0, 0, 0, 1])
        && (matches!(head.get(4), Some(&(0x67 | 0x47 | 0x27 | 0x09)))
            || matches!(head.get(4..6), Some(&[0x40 | 0x46, 0x01])));
    if head.starts_with(b"\x89PNG") || head.starts_with(&[0xff, 0xd8, 0xff]) || webp || tiff || bmp || heif {
        Some(Format::Image)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(Format::Gif)
    } else if head.starts_with(b"YUV4MPEG2") {
        Some(Format::Y4m)
    } else if (head.len() >= 8 && matches!(&head[4..8], b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide" | b"skip"))
        || head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3])
        || (head.starts_with(b"RIFF") && head.get(8..12) == Some(b"AVI "))
        || mpeg_ps
        || mpeg_ts
        || annex_b
    {
        Some(Format::Video)
    } else {
        None
    }
}

fn by_extension(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" | "webp" | "bmp" | "tif" | "tiff" | "heic" | "heif" | "hif" | "avif" => {
            Some(Format::Image)
        }
        "gif" => Some(Format::Gif),
        "mp4" | "m4v" | "mov" | "mkv" | "webm" | "avi" | "ts" | "mts" | "m2ts" | "3gp" | "ogv" | "flv" | "wmv"
        | "mpg" | "mpeg" | "vob" | "m2v" | "h264" | "264" | "h265" | "265" | "hevc" => Some(Format::Video),
        "y4m" => Some(Format::Y4m),
        _ => None,
    }
}

/// A sound-only file, by its extension or (without a known one) its first bytes: an ID3 tag
/// (MP3), FLAC or WAV.
fn sound_only(path: &Path, head: &[u8]) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let by_name = ext.is_some_and(|e| {
        [
            "mp3", "mp2", "wav", "flac", "opus", "oga", "m4a", "m4b", "aac", "ac3", "wma", "aif", "aiff", "amr",
        ]
        .contains(&e.as_str())
    });
    let wav = head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE");
    by_name || head.starts_with(b"ID3") || head.starts_with(b"fLaC") || wav
}

/// What a sound file's refusal adds: its picture, if any, is a tag and not a video.
const COVER_ART: &str = "a song's cover art is not rendered: extract it first, e.g. ffmpeg -i IN -an cover.png";

fn read_error(path: &Path, source: std::io::Error) -> Error {
    Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens an image or video file, recognised by its first bytes (falling back on the
/// extension, so a corrupt `.mp4` is reported as a corrupt video rather than an unknown format).
/// Every frame comes as RGBA (a video's converted by videoconvert): for callers that read the
/// pixels; the pipeline takes [`open_yuv`].
pub fn open(path: &Path) -> Result<Box<dyn Source>> {
    open_as(path, false)
}

/// As [`open`], for the mosaic pipeline: a video file's frames come as I420 planes, what its
/// decoder gives, and the tiler converts their quadrant means on the GPU with the stream's own
/// matrix and range ([`VideoSource::open_yuv`]); other files' as RGBA. Offline `render` and live
/// `--input` both read videos this way, so one clip makes the same mosaic in either.
pub fn open_yuv(path: &Path) -> Result<Box<dyn Source>> {
    open_as(path, true)
}

/// As [`open`]; with `yuv`, as [`open_yuv`].
fn open_as(path: &Path, yuv: bool) -> Result<Box<dyn Source>> {
    let mut file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(read_error(path, std::io::Error::other("is a directory, not a file")));
    }
    let mut head = Vec::with_capacity(HEAD);
    (&mut file)
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(|e| read_error(path, e))?;
    // Empty whatever its name says (`-i - < /dev/null`, `: > x.bin`): nothing to recognise.
    if head.is_empty() {
        return Err(Error::decode(path, "the file is empty (0 bytes)"));
    }
    let format = match sniff(&head).or_else(|| by_extension(path)) {
        Some(format) => format,
        // A song (its cover art is a tag, not a video track): refused as what it is, as an
        // M4A or MKA is once GStreamer finds no video in it, not as a format never heard of.
        None if sound_only(path, &head) => {
            return Err(Error::usage(format!(
                "{}: the file is audio only ({COVER_ART})",
                crate::safety::one_line(&path.display().to_string())
            )))
        }
        // Without an extension (standard input, a FIFO, `photo`) only the content can say
        // what it is, and it did not.
        None => match path.extension() {
            Some(ext) => {
                return Err(Error::usage(format!(
                    "unsupported input format '.{}': {SUPPORTED}",
                    ext.to_string_lossy()
                )))
            }
            None => {
                return Err(Error::usage(format!(
                    "{}: unsupported input format (its first bytes are those of no format emojicam reads): {SUPPORTED}",
                    crate::safety::one_line(&path.display().to_string())
                )))
            }
        },
    };
    drop(file);
    Ok(match format {
        Format::Image => Box::new(ImageSource::open(path)?),
        Format::Gif => Box::new(GifSource::open(path)?),
        Format::Video if yuv => Box::new(VideoSource::open_yuv(path)?),
        Format::Video => Box::new(VideoSource::open(path)?),
        Format::Y4m => Box::new(Y4mSource::open(path)?),
    })
}

/// Opens a file that never ends: an image repeats forever, a video restarts at its end.
/// Used for `--input FILE` in live mode, whose pipeline takes a video's I420 frames as they
/// are decoded ([`VideoSource::open_yuv`]). Pacing (one frame per `rate`) is the caller's job.
pub fn open_looping(path: &Path) -> Result<Box<dyn Source>> {
    Ok(Box::new(Looping::new(path)?))
}

/// The size a still image of `width` x `height` is to be scaled to, or `None` to keep it.
pub type Fit<'a> = &'a dyn Fn(u32, u32) -> Option<(u32, u32)>;

/// `inner`'s frames scaled to `width` x `height` ([`Frame::resized`]): a picture larger than the
/// GPU takes.
pub fn scaled(inner: Box<dyn Source>, width: u32, height: u32) -> Box<dyn Source> {
    let mut info = inner.info().clone();
    info.width = width;
    info.height = height;
    Box::new(Scaled { inner, info })
}

struct Scaled {
    inner: Box<dyn Source>,
    info: StreamInfo,
}

impl Source for Scaled {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let Some(frame) = self.inner.next_frame()? else {
            return Ok(None);
        };
        let (w, h) = (frame.width, frame.height);
        let small = frame
            .resized(self.info.width, self.info.height)
            .ok_or_else(|| Error::Other(format!("internal: a {w}x{h} frame of the wrong size")))?;
        Ok(Some(small))
    }

    fn timestamp(&self) -> Option<std::time::Duration> {
        self.inner.timestamp()
    }

    fn end(&self) -> Option<std::time::Duration> {
        self.inner.end()
    }
}

/// Restarts a file source at its end (see [`open_looping`]).
pub struct Looping {
    path: PathBuf,
    inner: Box<dyn Source>,
    info: StreamInfo,
    /// A still image is decoded once and handed out again.
    still: Option<Frame>,
    /// Frames delivered since the last restart; a restart that yields nothing ends the stream.
    since_restart: u64,
    /// A still image's own size, when it is handed out scaled ([`Looping::fitted`]).
    scaled_from: Option<(u32, u32)>,
}

impl Looping {
    pub fn new(path: &Path) -> Result<Self> {
        Self::fitted(path, &|_, _| None)
    }

    /// [`Looping::new`], with a still image scaled (once) to the size `fit` gives for it: a
    /// photo larger than the GPU takes.
    pub fn fitted(path: &Path, fit: Fit<'_>) -> Result<Self> {
        let mut inner = open_as(path, true)?;
        let mut scaled_from = None;
        let (w, h) = (inner.info().width, inner.info().height);
        if inner.info().kind == StreamKind::Image {
            if let Some((fw, fh)) = fit(w, h).filter(|&s| s != (w, h)) {
                inner = scaled(inner, fw, fh);
                scaled_from = Some((w, h));
            }
        }
        let mut info = inner.info().clone();
        info.frames = None;
        Ok(Self {
            path: path.to_path_buf(),
            inner,
            info,
            still: None,
            since_restart: 0,
            scaled_from,
        })
    }

    /// The still image's own size, when [`Looping::fitted`] scaled it.
    pub fn scaled_from(&self) -> Option<(u32, u32)> {
        self.scaled_from
    }
}

impl Source for Looping {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        if let Some(frame) = &self.still {
            return Ok(Some(frame.clone()));
        }
        if let Some(frame) = self.inner.next_frame()? {
            self.since_restart += 1;
            if self.info.kind == StreamKind::Image {
                self.still = Some(frame.clone());
            }
            return Ok(Some(frame));
        }
        if self.since_restart == 0 {
            return Ok(None);
        }
        self.inner = open_as(&self.path, true)?;
        self.since_restart = 0;
        match self.inner.next_frame()? {
            Some(frame) => {
                self.since_restart = 1;
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }
}

thread_local! {
    /// Set while a third-party decoder runs under `guard`: its panics are contained and
    /// reported as `Error::Decode`, so the panic hook should stay quiet about them.
    static CONTAINED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a panic on this thread right now is contained by `guard` (for the panic hook).
pub fn panic_is_contained() -> bool {
    CONTAINED.with(|c| c.get())
}

/// Runs `f`, turning a panic inside a third-party decoder into `Error::Decode`.
pub(crate) fn guard<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let was = CONTAINED.with(|c| c.replace(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(was));
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::decode(
                path,
                format!("{what} failed on malformed data ({detail})"),
            ))
        }
    }
}
