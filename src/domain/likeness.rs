//! The likeness objective every classifier serves: a tile and an emoji are compared at the
//! 2x2-grid scale (the scale at which a viewer judges likeness), the emoji composited over
//! the mosaic's background. Matching raw pixels would pick square swatches everywhere and
//! turn the mosaic into pixel art.

use super::patch::{quadrant_means, quadrant_sums, quads_mean, QUADS_BYTES};
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

/// A tile none of whose quadrant means' channels is above this is dark, for [`dark_budget`]
/// (the ONNX model's `dark_budget` metadata names the same level).
pub const DARK_LEVEL: u8 = 40;

/// Whether a tile with these rounded quadrant means is dark (no channel above [`DARK_LEVEL`]):
/// what [`dark_budget`] counts, and where the dimmed emoji may be drawn (`nearest.wgsl`, the
/// model's dark member lists).
pub fn is_dark(quads: &[u8; QUADS_BYTES]) -> bool {
    quads.iter().all(|&v| v <= DARK_LEVEL)
}

/// A tile's four rounded quadrant means per channel: their sums `s` and the tile's detail, over
/// the channels `4 x sum_k (v_k - s / 4)^2 = 4 sum_k v_k^2 - s^2` (four times the squared
/// differences from their mean, never negative: Cauchy-Schwarz), exact in integers (at most
/// 3 x 4 x 4 x 255^2).
fn tile_sums(q: &[u8; QUADS_BYTES]) -> ([u32; 3], u32) {
    let v: [u32; QUADS_BYTES] = std::array::from_fn(|i| u32::from(q[i]));
    let s: [u32; 3] = std::array::from_fn(|c| v[c] + v[3 + c] + v[6 + c] + v[9 + c]);
    let detail = (0..3)
        .map(|c| 4 * (v[c] * v[c] + v[3 + c] * v[3 + c] + v[6 + c] * v[6 + c] + v[9 + c] * v[9 + c]) - s[c] * s[c])
        .sum();
    (s, detail)
}

/// A frame's whole-frame measures, the ONNX classifier's inputs: [`dark_budget`], [`frame_flat`]
/// and [`BlackFloor::frame_black`], from one pass over its tiles' rounded quadrant means (and a
/// second for the flat share, which needs the median first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameMeasures {
    pub dark_budget: f32,
    pub frame_flat: f32,
    /// 0 without a floor.
    pub frame_black: f32,
}

impl FrameMeasures {
    /// The measures of a frame with these tiles; `frame_black` scored by `floor` (0 without).
    pub fn of(means: &[[u8; QUADS_BYTES]], floor: Option<&mut BlackFloor>) -> Self {
        let floor = floor.filter(|f| !f.emoji.is_empty());
        let mut histograms = [[0usize; 256]; 3];
        let (mut detail4, mut dark, mut black) = (0u64, 0u64, 0.0f64);
        let mut tally = |q: &[u8; QUADS_BYTES]| {
            let (s, d4) = tile_sums(q);
            detail4 += u64::from(d4);
            dark += u64::from(is_dark(q));
            // quads_mean, from the sums
            for (histogram, &s) in histograms.iter_mut().zip(&s) {
                histogram[((s + 2) / 4) as usize] += 1;
            }
            (s, d4)
        };
        let scored = floor.is_some();
        if let Some(floor) = floor {
            // The floor's table is read in a loop of its own, a run of tiles at a time: its reads
            // do not wait on each other there, so they overlap when the table is out of cache (as
            // it is after the model's run); the sum keeps the tiles' order.
            let mut cells = [0usize; FLOOR_RUN];
            let mut spent = [0.0f64; FLOOR_RUN];
            for run in means.chunks(FLOOR_RUN) {
                for ((q, cell), spent) in run.iter().zip(&mut cells).zip(&mut spent) {
                    let (s, d4) = tally(q);
                    *cell = BlackFloor::index(BlackFloor::cell_of(s));
                    *spent = detail_spent(f64::from(d4) / 4.0);
                }
                for (&cell, &spent) in cells.iter().zip(&spent).take(run.len()) {
                    black += f64::from(floor.scored(cell)) + spent;
                }
            }
        } else {
            means.iter().for_each(|q| {
                tally(q);
            });
        }
        Self {
            dark_budget: (detail4 as f64 / 4.0 / dark.max(1) as f64) as f32,
            frame_flat: flat_share(&histograms, means),
            frame_black: if scored && !means.is_empty() {
                (black / means.len() as f64) as f32
            } else {
                0.0
            },
        }
    }
}

/// How many tiles [`FrameMeasures::of`] takes at a time between reads of the black floor's table.
const FLOOR_RUN: usize = 256;

/// The ONNX classifier's `dark_budget` input for a whole frame, from every tile's rounded
/// quadrant means: the frame's summed tile detail (over quadrants and channels, the squared
/// difference from the tile's mean of that channel) over its count of dark tiles ([`DARK_LEVEL`],
/// at least one). The model keeps a dark tile's variety within a tolerance that grows with it:
/// a dark shirt or wall that is most of a plain picture stays near its best emoji (there the
/// variety would cost most of the picture's likeness), the same shirt in a detailed scene varies
/// as before (models/README.md, "Dark budget"). Exact integer sums, as `training/common.py`
/// computes it.
pub fn dark_budget(means: &[[u8; QUADS_BYTES]]) -> f32 {
    FrameMeasures::of(means, None).dark_budget
}

/// A tile whose rounded mean colour is within this many levels (each channel) of its frame's
/// median tile colour counts towards [`frame_flat`].
pub const FLAT_NEAR: u8 = 8;

/// The ONNX classifier's `frame_flat` input for a whole frame, from every tile's rounded quadrant
/// means: the share of its tiles whose mean colour ([`quads_mean`]) is within [`FLAT_NEAR`] levels
/// in every channel of the frame's median tile colour (each channel's value at rank N / 2 in
/// sorted order). Near 1 the frame is nearly one flat colour (a plain wall filling the picture);
/// there the model keeps a dim wall's tiles nearer their best emoji (models/README.md, "A dim
/// plain frame"). 0 for no tiles. As `training/common.py` computes it.
pub fn frame_flat(means: &[[u8; QUADS_BYTES]]) -> f32 {
    // each channel's histogram of the tiles' means, in one pass
    let mut histograms = [[0usize; 256]; 3];
    for q in means {
        for (histogram, v) in histograms.iter_mut().zip(quads_mean(q)) {
            histogram[usize::from(v)] += 1;
        }
    }
    flat_share(&histograms, means)
}

/// [`frame_flat`] from each channel's histogram of the tiles' mean colours.
fn flat_share(histograms: &[[usize; 256]; 3], means: &[[u8; QUADS_BYTES]]) -> f32 {
    if means.is_empty() {
        return 0.0;
    }
    // each channel's value at rank N / 2 (0-based): the first whose cumulative count exceeds it
    let rank = means.len() / 2;
    let median: [u8; 3] = std::array::from_fn(|c| {
        let mut seen = 0;
        histograms[c]
            .iter()
            .position(|&count| {
                seen += count;
                seen > rank
            })
            .unwrap_or(255) as u8
    });
    let near = means
        .iter()
        .filter(|q| {
            let m = quads_mean(q);
            (0..3).all(|c| m[c].abs_diff(median[c]) <= FLAT_NEAR)
        })
        .count();
    (near as f64 / means.len() as f64) as f32
}

/// How a tile's detail enters [`BlackFloor::frame_black`]: `d / (1 + sqrt(d) / DETAIL_KNEE)`.
/// Emoji drawn over black match part of a tile's detail, more of it the more there is: over the
/// picture before issue 15's own choices (311 frames) the error past the flat colour's went from
/// about 0.7 of the detail (d ~ 50-1000) to about 0.3 of it (d ~ 50000). This one knee matches
/// that within 10% per band of detail from d ~ 300 on and overstates fainter detail by up to
/// 1.4x (models/EVAL.md, "A budget for tiles with detail"). The model reads the same knee
/// (`training/common.py`'s `DETAIL_KNEE`).
pub const DETAIL_KNEE: f64 = 95.0;

/// A tile's detail as [`BlackFloor::frame_black`] counts it (see [`DETAIL_KNEE`]).
fn detail_spent(detail: f64) -> f64 {
    let d = detail.max(0.0);
    d / (1.0 + d.sqrt() / DETAIL_KNEE)
}

/// Steps per channel of the grid of colours [`BlackFloor`] scores (`training/common.py`'s
/// `black_floor`, the model's table of the same values).
pub const BLACK_FLOOR_STEPS: usize = 64;

/// What the picture before issue 15 (the exact choice over black, no dimmed copies) costs a
/// flat tile of each colour: the least objective error of the set's emoji drawn over black,
/// `4 |g|^2 + min_e (|Q_e|^2 - 2 g . sum_q Q_e,q)`, on a grid of [`BLACK_FLOOR_STEPS`] colours
/// per channel, each cell scored the first time a frame needs it. The ONNX classifier's
/// `frame_black` input ([`BlackFloor::frame_black`]) is its mean over a frame's tiles.
#[derive(Debug, Clone)]
pub struct BlackFloor {
    /// Per emoji: its quadrant colours summed (over black), and their summed squares.
    emoji: Vec<([f64; 3], f64)>,
    /// Per grid cell ((r S + g) S + b): the error, NaN until scored.
    table: Vec<f32>,
}

impl BlackFloor {
    /// For the emoji with these 2x2 features (`Atlas::features_2x2`: premultiplied RGB, so
    /// the colour over black, and alpha per quadrant).
    pub fn new<'a>(features: impl IntoIterator<Item = &'a [f32; 16]>) -> Self {
        let emoji = features
            .into_iter()
            .map(|f| {
                let mut sum = [0.0; 3];
                let mut squares = 0.0;
                for q in 0..4 {
                    for (c, s) in sum.iter_mut().enumerate() {
                        let v = f64::from(f[q * 4 + c]);
                        *s += v;
                        squares += v * v;
                    }
                }
                (sum, squares)
            })
            .collect();
        Self {
            emoji,
            table: vec![f32::NAN; BLACK_FLOOR_STEPS.pow(3)],
        }
    }

    /// The table's index of grid colour `cell`.
    fn index(cell: [usize; 3]) -> usize {
        (cell[0] * BLACK_FLOOR_STEPS + cell[1]) * BLACK_FLOOR_STEPS + cell[2]
    }

    /// The error of the grid colour at table index `i`, scored the first time it is asked for.
    fn scored(&mut self, i: usize) -> f32 {
        if self.table[i].is_nan() {
            let cell = [
                i / (BLACK_FLOOR_STEPS * BLACK_FLOOR_STEPS),
                i / BLACK_FLOOR_STEPS % BLACK_FLOOR_STEPS,
                i % BLACK_FLOOR_STEPS,
            ];
            let g = cell.map(|v| v as f64 * 255.0 / (BLACK_FLOOR_STEPS - 1) as f64);
            let least = self
                .emoji
                .iter()
                .map(|(s, k)| k - 2.0 * (g[0] * s[0] + g[1] * s[1] + g[2] * s[2]))
                .fold(f64::INFINITY, f64::min);
            let g2: f64 = g.iter().map(|v| v * v).sum();
            self.table[i] = (4.0 * g2 + least).max(0.0) as f32;
        }
        self.table[i]
    }

    /// The ONNX classifier's `frame_black` input for a whole frame, from every tile's rounded
    /// quadrant means: the mean over its tiles of the error of the tile's mean colour (its cell
    /// in the grid, rounded half to even) plus the part of the tile's detail (as [`dark_budget`]
    /// sums it) that emoji over black miss ([`DETAIL_KNEE`]). About what the picture before
    /// issue 15 spent per tile (on 311 frames: the median 1.00x, 80% of them within 0.91-1.09x;
    /// with the whole detail up to 2.4x on detailed frames). The model lets a tile outside a flat
    /// frame stray from its best emoji by a share of it (models/README.md, "A dim plain frame",
    /// "A budget for tiles with detail"). 0 for no tiles. As `training/common.py` computes it.
    pub fn frame_black(&mut self, means: &[[u8; QUADS_BYTES]]) -> f32 {
        FrameMeasures::of(means, Some(self)).frame_black
    }

    /// The grid cell of a tile's mean colour, from its channel sums `s` (mean = s / 4): each
    /// channel's round(mean x (S - 1) / 255), half to even, in integers.
    fn cell_of(s: [u32; 3]) -> [usize; 3] {
        let top = (BLACK_FLOOR_STEPS - 1) as u32;
        s.map(|s| {
            let (whole, rest) = ((s * top) / 1020, (s * top) % 1020);
            (whole + u32::from(2 * rest > 1020 || (2 * rest == 1020 && whole % 2 == 1))) as usize
        })
    }
}

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
    /// The objective of a tile from its rounded quadrant means ([`super::quadrant_means`], what
    /// the tiler reads back for every tile and the ONNX classifier scores): with the `tile`
    /// background, the tile's backdrop is [`quads_backdrop`](super::quads_backdrop) of them, as the renderer draws it.
    pub fn from_quads(quads: &[u8; QUADS_BYTES], background: Background) -> Self {
        let bg = background.behind(quads).map(f32::from);
        Self {
            quads: std::array::from_fn(|q| std::array::from_fn(|c| f32::from(quads[q * 3 + c]))),
            bg,
        }
    }

    /// The objective of a tile from its whole patch (its quadrant means unrounded).
    pub fn new(patch: &[u8], background: Background) -> Self {
        let bg = patch_background(patch, background);
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

/// Default `--detail`: the objective compares a 2x2 grid of mean colours per tile.
pub const DEFAULT_DETAIL: u32 = 2;

/// Finest accepted `--detail` (a 4x4 grid per tile).
pub const MAX_DETAIL: u32 = 4;

/// Overlap length of pixel `p` with cell `c` when `n` pixels are split into `k` equal cells:
/// the weight of the pixel in that cell's exact area mean.
pub fn cell_overlap(p: u32, c: u32, n: u32, k: u32) -> f64 {
    let (n, k) = (n as f64, k as f64);
    let lo = (p as f64).max(c as f64 * n / k);
    let hi = (p as f64 + 1.0).min((c as f64 + 1.0) * n / k);
    (hi - lo).max(0.0)
}

/// The `k` x `k` grid of exact area-mean colours of a tile, from its 10x10 patch (an exact area
/// average of the tile, so this is the tile's own k x k grid), row-major, RGB 0..255.
pub fn grid_means(patch: &[u8], k: u32) -> Vec<[f32; 3]> {
    let side = super::patch::PATCH as u32;
    let mut grid = vec![[0f64; 3]; (k * k) as usize];
    for (i, px) in patch.chunks_exact(3).take((side * side) as usize).enumerate() {
        let (x, y) = (i as u32 % side, i as u32 / side);
        for cy in 0..k {
            for cx in 0..k {
                let w = cell_overlap(y, cy, side, k) * cell_overlap(x, cx, side, k);
                for c in 0..3 {
                    grid[(cy * k + cx) as usize][c] += w * px[c] as f64;
                }
            }
        }
    }
    let area = (side * side) as f64 / (k * k) as f64;
    grid.iter().map(|g| g.map(|v| (v / area) as f32)).collect()
}

/// An emoji's `k` x `k` grid features from its RGBA cell (`side` x `side`, row-major): per grid
/// cell, the exact area mean of the premultiplied colour (0..255) and of the alpha (0..1), the
/// layout of `Atlas::features_2x2` for k = 2. The product draws an emoji as its area average
/// with premultiplied alpha, so these are the k x k means of the tile it draws over black.
pub fn emoji_grid_features(rgba: &[u8], side: u32, k: u32) -> Vec<[f32; 4]> {
    let mut grid = vec![[0f64; 4]; (k * k) as usize];
    for (i, px) in rgba.chunks_exact(4).take((side * side) as usize).enumerate() {
        let (x, y) = (i as u32 % side, i as u32 / side);
        let a = px[3] as f64 / 255.0;
        for cy in 0..k {
            let wy = cell_overlap(y, cy, side, k);
            if wy == 0.0 {
                continue;
            }
            for cx in 0..k {
                let w = wy * cell_overlap(x, cx, side, k);
                let g = &mut grid[(cy * k + cx) as usize];
                for c in 0..3 {
                    g[c] += w * px[c] as f64 * a;
                }
                g[3] += w * a;
            }
        }
    }
    let area = (side * side) as f64 / (k * k) as f64;
    grid.iter().map(|g| g.map(|v| (v / area) as f32)).collect()
}

/// The colour a tile is drawn over, from its whole patch: the background's colour, or with the
/// `tile` background the tile's [`quads_backdrop`](super::quads_backdrop).
fn patch_background(patch: &[u8], background: Background) -> [f32; 3] {
    background.behind(&quadrant_means(patch)).map(f32::from)
}

/// The objective on a `k` x `k` grid (`--detail k`): squared error between the tile's grid means
/// and the emoji's ([`emoji_grid_features`]) composited over the background. The nearest shader
/// minimises the same; for k = 2 it is [`error`].
pub fn grid_error(features: &[[f32; 4]], patch: &[u8], k: u32, background: Background) -> f32 {
    let bg = patch_background(patch, background);
    let mut err = 0.0;
    for (mean, f) in grid_means(patch, k).iter().zip(features) {
        for c in 0..3 {
            let e = mean[c] - (f[c] + (1.0 - f[3]) * bg[c]);
            err += e * e;
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An opaque emoji of one colour in every quadrant, and a transparent one.
    fn flat_emoji(rgb: [f32; 3], alpha: f32) -> [f32; 16] {
        let mut f = [0.0; 16];
        for q in 0..4 {
            for c in 0..3 {
                f[q * 4 + c] = rgb[c] * alpha;
            }
            f[q * 4 + 3] = alpha;
        }
        f
    }

    #[test]
    fn black_floor_is_the_best_error_over_black_of_the_cell_colour_plus_the_detail() {
        let emoji = [
            flat_emoji([100.0, 50.0, 20.0], 1.0),
            flat_emoji([200.0, 200.0, 200.0], 0.5),
        ];
        let mut floor = BlackFloor::new(&emoji);
        // a flat tile on the grid (step 255 / 63: cell 25 = 101.19 levels) against the brute force
        let g = 25.0 * 255.0 / 63.0;
        let brute = |e: &[f32; 16]| -> f64 {
            (0..4)
                .map(|q| (0..3).map(|c| (g - f64::from(e[q * 4 + c])).powi(2)).sum::<f64>())
                .sum()
        };
        let best = emoji.iter().map(brute).fold(f64::INFINITY, f64::min);
        // a tile of quadrant means 101 (sum 404: 404 x 63 / 1020 = 24.95 -> cell 25)
        let tile = [101u8; QUADS_BYTES];
        let got = floor.frame_black(&[tile]);
        assert!((f64::from(got) - best).abs() < 0.01 * best.max(1.0), "{got} vs {best}");
        // its detail adds: two quadrants 91, two 111 (mean 101), each channel 4 x 10^2
        let mut edged = tile;
        for q in 0..2 {
            edged[q * 3..q * 3 + 3].fill(91);
            edged[(q + 2) * 3..(q + 2) * 3 + 3].fill(111);
        }
        // (the part emoji over black miss: 1200 / (1 + sqrt(1200) / 95) = 879.4)
        let spent = 1200.0 / (1.0 + 1200f32.sqrt() / 95.0);
        assert!((floor.frame_black(&[edged]) - got - spent).abs() < 0.01);
        // the frame's value is the mean over its tiles
        let both = floor.frame_black(&[tile, edged]);
        assert!((both - (got + spent / 2.0)).abs() < 0.01);
        assert_eq!(floor.frame_black(&[]), 0.0);
    }

    #[test]
    fn black_floor_rounds_a_mean_half_way_between_cells_to_the_even_one() {
        // a channel summing to 170 over the four quadrants: 170 x 63 / 1020 = 10.5 -> cell 10, and
        // 510 -> 31.5 -> 32: a grey emoji at exactly cell 10's level scores 0 there only
        let level = |cell: f32| cell * 255.0 / 63.0;
        let mut floor = BlackFloor::new(&[flat_emoji([level(10.0); 3], 1.0)]);
        let sum_170 = [42u8, 42, 42, 42, 42, 42, 43, 43, 43, 43, 43, 43];
        let detail = detail_spent(3.0 * (4.0 * (2.0 * 42.0f64 * 42.0 + 2.0 * 43.0 * 43.0) - 170.0 * 170.0) / 4.0);
        assert!((f64::from(floor.frame_black(&[sum_170])) - detail).abs() < 0.01);
        let mut floor = BlackFloor::new(&[flat_emoji([level(32.0); 3], 1.0)]);
        let sum_510 = [127u8, 127, 127, 127, 127, 127, 128, 128, 128, 128, 128, 128];
        let detail = detail_spent(3.0 * (4.0 * (2.0 * 127.0f64 * 127.0 + 2.0 * 128.0 * 128.0) - 510.0 * 510.0) / 4.0);
        assert!((f64::from(floor.frame_black(&[sum_510])) - detail).abs() < 0.01);
    }

    /// The one pass reads the floor's table a run of tiles at a time ([`FLOOR_RUN`]): every tile
    /// counts once, in order, whatever the frame's size (the sum a tile at a time, as before).
    #[test]
    fn frame_measures_count_every_tile_once_across_the_runs_of_the_floor() {
        let emoji = [
            flat_emoji([100.0, 50.0, 20.0], 1.0),
            flat_emoji([200.0, 200.0, 200.0], 0.5),
            flat_emoji([10.0, 240.0, 90.0], 0.8),
        ];
        let mut floor = BlackFloor::new(&emoji);
        let mut x = 0x9e37_79b9_u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        };
        let n = 3 * FLOOR_RUN + 7;
        let means: Vec<[u8; QUADS_BYTES]> = (0..n).map(|_| std::array::from_fn(|_| next())).collect();
        for len in [0, 1, FLOOR_RUN - 1, FLOOR_RUN, FLOOR_RUN + 1, 2 * FLOOR_RUN, n] {
            let tiles = &means[..len];
            let mut black = 0.0f64;
            for q in tiles {
                let (s, d4) = tile_sums(q);
                black += f64::from(floor.scored(BlackFloor::index(BlackFloor::cell_of(s))))
                    + detail_spent(f64::from(d4) / 4.0);
            }
            let expected = if len == 0 { 0.0 } else { (black / len as f64) as f32 };
            let m = FrameMeasures::of(tiles, Some(&mut floor));
            assert_eq!(m.frame_black.to_bits(), expected.to_bits(), "{len} tiles");
            assert_eq!(m.dark_budget, dark_budget(tiles), "{len} tiles");
            assert_eq!(m.frame_flat, frame_flat(tiles), "{len} tiles");
            assert_eq!(FrameMeasures::of(tiles, None).frame_black, 0.0);
        }
    }
}
