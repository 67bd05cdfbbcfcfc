//! `emojicam bench`'s live runs: the emojicam binary run as a user runs it, on a 30 fps H.264
//! clip made from the bench's input at each size (upscaled or downscaled, re-timed to 30 fps):
//! in the preview window when there is a display (`emojicam --input CLIP --fps 30 --duration
//! S`), and headless with recording (`... --no-window --record OUT.mp4`). Each run is a process
//! of its own (a window's event loop can be made once per process), and its end-of-run report
//! is read back. With `--live-against OTHER`, another emojicam binary (an earlier build, or a
//! script that sets an environment variable and runs one) takes turns with this one, so that
//! whatever else loads the machine weighs on both alike.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cli::BenchArgs;
use emojicam::domain::{MosaicFrame, Stamp};
use emojicam::frame::Frame;
use emojicam::sink;

/// How a live run shows its mosaic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The preview window (needs DISPLAY), no other output.
    Window,
    /// No window, recording to MP4.
    Record,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Window => "window",
            Mode::Record => "no window, --record",
        }
    }
}

/// What one run reported at its end.
#[derive(Clone, Debug, Default, PartialEq)]
struct Report {
    frames: u64,
    fps: f64,
    dropped: u64,
    dropped_starting: u64,
    latency: Option<(f64, f64)>,
    recorder_dropped: Option<u64>,
    /// Frames on which the classify budget carried changed tiles over to the next frame.
    adapted: Option<u64>,
    /// Of the tiles found changed on each frame, the share (%) the budget carried over.
    carried_pct: Option<f64>,
    /// Median tile, classify and render ms (builds that report them).
    stages: Option<[f64; 3]>,
}

/// The number just before `marker` in `line` (`"12 dropped"` -> 12 for `" dropped"`).
pub(super) fn number_before(line: &str, marker: &str) -> Option<f64> {
    let head = &line[..line.find(marker)?];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    head[start..].parse().ok()
}

/// The number just after `marker` in `line`.
fn number_after(line: &str, marker: &str) -> Option<f64> {
    let tail = &line[line.find(marker)? + marker.len()..];
    let end = tail
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(tail.len());
    tail[..end].parse().ok()
}

impl Report {
    /// Reads the end-of-run lines an emojicam live run writes to stderr.
    fn parse(stderr: &str) -> Option<Self> {
        let mut report: Option<Report> = None;
        // The recording is reported once, when it is saved (before the run's summary).
        let mut recorder_dropped = None;
        for line in stderr.lines() {
            let Some(line) = line.strip_prefix("emojicam: ") else {
                continue;
            };
            if line.contains(" frames in ") && line.contains(" dropped by capture") {
                let mut r = Report {
                    frames: number_before(line, " frames in ")? as u64,
                    fps: number_before(line, " fps)")?,
                    dropped: number_before(line, " dropped by capture")? as u64,
                    dropped_starting: number_before(line, " while starting up").unwrap_or(0.0) as u64,
                    ..Report::default()
                };
                if let (Some(m), Some(p)) = (number_after(line, "latency median "), number_after(line, " p99 ")) {
                    r.latency = Some((m, p));
                }
                r.adapted = number_before(line, " frames adapted").map(|n| n as u64);
                r.carried_pct = number_before(line, "% of changed tiles carried");
                if let (Some(t), Some(c), Some(d)) = (
                    number_after(line, "stage medians tile "),
                    number_after(line, ", classify "),
                    number_after(line, ", render "),
                ) {
                    r.stages = Some([t, c, d]);
                }
                report = Some(r);
            } else if line.starts_with("saved recording ") && line.contains(" frames") {
                recorder_dropped = Some(number_before(line, " dropped: the recording").unwrap_or(0.0) as u64);
            }
        }
        report.map(|r| Report {
            recorder_dropped: recorder_dropped.or(r.recorder_dropped),
            ..r
        })
    }
}

/// Writes (once) the input's frames at `w` x `h` as a 30 fps H.264 clip.
pub(super) fn make_clip(dir: &Path, stem: &str, source: &[Frame], (w, h): (u32, u32)) -> Result<PathBuf> {
    let clip = dir.join(format!("live-{stem}-{}-{w}x{h}.mp4", source.len()));
    if clip.exists() {
        return Ok(clip);
    }
    let info = emojicam::StreamInfo {
        kind: emojicam::StreamKind::Video,
        width: w,
        height: h,
        rate: Some(emojicam::Rate::new(30, 1)),
        frames: Some(source.len() as u64),
        description: "bench clip".into(),
    };
    let none: std::sync::Arc<[String]> = Vec::new().into();
    // Written under a temporary name: a clip cut short is never reused.
    let partial = dir.join(format!("partial-{}-{w}x{h}.mp4", std::process::id()));
    let mut sink = sink::create(&partial, &info, none.clone(), none)?;
    for (i, f) in source.iter().enumerate() {
        let stamp = Stamp::new(i as u64, None);
        let frame = MosaicFrame {
            stamp,
            ..MosaicFrame::default()
        };
        sink.write(&frame, Some(&super::bench_input::resize(f, w, h)?))?;
    }
    sink.finish()?;
    std::fs::rename(&partial, &clip).with_context(|| format!("moving {} into place", clip.display()))?;
    Ok(clip)
}

/// Runs `binary` live on `clip` for `seconds` and reads its report.
fn run_once(binary: &Path, clip: &Path, mode: Mode, seconds: f64, args: &BenchArgs, out: &Path) -> Result<Report> {
    let mut cmd = Command::new(binary);
    cmd.arg("--input")
        .arg(clip)
        .args(["--fps", "30", "--duration", &seconds.to_string()])
        .args(["--tile", &args.tile.to_string(), "--adapter", &args.adapter]);
    pass_threads(&mut cmd, args);
    if mode == Mode::Record {
        let _ = std::fs::remove_file(out);
        cmd.arg("--no-window").arg("--record").arg(out);
    }
    // Start-up plus the run plus finishing the recording; a hung run is killed.
    let (status, text) = run_child(&mut cmd, binary, Duration::from_secs_f64(seconds + 120.0))?;
    let _ = std::fs::remove_file(out);
    Report::parse(&text).with_context(|| {
        format!(
            "{} ({status}) reported no run:\n{}",
            binary.display(),
            text.lines().rev().take(8).collect::<Vec<_>>().join("\n")
        )
    })
}

/// The bench's `--threads`, when given, for a run of an emojicam binary.
pub(super) fn pass_threads(cmd: &mut Command, args: &BenchArgs) {
    if let Some(threads) = args.threads {
        cmd.args(["--threads", &threads.to_string()]);
    }
}

/// Runs `cmd` (stdin and stdout closed) until it exits, or kills it after `limit`: its exit
/// status and everything it wrote to stderr.
pub(super) fn run_child(
    cmd: &mut Command,
    binary: &Path,
    limit: Duration,
) -> Result<(std::process::ExitStatus, String)> {
    let deadline = Instant::now() + limit;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok((status, reader.join().unwrap_or_default()))
}

fn row(size: (u32, u32), mode: Mode, who: &str, r: &Report) {
    let latency = r.latency.map_or("-".to_string(), |(m, p)| format!("{m:.1} / {p:.1}"));
    let recorder = r.recorder_dropped.map_or("-".to_string(), |d| d.to_string());
    let adapted = match (r.adapted, r.carried_pct) {
        (Some(d), Some(p)) => format!("{d} ({p:.1}% carried)"),
        (Some(d), None) => d.to_string(),
        _ => "-".to_string(),
    };
    let stages = r
        .stages
        .map_or("-".to_string(), |[t, c, d]| format!("{t:.1} / {c:.1} / {d:.1}"));
    emojicam::outln!(
        "| {}x{} | {} | {who} | {} | {:.1} | {} | {latency} | {recorder} | {adapted} | {stages} |",
        size.0,
        size.1,
        mode.name(),
        r.frames,
        r.fps,
        r.dropped.saturating_sub(r.dropped_starting),
    );
}

/// The live runs at every size: window (when there is a display) and recording, this binary
/// and `--live-against` taking turns, `--live-repeat` rounds.
pub fn live_runs(args: &BenchArgs, sizes: &[(u32, u32)]) -> Result<()> {
    let dir = super::bench_input::bench_dir()?;
    let source = super::bench_input::load_frames(args.input.as_deref(), 150)?;
    let stem = args
        .input
        .as_deref()
        .and_then(|p| p.file_stem())
        .map_or("demo".to_string(), |s| s.to_string_lossy().into_owned());
    let this = std::env::current_exe().context("cannot find this program")?;
    let mut binaries = vec![("this build".to_string(), this)];
    if let Some(other) = &args.live_against {
        binaries.push((other.display().to_string(), other.clone()));
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    let modes: Vec<Mode> = if display {
        vec![Mode::Window, Mode::Record]
    } else {
        vec![Mode::Record]
    };
    emojicam::outln!();
    emojicam::outln!(
        "live runs: {} played as a 30 fps camera ({} frames re-timed to 30 fps, scaled to each size), {:.0} s each{}",
        stem,
        source.len(),
        args.live_seconds,
        if display { "" } else { " (no display: no window runs)" }
    );
    emojicam::outln!("| size | mode | binary | frames | fps | dropped after start-up | latency median / p99 ms | dropped by the recorder | frames adapted | tile / classify / render ms, medians |");
    emojicam::outln!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &size in sizes {
        let clip = make_clip(&dir, &stem, &source, size)?;
        for &mode in &modes {
            for _ in 0..args.live_repeat.max(1) {
                for (who, binary) in &binaries {
                    let out = dir.join(format!("live-{}-{}x{}-mosaic.mp4", std::process::id(), size.0, size.1));
                    let report = run_once(binary, &clip, mode, args.live_seconds, args, &out)?;
                    row(size, mode, who, &report);
                }
            }
        }
    }
    emojicam::outln!("(fps from the first mosaic to the last; dropped after start-up: frames the capture replaced before they were taken, once the first two were out; latency from capture to the mosaic ready (window: presented); frames adapted: frames whose changed tiles did not all fit the classify budget, the rest carried to the next frame (in brackets: the share of the changed tiles carried, where the build reports it); stage medians: tile = upload + tile + readback, render = for the recorder and the window's draw and present, per frame after the first)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_threads_go_to_the_runs_it_starts() {
        use clap::Parser;
        let passed = |extra: &[&str]| {
            let cli = crate::cli::Cli::try_parse_from(["emojicam", "bench"].iter().chain(extra)).expect("parses");
            let Some(crate::cli::Command::Bench(args)) = cli.command else {
                panic!("not the bench: {cli:?}")
            };
            let mut cmd = Command::new("emojicam");
            pass_threads(&mut cmd, &args);
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(passed(&["--threads", "3"]), ["--threads", "3"]);
        assert!(passed(&[]).is_empty(), "the runs keep their own default");
    }

    #[test]
    fn reads_the_end_of_run_report() {
        let text = "emojicam: source x (1920x1080 at 30 fps)\n\
            emojicam: recording to a.mp4 at 30 fps\n\
            emojicam: saved recording a.mp4: 180 frames (2 dropped: the recording fell behind)\n\
            emojicam: 190 frames in 7.5 s (29.8 fps), 12 dropped by capture (9 while starting up); latency median 15.2 ms, p99 30.5 ms\n";
        let r = Report::parse(text).expect("a report");
        assert_eq!(r.frames, 190);
        assert_eq!(r.fps, 29.8);
        assert_eq!((r.dropped, r.dropped_starting), (12, 9));
        assert_eq!(r.latency, Some((15.2, 30.5)));
        assert_eq!(r.recorder_dropped, Some(2));
        assert_eq!((r.adapted, r.stages), (None, None));
        let plain = "emojicam: 10 frames in 1.0 s (9.0 fps), 0 dropped by capture; latency median 15.2 ms, p99 \
            30.5 ms; stage medians tile 2.1, classify 6.5, render 4.0 ms; 3 frames adapted (the tiles that \
            changed most first, the rest a frame later; 4.5% of changed tiles carried)\n";
        let r = Report::parse(plain).expect("a report");
        assert_eq!((r.frames, r.dropped, r.dropped_starting), (10, 0, 0));
        assert_eq!(r.stages, Some([2.1, 6.5, 4.0]));
        assert_eq!(r.adapted, Some(3));
        assert_eq!(r.carried_pct, Some(4.5));
    }
}
