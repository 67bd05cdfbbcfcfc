//! No one emoji covers much of a picture with a scene in it. The classifier's variety pattern
//! varies each area among the emoji near its tiles, but where only a few emoji come near (a
//! mid-dark ground, a night sky) those few can each cover more than a tenth of the frame. After
//! a frame's tiles are classified, [`Spread`] moves the excess of such an emoji, tile by tile in
//! a fixed spatial order, to each tile's closest emoji among those the frame already shows and
//! the few dozen nearest the emoji's tiles that it does not, none of them at the limit itself.
//! Then it cuts any one-emoji region of more than [`REGION_MAX`] tiles (a saturated or dim
//! flat area that only one emoji draws closely) into pieces of at most 18.

use super::likeness::frame_flat;
use super::patch::QUADS_BYTES;
use super::{Background, Regions};

/// At most this share of a frame's tiles show one emoji (its dimmed copies counted with it),
/// a little below the tenth issue 15 sets, so that a frame's last tiles do not tip it over.
pub const MOST_COMMON_SHARE: f64 = 0.095;

/// A frame with fewer tiles is left as classified: a tenth of a handful of tiles is no texture.
pub const SPREAD_MIN_TILES: usize = 100;

/// A frame at least this flat ([`frame_flat`]: the share of its tiles near its median colour)
/// is nearly one flat colour, which one emoji may cover: left as classified.
pub const SPREAD_FLAT: f32 = 0.9;

/// For each emoji whose tiles must move, this many more entries (allowed, not shown by the
/// frame) are open to them: the ones nearest those tiles' mean quadrants ([`Spread::apply`]).
pub const NEAR: usize = 32;

/// A tile that must move searches first this many open entries that fit best the mean of
/// the tiles giving up its emoji (then, when none of them has room left, every open entry): the
/// search's cost per tile stays the same however many entries are open.
pub const SHORT: usize = 128;

/// A one-emoji region (4-connected) of more tiles than this is cut: issue 15's largest region.
pub const REGION_MAX: usize = 25;

/// The cut's period ([`on_cut`]): about 2 / 7 of a large region's tiles move.
const CUT_PERIOD: usize = 7;

/// Phase constants of the order in which a frame's tiles give up an emoji (the R2 sequence's,
/// across and down swapped against the variety pattern's, so that the two do not line up).
const ORDER_X: f64 = 0.754_877_666_246_692_7;
const ORDER_Y: f64 = 0.569_840_290_998_053_2;

/// An entry a tile may move to: its index, features and [`Terms`].
type Open = (u32, [f32; 16], Terms);

/// The tiles that must give up one emoji: the emoji, their summed quadrant means, their count.
type Group = (u32, [u64; QUADS_BYTES], u64);

/// The reusable state of [`Spread::apply`], one per pipeline.
#[derive(Debug, Default)]
pub struct Spread {
    /// Entry -> the emoji it draws (a dimmed copy's source), as [`crate::atlas::Atlas::glyph`].
    glyphs: Vec<u32>,
    counts: Vec<u32>,
    seen: Vec<bool>,
    /// The entries a tile may move to, with their features and [`Terms`].
    open: Vec<Open>,
    order: Vec<(f64, u32)>,
    /// Every entry's [`Terms`].
    terms: Vec<Terms>,
    /// The tiles that must move, per emoji: summed quadrant means, count.
    groups: Vec<Group>,
    /// Per group (its emoji): the open entries its tiles search first ([`SHORT`]).
    lists: Vec<(u32, Vec<Open>)>,
    /// Scratch: scored entries.
    near: Vec<(f32, u32)>,
    /// The frame's one-emoji regions (dimmed copies with their emoji).
    regions: Regions,
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

    /// The side of a tile with a group's mean quadrants (rounded; [`Spread::group`]).
    fn of_group(&(_, sum, count): &Group, background: Background) -> Self {
        let quads: [u8; QUADS_BYTES] = std::array::from_fn(|q| ((sum[q] + count / 2) / count.max(1)) as u8);
        Self::new(&quads, background)
    }

    /// The error of the entry with features `x` and terms `t`, less the tile's own `|D|^2`.
    fn score(&self, x: &[f32; 16], t: &Terms) -> f32 {
        let dot: f32 = self.v.iter().zip(x).map(|(v, x)| v * x).sum();
        t.f2 - 2.0 * (self.b[0] * t.u[0] + self.b[1] * t.u[1] + self.b[2] * t.u[2]) + self.b2 * t.a2 - 2.0 * dot
    }
}

/// What the share and the cut work from: the tiles that may move, the frame, the entries'
/// features, the emoji set and the most tiles one emoji may keep.
struct Step<'a> {
    movable: &'a [u32],
    frame: &'a FrameTiles<'a>,
    features: &'a [[f32; 16]],
    allowed: &'a [bool],
    limit: u32,
}

/// One classified frame, as [`Spread::apply`] reads it.
pub struct FrameTiles<'a> {
    /// Every tile's rounded quadrant means, row by row.
    pub means: &'a [[u8; QUADS_BYTES]],
    /// Tiles per row.
    pub cols: u32,
    /// The background the emoji are drawn over.
    pub background: Background,
    /// The frame's flat share ([`frame_flat`] of `means`) where it is already measured.
    pub flat: Option<f32>,
}

impl Spread {
    /// For an atlas whose entry `e` draws emoji `glyphs[e]`.
    pub fn new(glyphs: Vec<u32>) -> Self {
        Self {
            glyphs,
            ..Self::default()
        }
    }

    /// Keeps any one emoji (its dimmed copies counted with it) off more than [`MOST_COMMON_SHARE`]
    /// of the frame's tiles, then cuts one-emoji regions of more than [`REGION_MAX`] tiles along
    /// two families of diagonals 7 tiles apart. Only tiles in `movable` move (ascending tile indices: the ones classified
    /// this frame, so a still scene stays still), each to the entry that fits it best
    /// ([`Objective`](super::likeness::Objective), `features` as
    /// [`crate::atlas::Atlas::features_2x2`]) of another emoji below the share, among the entries
    /// the frame shows and the [`NEAR`] entries of `allowed` (the emoji set, per entry) nearest the
    /// tiles that must move. Leaves frames of fewer than [`SPREAD_MIN_TILES`] tiles or at least
    /// [`SPREAD_FLAT`] flat as they are. Returns how many tiles moved.
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
        if frame.flat.unwrap_or_else(|| frame_flat(frame.means)) >= SPREAD_FLAT {
            return 0;
        }
        if self.terms.len() != features.len() {
            self.terms = features.iter().map(Terms::of).collect();
        }
        let limit = (MOST_COMMON_SHARE * n as f64).floor() as u32;
        self.counts.clear();
        self.counts.resize(self.glyphs.len(), 0);
        for &e in emoji.iter() {
            if let Some(&g) = self.glyphs.get(e as usize) {
                self.counts[g as usize] += 1;
            }
        }
        let step = Step {
            movable,
            frame,
            features,
            allowed,
            limit,
        };
        let moved = self.share(emoji, &step);
        moved + self.cut_regions(emoji, &step)
    }

    /// The emoji drawn by entry `e` (a dimmed copy's source); `u32::MAX` for no entry.
    fn glyph(&self, e: u32) -> u32 {
        glyph_of(&self.glyphs, e)
    }

    /// The share: tiles of an emoji over the limit move, in a fixed order of their grid
    /// positions, until it is within it.
    fn share(&mut self, emoji: &mut [u32], step: &Step) -> usize {
        let (frame, limit) = (step.frame, step.limit);
        let cols = frame.cols.max(1);
        self.order.clear();
        for &i in step.movable {
            let g = emoji.get(i as usize).map_or(u32::MAX, |&e| self.glyph(e));
            if self.counts.get(g as usize).is_some_and(|&c| c > limit) {
                let (x, y) = (f64::from(i % cols), f64::from(i / cols));
                self.order.push(((0.5 + x * ORDER_X + y * ORDER_Y).fract(), i));
            }
        }
        if self.order.is_empty() {
            return 0;
        }
        self.order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        // the tiles to move, grouped by their emoji
        self.groups.clear();
        for k in 0..self.order.len() {
            let i = self.order[k].1 as usize;
            self.group(self.glyph(emoji[i]), &frame.means[i]);
        }
        self.open_entries(emoji, step);
        self.move_tiles(emoji, step, true)
    }

    /// The regions: a one-emoji region (4-connected) of more than [`REGION_MAX`] tiles gives up
    /// its movable tiles on the cut ([`on_cut`]), each to its best entry of another emoji.
    fn cut_regions(&mut self, emoji: &mut [u32], step: &Step) -> usize {
        let frame = step.frame;
        let cols = frame.cols.max(1) as usize;
        let glyphs = &self.glyphs;
        self.regions.find(emoji.len(), cols, |t| glyph_of(glyphs, emoji[t]));
        self.order.clear();
        self.groups.clear();
        for &i in step.movable {
            let t = i as usize;
            let Some(&region) = self.regions.label.get(t) else {
                continue;
            };
            if self.regions.sizes[region as usize] as usize > REGION_MAX && on_cut(t % cols, t / cols) {
                self.order.push((0.0, i));
                self.group(self.glyph(emoji[t]), &frame.means[t]);
            }
        }
        if self.order.is_empty() {
            return 0;
        }
        self.open_entries(emoji, step);
        self.move_tiles(emoji, step, false)
    }

    /// Adds a tile's quadrant means to the group of the tiles that must give up emoji `key`.
    fn group(&mut self, key: u32, quads: &[u8; QUADS_BYTES]) {
        let at = match self.groups.iter().position(|g| g.0 == key) {
            Some(k) => k,
            None => {
                self.groups.push((key, [0; QUADS_BYTES], 0));
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[at];
        for (s, &v) in group.1.iter_mut().zip(quads) {
            *s += u64::from(v);
        }
        group.2 += 1;
    }

    /// Opens the entries a tile may move to, in entry order (ties go to the lower entry), with
    /// their features side by side for the search: those the frame shows whose emoji has room,
    /// and for each group of tiles that must move the [`NEAR`] allowed ones (their emoji with
    /// room) that fit best the group's mean quadrants: where the frame shows few emoji near a
    /// flat area (a dim wall, a night sky), the closest emoji it does not show yet are nearer
    /// than the ones it does.
    fn open_entries(&mut self, emoji: &[u32], step: &Step) {
        let (frame, features, allowed, limit) = (step.frame, step.features, step.allowed, step.limit);
        self.seen.clear();
        self.seen.resize(self.glyphs.len(), false);
        for &e in emoji {
            if let Some(s) = self.seen.get_mut(e as usize) {
                *s = true;
            }
        }
        self.open.clear();
        for (e, f) in features.iter().enumerate() {
            if self.seen.get(e) == Some(&true) && has_room(&self.glyphs, &self.counts, e as u32, limit) {
                self.open.push((e as u32, *f, self.terms[e]));
            }
        }
        for k in 0..self.groups.len() {
            let side = TileSide::of_group(&self.groups[k], frame.background);
            self.near.clear();
            for (e, (f, t)) in features.iter().zip(&self.terms).enumerate() {
                let ok = allowed.get(e) == Some(&true)
                    && self.seen.get(e) == Some(&false)
                    && has_room(&self.glyphs, &self.counts, e as u32, limit);
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
        // each group's short list: the SHORT open entries of other emoji that fit its mean best
        self.lists.clear();
        for k in 0..self.groups.len() {
            let key = self.groups[k].0;
            let side = TileSide::of_group(&self.groups[k], frame.background);
            let mut list: Vec<(f32, usize)> = (0..self.open.len())
                .filter(|&o| self.glyphs[self.open[o].0 as usize] != key)
                .map(|o| (side.score(&self.open[o].1, &self.open[o].2), o))
                .collect();
            if list.len() > SHORT {
                list.select_nth_unstable_by(SHORT - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                list.truncate(SHORT);
            }
            // in entry order, as `open`: ties go to the lower entry
            list.sort_by_key(|&(_, o)| o);
            self.lists
                .push((key, list.into_iter().map(|(_, o)| self.open[o]).collect()));
        }
    }

    /// Moves the tiles of `order`, in turn, each to its best open entry of another emoji (with
    /// `share`, only while its emoji is over the limit), keeping the counts and the open entries.
    fn move_tiles(&mut self, emoji: &mut [u32], step: &Step, share: bool) -> usize {
        let (frame, limit) = (step.frame, step.limit);
        let mut moved = 0;
        for k in 0..self.order.len() {
            let tile = self.order[k].1 as usize;
            let from = self.glyph(emoji[tile]);
            if from == u32::MAX || (share && self.counts[from as usize] <= limit) {
                continue;
            }
            let side = TileSide::new(&frame.means[tile], frame.background);
            let score = |(e, f, t): &Open| (side.score(f, t), *e);
            let (glyphs, counts) = (&self.glyphs, &self.counts);
            let room = |(e, _, _): &&Open| has_room(glyphs, counts, *e, limit);
            // the short list of the tile's emoji first, then every open entry
            let short = self.lists.iter().find(|l| l.0 == from).map(|l| &l.1);
            let best = short
                .and_then(|l| l.iter().filter(room).map(score).min_by(|a, b| a.0.total_cmp(&b.0)))
                .or_else(|| {
                    self.open
                        .iter()
                        .filter(|(e, _, _)| glyphs[*e as usize] != from)
                        .map(score)
                        .min_by(|a, b| a.0.total_cmp(&b.0))
                });
            let Some((_, to)) = best else { break };
            let g = self.glyphs[to as usize] as usize;
            self.counts[from as usize] -= 1;
            self.counts[g] += 1;
            emoji[tile] = to;
            moved += 1;
            if self.counts[g] >= limit {
                let (glyphs, counts) = (&self.glyphs, &self.counts);
                self.open.retain(|(e, _, _)| has_room(glyphs, counts, *e, limit));
            }
        }
        moved
    }
}

/// The emoji drawn by entry `e` (a dimmed copy's source, per `glyphs`); `u32::MAX` for no entry.
fn glyph_of(glyphs: &[u32], e: u32) -> u32 {
    glyphs.get(e as usize).copied().unwrap_or(u32::MAX)
}

/// Whether entry `e`'s emoji shows on fewer than `limit` tiles (`counts` per emoji).
fn has_room(glyphs: &[u32], counts: &[u32], e: u32, limit: u32) -> bool {
    counts.get(glyph_of(glyphs, e) as usize).is_some_and(|&c| c < limit)
}

/// Whether the tile at column `x`, row `y` lies on the cut of a large region: two families of
/// diagonals [`CUT_PERIOD`] tiles apart, which leave pieces of at most 18 tiles (a 4-connected
/// path from one piece to the next steps onto a diagonal: each step changes `x + y` and `x - y`
/// by one).
fn on_cut(x: usize, y: usize) -> bool {
    (x + y).is_multiple_of(CUT_PERIOD) || (x + CUT_PERIOD - y % CUT_PERIOD).is_multiple_of(CUT_PERIOD)
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
            flat: None,
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
            flat: None,
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
            flat: None,
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
            flat: None,
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
            flat: None,
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
            flat: None,
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

    #[test]
    fn a_large_one_emoji_region_is_cut_into_small_pieces() {
        // a 40 x 25 frame of the twelve greys, no two neighbours alike, with a 9 x 9 block of
        // grey 110 (entry 5) drawn as entry 5: 81 tiles in one region, under the share (95)
        let (features, glyphs) = atlas();
        let cols = 40;
        let block = |i: usize| (10..19).contains(&(i % cols)) && (5..14).contains(&(i / cols));
        // outside the block: the other eleven greys in turn (about 84 tiles each)
        let entry = |i: usize| {
            if block(i) {
                5
            } else {
                [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11][i % 11]
            }
        };
        let means: Vec<[u8; QUADS_BYTES]> = (0..1000).map(|i| [60 + 10 * entry(i) as u8; QUADS_BYTES]).collect();
        let emoji: Vec<u32> = (0..1000).map(|i| entry(i) as u32).collect();
        let tiles = FrameTiles {
            means: &means,
            cols: cols as u32,
            background: Background::Color([0, 0, 0]),
            flat: None,
        };
        let mut spread = Spread::new(glyphs);
        let largest = |spread: &mut Spread, emoji: &[u32]| {
            spread.regions.find(emoji.len(), cols, |t| emoji[t]);
            spread.regions.largest()
        };
        assert_eq!(largest(&mut spread, &emoji), 81);
        let mut cut = emoji.clone();
        let moved = spread.apply(&mut cut, &(0..1000).collect::<Vec<_>>(), &tiles, &features, &ALL);
        assert!(largest(&mut spread, &cut) <= REGION_MAX as u32, "{cut:?}");
        // only tiles of the block on the cut moved, each to its next grey (100 or 120)
        for i in 0..1000 {
            if cut[i] != emoji[i] {
                assert!(block(i) && on_cut(i % cols, i / cols), "tile {i}");
                assert!([4, 6].contains(&cut[i]), "tile {i}: {}", cut[i]);
            }
        }
        assert!((15..=30).contains(&moved), "{moved}");
        // tiles not classified this frame stay, and the same frame is cut the same way
        let mut still = emoji.clone();
        assert_eq!(spread.apply(&mut still, &[0, 1, 2], &tiles, &features, &ALL), 0);
        let mut again = emoji;
        spread.apply(&mut again, &(0..1000).collect::<Vec<_>>(), &tiles, &features, &ALL);
        assert_eq!(again, cut);
    }
}
