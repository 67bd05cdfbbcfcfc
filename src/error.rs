//! The library's error type. Every variant says what failed and, where it helps, what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user asked for something impossible (bad option, unsupported format): exit code 2.
    #[error("{0}")]
    Usage(String),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    /// Input that exists but cannot be decoded (corrupt, truncated, unsupported codec).
    #[error("{path}: {message}")]
    Decode { path: PathBuf, message: String },
    #[error("encoding {path} failed: {message}")]
    Encode { path: PathBuf, message: String },
    /// The media framework failed (GStreamer's own error kept as the source).
    #[error(transparent)]
    Media(Box<MediaError>),
    #[error("GPU: {0}")]
    Gpu(#[from] GpuError),
    /// The work does not fit this GPU's limits (texture size, buffer size): a runtime
    /// failure of this machine, not a bad option, so it exits 1 like other runtime failures.
    #[error("{0}")]
    GpuLimit(String),
    #[error("classifier: {0}")]
    Classifier(String),
    #[error("classifier: {0}")]
    Classify(#[from] ClassifyError),
    /// The model's files disagree with each other (the ONNX model against the atlas).
    #[error("model assets: {0}")]
    Assets(String),
    /// The emoji atlas or its catalogue cannot be read or disagree with each other.
    #[error("model assets: {0}")]
    Atlas(#[from] AtlasError),
    #[error("camera: {0}")]
    Camera(#[source] CauseError),
    #[error("display: {0}")]
    Display(#[source] CauseError),
    #[error("virtual camera: {0}")]
    VirtualCamera(#[source] CauseError),
    #[error("{0}")]
    Other(String),
}

/// A failure told in one line (what is wrong and what to do) with, where there is one, the
/// driver's, window system's or operating system's error behind it kept as [`source`]
/// (its text is already part of the line). The camera's, the window's and the virtual camera's errors.
///
/// [`source`]: std::error::Error::source
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CauseError {
    message: String,
    #[source]
    cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl CauseError {
    /// A failure with no error behind it.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            cause: None,
        }
    }

    /// A failure caused by `cause` (whose text `message` already includes, where it helps).
    pub fn caused(message: impl Into<String>, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message: message.into(),
            cause: Some(Box::new(cause)),
        }
    }

    /// The one line, without the subsystem's prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Error {
    /// A camera failure described in words.
    pub fn camera(msg: impl Into<String>) -> Self {
        Error::Camera(CauseError::new(msg))
    }

    /// A camera failure caused by the driver's or the system's `cause`.
    pub fn camera_caused(msg: impl Into<String>, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Camera(CauseError::caused(msg, cause))
    }

    /// A window failure described in words.
    pub fn display(msg: impl Into<String>) -> Self {
        Error::Display(CauseError::new(msg))
    }

    /// A window failure caused by the window system's `cause`.
    pub fn display_caused(msg: impl Into<String>, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Display(CauseError::caused(msg, cause))
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// A GPU failure described in words.
    pub fn gpu(msg: impl Into<String>) -> Self {
        Error::Gpu(GpuError::Message(msg.into()))
    }

    pub fn decode(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Decode {
            path: path.into(),
            message: msg.into(),
        }
    }

    pub fn encode(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Encode {
            path: path.into(),
            message: msg.into(),
        }
    }

    /// Process exit code: 2 for usage errors, 1 for runtime failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// What went wrong on the GPU (the [`crate::gpu`] layer's errors), keeping wgpu's own errors as
/// their [`std::error::Error::source`]. Shown to users as `GPU: <message>` ([`Error::Gpu`]).
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// A failure described in words (no adapter, a missing resource, a bad scene).
    #[error("{0}")]
    Message(String),
    /// No adapter will do (`detail`: what was asked for, if not the default); `source`: wgpu's
    /// reason, where it gave one.
    #[error(
        "no GPU adapter found{detail}{}: install mesa-vulkan-drivers (software Vulkan) or a GPU \
         driver; `emojicam adapters` lists the adapters this machine has",
        .source.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
    )]
    NoAdapter {
        detail: &'static str,
        #[source]
        source: Option<wgpu::RequestAdapterError>,
    },
    #[error("cannot create a surface for the window: {source}")]
    Surface {
        #[source]
        source: wgpu::CreateSurfaceError,
    },
    #[error("cannot open a device on {adapter}: {source}")]
    Device {
        adapter: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },
    #[error("waiting for the GPU failed: {source}")]
    Poll {
        #[source]
        source: wgpu::PollError,
    },
    #[error("cannot map the {what} readback buffer: {source}")]
    Map {
        what: &'static str,
        #[source]
        source: wgpu::BufferAsyncError,
    },
    #[error("cannot read the {what} readback buffer: {source}")]
    View {
        what: &'static str,
        #[source]
        source: wgpu::MapRangeError,
    },
    #[error("{what} readback was dropped")]
    Dropped { what: &'static str },
    #[error("{what} readback: read without a submitted frame")]
    NotMapped { what: &'static str },
    #[error("{what} readback: a frame is still in flight")]
    Busy { what: &'static str },
}

/// A failure in the media framework, keeping GStreamer's and GLib's own error as its
/// [`std::error::Error::source`]. Shown like the other file errors: `PATH: what: cause` when
/// reading, `encoding PATH failed: what: cause` when writing. Exit code 1 (a runtime failure).
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot start GStreamer: {source} (run ./setup.sh)")]
    Init {
        #[source]
        source: gstreamer::glib::Error,
    },
    #[error("{}: cannot make a URI of this path: {source}", .path.display())]
    Uri {
        path: PathBuf,
        #[source]
        source: gstreamer::glib::Error,
    },
    /// A decoding pipeline posted an error (`detail`: the cause named in its debug text).
    #[error("{}: {what}: {}", .path.display(), line(.source, .detail))]
    Decode {
        path: PathBuf,
        what: String,
        #[source]
        source: gstreamer::glib::Error,
        detail: Option<String>,
    },
    /// An encoding pipeline posted an error.
    #[error("encoding {} failed: {what}: {}", .path.display(), line(.source, .detail))]
    Encode {
        path: PathBuf,
        what: String,
        #[source]
        source: gstreamer::glib::Error,
        detail: Option<String>,
    },
    /// A pipeline could not be built or linked.
    #[error("{}: {what}: {source}", .path.display())]
    Build {
        path: PathBuf,
        what: String,
        #[source]
        source: gstreamer::glib::BoolError,
    },
    /// A pipeline refused to change state.
    #[error("{}: {what}: {source}", .path.display())]
    State {
        path: PathBuf,
        what: String,
        #[source]
        source: gstreamer::StateChangeError,
    },
}

/// A bus error as one line: "message (cause)".
fn line(source: &gstreamer::glib::Error, detail: &Option<String>) -> String {
    match detail {
        Some(d) => format!("{source} ({d})"),
        None => source.to_string(),
    }
}

/// What is wrong with an emoji atlas ([`crate::Atlas`]): its catalogue or image cannot be
/// decoded (serde's and the image decoder's errors kept as the [`std::error::Error::source`]),
/// or its parts disagree. Shown to users as `model assets: <message>` ([`Error::Atlas`]).
#[derive(Debug, thiserror::Error)]
pub enum AtlasError {
    #[error("emoji.json is not a valid catalogue: {source}")]
    Catalogue {
        #[source]
        source: serde_json::Error,
    },
    #[error("atlas.png cannot be decoded: {source}")]
    Image {
        #[source]
        source: image::ImageError,
    },
    #[error("emoji.json says count {said} but lists {listed} emoji")]
    Count { said: u32, listed: usize },
    #[error("atlas cell size {0} must be a power of two (mipmaps halve it down to 1 px)")]
    Cell(u32),
    #[error("atlas has no columns or no emoji")]
    Empty,
    #[error("atlas.png is {width}x{height} but {count} cells of {cell} px in {columns} columns need {}x{}", columns * cell, rows * cell)]
    Size {
        width: u32,
        height: u32,
        count: u32,
        cell: u32,
        columns: u32,
        rows: u32,
    },
    #[error("emoji.json entry {entry} has index {index} (entries must be in index order)")]
    Order { entry: usize, index: u32 },
    #[error("emoji set '{0}' is empty")]
    EmptySet(String),
    #[error("emoji set '{set}' refers to emoji {member} but the atlas has {count}")]
    SetMember { set: String, member: u32, count: u32 },
}

/// What went wrong in a tile classifier (the [`crate::classify`] layer's errors), keeping ONNX
/// Runtime's own errors as their [`std::error::Error::source`]. Shown to users as
/// `classifier: <message>` ([`Error::Classify`]).
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("ORT_DYLIB_PATH={} does not exist", .0.display())]
    LibraryPath(PathBuf),
    #[error(
        "ONNX Runtime {version} library not found: rebuild with python3 + pip available (the build fetches it), \
         set ORT_DYLIB_PATH to libonnxruntime, or use --classifier nearest"
    )]
    LibraryMissing { version: &'static str },
    #[error("cannot load ONNX Runtime from {}: {source}", path.display())]
    LoadLibrary {
        path: PathBuf,
        #[source]
        source: ort::LoadDynamicError,
    },
    #[error("cannot start ONNX Runtime ({}): {source}", path.display())]
    Start {
        path: PathBuf,
        #[source]
        source: ort::Error,
    },
    /// The process-wide environment failed when it was first needed; every later use reports
    /// that same failure.
    #[error(transparent)]
    Environment(std::sync::Arc<ClassifyError>),
    #[error("loading the model: {source}")]
    LoadModel {
        #[source]
        source: ort::Error,
    },
    #[error("model run failed: {source}")]
    Run {
        #[source]
        source: ort::Error,
    },
    #[error("the allowed mask has {got} entries but there are {classes} emoji")]
    MaskLength { got: usize, classes: usize },
    #[error("tile buffer of {0} bytes is not a whole number of tiles")]
    PartialPatch(usize),
    #[error("{positions} tile positions for {patches} patches")]
    Positions { positions: usize, patches: usize },
    #[error("the model returned {got} choices for {tiles} tiles")]
    Choices { got: usize, tiles: usize },
    /// A model split in two (training/graph.py `split_tables`) given without its tables graph.
    #[error("the model needs its tables graph {name} (the file beside it)")]
    TablesMissing { name: String },
    /// An input of the model whose value was not at hand on a run (a bug: checked at load).
    #[error("no value for the model's input '{input}' on this run")]
    FeedMissing { input: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_usage_errors_exit_2() {
        assert_eq!(Error::usage("bad option").exit_code(), 2);
        assert_eq!(Error::GpuLimit("frame too large".into()).exit_code(), 1);
        assert_eq!(Error::gpu("no adapter").exit_code(), 1);
        assert_eq!(Error::camera("no camera found").exit_code(), 1);
    }

    #[test]
    fn camera_and_window_errors_keep_the_cause_behind_their_line() {
        use std::error::Error as _;
        let denied = || std::io::Error::from_raw_os_error(libc::EACCES);
        let e = Error::camera_caused(format!("camera 0: cannot open: {}", denied()), denied());
        assert_eq!(e.to_string(), format!("camera: camera 0: cannot open: {}", denied()));
        let line = e.source().expect("the camera's line");
        assert_eq!(line.to_string(), format!("camera 0: cannot open: {}", denied()));
        let os = line
            .source()
            .and_then(|c| c.downcast_ref::<std::io::Error>())
            .expect("the OS error");
        assert_eq!(os.raw_os_error(), Some(libc::EACCES));
        let words = Error::display("no display");
        assert!(words.source().is_some_and(|line| line.source().is_none()));
    }
}
