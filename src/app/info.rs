//! Small listing commands: cameras, emoji sets, GPU adapters.

use anyhow::Result;

use emojicam::atlas::Atlas;
use emojicam::source::camera::{describe_modes, FourCc};

pub fn cameras() -> Result<()> {
    let cams = emojicam::source::camera::list_cameras()?;
    if cams.is_empty() {
        return Err(emojicam::Error::camera(
            "no camera found: connect one, check permissions (ls -l /dev/video*; v4l2-ctl --list-devices), or use --input FILE",
        )
        .into());
    }
    for cam in cams {
        emojicam::outln!("{}: {} (/dev/video{})", cam.index, cam.name, cam.index);
        if cam.formats.is_empty() {
            emojicam::outln!("    (no modes: cannot open it, or it has not been given a format yet)");
        } else if !cam.formats.iter().any(|f| f.fourcc.is_decoded()) {
            emojicam::outln!("    (emojicam decodes none of these formats)");
        }
        // Formats without a name here (I420, H.264, vivid's hundred test formats) are named
        // in one line, unless they are all the camera has.
        let (named, other): (Vec<_>, Vec<_>) = cam
            .formats
            .iter()
            .copied()
            .partition(|f| !matches!(f.fourcc, FourCc::Other(_)));
        let listed = if named.is_empty() { &other } else { &named };
        for line in describe_modes(listed) {
            emojicam::outln!("    {line}");
        }
        if !named.is_empty() && !other.is_empty() {
            let mut names: Vec<String> = other.iter().map(|f| f.fourcc.name()).collect();
            names.dedup();
            emojicam::outln!("    (also {}: formats emojicam does not decode)", names.join(", "));
        }
    }
    Ok(())
}

pub fn sets() -> Result<()> {
    let atlas = Atlas::embedded()?;
    for name in atlas.set_names() {
        // Its emoji, not counting the dimmed copies (drawn for dark tiles: `Atlas::plain_count`).
        let n = atlas.allowed_dimmed(name, false)?.iter().filter(|&&a| a).count();
        emojicam::outln!("{name:<16} {n:>5} emoji");
    }
    Ok(())
}

pub fn adapters() -> Result<()> {
    let list = emojicam::gpu::list_adapters();
    if list.is_empty() {
        return Err(emojicam::Error::gpu(
            "no GPU adapter found: install mesa-vulkan-drivers (software Vulkan) or a GPU driver",
        )
        .into());
    }
    for a in list {
        emojicam::outln!("{a}");
    }
    Ok(())
}
