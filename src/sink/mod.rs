//! Where mosaics go: image files, video files, text/JSON, Y4M streams, virtual cameras.
//!
//! File outputs are atomic: they are written to `.NAME.partial` beside the target, created and
//! locked before any processing (so an unwritable path or a concurrent run fails at once), and
//! renamed onto the target by `finish` (see [`AtomicFile`]). A sink dropped without `finish`
//! removes its temporary file. Video files (.mp4 .m4v .mov .mkv .webm) keep the input's sound when given
//! the input ([`create_with_audio`]).

mod atomic;
mod gif;
mod image;
mod text;
mod thread;
pub mod v4l2;
mod video;
mod y4m;

use std::path::Path;
use std::sync::Arc;

use crate::domain::MosaicFrame;
use crate::error::{Error, Result};
use crate::frame::{Frame, I420Frame, StreamInfo};

pub use self::atomic::{AtomicFile, CommitOnFinish};
pub use self::gif::GifSink;
pub use self::image::ImageSink;
pub use self::video::{check_size, Container, Sound, VideoSink};
/// The video writer under its first name (live recordings use [`VideoSink::create_recording`]).
pub type Mp4Sink = VideoSink;
pub use self::text::{JsonSink, JsonlSink, TxtSink};
pub use self::thread::{Picture, Policy, SinkReport, SinkThread, ENCODE_AHEAD};
pub use self::v4l2::{FileOutput, V4l2Device, V4l2Sink, VideoOutputDevice};
pub use self::y4m::Y4mSink;

/// A consumer of mosaic frames. `finish` must be called once at the end; a sink
/// dropped without `finish` leaves no output that looks valid.
pub trait Sink: Send {
    /// Writes one mosaic frame. Its stamp says where it belongs: `seq` is its zero-based number
    /// in the output, `timestamp` when it is shown from the stream's start (the input's own
    /// timing, kept by video and GIF outputs; `None`, or sinks without timing: evenly spaced
    /// frames). `image` is the rendered mosaic (RGBA8); `None` for sinks that only need the
    /// emoji ([`Self::needs_image`] is false).
    fn write(&mut self, mosaic: &MosaicFrame, image: Option<&Frame>) -> Result<()>;
    /// [`Self::write`], handing the image over: a sink that keeps the pixels (a queue to its
    /// thread, an encoder's buffer) takes them without a copy.
    fn write_owned(&mut self, mosaic: &MosaicFrame, image: Option<Frame>) -> Result<()> {
        self.write(mosaic, image.as_ref())
    }
    fn finish(&mut self) -> Result<()>;
    /// Whether this sink needs the rendered image (text sinks do not).
    fn needs_image(&self) -> bool {
        true
    }
    /// Whether this sink takes its images as I420 ([`Self::write_i420`]) instead of RGBA (the
    /// live recorder: its encoder wants I420 and the GPU converts faster than the CPU).
    fn takes_i420(&self) -> bool {
        false
    }
    /// Writes one mosaic frame given as I420; only for sinks whose [`Self::takes_i420`] is true.
    fn write_i420(&mut self, mosaic: &MosaicFrame, image: &I420Frame) -> Result<()> {
        let _ = (mosaic, image);
        Err(Error::Other("internal: this output takes RGBA images, not I420".into()))
    }
    /// What this output does with the input's sound track (None: it writes none).
    fn sound(&self) -> Option<Sound> {
        None
    }
    /// The input's stream ends at `end` (from its start): the last frame is shown until then,
    /// for its own duration rather than one frame at the input's rate. Called before
    /// [`Self::finish`]; sinks without timing ignore it.
    fn end_at(&mut self, end: std::time::Duration) {
        let _ = end;
    }
    /// Frames written to it that the output left out (a GIF's frames that would last less than
    /// 20 ms); read after [`Self::finish`].
    fn left_out(&self) -> u64 {
        0
    }
}

/// Output formats, for messages.
pub const OUTPUTS: &str =
    ".png, .jpg, .webp, .mp4, .mov, .mkv, .webm, .gif, .y4m, .txt, .json, .jsonl or - (Y4M to stdout)";

/// Creates the sink for `path`, chosen by extension: `.png`/`.jpg`/`.jpeg` (the last frame
/// written), `.mp4`/`.mkv` (H.264), `.webm` (VP8), `.gif`, `.y4m`, `.txt`, `.json` (last
/// frame), `.jsonl` (one line per frame), or `-` for Y4M on stdout. `emoji_text` /
/// `emoji_codes` map atlas indices to the emoji character and its codepoint string ("1F600",
/// "1F468-200D-1F469"). Video files are silent: see [`create_with_audio`].
pub fn create(
    path: &Path,
    info: &StreamInfo,
    emoji_text: Arc<[String]>,
    emoji_codes: Arc<[String]>,
) -> Result<Box<dyn Sink>> {
    create_with_audio(path, info, None, emoji_text, emoji_codes)
}

/// [`create`], with video files (.mp4 .m4v .mov .mkv .webm) keeping the sound of `audio` (the input
/// file), if it has any.
pub fn create_with_audio(
    path: &Path,
    info: &StreamInfo,
    audio: Option<&Path>,
    emoji_text: Arc<[String]>,
    emoji_codes: Arc<[String]>,
) -> Result<Box<dyn Sink>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(Y4mSink::stdout(info)));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    if ext.is_empty() && is_stream_device(path) {
        return Ok(Box::new(Y4mSink::create(path, info)?));
    }
    if let Some(container) = Container::from_extension(&ext) {
        return Ok(Box::new(VideoSink::create(path, info, container, audio)?));
    }
    Ok(match ext.as_str() {
        "png" | "jpg" | "jpeg" | "webp" => Box::new(ImageSink::create(path)?),
        "gif" => Box::new(GifSink::create(path, info)?),
        "y4m" => Box::new(Y4mSink::create(path, info)?),
        "txt" => Box::new(TxtSink::create(path, emoji_text)?),
        "json" => Box::new(JsonSink::create(path, emoji_codes)?),
        "jsonl" => Box::new(JsonlSink::create(path, emoji_codes)?),
        _ => {
            let shown = if ext.is_empty() {
                "(no extension)".to_string()
            } else {
                format!("'.{ext}'")
            };
            return Err(Error::usage(format!(
                "unsupported output format {shown}: use {OUTPUTS}"
            )));
        }
    })
}

/// A FIFO or character device (`/dev/null`, a pipe a player reads): with no extension to say
/// otherwise, it gets the Y4M stream, as stdout (`-`) and the live `--output` do.
pub fn is_stream_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_char_device())
}

pub(crate) fn image_of<'a>(image: Option<&'a Frame>, path: &Path) -> Result<&'a Frame> {
    image.ok_or_else(|| {
        Error::encode(
            path,
            "internal: this output needs the rendered mosaic image, none was given",
        )
    })
}
