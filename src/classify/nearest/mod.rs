//! Exhaustive nearest-emoji search on the GPU: the quality reference and a fallback classifier.
//!
//! Tiles are compared with emoji at the 2x2-grid scale by default, the scale at which a viewer
//! judges likeness: matching raw pixels would pick square swatches everywhere and turn the
//! mosaic into pixel art. `--detail 3|4` compares a finer grid (models/EVAL.md, "Detail").

use std::sync::Arc;

use super::{Classifier, Input, PATCH_BYTES};

// nearest.wgsl reads each patch as 10x10 RGB bytes, 300 per patch (75 words).
const _: () = assert!(PATCH_BYTES == 300, "nearest.wgsl assumes 10x10 RGB patches");
use crate::atlas::Atlas;
use crate::domain::likeness::{emoji_grid_features, DARK_LEVEL, DEFAULT_DETAIL, MAX_DETAIL};
pub use crate::domain::likeness::{error, Objective};
use crate::domain::{Background, BACKDROP_BLACK, BACKDROP_FADE, GROUND_BRIGHT, GROUND_DARK};
use crate::error::{ClassifyError, Error, Result};
use crate::gpu::{
    assert_layout, bind, bind_group, buffer, compute_pipeline, dispatch, uniform_buffer, GpuContext, Readback,
    WORKGROUP,
};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    tiles: u32,
    candidates: u32,
    tile_background: u32,
    plain: u32,
    background: [f32; 4],
}

assert_layout!(Params, size 32, tiles @ 0, candidates @ 4, tile_background @ 8, plain @ 12, background @ 16);

/// Buffers sized for a number of tiles; they only grow.
struct Batch {
    capacity: u64,
    patches: wgpu::Buffer,
    choice: wgpu::Buffer,
    staging: Readback,
    bind_group: wgpu::BindGroup,
}

pub struct NearestClassifier {
    ctx: Arc<GpuContext>,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    params: wgpu::Buffer,
    /// Every emoji's detail x detail features (premultiplied RGB + alpha per grid cell).
    all_features: Vec<Vec<[f32; 4]>>,
    /// Only the allowed emoji are uploaded, so the search never spends time on the others.
    features: wgpu::Buffer,
    candidates: wgpu::Buffer,
    candidate_count: u32,
    /// The atlas entries before its dimmed copies ([`crate::atlas::DIM`]), which are candidates
    /// for dark tiles only, and how many of the allowed ones are such entries.
    plain_entries: u32,
    plain_count: u32,
    background: Background,
    batch: Option<Batch>,
}

impl NearestClassifier {
    pub fn new(ctx: Arc<GpuContext>, atlas: &Atlas, background: Background) -> Result<Self> {
        Self::with_detail(ctx, atlas, background, DEFAULT_DETAIL)
    }

    /// A classifier that compares a `detail` x `detail` grid per tile (2..=4; 2 is [`Self::new`]).
    pub fn with_detail(ctx: Arc<GpuContext>, atlas: &Atlas, background: Background, detail: u32) -> Result<Self> {
        if !(DEFAULT_DETAIL..=MAX_DETAIL).contains(&detail) {
            return Err(Error::Usage(format!(
                "invalid --detail {detail}: expected {DEFAULT_DETAIL} to {MAX_DETAIL}"
            )));
        }
        let device = &ctx.device;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("nearest"),
            source: wgpu::ShaderSource::Wgsl(include_str!("nearest.wgsl").into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("nearest"),
            entries: &[
                bind::compute(0, bind::UNIFORM),
                bind::compute(1, bind::storage(true)),
                bind::compute(2, bind::storage(true)),
                bind::compute(3, bind::storage(true)),
                bind::compute(4, bind::storage(false)),
            ],
        });
        let pipeline = compute_pipeline(
            device,
            "nearest",
            &module,
            &layout,
            "main",
            &[
                ("BACKDROP_BLACK", BACKDROP_BLACK),
                ("BACKDROP_FADE", BACKDROP_FADE),
                ("GROUND_DARK", GROUND_DARK),
                ("GROUND_BRIGHT", GROUND_BRIGHT),
                ("DARK_LEVEL", u32::from(DARK_LEVEL)),
                ("DETAIL", detail),
            ],
        );
        let params = uniform_buffer::<Params>(device, "nearest params");
        let all_features = grid_features(atlas, detail);
        let n = all_features.len() as u64;
        let storage = |label, size| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let features = storage("nearest features", n * 16 * (detail * detail) as u64);
        let candidates = storage("nearest candidates", n * 4);
        let mut this = Self {
            ctx,
            pipeline,
            layout,
            params,
            all_features,
            features,
            candidates,
            candidate_count: 0,
            plain_entries: atlas.plain_count(),
            plain_count: 0,
            background,
            batch: None,
        };
        this.set_allowed(&vec![true; n as usize])?;
        Ok(this)
    }

    /// The background the emoji are judged against; match the renderer's.
    pub fn set_background(&mut self, background: Background) {
        self.background = background;
    }

    /// Whether a batch of `capacity` tiles fits this GPU's buffer and dispatch limits.
    fn capacity_fits(&self, capacity: u64) -> bool {
        let limits = self.ctx.device.limits();
        capacity * PATCH_BYTES as u64 <= limits.max_storage_buffer_binding_size
            && capacity.div_ceil(WORKGROUP as u64) <= u64::from(limits.max_compute_workgroups_per_dimension)
    }

    /// Buffers for `tiles` tiles, built complete. Too many for this GPU is a limit of the
    /// machine, not a bad option: exit 1, as the tiler's own limit.
    fn new_batch(&self, tiles: u64) -> Result<Batch> {
        let device = &self.ctx.device;
        let capacity = tiles.next_power_of_two().max(WORKGROUP as u64);
        if !self.capacity_fits(capacity) {
            return Err(Error::GpuLimit(format!(
                "{tiles} tiles in one frame are more than this GPU can classify at once: use a larger --tile"
            )));
        }
        use wgpu::BufferUsages as U;
        let patches = buffer(
            device,
            "nearest patches",
            capacity * PATCH_BYTES as u64,
            U::STORAGE | U::COPY_DST,
        );
        let choice = buffer(device, "nearest choice", capacity * 4, U::STORAGE | U::COPY_SRC);
        let staging = Readback::new(&self.ctx.device, "nearest", capacity * 4);
        let bind_group = bind_group(
            device,
            "nearest",
            &self.layout,
            &[
                self.params.as_entire_binding(),
                patches.as_entire_binding(),
                self.features.as_entire_binding(),
                self.candidates.as_entire_binding(),
                choice.as_entire_binding(),
            ],
        );
        Ok(Batch {
            capacity,
            patches,
            choice,
            staging,
            bind_group,
        })
    }
}

impl Classifier for NearestClassifier {
    fn name(&self) -> &'static str {
        "nearest"
    }

    fn input(&self) -> Input {
        Input::Patches
    }

    /// Batches are sized in powers of two: the largest that fits.
    fn max_tiles(&self) -> Option<u64> {
        let mut capacity = WORKGROUP as u64;
        while self.capacity_fits(capacity * 2) {
            capacity *= 2;
        }
        Some(capacity)
    }

    fn set_background(&mut self, background: Background) {
        NearestClassifier::set_background(self, background);
    }

    fn set_allowed(&mut self, allowed: &[bool]) -> Result<()> {
        if allowed.len() != self.all_features.len() {
            return Err(ClassifyError::MaskLength {
                got: allowed.len(),
                classes: self.all_features.len(),
            }
            .into());
        }
        let indices: Vec<u32> = (0..allowed.len() as u32).filter(|&i| allowed[i as usize]).collect();
        if indices.is_empty() {
            return Err(Error::Usage("the emoji set is empty: allow at least one emoji".into()));
        }
        let features: Vec<f32> = indices
            .iter()
            .flat_map(|&i| self.all_features[i as usize].iter().flatten().copied())
            .collect();
        let queue = &self.ctx.queue;
        queue.write_buffer(&self.features, 0, bytemuck::cast_slice(&features));
        queue.write_buffer(&self.candidates, 0, bytemuck::cast_slice(&indices));
        self.candidate_count = indices.len() as u32;
        self.plain_count = indices.iter().filter(|&&i| i < self.plain_entries).count() as u32;
        Ok(())
    }

    fn classify(&mut self, patches: &[u8], out: &mut Vec<u32>) -> Result<()> {
        if !patches.len().is_multiple_of(PATCH_BYTES) {
            return Err(ClassifyError::PartialPatch(patches.len()).into());
        }
        let tiles = (patches.len() / PATCH_BYTES) as u64;
        out.clear();
        if tiles == 0 {
            return Ok(());
        }
        // the buffers of the last call, or (first call, more tiles than they hold) new ones
        let mut batch = match self.batch.take() {
            Some(b) if b.capacity >= tiles => b,
            _ => self.new_batch(tiles)?,
        };
        let result = self.run(&mut batch, patches, out);
        self.batch = Some(batch);
        result
    }
}

impl NearestClassifier {
    /// One dispatch over `patches` (a whole number of them, at least one) with `batch`'s buffers.
    fn run(&self, batch: &mut Batch, patches: &[u8], out: &mut Vec<u32>) -> Result<()> {
        let tiles = (patches.len() / PATCH_BYTES) as u64;
        let (tile_background, background) = match self.background {
            Background::Color([r, g, b]) => (0, [r as f32, g as f32, b as f32, 0.0]),
            Background::Tile => (1, [0.0; 4]),
        };
        let queue = &self.ctx.queue;
        queue.write_buffer(
            &self.params,
            0,
            bytemuck::bytes_of(&Params {
                tiles: tiles as u32,
                candidates: self.candidate_count,
                tile_background,
                plain: self.plain_count,
                background,
            }),
        );
        queue.write_buffer(&batch.patches, 0, patches);
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("nearest") });
        let groups = tiles.div_ceil(WORKGROUP as u64) as u32;
        dispatch(&mut encoder, "nearest", &self.pipeline, &batch.bind_group, (groups, 1));
        encoder.copy_buffer_to_buffer(&batch.choice, 0, batch.staging.buffer(), 0, tiles * 4);
        batch.staging.map_on_submit(&mut encoder, tiles * 4)?;
        queue.submit([encoder.finish()]);
        batch
            .staging
            .read(&self.ctx, |view| out.extend_from_slice(bytemuck::cast_slice(view)))?;
        Ok(())
    }
}

/// Every emoji's features on a `detail` x `detail` grid; at 2 exactly `Atlas::features_2x2`
/// (what the CPU side of the objective, `likeness::error`, uses).
fn grid_features(atlas: &Atlas, detail: u32) -> Vec<Vec<[f32; 4]>> {
    if detail == DEFAULT_DETAIL {
        return atlas
            .features_2x2()
            .iter()
            .map(|f| {
                (0..4)
                    .map(|q| [f[q * 4], f[q * 4 + 1], f[q * 4 + 2], f[q * 4 + 3]])
                    .collect()
            })
            .collect();
    }
    let side = atlas.cell;
    (0..atlas.count())
        .map(|i| emoji_grid_features(&atlas.cell_rgba(i), side, detail))
        .collect()
}
