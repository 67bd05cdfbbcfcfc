//! The patch contract between the tiler and the classifiers: every tile is reduced to a 10x10
//! RGB patch (u8, row-major pixels, 300 bytes), an exact area average of the tile, and to its
//! patch's four rounded quadrant means (12 bytes), which is all the 2x2 objective needs.

/// Patch side in pixels.
pub const PATCH: usize = 10;
/// Bytes of one tile patch: 10x10 RGB, u8.
pub const PATCH_BYTES: usize = PATCH * PATCH * 3;

/// Sums of each 5x5 quadrant of a patch (TL, TR, BL, BR), RGB: the 2x2 grid the likeness
/// objective compares, and what the tiler measures change on.
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

/// Bytes of one tile's quadrant means ([`quadrant_means`]): what the ONNX classifier reads.
pub const QUADS_BYTES: usize = 12;

/// A tile's mean colour from its quadrant means ([`quadrant_means`]): the rounded mean of the
/// four, per channel. The `tile` background is [`backdrop`] of exactly this (or black,
/// [`quads_backdrop`]) in the renderer and every classifier, so they agree on what the background
/// is.
pub fn quads_mean(quads: &[u8; QUADS_BYTES]) -> [u8; 3] {
    std::array::from_fn(|c| {
        let sum: u32 = (0..4).map(|q| u32::from(quads[q * 3 + c])).sum();
        ((sum + 2) / 4) as u8
    })
}

/// A patch's mean colour as [`quads_mean`] takes it from the patch's quadrant means.
pub fn patch_mean(patch: &[u8]) -> [u8; 3] {
    quads_mean(&quadrant_means(patch))
}

/// Where the `tile` background turns to black: a tile whose brightest channel is at most this
/// is drawn over black ([`backdrop`]).
pub const BACKDROP_BLACK: u32 = 30;
/// Over how many levels above [`BACKDROP_BLACK`] the `tile` background fades in: from
/// `BACKDROP_BLACK + BACKDROP_FADE` a tile is drawn over its own colour.
pub const BACKDROP_FADE: u32 = 20;

/// The colour drawn behind a tile's emoji under the `tile` background, from the tile's mean colour
/// ([`quads_mean`]): that colour where the tile is bright enough, black where it is dark
/// ([`BACKDROP_BLACK`]), and between them the colour scaled down in proportion
/// ([`BACKDROP_FADE`]). Over its own dark colour only a few nearly empty emoji match a dark tile
/// (any ink moves the mean), so dark walls and shirts became a handful of emoji repeated; over
/// black every emoji whose ink, weighed by its coverage, averages to the tile's colour matches,
/// which gives dark areas both more variety and a closer likeness (models/EVAL.md, "A black
/// backdrop for dark tiles"). Integer maths, so the renderer, the classifiers and the nearest
/// shader agree to the level.
pub fn backdrop(mean: [u8; 3]) -> [u8; 3] {
    let brightest = u32::from(mean.into_iter().max().unwrap_or(0));
    let scale = brightest.saturating_sub(BACKDROP_BLACK).min(BACKDROP_FADE);
    mean.map(|c| ((u32::from(c) * scale + BACKDROP_FADE / 2) / BACKDROP_FADE) as u8)
}

/// A quadrant at most this bright (its brightest channel) is a dark ground ([`dark_ground`]).
pub const GROUND_DARK: u32 = 40;
/// A quadrant at least this bright (its brightest channel) is bright detail ([`dark_ground`]).
pub const GROUND_BRIGHT: u32 = 80;

/// Whether a tile, from its quadrant means ([`quadrant_means`]), is bright detail over a dark
/// ground: one quadrant at most [`GROUND_DARK`] and another at least [`GROUND_BRIGHT`] in its
/// brightest channel (lights at night, sunlit leaves over shadow, a bright edge on a dark wall).
/// Behind such a tile its mean colour is a blend that is in none of its quadrants, and over it the
/// dark ground is lost; over black an emoji's ink draws the bright part and its transparent parts
/// the dark one, as before the `tile` background (models/EVAL.md, "Black behind bright detail
/// over a dark ground").
pub fn dark_ground(quads: &[u8; QUADS_BYTES]) -> bool {
    let brightest = |q: usize| u32::from(quads[q * 3].max(quads[q * 3 + 1]).max(quads[q * 3 + 2]));
    let (lo, hi) = (0..4)
        .map(brightest)
        .fold((u32::MAX, 0), |(lo, hi), b| (lo.min(b), hi.max(b)));
    lo <= GROUND_DARK && hi >= GROUND_BRIGHT
}

/// The colour drawn behind a tile's emoji under the `tile` background, from its quadrant means
/// ([`quadrant_means`]): black behind bright detail over a dark ground ([`dark_ground`]), else
/// [`backdrop`] of its mean colour ([`quads_mean`]). The renderer, both classifiers and the
/// nearest shader all take it from here (or, the shader, the same integer maths).
pub fn quads_backdrop(quads: &[u8; QUADS_BYTES]) -> [u8; 3] {
    if dark_ground(quads) {
        return [0, 0, 0];
    }
    backdrop(quads_mean(quads))
}

/// Rounded mean colour of each 5x5 quadrant (TL, TR, BL, BR) of a patch, RGB: what the tiler
/// shader computes for every tile (`Tiles::means`), compares new patches with, and what the ONNX
/// classifier reads.
pub fn quadrant_means(patch: &[u8]) -> [u8; QUADS_BYTES] {
    let sums = quadrant_sums(patch);
    std::array::from_fn(|i| ((sums[i / 3][i % 3] + 12) / 25) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backdrop_fades_dark_tiles_to_black() {
        // bright enough: the tile's own colour, exactly
        assert_eq!(backdrop([50, 10, 0]), [50, 10, 0]);
        assert_eq!(backdrop([255, 255, 255]), [255, 255, 255]);
        assert_eq!(backdrop([30, 200, 90]), [30, 200, 90]);
        // dark: black
        assert_eq!(backdrop([30, 30, 30]), [0, 0, 0]);
        assert_eq!(backdrop([17, 15, 22]), [0, 0, 0]);
        // between: the colour scaled by (brightest - 30) / 20, rounded
        assert_eq!(backdrop([40, 30, 9]), [20, 15, 5]);
        assert_eq!(backdrop([31, 0, 0]), [2, 0, 0]);
        assert_eq!(backdrop([49, 49, 49]), [47, 47, 47]);
        // the fade never brightens a channel, and is monotonic in the tile's brightness
        let mut last = 0;
        for v in 0..=255u8 {
            let b = backdrop([v, v / 2, v / 3]);
            assert!(b[0] <= v && b[1] <= v / 2 && b[2] <= v / 3);
            assert!(b[0] >= last);
            last = b[0];
        }
    }

    #[test]
    fn black_behind_bright_detail_over_a_dark_ground() {
        // a bright spot (one quadrant's red at 200) over a dark ground (another's brightest channel 40)
        let spot = [10, 40, 20, 200, 20, 20, 30, 30, 30, 60, 60, 60];
        assert!(dark_ground(&spot));
        assert_eq!(quads_backdrop(&spot), [0, 0, 0]);
        // the same with its darkest quadrant one level brighter: the mean colour's backdrop
        let lifted = [10, 41, 20, 200, 20, 20, 41, 41, 41, 60, 60, 60];
        assert!(!dark_ground(&lifted));
        assert_eq!(quads_backdrop(&lifted), backdrop(quads_mean(&lifted)));
        // a dark ground whose brightest quadrant is below 80: no bright detail, the mean's backdrop
        let dim = [0, 0, 0, 79, 79, 79, 0, 0, 0, 79, 79, 79];
        assert!(!dark_ground(&dim));
        assert_eq!(quads_backdrop(&dim), backdrop([40, 40, 40]));
        // ... and from 80 on, black
        let edge = [0, 0, 0, 80, 80, 80, 0, 0, 0, 80, 80, 80];
        assert!(dark_ground(&edge));
        assert_eq!(quads_backdrop(&edge), [0, 0, 0]);
        // a flat tile is never a dark ground
        for v in [0u8, 40, 80, 200] {
            assert!(!dark_ground(&[v; QUADS_BYTES]));
        }
    }
}
