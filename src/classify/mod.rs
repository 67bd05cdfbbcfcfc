//! Tile classifiers: given every tile's 10x10 RGB patch, pick one emoji per tile.
//! One call per frame, over all tiles at once.

use crate::error::Result;

/// Bytes of one tile patch: 10x10 RGB, u8.
pub const PATCH: usize = 10;
pub const PATCH_BYTES: usize = PATCH * PATCH * 3;

pub mod nearest;
pub mod onnx;

pub trait Classifier: Send {
    fn name(&self) -> &'static str;
    /// Restrict the choice to the emoji with `allowed[i] == true` (length = atlas count).
    fn set_allowed(&mut self, allowed: &[bool]) -> Result<()>;
    /// `patches` holds N patches of `PATCH_BYTES` each; writes N atlas indices into `out`.
    fn classify(&mut self, patches: &[u8], out: &mut Vec<u32>) -> Result<()>;
}
