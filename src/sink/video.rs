//! Video outputs through GStreamer: MP4, MOV and MKV (H.264 by x264, AAC sound), WebM (VP8,
//! Opus sound), whole files or live recordings.
//!
//! appsrc (RGBA, the input's timestamps) -> videoconvert -> I420 -> encoder -> muxer -> filesink
//! appsrc (I420 from the GPU, live recordings) -> encoder -> muxer -> filesink
//! uridecodebin (the input's audio) -> audioconvert -> audioresample -> encoder -> muxer
//!
//! The input's sound is decoded from the input file and re-encoded for the container, on the
//! same timeline as the frames, so they stay in sync. H.264 4:2:0 needs even sizes: an odd
//! width or height is padded by one pixel, repeating the last column/row.
//!
//! Two modes: [`VideoSink::create`] writes to a temporary file renamed on `finish` (nothing
//! that looks like a result is left by a failed run); [`VideoSink::create_recording`] writes
//! straight to the target as it goes, so a recording cut short by a crash or a kill stays
//! playable: MP4 and MOV fragmented (one fragment about every second, playable up to the last
//! one), Matroska and WebM block by block (playable up to the last block written).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::{image_of, AtomicFile, Sink};
use crate::domain::MosaicFrame;
use crate::error::{Error, Result};
use crate::frame::{Frame, I420Frame, I420Layout, Matrix, Rate, StreamInfo};
use crate::media::{self, MediaError};

/// What a video file holds, chosen by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Mp4,
    /// QuickTime (.mov): H.264 and AAC as in MP4, written by qtmux (what Apple's tools expect).
    Mov,
    Mkv,
    Webm,
}

impl Container {
    /// The container an output file name's extension (any case) names, if it is a video one.
    pub fn of_path(path: &Path) -> Option<Self> {
        Self::from_extension(&path.extension()?.to_str()?.to_ascii_lowercase())
    }

    /// The container a (lower-case) extension names, if it is a video one.
    pub fn from_extension(ext: &str) -> Option<Self> {
        EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|&(_, c)| c)
    }

    /// The extensions of video files, as `.mp4, .m4v, .mov, .mkv or .webm` (for messages).
    pub fn extensions_text() -> String {
        let names: Vec<String> = EXTENSIONS.iter().map(|(e, _)| format!(".{e}")).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.concat(),
        }
    }

    /// The container of a live recording to `path` (any video file `render` writes), or one
    /// line naming the ones taken (a usage error).
    pub fn of_recording(path: &Path) -> Result<Self> {
        Self::of_path(path).ok_or_else(|| {
            Error::usage(format!(
                "--record {}: a recording is a video file: use a {} name",
                path.display(),
                Self::extensions_text()
            ))
        })
    }
}

/// Every video file extension (lower case) and the container it names: the one list.
const EXTENSIONS: [(&str, Container); 5] = [
    ("mp4", Container::Mp4),
    ("m4v", Container::Mp4),
    ("mov", Container::Mov),
    ("mkv", Container::Mkv),
    ("webm", Container::Webm),
];

/// The largest picture each container's encoder takes (x264's H.264 levels end at 8192 in
/// either direction; VP8 at 16383).
pub fn max_size(container: Container) -> u32 {
    match container {
        Container::Webm => 16383,
        Container::Mp4 | Container::Mov | Container::Mkv => 8192,
    }
}

/// The smallest picture x264 and VP8 take through GStreamer (`videoconvert` finds no caps
/// below 16 pixels in either direction: "not-negotiated").
pub const MIN_SIZE: u32 = 16;

/// Refuses a size the encoder cannot take, before anything is processed: one line naming
/// `--size` (the way to a size it takes).
pub fn check_size(path: &Path, container: Container, width: u32, height: u32) -> Result<()> {
    let limit = max_size(container);
    let (w, h) = (width.div_ceil(2) * 2, height.div_ceil(2) * 2);
    if w > limit || h > limit {
        return Err(Error::usage(format!(
            "{}: {width}x{height} is too large for its encoder (at most {limit} in either direction): choose a smaller --size",
            path.display()
        )));
    }
    if width < MIN_SIZE || height < MIN_SIZE {
        return Err(Error::usage(format!(
            "{}: {width}x{height} is too small for its encoder (at least {MIN_SIZE} in either direction): choose a larger --size",
            path.display()
        )));
    }
    Ok(())
}

/// How long the file may take to end after its last frame was handed over before the input's
/// sound is cut there (a damaged input whose sound never ends), and again before the output is
/// given up. Our own frames end in well under a second; only the input's sound can stall.
const SOUND_END_TIMEOUT: Duration = Duration::from_secs(30);

/// Bits per pixel VP8 and openh264 aim at: an emoji mosaic is sharp-edged and busy, and at a
/// plain video's ~0.1-0.15 its emoji smear into a blurred photo (VP8 realtime on a 1280x720
/// handheld mosaic: 29.2 dB from the mosaic at 0.15, 31.4 dB at 0.6, where it undershoots).
const TARGET_BPP: f64 = 0.6;

/// x264 encodes at constant quality; its rate is capped at this many bits per pixel only so
/// that pathological input cannot make a file without bound (quantizer 23 took ~0.5 on a
/// 1280x720 handheld mosaic, ~0.15 on the demo clip's).
const X264_CAP_BPP: f64 = 1.2;

/// What the frames handed to the encoder are, fixed by the first one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    /// RGBA, converted to I420 by GStreamer's `videoconvert`.
    Rgba,
    /// I420 as [`I420Layout`] lays it out, converted with GStreamer's default matrix for its
    /// size ([`Matrix::default_for`]).
    I420,
}

/// Whether a live recording asks for I420 frames made on the GPU: only with
/// `EMOJICAM_RECORD_YUV=gpu`. By default it takes RGBA converted by `videoconvert`: the GPU
/// pass measured even with it on a software GPU, and in the camera lab (llvmpipe's 8-wide code
/// on QEMU 7.2's emulated AVX2) it loses the top row's last pixel of each 8 x 2 block, with or
/// without a private array; 4-wide code in the same VM (`LP_NATIVE_VECTOR_WIDTH=128`) and this
/// machine's own AVX2 are correct.
fn recording_takes_i420() -> bool {
    std::env::var("EMOJICAM_RECORD_YUV").is_ok_and(|v| v.trim() == "gpu")
}

/// How long a failed push waits for its error to reach the bus.
const ERROR_WAIT: gst::ClockTime = gst::ClockTime::from_mseconds(500);

struct Running {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    /// The queue the input's sound enters the muxer through, if it has sound.
    sound: Option<gst::Element>,
}

pub struct VideoSink {
    path: PathBuf,
    container: Container,
    rate: Rate,
    /// The input whose sound goes with the video (None: no sound).
    audio: Option<PathBuf>,
    /// That sound's encoded caps (it is copied when the container takes them).
    audio_caps: Option<gst::Caps>,
    /// The temporary file a whole-file output is written to (None: a recording, written in place).
    file: Option<AtomicFile>,
    running: Option<Running>,
    /// (source size, encoded size) fixed by the first frame.
    sizes: Option<((u32, u32), (u32, u32))>,
    /// The frames' format, fixed by the first frame.
    input: Option<Input>,
    /// Whether [`Sink::takes_i420`] (a live recording).
    takes_i420: bool,
    padded: Vec<u8>,
    frames: u64,
    /// The first frame's timestamp: output timestamps start at zero.
    origin: Option<Duration>,
    last_pts: Option<Duration>,
    /// A file's newest frame, held until the next one (or the input's end) says how long it
    /// is shown: a variable-rate input's frames, and its last one, keep their own durations.
    held: Option<gst::Buffer>,
    /// Where the input's stream ends ([`Sink::end_at`]), on the input's clock.
    end: Option<Duration>,
    finished: bool,
    /// The pipeline reported an error (already returned to the caller): no end of stream will
    /// come through it, so ending it must not wait for one.
    failed: bool,
}

fn valid_rate(rate: Option<Rate>) -> Rate {
    rate.filter(|r| r.num > 0 && r.den > 0).unwrap_or(Rate::new(25, 1))
}

impl VideoSink {
    /// A whole file at the input's rate (25 fps when unknown), committed on `finish`. `audio`:
    /// the input file whose sound track (if any) is kept.
    pub fn create(path: &Path, info: &StreamInfo, container: Container, audio: Option<&Path>) -> Result<Self> {
        media::init()?;
        let (file, writer) = AtomicFile::create(path)?;
        drop(writer);
        let mut sink = Self::new(path, valid_rate(info.rate), container, Some(file));
        if let Some((input, caps)) = audio.and_then(|a| audio_caps(a).map(|c| (a, c))) {
            sink.audio = Some(input.to_path_buf());
            sink.audio_caps = Some(caps);
        }
        Ok(sink)
    }

    /// A live recording in `container`, written to `path` as it goes and playable up to its
    /// last written data if the process dies: MP4/MOV as fragmented files (a fragment every
    /// second), Matroska/WebM with each block written as it is muxed. `path` may be a
    /// temporary name: `container` says what is written. The first frame fixes the size;
    /// `width`/`height` (the source's, 0 when not known yet) are checked against what the
    /// encoder takes before anything is written.
    pub fn create_recording(path: &Path, container: Container, width: u32, height: u32, rate: Rate) -> Result<Self> {
        // Live `--size` picks a camera's mode; a file plays at its own size: the way out of a
        // size the encoder refuses is said for both.
        if width > 0 && height > 0 && check_size(path, container, width, height).is_err() {
            return Err(Error::usage(format!(
                "{}: a {width}x{height} picture is too small or too large to record (the encoder takes {MIN_SIZE} to {} pixels a side): choose another camera mode with --size; a file is recorded at its own size (emojicam render --size WxH resizes it)",
                path.display(),
                max_size(container)
            )));
        }
        media::init()?;
        // Fail now, before the session starts, if the file cannot be written.
        std::fs::File::create(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        let mut sink = Self::new(path, valid_rate(Some(rate)), container, None);
        sink.takes_i420 = recording_takes_i420();
        Ok(sink)
    }

    fn new(path: &Path, rate: Rate, container: Container, file: Option<AtomicFile>) -> Self {
        Self {
            path: path.to_path_buf(),
            container,
            rate,
            audio: None,
            audio_caps: None,
            file,
            running: None,
            sizes: None,
            input: None,
            takes_i420: false,
            padded: Vec::new(),
            frames: 0,
            origin: None,
            last_pts: None,
            held: None,
            end: None,
            finished: false,
            failed: false,
        }
    }

    /// Frames encoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    fn enc_err(&self, msg: impl std::fmt::Display) -> Error {
        Error::encode(&self.path, msg.to_string())
    }

    fn recording(&self) -> bool {
        self.file.is_none()
    }

    /// Builds and starts the pipeline for frames of `src` size (`enc`: rounded up to even) in
    /// the format `input`.
    fn start(&mut self, src: (u32, u32), input: Input) -> Result<()> {
        let enc = (src.0.div_ceil(2) * 2, src.1.div_ceil(2) * 2);
        check_size(&self.path, self.container, src.0, src.1)?;
        let path = self.path.clone();
        let fail = |e: &dyn std::fmt::Display| Error::encode(&path, format!("cannot build the encoding pipeline: {e}"));
        let target = match &self.file {
            Some(file) => file.temp_path().to_path_buf(),
            None => self.path.clone(),
        };
        let pipeline = gst::Pipeline::new();
        let format = match input {
            Input::Rgba => gst_video::VideoFormat::Rgba,
            Input::I420 => gst_video::VideoFormat::I420,
        };
        let info = gst_video::VideoInfo::builder(format, enc.0, enc.1)
            .fps(gst::Fraction::new(self.rate.num as i32, self.rate.den as i32))
            .build()
            .map_err(|e| fail(&e))?;
        if input == Input::I420 {
            check_i420_layout(&info, enc).map_err(|e| fail(&e))?;
        }
        let caps = info.to_caps().map_err(|e| fail(&e))?;
        let frame_bytes = info.size() as u64;
        let appsrc = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .block(true)
            .max_bytes(frame_bytes * 2)
            .build();
        let encoder = self.video_encoder(enc)?;
        let vqueue = media::make_any(&["queue"], &path)?;
        let mux = self.muxer()?;
        let filesink = gst::ElementFactory::make("filesink")
            .property("location", target.to_string_lossy().as_ref())
            .property("sync", false)
            .build()
            .map_err(|e| fail(&e))?;
        if self.recording() {
            // Each fragment reaches the disk as it is muxed, not when a write buffer fills.
            filesink.set_property_from_str("buffer-mode", "unbuffered");
        }
        let mut chain: Vec<gst::Element> = vec![appsrc.clone().upcast()];
        if input == Input::Rgba {
            chain.push(media::make_any(&["videoconvert"], &path)?);
            let i420 = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::I420)
                .build();
            let filter = gst::ElementFactory::make("capsfilter").property("caps", i420).build();
            chain.push(filter.map_err(|e| fail(&e))?);
        }
        chain.extend([encoder, vqueue, mux.clone(), filesink]);
        pipeline.add_many(&chain).map_err(|e| fail(&e))?;
        gst::Element::link_many(&chain).map_err(|e| fail(&e))?;
        let sound = match self.audio.clone() {
            Some(input) => Some(self.add_audio(&pipeline, &mux, &input)?),
            None => None,
        };
        wake_on_error(&pipeline, &appsrc);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| self.pipeline_error(&pipeline, "cannot start encoding"))?;
        self.running = Some(Running {
            pipeline,
            appsrc,
            sound,
        });
        self.sizes = Some((src, enc));
        self.input = Some(input);
        Ok(())
    }

    /// The container's muxer; a recording's stays playable as it is written (MP4/MOV: a
    /// fragment every second; Matroska/WebM: block by block).
    fn muxer(&self) -> Result<gst::Element> {
        Ok(match self.container {
            Container::Mp4 | Container::Mov => {
                let mux = media::make_any(&[muxer_of(self.container)], &self.path)?;
                if self.recording() {
                    // One fragment a second, each playable as soon as it is written.
                    mux.set_property("fragment-duration", 1000u32);
                    media::set_if(&mux, "streamable", "true");
                } else {
                    media::set_if(&mux, "faststart", "true");
                }
                mux
            }
            // Matroska and WebM need nothing more for a recording: each block reaches the file
            // as it is muxed (the file sink is unbuffered), and a killed recording plays up to
            // its last one (its last cluster and the segment are left of unknown size, which
            // readers take). Not `streamable`: a finished recording keeps its duration and its
            // index (cues), so players can seek in it.
            Container::Mkv | Container::Webm => media::make_any(&[muxer_of(self.container)], &self.path)?,
        })
    }

    fn video_encoder(&self, size: (u32, u32)) -> Result<gst::Element> {
        let fps = self.rate.fps().max(1.0);
        // A recording has a key frame every second (its MP4 fragments and Matroska clusters
        // start at one).
        let key_interval = if self.recording() {
            fps.round()
        } else if self.container == Container::Webm {
            fps.round() * 2.0
        } else {
            fps.round() * 5.0
        } as u32;
        if self.container == Container::Webm {
            let enc = media::make_any(&["vp8enc"], &self.path)?;
            let bps = (size.0 as f64 * size.1 as f64 * fps * TARGET_BPP).clamp(200e3, 80e6);
            media::set_if(&enc, "target-bitrate", &(bps as i64).to_string());
            // libvpx's realtime mode. A positive `cpu-used` lets it pick its speed per frame
            // from the time it took (8: aiming at half a frame's time); a live recording shares
            // the CPU with the mosaic, so it is fixed at the fastest (-16): on the demo clip's
            // 1280x720 mosaic both came out at the same quality (36.9 dB from the MP4
            // recording's frames).
            media::set_if(&enc, "deadline", "1");
            media::set_if(&enc, "cpu-used", if self.recording() { "-16" } else { "8" });
            // One thread: libvpx's second one waits for the first by spinning, and with the
            // mosaic busy on the other core that spinning was 44% of a live 1280x720 WebM
            // recording's CPU (perf), which then dropped 40-60% of its frames, and 63% of a
            // `render` of the demo clip to WebM (10 fps); alone, 251 of those frames took 1.3 s
            // on one thread, 2.5 s (2.8 s of CPU) on two.
            media::set_if(&enc, "threads", "1");
            media::set_if(&enc, "keyframe-max-dist", &key_interval.to_string());
            return Ok(enc);
        }
        // x264 where installed (Debian: gstreamer1.0-plugins-ugly), else Cisco's openh264.
        let enc = media::make_any(&["x264enc", "openh264enc"], &self.path)?;
        if enc.factory().is_some_and(|f| f.name() == "x264enc") {
            // Constant quality, for recordings and whole files alike. In this mode `bitrate`
            // caps the rate (kbit/s); GStreamer's default cap, 2048 whatever the size, starved
            // the encoder into smearing the emoji (a 1280x720 handheld mosaic: 28.2 dB from the
            // mosaic at 2 Mbit/s, 36.2 dB at quantizer 23 uncapped, which takes ~0.5 bits per
            // pixel), so the cap is only a ceiling against pathological input.
            enc.set_property_from_str("pass", "qual");
            enc.set_property("quantizer", 23u32);
            enc.set_property_from_str("speed-preset", &self.x264_preset());
            let kbps = (size.0 as f64 * size.1 as f64 * fps * X264_CAP_BPP / 1000.0).clamp(2_000.0, 2_048_000.0);
            enc.set_property("bitrate", kbps as u32);
            if self.recording() {
                // GStreamer's x264enc turns trellis quantisation on whatever the preset; it
                // was the largest single cost of a live 1080p run (14% of all CPU time, perf).
                // EMOJICAM_RECORD_TRELLIS=1 keeps it (for measuring).
                let trellis = std::env::var("EMOJICAM_RECORD_TRELLIS").is_ok_and(|v| v == "1");
                enc.set_property("trellis", trellis);
                // x264's own threads (0, its default: chosen from the cores);
                // EMOJICAM_RECORD_THREADS=N sets them (for measuring).
                if let Some(n) = std::env::var("EMOJICAM_RECORD_THREADS")
                    .ok()
                    .and_then(|v| v.trim().parse::<u32>().ok())
                {
                    enc.set_property("threads", n);
                }
            }
            // No B-frames: decode order is display order, so MP4's sample durations follow
            // the input's timestamps exactly, variable frame rates included.
            enc.set_property("bframes", 0u32);
            if self.recording() {
                enc.set_property_from_str("tune", "zerolatency");
            }
            enc.set_property("key-int-max", key_interval);
        } else {
            let bps = (size.0 as f64 * size.1 as f64 * fps * TARGET_BPP).clamp(200e3, 80e6);
            media::set_if(&enc, "bitrate", &(bps as u64).to_string());
            media::set_if(&enc, "gop-size", &key_interval.to_string());
        }
        Ok(enc)
    }

    /// The x264 preset: `ultrafast` (EMOJICAM_RECORD_PRESET for a live recording,
    /// EMOJICAM_RENDER_PRESET for a whole file name another, for measuring). At constant
    /// quality it took less CPU than `superfast` did under a 2 Mbit/s cap (7.2 vs 7.5 ms a
    /// 1280x720 handheld frame) for files ~15% larger than `superfast` at the same quality.
    fn x264_preset(&self) -> String {
        let variable = if self.recording() {
            "EMOJICAM_RECORD_PRESET"
        } else {
            "EMOJICAM_RENDER_PRESET"
        };
        let default = "ultrafast";
        std::env::var(variable)
            .ok()
            .filter(|p| ["ultrafast", "superfast", "veryfast", "faster"].contains(&p.as_str()))
            .unwrap_or_else(|| default.into())
    }

    /// Adds the input's first audio stream: copied when the container takes its codec (AAC
    /// or MP3 into MP4, Opus or Vorbis into WebM, most into MKV), else decoded and re-encoded.
    /// Returns the queue the sound enters the muxer through.
    fn add_audio(&self, pipeline: &gst::Pipeline, mux: &gst::Element, input: &Path) -> Result<gst::Element> {
        let path = &self.path;
        let fail = |e: &dyn std::fmt::Display| Error::encode(path, format!("cannot add the sound: {e}"));
        let copied = self.audio_caps.as_ref().and_then(|caps| copyable(self.container, caps));
        if let Some(encoded) = copied {
            let queue = media::make_any(&["queue"], path)?;
            let sink_pad = queue.static_pad("sink").ok_or_else(|| fail(&"queue has no sink pad"))?;
            // Other streams are left encoded and drained; the sound stops before its decoder.
            let decode = sound_only(input, &encoded, sink_pad).map_err(|e| fail(&e))?;
            pipeline.add_many([&decode, &queue]).map_err(|e| fail(&e))?;
            // The audio pad by name: a queue takes any caps, so linking by caps could pick the
            // muxer's video pad.
            let mux_pad = mux
                .request_pad_simple("audio_%u")
                .ok_or_else(|| fail(&"the muxer has no audio pad"))?;
            let queue_src = queue.static_pad("src").ok_or_else(|| fail(&"queue has no src pad"))?;
            queue_src.link(&mux_pad).map_err(|e| fail(&e))?;
            return Ok(queue);
        }
        let convert = media::make_any(&["audioconvert"], path)?;
        let resample = media::make_any(&["audioresample"], path)?;
        let encoder = match self.container {
            Container::Webm => media::make_any(&["opusenc"], path)?,
            _ => media::make_any(&["voaacenc", "avenc_aac", "fdkaacenc"], path)?,
        };
        // voaacenc takes mono or stereo, mono first: audioconvert took that first choice for
        // 5.1 or 7.1 sound and mixed it down to one channel. Stereo first keeps two.
        let channels: gst::Caps = "audio/x-raw, channels=2; audio/x-raw, channels=1"
            .parse()
            .map_err(|e| fail(&e))?;
        let stereo_first = gst::ElementFactory::make("capsfilter")
            .property("caps", channels)
            .build()
            .map_err(|e| fail(&e))?;
        let mut chain = vec![convert.clone(), resample, encoder];
        if chain[2].factory().is_some_and(|f| f.name() == "voaacenc") {
            chain.insert(2, stereo_first);
        }
        let queue = media::make_any(&["queue"], path)?;
        chain.push(queue.clone());
        let sink_pad = convert
            .static_pad("sink")
            .ok_or_else(|| fail(&"audioconvert has no sink pad"))?;
        let raw = gst::Caps::builder("audio/x-raw").any_features().build();
        let decode = sound_only(input, &raw, sink_pad).map_err(|e| fail(&e))?;
        pipeline.add(&decode).map_err(|e| fail(&e))?;
        pipeline.add_many(&chain).map_err(|e| fail(&e))?;
        chain.push(mux.clone());
        gst::Element::link_many(&chain).map_err(|e| fail(&e))?;
        Ok(queue)
    }

    /// The pipeline's error message (from its bus) as the cause of `what`, or `what` alone.
    fn pipeline_error(&self, pipeline: &gst::Pipeline, what: &str) -> Error {
        // The error may still be on its way to the bus: a push woken by `wake_on_error` runs
        // while the message is posted.
        let error = pipeline.bus().and_then(|bus| {
            let msg = bus.timed_pop_filtered(ERROR_WAIT, &[gst::MessageType::Error])?;
            match msg.view() {
                gst::MessageView::Error(err) => Some(MediaError::encode(&self.path, what, err)),
                _ => None,
            }
        });
        error.map_or_else(|| self.enc_err(what), Error::from)
    }

    /// Checks a frame of `size` in format `input` against the first one (starting the
    /// pipeline on the first); returns (source size, encoded size).
    fn begin(&mut self, size: (u32, u32), input: Input) -> Result<((u32, u32), (u32, u32))> {
        if self.finished {
            return Err(self.enc_err("write after finish"));
        }
        if self.sizes.is_none() {
            self.start(size, input)?;
        }
        let (Some((src, enc)), Some(started)) = (self.sizes, self.input) else {
            return Err(self.enc_err("internal: encoder not started"));
        };
        if src != size {
            return Err(self.enc_err(format!(
                "frame size changed from {}x{} to {}x{}",
                src.0, src.1, size.0, size.1
            )));
        }
        if started != input {
            return Err(self.enc_err(format!("frame format changed from {started:?} to {input:?}")));
        }
        Ok((src, enc))
    }

    /// Encodes an RGBA frame; its pixels go to the encoder as they are (no copy) unless an odd
    /// size needs padding.
    fn encode(&mut self, frame: Cow<'_, Frame>, pts: Option<Duration>) -> Result<()> {
        let (src, enc) = self.begin((frame.width, frame.height), Input::Rgba)?;
        let data = if src == enc {
            frame.into_owned().rgba
        } else {
            pad_to(&frame, enc.0 as usize, enc.1 as usize, &mut self.padded);
            self.padded.clone()
        };
        self.push(data, pts)
    }

    fn encode_i420(&mut self, image: &I420Frame, pts: Option<Duration>) -> Result<()> {
        let (w, h) = (image.width, image.height);
        if w % 2 != 0 || h % 2 != 0 || image.data.len() != I420Layout::new(w, h).len() {
            return Err(self.enc_err(format!("an I420 frame of {w}x{h} has {} bytes", image.data.len())));
        }
        if image.matrix != Matrix::default_for(h) {
            return Err(self.enc_err(format!("an I420 frame of {w}x{h} in {:?}", image.matrix)));
        }
        self.begin((w, h), Input::I420)?;
        self.push(image.data.clone(), pts)
    }

    /// Hands one frame's bytes to the encoder, stamped from `pts`.
    fn push(&mut self, data: Vec<u8>, pts: Option<Duration>) -> Result<()> {
        let frame_time = self.rate.frame_duration();
        let n = self.frames;
        let even =
            Duration::from_nanos((n as u128 * 1_000_000_000 * self.rate.den as u128 / self.rate.num as u128) as u64);
        // The input's own timestamps (variable frame rates keep their timing), never going
        // backwards. With the input's sound they stay on its clock (in sync); without, they
        // start at zero.
        let mut at = match pts {
            Some(p) if self.audio.is_some() => p,
            Some(p) => p.saturating_sub(*self.origin.get_or_insert(p)),
            None => even,
        };
        if let Some(last) = self.last_pts {
            if at <= last {
                at = last + Duration::from_micros(1);
            }
        }
        self.last_pts = Some(at);
        let mut buffer = gst::Buffer::from_mut_slice(data);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(at.as_nanos() as u64));
            b.set_duration(gst::ClockTime::from_nseconds(frame_time.as_nanos() as u64));
        }
        self.frames += 1;
        if self.recording() {
            // Live: every frame reaches the file at once (a killed recording keeps it).
            return self.send(buffer);
        }
        match self.held.replace(buffer) {
            Some(previous) => self.send(shown_until(previous, at)),
            None => Ok(()),
        }
    }

    /// Sends the held frame, shown until the input's end when it says (else for one frame at
    /// the rate).
    fn release_held(&mut self) -> Result<()> {
        let Some(last) = self.held.take() else {
            return Ok(());
        };
        let end = match (self.end, self.audio.is_some()) {
            (Some(end), true) => Some(end),
            (Some(end), false) => self.origin.map(|origin| end.saturating_sub(origin)),
            (None, _) => None,
        };
        let last = match end {
            Some(end) if last.pts().is_some_and(|pts| pts.nseconds() < end.as_nanos() as u64) => shown_until(last, end),
            _ => last,
        };
        self.send(last)
    }

    /// Hands one stamped frame to the encoder; an error downstream is returned at once.
    fn send(&mut self, buffer: gst::Buffer) -> Result<()> {
        let Some(running) = &self.running else {
            return Err(self.enc_err("internal: encoder not started"));
        };
        if running.appsrc.push_buffer(buffer).is_err() {
            let pipeline = running.pipeline.clone();
            self.failed = true;
            return Err(self.pipeline_error(&pipeline, "encoding failed"));
        }
        // An error downstream (disk full, encoder failure) shows on the bus before the flow
        // returns it: report it at once.
        if let Some(bus) = running.pipeline.bus() {
            if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
                if let gst::MessageView::Error(err) = msg.view() {
                    self.failed = true;
                    return Err(MediaError::encode(&self.path, "encoding failed", err).into());
                }
            }
        }
        Ok(())
    }

    /// Ends the stream and waits until every frame is in the file.
    fn drain(&mut self) -> Result<()> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        if self.failed {
            // Its error was the one reported; waiting for an end that cannot come held a
            // failed recording's exit up by a minute.
            media::stop(&running.pipeline);
            return Err(self.enc_err("encoding had failed"));
        }
        let _ = running.appsrc.end_of_stream();
        let ended = Instant::now();
        let bus = running
            .pipeline
            .bus()
            .ok_or_else(|| self.enc_err("the pipeline has no bus"))?;
        let mut sound = running.sound.clone();
        let result = loop {
            let types = [gst::MessageType::Eos, gst::MessageType::Error];
            match bus.timed_pop_filtered(gst::ClockTime::from_seconds(1), &types) {
                Some(msg) => match msg.view() {
                    gst::MessageView::Error(err) => {
                        break Err(MediaError::encode(&self.path, "encoding failed", err).into())
                    }
                    _ => break Ok(()),
                },
                None => {
                    // Only the input's sound can keep the muxer waiting: cut it, and give up if
                    // even that does not end the file.
                    if ended.elapsed() < SOUND_END_TIMEOUT {
                        continue;
                    }
                    if let Some(queue) = sound.take() {
                        cut(queue);
                    } else if ended.elapsed() >= 2 * SOUND_END_TIMEOUT {
                        break Err(
                            self.enc_err("the file did not end after its last frame (the input's sound stalled?)")
                        );
                    }
                }
            }
        };
        media::stop(&running.pipeline);
        result
    }
}

/// A failure downstream (a full disk stops the file sink, and the encoder's thread with it)
/// means no more frames are taken: a push waiting for room in `appsrc`'s queue would wait
/// forever. On the pipeline's first error its appsrc is ended, which wakes that push with an
/// error (the message itself still reaches the bus, and `send` reports it).
fn wake_on_error(pipeline: &gst::Pipeline, appsrc: &gst_app::AppSrc) {
    let Some(bus) = pipeline.bus() else { return };
    let appsrc = appsrc.downgrade();
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::Error(_) = msg.view() {
            if let Some(appsrc) = appsrc.upgrade() {
                let _ = appsrc.end_of_stream();
            }
        }
        gst::BusSyncReply::Pass
    });
}

/// `buffer`, shown until `end` (the next frame's time, or the input's end).
fn shown_until(mut buffer: gst::Buffer, end: Duration) -> gst::Buffer {
    let b = buffer.make_mut();
    if let Some(pts) = b.pts() {
        let end = gst::ClockTime::from_nseconds(end.as_nanos() as u64);
        if end > pts {
            b.set_duration(end - pts);
        }
    }
    buffer
}

/// Ends the sound where it is: an end of stream into `queue`, sent from a thread of its own (the
/// stream may be stuck upstream; the caller never waits on it).
fn cut(queue: gst::Element) {
    let _ = std::thread::Builder::new().name("sound-cut".into()).spawn(move || {
        if let Some(pad) = queue.static_pad("sink") {
            let _ = pad.send_event(gst::event::Eos::new());
        }
    });
}

/// A `uridecodebin` for `input`'s first sound track as `caps` (raw: decoded; a muxer's
/// encoded caps: left as it is, to be copied), linked to `target` when it appears. Streams that
/// do not reach `caps` are not exposed.
fn sound_only(input: &Path, caps: &gst::Caps, target: gst::Pad) -> Result<gst::Element> {
    let copying = !caps.iter().any(|s| s.name() == "audio/x-raw");
    let caps = if copying {
        // decodebin plugs a parser towards encoded caps only when raw ones are among its
        // targets; no decoder is ever plugged ([`copy_without_decoding`]), so none come.
        let mut both = caps.clone();
        both.merge(gst::Caps::new_empty_simple("audio/x-raw"));
        both
    } else {
        caps.clone()
    };
    let decode = gst::ElementFactory::make("uridecodebin")
        .property("uri", media::uri(input)?)
        .property("caps", &caps)
        .property("expose-all-streams", false)
        .build()
        .map_err(|e| Error::decode(input, format!("cannot read the sound: {e}")))?;
    if copying {
        copy_without_decoding(&decode);
    }
    decode.connect_pad_added(move |_, pad| {
        let audio = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("audio/")))
            .unwrap_or(true);
        if audio && !target.is_linked() {
            let _ = pad.link(&target);
        }
    });
    Ok(decode)
}

/// Makes a copying `uridecodebin` plug parsers only, never a decoder. A demuxer's caps can lack
/// what the muxer needs (MPEG-PS gives MP2 without its rate and channels): decodebin would then
/// try a decoder, whose raw sound the encoded caps refuse, and fail with "missing decoder"; the
/// parser (the one the Discoverer used to read those caps) completes them.
fn copy_without_decoding(decode: &gst::Element) {
    // The enum is decodebin's own (registered with it), so it is looked up by name.
    let Some(result) = gst::glib::Type::from_name("GstAutoplugSelectResult") else {
        return;
    };
    decode.connect("autoplug-select", false, move |args| {
        let decoder = args
            .get(4)
            .and_then(|v| v.get::<gst::ElementFactory>().ok())
            .is_some_and(|f| f.has_type(gst::ElementFactoryType::DECODER));
        gst::glib::EnumClass::with_type(result)?.to_value_by_nick(if decoder { "skip" } else { "try" })
    });
}

/// The muxer element a container is written by.
fn muxer_of(container: Container) -> &'static str {
    match container {
        Container::Mp4 => "mp4mux",
        Container::Mov => "qtmux",
        Container::Mkv => "matroskamux",
        Container::Webm => "webmmux",
    }
}

/// The muxer's encoded audio caps when the input's sound (`input`, as its parser gives it) is
/// among them: it is copied, and `uridecodebin` stops there at the latest. None: re-encoded.
fn copyable(container: Container, input: &gst::Caps) -> Option<gst::Caps> {
    let template = gst::ElementFactory::find(muxer_of(container))?
        .static_pad_templates()
        .into_iter()
        .find(|t| t.name_template() == "audio_%u")?
        .caps();
    let mut encoded = gst::Caps::new_empty();
    {
        let encoded = encoded.get_mut()?;
        for s in template.iter().filter(|s| s.name() != "audio/x-raw") {
            encoded.append_structure(s.to_owned());
        }
    }
    input.is_subset(&encoded).then_some(encoded)
}

/// What happens to an input's sound in a video output: copied as it is, or re-encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sound {
    /// Copied into the container unchanged; the codec's name.
    Copied(String),
    /// Decoded and re-encoded: the input's codec and the one written.
    Reencoded { from: String, to: &'static str },
}

impl std::fmt::Display for Sound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sound::Copied(codec) => write!(f, "sound copied ({codec})"),
            Sound::Reencoded { from, to } => write!(f, "sound re-encoded ({from} -> {to})"),
        }
    }
}

impl Sound {
    /// What a `container` output does with a sound track of these (encoded) caps.
    fn of(caps: &gst::Caps, container: Container) -> Self {
        let codec = gstreamer_pbutils::pb_utils_get_codec_description(caps).to_string();
        match copyable(container, caps) {
            Some(_) => Sound::Copied(codec),
            None => Sound::Reencoded {
                from: codec,
                to: match container {
                    Container::Webm => "Opus",
                    Container::Mp4 | Container::Mov | Container::Mkv => "AAC",
                },
            },
        }
    }
}

/// The caps of a file's first sound track (as its parser gives them), if it has one: one run
/// of GStreamer's Discoverer (about 0.2 s), once per output.
fn audio_caps(path: &Path) -> Option<gst::Caps> {
    let uri = media::uri(path).ok()?;
    let discoverer = gstreamer_pbutils::Discoverer::new(gst::ClockTime::from_seconds(20)).ok()?;
    let info = discoverer.discover_uri(&uri).ok()?;
    let first = info.audio_streams().into_iter().next()?;
    Some(
        gstreamer_pbutils::prelude::DiscovererStreamInfoExt::caps(&first)
            .unwrap_or_else(|| gst::Caps::new_empty_simple("audio/x-unknown")),
    )
}

/// Checks that GStreamer lays out I420 at `size` as [`I420Layout`] says (the GPU writes it so).
fn check_i420_layout(info: &gst_video::VideoInfo, size: (u32, u32)) -> std::result::Result<(), String> {
    let l = I420Layout::new(size.0, size.1);
    let expected = (
        [l.y_stride as i32, l.c_stride as i32, l.c_stride as i32],
        [0, l.y_len as usize, (l.y_len + l.c_len) as usize],
        l.len(),
    );
    let actual = (
        [info.stride()[0], info.stride()[1], info.stride()[2]],
        [info.offset()[0], info.offset()[1], info.offset()[2]],
        info.size(),
    );
    if actual == expected {
        Ok(())
    } else {
        Err(format!("GStreamer lays out I420 as {actual:?}, not {expected:?}"))
    }
}

/// Copies `frame` into `out` at `w`x`h` (>= the frame), repeating the last column and row.
fn pad_to(frame: &Frame, w: usize, h: usize, out: &mut Vec<u8>) {
    let (fw, fh) = (frame.width as usize, frame.height as usize);
    out.resize(w * h * 4, 0);
    for y in 0..h {
        let sy = y.min(fh - 1);
        let src = &frame.rgba[sy * fw * 4..(sy + 1) * fw * 4];
        let dst = &mut out[y * w * 4..(y + 1) * w * 4];
        dst[..fw * 4].copy_from_slice(src);
        for x in fw..w {
            dst[x * 4..x * 4 + 4].copy_from_slice(&src[(fw - 1) * 4..fw * 4]);
        }
    }
}

impl Sink for VideoSink {
    fn write(&mut self, mosaic: &MosaicFrame, image: Option<&Frame>) -> Result<()> {
        let frame = image_of(image, &self.path)?;
        self.encode(Cow::Borrowed(frame), mosaic.stamp.timestamp)
    }

    fn write_owned(&mut self, mosaic: &MosaicFrame, image: Option<Frame>) -> Result<()> {
        match image {
            Some(frame) => self.encode(Cow::Owned(frame), mosaic.stamp.timestamp),
            None => self.write(mosaic, None),
        }
    }

    fn takes_i420(&self) -> bool {
        self.takes_i420
    }

    fn sound(&self) -> Option<Sound> {
        self.audio_caps.as_ref().map(|caps| Sound::of(caps, self.container))
    }

    fn write_i420(&mut self, mosaic: &MosaicFrame, image: &I420Frame) -> Result<()> {
        self.encode_i420(image, mosaic.stamp.timestamp)
    }

    fn end_at(&mut self, end: Duration) {
        self.end = Some(end);
    }

    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if self.frames == 0 && !self.recording() {
            return Err(self.enc_err("no frame was produced"));
        }
        if !self.failed {
            self.release_held()?;
        }
        self.drain()?;
        if let Some(file) = self.file.as_mut() {
            let reopened = std::fs::OpenOptions::new()
                .append(true)
                .open(file.temp_path())
                .map_err(|source| Error::Write {
                    path: file.target().to_path_buf(),
                    source,
                })?;
            file.commit(std::io::BufWriter::new(reopened))?;
        }
        Ok(())
    }
}

impl Drop for VideoSink {
    fn drop(&mut self) {
        if self.recording() {
            // Never lose a recorded frame: end the file properly even without `finish`.
            let _ = self.drain();
        } else if let Some(running) = self.running.take() {
            // The temporary file goes with the AtomicFile.
            media::stop(&running.pipeline);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Grid, Stamp};

    fn frame_mosaic(seq: u64) -> MosaicFrame {
        MosaicFrame {
            stamp: Stamp::new(seq, None),
            grid: Grid::new(60, 60, 10),
            emoji: vec![0; 36],
            ..MosaicFrame::default()
        }
    }

    /// A recording is any video file `render` writes (its extension in any case); another name
    /// is a usage error naming those.
    #[test]
    fn a_recording_is_any_video_container() {
        for (name, container) in [
            ("a.mp4", Container::Mp4),
            ("a.M4V", Container::Mp4),
            ("a.mov", Container::Mov),
            ("a.MKV", Container::Mkv),
            ("a.webm", Container::Webm),
        ] {
            assert_eq!(Container::of_recording(Path::new(name)).ok(), Some(container), "{name}");
        }
        for name in ["a.avi", "a.gif", "a.y4m", "a", "mp4"] {
            let err = Container::of_recording(Path::new(name)).expect_err(name);
            assert_eq!(err.exit_code(), 2, "{name}");
            assert!(
                err.to_string().contains(".mp4, .m4v, .mov, .mkv or .webm"),
                "{name}: {err}"
            );
        }
    }

    /// A recording to `path` with its first frame written, the frame, and its encoder element.
    fn started_recording(path: &Path) -> (VideoSink, Frame, gst::Element) {
        let mut sink = VideoSink::create_recording(path, Container::Mp4, 64, 64, Rate::new(25, 1)).expect("create");
        let frame = Frame::filled(64, 64, [200, 40, 40, 255]);
        sink.write(&frame_mosaic(0), Some(&frame)).expect("the first frame");
        let pipeline = sink.running.as_ref().expect("started").pipeline.clone();
        let mut elements = pipeline.iterate_elements();
        let mut encoder = None;
        while let Ok(Some(element)) = elements.next() {
            if element
                .factory()
                .is_some_and(|f| f.has_type(gst::ElementFactoryType::ENCODER))
            {
                encoder = Some(element);
            }
        }
        (sink, frame, encoder.expect("an encoder"))
    }

    /// A recording whose encoder fails after its first frame (the error goes to the caller; the
    /// encoder, like a failed element, passes nothing on) ends at once: ending it used to wait
    /// for an end of stream that could not come (a minute, with the live run held up).
    #[test]
    fn a_failed_recording_ends_without_waiting_for_its_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut sink, frame, encoder) = started_recording(&dir.path().join("rec.mp4"));
        encoder.set_locked_state(true);
        let _ = encoder.set_state(gst::State::Null);
        encoder.post_error_message(gst::error_msg!(gst::StreamError::Encode, ["refused the frame"]));
        let mut failed = None;
        for seq in 1..50 {
            if let Err(e) = sink.write(&frame_mosaic(seq), Some(&frame)) {
                failed = Some(e);
                break;
            }
        }
        let failed = failed.expect("the encoder's error reaches the caller");
        assert!(failed.to_string().contains("refused the frame"), "{failed}");
        // Dropped (as the recorder thread drops it after its error) on a thread, watched: a
        // guard against a hang, far longer than ending takes.
        let (done, ended) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(sink);
            let _ = done.send(());
        });
        assert!(
            ended.recv_timeout(Duration::from_secs(20)).is_ok(),
            "ending a failed recording waited for its stream"
        );
    }

    /// A stream that stops taking frames (a failure downstream: a full disk stops the file
    /// sink, and the encoder's thread with it) ends the next write with its error: a blocking
    /// push used to wait for room forever (a `.webm` render onto a nearly full disk hung in 2 of
    /// 12 runs).
    #[test]
    fn a_stream_that_stops_taking_frames_fails_the_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut sink, frame, encoder) = started_recording(&dir.path().join("rec.mp4"));
        // The encoder takes nothing more; its error comes once the writes have filled the queue.
        let pad = encoder.static_pad("sink").expect("the encoder's sink pad");
        pad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| gst::PadProbeReturn::Ok);
        let (done, ended) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut failed = None;
            for seq in 1..50 {
                if let Err(e) = sink.write(&frame_mosaic(seq), Some(&frame)) {
                    failed = Some(e.to_string());
                    break;
                }
            }
            let _ = done.send(failed);
            drop(sink);
        });
        std::thread::sleep(Duration::from_millis(500));
        encoder.post_error_message(gst::error_msg!(gst::ResourceError::NoSpaceLeft, ["disk full"]));
        let failed = ended
            .recv_timeout(Duration::from_secs(20))
            .expect("a write waited for room in a stream that had stopped");
        let failed = failed.expect("the error reaches the caller");
        assert!(failed.contains("disk full"), "{failed}");
    }
}
