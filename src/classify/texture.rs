//! How wallpaper-like a mosaic is: the measures issue 15's targets are stated in.

use crate::domain::Regions;

/// Repetition in one frame's grid of emoji (row-major, `cols` per row).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Texture {
    /// Share of tiles taken by the most common emoji.
    pub top_share: f64,
    /// Tiles in the largest 4-connected region of one emoji.
    pub largest_region: usize,
    /// Share of tiles (with a right-hand neighbour) whose right-hand neighbour is the same emoji.
    pub right_equal: f64,
    /// Distinct emoji in the frame.
    pub distinct: usize,
}

impl Texture {
    pub fn measure(emoji: &[u32], cols: usize) -> Self {
        let cols = cols.max(1);
        let rows = emoji.len() / cols;
        let emoji = &emoji[..rows * cols];
        let mut counts = std::collections::HashMap::new();
        for &e in emoji {
            *counts.entry(e).or_insert(0usize) += 1;
        }
        let mut regions = Regions::default();
        regions.find(emoji.len(), cols, |i| emoji[i]);
        let pairs = rows * (cols - 1);
        let right = emoji
            .chunks_exact(cols)
            .flat_map(|row| row.windows(2))
            .filter(|w| w[0] == w[1])
            .count();
        Self {
            top_share: counts.values().copied().max().unwrap_or(0) as f64 / emoji.len().max(1) as f64,
            largest_region: regions.largest() as usize,
            right_equal: right as f64 / pairs.max(1) as f64,
            distinct: counts.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Texture;

    #[test]
    fn measures_repetition() {
        // 3x3: a 5-tile cross of emoji 1 (4-connected), the corners 2, 3, 4, 5.
        let grid = [2, 1, 3, 1, 1, 1, 4, 1, 5];
        let t = Texture::measure(&grid, 3);
        assert_eq!(t.largest_region, 5);
        assert_eq!(t.distinct, 5);
        assert!((t.top_share - 5.0 / 9.0).abs() < 1e-9);
        assert!((t.right_equal - 2.0 / 6.0).abs() < 1e-9);
    }
}
