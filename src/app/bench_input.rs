//! The bench's input: frames decoded from the input file (default: the demo clip), resized.

use anyhow::{Context, Result};

use emojicam::frame::Frame;
use emojicam::source;

/// The bench's working directory (the clips it writes, the renders it measures), kept between runs:
/// `emojicam-bench-UID` in the temporary directory, one per user and private to them, so that two
/// people's benches on one machine neither collide nor read or replace each other's files (a shared
/// `emojicam-bench` made by one user could not be written by the next).
pub fn bench_dir() -> Result<std::path::PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let dir = std::env::temp_dir().join(format!("emojicam-bench-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(e).with_context(|| format!("cannot make the bench's directory {}", dir.display()));
        }
        _ => {}
    }
    let meta = std::fs::symlink_metadata(&dir).with_context(|| format!("{}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        anyhow::bail!(
            "{} is not a directory private to this user: remove it, or set TMPDIR to another directory",
            dir.display()
        );
    }
    Ok(dir)
}

/// Decodes up to `n` frames of the input (default: the demo clip).
pub fn load_frames(input: Option<&std::path::Path>, n: usize) -> Result<Vec<Frame>> {
    let dir = bench_dir()?;
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
