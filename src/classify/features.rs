//! The tile features the model takes instead of computing them itself (models/README.md, "Tile
//! features"): what its graph computed from each tile's quadrant means and background alone, in
//! about 45 small operators on every run, computed here in one pass over the tiles. Every value is
//! a whole number below 2^24, of quarters below 2^22 or a flag, exact in `f32` in any order, but
//! `h` of the tile's detail, computed with the graph's operations in its order, each rounded once:
//! bit for bit the graph's own values (`training/graph.py`: `tile_features`, `features_outside`).

use ort::session::SessionInputValue;
use ort::value::TensorRef;

use crate::domain::QUADS_BYTES;

/// What a model's metadata says under [`KEY`] when it takes these features, with the rules'
/// constants this code holds; a model that names another contract is refused.
pub const CONTRACT: &str =
    "emojicam tile features 2: flat within 8, saturated from 40, dark up to 40, mean colour in 64 \
                            steps, h(d) = d / (1 + sqrt(d) / 95)";

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
/// A mean colour channel's step in the 64-step colour table (`63 / 255`).
const STEP: f32 = 63.0 / 255.0;
/// `1 / 95`: the scale of the square root in `h(d) = d / (1 + sqrt(d) / 95)`.
const H_INV: f32 = 1.0 / 95.0;

/// `v` (0 to 2^22) rounded to a whole number, half to even, as ONNX's `Round`: adding 2^23
/// leaves no fraction, rounded to nearest even (`f32::round_ties_even` is a library call on
/// x86-64 without SSE 4.1).
fn round_half_even(v: f32) -> f32 {
    const SHIFT: f32 = 8_388_608.0;
    (v + SHIFT) - SHIFT
}

/// The feature inputs' names, in the order of [`TileFeatures::input`].
pub const NAMES: [&str; 10] = [
    "phi",
    "phi_s1",
    "flat_b0",
    "bg_min",
    "bg_sat",
    "dr_dark",
    "dd_1d",
    "ff_i",
    "ff_detail",
    "dcp_h",
];

/// Features per tile of `phi` and of `phi_s1`.
const PHI: usize = 20;
const PHI_S1: usize = 22;

/// One batch's features, the buffers reused from run to run.
#[derive(Debug, Default)]
pub struct TileFeatures {
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
    /// The cell of the tile's mean colour `m` (each channel the mean of its four quadrants) in
    /// the 64-step colour table (`ff_i`): each channel's `round(m * 63 / 255)` (half to even),
    /// as `4096 r + 64 g + b`.
    pub cell: Vec<i64>,
    /// The tile's detail, the sum of its squared quadrant means less 4 times its mean's
    /// (`ff_detail`), and `h` of it (`dcp_h`).
    pub detail: Vec<f32>,
    pub h: Vec<f32>,
}

impl TileFeatures {
    /// The features of `tiles` over `backgrounds` (three `f32` per tile, whole levels).
    pub fn compute(&mut self, tiles: &[[u8; QUADS_BYTES]], backgrounds: &[f32]) {
        let (colours, _) = backgrounds.as_chunks::<3>();
        let n = tiles.len().min(colours.len());
        // every buffer sized once and written in place (a push per value measured 3x slower)
        self.phi.resize(n * PHI, 0.0);
        self.phi_s1.resize(n * PHI_S1, 0.0);
        for v in [
            &mut self.bg_min,
            &mut self.bg_sat,
            &mut self.dd,
            &mut self.detail,
            &mut self.h,
        ] {
            v.resize(n, 0.0);
        }
        self.flat.resize(n, false);
        self.dark.resize(n, false);
        self.cell.resize(n, 0);
        let (phis, _) = self.phi.as_chunks_mut::<PHI>();
        let (stage1, _) = self.phi_s1.as_chunks_mut::<PHI_S1>();
        let outputs = phis
            .iter_mut()
            .zip(stage1)
            .zip(self.flat.iter_mut().zip(self.dark.iter_mut()))
            .zip(
                self.bg_min
                    .iter_mut()
                    .zip(self.bg_sat.iter_mut())
                    .zip(self.dd.iter_mut().zip(self.cell.iter_mut().zip(self.detail.iter_mut()))),
            );
        for ((q, b), (((phi, s1), (flat, dark)), ((bg_min, bg_sat), (dd, (cell, detail))))) in
            tiles.iter().zip(colours).zip(outputs)
        {
            let p = q.map(f32::from);
            let d: [f32; QUADS_BYTES] = std::array::from_fn(|k| p[k] - b[k % 3]);
            let db: [f32; 4] = std::array::from_fn(|j| d[3 * j] * b[0] + d[3 * j + 1] * b[1] + d[3 * j + 2] * b[2]);
            let bb = b[0] * b[0] + b[1] * b[1] + b[2] * b[2];
            *flat = d.iter().all(|v| v.abs() <= FLAT);
            let lo = if b[0] < b[1] { b[0] } else { b[1] };
            let lo = if lo < b[2] { lo } else { b[2] };
            let hi = if b[0] > b[1] { b[0] } else { b[1] };
            let hi = if hi > b[2] { hi } else { b[2] };
            *dark = q.iter().all(|&v| f32::from(v) <= DARK);
            // a flat tile over a saturated background is routed as if over black
            let keep = if *flat && hi - lo >= SATURATED { 0.0 } else { 1.0 };
            phi[..12].copy_from_slice(&d);
            phi[12..16].copy_from_slice(&db);
            phi[16..19].copy_from_slice(b);
            phi[19] = bb;
            let kept = b.map(|c| c * keep);
            for k in 0..QUADS_BYTES {
                s1[k] = p[k] - kept[k % 3];
            }
            for j in 0..4 {
                s1[12 + j] = db[j] * keep;
            }
            s1[16..19].copy_from_slice(&kept);
            s1[19..].copy_from_slice(&[bb * keep, if *dark { 0.0 } else { 1.0 }, 1.0]);
            *bg_min = lo;
            *bg_sat = hi - lo;
            *dd = d.iter().map(|v| v * v).sum();
            let m: [f32; 3] = std::array::from_fn(|c| (p[c] + p[3 + c] + p[6 + c] + p[9 + c]) * 0.25);
            let step = m.map(|v| round_half_even(v * STEP) as i64);
            *cell = step[0] * 4096 + step[1] * 64 + step[2];
            *detail = p.iter().map(|v| v * v).sum::<f32>() - m.iter().map(|v| v * v).sum::<f32>() * 4.0;
        }
        // apart, so that the square roots and divisions run four or eight at a time
        for (h, &d) in self.h.iter_mut().zip(&self.detail) {
            *h = d / (d.sqrt() * H_INV + 1.0);
        }
    }

    /// Feature [`NAMES`]`[i]` of the last [`Self::compute`]'s tiles as a model input.
    pub fn input(&self, i: usize) -> ort::Result<SessionInputValue<'_>> {
        let n = self.len();
        Ok(match i {
            0 => TensorRef::from_array_view(([n, PHI], self.phi.as_slice()))?.into(),
            1 => TensorRef::from_array_view(([n, PHI_S1], self.phi_s1.as_slice()))?.into(),
            2 => TensorRef::from_array_view(([n], self.flat.as_slice()))?.into(),
            3 => TensorRef::from_array_view(([n], self.bg_min.as_slice()))?.into(),
            4 => TensorRef::from_array_view(([n], self.bg_sat.as_slice()))?.into(),
            5 => TensorRef::from_array_view(([n], self.dark.as_slice()))?.into(),
            6 => TensorRef::from_array_view(([n], self.dd.as_slice()))?.into(),
            7 => TensorRef::from_array_view(([n], self.cell.as_slice()))?.into(),
            8 => TensorRef::from_array_view(([n], self.detail.as_slice()))?.into(),
            _ => TensorRef::from_array_view(([n], self.h.as_slice()))?.into(),
        })
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
        // mean colour (200.5, 10.5, 10.5): cell (50, 3, 3) (49.53.., 2.59.. rounded)
        assert_eq!(f.cell, [50 * 4096 + 3 * 64 + 3]);
        // detail: the squares' sum less 4 x the mean's
        let squares: f32 = q.iter().map(|&v| f32::from(v) * f32::from(v)).sum();
        assert_eq!(f.detail, [squares - 4.0 * (200.5 * 200.5 + 10.5 * 10.5 + 10.5 * 10.5)]);
        assert_eq!(f.h, [f.detail[0] / (f.detail[0].sqrt() / 95.0 + 1.0)]);
    }

    #[test]
    fn rounding_is_half_to_even() {
        for (v, r) in [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (2.4999998, 2.0),
            (62.5, 62.0),
            (63.0, 63.0),
            (0.0, 0.0),
        ] {
            assert_eq!(round_half_even(v), r, "{v}");
            assert_eq!(round_half_even(v), f32::round_ties_even(v));
        }
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
