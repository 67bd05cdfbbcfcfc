//! The tile features the model takes instead of computing them itself (models/README.md, "Tile
//! features"): what its graph computed from each tile's quadrant means and background alone, in
//! about 45 small operators on every run, computed here in one pass over the tiles. Every value is
//! a whole number below 2^24 (or a flag), exact in `f32` in any order, so these are bit for bit
//! the graph's own values (`training/graph.py`: `tile_features`, `features_outside`).

use crate::domain::QUADS_BYTES;

/// What a model's metadata says under [`KEY`] when it takes these features, with the rules'
/// constants this code holds; a model that names another contract is refused.
pub const CONTRACT: &str = "emojicam tile features 1: flat within 8, saturated from 40, dark up to 40";

/// The metadata key of [`CONTRACT`].
pub const KEY: &str = "features";

/// A tile is flat when each of its quadrant means is within this many levels of its background,
/// in each channel.
const FLAT: f32 = 8.0;
/// A flat tile is scored as if over black in stage 1 when its background's largest minus smallest
/// channel is at least this.
const SATURATED: f32 = 40.0;
/// A tile is dark when none of its quadrant means is above this.
const DARK: f32 = 40.0;

/// The feature inputs' names and their values per tile.
pub const NAMES: [&str; 8] = ["P", "phi", "phi_s1", "flat_b0", "bg_min", "bg_sat", "dr_dark", "dd_1d"];

/// Features per tile of `phi` and of `phi_s1`.
const PHI: usize = 20;
const PHI_S1: usize = 22;

/// One batch's features, the buffers reused from run to run.
#[derive(Debug, Default)]
pub struct TileFeatures {
    /// The quadrant means as `f32` (`P`, `[N, 12]`).
    pub means: Vec<f32>,
    /// `[d, db, b, bb]` (`phi`, `[N, 20]`): `d` the means less the background (per quadrant and
    /// channel), `db` each quadrant's `d . b`, `b` the background, `bb` its `b . b`.
    pub phi: Vec<f32>,
    /// Stage 1's (`phi_s1`, `[N, 22]`): `phi` with `b = 0` for a tile that is flat over a
    /// saturated background, then 1 for a tile that is not dark, and 1.
    pub phi_s1: Vec<f32>,
    /// Every `|d|` at most 8 (`flat_b0`).
    pub flat: Vec<bool>,
    /// The background's smallest channel (`bg_min`), and its largest minus smallest (`bg_sat`).
    pub bg_min: Vec<f32>,
    pub bg_sat: Vec<f32>,
    /// No quadrant mean above 40 (`dr_dark`).
    pub dark: Vec<bool>,
    /// `d . d` (`dd_1d`).
    pub dd: Vec<f32>,
}

impl TileFeatures {
    /// The features of `tiles` over `backgrounds` (three `f32` per tile, whole levels).
    pub fn compute(&mut self, tiles: &[[u8; QUADS_BYTES]], backgrounds: &[f32]) {
        let n = tiles.len();
        for v in [
            &mut self.means,
            &mut self.phi,
            &mut self.phi_s1,
            &mut self.bg_min,
            &mut self.bg_sat,
            &mut self.dd,
        ] {
            v.clear();
        }
        self.flat.clear();
        self.dark.clear();
        self.means.reserve(n * QUADS_BYTES);
        self.phi.reserve(n * PHI);
        self.phi_s1.reserve(n * PHI_S1);
        let (colours, _) = backgrounds.as_chunks::<3>();
        for (q, b) in tiles.iter().zip(colours) {
            let p = q.map(f32::from);
            let d: [f32; QUADS_BYTES] = std::array::from_fn(|k| p[k] - b[k % 3]);
            let db: [f32; 4] = std::array::from_fn(|j| d[3 * j] * b[0] + d[3 * j + 1] * b[1] + d[3 * j + 2] * b[2]);
            let bb = b[0] * b[0] + b[1] * b[1] + b[2] * b[2];
            let flat = d.iter().all(|v| v.abs() <= FLAT);
            let (lo, hi) = (b[0].min(b[1]).min(b[2]), b[0].max(b[1]).max(b[2]));
            let dark = p.iter().all(|&v| v <= DARK);
            // a flat tile over a saturated background is routed as if over black
            let keep = if flat && hi - lo >= SATURATED { 0.0 } else { 1.0 };
            self.means.extend_from_slice(&p);
            self.phi.extend_from_slice(&d);
            self.phi.extend_from_slice(&db);
            self.phi.extend_from_slice(b);
            self.phi.push(bb);
            let kept = b.map(|c| c * keep);
            self.phi_s1.extend((0..QUADS_BYTES).map(|k| p[k] - kept[k % 3]));
            self.phi_s1.extend(db.map(|v| v * keep));
            self.phi_s1.extend_from_slice(&kept);
            self.phi_s1.extend([bb * keep, if dark { 0.0 } else { 1.0 }, 1.0]);
            self.flat.push(flat);
            self.bg_min.push(lo);
            self.bg_sat.push(hi - lo);
            self.dark.push(dark);
            self.dd.push(d.iter().map(|v| v * v).sum());
        }
    }

    /// The tiles of the last [`Self::compute`].
    pub fn len(&self) -> usize {
        self.dd.len()
    }

    /// Whether the last [`Self::compute`] had no tiles.
    pub fn is_empty(&self) -> bool {
        self.dd.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_of_a_flat_tile_over_a_saturated_background_are_as_if_over_black_in_stage_1() {
        let mut f = TileFeatures::default();
        let q = [200, 10, 10, 204, 12, 8, 198, 10, 10, 200, 10, 14];
        f.compute(&[q], &[200.0, 10.0, 10.0]);
        assert_eq!(f.len(), 1);
        assert!(f.flat[0] && !f.dark[0]);
        assert_eq!(f.bg_sat, [190.0]);
        assert_eq!(&f.phi[..3], &[0.0, 0.0, 0.0]);
        assert_eq!(f.phi[12], 0.0);
        assert_eq!(f.phi[16..], [200.0, 10.0, 10.0, 40200.0]);
        // stage 1: the means themselves, no background, not dark, 1
        assert_eq!(&f.phi_s1[..3], &[200.0, 10.0, 10.0]);
        assert_eq!(&f.phi_s1[16..], &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
        // d: (0, 0, 0), (4, 2, -2), (-2, 0, 0), (0, 0, 4)
        assert_eq!(f.dd, [44.0]);
    }

    #[test]
    fn a_dark_detailed_tile_keeps_its_background() {
        let mut f = TileFeatures::default();
        let q = [40, 0, 0, 0, 40, 0, 0, 0, 40, 20, 20, 20];
        f.compute(&[q], &[0.0, 0.0, 30.0]);
        assert!(!f.flat[0] && f.dark[0]);
        assert_eq!(f.phi_s1[21], 1.0);
        assert_eq!(f.phi_s1[20], 0.0);
        assert_eq!(&f.phi_s1[16..19], &[0.0, 0.0, 30.0]);
        // db of the first quadrant: (40, 0, -30) . (0, 0, 30)
        assert_eq!(f.phi[12], -900.0);
    }
}
