//! Video files of any container and codec GStreamer can read (MP4, MOV, MKV, WebM, AVI with
//! H.264, HEVC, VP8, VP9, AV1, ...), decoded by `uridecodebin` on GStreamer's own threads:
//!
//! uridecodebin (video only) -> videoconvert -> deinterlace (interlaced streams only)
//!   -> videoflip (honours rotation tags)
//!   -> videoscale (square pixels: an anamorphic stream is shown at its display aspect) -> appsink
//!
//! The appsink takes RGBA ([`VideoSource::open`]), or I420 ([`VideoSource::open_yuv`]): the
//! decoder's own output for 8-bit 4:2:0 streams (most H.264, HEVC, VP9), so videoconvert passes
//! it through and the tiler converts to RGB on the GPU, with the stream's colour matrix and range.
//!
//! `next_frame` pulls one frame at a time (the appsink holds a few, so decoding runs ahead while
//! the pipeline works). A frame the decoder cannot decode is concealed or skipped by the decoder,
//! as players do, and counted ([`Source::damaged`]); only a stream where nothing decodes fails.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::{colour, Source};
use crate::error::{Error, Result};
use crate::frame::{Frame, Matrix, PixelFormat, Rate, StreamInfo, StreamKind, Yuv};
use crate::media::{self, MediaError};

/// How long opening may take before we give up (a stalled network mount, a hung plugin).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long decoding may go without a frame, an end or an error before we give up (a damaged
/// file that stalls the demuxer): one line and exit 1, never a hang.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long opening waits on after the demuxer's task stopped, with no first frame, no end, no
/// error and the decoder idle: what is still in flight arrives well within it.
const DEMUXER_STOPPED_GRACE: Duration = Duration::from_secs(5);

/// How long, once no video stream has come, a missing decoder's message may still take to
/// arrive.
const MISSING_PLUGIN_GRACE: Duration = Duration::from_millis(500);

pub struct VideoSource {
    path: PathBuf,
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    info: StreamInfo,
    last_pts: Option<Duration>,
    /// Where the last frame ends (its timestamp plus its duration), when the decoder says.
    last_end: Option<Duration>,
    /// Decoder warnings seen (a damaged frame the decoder reported).
    warnings: u64,
    /// What went into and came out of the video decoder.
    counts: Arc<DecoderCounts>,
    /// Damaged frames, known once the stream has ended.
    damaged: u64,
    ended: bool,
    /// Whether every stream of the pipeline has ended (its EOS message was seen).
    all_ended: bool,
    /// The caps of the last frame, their layout and the mapping of an HDR or wide-gamut
    /// stream to sRGB (parsed once, not every frame).
    layout: Option<Layout>,
    /// The video stream's own duration as the file declares it (its index), if it does.
    declared: Option<Duration>,
}

/// Buffers counted at the video decoder's pads: the evidence of damage that GStreamer's
/// decoders do not post (they conceal or drop a frame quietly; a demuxer that loses data
/// marks the next buffer DISCONT).
#[derive(Default)]
struct DecoderCounts {
    into: AtomicU64,
    /// Of those, the frames inside the decoder's segment: the ones it is to give out. An MP4 cut
    /// without re-encoding (`ffmpeg -ss X -c copy`) starts through an edit list after its
    /// keyframe; the frames before the cut are decoded only to reach it, and dropped.
    into_shown: AtomicU64,
    /// Buffers into the decoder that are frames (not codec headers).
    frames_in: AtomicU64,
    out: AtomicU64,
    /// DISCONT buffers into the decoder after its first one, except the first after a new
    /// segment (matroskademux marks that one when it restarts its segment for a sound block
    /// that comes before the first picture, as in ffmpeg's MKV files: no data was lost).
    discont: AtomicU64,
    /// A segment event came and no buffer yet after it.
    new_segment: AtomicBool,
    /// Timestamps (ns) of the buffers into the video parser, into the decoder and out of it:
    /// a frame the parser or the decoder drops quietly (a damaged keyframe and its dependants,
    /// a single garbled P-frame) is an input whose timestamp never comes out. At most
    /// [`KEPT_TIMES`] each.
    parsed: std::sync::Mutex<Vec<u64>>,
    decoding: std::sync::Mutex<Vec<u64>>,
    decoded: std::sync::Mutex<Vec<u64>>,
    /// How far (running time, ns) the file's other streams (sound, metadata) were read: a
    /// file whose sound outlasts its picture is read to its declared end, one cut short is not.
    others_end: AtomicU64,
}

/// Frames whose times are kept to count the lost ones (8 MB each way; nine hours at 30 fps).
const KEPT_TIMES: usize = 1 << 20;

/// Keeps the timestamp of `buffer` on `pad` in `into`, up to [`KEPT_TIMES`]; buffers
/// outside the pad's segment (clipped by an edit list) are not frames shown.
fn keep_time(pad: &gst::Pad, buffer: &gst::BufferRef, into: &std::sync::Mutex<Vec<u64>>) {
    let Ok(mut times) = into.lock() else { return };
    if times.len() >= KEPT_TIMES {
        return;
    }
    let Some(pts) = buffer.pts() else { return };
    // Outside its segment (clipped, never shown) a frame has no running time: not kept.
    if running_time(pad, pts) != Some(None) {
        times.push(pts.nseconds());
    }
}

/// The running time (ns) where `buffer` on `pad` ends, if it says.
fn end_time(pad: &gst::Pad, buffer: &gst::BufferRef) -> Option<u64> {
    let end = buffer.pts()? + buffer.duration().unwrap_or(gst::ClockTime::ZERO);
    Some(running_time(pad, end)??.nseconds())
}

/// `time` on `pad` as running time: `None` when the pad has no time segment (yet), `Some(None)`
/// when `time` lies outside its segment (a clipped frame that is never shown).
fn running_time(pad: &gst::Pad, time: gst::ClockTime) -> Option<Option<gst::ClockTime>> {
    let event = pad.sticky_event::<gst::event::Segment>(0)?;
    let segment = event.segment().downcast_ref::<gst::ClockTime>()?;
    Some(segment.to_running_time(time))
}

impl DecoderCounts {
    /// Buffers into and out of the decoder so far (a change: it is working).
    fn activity(&self) -> (u64, u64) {
        (self.into.load(Ordering::Relaxed), self.out.load(Ordering::Relaxed))
    }

    /// Counts at every video decoder that `pipeline` will hold. Decoders give up after a few
    /// damaged frames by default; like a player, they carry on and we count them instead.
    fn attach(pipeline: &gst::Pipeline) -> Arc<Self> {
        let counts = Arc::new(DecoderCounts::default());
        let watcher = counts.clone();
        pipeline.connect_deep_element_added(move |_, _, element| {
            if element.find_property("max-errors").is_some() {
                element.set_property("max-errors", -1i32);
            }
            let is = |kind| {
                element
                    .factory()
                    .is_some_and(|f| f.has_type(kind | gst::ElementFactoryType::MEDIA_VIDEO))
            };
            if element.factory().is_some_and(|f| f.name() == "fakesink") {
                // The file's other streams, drained by `media::decode_only`.
                if let Some(pad) = element.static_pad("sink") {
                    let counts = watcher.clone();
                    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                        if let Some(end) = info.buffer().and_then(|b| end_time(pad, b)) {
                            counts.others_end.fetch_max(end, Ordering::Relaxed);
                        }
                        gst::PadProbeReturn::Ok
                    });
                }
            } else if is(gst::ElementFactoryType::DECODER) {
                watcher.watch(element);
            } else if is(gst::ElementFactoryType::PARSER) {
                if let Some(pad) = element.static_pad("sink") {
                    let counts = watcher.clone();
                    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                        if let Some(buffer) = info.buffer() {
                            keep_time(pad, buffer, &counts.parsed);
                        }
                        gst::PadProbeReturn::Ok
                    });
                }
            }
        });
        counts
    }

    /// Frames that went into the parser or the decoder (within the segment shown) and never
    /// came out of the decoder: no decoded frame within a millisecond of their timestamp.
    /// Timestamps, not counts: a parser may split or join buffers, but a frame keeps its time.
    fn lost(&self) -> u64 {
        let Ok(mut decoded) = self.decoded.lock().map(|d| d.clone()) else {
            return 0;
        };
        decoded.sort_unstable();
        let shown = |t: u64| {
            let i = decoded.partition_point(|&d| d < t.saturating_sub(1_000_000));
            decoded.get(i).is_some_and(|&d| d <= t.saturating_add(1_000_000))
        };
        let missing = |times: &std::sync::Mutex<Vec<u64>>| {
            times
                .lock()
                .map_or(0, |t| t.iter().filter(|&&t| !shown(t)).count() as u64)
        };
        missing(&self.parsed).max(missing(&self.decoding))
    }

    /// Counts the buffers through `decoder`'s sink and src pads.
    fn watch(self: &Arc<Self>, decoder: &gst::Element) {
        if let Some(pad) = decoder.static_pad("sink") {
            let counts = self.clone();
            let kinds = gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM;
            pad.add_probe(kinds, move |pad, info| {
                if let Some(buffer) = info.buffer() {
                    counts.into.fetch_add(1, Ordering::Relaxed);
                    // Codec headers sent in the stream (Theora's three in Ogg) are no frames.
                    if buffer.flags().contains(gst::BufferFlags::HEADER) {
                        return gst::PadProbeReturn::Ok;
                    }
                    keep_time(pad, buffer, &counts.decoding);
                    if buffer.pts().is_none_or(|pts| running_time(pad, pts) != Some(None)) {
                        counts.into_shown.fetch_add(1, Ordering::Relaxed);
                    }
                    let n = counts.frames_in.fetch_add(1, Ordering::Relaxed);
                    let restarted = counts.new_segment.swap(false, Ordering::Relaxed);
                    if n > 0 && !restarted && buffer.flags().contains(gst::BufferFlags::DISCONT) {
                        counts.discont.fetch_add(1, Ordering::Relaxed);
                    }
                } else if let Some(gst::PadProbeData::Event(event)) = &info.data {
                    if event.type_() == gst::EventType::Segment {
                        counts.new_segment.store(true, Ordering::Relaxed);
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }
        if let Some(pad) = decoder.static_pad("src") {
            let counts = self.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                counts.out.fetch_add(1, Ordering::Relaxed);
                let pts = info.buffer().and_then(|b| b.pts());
                if let (Some(pts), Ok(mut times)) = (pts, counts.decoded.lock()) {
                    if times.len() < KEPT_TIMES {
                        times.push(pts.nseconds());
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }
    }
}

impl VideoSource {
    /// Opens a video whose frames come as RGBA.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_as(path, false)
    }

    /// Opens a video whose frames come as I420 planes ([`crate::frame::PixelFormat::I420`]):
    /// no conversion on the CPU for most streams, 1.5 bytes per pixel instead of 4.
    pub fn open_yuv(path: &Path) -> Result<Self> {
        Self::open_as(path, true)
    }

    fn open_as(path: &Path, yuv: bool) -> Result<Self> {
        media::init()?;
        let uri = media::uri(path)?;
        let fail = |what: &str| Error::decode(path, format!("cannot build the decoding pipeline: {what}"));
        let flip = gst::ElementFactory::make("videoflip")
            .build()
            .map_err(|_| fail("videoflip is missing: install gstreamer1.0-plugins-good"))?;
        flip.set_property_from_str("video-direction", "auto");
        let convert = gst::ElementFactory::make("videoconvert")
            .build()
            .map_err(|_| fail("videoconvert is missing: install gstreamer1.0-plugins-base"))?;
        // The conversion to RGBA runs on one thread by default: split it over the cores
        // (its rows are independent), as the decoder already is.
        if convert.find_property("n-threads").is_some() {
            convert.set_property("n-threads", convert_threads());
        }
        // A stream with non-square pixels (DV, DVD, broadcast: 720x576 at 16:15 or 64:45) is
        // stretched to its display aspect, as players show it; square pixels pass through.
        let scale = gst::ElementFactory::make("videoscale")
            .build()
            .map_err(|_| fail("videoscale is missing: install gstreamer1.0-plugins-base"))?;
        square_near_square_pixels(&scale);
        let deinterlace =
            deinterlacer().map_err(|_| fail("deinterlace is missing: install gstreamer1.0-plugins-good"))?;
        let appsink = frame_sink(yuv);
        let flip_sink = convert
            .static_pad("sink")
            .ok_or_else(|| fail("videoconvert has no sink pad"))?;
        let seen = Arc::new(media::Seen::default());
        let fits = |w, h| super::check_size(Path::new(""), "", w, h).is_ok();
        let decodebin = media::decode_only(&uri, "video/", flip_sink.clone(), fits, seen.clone())
            .map_err(|_| fail("uridecodebin is missing: install gstreamer1.0-plugins-base"))?;
        let pipeline = gst::Pipeline::new();
        let built = |source| MediaError::Build {
            path: path.to_path_buf(),
            what: "cannot build the decoding pipeline".into(),
            source,
        };
        pipeline
            .add_many([&decodebin, &flip, &convert, &deinterlace, &scale, appsink.upcast_ref()])
            .map_err(built)?;
        // Convert first: videoflip and deinterlace take RGBA and I420, not every format a
        // decoder gives (10-bit, 4:4:4).
        gst::Element::link_many([&convert, &deinterlace, &flip, &scale, appsink.upcast_ref()]).map_err(built)?;

        super::priority::watch(&pipeline);
        let counts = DecoderCounts::attach(&pipeline);
        // Every stream is known and none is video: opening stops waiting for a first frame.
        let no_video = Arc::new(AtomicBool::new(false));
        {
            let flip_sink = flip_sink.clone();
            let no_video = no_video.clone();
            decodebin.connect_no_more_pads(move |_| {
                if !flip_sink.is_linked() {
                    no_video.store(true, Ordering::SeqCst);
                }
            });
        }
        let mut source = Self {
            path: path.to_path_buf(),
            pipeline,
            appsink,
            info: StreamInfo {
                kind: StreamKind::Video,
                width: 0,
                height: 0,
                rate: None,
                frames: None,
                description: String::new(),
            },
            last_pts: None,
            last_end: None,
            warnings: 0,
            counts,
            damaged: 0,
            ended: false,
            all_ended: false,
            layout: None,
            declared: None,
        };
        source.preroll(&flip_sink, &no_video, &seen)?;
        Ok(source)
    }

    /// Runs the pipeline up to its first decoded frame and reads the stream's size and rate.
    fn preroll(&mut self, video_pad: &gst::Pad, no_video: &AtomicBool, seen: &media::Seen) -> Result<()> {
        let path = self.path.clone();
        let mut missing = self.wait_for_preroll(no_video)?;
        if missing.is_none() && !video_pad.is_linked() {
            // No video came: decodebin may post its missing-decoder message only after opening
            // stopped waiting (seen once in CI with HEVC beside AAC, the file then called
            // unreadable): a moment's grace for it, so that a missing decoder is named.
            missing = self.pipeline.bus().and_then(|bus| late_missing_plugin(&bus));
        }
        if let Some(&(w, h)) = seen.too_large.get() {
            super::check_size(&path, "video stream", w, h)?;
        }
        if !video_pad.is_linked() && missing.is_none() && seen.kept.load(Ordering::SeqCst) {
            return Err(Error::decode(
                &path,
                "not a readable video file (truncated or damaged?): it has a video track but no frame of it could be decoded",
            ));
        }
        if !video_pad.is_linked() && missing.is_none() && declares_video(&path) {
            // Its demuxer exposes no stream for a video track without a single frame (qtdemux,
            // avidemux), so only the file's own header tells it from an audio-only file.
            return Err(Error::decode(
                &path,
                "its video track has no frames (damaged, or cut before its first frame?)",
            ));
        }
        if let (false, Some(line)) = (video_pad.is_linked(), missing) {
            // Its video track is there (the sound beside it decoded): a runtime failure, as
            // when the file has no other stream (exit 1, as the README says).
            return Err(Error::decode(&path, line));
        }
        if !video_pad.is_linked() {
            return Err(Error::usage(format!(
                "{}: the file has no video track (audio only? {})",
                path.display(),
                super::COVER_ART
            )));
        }
        let caps = self
            .appsink
            .static_pad("sink")
            .and_then(|p| p.current_caps())
            .ok_or_else(|| Error::decode(&path, "no frame could be decoded"))?;
        let video = gst_video::VideoInfo::from_caps(&caps)
            .map_err(|e| Error::decode(&path, format!("unexpected decoded format: {e}")))?;
        self.info = self.stream_info(&video, video_pad);
        self.declared = declared_duration(video_pad);
        self.pipeline
            .set_state(gst::State::Playing)
            .map_err(|source| MediaError::State {
                path: path.clone(),
                what: "cannot start decoding".into(),
                source,
            })?;
        Ok(())
    }

    /// Pauses the pipeline and waits until it has prerolled (a first frame, or the end) or has
    /// found no video stream. Returns the missing plugin, if one was reported.
    fn wait_for_preroll(&mut self, no_video: &AtomicBool) -> Result<Option<String>> {
        let path = self.path.clone();
        let bus = self
            .pipeline
            .bus()
            .ok_or_else(|| Error::decode(&path, "the pipeline has no bus"))?;
        // A state change failure is reported on the bus too, with the reason.
        let _ = self.pipeline.set_state(gst::State::Paused);
        let mut missing = None;
        let deadline = std::time::Instant::now() + OPEN_TIMEOUT;
        let mut stopped_since = None;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Error::decode(&path, "timed out opening the file"));
            }
            if no_video.load(Ordering::SeqCst) {
                return Ok(missing);
            }
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
                // A demuxer whose error decodebin swallowed (it drops errors posted while it
                // links the element) has stopped with no error, no end and no stream: nothing
                // more will come, so a stopped demuxer with an idle decoder ends the wait soon.
                let activity = self.counts.activity();
                if !demuxer_stopped(&self.pipeline) {
                    stopped_since = None;
                    continue;
                }
                let (since, seen) = *stopped_since.get_or_insert((std::time::Instant::now(), activity));
                if seen != activity {
                    stopped_since = Some((std::time::Instant::now(), activity));
                } else if media::index_missing(&path) {
                    // Nothing can come of an MP4 without its index: no need to wait.
                    return Err(Error::decode(&path, INDEX_MISSING));
                } else if since.elapsed() > DEMUXER_STOPPED_GRACE {
                    return Err(known_reason(&path, &missing).unwrap_or_else(|| {
                        Error::decode(
                            &path,
                            "not a readable video file (corrupt, truncated or an unknown format?): its demuxer stopped",
                        )
                    }));
                }
                continue;
            };
            use gst::MessageView;
            match msg.view() {
                MessageView::AsyncDone(_) => return Ok(missing),
                MessageView::Element(_) => {
                    if let Some(line) = media::missing_plugin(&msg) {
                        missing.get_or_insert(line);
                    }
                }
                MessageView::Error(err) => {
                    return Err(known_reason(&path, &missing).unwrap_or_else(|| {
                        MediaError::decode(
                            &path,
                            "not a readable video file (corrupt, truncated or an unknown format?)",
                            err,
                        )
                        .into()
                    }));
                }
                MessageView::Warning(_) => self.warnings += 1,
                _ => {}
            }
        }
    }

    /// The stream's size, rate, frame count and description, from its first decoded caps.
    fn stream_info(&self, video: &gst_video::VideoInfo, video_pad: &gst::Pad) -> StreamInfo {
        let (width, height) = (video.width(), video.height());
        let fps = video.fps();
        let rate = (fps.numer() > 0 && fps.denom() > 0).then(|| Rate::new(fps.numer() as u32, fps.denom() as u32));
        // The video stream's own duration (the file's may be longer: its sound's).
        let duration = video_pad
            .peer_query_duration::<gst::ClockTime>()
            .or_else(|| self.pipeline.query_duration::<gst::ClockTime>())
            .or_else(|| track_length(video_pad));
        let frames = match (duration, rate) {
            // Frames that start before the end (a sound track often outlasts the picture by
            // part of a frame, and the container's duration may be the sound's).
            (Some(d), Some(r)) => Some((d.nseconds() as f64 * r.fps() / 1e9 + 1e-3).floor() as u64),
            _ => None,
        };
        let codec = self.codec_name();
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shown = rate.map_or_else(|| "variable".into(), |r| r.to_string());
        StreamInfo {
            kind: StreamKind::Video,
            width,
            height,
            rate: Some(rate.unwrap_or(Rate::new(25, 1))),
            frames,
            description: format!("{name}: {codec} {width}x{height} {shown} fps"),
        }
    }

    /// The video codec's name as GStreamer describes it ("H.264 (High Profile)").
    fn codec_name(&self) -> String {
        let mut name = None;
        // The decoder's sink caps say what was decoded.
        let mut elements = self.pipeline.iterate_recurse();
        while let Ok(Some(element)) = elements.next() {
            let is_decoder = element
                .factory()
                .is_some_and(|f| f.has_type(gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO));
            if !is_decoder {
                continue;
            }
            if let Some(caps) = element.static_pad("sink").and_then(|p| p.current_caps()) {
                name = Some(gstreamer_pbutils::pb_utils_get_codec_description(&caps).to_string());
            }
        }
        name.unwrap_or_else(|| "video".into())
    }

    /// Damaged frames detected by the end of the stream: frames the decoder took in and gave
    /// nothing for, decoder warnings, and gaps the demuxer marked (a DISCONT buffer: data lost
    /// before the decoder, at least one frame). A lower bound: what a damaged file's own
    /// timestamps and duration say cannot be trusted. A clean stream counts none, whatever its
    /// timing (variable frame rates included). Frames the parser drops before the decoder
    /// sees them (a damaged start, a single garbled frame) count too: their timestamps never
    /// come out.
    fn count_damaged(&self) -> u64 {
        let into = self.counts.into_shown.load(Ordering::Relaxed);
        let out = self.counts.out.load(Ordering::Relaxed);
        let lost = into.saturating_sub(out);
        let never_out = self.counts.lost();
        lost.max(self.warnings)
            .max(self.counts.discont.load(Ordering::Relaxed))
            .max(never_out)
    }

    /// Says so when the frames end well before the video stream's declared duration (a file cut
    /// short whose index survived: a fast-start MP4, a Matroska file with its cues): the frames
    /// that are there are rendered, but the output is not the whole clip.
    fn warn_if_cut_short(&self) {
        let (Some(declared), Some(last)) = (self.declared, self.last_pts) else {
            return;
        };
        let frame = self.info.rate.map_or(Duration::from_millis(40), |r| {
            Duration::from_secs_f64(1.0 / r.fps().max(1e-3))
        });
        let shown = last + frame;
        let short = |read: Duration| {
            let missing = declared.saturating_sub(read);
            missing > 2 * frame && missing.as_secs_f64() > 0.05 * declared.as_secs_f64()
        };
        // Once per run: live `--input` reopens the file at each loop.
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !short(shown) || SAID.load(Ordering::Relaxed) {
            return;
        }
        // A file whose sound outlasts its picture (Matroska declares one duration for all its
        // tracks) was read to its end: its other streams reached the declared duration.
        self.wait_for_all_streams();
        let others = Duration::from_nanos(self.counts.others_end.load(Ordering::Relaxed));
        if short(shown.max(others)) && !SAID.swap(true, Ordering::Relaxed) {
            let name = self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            crate::say!(
                "emojicam: warning: {name}: only {:.2} s of the {:.2} s of video its file declares could be read (truncated or damaged?)",
                shown.as_secs_f64(),
                declared.as_secs_f64()
            );
        }
    }

    /// Waits (a little) for the file's other streams to end after its video did: the demuxer
    /// may still be handing out sound.
    fn wait_for_all_streams(&self) {
        if self.all_ended {
            return;
        }
        let Some(bus) = self.pipeline.bus() else { return };
        let _ = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(2),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
    }

    /// Pops bus messages: counts decoder warnings (damaged frames), returns a fatal error.
    fn check_bus(&mut self) -> Result<()> {
        let Some(bus) = self.pipeline.bus() else {
            return Ok(());
        };
        while let Some(msg) = bus.pop() {
            use gst::MessageView;
            match msg.view() {
                MessageView::Error(err) => return Err(MediaError::decode(&self.path, "decoding failed", err).into()),
                MessageView::Warning(_) => self.warnings += 1,
                MessageView::Eos(_) => self.all_ended = true,
                _ => {}
            }
        }
        Ok(())
    }
}

/// A missing-plugin message that comes within [`MISSING_PLUGIN_GRACE`], read off `bus`.
fn late_missing_plugin(bus: &gst::Bus) -> Option<String> {
    let deadline = std::time::Instant::now() + MISSING_PLUGIN_GRACE;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        let wait = gst::ClockTime::from_nseconds(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX));
        let msg = bus.timed_pop(wait)?;
        if let Some(line) = media::missing_plugin(&msg) {
            return Some(line);
        }
    }
}

impl Source for VideoSource {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn may_have_sound(&self) -> bool {
        true
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.ended {
            return Ok(None);
        }
        let stalled_at = std::time::Instant::now() + STALL_TIMEOUT;
        loop {
            if std::time::Instant::now() > stalled_at {
                self.ended = true;
                media::stop(&self.pipeline);
                return Err(Error::decode(
                    &self.path,
                    format!(
                        "decoding stalled: no frame and no end for {} s (a damaged file?)",
                        STALL_TIMEOUT.as_secs()
                    ),
                ));
            }
            if let Some(sample) = self.appsink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
                self.check_bus()?;
                let shown = sample.buffer().and_then(|b| b.duration());
                return to_frame(&sample, &self.path, &mut self.layout).map(|(frame, pts)| {
                    self.last_pts = pts;
                    self.last_end = pts.zip(shown).map(|(pts, d)| pts + Duration::from_nanos(d.nseconds()));
                    Some(frame)
                });
            }
            self.check_bus()?;
            if self.appsink.is_eos() {
                self.ended = true;
                self.warn_if_cut_short();
                media::stop(&self.pipeline);
                self.damaged = self.count_damaged();
                return Ok(None);
            }
        }
    }

    fn timestamp(&self) -> Option<Duration> {
        self.last_pts
    }

    fn damaged(&self) -> u64 {
        self.damaged
    }

    fn end(&self) -> Option<Duration> {
        self.last_end.filter(|_| self.ended)
    }
}

impl Drop for VideoSource {
    fn drop(&mut self) {
        if !self.ended {
            media::stop(&self.pipeline);
        }
    }
}

/// The video stream's own duration as its file declares it. A duration query answers the
/// file's (qtdemux: the longest track's, so a 1 s picture with 3 s of sound says 3 s); the
/// segment the demuxer starts the stream with spans this track, when it says.
fn declared_duration(video_pad: &gst::Pad) -> Option<Duration> {
    let file = video_pad.peer_query_duration::<gst::ClockTime>();
    let track = track_length(video_pad);
    let shortest = match (file, track) {
        (Some(f), Some(t)) => Some(f.min(t)),
        (f, t) => f.or(t),
    };
    shortest.map(|d| Duration::from_nanos(d.nseconds()))
}

/// Why an MP4/MOV file without its index (`moov`) cannot be read.
const INDEX_MISSING: &str = "an MP4/MOV file without its index (the moov box, which recorders write last): cut short while it was recorded or copied? Nothing in it can be played without it";

/// Why `path` cannot be opened, where it is something we can name: a missing decoder
/// (`missing`, the line that says which to install) or an MP4/MOV without its index. The same
/// answer whether GStreamer reported its error or decodebin swallowed it and the demuxer just
/// stopped (which of the two happens is a race: a cut MP4 got a vaguer line 5 s later).
fn known_reason(path: &Path, missing: &Option<String>) -> Option<Error> {
    match missing {
        Some(line) => Some(Error::decode(path, line.clone())),
        None if media::index_missing(path) => Some(Error::decode(path, INDEX_MISSING)),
        None => None,
    }
}

/// The length of the segment the demuxer starts the video stream with, when it has a stop (the
/// track's own length; a file read through our edit-list source, src/media/edits.rs, answers no
/// duration query).
fn track_length(video_pad: &gst::Pad) -> Option<gst::ClockTime> {
    let event = video_pad.sticky_event::<gst::event::Segment>(0)?;
    let segment = event.segment().downcast_ref::<gst::ClockTime>()?;
    segment.stop()?.checked_sub(segment.start()?)
}

/// Pixels within 1% of square count as square: a scaler that resized 320x180 to 641x361
/// writes a pixel aspect ratio of 1.0012 to keep the picture's, a rounding of its own, not an
/// anamorphic format (those are 8:9, 10:11, 16:15, 64:45, 4:3 ...). Their caps are given as
/// square before `scale`, which then passes the frames through at their own size.
fn square_near_square_pixels(scale: &gst::Element) {
    let Some(pad) = scale.static_pad("sink") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::EventView::Caps(caps) = event.view() else {
            return gst::PadProbeReturn::Ok;
        };
        let caps = caps.caps();
        let par = caps
            .structure(0)
            .and_then(|s| s.get::<gst::Fraction>("pixel-aspect-ratio").ok())
            .filter(|p| p.numer() > 0 && p.denom() > 0 && p.numer() != p.denom());
        let Some(par) = par else {
            return gst::PadProbeReturn::Ok;
        };
        if (f64::from(par.numer()) / f64::from(par.denom()) - 1.0).abs() < 0.01 {
            let mut square = caps.to_owned();
            if let Some(s) = square.make_mut().structure_mut(0) {
                s.set("pixel-aspect-ratio", gst::Fraction::new(1, 1));
            }
            info.data = Some(gst::PadProbeData::Event(gst::event::Caps::new(&square)));
        }
        gst::PadProbeReturn::Ok
    });
}

/// The most of a file's header read to look for a video track: an MP4's `moov` box (its index,
/// a few hundred kB for an hour of video), an AVI's header list (at its start).
const HEADER_LIMIT: u64 = 64 << 20;

/// Whether the file's container declares a video track: an MP4/MOV `hdlr` of type `vide` in
/// its `moov` box, an AVI stream header (`strh`) of type `vids`. Bounded reads; false for
/// anything else or on any doubt.
fn declares_video(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 12];
    if file.read_exact(&mut head).is_err() {
        return false;
    }
    let find = |data: &[u8], tag: &[u8; 4], skip: usize, kind: &[u8; 4]| {
        data.windows(12 + skip)
            .any(|w| &w[..4] == tag && &w[4 + skip..8 + skip] == kind)
    };
    if &head[..4] == b"RIFF" && &head[8..12] == b"AVI " {
        let mut data = Vec::new();
        return (&mut file).take(1 << 20).read_to_end(&mut data).is_ok() && find(&data, b"strh", 4, b"vids");
    }
    // MP4/MOV: walk the top-level boxes to `moov`.
    let mut at = 0u64;
    for _ in 0..4096 {
        let mut header = [0u8; 16];
        if file.seek(SeekFrom::Start(at)).is_err() || file.read_exact(&mut header[..8]).is_err() {
            return false;
        }
        let mut size = u64::from(u32::from_be_bytes([header[0], header[1], header[2], header[3]]));
        let mut body = 8;
        if size == 1 {
            if file.read_exact(&mut header[8..16]).is_err() {
                return false;
            }
            size = u64::from_be_bytes([
                header[8], header[9], header[10], header[11], header[12], header[13], header[14], header[15],
            ]);
            body = 16;
        }
        if &header[4..8] == b"moov" {
            let len = if size == 0 {
                HEADER_LIMIT
            } else {
                size.saturating_sub(body)
            };
            let mut data = Vec::new();
            // `hdlr`, version and flags, a pre-defined (MOV: component type) word, the type.
            return len <= HEADER_LIMIT
                && (&mut file).take(len).read_to_end(&mut data).is_ok()
                && find(&data, b"hdlr", 8, b"vide");
        }
        if size < body {
            return false;
        }
        at = at.saturating_add(size);
    }
    false
}

/// Whether the pipeline holds a demuxer that pulls from the file and whose streaming task no
/// longer runs (it ended, or stopped on an error).
fn demuxer_stopped(pipeline: &gst::Pipeline) -> bool {
    let mut elements = pipeline.iterate_recurse();
    while let Ok(Some(element)) = elements.next() {
        let demuxer = element
            .factory()
            .is_some_and(|f| f.has_type(gst::ElementFactoryType::DEMUXER));
        let stopped = |p: &gst::Pad| p.mode() == gst::PadMode::Pull && p.task_state() != gst::TaskState::Started;
        if demuxer && element.sink_pads().iter().any(stopped) {
            return true;
        }
    }
    false
}

/// Interlaced video (broadcast MPEG-2 and H.264, camcorders) shows combing in every moving
/// edge when its two fields are taken as one picture: `deinterlace` rebuilds each frame from
/// its first field (one frame per frame, the rate players show). Progressive frames, and
/// progressive streams, pass through untouched (`mode` auto, the default).
fn deinterlacer() -> Result<gst::Element, gst::glib::BoolError> {
    let deinterlace = gst::ElementFactory::make("deinterlace").build()?;
    deinterlace.set_property_from_str("fields", "top");
    Ok(deinterlace)
}

/// Threads for videoconvert: one per core, at most 4 (its rows split evenly; more threads
/// than cores only add switching).
fn convert_threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u32)
}

/// The end of the decoding pipeline: RGBA or I420 frames with square pixels, a few held so
/// decoding runs ahead.
fn frame_sink(yuv: bool) -> gst_app::AppSink {
    let format = if yuv {
        gst_video::VideoFormat::I420
    } else {
        gst_video::VideoFormat::Rgba
    };
    let caps = gst_video::VideoCapsBuilder::new()
        .format(format)
        .pixel_aspect_ratio(gst::Fraction::new(1, 1))
        .build();
    gst_app::AppSink::builder()
        .caps(&caps)
        .max_buffers(4)
        .drop(false)
        .sync(false)
        .build()
}

/// Decoded frames' caps, parsed.
struct Layout {
    caps: gst::Caps,
    info: gst_video::VideoInfo,
    /// An HDR or wide-gamut stream's mapping to sRGB (`None`: SDR BT.709, shown as it is).
    to_srgb: Option<colour::VideoToSrgb>,
}

/// The mapping to sRGB that a stream's colorimetry needs: HDR (HLG, PQ) and wide-gamut
/// (BT.2020, Display P3) streams, which videoconvert passes on as they are coded.
fn video_to_srgb(info: &gst_video::VideoInfo) -> Option<colour::VideoToSrgb> {
    use gst_video::{VideoColorPrimaries as P, VideoTransferFunction as T};
    let c = info.colorimetry();
    let transfer = match c.transfer() {
        T::AribStdB67 => colour::Transfer::Hlg,
        T::Smpte2084 => colour::Transfer::Pq,
        _ => colour::Transfer::Sdr,
    };
    let primaries = match c.primaries() {
        P::Bt2020 => colour::Primaries::Bt2020,
        P::Smpteeg432 => colour::Primaries::DisplayP3,
        _ => colour::Primaries::Bt709,
    };
    colour::VideoToSrgb::new(transfer, primaries)
}

/// One decoded sample as a frame and its running time. `layout` caches the parsed caps: they
/// change only when the stream does. An HDR or wide-gamut stream comes as sRGB RGBA
/// ([`colour::VideoToSrgb`]), an I420 one included (converted here, on the CPU).
fn to_frame(sample: &gst::Sample, path: &Path, layout: &mut Option<Layout>) -> Result<(Frame, Option<Duration>)> {
    let bad = |m: &str| Error::decode(path, m.to_string());
    let caps = sample.caps().ok_or_else(|| bad("a decoded frame without caps"))?;
    if layout.as_ref().is_none_or(|l| l.caps != *caps) {
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|_| bad("a decoded frame with unknown caps"))?;
        let to_srgb = video_to_srgb(&info);
        // Said once a run (a looping `--input` reopens the file at every loop).
        static SAID: AtomicBool = AtomicBool::new(false);
        if let Some(map) = to_srgb.as_ref().filter(|_| !SAID.swap(true, Ordering::Relaxed)) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            crate::note!(
                "emojicam: {name}: {} video: its colours are mapped to SDR (sRGB), as an SDR screen shows them",
                match map.transfer() {
                    colour::Transfer::Hlg => "HDR (HLG)",
                    colour::Transfer::Pq => "HDR (PQ)",
                    colour::Transfer::Sdr => "wide-gamut",
                }
            );
        }
        *layout = Some(Layout {
            caps: caps.to_owned(),
            info,
            to_srgb,
        });
    }
    let Some(Layout { info, to_srgb, .. }) = layout.as_ref() else {
        return Err(bad("a decoded frame with unknown caps"));
    };
    let buffer = sample.buffer().ok_or_else(|| bad("a decoded frame without data"))?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
        .map_err(|_| bad("cannot map a decoded frame"))?;
    let mut frame = match info.format() {
        gst_video::VideoFormat::I420 => i420_frame(info, &frame).map_err(bad)?,
        _ => {
            let data = frame.plane_data(0).map_err(|_| bad("cannot read a decoded frame"))?;
            let (w, h) = (info.width() as usize, info.height() as usize);
            let mut rgba = Vec::with_capacity(w * h * 4);
            packed_rows(&mut rgba, data, info.stride()[0] as usize, w * 4, h).ok_or_else(|| bad(SHORT))?;
            Frame::new(w as u32, h as u32, rgba)
        }
    };
    if let Some(map) = to_srgb {
        frame = match frame.format {
            PixelFormat::I420(yuv) => {
                let (w, h) = (frame.width as usize, frame.height as usize);
                let rgba = map.i420_to_rgba(w, h, &frame.rgba, yuv).ok_or_else(|| bad(SHORT))?;
                Frame::new(frame.width, frame.height, rgba)
            }
            PixelFormat::Rgba => {
                map.map_rgba(&mut frame.rgba);
                frame
            }
        };
    }
    // Running time: the clock the sound track of the same file also follows (a stream that
    // starts at 1.4 s, as MPEG-TS files do, starts at zero).
    let running = buffer.pts().and_then(|t| {
        sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>())
            .and_then(|s| s.to_running_time(t))
    });
    let pts = running.or(buffer.pts()).map(|t| Duration::from_nanos(t.nseconds()));
    Ok((frame, pts))
}

const SHORT: &str = "a decoded frame is shorter than its size";

/// A mapped I420 frame as a [`Frame`]: its planes packed row after row, in the encoding its
/// caps give ([`colour`]). Shared by files and the camera's MJPEG decoder.
pub(super) fn i420_frame(
    info: &gst_video::VideoInfo,
    frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
) -> std::result::Result<Frame, &'static str> {
    let planes = [0, 1, 2].map(|p| frame.plane_data(p));
    let [Ok(y), Ok(u), Ok(v)] = planes else {
        return Err("cannot read a decoded frame");
    };
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = |p: usize| info.stride()[p] as usize;
    let mut data = Vec::with_capacity(w * h * 3 / 2 + 4);
    packed_rows(&mut data, y, stride(0), w, h).ok_or(SHORT)?;
    packed_rows(&mut data, u, stride(1), w.div_ceil(2), h.div_ceil(2)).ok_or(SHORT)?;
    packed_rows(&mut data, v, stride(2), w.div_ceil(2), h.div_ceil(2)).ok_or(SHORT)?;
    Ok(Frame::i420(info.width(), info.height(), data, colour(info)))
}

/// Appends `rows` rows of `row` bytes each, `stride` bytes apart in `plane`, to `out`; None
/// when the plane is too short. Rows without padding are one copy.
fn packed_rows(out: &mut Vec<u8>, plane: &[u8], stride: usize, row: usize, rows: usize) -> Option<()> {
    if stride == row {
        out.extend_from_slice(plane.get(..row * rows)?);
        return Some(());
    }
    for r in 0..rows {
        out.extend_from_slice(plane.get(r * stride..r * stride + row)?);
    }
    Some(())
}

/// The colour matrix and range the stream's caps give (GStreamer fills in its defaults when
/// the stream says nothing: BT.709 from 720 lines up, BT.601 below, limited range), as
/// videoconvert applies them. A matrix it names no weights for counts as BT.601.
fn colour(info: &gst_video::VideoInfo) -> Yuv {
    use gst_video::VideoColorMatrix as M;
    let matrix = match info.colorimetry().matrix() {
        M::Bt709 => Matrix::Bt709,
        M::Bt2020 => Matrix::Bt2020,
        M::Smpte240m => Matrix::Smpte240m,
        M::Fcc => Matrix::Fcc,
        _ => Matrix::Bt601,
    };
    Yuv {
        matrix,
        full_range: info.colorimetry().range() == gst_video::VideoColorRange::Range0_255,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ISO media file of the given top-level boxes (type, body length).
    fn boxes(dir: &Path, name: &str, list: &[(&[u8; 4], usize)]) -> PathBuf {
        let mut bytes = Vec::new();
        for (kind, len) in list {
            bytes.extend_from_slice(&(*len as u32 + 8).to_be_bytes());
            bytes.extend_from_slice(*kind);
            bytes.extend(std::iter::repeat_n(0u8, *len));
        }
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// Whichever way GStreamer fails on an MP4 cut before its index (its error, or a demuxer
    /// that stops with the error swallowed), the answer is the same line; a missing decoder's
    /// line comes first; anything else is left to the caller.
    #[test]
    fn a_failure_we_can_name_is_named_the_same_way_every_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cut = boxes(dir.path(), "cut.mp4", &[(b"ftyp", 16), (b"mdat", 4096)]);
        let whole = boxes(dir.path(), "whole.mp4", &[(b"ftyp", 16), (b"mdat", 64), (b"moov", 64)]);
        let named = |path: &Path, missing: Option<String>| known_reason(path, &missing).map(|e| e.to_string());
        assert!(named(&cut, None).is_some_and(|m| m.contains(INDEX_MISSING)));
        let plugin = "install gstreamer1.0-libav".to_string();
        assert!(named(&cut, Some(plugin.clone())).is_some_and(|m| m.contains(&plugin)));
        assert_eq!(named(&whole, None), None);
    }
}
