//! Command-line interface. `main.rs` parses this and dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use emojicam::domain::ClassifierKind;

/// The live preview's options go before nothing else: given before a subcommand (`emojicam
/// --threads 1 bench`) they would be ignored, so that is a usage error (each subcommand takes its
/// own options after its name).
#[derive(Parser, Debug)]
#[command(
    name = "emojicam",
    version,
    about = "Turns your webcam (or any video or photo) into a live mosaic of emoji",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options for the live preview (used when no subcommand is given).
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Render an image or video file to an emoji mosaic (PNG, JPEG, WebP, MP4, MOV, MKV, WebM, GIF, Y4M, TXT, JSON, JSONL).
    Render(RenderArgs),
    /// Render the bundled demo clip to an MP4 and a PNG, and print their paths.
    Demo(DemoArgs),
    /// Measure frames per second and per-stage timings.
    Bench(BenchArgs),
    /// List cameras and their formats.
    Cameras,
    /// List the emoji sets (for --emoji).
    Sets,
    /// List the GPU adapters wgpu can use (for --adapter).
    Adapters,
}

/// `--classifier`: the command line's spelling of [`ClassifierKind`] (clap lists these
/// doc comments as the possible values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClassifierArg {
    /// The trained model through ONNX Runtime (default).
    Onnx,
    /// Exhaustive nearest match in a compute shader (quality reference; needs no ONNX Runtime).
    Nearest,
}

impl From<ClassifierArg> for ClassifierKind {
    fn from(arg: ClassifierArg) -> Self {
        match arg {
            ClassifierArg::Onnx => ClassifierKind::Onnx,
            ClassifierArg::Nearest => ClassifierKind::Nearest,
        }
    }
}

/// Options every command that runs the pipeline shares.
#[derive(Args, Debug, Clone)]
pub struct MosaicArgs {
    /// Tile size in source pixels (4..=64).
    #[arg(long, short = 't', default_value_t = 10)]
    pub tile: u32,
    /// Which classifier picks the emoji.
    #[arg(long, value_enum, default_value_t = ClassifierArg::Onnx)]
    pub classifier: ClassifierArg,
    /// Colour behind the emoji: tile (each tile's mean colour, black behind dark tiles and bright
    /// detail over a dark ground: the best likeness), black, white or #rrggbb.
    #[arg(long, default_value = "tile")]
    pub background: String,
    /// Emoji set to draw from (see `emojicam sets`).
    #[arg(long, default_value = "default")]
    pub emoji: String,
    /// GPU adapter: auto, software, or part of an adapter's name (see `emojicam adapters`).
    #[arg(long, env = "EMOJICAM_ADAPTER", default_value = "auto")]
    pub adapter: String,
    /// ONNX Runtime threads (default: number of cores, at most 4).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Keep a tile's emoji until its 2x2 mean colours move by more than this many levels, and
    /// then change it only for a clearly better one (0..=255; steadies the picture and skips
    /// work). 0 re-classifies every tile every frame.
    #[arg(long, default_value_t = emojicam::pipeline::DEFAULT_CHANGE_THRESHOLD)]
    pub change_threshold: u8,
    /// Emoji variety (0..=10): 0 always draws each tile's closest emoji; higher values let a
    /// tile take a near-equal one chosen by a fixed pattern, so flat areas become a varied
    /// texture instead of one emoji repeated (costs a little likeness). onnx classifier only.
    #[arg(long, default_value_t = emojicam::classify::DEFAULT_VARIETY)]
    pub variety: f32,
    /// The grid of mean colours per tile the likeness compares: 2 (2x2, the default: most
    /// variety), 3 or 4 (finer: looks more like the picture up close, fewer kinds of emoji).
    /// 3 and 4 need --classifier nearest.
    #[arg(long, default_value_t = emojicam::domain::likeness::DEFAULT_DETAIL)]
    pub detail: u32,
    /// Draw every emoji as the atlas has it: no dimmed copies in dark areas (by default an
    /// emoji may also be drawn at 1/4 or 1/8 of its brightness where the picture is dark).
    #[arg(long)]
    pub no_dim: bool,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// Input file: PNG, JPEG, HEIC, AVIF, WebP, GIF, a video (MP4, MOV, MKV, WebM, AVI, MPEG-TS/PS: H.264, HEVC, VP8, VP9, AV1, ...), a raw H.264/HEVC stream or Y4M; - for standard input.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Output file, chosen by extension: .png .jpg .webp .mp4 .mov .mkv .webm .gif .y4m .txt .json (image) .jsonl (video), or - for Y4M on stdout.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Leave out the input's sound (video outputs keep it by default).
    #[arg(long)]
    pub no_audio: bool,
    #[command(flatten)]
    pub mosaic: MosaicArgs,
    /// Output size as WxH (default: the input's size).
    #[arg(long)]
    pub size: Option<String>,
    /// Print only errors (and warnings about damaged input): no progress bar, no summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Directory for the demo outputs.
    #[arg(long, default_value = "emojicam-demo")]
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub mosaic: MosaicArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Frames measured per size and classifier.
    #[arg(long, default_value_t = 30)]
    pub frames: u32,
    /// Sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "640x360,1280x720,1920x1080")]
    pub sizes: Vec<String>,
    /// Classifiers to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "onnx,nearest")]
    pub classifiers: Vec<ClassifierArg>,
    /// Input video used as frames (default: the bundled demo clip).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Skip the one-call-per-tile baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// GPU adapter: auto, software, or part of an adapter's name.
    #[arg(long, env = "EMOJICAM_ADAPTER", default_value = "auto")]
    pub adapter: String,
    /// Tile size.
    #[arg(long, default_value_t = 10)]
    pub tile: u32,
    /// ONNX Runtime threads of every measurement, the live and render runs' included (default:
    /// number of cores, at most 4; the one-call-per-tile baseline runs on one).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seconds of each live run (the emojicam binary on a 30 fps clip of the input at each size:
    /// in the window when there is a display, and recording); 0 skips them.
    #[arg(long, default_value_t = 6.0)]
    pub live_seconds: f64,
    /// Another emojicam binary (or a script running one) whose live runs take turns with this
    /// build's, for before/after figures from one run.
    #[arg(long)]
    pub live_against: Option<PathBuf>,
    /// Rounds of live runs per size and mode.
    #[arg(long, default_value_t = 1)]
    pub live_repeat: u32,
    /// Only the live runs (no stage tables, flicker or likeness figures; the render runs too
    /// when --render-against is given).
    #[arg(long)]
    pub live_only: bool,
    /// Another emojicam binary (or a script running one) whose offline renders (`render
    /// --input CLIP --output OUT.mp4` of the demo clip and of the handheld footage) take turns
    /// with this build's, for before/after figures from one run.
    #[arg(long)]
    pub render_against: Option<PathBuf>,
    /// Rounds of render runs per clip.
    #[arg(long, default_value_t = 3)]
    pub render_rounds: u32,
    /// Only the offline render runs (this build's, and --render-against's when given).
    #[arg(long)]
    pub render_only: bool,
    /// Another emojinet.onnx with the same inputs (an earlier training run, another build's
    /// model) whose classify time is measured against the current model's on the same 1280x720
    /// tiles, runs interleaved; or models/before-issue-15.onnx (each tile's patch in), against
    /// which this build's whole classify stage is measured on a frame of each of --sizes (today's
    /// stage: a pipeline classifying with that model), back to back and paced as the live preview
    /// runs it (one run per 33 ms).
    #[arg(long)]
    pub compare_model: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Camera: its number, part of its name, or its device node (/dev/video2) (default: the first camera).
    #[arg(long)]
    pub camera: Option<String>,
    /// Play a video or image file as if it were a camera (looping, paced at its frame rate); - for standard input.
    #[arg(long, short = 'i')]
    pub input: Option<PathBuf>,
    /// Camera capture size WxH (the nearest supported one is chosen); a file plays at its own size.
    #[arg(long)]
    pub size: Option<String>,
    /// Capture frame rate (the nearest supported one is chosen).
    #[arg(long)]
    pub fps: Option<u32>,
    /// Record the mosaic to this video file from the start: .mp4 .m4v .mov .mkv (H.264) or .webm (VP8), playable even if emojicam is killed. R toggles recording (a take started by R is emojicam-<time>.mp4).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Write the mosaic to a v4l2loopback device, e.g. /dev/video10.
    #[arg(long)]
    pub virtual_camera: Option<PathBuf>,
    /// Stream the mosaic as Y4M to a .y4m file, a FIFO or device, or - (stdout).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Run without a preview window (with --record, --virtual-camera or --output).
    #[arg(long)]
    pub no_window: bool,
    /// Mirror the picture (default: on for cameras, off for files).
    #[arg(long)]
    pub mirror: Option<bool>,
    /// Stop after this many seconds (useful for scripted recordings).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Print only errors (and warnings about damaged input).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub mosaic: MosaicArgs,
}

/// Parses "WxH" (e.g. "1280x720").
pub fn parse_size(s: &str) -> Result<(u32, u32), emojicam::Error> {
    let bad = || emojicam::Error::usage(format!("invalid size '{s}': expected WxH, e.g. 1280x720"));
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        return Err(emojicam::Error::usage(format!(
            "invalid size '{s}': width and height must be 1..=8192"
        )));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1280x720").ok(), Some((1280, 720)));
        assert!(parse_size("1280").is_err());
        assert!(parse_size("0x5").is_err());
        assert!(parse_size("axb").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
