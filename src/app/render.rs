//! `emojicam render`: one input file to one output file through the shared pipeline.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{parse_size, RenderArgs};
use emojicam::domain::{MosaicFrame, Stamp};
use emojicam::error::Error;
use emojicam::frame::StreamKind;
use emojicam::pipeline::Pipeline;
use emojicam::sink::{self, Sink};
use emojicam::source::reader::{FrameReader, Keep, Pace, ReaderEvent, ReaderOptions};
use emojicam::source::{self, Source};

/// What kind of file an output path asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// One picture (.png .jpg .webp .json): a video input contributes its first frame.
    Still,
    /// A stream of frames (.mp4 .m4v .mov .mkv .webm .gif .y4m .txt .jsonl, or - for Y4M on stdout).
    Stream,
}

pub fn output_kind(path: &Path) -> emojicam::Result<OutputKind> {
    if path.as_os_str() == "-" {
        return Ok(OutputKind::Stream);
    }
    if path.is_dir() {
        return Err(Error::usage(format!(
            "output {} is a directory: name a file in it, e.g. {}",
            path.display(),
            path.join("emoji.png").display()
        )));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" | "webp" | "json" => Ok(OutputKind::Still),
        "gif" | "y4m" | "txt" | "jsonl" => Ok(OutputKind::Stream),
        video if sink::Container::from_extension(video).is_some() => Ok(OutputKind::Stream),
        "" if sink::is_stream_device(path) => Ok(OutputKind::Stream),
        "" => Err(Error::usage(format!(
            "output {} has no extension: use {}",
            path.display(),
            sink::OUTPUTS
        ))),
        other => Err(Error::usage(format!(
            "unsupported output format '.{other}': use {}",
            sink::OUTPUTS
        ))),
    }
}

/// Emoji characters and codepoint strings per atlas index, for the text sinks.
pub fn emoji_strings(pipeline: &Pipeline) -> (Arc<[String]>, Arc<[String]>) {
    let atlas = pipeline.atlas();
    let text: Arc<[String]> = atlas.emoji.iter().map(|e| e.text.clone()).collect();
    let codes: Arc<[String]> = atlas.emoji.iter().map(|e| e.unified.clone()).collect();
    (text, codes)
}

/// Summary of a finished render.
#[derive(Debug, Clone)]
pub struct RenderSummary {
    pub frames: u64,
    pub seconds: f64,
    /// Damaged input frames the decoder concealed or skipped.
    pub damaged: u64,
    /// Frames the output left out ([`sink::Sink::left_out`]: a GIF's under 20 ms).
    pub left_out: u64,
}

pub fn run(args: &RenderArgs) -> Result<()> {
    let config = super::config(&args.mosaic)?;
    let kind = output_kind(&args.output)?;
    let size = args.size.as_deref().map(parse_size).transpose()?;
    // Kept until the run ends (a FIFO's spooled copy is removed when it is dropped).
    let (input, mut source) = open_input(args, kind, size)?;
    let mut pipeline = Pipeline::with_config(config)?;
    // A photo larger than this GPU takes (a panorama, a 200-megapixel shot): its mosaic is made
    // from a copy scaled to fit, and says so.
    if source.info().kind == StreamKind::Image {
        let (w, h) = (source.info().width, source.info().height);
        if let Some((fw, fh)) = pipeline.fit(w, h) {
            if !args.quiet {
                emojicam::note!(
                    "emojicam: {}: {w}x{h} is more than this GPU takes: the mosaic is made from a copy scaled to {fw}x{fh}",
                    emojicam::safety::one_line(&args.input.display().to_string())
                );
            }
            source = source::scaled(source, fw, fh);
        }
    }
    let info = source.info().clone();
    if let Some((w, h)) = size.filter(|_| !args.quiet) {
        if let Some(keep) = stretched(w, h, info.width, info.height) {
            emojicam::note!(
                "emojicam: --size {w}x{h} is not the shape of the input ({}x{}): the mosaic is stretched to it, \
                 its emoji too (--size {keep} keeps the shape)",
                info.width,
                info.height
            );
        }
    }
    let (text, codes) = emoji_strings(&pipeline);
    let mut out_info = info.clone();
    if let Some((w, h)) = size {
        out_info.width = w;
        out_info.height = h;
    }
    let is_video_out = sink::Container::of_path(&args.output).is_some();
    let keep_audio = is_video_out && source.may_have_sound() && !args.no_audio;
    // The file the frames come from: a FIFO's sound is in its spooled copy, not in the FIFO.
    let audio = keep_audio.then_some(input.path());
    let mut sink = sink::create_with_audio(&args.output, &out_info, audio, text, codes)?;
    let sound = sink.sound().map(|sound| sound.to_string());
    if info.kind == StreamKind::Video && kind == OutputKind::Stream {
        // Encode on a thread of its own while the pipeline works on the next frame.
        sink = Box::new(sink::SinkThread::spawn(
            "output",
            args.output.clone(),
            sink,
            sink::ENCODE_AHEAD,
            sink::Policy::Block,
        )?);
    }
    let show = !args.quiet && info.kind == StreamKind::Video && kind == OutputKind::Stream;
    let started = Instant::now();
    let mut summary = render_stream(source, &mut pipeline, sink.as_mut(), size, kind, show)?;
    sink.finish()?;
    // Until the output is complete (the encoder thread may still have had frames queued).
    summary.seconds = started.elapsed().as_secs_f64();
    summary.left_out = sink.left_out();
    if !args.quiet {
        emojicam::note!("{}", summary_line(args, &info, size, &pipeline, &summary, sound));
    }
    Ok(())
}

/// `Some("WxH")`, the input's shape at width `w` (H even), when an output of `w` x `h` stretches an
/// input of `iw` x `ih` by more than 1% either way.
fn stretched(w: u32, h: u32, iw: u32, ih: u32) -> Option<String> {
    let ratio = (f64::from(w) * f64::from(ih)) / (f64::from(h) * f64::from(iw));
    let keep = ((f64::from(w) * f64::from(ih) / f64::from(iw) / 2.0).round() as u32 * 2).max(2);
    ((ratio - 1.0).abs() > 0.01).then(|| format!("{w}x{keep}"))
}

/// Checks the request against the input before anything is processed or written: never
/// overwrite the input, a size the output's encoder takes, one frame for a `.json`.
fn open_input(
    args: &RenderArgs,
    kind: OutputKind,
    size: Option<(u32, u32)>,
) -> emojicam::Result<(emojicam::safety::Input, Box<dyn Source>)> {
    emojicam::safety::check_paths(
        &[("--input", args.input.as_path())],
        &[("--output", args.output.as_path())],
    )?;
    let input = emojicam::safety::Input::open(&args.input)?;
    // The decoder's I420, as live `--input` takes it: the same clip makes the same mosaic.
    let source = source::open_yuv(input.path()).map_err(|e| input.explain(e))?;
    let info = source.info();
    if let Some(container) = sink::Container::of_path(&args.output).filter(|_| kind == OutputKind::Stream) {
        let (w, h) = size.unwrap_or((info.width, info.height));
        sink::check_size(&args.output, container, w, h)?;
    }
    // Refused before the note below, which would say the opposite.
    if args.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) && info.kind == StreamKind::Video {
        return Err(Error::usage(
            "a .json output holds one frame: use .jsonl for a video (one line per frame)",
        ));
    }
    if kind == OutputKind::Still && info.kind == StreamKind::Video && !args.quiet {
        emojicam::note!(
            "emojicam: {} is an image format: rendering the first frame of the video",
            args.output.display()
        );
    }
    Ok((input, source))
}

/// The line printed after a render: frames, sizes (the output's too where `--size` made it another),
/// tiles, speed, damage and sound. `render_bench` reads it: the frame count before ` -> `, the seconds
/// and fps after the last `) in `.
fn summary_line(
    args: &RenderArgs,
    info: &emojicam::StreamInfo,
    size: Option<(u32, u32)>,
    pipeline: &Pipeline,
    summary: &RenderSummary,
    sound: Option<String>,
) -> String {
    let fps = summary.frames as f64 / summary.seconds.max(1e-9);
    let (cols, rows) = pipeline.grid().map_or((0, 0), |g| (g.cols, g.rows));
    let resized = size
        .filter(|&s| s != (info.width, info.height))
        .map_or(String::new(), |(w, h)| format!(" at {w}x{h}"));
    let mut line = format!(
        "emojicam: {} frame{} {}x{} -> {}{resized} ({cols}x{rows} tiles of {} px, {}) in {:.2} s, {fps:.1} fps",
        summary.frames,
        if summary.frames == 1 { "" } else { "s" },
        info.width,
        info.height,
        emojicam::safety::one_line(&args.output.display().to_string()),
        pipeline.settings().tile,
        pipeline.settings().classifier.name(),
        summary.seconds,
    );
    if summary.damaged > 0 {
        line.push_str(&format!(
            "; {} damaged input frame{} concealed or skipped",
            summary.damaged,
            if summary.damaged == 1 { "" } else { "s" }
        ));
    }
    if summary.left_out > 0 {
        line.push_str(&format!(
            "; {} of them left out of the GIF (shorter than its 20 ms step; the timing is kept)",
            summary.left_out
        ));
    }
    if let Some(sound) = sound {
        line.push_str(&format!("; {sound}"));
    }
    line
}

/// Decodes on a capture thread (never dropping frames: this is offline) and feeds the pipeline.
pub fn render_stream(
    source: Box<dyn Source>,
    pipeline: &mut Pipeline,
    sink: &mut dyn Sink,
    size: Option<(u32, u32)>,
    kind: OutputKind,
    progress: bool,
) -> emojicam::Result<RenderSummary> {
    let info = source.info().clone();
    let options = ReaderOptions {
        pace: Pace::Source,
        keep: Keep::All,
        queue: 3,
        limit: (kind == OutputKind::Still).then_some(1),
    };
    let mut reader = FrameReader::spawn(source, options, None)?;

    let bar = progress_bar(progress, info.frames);
    let start = Instant::now();
    let mut frames = 0u64;
    let needs_image = sink.needs_image();
    let result = (|| {
        let mut emit = |pipeline: &mut Pipeline, mosaic: MosaicFrame| {
            let image = if needs_image {
                Some(pipeline.render(&mosaic, size)?)
            } else {
                None
            };
            sink.write_owned(&mosaic, image)?;
            frames += 1;
            bar.inc(1);
            Ok::<(), Error>(())
        };
        // Pipelined only when asked (`Pipeline::pipelining_pays`): the GPU tiles each frame
        // while the CPU classifies the previous one.
        let pipelined = pipeline.pipelining_pays();
        for event in reader.receiver().iter() {
            let captured = match event {
                ReaderEvent::Frame(captured) => captured,
                ReaderEvent::Started(_) => continue,
                ReaderEvent::End => break,
                ReaderEvent::Failed(e) => return Err(e),
            };
            let (frame, stamp) = (captured.frame, Stamp::new(captured.seq, captured.timestamp));
            if !pipelined {
                let mosaic = pipeline.classify(&frame, stamp)?;
                emit(pipeline, mosaic)?;
            } else if let Some(mosaic) = pipeline.push(&frame, stamp)? {
                emit(pipeline, mosaic)?;
            }
        }
        if let Some(mosaic) = pipeline.flush()? {
            emit(pipeline, mosaic)?;
        }
        Ok::<(), Error>(())
    })();
    let damaged = reader.finish();
    bar.finish_and_clear();
    result?;
    if let Some(end) = reader.end() {
        sink.end_at(end);
    }
    if frames == 0 {
        return Err(Error::decode(
            info.description.clone(),
            "no frames could be decoded from the input",
        ));
    }
    Ok(RenderSummary {
        frames,
        seconds: start.elapsed().as_secs_f64(),
        damaged,
        left_out: 0,
    })
}

/// A bar over `frames` (a spinner when the count is unknown), or a hidden one.
fn progress_bar(show: bool, frames: Option<u64>) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = frames.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} frames ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
