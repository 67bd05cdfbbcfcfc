//! The frame pipeline every mode shares: tile on the GPU, classify all (changed) tiles in one
//! batch, render the emoji from the atlas. Live preview, offline render, bench and the tests
//! all drive this one struct.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::atlas::Atlas;
use crate::classify::nearest::NearestClassifier;
use crate::classify::onnx::OnnxClassifier;
use crate::classify::{Classifier, Input};
use crate::domain::likeness::Objective;
use crate::domain::spread::{FrameTiles, Spread};
use crate::domain::{quads_backdrop, Background, ClassifierKind, Grid, MosaicFrame, Stamp, PATCH_BYTES};
use crate::error::{Error, Result};
use crate::frame::{Frame, I420Frame, Matrix};
use crate::gpu::i420::I420Pass;
use crate::gpu::renderer::{Renderer, Scene};
use crate::gpu::tiler::{Tiler, Tiles};
use crate::gpu::GpuContext;

pub use crate::config::{Config, Settings};
pub use crate::domain::likeness::{DEFAULT_CHANGE_THRESHOLD, KEEP_MARGIN};
pub use crate::domain::{MAX_TILE, MIN_TILE};

/// Wall time of each stage for the last frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    /// Frame upload and queuing the tile pass (CPU side of the GPU work).
    pub upload: Duration,
    /// Upload + tile compute + readback (quadrant means and change; patches when asked for),
    /// `upload` included.
    pub tile: Duration,
    pub classify: Duration,
    /// Render pass + readback of the rendered image ([`Pipeline::render`]), plus the
    /// recorder's I420 frame ([`Pipeline::render_i420`]) and the window's draw and present
    /// ([`Pipeline::add_render_time`]) when there are.
    pub render: Duration,
    pub total: Duration,
    /// Tiles sent to the classifier this frame.
    pub classified: usize,
    pub tiles: usize,
    /// Changed tiles left for the next frame by [`Settings::frame_budget`].
    pub carried: usize,
}

/// Frames in, [`MosaicFrame`]s out: [`Self::classify`] (or [`Self::push`] and
/// [`Self::flush`]) then [`Self::render`]. Built from [`Settings`] by [`Self::new`].
pub struct Pipeline {
    gpu: Arc<GpuContext>,
    tiler: Tiler,
    renderer: Renderer,
    /// The live recorder's I420 conversion, built the first time it is used.
    i420: Option<I420Pass>,
    classifier: Box<dyn Classifier>,
    config: Config,
    grid: Option<Grid>,
    tiles: Tiles,
    emoji: Vec<u32>,
    tile_colors: Vec<[u8; 3]>,
    changed: Vec<u32>,
    /// Grid position (column, row) of each tile in the batch, for the variety pattern.
    positions: Vec<[u32; 2]>,
    started: Option<Instant>,
    upload: Duration,
    batch: Vec<u8>,
    /// The tile colours of the tiles in `batch`.
    batch_colors: Vec<[u8; 3]>,
    choices: Vec<u32>,
    times: StageTimes,
    /// The atlas's 2x2 features, for [`KEEP_MARGIN`] and [`Spread`] (computed on first use).
    features: Option<Vec<[f32; 16]>>,
    /// Keeps any one emoji off most of a frame when the classifier varies (built on first use).
    spread: Option<Spread>,
    /// The frame pushed by [`Self::push`] that is being tiled, if any.
    in_flight: Option<Stamp>,
    /// Classify time per tile in ms, a running average (for [`Settings::frame_budget`]).
    per_tile_ms: Option<f64>,
}

/// Below this many tiles a batch's time says little about the time per tile.
const BUDGET_SAMPLE: usize = 256;
/// However far behind, at least this share of the budget goes to classifying, so that the
/// changed tiles are worked off.
const MIN_CLASSIFY_SHARE: f64 = 0.25;

impl Pipeline {
    /// A pipeline on the embedded atlas and the adapter `settings` name; the settings are
    /// checked ([`Settings::validate`]) before any GPU work.
    pub fn new(settings: Settings) -> Result<Self> {
        let atlas = Arc::new(Atlas::embedded()?);
        Self::with_config(settings.validate(atlas)?)
    }

    /// A pipeline for checked settings, on the adapter they name.
    pub fn with_config(config: Config) -> Result<Self> {
        let gpu = Arc::new(GpuContext::new(config.settings().adapter.clone())?);
        Self::with_gpu(gpu, config)
    }

    /// Several pipelines sharing one device and atlas (the bench): checks `settings` against
    /// `atlas`, then as [`Self::with_gpu`].
    pub fn with_parts(gpu: Arc<GpuContext>, atlas: Arc<Atlas>, settings: Settings) -> Result<Self> {
        Self::with_gpu(gpu, settings.validate(atlas)?)
    }

    /// A pipeline for checked settings on an open device (a window's, which must be able to
    /// present). Fails only on the GPU or the classifier, never on a setting.
    pub fn with_gpu(gpu: Arc<GpuContext>, config: Config) -> Result<Self> {
        let classifier = make_classifier(&gpu, config.atlas(), config.settings())?;
        Self::with_classifier(gpu, config, classifier)
    }

    /// A pipeline for checked settings on an open device that classifies with `classifier`
    /// instead of the one the settings name (the bench's model of before issue 15); the
    /// settings' emoji set, background and variety are given to it.
    pub fn with_classifier(gpu: Arc<GpuContext>, config: Config, mut classifier: Box<dyn Classifier>) -> Result<Self> {
        let atlas = config.atlas();
        let settings = config.settings();
        classifier.set_allowed(config.allowed())?;
        classifier.set_background(settings.background);
        classifier.set_variety(settings.variety);
        let mut tiler = Tiler::new(gpu.clone(), settings.tile)?;
        tiler.keep_patches(classifier.input() == Input::Patches);
        let renderer = Renderer::new(gpu.clone(), atlas)?;
        Ok(Self {
            gpu,
            tiler,
            renderer,
            i420: None,
            classifier,
            config,
            grid: None,
            tiles: Tiles::default(),
            emoji: Vec::new(),
            tile_colors: Vec::new(),
            changed: Vec::new(),
            positions: Vec::new(),
            started: None,
            upload: Duration::ZERO,
            batch: Vec::new(),
            batch_colors: Vec::new(),
            choices: Vec::new(),
            times: StageTimes::default(),
            features: None,
            spread: None,
            in_flight: None,
            per_tile_ms: None,
        })
    }

    pub fn gpu(&self) -> &Arc<GpuContext> {
        &self.gpu
    }

    pub fn atlas(&self) -> &Arc<Atlas> {
        self.config.atlas()
    }

    pub fn settings(&self) -> &Settings {
        self.config.settings()
    }

    /// The tiles of the last frame (quadrant means and change data; patches when the classifier
    /// reads them or [`Self::keep_patches`] asked for them).
    pub fn tiles(&self) -> &Tiles {
        &self.tiles
    }

    /// Read back every tile's 10x10 patch into [`Self::tiles`] even when the classifier does not
    /// need them (it reads only the quadrant means: the ONNX classifier); from the next frame on.
    pub fn keep_patches(&mut self, keep: bool) {
        self.tiler
            .keep_patches(keep || self.classifier.input() == Input::Patches);
    }

    /// The size a picture of `width` x `height` must be scaled to for this pipeline's tiles
    /// on its GPU (a panorama, a 100-megapixel photo); `None` when it fits as it is.
    pub fn fit(&self, width: u32, height: u32) -> Option<(u32, u32)> {
        self.tiler.fit(width, height, self.classifier.max_tiles())
    }

    pub fn times(&self) -> StageTimes {
        self.times
    }

    pub fn grid(&self) -> Option<&Grid> {
        self.grid.as_ref()
    }

    pub fn set_tile(&mut self, tile: u32) -> Result<()> {
        self.config.set_tile(tile)?;
        self.tiler.set_tile(tile)?;
        self.invalidate();
        Ok(())
    }

    pub fn set_emoji_set(&mut self, name: &str) -> Result<()> {
        self.config.set_emoji_set(name)?;
        self.classifier.set_allowed(self.config.allowed())?;
        self.invalidate();
        Ok(())
    }

    pub fn set_background(&mut self, background: Background) -> Result<()> {
        self.config.set_background(background);
        self.classifier.set_background(background);
        // Every classifier's objective composites each emoji over the background.
        self.invalidate();
        Ok(())
    }

    /// See [`Settings::variety`].
    pub fn set_variety(&mut self, variety: f32) -> Result<()> {
        self.config.set_variety(variety)?;
        self.classifier.set_variety(variety);
        self.invalidate();
        Ok(())
    }

    /// Forget what was classified, so the next frame classifies every tile.
    pub fn invalidate(&mut self) {
        self.grid = None;
    }

    /// Tiles and classifies one frame: the emoji of every tile, owned.
    pub fn classify(&mut self, frame: &Frame, stamp: Stamp) -> Result<MosaicFrame> {
        if self.in_flight.is_some() {
            return Err(Error::Other("a pushed frame is still in flight: flush first".into()));
        }
        self.submit(frame)?;
        let upload = self.upload;
        let (start, t_tile) = self.read_tiles()?;
        self.classify_tiles(start, t_tile, upload, stamp)
    }

    /// Pipelined classification for throughput (offline rendering): the GPU tiles `frame`
    /// while the CPU classifies the frame pushed before it. Returns that earlier frame's
    /// mosaic (its stamp says which frame it is), or None for the first frame. Call
    /// [`Self::flush`] after the last frame.
    pub fn push(&mut self, frame: &Frame, stamp: Stamp) -> Result<Option<MosaicFrame>> {
        let Some(previous) = self.in_flight else {
            self.submit(frame)?;
            self.in_flight = Some(stamp);
            return Ok(None);
        };
        let upload = self.upload;
        let (start, t_tile) = self.read_tiles()?;
        // The next frame's tiling starts now and runs while this one is classified; it is
        // compared with the tiles accepted before this frame (accepting this one's takes
        // effect from the frame after), so a tile that changed here is looked at once more.
        if let Err(e) = self.submit(frame) {
            self.in_flight = None;
            return Err(e);
        }
        self.in_flight = Some(stamp);
        self.classify_tiles(start, t_tile, upload, previous).map(Some)
    }

    /// Whether offline rendering uses [`Self::push`]: only with `EMOJICAM_PIPELINE=1`. It
    /// measured slower on both kinds of adapter measured (bench, pipelining table): on a
    /// software rasteriser the "GPU" work runs on the classifier's cores (82 vs 91 frames/s at
    /// 1280x720 on 2 cores), and an NVIDIA H200 tiles a frame in 0.2-1.4 ms, less than the
    /// extra tiles a pipelined frame classifies (each is compared with the tiles accepted
    /// before the frame in flight): 93 vs 114 frames/s at 1280x720, 40 vs 48 at 1920x1080.
    pub fn pipelining_pays(&self) -> bool {
        std::env::var("EMOJICAM_PIPELINE").is_ok_and(|v| v.trim() == "1")
    }

    /// Classifies the frame still in flight after the last [`Self::push`], if any.
    pub fn flush(&mut self) -> Result<Option<MosaicFrame>> {
        let Some(stamp) = self.in_flight.take() else {
            return Ok(None);
        };
        let upload = self.upload;
        let (start, t_tile) = self.read_tiles()?;
        self.classify_tiles(start, t_tile, upload, stamp).map(Some)
    }

    /// Uploads the frame and queues the GPU tiling without waiting.
    fn submit(&mut self, frame: &Frame) -> Result<()> {
        if frame.width == 0 || frame.height == 0 {
            return Err(Error::usage("the input image is empty (0 pixels)"));
        }
        let start = Instant::now();
        self.started = Some(start);
        self.tiler.submit(frame)?;
        self.upload = start.elapsed();
        Ok(())
    }

    /// Waits for the submitted frame's tiles; returns when its submit started and how long
    /// until its tiles were in.
    fn read_tiles(&mut self) -> Result<(Instant, Duration)> {
        let start = self.started.take().unwrap_or_else(Instant::now);
        self.tiler.read(&mut self.tiles)?;
        let n = self.tiles.len();
        // Patches are there when the batch was submitted with them: `keep_patches` may have
        // changed since, so the check is on what came back (whole, or none unless the
        // classifier reads them), not on the tiler's current flag.
        let got = self.tiles.patches.len();
        let patches_ok = got == n * PATCH_BYTES || (got == 0 && self.classifier.input() != Input::Patches);
        if !patches_ok || self.tiles.means.len() != n {
            return Err(Error::gpu(format!(
                "tiler returned {} bytes of patches and {} quadrant means for {n} tiles",
                self.tiles.patches.len(),
                self.tiles.means.len()
            )));
        }
        Ok((start, start.elapsed()))
    }

    /// Classifies the tiles read back for the frame `stamp`: the changed ones (all of them on
    /// a new grid) in one batch.
    fn classify_tiles(
        &mut self,
        start: Instant,
        t_tile: Duration,
        upload: Duration,
        stamp: Stamp,
    ) -> Result<MosaicFrame> {
        let n = self.tiles.len();
        let grid = self.tiles.grid;
        let fresh = self.grid.as_ref() != Some(&grid) || self.emoji.len() != n;
        if fresh {
            self.emoji.clear();
            self.emoji.resize(n, 0);
        }

        // Decide which tiles to classify: all on a fresh grid, else the ones that changed.
        self.changed.clear();
        match self.config.settings().change_threshold {
            Some(t) if !fresh => self.changed.extend(self.tiles.changed(t as u32)),
            _ => self.changed.extend(0..n as u32),
        }
        let carried = if fresh { 0 } else { self.fit_budget(t_tile) };
        let t0 = Instant::now();
        // before the classifier, which reads them as the classified tiles' backgrounds
        self.refresh_tile_colors(fresh);
        if !self.changed.is_empty() {
            self.classify_changed(grid, fresh)?;
        }
        let t_classify = t0.elapsed();
        if self.changed.len() >= BUDGET_SAMPLE {
            let now = t_classify.as_secs_f64() * 1e3 / self.changed.len() as f64;
            self.per_tile_ms = Some(self.per_tile_ms.map_or(now, |p| 0.7 * p + 0.3 * now));
        }
        self.times = StageTimes {
            upload,
            tile: t_tile,
            classify: t_classify,
            render: Duration::ZERO,
            total: start.elapsed(),
            classified: self.changed.len(),
            tiles: n,
            carried,
        };
        self.grid = Some(grid);
        Ok(MosaicFrame {
            stamp,
            grid,
            emoji: self.emoji.clone(),
            background: self.config.settings().background,
            tile_colors: self.tile_colors.clone(),
        })
    }

    /// The tile background's colours: a tile keeps the colour it was classified against (its
    /// emoji was chosen as drawn over it) until it is classified again, so tiles left alone
    /// (unchanged, or carried by the frame budget) stay pixel for pixel the same and the
    /// renderer redraws only the re-classified ones. A fresh grid takes every tile's colour.
    fn refresh_tile_colors(&mut self, fresh: bool) {
        if self.config.settings().background != Background::Tile {
            self.tile_colors.clear();
        } else if fresh || self.tile_colors.len() != self.tiles.len() {
            self.tiles.backdrops(&mut self.tile_colors);
        } else {
            for &i in &self.changed {
                self.tile_colors[i as usize] = quads_backdrop(&self.tiles.means[i as usize]);
            }
        }
    }

    /// Classifies the tiles in `changed` (of `grid`; all of them when `fresh`) in one batch,
    /// keeps near-equal old choices, and marks them classified in the tiler.
    fn classify_changed(&mut self, grid: Grid, fresh: bool) -> Result<()> {
        let n = self.tiles.len();
        let cols = grid.cols.max(1);
        self.positions.clear();
        self.positions
            .extend(self.changed.iter().map(|&i| [i % cols, i / cols]));
        let input = self.classifier.input();
        let all: &[u8] = match input {
            Input::Patches => &self.tiles.patches,
            Input::Quads => self.tiles.means_bytes(),
        };
        // each batch tile's background under the tile background (none otherwise): the tile colours
        let (batch, backdrops): (&[u8], &[[u8; 3]]) = if self.changed.len() == n {
            (all, &self.tile_colors)
        } else {
            let size = input.bytes();
            self.batch.clear();
            for &i in &self.changed {
                let i = i as usize;
                self.batch.extend_from_slice(&all[i * size..(i + 1) * size]);
            }
            self.batch_colors.clear();
            if let Some(colors) = self.tile_colors.get(..n) {
                self.batch_colors
                    .extend(self.changed.iter().filter_map(|&i| colors.get(i as usize)));
            }
            (&self.batch, &self.batch_colors)
        };
        self.classifier.set_frame(&self.tiles.means);
        self.classifier
            .classify_over(batch, &self.positions, backdrops, &mut self.choices)?;
        if self.choices.len() != self.changed.len() {
            return Err(Error::Classifier(format!(
                "{} returned {} choices for {} tiles",
                self.classifier.name(),
                self.choices.len(),
                self.changed.len()
            )));
        }
        if !fresh && self.config.settings().change_threshold.is_some() {
            self.keep_near_equal();
        }
        for (&i, &c) in self.changed.iter().zip(&self.choices) {
            self.emoji[i as usize] = c;
        }
        if self.classifier.varies() {
            self.spread_most_common(cols);
        }
        if self.changed.len() == n {
            self.tiler.accept_all(&self.tiles);
        } else {
            self.tiler.accept(&self.tiles, &self.changed);
        }
        Ok(())
    }

    /// [`Settings::frame_budget`]: keeps in `changed` the tiles that changed most, as many as
    /// the classifier is expected to finish in what is left of the budget after tiling
    /// (`t_tile`) and rendering (the last frame's: `times` still holds it), and returns how many were left out. Ties
    /// go to the lower index, so the same frames make the same choice.
    fn fit_budget(&mut self, t_tile: Duration) -> usize {
        let (Some(budget), Some(per_tile)) = (self.config.settings().frame_budget, self.per_tile_ms) else {
            return 0;
        };
        let budget = budget.as_secs_f64() * 1e3;
        let left = budget - (t_tile + self.times.render).as_secs_f64() * 1e3;
        let fits = (left.max(budget * MIN_CLASSIFY_SHARE) / per_tile.max(1e-6)) as usize;
        let fits = fits.max(BUDGET_SAMPLE);
        if self.changed.len() <= fits {
            return 0;
        }
        let change = &self.tiles.change;
        let key = |i: &u32| std::cmp::Reverse(change.get(*i as usize).copied().unwrap_or(0));
        self.changed.sort_by_key(key);
        let carried = self.changed.len() - fits;
        self.changed.truncate(fits);
        self.changed.sort_unstable();
        carried
    }

    /// [`KEEP_MARGIN`]: a re-classified tile whose old emoji is nearly as good for its new
    /// quadrant means as the new choice keeps the old one (edits `choices` in place).
    fn keep_near_equal(&mut self) {
        let features = self.features.get_or_insert_with(|| self.config.atlas().features_2x2());
        let background = self.config.settings().background;
        for (&i, c) in self.changed.iter().zip(self.choices.iter_mut()) {
            let old = self.emoji[i as usize];
            if old == *c {
                continue;
            }
            let (Some(f_old), Some(f_new)) = (features.get(old as usize), features.get(*c as usize)) else {
                continue;
            };
            let objective = Objective::from_quads(&self.tiles.means[i as usize], background);
            if objective.error(f_old) <= objective.error(f_new) * (1.0 + KEEP_MARGIN) {
                *c = old;
            }
        }
    }

    /// [`Spread`]: the tiles classified this frame give up an emoji on more than
    /// [`crate::domain::spread::MOST_COMMON_SHARE`] of the frame.
    fn spread_most_common(&mut self, cols: u32) {
        let atlas = self.config.atlas();
        let features = self.features.get_or_insert_with(|| atlas.features_2x2());
        let spread = self
            .spread
            .get_or_insert_with(|| Spread::new((0..atlas.count()).map(|e| atlas.glyph(e)).collect()));
        let frame = FrameTiles {
            means: &self.tiles.means,
            cols,
            background: self.config.settings().background,
            flat: self.classifier.frame_flat(),
        };
        spread.apply(&mut self.emoji, &self.changed, &frame, features, self.config.allowed());
    }

    /// Keep each source frame on the GPU as a texture for [`Self::frame_view`] (costs one
    /// extra upload per frame, and for a video's I420 frames a conversion on the CPU, so only
    /// while the original is shown).
    pub fn keep_frame_view(&mut self, keep: bool) {
        self.tiler.keep_frame_view(keep);
    }

    /// The last uploaded source frame on the GPU (for showing the original beside the mosaic),
    /// once [`Self::keep_frame_view`] is on.
    pub fn frame_view(&self) -> Option<&wgpu::TextureView> {
        self.tiler.frame_view()
    }

    /// Renders `mosaic` at `size` (default: its source size) and reads it back.
    pub fn render(&mut self, mosaic: &MosaicFrame, size: Option<(u32, u32)>) -> Result<Frame> {
        let grid = mosaic.grid;
        let (w, h) = size.unwrap_or((grid.src_width, grid.src_height));
        let t0 = Instant::now();
        let frame = self.renderer.render_to_frame(&Scene::of(mosaic), w, h)?;
        self.times.render = t0.elapsed();
        self.times.total += self.times.render;
        Ok(frame)
    }

    /// Renders `mosaic` at its source size as I420 for the live recorder (see [`crate::gpu::i420`]):
    /// an odd size is padded to even by repeating the last column and row.
    pub fn render_i420(&mut self, mosaic: &MosaicFrame) -> Result<I420Frame> {
        let grid = mosaic.grid;
        let t0 = Instant::now();
        let pass = self.i420.get_or_insert_with(|| I420Pass::new(self.gpu.clone()));
        let mut out = I420Frame {
            width: 0,
            height: 0,
            matrix: Matrix::Bt601,
            data: Vec::new(),
        };
        pass.render(
            &mut self.renderer,
            &Scene::of(mosaic),
            (grid.src_width, grid.src_height),
            &mut out,
        )?;
        self.times.render += t0.elapsed();
        self.times.total += t0.elapsed();
        Ok(out)
    }

    /// Adds time spent drawing the last mosaic elsewhere (the window's draw and present) to
    /// its render time, which [`Settings::frame_budget`] leaves room for on the next frame.
    pub fn add_render_time(&mut self, time: Duration) {
        self.times.render += time;
        self.times.total += time;
    }

    /// The renderer, to draw a [`Scene`] into a window.
    pub fn renderer(&mut self) -> &mut Renderer {
        &mut self.renderer
    }

    /// Classify and render one frame in one call.
    pub fn process(&mut self, frame: &Frame, size: Option<(u32, u32)>) -> Result<Frame> {
        let mosaic = self.classify(frame, Stamp::default())?;
        self.render(&mosaic, size)
    }
}

fn make_classifier(gpu: &Arc<GpuContext>, atlas: &Atlas, settings: &Settings) -> Result<Box<dyn Classifier>> {
    Ok(match settings.classifier {
        ClassifierKind::Onnx => Box::new(OnnxClassifier::for_atlas(atlas, &settings.onnx)?),
        ClassifierKind::Nearest => Box::new(NearestClassifier::with_detail(
            gpu.clone(),
            atlas,
            settings.background,
            settings.detail,
        )?),
    })
}
