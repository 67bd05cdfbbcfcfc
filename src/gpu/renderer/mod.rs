//! Draws the mosaic by one of two [`RenderPath`]s: the compute pass of `gpu/mosaic/` (the
//! default on every adapter), or one instanced quad per tile from the mipmapped emoji atlas
//! (`render.wgsl`, `EMOJICAM_RENDERER=quads`).
//!
//! The atlas is mipmapped (premultiplied, box filtered) so emoji stay crisp and alias-free at
//! any output size, from 4 px tiles on a phone preview to 64 px tiles in a 4K render.

use std::collections::HashMap;
use std::sync::Arc;

use super::mosaic::MosaicPass;
use super::{
    bind, bind_group, bind_group_layout, buffer, render_pass, texture_2d, uniform_buffer, wgsl, GpuContext,
    RenderPipeline, TextureReadback, TileRecord,
};
pub use super::{OFFSCREEN_FORMAT, TARGET_USAGE};
use crate::atlas::Atlas;
use crate::domain::MosaicFrame;
pub use crate::domain::{Background, Grid};
use crate::error::{Error, Result};
use crate::frame::Frame;

/// What is drawn behind each emoji.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill<'a> {
    /// One colour behind every tile.
    Color([u8; 3]),
    /// A colour per tile, row-major (each tile's backdrop for [`Background::Tile`]); a
    /// count other than the grid's tile count is an error when drawn.
    Tiles(&'a [[u8; 3]]),
}

impl<'a> Fill<'a> {
    /// `background`'s fill: its colour, or for [`Background::Tile`] `tile_colors`.
    pub fn new(background: Background, tile_colors: &'a [[u8; 3]]) -> Self {
        match background {
            Background::Color(rgb) => Fill::Color(rgb),
            Background::Tile => Fill::Tiles(tile_colors),
        }
    }
}

/// Everything one mosaic frame needs to be drawn.
#[derive(Clone, Copy, Debug)]
pub struct Scene<'a> {
    pub grid: Grid,
    /// Atlas index per tile, row-major.
    pub emoji: &'a [u32],
    pub fill: Fill<'a>,
}

impl<'a> Scene<'a> {
    /// The scene of a classified frame, drawn over the background it was classified with.
    pub fn of(mosaic: &'a MosaicFrame) -> Self {
        Self::over(mosaic, mosaic.background)
    }

    /// The scene of a classified frame drawn over `background`: [`Background::Tile`] takes
    /// the frame's tile colours (which it has only when it was classified over them).
    pub fn over(mosaic: &'a MosaicFrame, background: Background) -> Self {
        Scene {
            grid: mosaic.grid,
            emoji: &mosaic.emoji,
            fill: Fill::new(background, &mosaic.tile_colors),
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    cols: u32,
    columns: u32,
    cell: f32,
    lod: f32,
    tile_ndc: [f32; 2],
    atlas_size: [f32; 2],
    max_level: f32,
    _pad: [f32; 3],
}

super::assert_layout!(Params, size 48, cols @ 0, columns @ 4, cell @ 8, lod @ 12, tile_ndc @ 16, atlas_size @ 24, max_level @ 32);

struct Target {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    width: u32,
    height: u32,
    staging: TextureReadback,
}

impl Target {
    /// An offscreen target of `width` x `height` and its readback buffer.
    fn new(device: &wgpu::Device, width: u32, height: u32) -> Result<Self> {
        let max_dim = device.limits().max_texture_dimension_2d;
        if width == 0 || height == 0 || width > max_dim || height > max_dim {
            let message = format!("output size {width}x{height} is not possible: each side must be 1 to {max_dim} px");
            return Err(if width == 0 || height == 0 {
                Error::Usage(message)
            } else {
                Error::GpuLimit(message)
            });
        }
        let texture = texture_2d(
            device,
            "mosaic offscreen",
            (width, height),
            OFFSCREEN_FORMAT,
            TARGET_USAGE | wgpu::TextureUsages::COPY_SRC,
        );
        let view = texture.create_view(&Default::default());
        let staging = TextureReadback::new(device, "render", (width, height));
        Ok(Self {
            texture,
            view,
            width,
            height,
            staging,
        })
    }
}

/// How the mosaic is drawn. Both write the same image up to rounding and filtering detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderPath {
    /// One render pass of instanced quads sampling the mipmapped atlas (trilinear filtering).
    Quads,
    /// A compute pass gathering from the atlas pre-scaled to the tile size, redrawing only the
    /// tiles whose emoji changed: the faster of the two on every adapter measured (a software
    /// rasteriser 2-3.5x, an NVIDIA H200 1.3-2.1x from 720p to 4K; docs/PERFORMANCE.md).
    Compute,
}

impl RenderPath {
    /// `EMOJICAM_RENDERER=quads|compute` if set, else compute: one path, and so the same
    /// picture, on every adapter.
    pub fn from_env() -> Self {
        match std::env::var("EMOJICAM_RENDERER").ok().as_deref().map(str::trim) {
            Some("quads") => RenderPath::Quads,
            _ => RenderPath::Compute,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RenderPath::Quads => "quads",
            RenderPath::Compute => "compute",
        }
    }
}

pub struct Renderer {
    ctx: Arc<GpuContext>,
    path: RenderPath,
    atlas_view: wgpu::TextureView,
    /// The compute path's pass.
    mosaic: MosaicPass,
    module: wgpu::ShaderModule,
    layout: wgpu::BindGroupLayout,
    bind_group: wgpu::BindGroup,
    pipelines: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    params: wgpu::Buffer,
    instances: wgpu::Buffer,
    instance_data: Vec<TileRecord>,
    /// The offscreen target of the last [`Self::render_into`], kept for the next frame of the
    /// same size; `None` until the first offscreen frame (a window's frames need none).
    target: Option<Target>,
    count: u32,
    cell: u32,
    columns: u32,
    atlas_size: (u32, u32),
    max_level: u32,
}

impl Renderer {
    /// Uploads the atlas once; everything else is reused from frame to frame.
    pub fn new(ctx: Arc<GpuContext>, atlas: &Atlas) -> Result<Self> {
        let device = &ctx.device;
        let mips = atlas.premultiplied_mips();
        let (aw, ah) = atlas.dimensions();
        let max_dim = device.limits().max_texture_dimension_2d;
        if aw > max_dim || ah > max_dim {
            return Err(Error::GpuLimit(format!(
                "the emoji atlas is {aw}x{ah} px but {} allows only {max_dim} px textures",
                ctx.describe()
            )));
        }
        let texture = upload_atlas(&ctx, &mips, (aw, ah));
        let view = texture.create_view(&Default::default());
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("emoji atlas"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            address_mode_w: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            mipmap_filter: wgpu::MipmapFilterMode::Linear,
            ..Default::default()
        });
        let params = uniform_buffer::<Params>(device, "render params");
        let layout = layout(device);
        let bind_group = bind_group(
            device,
            "render",
            &layout,
            &[
                wgpu::BindingResource::TextureView(&view),
                wgpu::BindingResource::Sampler(&sampler),
                params.as_entire_binding(),
            ],
        );
        let module = wgsl(device, "render", include_str!("render.wgsl"));
        let instances = Self::instance_buffer(device, 1024);
        Ok(Self {
            path: RenderPath::from_env(),
            atlas_view: view,
            mosaic: MosaicPass::new(device),
            module,
            layout,
            bind_group,
            pipelines: HashMap::new(),
            params,
            instances,
            instance_data: Vec::new(),
            target: None,
            count: atlas.count(),
            cell: atlas.cell,
            columns: atlas.columns,
            atlas_size: (aw, ah),
            max_level: mips.len() as u32 - 1,
            ctx,
        })
    }

    fn instance_buffer(device: &wgpu::Device, tiles: u64) -> wgpu::Buffer {
        buffer(
            device,
            "render instances",
            tiles * std::mem::size_of::<TileRecord>() as u64,
            wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
        )
    }

    /// Renders offscreen at `out_width` x `out_height` and reads the image back.
    pub fn render_to_frame(&mut self, scene: &Scene<'_>, out_width: u32, out_height: u32) -> Result<Frame> {
        let mut frame = Frame::new(0, 0, Vec::new());
        self.render_into(scene, out_width, out_height, &mut frame)?;
        Ok(frame)
    }

    /// As [`Renderer::render_to_frame`], reusing `out`'s allocation from frame to frame.
    pub fn render_into(&mut self, scene: &Scene<'_>, out_width: u32, out_height: u32, out: &mut Frame) -> Result<()> {
        // Taken out (the last one, if it is the right size) to borrow self mutably below.
        let mut target = match self.target.take() {
            Some(t) if (t.width, t.height) == (out_width, out_height) => t,
            _ => Target::new(&self.ctx.device, out_width, out_height)?,
        };
        let mut encoder = self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("render offscreen"),
        });
        let drawn = self.draw(&mut encoder, &target.texture, &target.view, scene);
        let result = drawn.and_then(|()| self.read_target(encoder, &mut target, out));
        self.target = Some(target);
        result
    }

    fn read_target(&self, mut encoder: wgpu::CommandEncoder, target: &mut Target, out: &mut Frame) -> Result<()> {
        target.staging.copy_on_submit(&mut encoder, &target.texture)?;
        self.ctx.queue.submit([encoder.finish()]);
        out.rgba.clear();
        target
            .staging
            .read_rows(&self.ctx, |row| out.rgba.extend_from_slice(row))?;
        out.width = target.width;
        out.height = target.height;
        Ok(())
    }

    /// Tiles the last [`Self::draw`] redrew on the compute path: `Some(n)` when only the n tiles
    /// that changed since the last frame drawn into that target were redrawn, `None` when the
    /// whole target was drawn (always on the quads path).
    pub fn redrawn(&self) -> Option<usize> {
        match self.path {
            RenderPath::Compute => self.mosaic.redrawn(),
            RenderPath::Quads => None,
        }
    }

    /// The pixel rows of its target the last [`Self::draw`] changed, as `[first, end)` bands
    /// (see `MosaicPass::changed_rows`): true when only those were redrawn, false when the
    /// whole target was drawn (always on the quads path).
    pub fn changed_rows(&self, out: &mut Vec<[u32; 2]>) -> bool {
        out.clear();
        match self.path {
            RenderPath::Compute => self.mosaic.changed_rows(out),
            RenderPath::Quads => false,
        }
    }

    /// Which way [`Self::draw`] draws.
    pub fn path(&self) -> RenderPath {
        self.path
    }

    pub fn set_path(&mut self, path: RenderPath) {
        self.path = path;
    }

    /// Let the compute path's partial redraw skip the per-pixel maps where every tile is a
    /// whole number of output pixels at the cell size (on by default, the same pixels; off
    /// for comparing the two in one process, or with `EMOJICAM_MOSAIC_EXACT=0`).
    #[doc(hidden)]
    pub fn set_exact_tiles(&mut self, exact: bool) {
        self.mosaic.set_exact_tiles(exact);
    }

    /// Records the mosaic covering all of `texture`, an [`OFFSCREEN_FORMAT`] texture (or a
    /// `Bgra8Unorm` one where the device has `BGRA8UNORM_STORAGE`) made with
    /// [`TARGET_USAGE`], by the current [`RenderPath`]. Call at most once per queue submit.
    pub fn draw(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        texture: &wgpu::Texture,
        view: &wgpu::TextureView,
        scene: &Scene<'_>,
    ) -> Result<()> {
        let (w, h) = (texture.width(), texture.height());
        match self.path {
            RenderPath::Quads => {
                self.mosaic.forget();
                self.encode(
                    encoder,
                    view,
                    texture.format(),
                    [0.0, 0.0, w as f32, h as f32],
                    scene,
                    Some(wgpu::Color::BLACK),
                )
            }
            RenderPath::Compute => {
                self.check(scene)?;
                self.fill_instances(scene)?;
                self.mosaic.encode(
                    &self.ctx,
                    encoder,
                    &self.atlas_view,
                    (self.cell, self.columns, self.count),
                    &scene.grid,
                    &self.instance_data,
                    texture,
                )
            }
        }
    }

    /// Checks the scene and uploads its per-tile data; returns the bytes used.
    fn upload_tiles(&mut self, scene: &Scene<'_>) -> Result<u64> {
        self.check(scene)?;
        self.fill_instances(scene)?;
        let tiles = scene.grid.tiles();
        let needed = (tiles * std::mem::size_of::<TileRecord>()) as u64;
        if self.instances.size() < needed {
            self.instances = Self::instance_buffer(&self.ctx.device, (tiles as u64).next_power_of_two());
        }
        self.ctx
            .queue
            .write_buffer(&self.instances, 0, bytemuck::cast_slice(&self.instance_data));
        Ok(needed)
    }

    fn check(&self, scene: &Scene<'_>) -> Result<()> {
        let grid = scene.grid;
        let tiles = grid.tiles();
        if grid.tile == 0 || grid.src_width == 0 || grid.src_height == 0 || tiles == 0 {
            return Err(Error::Usage("empty mosaic grid: nothing to render".into()));
        }
        if scene.emoji.len() != tiles {
            return Err(Error::Other(format!(
                "{} emoji for a {}x{} grid",
                scene.emoji.len(),
                grid.cols,
                grid.rows
            )));
        }
        Ok(())
    }

    /// Records the mosaic into `target` (e.g. a window's surface texture) inside `viewport`
    /// (x, y, width, height in target pixels). `clear` clears the whole target first; without
    /// it the pixels outside the viewport are kept. Call at most once per queue submit: the
    /// per-tile data lives in one buffer that the next call overwrites.
    pub fn encode(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        target_format: wgpu::TextureFormat,
        viewport: [f32; 4],
        scene: &Scene<'_>,
        clear: Option<wgpu::Color>,
    ) -> Result<()> {
        if viewport[2] <= 0.0 || viewport[3] <= 0.0 {
            return Err(Error::Usage("empty viewport: nothing to render".into()));
        }
        let needed = self.upload_tiles(scene)?;
        let grid = scene.grid;
        let tiles = grid.tiles();

        // Pick the mip level at which one atlas texel is one output pixel.
        let tile_w = viewport[2] * grid.tile as f32 / grid.src_width as f32;
        let tile_h = viewport[3] * grid.tile as f32 / grid.src_height as f32;
        let lod = (self.cell as f32 / tile_w.min(tile_h))
            .log2()
            .clamp(0.0, self.max_level as f32);
        let params = Params {
            cols: grid.cols,
            columns: self.columns,
            cell: self.cell as f32,
            lod,
            tile_ndc: [
                2.0 * grid.tile as f32 / grid.src_width as f32,
                2.0 * grid.tile as f32 / grid.src_height as f32,
            ],
            atlas_size: [self.atlas_size.0 as f32, self.atlas_size.1 as f32],
            max_level: self.max_level as f32,
            _pad: [0.0; 3],
        };
        self.ctx
            .queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));

        let pipeline = self.pipeline(target_format);
        let mut pass = render_pass(encoder, "mosaic", target, clear);
        pass.set_pipeline(pipeline);
        pass.set_viewport(viewport[0], viewport[1], viewport[2], viewport[3], 0.0, 1.0);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.set_vertex_buffer(0, self.instances.slice(..needed));
        pass.draw(0..4, 0..tiles as u32);
        Ok(())
    }

    fn fill_instances(&mut self, scene: &Scene<'_>) -> Result<()> {
        let tiles = scene.grid.tiles();
        let count = self.count;
        let record = |emoji: u32, [r, g, b]: [u8; 3]| {
            if emoji < count {
                Ok(TileRecord {
                    emoji,
                    background: [r, g, b, 255],
                })
            } else {
                Err(Error::Other(format!(
                    "emoji index {emoji} is outside the atlas ({count})"
                )))
            }
        };
        self.instance_data.clear();
        match scene.fill {
            Fill::Color(rgb) => {
                for &e in scene.emoji {
                    self.instance_data.push(record(e, rgb)?);
                }
            }
            Fill::Tiles(colors) if colors.len() == tiles => {
                for (&e, &rgb) in scene.emoji.iter().zip(colors) {
                    self.instance_data.push(record(e, rgb)?);
                }
            }
            Fill::Tiles(colors) => {
                return Err(Error::Other(format!(
                    "{} tile colours for {tiles} tiles: the tile background needs one per tile",
                    colors.len()
                )))
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, format: wgpu::TextureFormat) -> &wgpu::RenderPipeline {
        let (device, module, layout) = (&self.ctx.device, &self.module, &self.layout);
        self.pipelines.entry(format).or_insert_with(|| {
            RenderPipeline {
                label: "mosaic",
                module,
                layout,
                entries: ("vs_main", if format.is_srgb() { "fs_srgb" } else { "fs_main" }),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: std::mem::size_of::<TileRecord>() as u64,
                    step_mode: wgpu::VertexStepMode::Instance,
                    attributes: &wgpu::vertex_attr_array![0 => Uint32, 1 => Unorm8x4],
                })],
                blend: wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING,
            }
            .build(device, format)
        })
    }
}

/// The atlas as a mipmapped texture, every level uploaded.
fn upload_atlas(ctx: &GpuContext, mips: &[(u32, u32, Vec<u8>)], (aw, ah): (u32, u32)) -> wgpu::Texture {
    let device = &ctx.device;
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("emoji atlas"),
        size: wgpu::Extent3d {
            width: aw,
            height: ah,
            depth_or_array_layers: 1,
        },
        mip_level_count: mips.len() as u32,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    for (level, (w, h, pixels)) in mips.iter().enumerate() {
        ctx.queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &texture,
                mip_level: level as u32,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            pixels,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w * 4),
                rows_per_image: Some(*h),
            },
            wgpu::Extent3d {
                width: *w,
                height: *h,
                depth_or_array_layers: 1,
            },
        );
    }
    texture
}

/// The render pass's one bind group: the atlas and its sampler (fragment), the parameters.
fn layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let fragment = wgpu::ShaderStages::FRAGMENT;
    bind_group_layout(
        device,
        "render",
        &[
            bind::at(
                0,
                fragment,
                bind::texture(wgpu::TextureSampleType::Float { filterable: true }),
            ),
            bind::at(1, fragment, bind::SAMPLER),
            bind::at(2, wgpu::ShaderStages::VERTEX_FRAGMENT, bind::UNIFORM),
        ],
    )
}
