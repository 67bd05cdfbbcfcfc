//! Live mode: the frame reader's thread feeds the shared pipeline; the mosaic goes to a
//! preview window and/or to sinks on their own threads (MP4 recorder, virtual camera, Y4M
//! stream).
//!
//! ```text
//! FrameReader (Keep::Newest) - newest frame -> Session: pipeline (event loop or headless loop)
//!                                                |-> window: offscreen mosaic + overlay
//!                                                |-> SinkThreads (Policy::DropAndCount):
//!                                                    recorder / virtual camera / stream
//! ```

pub mod font;
pub mod hotkeys;
pub mod overlay;
pub mod session;
pub mod soft_present;
pub mod window;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use self::session::{Outputs, Session};
use crate::error::{Error, Result};
use crate::frame::{Rate, StreamInfo, StreamKind};
use crate::gpu::tiler::rgba_fit_within;
use crate::gpu::GpuContext;
use crate::pipeline::{Config, Pipeline};
use crate::sink::SinkReport;
use crate::source::camera::{CameraSelector, CameraSource};
use crate::source::reader::{FrameReader, Pace, ReadFrame, ReaderEvent, Wake};
use crate::source::{self, Source};

/// Frame rate of a still image played as a camera when no --fps is given.
pub const IMAGE_FPS: u32 = 30;

/// Why a live run ended.
#[derive(Debug)]
pub enum StopReason {
    /// Q, Esc, or the window closed.
    User,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// --duration elapsed.
    Duration,
    /// The input ended by itself.
    SourceEnded,
    /// The camera was lost (or the file could not be read any more).
    SourceFailed(Error),
}

/// What to capture.
#[derive(Clone, Debug)]
pub enum Input {
    Camera {
        selector: CameraSelector,
        size: Option<(u32, u32)>,
        fps: Option<u32>,
    },
    /// A file played as if it were a camera: paced at its frame rate (or `fps`), looping.
    File { path: PathBuf, fps: Option<u32> },
}

impl Input {
    /// "0" or "2" selects by index, `/dev/video2` by device node, anything else by name
    /// ([`CameraSelector::parse`]).
    pub fn camera(spec: Option<&str>, size: Option<(u32, u32)>, fps: Option<u32>) -> Self {
        let selector = CameraSelector::parse(spec.unwrap_or(""));
        Input::Camera { selector, size, fps }
    }
}

/// A started source: the capture thread and what it reported.
pub struct Started {
    pub capture: FrameReader,
    pub first: ReadFrame,
    pub info: StreamInfo,
    pub rate: Rate,
    pub name: String,
}

/// How many steps nicer than the rest of the process a file played live decodes (the decoder
/// runs ahead of the pacing, so it can wait; the frame on its way to the screen cannot):
/// `EMOJICAM_DECODE_NICE` sets it, 0 turns it off.
pub const DECODE_NICE: i32 = 10;

fn decoder_nice() -> i32 {
    std::env::var("EMOJICAM_DECODE_NICE")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .map_or(DECODE_NICE, |n| n.clamp(0, 19))
}

/// Opens the input on its capture thread and waits for its first frame.
pub fn start_capture(input: &Input, wake: Option<Wake>) -> Result<Started> {
    let (src, pace_fps, name): (Box<dyn Source>, Option<u32>, String) = match input {
        Input::Camera { selector, size, fps } => {
            let cam = CameraSource::open(selector.clone(), *size, *fps)?;
            let name = match selector {
                CameraSelector::Index(i) => format!("camera {i}"),
                CameraSelector::Name(n) => format!("camera '{n}'"),
                CameraSelector::Path(p) => format!("camera {}", p.display()),
            };
            (Box::new(cam), None, name)
        }
        Input::File { path, fps } => {
            source::priority::lower_decoder_threads(decoder_nice());
            let name = path
                .file_name()
                .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
            // A photo larger than a GPU surely takes (a panorama) is shown from a copy scaled
            // to fit, as `render` makes its mosaic; the GPU is opened only later.
            let max_side = wgpu::Limits::default().max_texture_dimension_2d;
            let looping = source::Looping::fitted(path, &|w, h| rgba_fit_within(max_side, w, h, 1, u64::MAX))?;
            if let Some((w, h)) = looping.scaled_from() {
                let (fw, fh) = (looping.info().width, looping.info().height);
                crate::note!(
                    "emojicam: {}: {w}x{h} is more than a live session takes: it is shown from a copy scaled to {fw}x{fh}",
                    crate::safety::one_line(&name)
                );
            }
            (Box::new(looping), Some(fps.unwrap_or(0)), name)
        }
    };
    let file_info = src.info().clone();
    let (pace, rate) = match pace_fps {
        None => (Pace::Source, None),
        Some(want) => {
            let rate = match (want, file_info.rate) {
                (0, Some(r)) if r.num > 0 && r.den > 0 => r,
                (0, _) => Rate::new(IMAGE_FPS, 1),
                (f, _) => Rate::new(f, 1),
            };
            (Pace::Every(rate.frame_duration()), Some(rate))
        }
    };
    let (capture, first) = FrameReader::start(src, pace, wake)?;
    let mut info = capture.info().clone();
    if info.width == 0 || info.height == 0 {
        info.width = first.frame.width;
        info.height = first.frame.height;
    }
    let rate = rate
        .or(info.rate)
        .filter(|r| r.num > 0 && r.den > 0)
        .unwrap_or(Rate::new(30, 1));
    Ok(Started {
        capture,
        first,
        info,
        rate,
        name,
    })
}

/// Everything needed to build the [`Session`] once the GPU device exists (for a window, the
/// device must be opened on an adapter that can present to the window's surface).
pub struct SessionFactory {
    pub config: Config,
    pub info: StreamInfo,
    pub rate: Rate,
    pub mirror: bool,
    pub source_name: String,
    pub outputs: Outputs,
}

/// Share of the frame interval the pipeline's own stages (tile, classify, render) may take
/// live; the rest is for decoding, drawing and encoding, which share the CPU on a machine
/// without a GPU.
pub const FRAME_BUDGET_SHARE: f64 = 0.7;

/// The live frame budget at `rate` ([`Settings::frame_budget`](crate::config::Settings::frame_budget)); `EMOJICAM_FRAME_BUDGET` set
/// to `off` turns it off (every changed tile every frame), or to a number of ms sets it.
pub fn frame_budget(rate: Rate) -> Option<Duration> {
    match std::env::var("EMOJICAM_FRAME_BUDGET").as_deref() {
        Ok("off") => None,
        Ok(ms) if ms.parse::<f64>().is_ok_and(|v| v.is_finite() && v > 0.0) => {
            ms.parse::<f64>().ok().map(|v| Duration::from_secs_f64(v / 1e3))
        }
        _ => Some(rate.frame_duration().mul_f64(FRAME_BUDGET_SHARE)),
    }
}

impl SessionFactory {
    pub fn build(self, gpu: Arc<GpuContext>) -> Result<Session> {
        let mut config = self.config;
        if config.settings().frame_budget.is_none() {
            config.set_frame_budget(frame_budget(self.rate));
        }
        let pipeline = Pipeline::with_gpu(gpu, config)?;
        Session::new(
            pipeline,
            self.info,
            self.rate,
            self.mirror,
            self.source_name,
            &self.outputs,
        )
    }

    pub fn build_headless(self) -> Result<Session> {
        let gpu = Arc::new(GpuContext::new(self.config.settings().adapter.clone())?);
        self.build(gpu)
    }
}

/// Mirror by default for cameras (it feels like a mirror), not for files.
pub fn default_mirror(kind: StreamKind, requested: Option<bool>) -> bool {
    requested.unwrap_or(kind == StreamKind::Camera)
}

/// The headless loop: frames through the pipeline into the sinks until a stop.
pub fn run_headless(
    session: &mut Session,
    capture: &mut FrameReader,
    first: ReadFrame,
    stop: &Receiver<()>,
    duration: Option<Duration>,
) -> Result<StopReason> {
    // The duration counts from the first mosaic, so that a recording holds that many seconds
    // however long the GPU and the model took to start.
    let mut deadline = crossbeam_channel::never();
    let mut end: Option<Instant> = None;
    let mut next = Some(first);
    loop {
        if let Some(mut c) = next.take() {
            session.process(&mut c)?;
            session.stats.shown(c.at, c.dropped);
            if session.stats.frames == 1 {
                if let Some(d) = duration {
                    let at = session.end_after(d);
                    deadline = crossbeam_channel::at(at);
                    end = Some(at);
                }
            }
        }
        select! {
            recv(capture.receiver()) -> ev => match ev {
                // A frame from after the end may win the race with the deadline: it is not
                // part of the run.
                Ok(ReaderEvent::Frame(c)) if end.is_some_and(|e| c.at > e) => return Ok(StopReason::Duration),
                Ok(ReaderEvent::Frame(c)) => next = Some(c),
                Ok(ReaderEvent::Started(_)) => {}
                Ok(ReaderEvent::End) | Err(_) => return Ok(StopReason::SourceEnded),
                Ok(ReaderEvent::Failed(e)) => return Ok(StopReason::SourceFailed(e)),
            },
            recv(stop) -> _ => return Ok(StopReason::Interrupted),
            recv(deadline) -> _ => return Ok(StopReason::Duration),
        }
    }
}

/// The end-of-run report.
#[derive(Debug)]
pub struct Summary {
    pub frames: u64,
    pub seconds: f64,
    /// Frame rate from the first frame shown to the last.
    pub fps: f64,
    pub dropped: u64,
    /// Of `dropped`, those while starting up.
    pub dropped_starting: u64,
    /// Capture to mosaic ready, median and 99th percentile, in ms.
    pub latency_ms: Option<(f64, f64)>,
    /// Median tile, classify and render ms (render: for the sinks, and the window's draw and
    /// present).
    pub stages_ms: Option<[f64; 3]>,
    /// Frames whose changed tiles did not all fit the frame budget (the rest were carried to
    /// the next frame).
    pub adapted: u64,
    /// Share of the changed tiles (summed over the run) that the frame budget carried to a
    /// later frame, in percent.
    pub carried_pct: f64,
    pub sinks: Vec<SinkReport>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "emojicam: {} frames in {:.1} s ({:.1} fps), {} dropped by capture",
            self.frames, self.seconds, self.fps, self.dropped
        )?;
        if self.dropped_starting > 0 {
            write!(f, " ({} while starting up)", self.dropped_starting)?;
        }
        if let Some((median, p99)) = self.latency_ms {
            write!(f, "; latency median {median:.1} ms, p99 {p99:.1} ms")?;
        }
        if let Some([tile, classify, render]) = self.stages_ms {
            write!(
                f,
                "; stage medians tile {tile:.1}, classify {classify:.1}, render {render:.1} ms"
            )?;
        }
        if self.adapted > 0 {
            write!(
                f,
                "; {} frames adapted (the tiles that changed most first, the rest a frame later; {:.1}% of changed tiles carried)",
                self.adapted, self.carried_pct
            )?;
        }
        // Each recording was reported when it was saved ("saved recording ..."): not twice.
        for s in self.sinks.iter().filter(|s| s.label != "recording") {
            write!(f, "\nemojicam: {s}")?;
        }
        Ok(())
    }
}

/// Finishes every sink and reports the run.
pub fn finish(session: &mut Session) -> Result<Summary> {
    let sinks = session.finish()?;
    Ok(Summary {
        frames: session.stats.frames,
        seconds: session.stats.elapsed().as_secs_f64(),
        fps: session.stats.steady_fps(),
        dropped: session.stats.dropped,
        dropped_starting: session.stats.dropped_starting.min(session.stats.dropped),
        latency_ms: session.stats.latency_percentiles(),
        stages_ms: session.stats.stage_medians(),
        adapted: session.stats.adapted,
        carried_pct: if session.stats.changed_total > 0 {
            100.0 * session.stats.carried_total as f64 / session.stats.changed_total as f64
        } else {
            0.0
        },
        sinks,
    })
}
