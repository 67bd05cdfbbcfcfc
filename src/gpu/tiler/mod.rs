//! Frame -> per-tile 2x2 quadrant means and change (and, when asked for, 10x10 RGB patches),
//! on the GPU, read back with one buffer map per frame.
//!
//! Patch pixel (px, py) of tile (c, r) is the exact area average (fractional pixel coverage
//! included, rounded) of the source rectangle
//! `[c*T + px*T/10, c*T + (px+1)*T/10) x [r*T + py*T/10, r*T + (py+1)*T/10)` clipped to the
//! frame; a patch pixel wholly outside a partial edge tile repeats the last row/column.

use std::sync::Arc;

use super::{
    assert_layout, bind, bind_group, bind_group_layout, buffer, compute_pipeline, dispatch, texture_2d, uniform_buffer,
    wgsl, GpuContext, Readback, WORKGROUP,
};
pub use crate::domain::{quadrant_means, MAX_TILE, MIN_TILE};
use crate::domain::{quads_backdrop, validate_tile, Grid, PATCH, PATCH_BYTES, QUADS_BYTES};
use crate::error::{Error, Result};
use crate::frame::{frame_bytes, Frame, PixelFormat};

/// `Tiles::change` value of a tile that was never accepted as classified (`NEVER` in the shader).
pub const NEVER_CLASSIFIED: u32 = u32::MAX;

// `tiler.wgsl` takes the patch's size in words (`WORDS`) as a pipeline constant, but its row
// functions (10 pixels), packing (two rows in 15 words) and quadrant sums (5x5) are written for
// this patch, and its summary holds 12 bytes of quadrant means: a new patch size needs a new
// shader.
const _: () = assert!(
    PATCH == 10 && QUADS_BYTES == 12,
    "tiler.wgsl is written for 10x10 patches"
);

/// One frame's tiles as read back. Reuse one value across frames: its vectors only grow.
#[derive(Clone, Debug, Default)]
pub struct Tiles {
    /// The grid these tiles cover.
    pub grid: Grid,
    /// `cols * rows` patches of [`PATCH_BYTES`], row-major tiles, each 10x10 RGB row-major,
    /// when the tiler was asked for them ([`Tiler::keep_patches`]); empty otherwise.
    pub patches: Vec<u8>,
    /// Per tile: the largest change of any 2x2-quadrant mean channel (0..255) since the tile
    /// was last accepted, or [`NEVER_CLASSIFIED`].
    pub change: Vec<u32>,
    /// Per tile: the 2x2-quadrant mean colours of its patch, as [`quadrant_means`] computes
    /// them (from the GPU, so that accepting a tile costs no pass over its pixels). Without
    /// patches, whole tiles of even size take the exact mean of each quadrant's pixels (within
    /// one level of the patch's), and an I420 frame's means are taken in Y'CbCr and converted
    /// to RGB once each (within rounding of the RGB ones where no pixel clips): `tiler.wgsl`.
    pub means: Vec<[u8; 12]>,
}

impl Tiles {
    pub fn len(&self) -> usize {
        self.grid.tiles()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tile `tile`'s patch; only when the tiler was asked for patches ([`Tiler::keep_patches`]).
    pub fn patch(&self, tile: usize) -> &[u8] {
        &self.patches[tile * PATCH_BYTES..(tile + 1) * PATCH_BYTES]
    }

    /// Every tile's backdrop ([`quads_backdrop`] of its quadrant means), for the `tile` background.
    pub fn backdrops(&self, out: &mut Vec<[u8; 3]>) {
        out.clear();
        out.extend(self.means.iter().map(quads_backdrop));
    }

    /// Every tile's quadrant means as one byte slice, 12 bytes a tile (a classifier's
    /// [`crate::classify::Input::Quads`] batch).
    pub fn means_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.means)
    }

    /// Indices of tiles that changed by more than `threshold` (or were never classified).
    pub fn changed(&self, threshold: u32) -> impl Iterator<Item = u32> + '_ {
        self.change
            .iter()
            .enumerate()
            .filter(move |(_, &d)| d > threshold)
            .map(|(i, _)| i as u32)
    }
}

/// The shader's FORMAT for frames in `format`.
fn format_constant(format: PixelFormat) -> u32 {
    match format {
        PixelFormat::Rgba => 0,
        PixelFormat::I420(_) => 1,
    }
}

/// A tile's entry in the tiler's reference: its quadrant means and "classified".
fn reference(q: &[u8; 12]) -> Reference {
    let word = |i: usize| u32::from_le_bytes([q[i], q[i + 1], q[i + 2], q[i + 3]]);
    [word(0), word(4), word(8), 1]
}

/// 8 where the shader's `eight10` may sum eight tiles in one invocation (`allowed`, an I420
/// frame without patches, 10 px tiles, a width that is a multiple of 32: every row of eight
/// tiles starts on a texel), else 1.
fn tiles_per_invocation(allowed: bool, format: PixelFormat, grid: &GridBuffers) -> u32 {
    let eligible = matches!(format, PixelFormat::I420(_))
        && !grid.keep_patches
        && grid.grid.tile == 10
        && grid.grid.src_width.is_multiple_of(32);
    if allowed && eligible {
        8
    } else {
        1
    }
}

/// Workgroups to dispatch for `grid`, after writing into `params` how many tiles one
/// invocation sums ([`tiles_per_invocation`]) where that changed.
fn workgroups(
    queue: &wgpu::Queue,
    params: &wgpu::Buffer,
    grid: &mut GridBuffers,
    allowed: bool,
    format: PixelFormat,
) -> u32 {
    let group = tiles_per_invocation(allowed, format, grid);
    if grid.values.group != group {
        grid.values.group = group;
        queue.write_buffer(params, 0, bytemuck::bytes_of(&grid.values));
    }
    let Grid { cols, rows, .. } = grid.grid;
    (cols.div_ceil(group) * rows).div_ceil(WORKGROUP)
}

/// Texels (16 bytes each) per row of the tiler's frame texture (`FRAME_ROW` in the shader).
const FRAME_ROW: u32 = 1024;
const FRAME_ROW_BYTES: usize = FRAME_ROW as usize * 16;

/// Writes `data` into the frame texture, 16 bytes a texel, [`FRAME_ROW`] texels a row; the
/// last part row is written on its own, from a copy padded with zeros to whole texels.
fn write_frame(queue: &wgpu::Queue, texture: &wgpu::Texture, data: &[u8]) {
    let full = data.len() / FRAME_ROW_BYTES;
    let write = |bytes: &[u8], y: u32, width: u32, height: u32| {
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d { x: 0, y, z: 0 },
                aspect: wgpu::TextureAspect::All,
            },
            bytes,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(width * 16),
                rows_per_image: Some(height),
            },
            wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
        );
    };
    if full > 0 {
        write(&data[..full * FRAME_ROW_BYTES], 0, FRAME_ROW, full as u32);
    }
    let rest = &data[full * FRAME_ROW_BYTES..];
    if !rest.is_empty() {
        let mut last = rest.to_vec();
        last.resize(rest.len().next_multiple_of(16), 0);
        write(&last, full as u32, (last.len() / 16) as u32, 1);
    }
}

/// The frame texture's size for `bytes` of frame: [`FRAME_ROW`] texels wide.
fn frame_texture_size(bytes: u64) -> (u32, u32) {
    let texels = bytes.div_ceil(16);
    (FRAME_ROW, texels.div_ceil(u64::from(FRAME_ROW)).max(1) as u32)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    tile: u32,
    cols: u32,
    rows: u32,
    /// Tiles per invocation: 1, or 8 ([`Tiler::set_group_tiles`]; `group` in the shader).
    group: u32,
    /// I420: bytes per chroma row, and the byte offsets of the U and V planes.
    chroma_width: u32,
    u_offset: u32,
    v_offset: u32,
    _pad1: [u32; 3],
    /// I420: Y offset, Y scale, chroma scale, unused.
    yuv_scale: [f32; 4],
    /// I420: R from Cr, G from Cb, G from Cr (both subtracted), B from Cb.
    yuv_weights: [f32; 4],
}

assert_layout!(Params, size 80, width @ 0, height @ 4, tile @ 8, cols @ 12, rows @ 16,
    chroma_width @ 24, u_offset @ 28, v_offset @ 32, yuv_scale @ 48, yuv_weights @ 64);

impl Params {
    /// The shader's view of `grid` over a frame in `format`.
    fn new(grid: Grid, format: PixelFormat) -> Self {
        let (w, h) = (grid.src_width, grid.src_height);
        let (chroma_width, chroma_bytes) = (w.div_ceil(2), w.div_ceil(2) * h.div_ceil(2));
        let (scale, weights) = match format {
            PixelFormat::Rgba => ([0.0; 3], [0.0; 4]),
            PixelFormat::I420(yuv) => yuv.coefficients(),
        };
        Self {
            width: w,
            height: h,
            tile: grid.tile,
            cols: grid.cols,
            rows: grid.rows,
            group: 1,
            chroma_width,
            u_offset: w * h,
            v_offset: w * h + chroma_bytes,
            _pad1: [0; 3],
            yuv_scale: [scale[0], scale[1], scale[2], 0.0],
            yuv_weights: weights,
        }
    }
}

/// The frame as the tiler reads it, its bytes as they are, 16 to a texel of an Rgba32Uint
/// texture ([`FRAME_ROW`] texels a row): RGBA8 (one word per pixel) or I420 planes (1.5 bytes
/// per pixel, converted to RGB by the shader).
struct FrameBuffer {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    width: u32,
    height: u32,
    format: PixelFormat,
    /// An Rgba8Unorm copy for showing the original, uploaded only when asked for.
    preview: Option<(wgpu::Texture, wgpu::TextureView)>,
}

/// The frame texture and the buffers of the grid over it, made together, so that neither can be
/// found missing when a frame is tiled: the frame texture is remade when the frame's size or
/// layout changes (and the grid buffers with it, as they bind its view), the grid buffers alone
/// when the tile size or [`Tiler::keep_patches`] changes.
struct Resources {
    frame: FrameBuffer,
    grid: GridBuffers,
}

/// Per tile: the quadrant means of the patch last classified (12 bytes) and a nonzero last
/// word when there is one; `reference` in `tiler.wgsl`.
type Reference = [u32; 4];

/// Buffers sized for one grid (frame size + tile size).
struct GridBuffers {
    grid: Grid,
    /// Whether `patches` holds the patches (else it is a 4-byte placeholder).
    keep_patches: bool,
    patches: wgpu::Buffer,
    /// Per tile the reference (uploaded), then per tile the summary (`state` in the shader).
    state: wgpu::Buffer,
    /// Patches, then the summary, copied out for the CPU.
    staging: Readback,
    bind_group: wgpu::BindGroup,
    /// What `params` holds for this grid.
    values: Params,
}

impl GridBuffers {
    fn tiles(&self) -> usize {
        self.grid.tiles()
    }

    /// Bytes of patches read back: none unless asked for.
    fn patch_bytes(&self) -> u64 {
        if self.keep_patches {
            (self.tiles() * PATCH_BYTES) as u64
        } else {
            0
        }
    }
}

pub struct Tiler {
    ctx: Arc<GpuContext>,
    module: wgpu::ShaderModule,
    /// One pipeline per frame layout (the shader's FORMAT: RGBA, I420) and mode (PATCHES and
    /// FAST: without patches, with, without patches the per-pixel way), built on first use
    /// (`get_or_insert_with` in `record`): a run uses one or two of the six, and each
    /// costs a shader compilation (slow on llvmpipe). A cache, never found empty when needed.
    pipelines: [[Option<wgpu::ComputePipeline>; 3]; 2],
    layout: wgpu::BindGroupLayout,
    params: wgpu::Buffer,
    /// The tile size, checked when set ([`Self::new`], [`Self::set_tile`]).
    tile: u32,
    /// What the last frame was tiled with; `None` until the first [`Self::submit`].
    resources: Option<Resources>,
    /// Per tile the quadrant means of the patch last classified. Kept on the CPU and
    /// uploaded with the next frame, so a caller that has already submitted frame N+1 can
    /// still accept frame N's patches.
    reference: Vec<Reference>,
    reference_dirty: bool,
    /// Upload the frame as Rgba8Unorm too (for [`Tiler::frame_view`]).
    keep_preview: bool,
    /// Write and read back every tile's patch ([`Self::keep_patches`]).
    keep_patches: bool,
    /// Without patches, sum the quadrants straight from the frame's bytes ([`Self::set_fast_quads`]).
    fast_quads: bool,
    /// Eight 10 px tiles per invocation where the shader can ([`Self::set_group_tiles`]).
    group_tiles: bool,
}

impl Tiler {
    /// A tiler for tiles of `tile` pixels ([`MIN_TILE`]..=[`MAX_TILE`]).
    pub fn new(ctx: Arc<GpuContext>, tile: u32) -> Result<Self> {
        validate_tile(tile)?;
        let device = &ctx.device;
        let module = wgsl(device, "tiler", include_str!("tiler.wgsl"));
        let layout = bind_group_layout(
            device,
            "tiler",
            &[
                bind::compute(0, bind::texture(wgpu::TextureSampleType::Uint)),
                bind::compute(1, bind::UNIFORM),
                bind::compute(2, bind::storage(false)),
                bind::compute(3, bind::storage(false)),
            ],
        );
        let params = uniform_buffer::<Params>(device, "tiler params");
        Ok(Self {
            ctx,
            module,
            pipelines: Default::default(),
            layout,
            params,
            tile,
            resources: None,
            reference: Vec::new(),
            reference_dirty: false,
            keep_preview: false,
            keep_patches: false,
            fast_quads: true,
            // EMOJICAM_TILER_GROUP=0 switches it off (for measuring).
            group_tiles: std::env::var("EMOJICAM_TILER_GROUP").map_or(true, |v| v.trim() != "0"),
        })
    }

    /// Tiles of `tile` pixels from the next `submit` on (a new grid: every tile counts as
    /// never classified).
    pub fn set_tile(&mut self, tile: u32) -> Result<()> {
        validate_tile(tile)?;
        self.tile = tile;
        Ok(())
    }

    pub fn tile_size(&self) -> u32 {
        self.tile
    }

    /// The size an RGBA picture of `width` x `height` must be scaled to for this tiler (its
    /// tile size, its patches) on this GPU, with at most `classifier_tiles` tiles where the
    /// classifier has a limit of its own ([`rgba_fit`]); `None` when it fits as it is.
    pub fn fit(&self, width: u32, height: u32, classifier_tiles: Option<u64>) -> Option<(u32, u32)> {
        let most = max_tiles(&self.ctx.device, self.keep_patches).min(classifier_tiles.unwrap_or(u64::MAX));
        rgba_fit(&self.ctx.device, width, height, self.tile, most)
    }

    /// Tiles one frame: `submit` then `read`.
    pub fn tile(&mut self, frame: &Frame, out: &mut Tiles) -> Result<()> {
        self.submit(frame)?;
        self.read(out)
    }

    /// Uploads the frame and queues the tiling; returns without waiting, so the caller can
    /// classify the previous frame while the GPU works on this one.
    pub fn submit(&mut self, frame: &Frame) -> Result<()> {
        if self.resources.as_ref().is_some_and(|r| r.grid.staging.is_pending()) {
            return Err(Error::Other(
                "tiler: submit called twice without read in between".into(),
            ));
        }
        if frame.width == 0 || frame.height == 0 {
            return Err(Error::Usage(format!(
                "frame is {}x{}: nothing to tile",
                frame.width, frame.height
            )));
        }
        if !frame.is_complete() {
            return Err(Error::Other(format!(
                "frame of {}x{} has {} bytes, expected {}",
                frame.width,
                frame.height,
                frame.rgba.len(),
                frame_bytes(frame.format, frame.width, frame.height)
            )));
        }
        let mut resources = self.resources_for(frame)?;
        let result = self.record(&mut resources, frame);
        self.resources = Some(resources);
        result
    }

    /// Uploads `frame` into `resources` and submits the tiling pass and its readback.
    fn record(&mut self, resources: &mut Resources, frame: &Frame) -> Result<()> {
        let Resources { frame: tex, grid } = resources;
        let queue = &self.ctx.queue;
        write_frame(queue, &tex.texture, &frame.rgba);
        if let Some((preview, _)) = &tex.preview {
            super::write_texture(queue, preview, &frame.to_rgba().rgba, frame.width * 4);
        }
        if self.reference_dirty {
            queue.write_buffer(&grid.state, 0, bytemuck::cast_slice(&self.reference));
            self.reference_dirty = false;
        }

        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("tiler") });
        let format = format_constant(frame.format);
        let groups = workgroups(
            queue,
            &self.params,
            grid,
            self.group_tiles && self.fast_quads,
            frame.format,
        );
        let patches = u32::from(grid.keep_patches);
        let fast = u32::from(self.fast_quads);
        let mode = match (grid.keep_patches, self.fast_quads) {
            (false, true) => 0,
            (true, _) => 1,
            (false, false) => 2,
        };
        let pipeline = self.pipelines[format as usize][mode].get_or_insert_with(|| {
            let words = (PATCH_BYTES / 4) as u32;
            let constants = [
                ("WORDS", words),
                ("FORMAT", format),
                ("FRAME_ROW", FRAME_ROW),
                ("PATCHES", patches),
                ("FAST", fast),
                ("NEVER", NEVER_CLASSIFIED),
            ];
            compute_pipeline(
                &self.ctx.device,
                "tiler",
                &self.module,
                &self.layout,
                "main",
                &constants,
            )
        });
        dispatch(&mut encoder, "tiler", pipeline, &grid.bind_group, (groups, 1));
        let pb = grid.patch_bytes();
        let summary_bytes = grid.tiles() as u64 * 16;
        if pb > 0 {
            encoder.copy_buffer_to_buffer(&grid.patches, 0, grid.staging.buffer(), 0, pb);
        }
        encoder.copy_buffer_to_buffer(&grid.state, summary_bytes, grid.staging.buffer(), pb, summary_bytes);
        grid.staging.map_on_submit(&mut encoder, pb + summary_bytes)?;
        queue.submit([encoder.finish()]);
        Ok(())
    }

    /// Waits for the frame queued by `submit` and copies its tiles into `out`.
    pub fn read(&mut self, out: &mut Tiles) -> Result<()> {
        let Some(grid) = self
            .resources
            .as_mut()
            .map(|r| &mut r.grid)
            .filter(|g| g.staging.is_pending())
        else {
            return Err(Error::Other("tiler: read called without submit".into()));
        };
        let (pb, tiles) = (grid.patch_bytes() as usize, grid.tiles());
        grid.staging.read(&self.ctx, |view| {
            out.patches.clear();
            out.patches.extend_from_slice(&view[..pb]);
            let summary: &[[u32; 4]] = bytemuck::cast_slice(&view[pb..pb + tiles * 16]);
            out.change.clear();
            out.change.extend(summary.iter().map(|s| s[3]));
            out.means.clear();
            out.means.extend(summary.iter().map(|s| {
                let mut m = [0u8; 12];
                m.copy_from_slice(bytemuck::cast_slice(&s[..3]));
                m
            }));
        })?;
        out.grid = grid.grid;
        Ok(())
    }

    /// Marks these tiles of `classified` (a frame read from this tiler) as classified: their
    /// quadrant means become the reference that later frames' `change` is measured against.
    /// Takes effect from the next `submit`. Tiles of a grid that has since changed (frame or
    /// tile size) are ignored.
    pub fn accept(&mut self, classified: &Tiles, tiles: &[u32]) {
        if !self.same_grid(classified) {
            return;
        }
        for &t in tiles {
            let t = t as usize;
            if let Some(m) = classified.means.get(t) {
                self.reference[t] = reference(m);
                self.reference_dirty = true;
            }
        }
    }

    pub fn accept_all(&mut self, classified: &Tiles) {
        if self.same_grid(classified) {
            for (dst, m) in self.reference.iter_mut().zip(&classified.means) {
                *dst = reference(m);
            }
            self.reference_dirty = true;
        }
    }

    fn same_grid(&self, t: &Tiles) -> bool {
        self.resources
            .as_ref()
            .is_some_and(|r| r.grid.grid == t.grid && t.means.len() == self.reference.len())
    }

    /// Also write and read back every tile's 10x10 patch ([`Tiles::patches`]), for a classifier
    /// that reads patches or a caller that looks at them; off by default (the quadrant means
    /// and change are always read back). Takes effect from the next `submit`; what was accepted
    /// stays the reference.
    pub fn keep_patches(&mut self, keep: bool) {
        self.keep_patches = keep;
    }

    /// Without patches, whole tiles of even size have their quadrant sums straight from the
    /// frame's bytes, and an I420 frame's quadrant means are its Y'CbCr means converted once
    /// each (on by default; see `tiler.wgsl`). Off: every pixel is converted as for a patch, the way
    /// before this path existed; for timing the two in one process.
    #[doc(hidden)]
    pub fn set_fast_quads(&mut self, fast: bool) {
        self.fast_quads = fast;
    }

    /// Let one invocation sum eight 10 px tiles of an I420 frame side by side, reading whole
    /// texels (on by default; the same results; off for comparing, or with
    /// `EMOJICAM_TILER_GROUP=0`). On llvmpipe one invocation per tile fetched three 16-byte
    /// texels for every 10 bytes of a row, gathered across the SIMD lanes.
    pub fn set_group_tiles(&mut self, group: bool) {
        self.group_tiles = group;
    }

    /// Also upload each frame as an Rgba8Unorm texture, for [`Self::frame_view`] (the
    /// window's original-beside view); off by default, as nothing else needs it. An I420
    /// frame is converted to RGBA on the CPU for it ([`Frame::to_rgba`]).
    pub fn keep_frame_view(&mut self, keep: bool) {
        self.keep_preview = keep;
        if !keep {
            if let Some(r) = &mut self.resources {
                r.frame.preview = None;
            }
        }
    }

    /// The last uploaded frame, for showing the original beside the mosaic; None until a
    /// frame was submitted with [`Self::keep_frame_view`] on.
    pub fn frame_view(&self) -> Option<&wgpu::TextureView> {
        self.resources
            .as_ref()
            .and_then(|r| r.frame.preview.as_ref())
            .map(|(_, v)| v)
    }

    /// The resources to tile `frame` with: the last frame's where they fit, else made anew (the
    /// frame texture kept where only the grid changed).
    fn resources_for(&mut self, frame: &Frame) -> Result<Resources> {
        check_limits(&self.ctx.device, frame, self.keep_preview)?;
        let (tile, keep) = (self.tile, self.keep_patches);
        let (tex, old_grid) = match self.resources.take() {
            Some(r) if r.frame.fits(frame) => (r.frame, Some(r.grid)),
            _ => (FrameBuffer::new(&self.ctx.device, frame), None),
        };
        let tex = tex.with_preview(&self.ctx.device, self.keep_preview);
        let same_grid = match old_grid {
            Some(grid) if grid.grid.tile == tile && grid.keep_patches == keep => {
                return Ok(Resources { frame: tex, grid });
            }
            Some(grid) => grid.grid.tile == tile,
            None => false,
        };
        let grid = Grid::new(frame.width, frame.height, tile);
        let params = Params::new(grid, frame.format);
        let shader = (&self.params, &params);
        let buffers = GridBuffers::new(&self.ctx, &self.layout, shader, &tex.view, (grid, keep))?;
        if same_grid {
            // Only the patches were switched on or off: the reference stays, uploaded again.
            self.reference_dirty = true;
        } else {
            // New buffers are zeroed: no tile has a reference yet.
            self.reference.clear();
            self.reference.resize(grid.tiles(), [0; 4]);
            self.reference_dirty = false;
        }
        Ok(Resources {
            frame: tex,
            grid: buffers,
        })
    }
}

/// The most tiles one grid may have on `device`: each tile's share of the tiler's buffers
/// (its patch, when `patches` are kept, and its 32 bytes of state and summary) within the
/// buffer limits, and one compute invocation per tile within the dispatch limit.
pub fn max_tiles(device: &wgpu::Device, patches: bool) -> u64 {
    let limits = device.limits();
    let by_dispatch = u64::from(limits.max_compute_workgroups_per_dimension) * u64::from(WORKGROUP);
    let by_buffer = limits.max_buffer_size / (if patches { PATCH_BYTES as u64 } else { 0 } + 32);
    let by_binding = if patches {
        limits.max_storage_buffer_binding_size / PATCH_BYTES as u64
    } else {
        u64::MAX
    };
    by_dispatch.min(by_buffer).min(by_binding)
}

/// The size an RGBA picture of `width` x `height` must be scaled to (aspect kept) for this GPU
/// to tile it in tiles of `tile` pixels, at most `max_tiles` of them ([`max_tiles`], or fewer
/// where the classifier takes fewer), and draw its mosaic at that size: each side within its
/// texture limit, the bytes within the tiler's frame texture. `None` when it fits as it is.
pub fn rgba_fit(device: &wgpu::Device, width: u32, height: u32, tile: u32, max_tiles: u64) -> Option<(u32, u32)> {
    rgba_fit_within(device.limits().max_texture_dimension_2d, width, height, tile, max_tiles)
}

/// [`rgba_fit`] for a GPU whose texture sides go up to `max_side` (before the GPU is known:
/// `wgpu::Limits::default()`'s 8192 is what every desktop adapter offers at least).
pub fn rgba_fit_within(max_side: u32, width: u32, height: u32, tile: u32, max_tiles: u64) -> Option<(u32, u32)> {
    let max_dim = u64::from(max_side.max(1));
    let max_pixels = max_dim * FRAME_ROW_BYTES as u64 / 4;
    let t = u64::from(tile.max(1));
    let fits = |w: u64, h: u64| {
        w <= max_dim && h <= max_dim && w * h <= max_pixels && w.div_ceil(t) * h.div_ceil(t) <= max_tiles
    };
    let (w, h) = (u64::from(width), u64::from(height));
    if fits(w, h) {
        return None;
    }
    let by_side = max_dim as f64 / w.max(h) as f64;
    let by_pixels = (max_pixels as f64 / (w * h) as f64).sqrt();
    let by_tiles = ((max_tiles * t * t) as f64 / (w * h) as f64).sqrt();
    let mut scale = by_side.min(by_pixels).min(by_tiles);
    loop {
        let fit = |v: u64| ((v as f64 * scale).floor() as u64).clamp(1, max_dim);
        let (fw, fh) = (fit(w), fit(h));
        // Partial tiles at the edges count whole: shrink on until the grid fits too.
        if fits(fw, fh) || (fw, fh) == (1, 1) {
            return Some((fw as u32, fh as u32));
        }
        scale *= 0.995;
    }
}

/// Refuses a frame this GPU cannot hold: its bytes as the tiler's frame texture, and (when the
/// frame is kept for showing) its size as a texture of its own.
fn check_limits(device: &wgpu::Device, frame: &Frame, keep_preview: bool) -> Result<()> {
    let (width, height) = (frame.width, frame.height);
    let bytes = frame_bytes(frame.format, width, height) as u64;
    let max_dim = device.limits().max_texture_dimension_2d;
    if frame_texture_size(bytes).1 > max_dim {
        return Err(Error::GpuLimit(format!(
            "frame {width}x{height} ({bytes} bytes) exceeds this GPU's limit of {} bytes",
            u64::from(max_dim) * FRAME_ROW_BYTES as u64
        )));
    }
    if keep_preview && (width > max_dim || height > max_dim) {
        return Err(Error::GpuLimit(format!(
            "frame {width}x{height} exceeds this GPU's texture limit of {max_dim} px"
        )));
    }
    Ok(())
}

impl FrameBuffer {
    /// A frame texture for frames of `frame`'s size and layout (checked by [`check_limits`]).
    fn new(device: &wgpu::Device, frame: &Frame) -> Self {
        let bytes = frame_bytes(frame.format, frame.width, frame.height) as u64;
        let texture = texture_2d(
            device,
            "tiler frame",
            frame_texture_size(bytes),
            wgpu::TextureFormat::Rgba32Uint,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        );
        let view = texture.create_view(&Default::default());
        Self {
            texture,
            view,
            width: frame.width,
            height: frame.height,
            format: frame.format,
            preview: None,
        }
    }

    /// Whether frames of `frame`'s size and layout go into this texture.
    fn fits(&self, frame: &Frame) -> bool {
        (self.width, self.height, self.format) == (frame.width, frame.height, frame.format)
    }

    /// This buffer with the Rgba8Unorm preview texture, when it is to be `kept` and not there yet.
    fn with_preview(mut self, device: &wgpu::Device, kept: bool) -> Self {
        if kept && self.preview.is_none() {
            let t = texture_2d(
                device,
                "frame preview",
                (self.width, self.height),
                wgpu::TextureFormat::Rgba8Unorm,
                wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            );
            let v = t.create_view(&Default::default());
            self.preview = Some((t, v));
        }
        self
    }
}

impl GridBuffers {
    /// Every buffer and the bind group for tiling `frame` (the tiler's frame buffer)
    /// into `grid`; writes `values` into `params`.
    fn new(
        ctx: &GpuContext,
        layout: &wgpu::BindGroupLayout,
        (params, values): (&wgpu::Buffer, &Params),
        frame: &wgpu::TextureView,
        (grid, keep_patches): (Grid, bool),
    ) -> Result<Self> {
        let device = &ctx.device;
        let Grid { cols, rows, tile, .. } = grid;
        let tiles = grid.tiles() as u64;
        let patch_bytes = if keep_patches { tiles * PATCH_BYTES as u64 } else { 0 };
        if tiles > max_tiles(device, keep_patches) {
            return Err(Error::GpuLimit(format!(
                "{cols}x{rows} tiles of {tile} px need {} bytes of tile data ({patch_bytes} of \
                 patches), more than this GPU allows: use a larger --tile",
                patch_bytes + tiles * 32
            )));
        }
        use wgpu::BufferUsages as U;
        let patches = buffer(device, "tiler patches", patch_bytes.max(4), U::STORAGE | U::COPY_SRC);
        let reference_bytes = tiles * std::mem::size_of::<Reference>() as u64;
        let state = buffer(
            device,
            "tiler state",
            reference_bytes + tiles * 16,
            U::STORAGE | U::COPY_DST | U::COPY_SRC,
        );
        let staging = Readback::new(device, "tile", patch_bytes + tiles * 16);
        ctx.queue.write_buffer(params, 0, bytemuck::bytes_of(values));
        let bind_group = bind_group(
            device,
            "tiler",
            layout,
            &[
                wgpu::BindingResource::TextureView(frame),
                params.as_entire_binding(),
                patches.as_entire_binding(),
                state.as_entire_binding(),
            ],
        );
        Ok(Self {
            grid,
            keep_patches,
            patches,
            state,
            staging,
            bind_group,
            values: *values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::AdapterPreference;

    /// A frame this GPU cannot hold is a runtime failure of this machine (exit 1), not a bad
    /// option (exit 2), and the tiler goes on with frames that fit.
    #[test]
    fn a_frame_over_the_gpu_limit_is_a_runtime_failure() {
        let ctx = GpuContext::new(AdapterPreference::Auto).expect("a GPU adapter (lavapipe at least)");
        let max = ctx.device.limits().max_texture_dimension_2d;
        let mut tiler = Tiler::new(Arc::new(ctx), 10).expect("a tiler");
        tiler.keep_frame_view(true);
        let mut tiles = Tiles::default();
        let wide = Frame::new(max + 1, 1, vec![0; (max as usize + 1) * 4]);
        let err = tiler.tile(&wide, &mut tiles).expect_err("wider than a texture may be");
        assert!(matches!(err, Error::GpuLimit(_)), "{err}");
        assert_eq!(err.exit_code(), 1, "{err}");
        assert!(err.to_string().contains(&format!("texture limit of {max} px")), "{err}");

        let fits = Frame::new(32, 16, vec![128; 32 * 16 * 4]);
        tiler.tile(&fits, &mut tiles).expect("a frame that fits");
        assert_eq!(tiles.grid, Grid::new(32, 16, 10));
        assert_eq!((tiles.means.len(), tiles.change.len()), (8, 8));
        assert!(tiles.means.iter().all(|m| m.iter().all(|&v| v == 128)));
        assert!(tiler.frame_view().is_some());
    }
}
