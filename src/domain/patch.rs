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
/// four, per channel. The renderer's `tile` background and every classifier's use exactly this,
/// so they agree on what the background is.
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

/// Rounded mean colour of each 5x5 quadrant (TL, TR, BL, BR) of a patch, RGB: what the tiler
/// shader computes for every tile (`Tiles::means`), compares new patches with, and what the ONNX
/// classifier reads.
pub fn quadrant_means(patch: &[u8]) -> [u8; QUADS_BYTES] {
    let sums = quadrant_sums(patch);
    std::array::from_fn(|i| ((sums[i / 3][i % 3] + 12) / 25) as u8)
}
