//! The frame pipeline every mode shares: tile on the GPU, classify all (changed) tiles in one
//! batch, render the emoji from the atlas. Live preview, offline render, bench and the tests
//! all drive this one struct.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::atlas::Atlas;
use crate::classify::nearest::NearestClassifier;
use crate::classify::onnx::{OnnxClassifier, OnnxOptions};
use crate::classify::{Classifier, PATCH_BYTES};
use crate::cli::ClassifierKind;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::gpu::renderer::{Background, Renderer};
use crate::gpu::tiler::Tiler;
use crate::gpu::{AdapterPreference, GpuContext};

pub const MIN_TILE: u32 = 4;
pub const MAX_TILE: u32 = 64;

/// Default change threshold: a tile is re-classified when one of its 2x2 quadrant mean colours
/// moved by more than this many sRGB levels since it was last classified. Sensor noise moves
/// quadrant means by ~1 level (25 px averaged); a moving edge moves them by tens.
pub const DEFAULT_CHANGE_THRESHOLD: u8 = 8;

#[derive(Clone, Debug)]
pub struct Settings {
    pub tile: u32,
    pub classifier: ClassifierKind,
    pub background: Background,
    pub emoji_set: String,
    pub adapter: AdapterPreference,
    pub onnx: OnnxOptions,
    /// Re-classify only tiles that changed by more than this (None: every tile, every frame).
    pub change_threshold: Option<u8>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tile: 10,
            classifier: ClassifierKind::Onnx,
            background: Background::Color([0, 0, 0]),
            emoji_set: "default".into(),
            adapter: AdapterPreference::Auto,
            onnx: OnnxOptions::default(),
            change_threshold: None,
        }
    }
}

pub fn check_tile(tile: u32) -> Result<()> {
    if (MIN_TILE..=MAX_TILE).contains(&tile) {
        Ok(())
    } else {
        Err(Error::usage(format!("tile size {tile} is out of range: use {MIN_TILE}..={MAX_TILE} pixels")))
    }
}

/// Wall time of each stage for the last frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    /// Upload + tile compute + patch readback (GPU).
    pub tile: Duration,
    pub classify: Duration,
    /// Render pass + readback of the rendered image.
    pub render: Duration,
    pub total: Duration,
    /// Tiles sent to the classifier this frame.
    pub classified: usize,
    pub tiles: usize,
}

/// The grid of one processed frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grid {
    pub tile: u32,
    pub cols: u32,
    pub rows: u32,
    pub src_width: u32,
    pub src_height: u32,
}

pub struct Pipeline {
    gpu: Arc<GpuContext>,
    atlas: Arc<Atlas>,
    tiler: Tiler,
    renderer: Renderer,
    classifier: Box<dyn Classifier>,
    settings: Settings,
    grid: Option<Grid>,
    emoji: Vec<u32>,
    tile_colors: Vec<[u8; 3]>,
    /// 2x2 quadrant means (12 bytes per tile) of each tile when it was last classified.
    reference: Vec<[u8; 12]>,
    changed: Vec<u32>,
    batch: Vec<u8>,
    choices: Vec<u32>,
    times: StageTimes,
}

impl Pipeline {
    pub fn new(settings: Settings) -> Result<Self> {
        let atlas = Arc::new(Atlas::embedded()?);
        let gpu = Arc::new(GpuContext::new(settings.adapter.clone())?);
        Self::with_parts(gpu, atlas, settings)
    }

    pub fn with_parts(gpu: Arc<GpuContext>, atlas: Arc<Atlas>, settings: Settings) -> Result<Self> {
        check_tile(settings.tile)?;
        let allowed = atlas.allowed(&settings.emoji_set)?;
        let mut classifier = make_classifier(&gpu, &atlas, &settings)?;
        classifier.set_allowed(&allowed)?;
        let tiler = Tiler::new(&gpu)?;
        let renderer = Renderer::new(&gpu, &atlas)?;
        Ok(Self {
            gpu,
            atlas,
            tiler,
            renderer,
            classifier,
            settings,
            grid: None,
            emoji: Vec::new(),
            tile_colors: Vec::new(),
            reference: Vec::new(),
            changed: Vec::new(),
            batch: Vec::new(),
            choices: Vec::new(),
            times: StageTimes::default(),
        })
    }

    pub fn gpu(&self) -> &Arc<GpuContext> {
        &self.gpu
    }

    pub fn atlas(&self) -> &Arc<Atlas> {
        &self.atlas
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn renderer_mut(&mut self) -> &mut Renderer {
        &mut self.renderer
    }

    pub fn tiler(&self) -> &Tiler {
        &self.tiler
    }

    pub fn times(&self) -> StageTimes {
        self.times
    }

    pub fn grid(&self) -> Option<&Grid> {
        self.grid.as_ref()
    }

    /// The emoji chosen for the last frame, row-major.
    pub fn emoji(&self) -> &[u32] {
        &self.emoji
    }

    /// Each tile's mean colour for the last frame (used by the `tile` background).
    pub fn tile_colors(&self) -> &[[u8; 3]] {
        &self.tile_colors
    }

    pub fn set_tile(&mut self, tile: u32) -> Result<()> {
        check_tile(tile)?;
        self.settings.tile = tile;
        self.invalidate();
        Ok(())
    }

    pub fn set_emoji_set(&mut self, name: &str) -> Result<()> {
        let allowed = self.atlas.allowed(name)?;
        self.classifier.set_allowed(&allowed)?;
        self.settings.emoji_set = name.to_string();
        self.invalidate();
        Ok(())
    }

    pub fn set_background(&mut self, background: Background) -> Result<()> {
        self.settings.background = background;
        if self.settings.classifier == ClassifierKind::Nearest {
            // The nearest objective composites each emoji over the background.
            let mut c = make_classifier(&self.gpu, &self.atlas, &self.settings)?;
            c.set_allowed(&self.atlas.allowed(&self.settings.emoji_set)?)?;
            self.classifier = c;
            self.invalidate();
        }
        Ok(())
    }

    /// Forget what was classified, so the next frame classifies every tile.
    pub fn invalidate(&mut self) {
        self.grid = None;
    }

    /// Tiles and classifies one frame. Returns the grid; the emoji are in [`Self::emoji`].
    pub fn classify(&mut self, frame: &Frame) -> Result<Grid> {
        if frame.width == 0 || frame.height == 0 {
            return Err(Error::usage("the input image is empty (0 pixels)"));
        }
        let start = Instant::now();
        let tile = self.settings.tile;
        let patches = self.tiler.tile(frame, tile)?;
        let cols = frame.width.div_ceil(tile);
        let rows = frame.height.div_ceil(tile);
        let n = (cols * rows) as usize;
        if patches.len() != n * PATCH_BYTES {
            return Err(Error::Gpu(format!("tiler returned {} bytes for {n} tiles", patches.len())));
        }
        let t_tile = start.elapsed();

        let grid = Grid {
            tile,
            cols,
            rows,
            src_width: frame.width,
            src_height: frame.height,
        };
        let fresh = self.grid.as_ref() != Some(&grid) || self.emoji.len() != n;
        if fresh {
            self.emoji.clear();
            self.emoji.resize(n, 0);
            self.reference.clear();
            self.reference.resize(n, [0; 12]);
        }
        self.tile_colors.resize(n, [0; 3]);

        // Decide which tiles to classify: all on a fresh grid, else the ones that changed.
        self.changed.clear();
        self.batch.clear();
        for (i, patch) in patches.chunks_exact(PATCH_BYTES).enumerate() {
            let q = quadrant_means(patch);
            self.tile_colors[i] = mean_of_quadrants(&q);
            let changed = match self.settings.change_threshold {
                _ if fresh => true,
                None => true,
                Some(t) => q.iter().zip(&self.reference[i]).any(|(a, b)| a.abs_diff(*b) > t),
            };
            if changed {
                self.reference[i] = q;
                self.changed.push(i as u32);
                self.batch.extend_from_slice(patch);
            }
        }

        let t0 = Instant::now();
        if !self.changed.is_empty() {
            self.classifier.classify(&self.batch, &mut self.choices)?;
            if self.choices.len() != self.changed.len() {
                return Err(Error::Classifier(format!(
                    "{} returned {} choices for {} tiles",
                    self.classifier.name(),
                    self.choices.len(),
                    self.changed.len()
                )));
            }
            for (&i, &c) in self.changed.iter().zip(&self.choices) {
                self.emoji[i as usize] = c;
            }
        }
        let t_classify = t0.elapsed();
        self.times = StageTimes {
            tile: t_tile,
            classify: t_classify,
            render: Duration::ZERO,
            total: start.elapsed(),
            classified: self.changed.len(),
            tiles: n,
        };
        self.grid = Some(grid.clone());
        Ok(grid)
    }

    /// Renders the last classified frame at `size` (default: the source size) and reads it back.
    pub fn render(&mut self, size: Option<(u32, u32)>) -> Result<Frame> {
        let grid = self.grid.clone().ok_or_else(|| Error::Other("render called before classify".into()))?;
        let (w, h) = size.unwrap_or((grid.src_width, grid.src_height));
        let t0 = Instant::now();
        let colors = matches!(self.settings.background, Background::Tile).then_some(self.tile_colors.as_slice());
        let frame = self.renderer.render_to_frame(
            &self.emoji,
            grid.cols,
            grid.rows,
            grid.tile,
            (grid.src_width, grid.src_height),
            colors,
            self.settings.background,
            (w, h),
        )?;
        self.times.render = t0.elapsed();
        self.times.total += self.times.render;
        Ok(frame)
    }

    /// Classify and render in one call.
    pub fn process(&mut self, frame: &Frame, size: Option<(u32, u32)>) -> Result<Frame> {
        self.classify(frame)?;
        self.render(size)
    }
}

fn make_classifier(gpu: &Arc<GpuContext>, atlas: &Atlas, settings: &Settings) -> Result<Box<dyn Classifier>> {
    Ok(match settings.classifier {
        ClassifierKind::Onnx => Box::new(OnnxClassifier::new(atlas.count(), &settings.onnx)?),
        ClassifierKind::Nearest => Box::new(NearestClassifier::new(gpu, atlas, settings.background)?),
    })
}

/// Mean RGB of each 5x5 quadrant (TL, TR, BL, BR) of a 10x10 patch.
pub fn quadrant_means(patch: &[u8]) -> [u8; 12] {
    let mut sums = [0u32; 12];
    for y in 0..10 {
        for x in 0..10 {
            let q = (y / 5) * 2 + x / 5;
            let p = (y * 10 + x) * 3;
            for c in 0..3 {
                sums[q * 3 + c] += patch[p + c] as u32;
            }
        }
    }
    let mut out = [0u8; 12];
    for (o, s) in out.iter_mut().zip(sums) {
        *o = ((s + 12) / 25) as u8;
    }
    out
}

fn mean_of_quadrants(q: &[u8; 12]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let s: u32 = (0..4).map(|k| q[k * 3 + c] as u32).sum();
        *o = ((s + 2) / 4) as u8;
    }
    out
}
