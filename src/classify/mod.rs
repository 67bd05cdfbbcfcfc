//! Tile classifiers: given every tile's 10x10 RGB patch, pick one emoji per tile.
//! One call per frame, over all tiles at once.

use crate::error::Result;

/// Bytes of one tile patch: 10x10 RGB, u8.
pub const PATCH: usize = 10;
pub const PATCH_BYTES: usize = PATCH * PATCH * 3;

/// Sums of each 5x5 quadrant of a patch (TL, TR, BL, BR), RGB: the 2x2 grid the objective
/// compares, and what the tiler measures change on.
pub fn quadrant_sums(patch: &[u8]) -> [[u32; 3]; 4] {
    let mut sum = [[0u32; 3]; 4];
    for (i, px) in patch.chunks_exact(3).take(PATCH * PATCH).enumerate() {
        let q = (i / PATCH / 5) * 2 + (i % PATCH) / 5;
        for c in 0..3 {
            sum[q][c] += px[c] as u32;
        }
    }
    sum
}

pub mod nearest;
pub mod onnx;
pub mod texture;

/// Variety 1.0 lets a tile take any emoji whose 2x2 squared error (summed over the 12 values)
/// is up to `VARIETY_UNIT` worse than the best one's (an RMS of ~9 sRGB levels), all of them
/// equally likely, picked by a fixed spatial pattern: flat areas become a varied texture instead
/// of one emoji repeated.
pub const VARIETY_UNIT: f32 = 1000.0;

/// Default `--variety` (measured trade-off: see models/EVAL.md).
pub const DEFAULT_VARIETY: f32 = 1.5;

/// Largest accepted `--variety`.
pub const MAX_VARIETY: f32 = 10.0;

pub trait Classifier: Send {
    fn name(&self) -> &'static str;
    /// Restrict the choice to the emoji with `allowed[i] == true` (length = atlas count).
    fn set_allowed(&mut self, allowed: &[bool]) -> Result<()>;
    /// The background the emoji will be drawn over: the objective scores each emoji as
    /// composited over it.
    fn set_background(&mut self, _background: crate::gpu::Background) {}
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
