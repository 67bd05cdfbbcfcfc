//! `emojicam` (no subcommand): the live preview. Camera (or --input file) -> pipeline ->
//! window, recorder, virtual camera, Y4M stream.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use crossbeam_channel::bounded;

use crate::cli::{parse_size, LiveArgs};
use emojicam::error::Error;
use emojicam::live::session::Outputs;
use emojicam::live::window::{self, LiveEvent, WindowApp};
use emojicam::live::{self, Input, SessionFactory, StopReason};

/// The highest `--fps` taken: far above any camera's, far below a rate that stalls the recorder.
const MAX_FPS: u32 = 1000;

/// The live options' checks, before anything is opened: `--duration` and the outputs.
fn check_args(args: &LiveArgs) -> Result<(Option<Duration>, Outputs)> {
    // A recording is padded to rate x duration frames: 10^8 fps would never finish.
    if args.fps.is_some_and(|f| !(1..=MAX_FPS).contains(&f)) {
        return Err(Error::usage(format!("--fps must be 1 to {MAX_FPS}")).into());
    }
    let duration = match args.duration {
        // `try_from`: 1e308 seconds is finite but no Duration.
        Some(d) => match Duration::try_from_secs_f64(d) {
            Ok(t) if d.is_finite() && d > 0.0 => Some(t),
            _ => return Err(Error::usage("--duration must be a positive number of seconds").into()),
        },
        None => None,
    };
    let outputs = Outputs {
        record: args.record.clone(),
        virtual_camera: args.virtual_camera.clone(),
        stream: args.output.clone(),
    };
    if args.no_window && !outputs.any() {
        return Err(Error::usage("--no-window needs somewhere to send the mosaic: --record FILE.mp4, --output FILE|-, or --virtual-camera /dev/videoN").into());
    }
    if let Some(r) = &outputs.record {
        // Any video file `render` writes; anything else is named with the ones taken.
        emojicam::sink::Container::of_recording(r)?;
    }
    if args.camera.is_some() && args.input.is_some() {
        return Err(Error::usage("use either --camera or --input, not both").into());
    }
    if args.size.is_some() && args.input.is_some() {
        // Silently ignored before: a file plays live at its own size.
        return Err(Error::usage(
            "--size picks a camera's capture size; a file plays live at its own size (`emojicam render --size WxH` scales a file)",
        )
        .into());
    }
    // Before anything is opened for writing: no output may be the input or another output.
    let mut ins: Vec<(&str, &std::path::Path)> = Vec::new();
    if let Some(p) = &args.input {
        ins.push(("--input", p.as_path()));
    }
    let outs: Vec<(&str, &std::path::Path)> = [
        ("--record", &args.record),
        ("--output", &args.output),
        ("--virtual-camera", &args.virtual_camera),
    ]
    .into_iter()
    .filter_map(|(what, p)| p.as_deref().map(|p| (what, p)))
    .collect();
    emojicam::safety::check_paths(&ins, &outs)?;
    // A loopback device is a camera once fed: reading the one written would feed the mosaic
    // back into itself.
    if let (None, Some(out)) = (&args.input, &args.virtual_camera) {
        let camera = emojicam::source::camera::CameraSelector::parse(args.camera.as_deref().unwrap_or(""));
        let out_node = std::fs::canonicalize(out).unwrap_or_else(|_| out.clone());
        if camera.node().is_some_and(|node| node == out_node) {
            return Err(Error::usage(format!(
                "--virtual-camera {} is the camera emojicam reads: its mosaic would be read back into itself; write to another v4l2loopback device (or choose another camera with --camera)",
                out.display()
            ))
            .into());
        }
    }
    if let Some(o) = &outputs.stream {
        check_stream_name(o)?;
    }
    Ok((duration, outputs))
}

/// `--output` streams Y4M: to `-`, a `.y4m` name, or a FIFO or device that is already there.
/// Any other name (`out.mp4`, `photo.png`, no extension) would get a Y4M stream that its name
/// says it is not.
fn check_stream_name(path: &std::path::Path) -> Result<()> {
    let y4m = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("y4m"));
    if path.as_os_str() == "-" || y4m || emojicam::sink::is_stream_device(path) {
        return Ok(());
    }
    Err(Error::usage(format!(
        "--output {}: the live stream is Y4M: use a .y4m name, - for stdout, or a FIFO (--record FILE.mp4 records an MP4)",
        path.display()
    ))
    .into())
}

pub fn run(args: &LiveArgs) -> Result<()> {
    let config = super::config(&args.mosaic)?;
    let size = args.size.as_deref().map(parse_size).transpose()?;
    let (duration, outputs) = check_args(args)?;
    // Checked for its type (a FIFO is read once, here); kept until the run ends.
    let input_file = args.input.as_deref().map(emojicam::safety::Input::open).transpose()?;
    let input = match &input_file {
        Some(file) => Input::File {
            path: file.path().to_path_buf(),
            fps: args.fps,
        },
        None => Input::camera(args.camera.as_deref(), size, args.fps),
    };

    // The display first (cheap), so a headless machine hears about it before a camera opens.
    let event_loop = if args.no_window {
        None
    } else {
        Some(window::event_loop()?)
    };
    let proxy = event_loop.as_ref().map(|l| l.create_proxy());
    // At most one wake-up waits in the event queue: a backlog of them would keep a slow
    // pipeline busy long after a stop was asked for.
    let wake_pending = Arc::new(AtomicBool::new(false));
    let pending = wake_pending.clone();
    let wake: Option<emojicam::source::reader::Wake> = proxy.clone().map(|p| {
        Box::new(move || {
            if !pending.swap(true, Ordering::AcqRel) {
                let _ = p.send_event(LiveEvent::Captured);
            }
        }) as emojicam::source::reader::Wake
    });
    let started = live::start_capture(&input, wake)?;
    emojicam::note!(
        "emojicam: source {} ({}x{} at {} fps)",
        started.info.description,
        started.info.width,
        started.info.height,
        started.rate
    );

    let stop_rx = stop_on_ctrl_c(proxy)?;

    let factory = SessionFactory {
        config,
        mirror: live::default_mirror(started.info.kind, args.mirror),
        info: started.info.clone(),
        rate: started.rate,
        source_name: started.name.clone(),
        outputs,
    };
    let (mut session, outcome) = match event_loop {
        Some(event_loop) => run_window(
            event_loop,
            factory,
            started.capture,
            started.first,
            duration,
            wake_pending,
        )?,
        None => {
            let mut capture = started.capture;
            let mut session = factory.build_headless()?;
            let outcome = live::run_headless(&mut session, &mut capture, started.first, &stop_rx, duration);
            capture.stop();
            (session, outcome)
        }
    };
    // Whatever stopped the loop, the recording is finished before anything else is reported.
    let summary = live::finish(&mut session);
    let outcome = outcome?;
    let summary = summary?;
    emojicam::note!("{summary}");
    match outcome {
        StopReason::SourceFailed(e) => {
            Err(Error::Other(format!("{e} (stopped; the recording so far was saved)")).into())
        }
        StopReason::User | StopReason::Interrupted | StopReason::Duration | StopReason::SourceEnded => Ok(()),
    }
}

/// The live run in the window: the session and how it ended (an error when the window never
/// got as far as the pipeline).
fn run_window(
    event_loop: winit::event_loop::EventLoop<LiveEvent>,
    factory: SessionFactory,
    capture: emojicam::source::reader::FrameReader,
    first: emojicam::source::reader::ReadFrame,
    duration: Option<Duration>,
    wake_pending: Arc<AtomicBool>,
) -> Result<(emojicam::live::session::Session, std::result::Result<StopReason, Error>)> {
    let mut app = WindowApp::new(factory, capture, first, duration, wake_pending);
    let run = event_loop.run_app(&mut app);
    app.capture_mut().stop();
    let outcome = match (run, app.outcome.take()) {
        (_, Some(o)) => o,
        (Err(e), None) => Err(Error::display_caused(format!("the window's event loop failed: {e}"), e)),
        (Ok(()), None) => Ok(StopReason::User),
    };
    match app.session.take() {
        Some(s) => Ok((s, outcome)),
        None => Err(outcome
            .err()
            .unwrap_or_else(|| Error::Other("the window closed before it opened".into()))
            .into()),
    }
}

/// Ctrl-C / SIGTERM: stop cleanly (the recording is finished); a second one exits at once. The
/// receiver hears the first one (the window hears it through `proxy`).
fn stop_on_ctrl_c(
    proxy: Option<winit::event_loop::EventLoopProxy<LiveEvent>>,
) -> Result<crossbeam_channel::Receiver<()>> {
    let (stop_tx, stop_rx) = bounded::<()>(1);
    let hits = AtomicUsize::new(0);
    ctrlc::set_handler(move || {
        if hits.fetch_add(1, Ordering::SeqCst) > 0 {
            std::process::exit(130);
        }
        let _ = stop_tx.try_send(());
        if let Some(p) = &proxy {
            let _ = p.send_event(LiveEvent::Stop);
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(stop_rx)
}
