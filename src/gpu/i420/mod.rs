//! The live recorder's frames as I420 from the GPU (`i420.wgsl`): the mosaic is drawn into a
//! texture of its own and one compute pass writes the Y, U and V planes of it, laid out as
//! GStreamer lays out I420, so 1.5 bytes a pixel are read back instead of RGBA's 4 and the
//! encoder takes them without a conversion on the CPU (that conversion, GStreamer's
//! `videoconvert`, was 12% of a live 1080p run's CPU time).
//!
//! The matrix is the one GStreamer's conversion used for the same size
//! ([`Matrix::default_for`]), limited range; chroma is the mean of each 2x2 block.

use std::sync::Arc;

use super::renderer::{Renderer, Scene};
use super::{
    assert_layout, bind, bind_group, bind_group_layout, buffer, compute_pipeline, dispatch, texture_2d, uniform_buffer,
    wgsl, GpuContext, Readback, OFFSCREEN_FORMAT, TARGET_USAGE, WORKGROUP,
};
use crate::error::{Error, Result};
use crate::frame::{I420Frame, I420Layout, Matrix};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    src_width: u32,
    src_height: u32,
    y_stride: u32,
    c_stride: u32,
    y_len: u32,
    c_len: u32,
    _pad: [u32; 4],
    y_row: [f32; 4],
    u_row: [f32; 4],
    v_row: [f32; 4],
}

assert_layout!(Params, size 96, width @ 0, src_width @ 8, y_stride @ 16, y_len @ 24, y_row @ 48, u_row @ 64, v_row @ 80);

/// The rows of the limited-range RGB -> YUV matrix for RGB in 0..1, each `[r, g, b, offset]`
/// giving a value in 0..255: Y in 16..235, U and V in 16..240.
fn matrix_rows(matrix: Matrix) -> [[f32; 4]; 3] {
    let (kr, kb) = matrix.kr_kb();
    let (kr, kb) = (kr as f32, kb as f32);
    let kg = 1.0 - kr - kb;
    let (cb, cr) = (112.0 / (1.0 - kb), 112.0 / (1.0 - kr));
    [
        [219.0 * kr, 219.0 * kg, 219.0 * kb, 16.0],
        [-kr * cb, -kg * cb, 112.0, 128.0],
        [112.0, -kg * cr, -kb * cr, 128.0],
    ]
}

/// Everything drawing and converting at one size needs.
struct Target {
    /// The size drawn at (the texture's).
    size: (u32, u32),
    /// The I420 picture: the size rounded up to even.
    picture: (u32, u32),
    layout: I420Layout,
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    planes: wgpu::Buffer,
    readback: Readback,
    bind_group: wgpu::BindGroup,
}

impl Target {
    fn new(ctx: &GpuContext, pass: &I420Pass, (width, height): (u32, u32)) -> Result<Self> {
        let max = ctx.device.limits().max_texture_dimension_2d;
        if width == 0 || height == 0 || width > max || height > max {
            return Err(Error::GpuLimit(format!(
                "recording size {width}x{height} is not possible: each side must be 1 to {max} px"
            )));
        }
        let picture = (width.div_ceil(2) * 2, height.div_ceil(2) * 2);
        let layout = I420Layout::new(picture.0, picture.1);
        let texture = texture_2d(
            &ctx.device,
            "i420 mosaic",
            (width, height),
            OFFSCREEN_FORMAT,
            TARGET_USAGE | wgpu::TextureUsages::TEXTURE_BINDING,
        );
        let view = texture.create_view(&Default::default());
        let len = layout.len() as u64;
        let planes = buffer(
            &ctx.device,
            "i420 planes",
            len,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let bind_group = bind_group(
            &ctx.device,
            "i420",
            &pass.layout,
            &[
                wgpu::BindingResource::TextureView(&view),
                pass.params.as_entire_binding(),
                planes.as_entire_binding(),
            ],
        );
        Ok(Self {
            size: (width, height),
            picture,
            layout,
            texture,
            view,
            readback: Readback::new(&ctx.device, "i420", len),
            planes,
            bind_group,
        })
    }
}

/// Draws mosaics with a [`Renderer`] and reads them back as I420.
pub struct I420Pass {
    ctx: Arc<GpuContext>,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    params: wgpu::Buffer,
    /// The texture and planes for the size last drawn at; `None` until the first frame.
    target: Option<Target>,
}

impl I420Pass {
    pub fn new(ctx: Arc<GpuContext>) -> Self {
        let device = &ctx.device;
        let module = wgsl(device, "i420", include_str!("i420.wgsl"));
        let float = wgpu::TextureSampleType::Float { filterable: false };
        let layout = bind_group_layout(
            device,
            "i420",
            &[
                bind::compute(0, bind::texture(float)),
                bind::compute(1, bind::UNIFORM),
                bind::compute(2, bind::storage(false)),
            ],
        );
        Self {
            pipeline: compute_pipeline(device, "i420", &module, &layout, "i420", &[]),
            params: uniform_buffer::<Params>(device, "i420 params"),
            layout,
            target: None,
            ctx,
        }
    }

    /// Draws `scene` with `renderer` at `width` x `height` and reads it back as I420 (an odd
    /// size is padded to even by repeating the last column and row), into `out`.
    pub fn render(
        &mut self,
        renderer: &mut Renderer,
        scene: &Scene<'_>,
        (width, height): (u32, u32),
        out: &mut I420Frame,
    ) -> Result<()> {
        let mut target = match self.target.take() {
            Some(t) if t.size == (width, height) => t,
            _ => Target::new(&self.ctx, self, (width, height))?,
        };
        let result = self.convert(renderer, scene, &mut target, out);
        self.target = Some(target);
        result
    }

    fn convert(
        &self,
        renderer: &mut Renderer,
        scene: &Scene<'_>,
        target: &mut Target,
        out: &mut I420Frame,
    ) -> Result<()> {
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("i420") });
        renderer.draw(&mut encoder, &target.texture, &target.view, scene)?;
        let matrix = Matrix::default_for(target.picture.1);
        let [y_row, u_row, v_row] = matrix_rows(matrix);
        let l = target.layout;
        let params = Params {
            width: target.picture.0,
            height: target.picture.1,
            src_width: target.size.0,
            src_height: target.size.1,
            y_stride: l.y_stride,
            c_stride: l.c_stride,
            y_len: l.y_len,
            c_len: l.c_len,
            _pad: [0; 4],
            y_row,
            u_row,
            v_row,
        };
        self.ctx
            .queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        // One invocation per 8 x 2 pixels (two Y words in each row, one U and one V word).
        let blocks = l.y_stride.max(2 * l.c_stride).div_ceil(8);
        let groups = (blocks.div_ceil(WORKGROUP), params.height / 2);
        dispatch(&mut encoder, "i420", &self.pipeline, &target.bind_group, groups);
        let len = l.len() as u64;
        encoder.copy_buffer_to_buffer(&target.planes, 0, target.readback.buffer(), 0, len);
        target.readback.map_on_submit(&mut encoder, len)?;
        self.ctx.queue.submit([encoder.finish()]);
        out.data.clear();
        target
            .readback
            .read(&self.ctx, |bytes| out.data.extend_from_slice(bytes))?;
        out.width = params.width;
        out.height = params.height;
        out.matrix = matrix;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(row: [f32; 4], rgb: [u8; 3]) -> f32 {
        let c = rgb.map(|v| v as f32 / 255.0);
        row[0] * c[0] + row[1] * c[1] + row[2] * c[2] + row[3]
    }

    #[test]
    fn the_matrices_give_studio_swing() {
        for m in [Matrix::Bt601, Matrix::Bt709] {
            let [y, u, v] = matrix_rows(m);
            let white = [255, 255, 255];
            assert!((apply(y, white) - 235.0).abs() < 1e-3);
            assert!((apply(y, [0, 0, 0]) - 16.0).abs() < 1e-3);
            assert!((apply(u, white) - 128.0).abs() < 1e-3 && (apply(v, white) - 128.0).abs() < 1e-3);
            assert!((apply(u, [0, 0, 255]) - 240.0).abs() < 1e-3);
            assert!((apply(v, [255, 0, 0]) - 240.0).abs() < 1e-3);
        }
        // BT.601 red as crate::yuv converts it: Y 81, U 90, V 240.
        let [y, u, _] = matrix_rows(Matrix::Bt601);
        assert_eq!(apply(y, [255, 0, 0]).round(), 81.0);
        assert_eq!(apply(u, [255, 0, 0]).round(), 90.0);
    }
}
