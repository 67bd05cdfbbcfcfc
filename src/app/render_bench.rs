//! `emojicam bench`'s offline render runs (`--render-against OTHER`, `--render-only`): the
//! emojicam binary run as a user runs `emojicam render --input CLIP --output OUT.mp4`, on the
//! demo clip as it is and on the handheld footage (as a 1280x720 30 fps H.264 clip, made as the
//! live runs make theirs, which builds from before the GStreamer media layer decode too). Each run
//! is a process of its own; its summary line ("N frames ... in S s, F fps") is read back and
//! the process is timed. With `--render-against OTHER`, another emojicam binary (an earlier
//! build, or a script that runs one) takes turns with this one, first one then the other
//! starting each round, so that whatever else loads the machine weighs on both alike.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::demo::{demo_clip_path, write_once, Existing, HANDHELD_CLIP};
use super::live_bench::{make_clip, number_before};
use super::stats::median;
use crate::cli::BenchArgs;

/// Frames of the handheld footage in its clip (all 145 of it).
const HANDHELD_FRAMES: usize = 150;
/// A render that takes longer than this is killed and reported as failed.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// What one render run reported, and how long its process took.
#[derive(Clone, Debug, PartialEq)]
struct RenderReport {
    frames: u64,
    /// The binary's own count: from opening the input to the output complete.
    seconds: f64,
    fps: f64,
    /// The whole process, start-up (GPU, model) included.
    wall: f64,
}

impl RenderReport {
    /// Reads the summary line `emojicam render` writes to stderr:
    /// `emojicam: 132 frames 1280x720 -> out.mp4 (...) in 6.10 s, 21.6 fps[; ...]`.
    fn parse(stderr: &str, wall: f64) -> Option<Self> {
        let line = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("emojicam: "))
            .find(|l| l.contains(" -> ") && l.contains(" fps"))?;
        let head = &line[..line.find(" -> ")?];
        let tail = &line[line.rfind(") in ")? + 1..];
        Some(Self {
            frames: number_before(head, " frame")? as u64,
            seconds: number_before(tail, " s, ")?,
            fps: number_before(tail, " fps")?,
            wall,
        })
    }
}

/// Runs `binary render` on `clip` into `out` and reads its report; `out` is removed after.
fn run_once(binary: &Path, clip: &Path, args: &BenchArgs, out: &Path) -> Result<RenderReport> {
    let _ = std::fs::remove_file(out);
    let started = Instant::now();
    let mut cmd = Command::new(binary);
    cmd.arg("render")
        .arg("--input")
        .arg(clip)
        .arg("--output")
        .arg(out)
        .args(["--tile", &args.tile.to_string(), "--adapter", &args.adapter]);
    super::live_bench::pass_threads(&mut cmd, args);
    let (status, text) = super::live_bench::run_child(&mut cmd, binary, RUN_LIMIT)?;
    let wall = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(out);
    let report = RenderReport::parse(&text, wall).filter(|_| status.success());
    report.with_context(|| {
        format!(
            "{} render --input {} ({status}) reported no render:\n{}",
            binary.display(),
            clip.display(),
            text.lines().rev().take(8).collect::<Vec<_>>().join("\n")
        )
    })
}

/// The render runs: each footage, `--render-rounds` rounds of this build and
/// `--render-against` (when given) taking turns; a row per run and the ratio per round.
pub fn render_runs(args: &BenchArgs) -> Result<()> {
    let dir = super::bench_input::bench_dir()?;
    let demo = demo_clip_path(&dir, Existing::Replace)?;
    let handheld_source = write_once(&dir, "handheld.mp4", HANDHELD_CLIP, Existing::Replace)?;
    let frames = super::bench_input::load_frames(Some(&handheld_source), HANDHELD_FRAMES)?;
    let handheld = make_clip(&dir, "handheld", &frames, (1280, 720))?;
    let this = std::env::current_exe().context("cannot find this program")?;
    let mut binaries: Vec<(String, PathBuf)> = vec![("this build".to_string(), this)];
    if let Some(other) = &args.render_against {
        binaries.push((other.display().to_string(), other.clone()));
    }
    let rounds = args.render_rounds.max(1);
    emojicam::outln!();
    emojicam::outln!(
        "offline render runs: `emojicam render --input CLIP --output OUT.mp4 --tile {}` (each binary's defaults otherwise), {rounds} round{}{}",
        args.tile,
        if rounds == 1 { "" } else { "s" },
        if binaries.len() > 1 { ", the binaries taking turns" } else { "" }
    );
    emojicam::outln!("| footage | round | binary | frames | s (its own count) | fps | process s | this / other fps |");
    emojicam::outln!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let out = dir.join(format!("render-{}.mp4", std::process::id()));
    let footage = [
        ("demo clip (1280x720, as it is)", demo),
        ("handheld (1280x720 30 fps H.264)", handheld),
    ];
    let mut summary = Vec::new();
    for (name, clip) in &footage {
        let mut fps: Vec<Vec<f64>> = vec![Vec::new(); binaries.len()];
        let mut ratios = Vec::new();
        for round in 1..=rounds {
            let mut order: Vec<usize> = (0..binaries.len()).collect();
            if round % 2 == 0 {
                order.reverse();
            }
            let mut this_round = vec![0.0; binaries.len()];
            for (k, &b) in order.iter().enumerate() {
                let r = run_once(&binaries[b].1, clip, args, &out)?;
                this_round[b] = r.fps;
                fps[b].push(r.fps);
                let ratio = if k + 1 == order.len() && binaries.len() > 1 {
                    let ratio = this_round[0] / this_round[1].max(1e-9);
                    ratios.push(ratio);
                    format!("{ratio:.2}")
                } else {
                    "-".to_string()
                };
                emojicam::outln!(
                    "| {name} | {round} | {} | {} | {:.2} | {:.1} | {:.2} | {ratio} |",
                    binaries[b].0,
                    r.frames,
                    r.seconds,
                    r.fps,
                    r.wall
                );
            }
        }
        summary.push((name, fps, ratios));
    }
    for (name, fps, ratios) in summary {
        let medians: Vec<String> = (binaries.iter().zip(&fps))
            .map(|((who, _), f)| format!("{who} {:.1}", median(f)))
            .collect();
        let ratios: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        emojicam::outln!(
            "{name}: median fps {}{}",
            medians.join(", "),
            if ratios.is_empty() {
                String::new()
            } else {
                format!("; this / other per round {}", ratios.join(", "))
            }
        );
    }
    emojicam::outln!("(fps and s: the binary's own summary line, from opening the input to the output complete; process s: the whole run, start-up included)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_render_summary_line() {
        let text = "emojicam: 1280x720 demo\n\
            emojicam: 132 frames 1280x720 -> /tmp/x frames in 1 s, 2 fps/out.mp4 (128x72 tiles of 10 px, onnx) in 6.10 s, 21.6 fps; sound copied (aac)\n";
        let r = RenderReport::parse(text, 7.5).expect("a report");
        assert_eq!(
            r,
            RenderReport {
                frames: 132,
                seconds: 6.10,
                fps: 21.6,
                wall: 7.5
            }
        );
        let one = "emojicam: 1 frame 64x64 -> a.png (7x7 tiles of 10 px, onnx) in 0.30 s, 3.3 fps\n";
        assert_eq!(RenderReport::parse(one, 1.0).map(|r| r.frames), Some(1));
        assert!(RenderReport::parse("emojicam: error: no such file\n", 1.0).is_none());
    }
}
