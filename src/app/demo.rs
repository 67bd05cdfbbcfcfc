//! `emojicam demo`: renders the bundled clip, so a fresh install shows what it does with no
//! camera, no display and no input of your own.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::render::{emoji_strings, render_stream, OutputKind};
use crate::cli::DemoArgs;
use emojicam::pipeline::Pipeline;
use emojicam::sink;
use emojicam::source;

/// Big Buck Bunny, 1280x720, 132 frames (CC BY 3.0, Blender Foundation; assets/demo/LICENSE.md).
pub static DEMO_CLIP: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo/bigbuckbunny.mp4"));

/// Writes the embedded demo clip to `dir` (once) and returns its path.
pub fn demo_clip_path(dir: &std::path::Path, existing: Existing) -> emojicam::Result<PathBuf> {
    write_once(dir, "bigbuckbunny.mp4", DEMO_CLIP, existing)
}

/// Real handheld footage (a water-skier filmed from the boat), 480x288, 25 fps, 145 frames
/// (BSD-3-Clause, from the camocomp package; assets/bench/LICENSE.md): the bench's flicker test.
pub static HANDHELD_CLIP: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/bench/handheld.mp4"));

/// What [`write_once`] does with another file already under the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// A directory of the user's (`demo --out-dir`): their file stays, and the run stops.
    Refuse,
    /// emojicam's own scratch directory (the bench's): an older copy is replaced.
    Replace,
}

/// Writes an embedded file to `dir/name` unless it is already there (the same bytes), through
/// a partial file renamed into place (never half a clip under its name).
pub fn write_once(dir: &std::path::Path, name: &str, bytes: &[u8], existing: Existing) -> emojicam::Result<PathBuf> {
    let path = dir.join(name);
    let same = std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64)
        && std::fs::read(&path).is_ok_and(|b| b == bytes);
    if same {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).map_err(|source| emojicam::Error::Write {
        path: dir.to_path_buf(),
        // "File exists" says nothing of what is wrong with `--out-dir /dev/null`.
        source: if dir.exists() && !dir.is_dir() {
            std::io::Error::other("it is not a directory (the demo's files are written in one)")
        } else {
            source
        },
    })?;
    if existing == Existing::Refuse && std::fs::symlink_metadata(&path).is_ok() {
        return Err(emojicam::Error::Write {
            path: path.clone(),
            source: std::io::Error::other(format!(
                "a file of that name is there and it is not emojicam's {name}: it is left alone (choose another --out-dir)"
            )),
        });
    }
    let (mut file, mut writer) = emojicam::sink::AtomicFile::create(&path)?;
    writer.write_all(bytes).map_err(|source| emojicam::Error::Write {
        path: path.clone(),
        source,
    })?;
    file.commit(writer)?;
    Ok(path)
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let config = super::config(&args.mosaic)?;
    let clip = demo_clip_path(&args.out_dir, Existing::Refuse)?;
    let mut pipeline = Pipeline::with_config(config)?;
    let (text, codes) = emoji_strings(&pipeline);

    let mp4 = args.out_dir.join("demo-emoji.mp4");
    let src = source::open_yuv(&clip)?;
    let info = src.info().clone();
    // With the clip's sound.
    let mut sink: Box<dyn sink::Sink> = Box::new(sink::SinkThread::spawn(
        "output",
        mp4.clone(),
        sink::create_with_audio(&mp4, &info, Some(&clip), text.clone(), codes.clone())?,
        sink::ENCODE_AHEAD,
        sink::Policy::Block,
    )?);
    let summary = render_stream(src, &mut pipeline, sink.as_mut(), None, OutputKind::Stream, true)?;
    sink.finish().context("finishing the demo video")?;

    // One frame as a still, side by side with the original, for a quick look.
    let png = args.out_dir.join("demo-emoji.png");
    let mut src = source::open_yuv(&clip)?;
    let mut frame = None;
    for _ in 0..60 {
        match src.next_frame()? {
            Some(f) => frame = Some(f),
            None => break,
        }
    }
    let frame = frame.context("the demo clip has no frames")?;
    let mosaic = pipeline.classify(&frame, emojicam::Stamp::default())?;
    let image = pipeline.render(&mosaic, None)?;
    let mut sink = sink::create(&png, &info_still(&info), text, codes)?;
    sink.write(&mosaic, Some(&image))?;
    sink.finish()?;

    emojicam::safety::print_line(format_args!("{}", mp4.display()));
    emojicam::safety::print_line(format_args!("{}", png.display()));
    emojicam::note!(
        "emojicam demo: {} frames of {} rendered in {:.1} s ({:.1} fps) with the {} classifier; input {}",
        summary.frames,
        info.description,
        summary.seconds,
        summary.frames as f64 / summary.seconds.max(1e-9),
        pipeline.settings().classifier.name(),
        clip.display()
    );
    Ok(())
}

fn info_still(info: &emojicam::StreamInfo) -> emojicam::StreamInfo {
    emojicam::StreamInfo {
        kind: emojicam::StreamKind::Image,
        rate: None,
        frames: Some(1),
        ..info.clone()
    }
}
