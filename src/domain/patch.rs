//! The patch contract between the tiler and the classifiers: every tile is reduced to a 10x10
//! RGB patch (u8, row-major pixels, 300 bytes), an exact area average of the tile.

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

/// Rounded mean colour of one patch; the renderer's `tile` background and the classifiers all
/// use exactly this, so they agree on what the background is.
pub fn patch_mean(patch: &[u8]) -> [u8; 3] {
    let mut sum = [0u32; 3];
    for px in patch.chunks_exact(3) {
        for c in 0..3 {
            sum[c] += px[c] as u32;
        }
    }
    let n = (PATCH * PATCH) as u32;
    sum.map(|s| ((s + n / 2) / n) as u8)
}

/// Rounded mean colour of each 5x5 quadrant (TL, TR, BL, BR) of a patch, RGB: what the tiler
/// shader compares new patches with.
pub fn quadrant_means(patch: &[u8]) -> [u8; 12] {
    let sums = quadrant_sums(patch);
    std::array::from_fn(|i| ((sums[i / 3][i % 3] + 12) / 25) as u8)
}
