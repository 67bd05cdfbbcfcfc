//! The GPU: one device ([`GpuContext`]) shared by every pass (the tiler, the renderer and its
//! compute `mosaic` path, the I420 conversion, the nearest-emoji classifier, the live overlay),
//! and the small toolkit they are built with: one readback type (`Readback`), bind group and
//! buffer helpers, `compute_pipeline` (which sets the shared `WORKGROUP` and a pass's own
//! pipeline-overridable constants), and `assert_layout!` for uniform structs. Each pass lives in
//! a folder of its own beside the WGSL it binds (docs/ARCHITECTURE.md, "Where to add").

pub mod i420;
mod mosaic;
mod readback;
pub mod renderer;
pub mod tiler;

pub use renderer::{Fill, Renderer, Scene};
pub use tiler::{Tiler, Tiles};

pub use crate::error::GpuError;
pub(crate) use readback::{Readback, TextureReadback};

pub use crate::domain::Background;
use crate::error::{Error, Result};

/// Format of [`Renderer::render_to_frame`]'s target: bytes as they are, no sRGB encoding.
pub const OFFSCREEN_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// Usages a texture needs for [`Renderer::draw`] (either path) to draw into it.
pub const TARGET_USAGE: wgpu::TextureUsages =
    wgpu::TextureUsages::RENDER_ATTACHMENT.union(wgpu::TextureUsages::STORAGE_BINDING);

/// One tile as both render paths read it, 8 bytes: the atlas index and the colour behind the
/// emoji (RGBA8, alpha 255). The instanced-quad pass reads it as a per-instance vertex
/// attribute (`renderer/render.wgsl`), the compute pass as one Rg32Uint texel
/// (`mosaic/mosaic.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct TileRecord {
    pub emoji: u32,
    pub background: [u8; 4],
}

assert_layout!(TileRecord, size 8, emoji @ 0, background @ 4);

/// Pieces of every pass's bind group layout (tiler, mosaic, nearest, render, overlay): one
/// binding each.
pub(crate) mod bind {
    /// A binding visible to the given shader stages.
    pub fn at(binding: u32, visibility: wgpu::ShaderStages, ty: wgpu::BindingType) -> wgpu::BindGroupLayoutEntry {
        wgpu::BindGroupLayoutEntry {
            binding,
            visibility,
            ty,
            count: None,
        }
    }

    /// A binding visible to compute shaders.
    pub fn compute(binding: u32, ty: wgpu::BindingType) -> wgpu::BindGroupLayoutEntry {
        at(binding, wgpu::ShaderStages::COMPUTE, ty)
    }

    /// A filtering sampler.
    pub const SAMPLER: wgpu::BindingType = wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering);

    pub const UNIFORM: wgpu::BindingType = wgpu::BindingType::Buffer {
        ty: wgpu::BufferBindingType::Uniform,
        has_dynamic_offset: false,
        min_binding_size: None,
    };

    pub fn storage(read_only: bool) -> wgpu::BindingType {
        wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        }
    }

    /// A 2D texture (read with `textureLoad`, or sampled when its sample type is filterable).
    pub fn texture(sample_type: wgpu::TextureSampleType) -> wgpu::BindingType {
        wgpu::BindingType::Texture {
            sample_type,
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        }
    }

    /// A write-only 2D storage texture.
    pub fn storage_texture(format: wgpu::TextureFormat) -> wgpu::BindingType {
        wgpu::BindingType::StorageTexture {
            access: wgpu::StorageTextureAccess::WriteOnly,
            format,
            view_dimension: wgpu::TextureViewDimension::D2,
        }
    }
}

/// Invocations per workgroup of every compute pass. Each compute shader declares
/// `override WORKGROUP: u32;` and [`compute_pipeline`] sets it from here, so the dispatch counts
/// computed in Rust and the shaders' `@workgroup_size` cannot drift apart.
pub(crate) const WORKGROUP: u32 = 64;

/// Asserts at compile time that a `#[repr(C)]` struct shared with WGSL has the WGSL layout:
/// its size and each named field's byte offset.
macro_rules! assert_layout {
    ($ty:ty, size $size:expr $(, $field:ident @ $offset:expr)* $(,)?) => {
        const _: () = {
            assert!(std::mem::size_of::<$ty>() == $size);
            $(assert!(std::mem::offset_of!($ty, $field) == $offset);)*
        };
    };
}
pub(crate) use assert_layout;

/// A shader module of WGSL `source` (a pass's `include_str!("<pass>.wgsl")`).
pub(crate) fn wgsl(device: &wgpu::Device, label: &str, source: &'static str) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

/// A bind group layout of `entries` (made with [`bind`]).
pub(crate) fn bind_group_layout(
    device: &wgpu::Device,
    label: &str,
    entries: &[wgpu::BindGroupLayoutEntry],
) -> wgpu::BindGroupLayout {
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries,
    })
}

/// A pipeline layout of one bind group, `layout`: what every pass binds.
fn pipeline_layout(device: &wgpu::Device, label: &str, layout: &wgpu::BindGroupLayout) -> wgpu::PipelineLayout {
    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    })
}

/// A render pipeline drawing triangle strips of `module`'s `entries` (vertex, fragment) with
/// one bind group of `layout`, from `buffers`, blended with `blend` onto a `format` target.
pub(crate) struct RenderPipeline<'a> {
    pub label: &'a str,
    pub module: &'a wgpu::ShaderModule,
    pub layout: &'a wgpu::BindGroupLayout,
    pub entries: (&'a str, &'a str),
    pub buffers: &'a [Option<wgpu::VertexBufferLayout<'a>>],
    pub blend: wgpu::BlendState,
}

impl RenderPipeline<'_> {
    pub fn build(&self, device: &wgpu::Device, format: wgpu::TextureFormat) -> wgpu::RenderPipeline {
        let layout = pipeline_layout(device, self.label, self.layout);
        device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some(self.label),
            layout: Some(&layout),
            vertex: wgpu::VertexState {
                module: self.module,
                entry_point: Some(self.entries.0),
                compilation_options: Default::default(),
                buffers: self.buffers,
            },
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                ..Default::default()
            },
            depth_stencil: None,
            multisample: Default::default(),
            fragment: Some(wgpu::FragmentState {
                module: self.module,
                entry_point: Some(self.entries.1),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: Some(self.blend),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        })
    }
}

/// A render pass drawing into all of `target`, which it first clears to `clear` or, without
/// it, keeps as it is.
pub(crate) fn render_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    label: &str,
    target: &wgpu::TextureView,
    clear: Option<wgpu::Color>,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view: target,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: clear.map_or(wgpu::LoadOp::Load, wgpu::LoadOp::Clear),
                store: wgpu::StoreOp::Store,
            },
        })],
        ..Default::default()
    })
}

/// Writes all of `texture`'s first level from `data`, rows `bytes_per_row` apart.
pub(crate) fn write_texture(queue: &wgpu::Queue, texture: &wgpu::Texture, data: &[u8], bytes_per_row: u32) {
    let (width, height) = (texture.width(), texture.height());
    queue.write_texture(
        texture.as_image_copy(),
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(bytes_per_row),
            rows_per_image: Some(height),
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
    );
}

/// A compute pipeline (named `label`) running `entry` of `module` with one bind group of
/// `layout`. `WORKGROUP` and `constants` set the module's pipeline-overridable constants
/// (`override` declarations); naming one the module does not declare is an error.
pub(crate) fn compute_pipeline(
    device: &wgpu::Device,
    label: &str,
    module: &wgpu::ShaderModule,
    layout: &wgpu::BindGroupLayout,
    entry: &str,
    constants: &[(&str, u32)],
) -> wgpu::ComputePipeline {
    let constants: Vec<(&str, f64)> = std::iter::once(("WORKGROUP", WORKGROUP))
        .chain(constants.iter().copied())
        .map(|(name, value)| (name, f64::from(value)))
        .collect();
    let pipeline_layout = pipeline_layout(device, label, layout);
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: Some(&pipeline_layout),
        module,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &constants,
            ..Default::default()
        },
        cache: None,
    })
}

/// Records one compute dispatch of `pipeline` with `bind_group` over `workgroups` (x, y).
pub(crate) fn dispatch(
    encoder: &mut wgpu::CommandEncoder,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    bind_group: &wgpu::BindGroup,
    (x, y): (u32, u32),
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some(label),
        timestamp_writes: None,
    });
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, bind_group, &[]);
    pass.dispatch_workgroups(x, y, 1);
}

/// A uniform buffer for one `T`, written with `queue.write_buffer`.
pub(crate) fn uniform_buffer<T>(device: &wgpu::Device, label: &str) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: std::mem::size_of::<T>() as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// A bind group of `layout` whose binding `i` is `resources[i]`.
pub(crate) fn bind_group(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    resources: &[wgpu::BindingResource<'_>],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry<'_>> = resources
        .iter()
        .enumerate()
        .map(|(i, resource)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: resource.clone(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// An unmapped buffer of `size` bytes.
pub(crate) fn buffer(device: &wgpu::Device, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: false,
    })
}

/// A plain 2D texture: one mip level, one sample.
pub fn texture_2d(
    device: &wgpu::Device,
    label: &str,
    (width, height): (u32, u32),
    format: wgpu::TextureFormat,
    usage: wgpu::TextureUsages,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    })
}

/// Environment variable with the same syntax as [`AdapterPreference::parse`].
pub const ADAPTER_ENV: &str = "EMOJICAM_ADAPTER";

/// Which adapter to open.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum AdapterPreference {
    /// A hardware GPU if there is one, else whatever works (software Vulkan included).
    #[default]
    Auto,
    /// The software fallback (lavapipe): reproducible, and present on machines without a GPU.
    Software,
    /// The first adapter whose name contains this (case-insensitive).
    Named(String),
}

impl AdapterPreference {
    /// "auto", "software", or any other text as a name substring.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Self::Auto,
            "software" | "cpu" | "fallback" => Self::Software,
            _ => Self::Named(s.trim().to_string()),
        }
    }

    /// An explicit choice stands; `Auto` yields to `EMOJICAM_ADAPTER` when that is set.
    pub fn or_env(self) -> Self {
        match self {
            Self::Auto => std::env::var(ADAPTER_ENV)
                .map(|v| Self::parse(&v))
                .unwrap_or(Self::Auto),
            other => other,
        }
    }
}

/// The device and queue every pass records into. Shared through `Arc` by the passes.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter_info: wgpu::AdapterInfo,
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &describe(&self.adapter_info))
            .finish()
    }
}

impl GpuContext {
    /// A headless context (no window): enough for offline rendering and tests.
    pub fn new(pref: AdapterPreference) -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        Self::with_instance(instance, pref, None)
    }

    /// Opens a device on `instance`; with `compatible_surface` only adapters that can present
    /// to that surface qualify, so the window code creates its surface first and then calls this.
    pub fn with_instance(
        instance: wgpu::Instance,
        pref: AdapterPreference,
        compatible_surface: Option<&wgpu::Surface<'_>>,
    ) -> Result<Self> {
        let pref = pref.or_env();
        let adapter = pollster::block_on(choose_adapter(&instance, &pref, compatible_surface))?;
        let adapter_info = adapter.get_info();
        let available = adapter.limits();
        // The atlas alone is 4096 px wide and patch buffers of big frames exceed the default
        // 128 MiB binding size, so take what the adapter offers for those.
        let required_limits = wgpu::Limits {
            max_texture_dimension_2d: available.max_texture_dimension_2d,
            max_storage_buffer_binding_size: available.max_storage_buffer_binding_size,
            max_buffer_size: available.max_buffer_size,
            max_compute_workgroups_per_dimension: available.max_compute_workgroups_per_dimension,
            ..wgpu::Limits::downlevel_defaults().using_resolution(available.clone())
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("emojicam"),
            // A window's surface format, written by the mosaic pass: the window copies the
            // mosaic onto its surface instead of drawing it there a second time.
            required_features: adapter.features() & wgpu::Features::BGRA8UNORM_STORAGE,
            required_limits,
            ..Default::default()
        }))
        .map_err(|source| GpuError::Device {
            adapter: describe(&adapter_info),
            source,
        })?;
        Ok(Self {
            device,
            queue,
            adapter_info,
            instance,
            adapter,
        })
    }

    pub fn instance(&self) -> &wgpu::Instance {
        &self.instance
    }

    pub fn adapter(&self) -> &wgpu::Adapter {
        &self.adapter
    }

    /// "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)": for logs and `emojicam adapters`.
    pub fn describe(&self) -> String {
        describe(&self.adapter_info)
    }

    /// Blocks until the GPU has finished everything submitted so far, mapping callbacks included.
    pub(crate) fn poll(&self) -> std::result::Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|source| GpuError::Poll { source })
    }
}

/// Every adapter this machine offers, described as [`GpuContext::describe`] does.
pub fn list_adapters() -> Vec<String> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(|a| describe(&a.get_info()))
        .collect()
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

fn no_adapter(detail: &'static str, source: Option<wgpu::RequestAdapterError>) -> Error {
    GpuError::NoAdapter { detail, source }.into()
}

async fn choose_adapter(
    instance: &wgpu::Instance,
    pref: &AdapterPreference,
    surface: Option<&wgpu::Surface<'_>>,
) -> Result<wgpu::Adapter> {
    let request = |force_fallback_adapter| wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter,
        compatible_surface: surface,
        ..Default::default()
    };
    match pref {
        AdapterPreference::Auto => match instance.request_adapter(&request(false)).await {
            Ok(a) => Ok(a),
            Err(_) => instance
                .request_adapter(&request(true))
                .await
                .map_err(|e| no_adapter("", Some(e))),
        },
        AdapterPreference::Software => {
            if let Ok(a) = instance.request_adapter(&request(true)).await {
                return Ok(a);
            }
            // Some drivers do not flag lavapipe as the fallback; its device type says it all.
            instance
                .enumerate_adapters(wgpu::Backends::all())
                .await
                .into_iter()
                .find(|a| {
                    a.get_info().device_type == wgpu::DeviceType::Cpu
                        && surface.is_none_or(|s| a.is_surface_supported(s))
                })
                .ok_or_else(|| no_adapter(" (software requested)", None))
        }
        AdapterPreference::Named(name) => {
            let needle = name.to_lowercase();
            let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
            let names: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
            adapters
                .into_iter()
                .find(|a| {
                    describe(&a.get_info()).to_lowercase().contains(&needle)
                        && surface.is_none_or(|s| a.is_surface_supported(s))
                })
                .ok_or_else(|| {
                    Error::gpu(format!(
                        "no GPU adapter matches '{name}'; available: {}",
                        if names.is_empty() {
                            "none (install mesa-vulkan-drivers or a GPU driver)".to_string()
                        } else {
                            names.join("; ")
                        }
                    ))
                })
        }
    }
}
