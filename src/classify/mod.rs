//! Tile classifiers: given every tile's 10x10 RGB patch, pick one emoji per tile.
//! One call per frame, over all tiles at once.

use crate::error::Result;

pub use crate::domain::likeness::{DEFAULT_VARIETY, MAX_VARIETY, VARIETY_UNIT};
use crate::domain::Background;
pub use crate::domain::{PATCH, PATCH_BYTES};

pub mod nearest;
pub mod onnx;
pub mod texture;

pub trait Classifier: Send {
    fn name(&self) -> &'static str;
    /// Restrict the choice to the emoji with `allowed[i] == true` (length = atlas count).
    fn set_allowed(&mut self, allowed: &[bool]) -> Result<()>;
    /// The background the emoji will be drawn over: the objective scores each emoji as
    /// composited over it.
    fn set_background(&mut self, _background: Background) {}
    /// How far from the best emoji a tile may go for variety (0: always the best; see
    /// [`VARIETY_UNIT`]). Classifiers without a variety term ignore it.
    fn set_variety(&mut self, _variety: f32) {}
    /// `patches` holds N patches of `PATCH_BYTES` each; writes N atlas indices into `out`.
    /// The patches are taken as the tiles of one row (for the variety pattern).
    fn classify(&mut self, patches: &[u8], out: &mut Vec<u32>) -> Result<()>;
    /// [`Classifier::classify`] for patches at known grid positions (`[column, row]` each), so
    /// the variety pattern is keyed to where each tile is: the same tile and patch give the same
    /// emoji in every frame, whichever other tiles are in the batch.
    fn classify_at(&mut self, patches: &[u8], _positions: &[[u32; 2]], out: &mut Vec<u32>) -> Result<()> {
        self.classify(patches, out)
    }
}
