//! The likeness objective every classifier serves: a tile and an emoji are compared at the
//! 2x2-grid scale (the scale at which a viewer judges likeness), the emoji composited over
//! the mosaic's background. Matching raw pixels would pick square swatches everywhere and
//! turn the mosaic into pixel art.

use super::patch::{patch_mean, quadrant_sums};
use super::Background;

/// Variety 1.0 lets a tile take any emoji whose 2x2 squared error (summed over the 12 values)
/// is up to `VARIETY_UNIT` worse than the best one's (an RMS of ~9 sRGB levels), all of them
/// equally likely, picked by a fixed spatial pattern: flat areas become a varied texture instead
/// of one emoji repeated.
pub const VARIETY_UNIT: f32 = 1000.0;

/// Default `--variety` (measured trade-off: see models/EVAL.md).
pub const DEFAULT_VARIETY: f32 = 1.5;

/// Largest accepted `--variety`.
pub const MAX_VARIETY: f32 = 10.0;

/// Default change threshold: a tile is re-classified when one of its 2x2 quadrant mean colours
/// moved by more than this many sRGB levels since it was last classified. Sensor noise moves
/// quadrant means by ~1 level (25 px averaged); a moving edge moves them by tens.
pub const DEFAULT_CHANGE_THRESHOLD: u8 = 8;

/// With a change threshold, a re-classified tile keeps its emoji unless the new choice is
/// clearly better for the new patch: the old one's 2x2 error may exceed the new one's by this
/// share. Two near-equal emoji then stop taking turns on a shaking camera, while a real change
/// (a worse old emoji) switches at once.
pub const KEEP_MARGIN: f32 = 0.5;

/// The objective: squared error between the patch's 2x2 quadrant means and the emoji's
/// quadrant colours (`features`: premultiplied RGB + alpha per quadrant, see
/// `Atlas::features_2x2`) composited over the background. The nearest shader minimises the same.
pub fn error(features: &[f32; 16], patch: &[u8], background: Background) -> f32 {
    Objective::new(patch, background).error(features)
}

/// One patch's side of [`error`], computed once to score several emoji against it.
pub struct Objective {
    quads: [[f32; 3]; 4],
    bg: [f32; 3],
}

impl Objective {
    pub fn new(patch: &[u8], background: Background) -> Self {
        let bg = match background {
            Background::Color(c) => c,
            Background::Tile => patch_mean(patch),
        }
        .map(|c| c as f32);
        Self {
            quads: quadrant_means_f32(patch),
            bg,
        }
    }

    /// [`error`] of the emoji with these 2x2 features.
    pub fn error(&self, features: &[f32; 16]) -> f32 {
        let mut err = 0.0;
        for (q, mean) in self.quads.iter().enumerate() {
            let a = features[q * 4 + 3];
            for c in 0..3 {
                let e = mean[c] - (features[q * 4 + c] + (1.0 - a) * self.bg[c]);
                err += e * e;
            }
        }
        err
    }
}

/// Mean colour of each 5x5 quadrant of a patch (TL, TR, BL, BR), unrounded.
pub fn quadrant_means_f32(patch: &[u8]) -> [[f32; 3]; 4] {
    quadrant_sums(patch).map(|s| s.map(|v| v as f32 / 25.0))
}
