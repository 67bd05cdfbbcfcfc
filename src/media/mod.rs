//! GStreamer, the media framework behind every video file we read or write (see
//! docs/media.md for why). This module starts it once and turns its failures into our errors,
//! naming the Debian package that holds a missing element.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;

pub use crate::error::MediaError;
use crate::error::{Error, Result};

mod edits;
pub use edits::index_missing;

impl MediaError {
    /// The file the error is about, if one.
    pub fn path_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            MediaError::Init { .. } => None,
            MediaError::Uri { path, .. }
            | MediaError::Decode { path, .. }
            | MediaError::Encode { path, .. }
            | MediaError::Build { path, .. }
            | MediaError::State { path, .. } => Some(path),
        }
    }

    /// A bus error message about decoding `path`, `what` saying what was being done.
    pub fn decode(path: &Path, what: impl Into<String>, err: &gst::message::Error) -> Self {
        MediaError::Decode {
            path: path.to_path_buf(),
            what: what.into(),
            source: err.error(),
            detail: detail(err),
        }
    }

    /// A bus error message about encoding `path`.
    pub fn encode(path: &Path, what: impl Into<String>, err: &gst::message::Error) -> Self {
        MediaError::Encode {
            path: path.to_path_buf(),
            what: what.into(),
            source: err.error(),
            detail: detail(err),
        }
    }
}

impl From<MediaError> for Error {
    fn from(e: MediaError) -> Self {
        Error::Media(Box::new(e))
    }
}

/// Starts GStreamer once per process.
pub fn init() -> Result<()> {
    static INIT: OnceLock<Result<(), glib::Error>> = OnceLock::new();
    INIT.get_or_init(|| {
        quiet_known_assertion();
        gst::init()?;
        // If it cannot be, edit-listed MP4 files are read by filesrc ([`uri`]): their ends cut.
        let _ = edits::register();
        Ok(())
    })
    .clone()
    .map_err(|source| MediaError::Init { source }.into())
}

/// `appsrc ! decoder ! videoconvert ! appsink`, playing: a decoder fed pictures held in memory
/// (a camera's MJPEG frames, a TIFF only libtiff reads), its output converted to raw video of
/// `format`. Stopped ([`stop`]) when dropped.
pub struct MemoryDecoder {
    pub pipeline: gst::Pipeline,
    pub src: gstreamer_app::AppSrc,
    pub sink: gstreamer_app::AppSink,
    pub bus: gst::Bus,
}

impl MemoryDecoder {
    /// The pipeline around the element `decoder` (a factory name, e.g. "jpegdec"), set up by
    /// `configure`, taking buffers of `src_caps` (e.g. "image/jpeg"). None when GStreamer, either
    /// element or the pipeline cannot be made.
    pub fn new(
        src_caps: &str,
        decoder: &str,
        configure: impl FnOnce(&gst::Element),
        format: gstreamer_video::VideoFormat,
    ) -> Option<Self> {
        init().ok()?;
        let decoder = gst::ElementFactory::make(decoder).build().ok()?;
        configure(&decoder);
        let convert = gst::ElementFactory::make("videoconvert").build().ok()?;
        let src = gstreamer_app::AppSrc::builder()
            .caps(&gst::Caps::builder(src_caps).build())
            .format(gst::Format::Time)
            .build();
        let sink = gstreamer_app::AppSink::builder()
            .caps(&gstreamer_video::VideoCapsBuilder::new().format(format).build())
            .sync(false)
            .build();
        let pipeline = gst::Pipeline::new();
        let chain = [src.upcast_ref(), &decoder, &convert, sink.upcast_ref()];
        pipeline.add_many(chain).ok()?;
        gst::Element::link_many(chain).ok()?;
        let bus = pipeline.bus()?;
        pipeline.set_state(gst::State::Playing).ok()?;
        Some(Self {
            pipeline,
            src,
            sink,
            bus,
        })
    }
}

impl Drop for MemoryDecoder {
    fn drop(&mut self) {
        stop(&self.pipeline);
    }
}

/// The one GStreamer assertion a damaged file is known to trip on its way to our own error:
/// avidemux updates its flow combiner for a video track without a single frame, which has no
/// pad (GStreamer 1.22). The file is then refused with one line of ours ("its video track has no
/// frames"); the assertion would print a second, alarming "GStreamer-Base-CRITICAL" line.
/// Every other message of that domain goes to GLib's default handler as before.
fn quiet_known_assertion() {
    const KNOWN: &str = "gst_flow_combiner_update_pad_flow: assertion 'pad != NULL' failed";
    glib::log_set_handler(
        Some("GStreamer-Base"),
        glib::LogLevels::LEVEL_CRITICAL,
        false,
        false,
        |domain, level, message| {
            if !message.contains(KNOWN) {
                glib::log_default_handler(domain, level, Some(message));
            }
        },
    );
}

/// How long stopping a pipeline may take before the caller goes on without it.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Stops `pipeline` (state NULL) on a thread of its own, waiting at most [`STOP_TIMEOUT`]: a
/// streaming thread stuck in a damaged file's demuxer or decoder never holds the caller (the
/// pipeline is left to that thread, and the process can end without it). Returns whether it
/// stopped in time.
pub fn stop(pipeline: &gst::Pipeline) -> bool {
    let (done, stopped) = std::sync::mpsc::channel();
    let stopping = pipeline.clone();
    let spawned = std::thread::Builder::new().name("media-stop".into()).spawn(move || {
        let _ = stopping.set_state(gst::State::Null);
        let _ = done.send(());
    });
    match spawned {
        Ok(_) => stopped.recv_timeout(STOP_TIMEOUT).is_ok(),
        Err(_) => pipeline.set_state(gst::State::Null).is_ok(),
    }
}

/// The Debian package that ships an element (the first of `factories` we name), for the
/// "install it" hint.
pub fn package_of(factory: &str) -> &'static str {
    match factory {
        "x264enc" => "gstreamer1.0-plugins-ugly",
        "vp8enc" | "vp9enc" | "mp4mux" | "qtmux" | "matroskamux" | "webmmux" | "videoflip" | "filesink" => {
            "gstreamer1.0-plugins-good"
        }
        "avenc_aac" | "avdec_h264" | "avdec_h265" => "gstreamer1.0-libav",
        "voaacenc" | "fdkaacenc" => "gstreamer1.0-plugins-bad",
        "filesrc" | "queue" => "libgstreamer1.0-0",
        _ => "gstreamer1.0-plugins-base",
    }
}

/// The first of `factories` that is installed, built; else an error naming the package.
pub fn make_any(factories: &[&str], path: &Path) -> Result<gst::Element> {
    for name in factories {
        if let Ok(element) = gst::ElementFactory::make(name).build() {
            return Ok(element);
        }
    }
    let first = factories.first().copied().unwrap_or("?");
    Err(Error::encode(
        path,
        format!(
            "the GStreamer element '{first}' is missing: install {} (./setup.sh does)",
            package_of(first)
        ),
    ))
}

/// The package that decodes a stream of these caps (from a missing-plugin message).
fn decoder_package(caps: &str) -> &'static str {
    if caps.starts_with("video/x-vp8") || caps.starts_with("video/x-vp9") {
        "gstreamer1.0-plugins-good"
    } else if caps.starts_with("video/x-av1") {
        "gstreamer1.0-plugins-bad"
    } else {
        "gstreamer1.0-libav"
    }
}

/// One line for a missing-plugin bus message: what is missing and which package has it.
pub fn missing_plugin(msg: &gst::Message) -> Option<String> {
    let s = msg.structure()?;
    if s.name() != "missing-plugin" {
        return None;
    }
    let detail = s
        .get::<gst::Caps>("detail")
        .ok()
        .map(|c| c.to_string())
        .or_else(|| s.get::<String>("detail").ok())
        .unwrap_or_default();
    let description = gstreamer_pbutils::MissingPluginMessage::parse(msg)
        .ok()
        .map(|m| m.description().to_string())
        .unwrap_or_else(|| detail.clone());
    Some(format!(
        "no GStreamer plugin for {description}: install {} (./setup.sh does)",
        decoder_package(&detail)
    ))
}

/// The cause a bus error's debug text names when its message is generic: the debug text's last
/// line, if short and not already in the message.
fn detail(err: &gst::message::Error) -> Option<String> {
    let message = err.error().to_string();
    let debug = err.debug()?;
    let last = debug.lines().last()?;
    (!last.is_empty() && last.len() < 200 && !message.contains(last)).then(|| last.to_string())
}

/// A `file://` URI for a path (absolute, percent-encoded by GLib); for an MP4/MOV file whose
/// tracks start through an edit list, on a GStreamer whose MP4 reader would cut their ends, a
/// URI of the same path that our own file source reads ([`edits`]).
pub fn uri(path: &Path) -> Result<String> {
    let abs = std::path::absolute(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let uri = glib::filename_to_uri(&abs, None).map_err(|source| MediaError::Uri {
        path: path.to_path_buf(),
        source,
    })?;
    match uri.strip_prefix("file:") {
        Some(rest) if edits::patch_for(&abs).is_some() && init().is_ok() && edits::registered() => {
            Ok(format!("{}:{rest}", edits::SCHEME))
        }
        _ => Ok(uri.to_string()),
    }
}

/// Sets `name` on `element` if it has such a property (elements differ between versions).
pub fn set_if(element: &gst::Element, name: &str, value: &str) {
    if element.find_property(name).is_some() {
        element.set_property_from_str(name, value);
    }
}

/// Whether an `autoplug-continue` pad is a demuxer's: one stream of the file (the container's
/// own caps, "video/quicktime", come from typefind).
fn from_demuxer(pad: Option<&glib::Value>) -> bool {
    // decodebin's own ghost pad, whose target is the element's pad.
    pad.and_then(|v| v.get::<gst::GhostPad>().ok())
        .and_then(|g| g.target())
        .and_then(|p| p.parent_element())
        .and_then(|e| e.factory())
        .and_then(|f| f.metadata(gst::ELEMENT_METADATA_KLASS).map(|k| k.contains("Demux")))
        .unwrap_or(false)
}

/// The picture size a stream's caps declare, when they do.
fn declared_size(s: &gst::StructureRef) -> Option<(u64, u64)> {
    let side = |name| s.get::<i32>(name).ok().map(|v| u64::try_from(v).unwrap_or(0));
    Some((side("width")?, side("height")?))
}

/// What [`decode_only`] learnt of a file's streams from their caps, before decoding.
#[derive(Debug, Default)]
pub struct Seen {
    /// A video stream's declared picture size that `fits` refused.
    pub too_large: OnceLock<(u64, u64)>,
    /// Whether the file has a stream of the kept type at all, decodable or not (a truncated
    /// file can declare a video track none of whose frames is there).
    pub kept: std::sync::atomic::AtomicBool,
}

/// Makes a `uridecodebin` that decodes only the streams whose media type starts with `keep`
/// ("video/" or "audio/"): the others are left encoded (never decoded) and drained into a
/// fakesink, and the first kept stream's pad is linked to `target`. A video stream whose caps
/// (the demuxer's or the parser's, from the stream's own header) declare a picture larger than
/// `fits` allows is not decoded either: its size goes into `seen.too_large`, before any decoder
/// allocates a frame of it. Returns the element.
pub fn decode_only(
    uri: &str,
    keep: &'static str,
    target: gst::Pad,
    fits: fn(u64, u64) -> bool,
    seen: Arc<Seen>,
) -> Result<gst::Element, gst::glib::BoolError> {
    let decode = gst::ElementFactory::make("uridecodebin").property("uri", uri).build()?;
    decode.connect("autoplug-continue", false, move |args| {
        let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
        let Some(s) = caps.as_ref().and_then(|c| c.structure(0)) else {
            return Some(true.to_value());
        };
        if s.name().starts_with(keep) && from_demuxer(args.get(1)) {
            seen.kept.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let other = !s.name().starts_with(keep) && (s.name().starts_with("audio/") || s.name().starts_with("video/"));
        let oversized = match declared_size(s) {
            Some((w, h)) if s.name().starts_with("video/") && !fits(w, h) => {
                let _ = seen.too_large.set((w, h));
                true
            }
            _ => false,
        };
        Some((!other && !oversized).to_value())
    });
    decode.connect_pad_added(move |element, pad| {
        let kept = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with(keep)))
            .unwrap_or(false);
        if kept && !target.is_linked() && pad.link(&target).is_ok() {
            return;
        }
        // Anything else flows into a sink of its own, so the demuxer never stalls on it.
        let Some(bin) = element.parent().and_then(|p| p.downcast::<gst::Bin>().ok()) else {
            return;
        };
        let Ok(sink) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
        else {
            return;
        };
        if bin.add(&sink).is_ok() {
            let _ = sink.sync_state_with_parent();
            if let Some(sink_pad) = sink.static_pad("sink") {
                let _ = pad.link(&sink_pad);
            }
        }
    });
    Ok(decode)
}
