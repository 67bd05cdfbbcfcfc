//! Small listing commands: cameras, emoji sets, GPU adapters.

use anyhow::Result;

use crate::atlas::Atlas;

pub fn cameras() -> Result<()> {
    let cams = crate::source::camera::list_cameras()?;
    if cams.is_empty() {
        return Err(crate::Error::Camera(
            "no camera found: connect one, check permissions (ls -l /dev/video*; v4l2-ctl --list-devices), or use --input FILE".into(),
        )
        .into());
    }
    for cam in cams {
        crate::outln!("{}: {} (/dev/video{})", cam.index, cam.name, cam.index);
        if cam.formats.is_empty() {
            crate::outln!("    (no modes: cannot open it, or no format emojicam knows)");
        }
        for line in crate::source::camera::describe_modes(&cam.formats) {
            crate::outln!("    {line}");
        }
    }
    Ok(())
}

pub fn sets() -> Result<()> {
    let atlas = Atlas::embedded()?;
    for name in atlas.set_names() {
        let n = atlas.allowed(name)?.iter().filter(|&&a| a).count();
        crate::outln!("{name:<16} {n:>5} emoji");
    }
    Ok(())
}

pub fn adapters() -> Result<()> {
    let list = crate::gpu::list_adapters();
    if list.is_empty() {
        return Err(crate::Error::Gpu(
            "no GPU adapter found: install mesa-vulkan-drivers (software Vulkan) or a GPU driver".into(),
        )
        .into());
    }
    for a in list {
        crate::outln!("{a}");
    }
    Ok(())
}
