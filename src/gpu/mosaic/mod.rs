//! The renderer's compute path (`mosaic.wgsl`): the atlas pre-scaled once to the
//! on-screen tile size, then one gather per output pixel.
//!
//! On a software rasteriser (lavapipe) the instanced-quad pass spends most of its time in
//! trilinear filtering: eight texel fetches and a level-of-detail blend per pixel. Here each
//! emoji is area-averaged once to exactly the tile's pixel size (which also keeps every tile's
//! mean colour exact), and a frame costs one buffer load and one store per pixel.

use super::{
    assert_layout, bind, bind_group, bind_group_layout, buffer, compute_pipeline, dispatch, texture_2d, uniform_buffer,
    wgsl, write_texture, GpuContext, TileRecord, OFFSCREEN_FORMAT, WORKGROUP,
};
use crate::domain::Grid;
use crate::error::{Error, Result};

/// Largest pre-scaled cell: the atlas's own resolution. Bigger tiles magnify bilinearly.
const MAX_CELL: u32 = 64;
/// Pre-scaled cells: premultiplied RGBA8, read with `textureLoad` (a texel fetch is one
/// vector gather on lavapipe, a storage-buffer load at a per-lane address is not).
const CELL_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// Output rows per invocation of the mosaic pass, as in `mosaic.wgsl`.
const ROWS: u32 = 16;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PrescaleParams {
    size: u32,
    src: u32,
    level: u32,
    columns: u32,
    count: u32,
    _pad: [u32; 3],
}

assert_layout!(PrescaleParams, size 32, size @ 0, src @ 4, level @ 8, columns @ 12, count @ 16);

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MosaicParams {
    width: u32,
    height: u32,
    size: u32,
    columns: u32,
    cols: u32,
    dirty: u32,
    /// 1 when every output pixel samples the texel at its own offset in its tile
    /// ([`Layout::exact`]), so `mosaic_tiles` needs no per-pixel map entry.
    exact: u32,
    _pad: u32,
}

assert_layout!(MosaicParams, size 32, width @ 0, height @ 4, size @ 8, columns @ 12, cols @ 16, dirty @ 20, exact @ 24);

/// Redraw only the tiles whose emoji or background changed when at most this share did. On
/// lavapipe redrawing the changed tiles stayed cheaper than a whole redraw on handheld footage
/// (about half of the tiles change per frame): render + readback of 720p 9-12 ms against
/// 15-34 ms with 0.4 (docs/PERFORMANCE.md), so every known target is redrawn partially.
const PARTIAL_SHARE: f64 = 1.0;

/// Targets whose last drawing is remembered: a window and an offscreen recording target both
/// get partial redraws.
const TARGETS_REMEMBERED: usize = 4;

/// What the pass last drew into a target, so the next frame can redraw only what changed.
struct Drawn {
    target: wgpu::Texture,
    geometry: Geometry,
    size: u32,
    tiles: Vec<TileRecord>,
}

/// Output geometry the maps were built for: a grid drawn at `width` x `height` pixels.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Geometry {
    width: u32,
    height: u32,
    grid: Grid,
}

/// Pixel size of a tile on the output, per axis.
fn tile_pixels(g: &Geometry) -> (f64, f64) {
    (
        g.width as f64 * g.grid.tile as f64 / g.grid.src_width as f64,
        g.height as f64 * g.grid.tile as f64 / g.grid.src_height as f64,
    )
}

/// The pre-scaled cell size for a geometry: the tile's larger pixel size, rounded up.
fn cell_size(g: &Geometry) -> u32 {
    let (tw, th) = tile_pixels(g);
    (tw.max(th).ceil() as u32).clamp(1, MAX_CELL)
}

/// Per output pixel along one axis: which tile it falls in and where in the cell it samples.
/// `out` pixels show `src` source pixels cut into tiles of `tile`; cells are `c` texels.
fn axis_map(out: u32, src: u32, tile: u32, tiles: u32, c: u32, map: &mut Vec<u32>) {
    // Exact integer tile index and position within the tile: pixel centre (x + 0.5) maps to
    // source position (x + 0.5) * src / out, in tile units num / den.
    let den = 2 * out as u64 * tile as u64;
    for x in 0..out as u64 {
        let num = (2 * x + 1) * src as u64;
        let t = ((num / den) as u32).min(tiles - 1);
        let rem = num - t as u64 * den;
        // Texel space of the cell, centre-aligned: s = u * C - 0.5.
        let s = (rem as f64 / den as f64 * c as f64 - 0.5).clamp(0.0, (c - 1) as f64);
        let mut x0 = s.floor() as u32;
        let mut frac = ((s - x0 as f64) * 256.0).round() as u32;
        if frac >= 256 {
            x0 += 1;
            frac = 0;
        }
        let x0 = x0.min(c - 1);
        if x0 + 1 >= c {
            frac = 0;
        }
        map.push(t | (x0 << 16) | (frac << 24));
    }
}

/// Where each tile's pixels start along one axis (from an [`axis_map`]), plus the end.
fn tile_starts(map: &[u32], tiles: u32, out: &mut Vec<u32>) {
    let first = out.len();
    out.resize(first + tiles as usize + 1, map.len() as u32);
    for (x, m) in map.iter().enumerate().rev() {
        out[first + (m & 0xffff) as usize] = x as u32;
    }
    // Tiles that got no pixel start where the next one does.
    for t in (0..tiles as usize).rev() {
        out[first + t] = out[first + t].min(out[first + t + 1]);
    }
}

/// The pixel rows of the tiles `dirty` (row-major indices, ascending, of a grid `cols` wide)
/// as `[first, end)` bands into `out`, rows that touch merged; `row_starts` as [`tile_starts`]
/// makes it for the rows.
fn row_bands(dirty: &[u32], cols: u32, row_starts: &[u32], out: &mut Vec<[u32; 2]>) {
    let cols = cols.max(1);
    for &tile in dirty {
        let r = (tile / cols) as usize;
        let (Some(&y0), Some(&y1)) = (row_starts.get(r), row_starts.get(r + 1)) else {
            continue;
        };
        match out.last_mut() {
            Some(band) if band[1] >= y0 => band[1] = band[1].max(y1),
            _ if y1 > y0 => out.push([y0, y1]),
            _ => {}
        }
    }
}

fn dirty_buffer(device: &wgpu::Device, tiles: u64) -> wgpu::Buffer {
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
    buffer(device, "mosaic dirty tiles", tiles * 4, usage)
}

/// The mosaic pass's pipelines for one output format.
struct Output {
    format: wgpu::TextureFormat,
    layout: wgpu::BindGroupLayout,
    whole: wgpu::ComputePipeline,
    tiles: wgpu::ComputePipeline,
}

impl Output {
    /// The pipelines writing `format` (`Rgba8Unorm`, or `Bgra8Unorm` where the device has
    /// [`wgpu::Features::BGRA8UNORM_STORAGE`]: a window's surface format, so the window copies
    /// the mosaic onto its surface instead of drawing it there with a full-window blit).
    /// `module` is `mosaic.wgsl` with its output binding declared in `format`.
    fn new(device: &wgpu::Device, format: wgpu::TextureFormat, module: &wgpu::ShaderModule) -> Self {
        let float = wgpu::TextureSampleType::Float { filterable: false };
        let uint = wgpu::TextureSampleType::Uint;
        let layout = bind_group_layout(
            device,
            "mosaic",
            &[
                bind::compute(0, bind::texture(float)),
                bind::compute(1, bind::texture(uint)),
                bind::compute(2, bind::texture(uint)),
                bind::compute(3, bind::UNIFORM),
                bind::compute(4, bind::storage_texture(format)),
                bind::compute(5, bind::storage(true)),
            ],
        );
        let pipeline = |entry| compute_pipeline(device, entry, module, &layout, entry, &[("ROWS", ROWS)]);
        Self {
            format,
            whole: pipeline("mosaic"),
            tiles: pipeline("mosaic_tiles"),
            layout,
        }
    }
}

/// The output binding's declaration in `mosaic.wgsl`, whose format [`bgra_module`] replaces.
const OUTPUT_DECL: &str = "var output: texture_storage_2d<rgba8unorm, write>;";

/// `mosaic.wgsl` writing `Bgra8Unorm` (a window surface's format) instead of `Rgba8Unorm`.
fn bgra_module(device: &wgpu::Device) -> wgpu::ShaderModule {
    let source = include_str!("mosaic.wgsl").replace(OUTPUT_DECL, &OUTPUT_DECL.replace("rgba8unorm", "bgra8unorm"));
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("mosaic bgra"),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

pub(crate) struct MosaicPass {
    prescale: Prescale,
    /// Pipelines per output format: `Rgba8Unorm` first, others made on first use.
    outputs: Vec<Output>,
    params: wgpu::Buffer,
    /// The atlas pre-scaled to the cell size last drawn at; `None` until the first frame (the
    /// cell size follows the output size).
    cells: Option<Cells>,
    /// The tile texture and pixel maps for the geometry last drawn at; `None` until the first
    /// frame.
    layout: Option<Layout>,
    /// Scratch for [`Layout::new`]'s maps, reused.
    map_data: Vec<u32>,
    history: History,
    /// The tiles to redraw in a partial frame ([`History::dirty`]), on the GPU.
    dirty_buffer: wgpu::Buffer,
    /// How the last [`Self::encode`] drew: `Some(n)` redrew only n tiles, `None` the whole target.
    redrawn: Option<usize>,
    /// Let `mosaic_tiles` skip the per-pixel maps where the layout is exact ([`Layout::exact`]).
    exact_tiles: bool,
}

impl MosaicPass {
    pub fn new(device: &wgpu::Device) -> Self {
        let module = wgsl(device, "mosaic", include_str!("mosaic.wgsl"));
        Self {
            prescale: Prescale::new(device, &module),
            outputs: vec![Output::new(device, OFFSCREEN_FORMAT, &module)],
            params: uniform_buffer::<MosaicParams>(device, "mosaic params"),
            cells: None,
            layout: None,
            map_data: Vec::new(),
            history: History::default(),
            dirty_buffer: dirty_buffer(device, 1024),
            redrawn: None,
            // EMOJICAM_MOSAIC_EXACT=0 switches the exact path off (for measuring).
            exact_tiles: std::env::var("EMOJICAM_MOSAIC_EXACT").map_or(true, |v| v.trim() != "0"),
        }
    }

    /// Whether a partial redraw may take the exact path where the layout allows it (on by
    /// default: the same pixels; off for comparing).
    pub fn set_exact_tiles(&mut self, exact: bool) {
        self.exact_tiles = exact;
    }

    /// Tiles the last frame redrew: `Some(n)` when it redrew only the n tiles whose emoji or
    /// background changed since that target's last frame (0: nothing to draw), `None` when it
    /// drew the whole target.
    pub fn redrawn(&self) -> Option<usize> {
        self.redrawn
    }

    /// The pixel rows the last frame changed, as `[first, end)` bands of whole tile rows, top
    /// to bottom, adjacent rows merged, into `out`: true when it redrew only the changed tiles
    /// (no band: nothing changed), false when it drew the whole target (`out` left empty).
    pub fn changed_rows(&self, out: &mut Vec<[u32; 2]>) -> bool {
        out.clear();
        let (Some(_), Some(layout)) = (self.redrawn, self.layout.as_ref()) else {
            return false;
        };
        row_bands(&self.history.dirty, layout.geometry.grid.cols, &layout.row_starts, out);
        true
    }

    /// Forget what was drawn (something else drew into the target): the next frame is drawn whole.
    pub fn forget(&mut self) {
        self.history.last.clear();
    }

    /// The index in `outputs` of the pipelines that write `format`, made if they are not made
    /// yet; or refuses a format the device cannot store.
    fn prepare_output(&mut self, device: &wgpu::Device, format: wgpu::TextureFormat) -> Result<usize> {
        let bgra = wgpu::TextureFormat::Bgra8Unorm;
        if format != OFFSCREEN_FORMAT
            && !(format == bgra && device.features().contains(wgpu::Features::BGRA8UNORM_STORAGE))
        {
            return Err(Error::Other(format!("the mosaic pass cannot write {format:?}")));
        }
        if let Some(i) = self.outputs.iter().position(|o| o.format == format) {
            return Ok(i);
        }
        // Only Bgra8Unorm gets here: the Rgba8Unorm pipelines are made first.
        self.outputs.push(Output::new(device, format, &bgra_module(device)));
        Ok(self.outputs.len() - 1)
    }

    /// Records the mosaic of `grid` into `target` (an [`OFFSCREEN_FORMAT`] texture, or a
    /// `Bgra8Unorm` one where the device can store that, with storage binding), covering all of it. `tiles` holds one record per tile, row-major.
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        atlas: &wgpu::TextureView,
        (cell, columns, count): (u32, u32, u32),
        grid: &Grid,
        tiles: &[TileRecord],
        target: &wgpu::Texture,
    ) -> Result<()> {
        self.redrawn = None;
        let (width, height) = (target.width(), target.height());
        let geometry = Geometry {
            width,
            height,
            grid: *grid,
        };
        let output = self.prepare_output(&ctx.device, target.format())?;
        if grid.cols > 0xffff || grid.rows > 0xffff || tiles.len() != grid.tiles() {
            return Err(Error::Other(format!(
                "{} tile records for a {}x{} grid",
                tiles.len(),
                grid.cols,
                grid.rows
            )));
        }
        let c = cell_size(&geometry);
        let cells = match &mut self.cells {
            Some(cells) if cells.size == c => cells,
            slot => slot.insert(self.prescale.cells(ctx, encoder, atlas, (cell, columns, count), c)?),
        };
        let layout = match &mut self.layout {
            Some(layout) if layout.geometry == geometry => layout,
            slot => slot.insert(Layout::new(ctx, geometry, c, &mut self.map_data)),
        };
        let partial = self.history.remember(target, geometry, c, tiles);
        let dirty = &self.history.dirty;
        self.redrawn = partial.then_some(dirty.len());
        if partial && dirty.is_empty() {
            return Ok(());
        }
        let row = grid.cols * std::mem::size_of::<TileRecord>() as u32;
        write_texture(&ctx.queue, &layout.tiles, bytemuck::cast_slice(tiles), row);
        if partial {
            if self.dirty_buffer.size() < dirty.len() as u64 * 4 {
                self.dirty_buffer = dirty_buffer(&ctx.device, (dirty.len() as u64).next_power_of_two());
            }
            ctx.queue
                .write_buffer(&self.dirty_buffer, 0, bytemuck::cast_slice(dirty));
        }
        let params = MosaicParams {
            width,
            height,
            size: c,
            columns,
            cols: grid.cols,
            dirty: dirty.len() as u32,
            exact: u32::from(self.exact_tiles && layout.exact),
            _pad: 0,
        };
        ctx.queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let view = target.create_view(&Default::default());
        let output = &self.outputs[output];
        let bind_group = bind_group(
            &ctx.device,
            "mosaic",
            &output.layout,
            &[
                wgpu::BindingResource::TextureView(&cells.view),
                wgpu::BindingResource::TextureView(&layout.tile_view),
                wgpu::BindingResource::TextureView(&layout.maps),
                self.params.as_entire_binding(),
                wgpu::BindingResource::TextureView(&view),
                self.dirty_buffer.as_entire_binding(),
            ],
        );
        if partial {
            let groups = (dirty.len() as u32).div_ceil(WORKGROUP);
            dispatch(encoder, "mosaic tiles", &output.tiles, &bind_group, (groups, 1));
        } else {
            let groups = (width.div_ceil(WORKGROUP), height.div_ceil(ROWS));
            dispatch(encoder, "mosaic", &output.whole, &bind_group, groups);
        }
        Ok(())
    }
}

/// The prescale entry point of `mosaic.wgsl`: the atlas's cells area-averaged to C texels.
struct Prescale {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    params: wgpu::Buffer,
}

/// The atlas pre-scaled to cells of `size` texels (premultiplied, [`CELL_FORMAT`]).
struct Cells {
    size: u32,
    view: wgpu::TextureView,
}

impl Prescale {
    fn new(device: &wgpu::Device, module: &wgpu::ShaderModule) -> Self {
        let float = wgpu::TextureSampleType::Float { filterable: false };
        let layout = bind_group_layout(
            device,
            "mosaic prescale",
            &[
                bind::compute(0, bind::texture(float)),
                bind::compute(1, bind::UNIFORM),
                bind::compute(2, bind::storage_texture(CELL_FORMAT)),
            ],
        );
        Self {
            pipeline: compute_pipeline(device, "prescale", module, &layout, "prescale", &[("ROWS", ROWS)]),
            params: uniform_buffer::<PrescaleParams>(device, "mosaic prescale params"),
            layout,
        }
    }

    /// Records the pre-scaling of every cell of `atlas` to `c` texels.
    fn cells(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        atlas: &wgpu::TextureView,
        (cell, columns, count): (u32, u32, u32),
        c: u32,
    ) -> Result<Cells> {
        // The finest mip level whose cells are still at least C texels: C <= src < 2C.
        let mut level = 0;
        let mut src = cell;
        while src / 2 >= c && src > 1 {
            src /= 2;
            level += 1;
        }
        let size = (columns * c, count.div_ceil(columns) * c);
        let max = ctx.device.limits().max_texture_dimension_2d;
        if size.0 > max || size.1 > max {
            return Err(Error::GpuLimit(format!(
                "{} cannot hold the emoji pre-scaled to {c} px ({}x{} px)",
                ctx.describe(),
                size.0,
                size.1
            )));
        }
        let view = texture_2d(
            &ctx.device,
            "mosaic cells",
            size,
            CELL_FORMAT,
            wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::TEXTURE_BINDING,
        )
        .create_view(&Default::default());
        let params = PrescaleParams {
            size: c,
            src,
            level,
            columns,
            count,
            _pad: [0; 3],
        };
        ctx.queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let bind_group = bind_group(
            &ctx.device,
            "mosaic prescale",
            &self.layout,
            &[
                wgpu::BindingResource::TextureView(atlas),
                self.params.as_entire_binding(),
                wgpu::BindingResource::TextureView(&view),
            ],
        );
        let groups = ((c * c).div_ceil(WORKGROUP), count);
        dispatch(encoder, "mosaic prescale", &self.pipeline, &bind_group, groups);
        Ok(Cells { size: c, view })
    }
}

/// What drawing one geometry needs besides the cells: the per-tile texture (emoji and
/// background, `cols` x `rows`) and the pixel maps.
struct Layout {
    geometry: Geometry,
    tiles: wgpu::Texture,
    tile_view: wgpu::TextureView,
    /// Four rows: the column map, the row map, where each tile column starts, where each tile
    /// row starts (each with the end appended).
    maps: wgpu::TextureView,
    /// Every output pixel samples its cell at its own offset from its tile's first pixel, with
    /// no blend (tiles of exactly C pixels, e.g. a window at the source size): the map entries
    /// follow from the tile starts.
    exact: bool,
    /// Where each tile row's pixels start, plus the end (the maps' fourth row).
    row_starts: Vec<u32>,
}

/// Whether every entry of an axis `map` samples texel `x - start` of its tile with no
/// fraction (`starts` as [`tile_starts`] makes them).
fn exact_axis(map: &[u32], starts: &[u32]) -> bool {
    map.iter().enumerate().all(|(x, &m)| {
        let start = starts.get((m & 0xffff) as usize).copied().unwrap_or(u32::MAX);
        m >> 24 == 0 && x as u32 >= start && (m >> 16) & 0xff == x as u32 - start
    })
}

impl Layout {
    fn new(ctx: &GpuContext, g: Geometry, c: u32, map_data: &mut Vec<u32>) -> Self {
        let (w, h, grid) = (g.width, g.height, g.grid);
        let len = w.max(h).max(grid.cols + 1).max(grid.rows + 1) as usize;
        let mut rows: [Vec<u32>; 4] = Default::default();
        axis_map(w, grid.src_width, grid.tile, grid.cols, c, &mut rows[0]);
        axis_map(h, grid.src_height, grid.tile, grid.rows, c, &mut rows[1]);
        let (xmap, ymap) = (rows[0].clone(), rows[1].clone());
        tile_starts(&xmap, grid.cols, &mut rows[2]);
        tile_starts(&ymap, grid.rows, &mut rows[3]);
        let exact = exact_axis(&xmap, &rows[2]) && exact_axis(&ymap, &rows[3]);
        map_data.clear();
        for row in &rows {
            let at = map_data.len();
            map_data.extend_from_slice(row);
            map_data.resize(at + len, 0);
        }
        let maps = texture_2d(
            &ctx.device,
            "mosaic maps",
            (len as u32, 4),
            wgpu::TextureFormat::R32Uint,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        );
        write_texture(&ctx.queue, &maps, bytemuck::cast_slice(map_data), len as u32 * 4);
        let tiles = texture_2d(
            &ctx.device,
            "mosaic tiles",
            (grid.cols, grid.rows),
            wgpu::TextureFormat::Rg32Uint,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        );
        Self {
            geometry: g,
            tile_view: tiles.create_view(&Default::default()),
            tiles,
            maps: maps.create_view(&Default::default()),
            exact,
            row_starts: rows[3].clone(),
        }
    }
}

/// What was drawn into the targets drawn recently, for partial redraws.
#[derive(Default)]
struct History {
    /// Per target recently drawn into (the window's and the recording's, say).
    last: Vec<Drawn>,
    /// Tiles to redraw this frame.
    dirty: Vec<u32>,
}

impl History {
    /// Records what this frame draws into `target`. Tiles drawn last time into this same
    /// target at this same geometry are still there: when few changed, lists those (emoji or
    /// background changed) in `dirty` and returns true, for a partial redraw.
    fn remember(&mut self, target: &wgpu::Texture, geometry: Geometry, c: u32, tiles: &[TileRecord]) -> bool {
        self.dirty.clear();
        let at = self.last.iter().position(|d| d.target == *target);
        let partial = match at.map(|i| &self.last[i]) {
            Some(d) if d.geometry == geometry && d.size == c && d.tiles.len() == tiles.len() => {
                self.dirty.extend(
                    d.tiles
                        .iter()
                        .zip(tiles)
                        .enumerate()
                        .filter(|(_, (a, b))| a != b)
                        .map(|(i, _)| i as u32),
                );
                (self.dirty.len() as f64) <= PARTIAL_SHARE * geometry.grid.tiles() as f64
            }
            _ => false,
        };
        match at {
            Some(i) => {
                let d = &mut self.last[i];
                d.geometry = geometry;
                d.size = c;
                d.tiles.clear();
                d.tiles.extend_from_slice(tiles);
            }
            None => {
                if self.last.len() >= TARGETS_REMEMBERED {
                    self.last.remove(0);
                }
                self.last.push(Drawn {
                    target: target.clone(),
                    geometry,
                    size: c,
                    tiles: tiles.to_vec(),
                });
            }
        }
        partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_pixel_tiles_map_exactly() {
        // 25 px at 1:1 with 10 px tiles: two whole tiles and a partial one, texel = offset.
        let mut map = Vec::new();
        axis_map(25, 25, 10, 3, 10, &mut map);
        for (x, m) in map.iter().enumerate() {
            assert_eq!(m & 0xffff, x as u32 / 10, "tile of pixel {x}");
            assert_eq!((m >> 16) & 0xff, x as u32 % 10, "texel of pixel {x}");
            assert_eq!(m >> 24, 0, "no blending at whole pixels");
        }
        // Doubled output: 20 px tiles, C = 20.
        map.clear();
        axis_map(40, 20, 10, 2, 20, &mut map);
        assert_eq!(map[39] & 0xffff, 1);
        assert_eq!((map[39] >> 16) & 0xff, 19);
    }

    #[test]
    fn exact_layouts_are_recognised() {
        // (out, src, tile, C): whole-pixel tiles (1:1 with a partial edge tile, doubled, 1.5x,
        // 0.8x) are exact; fractional ones (7.8 and 23.6 px) are not.
        for (out, src, tile, c, exact) in [
            (25u32, 25u32, 10u32, 10u32, true),
            (40, 20, 10, 20, true),
            (1280, 1280, 10, 10, true),
            (1920, 1280, 10, 15, true),
            (1024, 1280, 10, 8, true),
            (1000, 1280, 10, 8, false),
            (300, 127, 10, 24, false),
        ] {
            let tiles = src.div_ceil(tile);
            let (mut map, mut starts) = (Vec::new(), Vec::new());
            axis_map(out, src, tile, tiles, c, &mut map);
            tile_starts(&map, tiles, &mut starts);
            assert_eq!(exact_axis(&map, &starts), exact, "{out} px for {src} at tile {tile}");
        }
    }

    #[test]
    fn changed_tiles_become_merged_row_bands() {
        // 4 columns, rows of 10 px but the last of 5 (45 px tall), one row with no pixel.
        let starts = [0, 10, 20, 20, 30, 40, 45];
        let mut out = Vec::new();
        row_bands(&[], 4, &starts, &mut out);
        assert!(out.is_empty());
        // Rows 0 (twice), 1; row 2 has no pixel; 4 and 5 touch: two bands.
        row_bands(&[0, 3, 5, 8, 17, 21, 23], 4, &starts, &mut out);
        assert_eq!(out, vec![[0, 20], [30, 45]]);
        out.clear();
        row_bands(&[12, 23], 4, &starts, &mut out);
        assert_eq!(out, vec![[20, 30], [40, 45]]);
    }

    #[test]
    fn tile_starts_cover_every_pixel_once() {
        for (out, src, tile) in [(25u32, 25u32, 10u32), (1958, 1280, 10), (7, 25, 10), (64, 127, 10)] {
            let tiles = src.div_ceil(tile);
            let mut map = Vec::new();
            axis_map(out, src, tile, tiles, 16, &mut map);
            let mut starts = Vec::new();
            tile_starts(&map, tiles, &mut starts);
            assert_eq!(starts.len(), tiles as usize + 1);
            assert_eq!((starts[0], starts[tiles as usize]), (0, out));
            for t in 0..tiles as usize {
                assert!(starts[t] <= starts[t + 1]);
                for x in starts[t]..starts[t + 1] {
                    assert_eq!(map[x as usize] & 0xffff, t as u32, "{out}/{src}: pixel {x}");
                }
            }
        }
    }

    #[test]
    fn fractional_tiles_stay_inside_the_cell() {
        let mut map = Vec::new();
        // 10 px tiles shown at 15.3 px: C = 16.
        axis_map(1958, 1280, 10, 128, 16, &mut map);
        assert_eq!(map.len(), 1958);
        let mut last = 0;
        for m in &map {
            let (t, x0, f) = (m & 0xffff, (m >> 16) & 0xff, m >> 24);
            assert!(t < 128 && x0 < 16);
            assert!(f == 0 || x0 + 1 < 16);
            assert!(t >= last);
            last = t;
        }
        assert_eq!(map[1957] & 0xffff, 127);
    }
}
