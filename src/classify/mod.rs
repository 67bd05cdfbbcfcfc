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

pub trait Classifier: Send {
    fn name(&self) -> &'static str;
    /// Restrict the choice to the emoji with `allowed[i] == true` (length = atlas count).
    fn set_allowed(&mut self, allowed: &[bool]) -> Result<()>;
    /// The background the emoji will be drawn over. Only classifiers whose objective composites
    /// emoji over it (the exhaustive search) care; the model is trained over black.
    fn set_background(&mut self, _background: crate::gpu::Background) {}
    /// `patches` holds N patches of `PATCH_BYTES` each; writes N atlas indices into `out`.
    fn classify(&mut self, patches: &[u8], out: &mut Vec<u32>) -> Result<()>;
}
