//! The window on a software adapter (llvmpipe, no GPU): the window's pixels are drawn into a
//! texture of the window's size, read back (a software adapter's memory is host memory, so the
//! copy is a plain memcpy) and put on screen by `softbuffer`, which uses a MIT-SHM shared
//! buffer where the X server has the extension. Mesa's software Vulkan presentation uses
//! MIT-SHM only where the server also has DRI3, which Xvfb and VNC servers lack: there it
//! sends the whole frame through the X socket (`PutImage`, 3.7 MB a frame at 1280x720).
//! A real GPU keeps the wgpu surface. `EMOJICAM_SOFT_PRESENT=0` turns this path off.
//!
//! Where the window shows the mosaic alone, a frame reads back and presents only the rows of
//! the tiles the renderer redrew (softbuffer's one buffer still holds the rest from the last
//! frame), with a whole frame at least every `WHOLE_EVERY` frames; `EMOJICAM_SOFT_DAMAGE=0`
//! presents every frame whole.

use std::num::NonZeroU32;
use std::sync::Arc;

use winit::window::Window;

use crate::error::{Error, Result};
use crate::gpu::{GpuContext, TextureReadback};

/// The format the window texture is drawn in: B, G, R, A bytes, which read as the `0RGB`
/// words softbuffer takes on a little-endian machine (X ignores the top byte at depth 24).
pub const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Bgra8Unorm;

/// softbuffer's surface on the window, and the window-sized texture and its readback.
pub struct SoftPresent {
    surface: softbuffer::Surface<Arc<Window>, Arc<Window>>,
    /// The window's pixels, its view, and the readback buffer sized for it.
    target: Option<(wgpu::Texture, wgpu::TextureView, TextureReadback)>,
    /// Whether a mosaic that fills the window with nothing drawn over it is read back as it
    /// is, without its copy into the window's texture (`EMOJICAM_SOFT_DIRECT=0`: always copied).
    pub direct: bool,
    /// Whether a frame that changed only some rows of the last one reads back and presents only
    /// those (`EMOJICAM_SOFT_DAMAGE=0`: every frame whole).
    damage: bool,
    /// The texture the last frame was read back from, and frames presented since the last whole one.
    last: Option<(wgpu::Texture, u32)>,
    /// The rows the frame in flight reads back, `[first, end)`; `None`: all of them.
    bands: Option<Vec<[u32; 2]>>,
}

/// A whole frame at least this often (frames), so that whatever else reached the window (an
/// expose the partial presents would not repaint) lasts at most about a second.
const WHOLE_EVERY: u32 = 30;

impl SoftPresent {
    /// The software present for `window` when the adapter is a CPU one, the surface's format
    /// is [`FORMAT`] and it is not switched off; `None` otherwise, or where softbuffer cannot
    /// work with the window (then the wgpu surface presents).
    pub fn new(window: &Arc<Window>, gpu: &GpuContext, format: wgpu::TextureFormat) -> Option<Self> {
        let cpu = gpu.adapter().get_info().device_type == wgpu::DeviceType::Cpu;
        let off = std::env::var("EMOJICAM_SOFT_PRESENT").is_ok_and(|v| v == "0");
        if !cpu || off || format != FORMAT || cfg!(target_endian = "big") {
            return None;
        }
        let context = softbuffer::Context::new(window.clone()).ok()?;
        let surface = softbuffer::Surface::new(&context, window.clone()).ok()?;
        let direct = !std::env::var("EMOJICAM_SOFT_DIRECT").is_ok_and(|v| v == "0");
        let damage = !std::env::var("EMOJICAM_SOFT_DAMAGE").is_ok_and(|v| v == "0");
        Some(Self {
            surface,
            target: None,
            direct,
            damage,
            last: None,
            bands: None,
        })
    }

    /// The window-sized texture to draw the frame into (remade when the size changed).
    pub fn target(&mut self, gpu: &GpuContext, (w, h): (u32, u32)) -> (wgpu::Texture, wgpu::TextureView) {
        let (w, h) = (w.max(1), h.max(1));
        if self
            .target
            .as_ref()
            .is_some_and(|(t, ..)| (t.width(), t.height()) != (w, h))
        {
            self.target = None;
        }
        let (texture, view, _) = self.target.get_or_insert_with(|| {
            let texture = crate::gpu::texture_2d(
                &gpu.device,
                "window",
                (w, h),
                FORMAT,
                wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_DST | wgpu::TextureUsages::COPY_SRC,
            );
            let view = texture.create_view(&Default::default());
            let readback = TextureReadback::new(&gpu.device, "window", (w, h));
            (texture, view, readback)
        });
        (texture.clone(), view.clone())
    }

    /// Records the copy of `source` (the window's texture, or a [`FORMAT`] texture of its
    /// size that holds the whole window) into the readback buffer and asks for it to be mapped
    /// once `encoder` has run (after the frame's draw, before submitting). `changed`: the only
    /// rows of `source` that changed since the last frame read back from it (`[first, end)`
    /// bands), where that is known; then only those are read back and presented, when the last
    /// frame came from `source` too and a whole frame was presented recently.
    pub fn record_readback(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        source: &wgpu::Texture,
        changed: Option<&[[u32; 2]]>,
    ) -> Result<()> {
        let Some((target, _, readback)) = self.target.as_mut() else {
            return Err(Error::gpu("the window's texture was not made before its readback"));
        };
        let (w, h) = (target.width(), target.height());
        if (source.width(), source.height(), source.format()) != (w, h, FORMAT) {
            return Err(Error::gpu("the window's readback source does not match the window"));
        }
        let partial = match (&self.last, changed) {
            (Some((last, n)), Some(bands)) if self.damage && last == source && *n < WHOLE_EVERY => {
                readback.copy_bands_on_submit(encoder, source, bands)?;
                self.bands = Some(bands.to_vec());
                *n + 1
            }
            _ => {
                readback.copy_on_submit(encoder, source)?;
                self.bands = None;
                0
            }
        };
        self.last = Some((source.clone(), partial));
        Ok(())
    }

    /// Waits for the submitted frame, copies it into softbuffer's buffer and presents it.
    pub fn present(&mut self, gpu: &GpuContext) -> Result<()> {
        let Some((texture, _, readback)) = self.target.as_mut() else {
            return Ok(());
        };
        let (w, h) = (texture.width(), texture.height());
        let (Some(nw), Some(nh)) = (NonZeroU32::new(w), NonZeroU32::new(h)) else {
            return Ok(());
        };
        let soft = |e: softbuffer::SoftBufferError| Error::display(format!("cannot present the window: {e}"));
        self.surface.resize(nw, nh).map_err(soft)?;
        let mut buffer = self.surface.buffer_mut().map_err(soft)?;
        let Some(bands) = self.bands.take() else {
            let mut rows = buffer.chunks_exact_mut(w as usize);
            readback.read_rows(gpu, |src| {
                if let Some(dst) = rows.next() {
                    put_row(dst, src);
                }
            })?;
            return buffer.present().map_err(soft);
        };
        if buffer.age() != 1 {
            // The buffer does not hold the last frame: the next one is read back whole.
            self.last = None;
        }
        let width = w as usize;
        readback.read_bands(gpu, &bands, |y, src| {
            if let Some(dst) = buffer.get_mut(y * width..(y + 1) * width) {
                put_row(dst, src);
            }
        })?;
        let damage: Vec<softbuffer::Rect> = bands
            .iter()
            .filter_map(|&[y0, y1]| {
                Some(softbuffer::Rect {
                    x: 0,
                    y: y0,
                    width: nw,
                    height: NonZeroU32::new(y1.min(h).checked_sub(y0)?)?,
                })
            })
            .collect();
        buffer.present_with_damage(&damage).map_err(soft)
    }
}

/// One row of [`FORMAT`] texels as softbuffer's `0RGB` words.
fn put_row(dst: &mut [u32], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
        *d = u32::from_le_bytes([s[0], s[1], s[2], 0]);
    }
}
