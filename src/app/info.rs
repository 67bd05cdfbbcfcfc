//! Small listing commands: cameras, emoji sets, GPU adapters.

use anyhow::Result;

use emojicam::atlas::Atlas;

pub fn cameras() -> Result<()> {
    let cams = emojicam::source::camera::list_cameras()?;
    if cams.is_empty() {
        return Err(emojicam::Error::Camera(
            "no camera found: connect one, check permissions (ls -l /dev/video*; v4l2-ctl --list-devices), or use --input FILE".into(),
        )
        .into());
    }
    for cam in cams {
        emojicam::outln!("{}: {} (/dev/video{})", cam.index, cam.name, cam.index);
        if cam.formats.is_empty() {
            emojicam::outln!("    (no modes: cannot open it, or no format emojicam knows)");
        }
        for line in emojicam::source::camera::describe_modes(&cam.formats) {
            emojicam::outln!("    {line}");
        }
    }
    Ok(())
}

pub fn sets() -> Result<()> {
    let atlas = Atlas::embedded()?;
    for name in atlas.set_names() {
        let n = atlas.allowed(name)?.iter().filter(|&&a| a).count();
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
