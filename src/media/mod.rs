//! GStreamer, the media framework behind every video file we read or write (see
//! docs/media.md for why). This module starts it once and turns its failures into our errors,
//! naming the Debian package that holds a missing element.

use std::path::Path;
use std::sync::OnceLock;

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::error::{Error, Result};

/// Starts GStreamer once per process.
pub fn init() -> Result<()> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| Error::Other(format!("cannot start GStreamer: {e} (run ./setup.sh)")))
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

/// A bus error as one line ("element: message").
pub fn bus_error(err: &gst::message::Error) -> String {
    let mut line = err.error().to_string();
    if let Some(debug) = err.debug() {
        // The debug text's last line names the cause when the message is generic.
        if let Some(last) = debug.lines().last().filter(|l| !l.is_empty() && l.len() < 200) {
            if !line.contains(last) {
                line = format!("{line} ({last})");
            }
        }
    }
    line
}

/// A `file://` URI for a path (absolute, percent-encoded by GLib).
pub fn uri(path: &Path) -> Result<String> {
    let abs = std::path::absolute(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    gst::glib::filename_to_uri(&abs, None)
        .map(|u| u.to_string())
        .map_err(|e| Error::decode(path, format!("cannot make a URI of this path: {e}")))
}

/// Sets `name` on `element` if it has such a property (elements differ between versions).
pub fn set_if(element: &gst::Element, name: &str, value: &str) {
    if element.find_property(name).is_some() {
        element.set_property_from_str(name, value);
    }
}

/// Makes a `uridecodebin` that decodes only the streams whose media type starts with `keep`
/// ("video/" or "audio/"): the others are left encoded (never decoded) and drained into a
/// fakesink, and the first kept stream's pad is linked to `target`. Returns the element.
pub fn decode_only(uri: &str, keep: &'static str, target: gst::Pad) -> Result<gst::Element, gst::glib::BoolError> {
    let decode = gst::ElementFactory::make("uridecodebin").property("uri", uri).build()?;
    decode.connect("autoplug-continue", false, move |args| {
        let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
        let other = caps.as_ref().and_then(|c| c.structure(0)).is_some_and(|s| {
            !s.name().starts_with(keep) && (s.name().starts_with("audio/") || s.name().starts_with("video/"))
        });
        Some((!other).to_value())
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
