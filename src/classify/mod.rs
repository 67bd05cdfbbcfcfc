//! Tile classifiers: given every tile's input (its 10x10 RGB patch, or its 2x2 quadrant means:
//! [`Input`]), pick one emoji per tile. One call per frame, over all tiles at once.

use crate::error::Result;

pub use crate::domain::likeness::{DEFAULT_VARIETY, MAX_VARIETY, VARIETY_UNIT};
use crate::domain::Background;
pub use crate::domain::{PATCH, PATCH_BYTES, QUADS_BYTES};

pub mod features;
pub mod nearest;
pub mod onnx;
pub mod texture;

/// What a classifier reads per tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The 10x10 RGB patch, [`PATCH_BYTES`] (`Tiles::patches`).
    Patches,
    /// The patch's rounded 2x2 quadrant means, [`QUADS_BYTES`] (`Tiles::means`,
    /// [`crate::domain::quadrant_means`]): all the 2x2 objective needs.
    Quads,
}

impl Input {
    /// Bytes per tile.
    pub const fn bytes(self) -> usize {
        match self {
            Input::Patches => PATCH_BYTES,
            Input::Quads => QUADS_BYTES,
        }
    }
}

pub trait Classifier: Send {
    fn name(&self) -> &'static str;
    /// What [`Classifier::classify`] takes per tile.
    fn input(&self) -> Input;
    /// The most tiles one frame may have for this classifier on its GPU; `None`: no limit of
    /// its own (the tiler's still holds).
    fn max_tiles(&self) -> Option<u64> {
        None
    }
    /// Restrict the choice to the emoji with `allowed[i] == true` (length = atlas count).
    fn set_allowed(&mut self, allowed: &[bool]) -> Result<()>;
    /// The background the emoji will be drawn over: the objective scores each emoji as
    /// composited over it.
    fn set_background(&mut self, _background: Background) {}
    /// How far from the best emoji a tile may go for variety (0: always the best; see
    /// [`VARIETY_UNIT`]). Classifiers without a variety term ignore it.
    fn set_variety(&mut self, _variety: f32) {}
    /// Whether this classifier strays from the best emoji for variety at its settings (then
    /// the pipeline also keeps any one emoji off most of a frame: [`crate::domain::spread`]).
    fn varies(&self) -> bool {
        false
    }
    /// The whole frame's tiles (their rounded quadrant means), before some or all of them are
    /// classified: a classifier with a term read from the whole frame (the ONNX model's dark
    /// budget, [`crate::domain::likeness::dark_budget`], flat share,
    /// [`crate::domain::likeness::frame_flat`], and what the picture over black spends per
    /// tile, [`crate::domain::likeness::BlackFloor::frame_black`]) takes it from here, so a batch of a few
    /// changed tiles is classified as part of its frame. Until the first call a batch stands for
    /// its own frame. Classifiers without such a term ignore it.
    fn set_frame(&mut self, _means: &[[u8; QUADS_BYTES]]) {}
    /// `tiles` holds N tiles' inputs of [`Input::bytes`] each ([`Classifier::input`]); writes N
    /// atlas indices into `out`. The tiles are taken as the tiles of one row (for the variety
    /// pattern).
    fn classify(&mut self, tiles: &[u8], out: &mut Vec<u32>) -> Result<()>;
    /// [`Classifier::classify`] for tiles at known grid positions (`[column, row]` each), so
    /// the variety pattern is keyed to where each tile is: the same tile and input give the same
    /// emoji in every frame, whichever other tiles are in the batch.
    fn classify_at(&mut self, tiles: &[u8], _positions: &[[u32; 2]], out: &mut Vec<u32>) -> Result<()> {
        self.classify(tiles, out)
    }
    /// [`Classifier::classify_at`] with each tile's background colour under
    /// [`Background::Tile`] already worked out (`backdrops[i]`, [`quads_backdrop`] of tile `i`:
    /// the pipeline's tile colours), so that it is not worked out twice per frame. A classifier
    /// that does not read it, or a `backdrops` of another length, gets its own.
    ///
    /// [`quads_backdrop`]: crate::domain::patch::quads_backdrop
    fn classify_over(
        &mut self,
        tiles: &[u8],
        positions: &[[u32; 2]],
        _backdrops: &[[u8; 3]],
        out: &mut Vec<u32>,
    ) -> Result<()> {
        self.classify_at(tiles, positions, out)
    }
    /// The flat share ([`crate::domain::likeness::frame_flat`]) of the frame last given to
    /// [`Classifier::set_frame`], where this classifier measured it (so the spread need not
    /// measure it again).
    fn frame_flat(&self) -> Option<f32> {
        None
    }
}
