//! One live run's state shared by the window and the headless loop: the pipeline, the sinks on
//! their threads, the hotkey-driven settings and the stats.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::domain::{Background, MosaicFrame, Stamp};
use crate::error::{Error, Result};
use crate::frame::{Frame, Rate, StreamInfo};
use crate::pipeline::{Pipeline, StageTimes, MAX_TILE, MIN_TILE};
use crate::sink::{
    AtomicFile, CommitOnFinish, Container, Picture, Policy, Sink, SinkReport, SinkThread, V4l2Sink, VideoSink, Y4mSink,
};
use crate::source::reader::ReadFrame;

/// Frames that may wait for the encoder before new ones are dropped (~1/3 s at 30 fps).
const RECORDER_QUEUE: usize = 10;
/// A virtual camera or stream should show the present, not catch up on the past.
const STREAM_QUEUE: usize = 2;
pub const TILE_STEP: u32 = 2;

/// Where a run's output goes besides the window.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    pub record: Option<PathBuf>,
    pub virtual_camera: Option<PathBuf>,
    /// Y4M stream to a file, or `-` for stdout.
    pub stream: Option<PathBuf>,
}

impl Outputs {
    pub fn any(&self) -> bool {
        self.record.is_some() || self.virtual_camera.is_some() || self.stream.is_some()
    }
}

/// Frames per second over the last second, latency of the last frame, drop counts.
#[derive(Debug)]
pub struct Stats {
    pub started: Instant,
    pub frames: u64,
    pub dropped: u64,
    pub latency: Duration,
    pub classified: usize,
    pub tiles: usize,
    /// Changed tiles of the last frame left for the next by the frame budget.
    pub carried: usize,
    /// Frames on which the frame budget carried tiles over.
    pub adapted: u64,
    /// Changed tiles over the run, and of them those the frame budget carried to a later
    /// frame (a frame late at least), for the end-of-run report.
    pub changed_total: u64,
    pub carried_total: u64,
    recent: VecDeque<Instant>,
    /// The latency in ms (capture to mosaic ready) of every frame captured after the first
    /// mosaic was out, for the end-of-run report.
    latencies: Vec<f32>,
    /// Tile, classify and render (with the window's draw and present) ms of every frame
    /// processed after the first, for the end-of-run report.
    stages: Vec<[f32; 3]>,
    /// Frames the capture dropped before the second frame was taken: while the GPU and the
    /// model were being set up and the first frame compiled the shaders.
    pub dropped_starting: u64,
    /// When the first and the last frame were shown.
    first_shown: Option<Instant>,
    last_shown: Option<Instant>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            frames: 0,
            dropped: 0,
            latency: Duration::ZERO,
            classified: 0,
            tiles: 0,
            carried: 0,
            adapted: 0,
            changed_total: 0,
            carried_total: 0,
            recent: VecDeque::with_capacity(128),
            latencies: Vec::new(),
            stages: Vec::new(),
            dropped_starting: 0,
            first_shown: None,
            last_shown: None,
        }
    }
}

impl Stats {
    /// Counts a frame that reached its outputs.
    pub fn shown(&mut self, captured_at: Instant, dropped: u64) {
        let now = Instant::now();
        self.frames += 1;
        self.dropped = dropped;
        if self.frames == 2 {
            self.dropped_starting = dropped;
        }
        self.latency = now.saturating_duration_since(captured_at);
        // Frames captured before the first mosaic was out waited for the GPU and the model to
        // start: their latency is the start-up time, not the pipeline's.
        let steady = self.first_shown.is_some_and(|first| captured_at >= first);
        self.first_shown.get_or_insert(now);
        self.last_shown = Some(now);
        // An hour at 30 fps is 0.4 MB; beyond a day's worth keep the first ones.
        if steady && self.latencies.len() < 3_000_000 {
            self.latencies.push(self.latency.as_secs_f32() * 1e3);
        }
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
    }

    pub fn fps(&self) -> f64 {
        match (self.recent.front(), self.recent.back()) {
            (Some(a), Some(b)) if self.recent.len() > 1 && b > a => {
                (self.recent.len() - 1) as f64 / b.duration_since(*a).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Frames per second from the first frame shown to the last (start-up excluded).
    pub fn steady_fps(&self) -> f64 {
        match (self.first_shown, self.last_shown) {
            (Some(a), Some(b)) if self.frames > 1 && b > a => (self.frames - 1) as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// Records the stage times of a processed frame (not the first, which compiles the
    /// shaders and starts the model).
    pub fn stage_times(&mut self, times: &StageTimes) {
        let ms = |d: Duration| d.as_secs_f32() * 1e3;
        if self.frames >= 2 && self.stages.len() < 3_000_000 {
            self.stages.push([ms(times.tile), ms(times.classify), ms(times.render)]);
        }
    }

    /// Median tile, classify and render ms over the run so far ([`Self::stage_times`]).
    pub fn stage_medians(&self) -> Option<[f64; 3]> {
        if self.stages.is_empty() {
            return None;
        }
        let median = |k: usize| {
            let mut v: Vec<f32> = self.stages.iter().map(|s| s[k]).collect();
            v.sort_by(f32::total_cmp);
            f64::from(v[v.len() / 2])
        };
        Some([median(0), median(1), median(2)])
    }

    /// Median and 99th percentile latency in ms over the run so far.
    pub fn latency_percentiles(&self) -> Option<(f64, f64)> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut v = self.latencies.clone();
        v.sort_by(f32::total_cmp);
        let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize] as f64;
        Some((at(0.5), at(0.99)))
    }
}

/// Mirrors a frame left-right in place (RGBA or I420).
pub fn mirror(frame: &mut Frame) {
    frame.mirror();
}

/// Local time as `YYYYmmdd-HHMMSS`, for default file names (GLib's clock and time zone, through
/// GStreamer's bindings: no `unsafe`); the seconds since 1970 if the local time is unknown.
pub fn timestamp() -> String {
    match gstreamer::glib::DateTime::now_local().and_then(|t| t.format("%Y%m%d-%H%M%S")) {
        Ok(text) => text.to_string(),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string(),
    }
}

/// `emojicam-<timestamp>.<ext>` in the current directory, not overwriting anything.
pub fn default_path(ext: &str) -> PathBuf {
    let stem = format!("emojicam-{}", timestamp());
    let mut path = PathBuf::from(format!("{stem}.{ext}"));
    let mut n = 1;
    while path.exists() {
        path = PathBuf::from(format!("{stem}-{n}.{ext}"));
        n += 1;
    }
    path
}

/// The original frame next to the mosaic in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Original {
    Off,
    Beside,
    Blended,
}

impl Original {
    pub fn next(self) -> Self {
        match self {
            Original::Off => Original::Beside,
            Original::Beside => Original::Blended,
            Original::Blended => Original::Off,
        }
    }
}

pub struct Session {
    pub pipeline: Pipeline,
    pub mirror: bool,
    pub stats: Stats,
    /// Short name of the source for the title ("camera 0", "bunny.mp4").
    pub source_name: String,
    rate: Rate,
    info: StreamInfo,
    recorder: Option<SinkThread>,
    /// The latest a recording may end (the end of `--duration`): a frame still being made
    /// then does not lengthen it.
    record_end: Option<Instant>,
    /// When the recording's first mosaic was out: its frames are placed by capture time from
    /// here.
    record_origin: Option<Instant>,
    virtual_camera: Option<SinkThread>,
    stream: Option<SinkThread>,
    reports: Vec<SinkReport>,
    /// The last frame's mosaic, for the window and snapshots.
    pub mosaic: Option<MosaicFrame>,
}

/// The slot a frame captured at `at` takes in a recording at `rate` started at `origin`.
fn slot(rate: Rate, origin: Instant, at: Instant) -> u64 {
    (at.saturating_duration_since(origin).as_secs_f64() * rate.fps()).round() as u64
}

impl Session {
    pub fn new(
        pipeline: Pipeline,
        info: StreamInfo,
        rate: Rate,
        mirror: bool,
        source_name: String,
        outputs: &Outputs,
    ) -> Result<Self> {
        let mut s = Self {
            pipeline,
            mirror,
            stats: Stats::default(),
            source_name,
            rate,
            info,
            recorder: None,
            record_origin: None,
            record_end: None,
            virtual_camera: None,
            stream: None,
            reports: Vec::new(),
            mosaic: None,
        };
        if let Some(path) = &outputs.record {
            s.start_recording(Some(path.clone()))?;
        }
        if let Some(dev) = &outputs.virtual_camera {
            let sink: Box<dyn Sink> = Box::new(V4l2Sink::open(dev)?.with_rate(rate));
            s.virtual_camera = Some(live_output("virtual camera", dev.clone(), sink, STREAM_QUEUE)?);
            crate::note!("emojicam: writing to virtual camera {}", dev.display());
        }
        if let Some(path) = &outputs.stream {
            let mut info = s.info.clone();
            info.rate = Some(rate);
            let sink: Box<dyn Sink> = if path.as_os_str() == "-" {
                Box::new(Y4mSink::stdout(&info))
            } else {
                Box::new(Y4mSink::create(path, &info)?)
            };
            // A pipe reader (ffplay, ffmpeg) wants every frame; a file never falls behind much.
            s.stream = Some(live_output("stream", path.clone(), sink, RECORDER_QUEUE)?);
        }
        Ok(s)
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    pub fn recording(&self) -> Option<&SinkThread> {
        self.recorder.as_ref()
    }

    fn needs_image(&self) -> bool {
        self.recorder.is_some() || self.virtual_camera.is_some() || self.stream.is_some()
    }

    /// Mirrors (if on), classifies and feeds the sinks. The caller draws the window and then
    /// calls [`Stats::shown`].
    pub fn process(&mut self, captured: &mut ReadFrame) -> Result<()> {
        if self.mosaic.is_some() {
            // The last frame's times are complete now (the window adds its draw and present).
            self.stats.stage_times(&self.pipeline.times());
        }
        if self.mirror {
            mirror(&mut captured.frame);
        }
        let needs_image = self.needs_image();
        let stamp = Stamp::new(captured.seq, None);
        let mosaic = self.mosaic.insert(self.pipeline.classify(&captured.frame, stamp)?);
        let times = self.pipeline.times();
        self.stats.classified = times.classified;
        self.stats.tiles = times.tiles;
        self.stats.carried = times.carried;
        self.stats.adapted += u64::from(times.carried > 0);
        self.stats.changed_total += (times.classified + times.carried) as u64;
        self.stats.carried_total += times.carried as u64;
        if needs_image {
            let recorder_i420 = self.recorder.as_ref().is_some_and(SinkThread::takes_i420);
            let others = self.virtual_camera.is_some() || self.stream.is_some();
            // `render` sets the frame's render time and `render_i420` adds to it: RGBA first.
            let mut rgba = if others || (self.recorder.is_some() && !recorder_i420) {
                Some(self.pipeline.render(mosaic, None)?)
            } else {
                None
            };
            let i420 = if recorder_i420 {
                Some(self.pipeline.render_i420(mosaic)?)
            } else {
                None
            };
            if let Some(recorder) = &mut self.recorder {
                // The recording starts with its first mosaic: frames captured before it, while
                // starting up, take no time in it.
                let origin = *self.record_origin.get_or_insert_with(Instant::now);
                let frame_slot = slot(self.rate, origin, captured.at);
                if self
                    .record_end
                    .is_none_or(|end| frame_slot < slot(self.rate, origin, end))
                {
                    let picture = match i420 {
                        Some(i420) => Some(Picture::I420(i420)),
                        None if others => rgba.clone().map(Picture::Rgba),
                        None => rgba.take().map(Picture::Rgba),
                    };
                    recorder.push(mosaic.clone(), picture, Some(frame_slot));
                }
            }
            let mut outs: Vec<&mut SinkThread> = [&mut self.virtual_camera, &mut self.stream]
                .into_iter()
                .flatten()
                .collect();
            let last = outs.len().saturating_sub(1);
            for (i, w) in outs.iter_mut().enumerate() {
                let img = if i == last { rgba.take() } else { rgba.clone() };
                w.push(mosaic.clone(), img.map(Picture::Rgba), None);
            }
            self.check_sinks()?;
        }
        Ok(())
    }

    /// A sink whose thread stopped has failed: stop it and report its error.
    fn check_sinks(&mut self) -> Result<()> {
        for slot in [&mut self.recorder, &mut self.virtual_camera, &mut self.stream] {
            if slot.as_ref().is_some_and(|w| w.has_failed()) {
                if let Some(w) = slot.take() {
                    let label = w.path().display().to_string();
                    w.close()?;
                    return Err(Error::Other(format!("{label}: the output stopped")));
                }
            }
        }
        Ok(())
    }

    /// Starts recording to `path` (default: `emojicam-<time>.mp4` here) in the video container
    /// its extension names (a fragmented MP4/MOV, a Matroska or WebM file), readable even if
    /// the process dies. Another extension is a usage error.
    pub fn start_recording(&mut self, path: Option<PathBuf>) -> Result<PathBuf> {
        if let Some(r) = &self.recorder {
            return Ok(r.path().to_path_buf());
        }
        let path = path.unwrap_or_else(|| default_path("mp4"));
        let container = Container::of_recording(&path)?;
        let (w, h) = self
            .pipeline
            .grid()
            .map_or((self.info.width, self.info.height), |g| (g.src_width, g.src_height));
        // A new file is recorded in place (a killed run keeps what it recorded); an existing
        // one is replaced only when the recording is finished; a failed start leaves nothing.
        let file = AtomicFile::create_recording(&path)?;
        let sink = VideoSink::create_recording(file.temp_path(), container, w, h, self.rate)?;
        self.record_origin = None;
        self.recorder = Some(live_output(
            "recording",
            path.clone(),
            Box::new(CommitOnFinish::new(Box::new(sink), file)),
            RECORDER_QUEUE,
        )?);
        crate::note!("emojicam: recording to {} at {} fps", path.display(), self.rate);
        Ok(path)
    }

    /// The end of a run of `duration` from its first mosaic (call it once that is out): the
    /// recording's first frame's time when recording, else now. A recording ends there even if
    /// it is stopped later, and holds `duration x rate` frames: a frame captured in the last
    /// half frame's time, whose slot is the end's, is not written.
    pub fn end_after(&mut self, duration: Duration) -> Instant {
        let end = self.record_origin.unwrap_or_else(Instant::now) + duration;
        self.record_end = Some(end);
        end
    }

    /// Stops recording, finishes the file and reports it.
    pub fn stop_recording(&mut self) -> Result<Option<SinkReport>> {
        let Some(r) = self.recorder.take() else { return Ok(None) };
        let end = self.record_end.map_or_else(Instant::now, |e| e.min(Instant::now()));
        let report = match self.record_origin.take() {
            Some(origin) => r.close_at(slot(self.rate, origin, end))?,
            None => r.close()?,
        };
        if report.written == 0 {
            // Finished with no frame (the run failed on its first): no file was left.
            crate::note!("emojicam: {report}: nothing recorded, no file written");
        } else {
            crate::note!("emojicam: saved {report}");
        }
        self.reports.push(report.clone());
        Ok(Some(report))
    }

    pub fn toggle_recording(&mut self) -> Result<()> {
        if self.recorder.is_some() {
            self.stop_recording()?;
        } else {
            self.start_recording(None)?;
        }
        Ok(())
    }

    pub fn change_tile(&mut self, up: bool) -> Result<u32> {
        let t = self.pipeline.settings().tile;
        let next = if up { t + TILE_STEP } else { t.saturating_sub(TILE_STEP) }.clamp(MIN_TILE, MAX_TILE);
        if next != t {
            self.pipeline.set_tile(next)?;
        }
        Ok(next)
    }

    pub fn next_emoji_set(&mut self) -> Result<String> {
        let mut names: Vec<String> = self
            .pipeline
            .atlas()
            .set_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        names.sort();
        let current = self.pipeline.settings().emoji_set.clone();
        let i = names
            .iter()
            .position(|n| *n == current)
            .map_or(0, |i| (i + 1) % names.len().max(1));
        let Some(next) = names.get(i).cloned() else {
            return Ok(current);
        };
        self.pipeline.set_emoji_set(&next)?;
        Ok(next)
    }

    pub fn next_background(&mut self) -> Result<Background> {
        let next = match self.pipeline.settings().background {
            Background::Color([0, 0, 0]) => Background::Color([255, 255, 255]),
            Background::Color([255, 255, 255]) => Background::Tile,
            _ => Background::Color([0, 0, 0]),
        };
        self.pipeline.set_background(next)?;
        Ok(next)
    }

    /// Renders the last frame's mosaic at the source size to `emojicam-<time>.png`.
    pub fn snapshot(&mut self, dir: &Path) -> Result<PathBuf> {
        let mosaic = self
            .mosaic
            .as_ref()
            .ok_or_else(|| Error::Other("no frame has been classified yet".into()))?;
        let image = self.pipeline.render(mosaic, None)?;
        let mut path = dir.join(default_path("png"));
        let mut n = 1;
        while path.exists() {
            path = dir.join(default_path(&format!("{n}.png")));
            n += 1;
        }
        let (mut file, mut writer) = AtomicFile::create(&path)?;
        image::write_buffer_with_format(
            &mut writer,
            &image.rgba,
            image.width,
            image.height,
            image::ExtendedColorType::Rgba8,
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        file.commit(writer)?;
        Ok(path)
    }

    /// The stats/settings lines of the overlay.
    pub fn stats_text(&self) -> String {
        let s = self.pipeline.settings();
        let mut t = format!(
            "{:.1} FPS  LATENCY {} MS\nDROPPED {}  CLASSIFIED {}/{} TILES\nTILE {} PX  SET {}  BG {}{}",
            self.stats.fps(),
            self.stats.latency.as_millis(),
            self.stats.dropped,
            self.stats.classified,
            self.stats.tiles,
            s.tile,
            s.emoji_set,
            s.background,
            if self.mirror { "  MIRROR" } else { "" },
        );
        if self.stats.carried > 0 {
            t.push_str(&format!("\nBEHIND: {} CHANGED TILES WAIT A FRAME", self.stats.carried));
        }
        if let Some(r) = &self.recorder {
            t.push_str(&format!("\nREC {}", r.path().display()));
            if r.dropped() > 0 {
                t.push_str(&format!(" ({} DROPPED)", r.dropped()));
            }
        }
        t
    }

    /// Stops every sink (finishing the recording) and returns what they wrote.
    pub fn finish(&mut self) -> Result<Vec<SinkReport>> {
        let mut first_err = None;
        if let Err(e) = self.stop_recording() {
            first_err.get_or_insert(e);
        }
        for slot in [&mut self.virtual_camera, &mut self.stream] {
            if let Some(w) = slot.take() {
                match w.close() {
                    Ok(r) => self.reports.push(r),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut self.reports)),
        }
    }
}

/// A live output on its own thread: it drops and counts the frames it cannot keep up with
/// (the preview never waits) and is finished even on an early return.
fn live_output(label: &str, path: PathBuf, sink: Box<dyn Sink>, capacity: usize) -> Result<SinkThread> {
    Ok(SinkThread::spawn(label, path, sink, capacity, Policy::DropAndCount)?.finish_on_drop())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_flips_rows() {
        let mut f = Frame::new(3, 1, vec![1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
        mirror(&mut f);
        assert_eq!(f.rgba, vec![3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1]);
    }

    #[test]
    fn timestamps_look_right() {
        let t = timestamp();
        assert_eq!(t.len(), 15, "{t}");
        assert_eq!(&t[8..9], "-");
    }

    #[test]
    fn start_up_frames_do_not_count_in_the_latency() {
        let mut stats = Stats::default();
        let long_ago = Instant::now();
        // The first frame waited for the GPU and the model; a frame captured while the first
        // mosaic was being made waited too.
        std::thread::sleep(Duration::from_millis(200));
        stats.shown(long_ago, 0);
        stats.shown(long_ago, 5);
        assert_eq!(stats.latency_percentiles(), None);
        let later = Instant::now();
        stats.shown(later, 5);
        let (median, p99) = stats.latency_percentiles().expect("one steady frame");
        assert!(median < 150.0 && p99 < 150.0, "{median} {p99}");
        assert_eq!(stats.frames, 3);
    }

    #[test]
    fn original_cycles() {
        assert_eq!(Original::Off.next().next().next(), Original::Off);
    }
}
