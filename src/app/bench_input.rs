//! The bench's input: frames decoded from the input file (default: the demo clip), resized.

use anyhow::{Context, Result};

use emojicam::frame::Frame;
use emojicam::source;

/// Decodes up to `n` frames of the input (default: the demo clip).
pub fn load_frames(input: Option<&std::path::Path>, n: usize) -> Result<Vec<Frame>> {
    let dir = std::env::temp_dir().join("emojicam-bench");
    let path = match input {
        Some(p) => p.to_path_buf(),
        None => super::demo::demo_clip_path(&dir, super::demo::Existing::Replace)?,
    };
    let mut src = source::open(&path)?;
    let mut frames = Vec::new();
    while frames.len() < n {
        match src.next_frame()? {
            Some(f) => frames.push(f),
            None => break,
        }
    }
    anyhow::ensure!(!frames.is_empty(), "{} has no frames", path.display());
    Ok(frames)
}

pub fn resize(frame: &Frame, w: u32, h: u32) -> Result<Frame> {
    frame.resized(w, h).context("bad frame")
}
