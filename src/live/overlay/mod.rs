//! What the window draws besides the mosaic: the original frame (beside or blended) and the
//! stats/help text in a 5x7 pixel font, as instanced rectangles. One struct owns both passes'
//! pipelines and buffers, created once; per frame only the instance buffer is rewritten.

use bytemuck::{Pod, Zeroable};

use super::font;
use crate::gpu::{bind, uniform_buffer};

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

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RectInstance {
    rect: [f32; 4],
    color: [f32; 4],
}

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
    /// The view each slot's bind group was made for; rebuilt when the texture is reallocated.
    blit_bind: [Option<(wgpu::TextureView, wgpu::BindGroup)>; BLIT_SLOTS],
    srgb: bool,
}

/// A pipeline of `module`'s `entries` (vertex, fragment) with one bind group of `layout`,
/// drawing triangle strips alpha-blended onto a `format` target.
fn render_pipeline(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    (vs, fs): (&str, &str),
    buffers: &[Option<wgpu::VertexBufferLayout<'_>>],
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(&pl),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some(vs),
            compilation_options: Default::default(),
            buffers,
        },
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleStrip,
            ..Default::default()
        },
        depth_stencil: None,
        multisample: Default::default(),
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some(fs),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend: Some(wgpu::BlendState::ALPHA_BLENDING),
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

impl Overlay {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("overlay"),
            source: wgpu::ShaderSource::Wgsl(include_str!("overlay.wgsl").into()),
        });
        let fragment = wgpu::ShaderStages::FRAGMENT;
        let screen_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("overlay screen"),
            entries: &[bind::at(0, wgpu::ShaderStages::VERTEX, bind::UNIFORM)],
        });
        let blit_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("overlay blit"),
            entries: &[
                bind::at(0, wgpu::ShaderStages::VERTEX_FRAGMENT, bind::UNIFORM),
                bind::at(
                    1,
                    fragment,
                    bind::texture(wgpu::TextureSampleType::Float { filterable: true }),
                ),
                bind::at(2, fragment, bind::SAMPLER),
            ],
        });
        let make = |label, layout: &wgpu::BindGroupLayout, vs, fs, buffers: &[Option<wgpu::VertexBufferLayout<'_>>]| {
            render_pipeline(device, &module, label, layout, (vs, fs), buffers, format)
        };
        let instance_layout = wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<RectInstance>() as u64,
            step_mode: wgpu::VertexStepMode::Instance,
            attributes: &wgpu::vertex_attr_array![0 => Float32x4, 1 => Float32x4],
        };
        let rect_pipeline = make(
            "overlay rects",
            &screen_layout,
            "rect_vs",
            "rect_fs",
            &[Some(instance_layout)],
        );
        let blit_pipeline = make("overlay blit", &blit_layout, "blit_vs", "blit_fs", &[]);
        // The target's size, as written by `draw_text`.
        let screen = uniform_buffer::<[f32; 4]>(device, "overlay screen");
        let screen_bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("overlay screen"),
            layout: &screen_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: screen.as_entire_binding(),
            }],
        });
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
        encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("clear"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            ..Default::default()
        });
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
        if self.blit_bind[slot].as_ref().is_none_or(|(v, _)| v != frame) {
            let bind = crate::gpu::bind_group(
                device,
                "overlay blit",
                &self.blit_layout,
                &[
                    self.blit_params[slot].as_entire_binding(),
                    wgpu::BindingResource::TextureView(frame),
                    wgpu::BindingResource::Sampler(&self.sampler),
                ],
            );
            self.blit_bind[slot] = Some((frame.clone(), bind));
        }
        let params = BlitParams {
            rect: [rect.x, rect.y, rect.w, rect.h],
            size: [target_size.0.max(1) as f32, target_size.1.max(1) as f32],
            alpha,
            decode: if self.srgb { 1.0 } else { 0.0 },
        };
        queue.write_buffer(&self.blit_params[slot], 0, bytemuck::bytes_of(&params));
        let Some((_, bind)) = &self.blit_bind[slot] else { return };
        let mut pass = load_pass(encoder, target, "overlay blit");
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
        let size = [target_size.0.max(1) as f32, target_size.1.max(1) as f32, 0.0, 0.0];
        queue.write_buffer(&self.screen, 0, bytemuck::cast_slice(&size));
        queue.write_buffer(&self.instances, 0, bytemuck::cast_slice(&glyphs));
        {
            let mut pass = load_pass(encoder, target, "overlay text");
            pass.set_pipeline(&self.rect_pipeline);
            pass.set_bind_group(0, &self.screen_bind, &[]);
            pass.set_vertex_buffer(0, self.instances.slice(..));
            pass.draw(0..4, 0..glyphs.len() as u32);
        }
        self.scratch = glyphs;
    }
}

fn instance_buffer(device: &wgpu::Device, capacity: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("overlay rects"),
        size: (capacity * std::mem::size_of::<RectInstance>()) as u64,
        usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn load_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    target: &wgpu::TextureView,
    label: &str,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view: target,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Load,
                store: wgpu::StoreOp::Store,
            },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
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
