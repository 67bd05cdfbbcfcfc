//! No one emoji covers much of a picture with a scene in it. The classifier's variety pattern
//! varies each area among the emoji near its tiles, but where only a few emoji come near (a
//! mid-dark ground, a night sky) those few can each cover more than a tenth of the frame. After
//! a frame's tiles are classified, [`Spread`] moves the excess of such an emoji, tile by tile in
//! a fixed spatial order, to each tile's closest emoji among those the frame already shows and
//! the few dozen nearest the emoji's tiles that it does not, none of them at the limit itself.

use super::likeness::frame_flat;
use super::patch::QUADS_BYTES;
use super::Background;

/// At most this share of a frame's tiles show one emoji (its dimmed copies counted with it),
/// a little below the tenth issue 15 sets, so that a frame's last tiles do not tip it over.
pub const MOST_COMMON_SHARE: f64 = 0.095;

/// A frame with fewer tiles is left as classified: a tenth of a handful of tiles is no texture.
pub const SPREAD_MIN_TILES: usize = 100;

/// A frame at least this flat ([`frame_flat`]: the share of its tiles near its median colour)
/// is nearly one flat colour, which one emoji may cover: left as classified.
pub const SPREAD_FLAT: f32 = 0.9;

/// For each emoji over the limit, this many more entries (allowed, not shown by the frame) are open
/// to its tiles: the ones nearest its tiles' mean quadrants ([`Spread::apply`]).
pub const NEAR: usize = 32;

/// Phase constants of the order in which a frame's tiles give up an emoji (the R2 sequence's,
/// across and down swapped against the variety pattern's, so that the two do not line up).
const ORDER_X: f64 = 0.754_877_666_246_692_7;
const ORDER_Y: f64 = 0.569_840_290_998_053_2;

/// The reusable state of [`Spread::apply`], one per pipeline.
#[derive(Debug, Default)]
pub struct Spread {
    /// Entry -> the emoji it draws (a dimmed copy's source), as [`crate::atlas::Atlas::glyph`].
    glyphs: Vec<u32>,
    counts: Vec<u32>,
    seen: Vec<bool>,
    /// The entries a tile may move to, with their features and [`Terms`].
    open: Vec<(u32, [f32; 16], Terms)>,
    order: Vec<(f64, u32)>,
    /// Every entry's [`Terms`], and scratch for [`Spread::open_near`].
    terms: Vec<Terms>,
    near: Vec<(f32, u32)>,
}

/// An entry's own part of the objective's error over any background `b` (features `x`: per
/// quadrant `q` premultiplied `x[q][0..3]` and alpha `x[q][3]`): `sum x[q][c]^2`, `sum_q x[q][c] x[q][3]` per
/// channel `c`, and `sum_q x[q][3]^2`. With a tile's quadrant means `P` the error is
/// `|D|^2 - 2 v . x + F2 - 2 b . U + |b|^2 A2`, `D = P - b` and `v[q] = (D[q], -D[q] . b)`: one 16-wide
/// dot product per entry (the same sums as [`Objective::error`](super::likeness::Objective::error), reordered).
#[derive(Debug, Clone, Copy)]
struct Terms {
    f2: f32,
    u: [f32; 3],
    a2: f32,
}

impl Terms {
    fn of(x: &[f32; 16]) -> Self {
        let mut t = Terms {
            f2: 0.0,
            u: [0.0; 3],
            a2: 0.0,
        };
        for q in 0..4 {
            let a = x[q * 4 + 3];
            for c in 0..3 {
                t.f2 += x[q * 4 + c] * x[q * 4 + c];
                t.u[c] += x[q * 4 + c] * a;
            }
            t.a2 += a * a;
        }
        t
    }
}

/// One tile's side of the reordered error ([`Terms`]): `v`, `b` and `|b|^2`.
struct TileSide {
    v: [f32; 16],
    b: [f32; 3],
    b2: f32,
}

impl TileSide {
    fn new(quads: &[u8; QUADS_BYTES], background: Background) -> Self {
        let b = background.behind(quads).map(f32::from);
        let mut v = [0.0; 16];
        for q in 0..4 {
            let mut db = 0.0;
            for c in 0..3 {
                let d = f32::from(quads[q * 3 + c]) - b[c];
                v[q * 4 + c] = d;
                db += d * b[c];
            }
            v[q * 4 + 3] = -db;
        }
        Self {
            v,
            b,
            b2: b.iter().map(|x| x * x).sum(),
        }
    }

    /// The error of the entry with features `x` and terms `t`, less the tile's own `|D|^2`.
    fn score(&self, x: &[f32; 16], t: &Terms) -> f32 {
        let dot: f32 = self.v.iter().zip(x).map(|(v, x)| v * x).sum();
        t.f2 - 2.0 * (self.b[0] * t.u[0] + self.b[1] * t.u[1] + self.b[2] * t.u[2]) + self.b2 * t.a2 - 2.0 * dot
    }
}

/// One classified frame, as [`Spread::apply`] reads it.
pub struct FrameTiles<'a> {
    /// Every tile's rounded quadrant means, row by row.
    pub means: &'a [[u8; QUADS_BYTES]],
    /// Tiles per row.
    pub cols: u32,
    /// The background the emoji are drawn over.
    pub background: Background,
}

impl Spread {
    /// For an atlas whose entry `e` draws emoji `glyphs[e]`.
    pub fn new(glyphs: Vec<u32>) -> Self {
        Self {
            glyphs,
            ..Self::default()
        }
    }

    /// Moves tiles of an emoji on more than [`MOST_COMMON_SHARE`] of the frame's tiles to
    /// other emoji until it is within it: only tiles in `movable` (ascending tile indices: the
    /// ones classified this frame, so a still scene stays still), in a fixed order of their
    /// grid positions, each to the entry that fits it best ([`Objective`](super::likeness::Objective), `features` as
    /// [`crate::atlas::Atlas::features_2x2`]) among those the frame showed before the move
    /// and the [`NEAR`] entries of `allowed` (the emoji set, per entry) nearest each such emoji's
    /// tiles, whose emoji is below the limit. Leaves frames of fewer than [`SPREAD_MIN_TILES`] tiles
    /// or at least [`SPREAD_FLAT`] flat as they are. Returns how many tiles moved.
    pub fn apply(
        &mut self,
        emoji: &mut [u32],
        movable: &[u32],
        frame: &FrameTiles,
        features: &[[f32; 16]],
        allowed: &[bool],
    ) -> usize {
        let n = emoji.len();
        if n < SPREAD_MIN_TILES || movable.is_empty() || frame.means.len() != n {
            return 0;
        }
        let limit = (MOST_COMMON_SHARE * n as f64).floor() as u32;
        let glyph = |e: u32| self.glyphs.get(e as usize).copied();
        self.counts.clear();
        self.counts.resize(self.glyphs.len(), 0);
        for &e in emoji.iter() {
            if let Some(g) = glyph(e) {
                self.counts[g as usize] += 1;
            }
        }
        // a movable tile (of this frame) showing an emoji over the limit
        let over = |counts: &[u32], i: u32| {
            emoji
                .get(i as usize)
                .and_then(|&e| glyph(e))
                .is_some_and(|g| counts[g as usize] > limit)
        };
        if !movable.iter().any(|&i| over(&self.counts, i)) || frame_flat(frame.means) >= SPREAD_FLAT {
            return 0;
        }
        // the entries the frame shows whose emoji has room, in entry order (ties go to the lower
        // entry), with their features side by side for the search
        self.seen.clear();
        self.seen.resize(self.glyphs.len(), false);
        for &e in emoji.iter() {
            if let Some(s) = self.seen.get_mut(e as usize) {
                *s = true;
            }
        }
        let (seen, glyphs, counts) = (&self.seen, &self.glyphs, &self.counts);
        self.open.clear();
        self.open.extend(
            (0..seen.len())
                .filter(|&e| seen[e] && counts[glyphs[e] as usize] < limit)
                .filter_map(|e| features.get(e).map(|f| (e as u32, *f, Terms::of(f)))),
        );
        let cols = frame.cols.max(1);
        self.order.clear();
        self.order
            .extend(movable.iter().filter(|&&i| over(&self.counts, i)).map(|&i| {
                let (x, y) = (f64::from(i % cols), f64::from(i / cols));
                ((0.5 + x * ORDER_X + y * ORDER_Y).fract(), i)
            }));
        self.order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.open_near(emoji, frame, features, allowed, limit);
        let mut moved = 0;
        for &(_, i) in &self.order {
            let tile = i as usize;
            let Some(&from) = self.glyphs.get(emoji[tile] as usize) else {
                continue;
            };
            if self.counts[from as usize] <= limit {
                continue;
            }
            let side = TileSide::new(&frame.means[tile], frame.background);
            let best = self
                .open
                .iter()
                .map(|(e, f, t)| (side.score(f, t), *e))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let Some((_, to)) = best else { break };
            let g = self.glyphs[to as usize] as usize;
            self.counts[from as usize] -= 1;
            self.counts[g] += 1;
            emoji[tile] = to;
            moved += 1;
            if self.counts[g] >= limit {
                let (glyphs, counts) = (&self.glyphs, &self.counts);
                self.open
                    .retain(|(e, _, _)| counts[glyphs[*e as usize] as usize] < limit);
            }
        }
        moved
    }

    /// Adds to the open entries, for each emoji over the limit, the [`NEAR`] allowed entries
    /// (not yet open, their emoji with room) that fit best the mean quadrants of the tiles that
    /// must give it up: where the frame shows few emoji near a flat area (a dim wall, a night
    /// sky), the closest emoji it does not show yet are nearer than the ones it does.
    fn open_near(&mut self, emoji: &[u32], frame: &FrameTiles, features: &[[f32; 16]], allowed: &[bool], limit: u32) {
        if self.terms.len() != features.len() {
            self.terms = features.iter().map(Terms::of).collect();
        }
        // per emoji over the limit: its tiles' summed quadrant means and their count
        let mut sums: Vec<(u32, [u64; QUADS_BYTES], u64)> = Vec::new();
        for &(_, i) in &self.order {
            let Some(g) = emoji.get(i as usize).and_then(|&e| self.glyphs.get(e as usize)) else {
                continue;
            };
            let at = match sums.iter().position(|s| s.0 == *g) {
                Some(k) => k,
                None => {
                    sums.push((*g, [0; QUADS_BYTES], 0));
                    sums.len() - 1
                }
            };
            let q = &frame.means[i as usize];
            for (s, &v) in sums[at].1.iter_mut().zip(q) {
                *s += u64::from(v);
            }
            sums[at].2 += 1;
        }
        for (_, sum, count) in sums {
            let quads: [u8; QUADS_BYTES] = std::array::from_fn(|k| ((sum[k] + count / 2) / count.max(1)) as u8);
            let side = TileSide::new(&quads, frame.background);
            self.near.clear();
            for (e, (f, t)) in features.iter().zip(&self.terms).enumerate() {
                let ok = allowed.get(e).copied().unwrap_or(false)
                    && !self.seen[e]
                    && self.counts[self.glyphs[e] as usize] < limit;
                if ok {
                    self.near.push((side.score(f, t), e as u32));
                }
            }
            let k = NEAR.min(self.near.len());
            if k == 0 {
                continue;
            }
            self.near
                .select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for &(_, e) in &self.near[..k] {
                self.seen[e as usize] = true;
                self.open.push((e, features[e as usize], self.terms[e as usize]));
            }
        }
        self.open.sort_by_key(|o| o.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(v: f32) -> [f32; 16] {
        let mut f = [0.0; 16];
        for q in 0..4 {
            f[q * 4..q * 4 + 3].copy_from_slice(&[v, v, v]);
            f[q * 4 + 3] = 1.0;
        }
        f
    }

    /// Every entry of [`atlas`] allowed.
    const ALL: [bool; 13] = [true; 13];

    /// Entries 0..12: opaque greys 60, 70, ..., 170; entry 12 a dimmed copy of entry 0.
    fn atlas() -> (Vec<[f32; 16]>, Vec<u32>) {
        let mut features: Vec<[f32; 16]> = (0..12).map(|k| flat(60.0 + 10.0 * k as f32)).collect();
        features.push(flat(55.0));
        (features, (0..12).chain([0]).collect())
    }

    /// A 20 x 10 frame of greys 60..170 (tile i: 60 + 10 (i mod 12)); the first 12 tiles show
    /// their own grey, tile 12 the copy of entry 0, every other tile entry 0.
    fn frame() -> (Vec<[u8; QUADS_BYTES]>, Vec<u32>) {
        let means = (0..200).map(|i| [60 + 10 * (i % 12) as u8; QUADS_BYTES]).collect();
        let emoji = (0..200)
            .map(|i| {
                if i < 12 {
                    i
                } else if i == 12 {
                    12
                } else {
                    0
                }
            })
            .collect();
        (means, emoji)
    }

    #[test]
    fn an_emoji_over_the_share_gives_its_excess_to_the_closest_it_shows() {
        let (means, mut emoji) = frame();
        let (features, glyphs) = atlas();
        let movable: Vec<u32> = (0..200).collect();
        let tiles = FrameTiles {
            means: &means,
            cols: 20,
            background: Background::Color([0, 0, 0]),
        };
        let before = emoji.clone();
        let moved = Spread::new(glyphs.clone()).apply(&mut emoji, &movable, &tiles, &features, &ALL);
        let count = |g: u32| emoji.iter().filter(|&&e| glyphs[e as usize] == g).count();
        // floor(0.095 x 200) = 19 of each emoji, the copy counted with its source
        assert_eq!(count(0), 19);
        assert!((1..12).all(|g| count(g) <= 19), "{emoji:?}");
        assert_eq!(emoji.iter().zip(&before).filter(|(a, b)| a != b).count(), moved);
        assert_eq!(moved, 189 - 19, "entry 0 and its copy held 189 tiles");
        // a moved tile whose own grey had room took it
        let took_own = (13..200)
            .filter(|&i| emoji[i] != 0 && emoji[i] == (i % 12) as u32)
            .count();
        assert!(took_own > 100, "{took_own}");
    }

    #[test]
    fn only_movable_tiles_move_and_small_or_flat_frames_are_left() {
        let (means, mut emoji) = frame();
        let (features, glyphs) = atlas();
        let before = emoji.clone();
        let tiles = FrameTiles {
            means: &means,
            cols: 20,
            background: Background::Color([0, 0, 0]),
        };
        let mut spread = Spread::new(glyphs);
        let movable: Vec<u32> = (100..200).collect();
        assert!(spread.apply(&mut emoji, &movable, &tiles, &features, &ALL) > 0);
        assert_eq!(emoji[..100], before[..100]);
        // a tile index past the frame is no tile
        let mut again = before.clone();
        assert_eq!(spread.apply(&mut again, &[200, 5000], &tiles, &features, &ALL), 0);
        assert_eq!(again, before);
        // a flat frame: every tile the same grey
        let flat = vec![[100; QUADS_BYTES]; 200];
        let mut all = before.clone();
        let flat_tiles = FrameTiles {
            means: &flat,
            cols: 20,
            background: Background::Color([0, 0, 0]),
        };
        assert_eq!(
            spread.apply(&mut all, &(0..200).collect::<Vec<_>>(), &flat_tiles, &features, &ALL),
            0
        );
        // too few tiles
        let mut few = before[..50].to_vec();
        let few_tiles = FrameTiles {
            means: &means[..50],
            cols: 10,
            background: Background::Color([0, 0, 0]),
        };
        assert_eq!(
            spread.apply(&mut few, &(0..50).collect::<Vec<_>>(), &few_tiles, &features, &ALL),
            0
        );
        assert_eq!(few, before[..50]);
    }

    #[test]
    fn the_reordered_error_is_the_objective() {
        use crate::domain::likeness::Objective;
        // emoji of every coverage over tiles with detail, dark to bright, over black, a colour and
        // each tile's own backdrop
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed >> 8
        };
        for _ in 0..200 {
            let quads: [u8; QUADS_BYTES] = std::array::from_fn(|_| (next() % 256) as u8);
            let mut x = [0.0f32; 16];
            for q in 0..4 {
                let a = (next() % 256) as f32 / 255.0;
                for c in 0..3 {
                    x[q * 4 + c] = (next() % 256) as f32 * a;
                }
                x[q * 4 + 3] = a;
            }
            for background in [
                Background::Color([0, 0, 0]),
                Background::Color([200, 90, 30]),
                Background::Tile,
            ] {
                let exact = Objective::from_quads(&quads, background).error(&x);
                let side = TileSide::new(&quads, background);
                let d2: f32 = side.v.chunks(4).flat_map(|q| q[..3].iter().map(|d| d * d)).sum();
                let got = side.score(&x, &Terms::of(&x)) + d2;
                assert!((got - exact).abs() <= 0.5 + 1e-5 * exact, "{got} vs {exact}");
            }
        }
    }

    #[test]
    fn the_same_frame_spreads_the_same_way() {
        let (means, emoji) = frame();
        let (features, glyphs) = atlas();
        let tiles = FrameTiles {
            means: &means,
            cols: 20,
            background: Background::Color([0, 0, 0]),
        };
        let movable: Vec<u32> = (0..200).collect();
        let (mut a, mut b) = (emoji.clone(), emoji);
        Spread::new(glyphs.clone()).apply(&mut a, &movable, &tiles, &features, &ALL);
        Spread::new(glyphs).apply(&mut b, &movable, &tiles, &features, &ALL);
        assert_eq!(a, b);
    }

    #[test]
    fn the_closest_emoji_the_frame_does_not_show_are_open_too() {
        // a dim flat wall of grey 62 whose tiles all show entry 0 (grey 60) but one, the far grey
        // 150, beside bright tiles of 160 and 170; entries 1..9 (70..140) are shown nowhere
        let (features, glyphs) = atlas();
        let mut means = vec![[62; QUADS_BYTES]; 200];
        // (a flat frame is left as classified: this one is not, by three columns of bright tiles)
        for r in 0..10 {
            means[r * 20 + 17..r * 20 + 20].fill([200; QUADS_BYTES]);
        }
        let mut emoji: Vec<u32> = (0..200).map(|i| if i % 20 < 17 { 0 } else { 10 + (i % 2) }).collect();
        emoji[0] = 9;
        let tiles = FrameTiles {
            means: &means,
            cols: 20,
            background: Background::Color([0, 0, 0]),
        };
        let movable: Vec<u32> = (0..200).collect();
        let mut near = emoji.clone();
        Spread::new(glyphs.clone()).apply(&mut near, &movable, &tiles, &features, &ALL);
        // the excess went to the nearest greys (70, 80, ...) first, not to the 150 and 160 the frame showed
        let count = |m: &[u32], e: u32| m.iter().filter(|&&x| x == e).count();
        assert!((1..=5).all(|e| count(&near, e) == 19), "{near:?}");
        assert_eq!(count(&near, 9), 1);
        // an entry outside the emoji set is never drawn: with 70..140 left out, the far ones the frame shows take the excess
        let mut set = ALL;
        set[1..9].fill(false);
        let mut far = emoji;
        Spread::new(glyphs).apply(&mut far, &movable, &tiles, &features, &set);
        assert!((1..9).all(|e| count(&far, e) == 0), "{far:?}");
        assert!(count(&far, 9) > 1, "{far:?}");
    }
}
