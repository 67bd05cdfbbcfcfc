//! What the window draws besides the mosaic: the original frame (beside or blended) and the
//! stats/help text in a 5x7 pixel font, as instanced rectangles. One struct owns both passes'
//! pipelines and buffers, created once; per frame only the instance buffer is rewritten.

use bytemuck::{Pod, Zeroable};

use super::font;
use crate::gpu::{bind, bind_group, bind_group_layout, buffer, render_pass, uniform_buffer, wgsl, RenderPipeline};

/// A rectangle in target pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl Rect {
    pub fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }

    /// The largest rectangle of `content`'s aspect ratio centred in `outer` (letterbox).
    pub fn fit(content: (u32, u32), outer: Rect) -> Rect {
        let (cw, ch) = (content.0.max(1) as f32, content.1.max(1) as f32);
        let scale = (outer.w / cw).min(outer.h / ch);
        let (w, h) = ((cw * scale).round().max(1.0), (ch * scale).round().max(1.0));
        Rect::new(
            (outer.x + (outer.w - w) / 2.0).floor(),
            (outer.y + (outer.h - h) / 2.0).floor(),
            w,
            h,
        )
    }
}

/// Blit slots: the mosaic and the original frame.
pub const BLIT_SLOTS: usize = 2;
pub const SLOT_MOSAIC: usize = 0;
pub const SLOT_ORIGINAL: usize = 1;

/// One rectangle: `rect_vs`'s per-instance attributes (`@location(0)` x, y, w, h;
/// `@location(1)` colour), two `Float32x4`s one after the other.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RectInstance {
    rect: [f32; 4],
    color: [f32; 4],
}

crate::gpu::assert_layout!(RectInstance, size 32, rect @ 0, color @ 16);

/// The rectangles' target size in pixels (WGSL `Screen`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Screen {
    size: [f32; 2],
    _pad: [f32; 2],
}

crate::gpu::assert_layout!(Screen, size 16, size @ 0, _pad @ 8);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BlitParams {
    rect: [f32; 4],
    size: [f32; 2],
    alpha: f32,
    decode: f32,
}

crate::gpu::assert_layout!(BlitParams, size 32, rect @ 0, size @ 16, alpha @ 24, decode @ 28);

pub struct Overlay {
    rect_pipeline: wgpu::RenderPipeline,
    screen: wgpu::Buffer,
    screen_bind: wgpu::BindGroup,
    instances: wgpu::Buffer,
    capacity: usize,
    scratch: Vec<RectInstance>,
    blit_pipeline: wgpu::RenderPipeline,
    blit_layout: wgpu::BindGroupLayout,
    /// One parameter buffer and bind group per blit slot, so several blits share a submit.
    blit_params: [wgpu::Buffer; BLIT_SLOTS],
    sampler: wgpu::Sampler,
    /// The view each slot's bind group was made for and that bind group; rebuilt when the
    /// texture is reallocated, `None` until the slot's first blit.
    blit_bind: [Option<(wgpu::TextureView, wgpu::BindGroup)>; BLIT_SLOTS],
    srgb: bool,
}

impl Overlay {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Self {
        let module = wgsl(device, "overlay", include_str!("overlay.wgsl"));
        let fragment = wgpu::ShaderStages::FRAGMENT;
        let screen_layout = bind_group_layout(
            device,
            "overlay screen",
            &[bind::at(0, wgpu::ShaderStages::VERTEX, bind::UNIFORM)],
        );
        let blit_layout = bind_group_layout(
            device,
            "overlay blit",
            &[
                bind::at(0, wgpu::ShaderStages::VERTEX_FRAGMENT, bind::UNIFORM),
                bind::at(
                    1,
                    fragment,
                    bind::texture(wgpu::TextureSampleType::Float { filterable: true }),
                ),
                bind::at(2, fragment, bind::SAMPLER),
            ],
        );
        let rects = RenderPipeline {
            label: "overlay rects",
            module: &module,
            layout: &screen_layout,
            entries: ("rect_vs", "rect_fs"),
            buffers: &[Some(wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<RectInstance>() as u64,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes: &wgpu::vertex_attr_array![0 => Float32x4, 1 => Float32x4],
            })],
            blend: wgpu::BlendState::ALPHA_BLENDING,
        };
        let rect_pipeline = rects.build(device, format);
        let blit_pipeline = RenderPipeline {
            label: "overlay blit",
            layout: &blit_layout,
            entries: ("blit_vs", "blit_fs"),
            buffers: &[],
            ..rects
        }
        .build(device, format);
        // The target's size, as written by `draw_text`.
        let screen = uniform_buffer::<Screen>(device, "overlay screen");
        let screen_bind = bind_group(device, "overlay screen", &screen_layout, &[screen.as_entire_binding()]);
        let blit_params = [(); BLIT_SLOTS].map(|_| uniform_buffer::<BlitParams>(device, "overlay blit"));
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("overlay frame"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let capacity = 4096;
        let instances = instance_buffer(device, capacity);
        Self {
            rect_pipeline,
            screen,
            screen_bind,
            instances,
            capacity,
            scratch: Vec::with_capacity(capacity),
            blit_pipeline,
            blit_layout,
            blit_params,
            sampler,
            blit_bind: [None, None],
            srgb: format.is_srgb(),
        }
    }

    /// sRGB colour in 0..=1 to what the target expects.
    fn color(&self, rgb: [f32; 3], a: f32) -> [f32; 4] {
        let f = |c: f32| {
            if !self.srgb {
                c
            } else if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        [f(rgb[0]), f(rgb[1]), f(rgb[2]), a]
    }

    /// Clears the whole target (the letterbox bars).
    pub fn clear(&self, encoder: &mut wgpu::CommandEncoder, target: &wgpu::TextureView) {
        render_pass(encoder, "clear", target, Some(wgpu::Color::BLACK));
    }

    /// Draws `frame` (an Rgba8Unorm texture holding sRGB bytes: the tiler's frame, or the
    /// mosaic rendered offscreen) into `rect` of the target through blit slot `slot`.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_original(
        &mut self,
        slot: usize,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        target_size: (u32, u32),
        frame: &wgpu::TextureView,
        rect: Rect,
        alpha: f32,
    ) {
        let slot = slot.min(BLIT_SLOTS - 1);
        let bind = match &mut self.blit_bind[slot] {
            Some((view, bind)) if view == frame => &*bind,
            entry => {
                let bind = bind_group(
                    device,
                    "overlay blit",
                    &self.blit_layout,
                    &[
                        self.blit_params[slot].as_entire_binding(),
                        wgpu::BindingResource::TextureView(frame),
                        wgpu::BindingResource::Sampler(&self.sampler),
                    ],
                );
                &entry.insert((frame.clone(), bind)).1
            }
        };
        let params = BlitParams {
            rect: [rect.x, rect.y, rect.w, rect.h],
            size: [target_size.0.max(1) as f32, target_size.1.max(1) as f32],
            alpha,
            decode: if self.srgb { 1.0 } else { 0.0 },
        };
        queue.write_buffer(&self.blit_params[slot], 0, bytemuck::bytes_of(&params));
        let mut pass = render_pass(encoder, "overlay blit", target, None);
        pass.set_pipeline(&self.blit_pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.draw(0..4, 0..1);
    }

    /// Draws `text` on a dark panel at the top-left corner, `scale` target pixels per font pixel.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_text(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        target_size: (u32, u32),
        text: &str,
        scale: f32,
    ) {
        if text.is_empty() {
            return;
        }
        let margin = 4.0 * scale;
        let fg = self.color([1.0, 1.0, 0.6], 1.0);
        let mut glyphs = std::mem::take(&mut self.scratch);
        glyphs.clear();
        glyphs.push(RectInstance {
            rect: [0.0; 4],
            color: self.color([0.0, 0.0, 0.0], 0.65),
        });
        let (w, h) = font::layout(text, |x, y| {
            glyphs.push(RectInstance {
                rect: [margin + x as f32 * scale, margin + y as f32 * scale, scale, scale],
                color: fg,
            });
        });
        glyphs[0].rect = [
            0.0,
            0.0,
            w as f32 * scale + 2.0 * margin,
            h as f32 * scale + 2.0 * margin,
        ];
        if glyphs.len() > self.capacity {
            self.capacity = glyphs.len().next_power_of_two();
            self.instances = instance_buffer(device, self.capacity);
        }
        let screen = Screen {
            size: [target_size.0.max(1) as f32, target_size.1.max(1) as f32],
            _pad: [0.0; 2],
        };
        queue.write_buffer(&self.screen, 0, bytemuck::bytes_of(&screen));
        queue.write_buffer(&self.instances, 0, bytemuck::cast_slice(&glyphs));
        {
            let mut pass = render_pass(encoder, "overlay text", target, None);
            pass.set_pipeline(&self.rect_pipeline);
            pass.set_bind_group(0, &self.screen_bind, &[]);
            pass.set_vertex_buffer(0, self.instances.slice(..));
            pass.draw(0..4, 0..glyphs.len() as u32);
        }
        self.scratch = glyphs;
    }
}

fn instance_buffer(device: &wgpu::Device, capacity: usize) -> wgpu::Buffer {
    let size = (capacity * std::mem::size_of::<RectInstance>()) as u64;
    buffer(
        device,
        "overlay rects",
        size,
        wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_keeps_aspect() {
        let r = Rect::fit((1280, 720), Rect::new(0.0, 0.0, 800.0, 800.0));
        assert_eq!(r, Rect::new(0.0, 175.0, 800.0, 450.0));
        let r = Rect::fit((512, 512), Rect::new(100.0, 0.0, 400.0, 200.0));
        assert_eq!(r, Rect::new(200.0, 0.0, 200.0, 200.0));
    }
}
