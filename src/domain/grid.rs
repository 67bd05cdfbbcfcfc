//! The tile grid: which source rectangle each tile of a mosaic stands for.

use crate::error::{Error, Result};

/// The 4-connected regions of equal keys in a row-major grid of tiles: each tile's region in
/// `label`, each region's size in `sizes` (the buffers are kept between calls).
#[derive(Debug, Default)]
pub struct Regions {
    pub label: Vec<u32>,
    pub sizes: Vec<u32>,
    stack: Vec<u32>,
}

impl Regions {
    /// Labels the regions of `n` tiles, `cols` per row, tile `i` having key `key(i)`.
    pub fn find(&mut self, n: usize, cols: usize, key: impl Fn(usize) -> u32) {
        let cols = cols.max(1);
        self.label.clear();
        self.label.resize(n, u32::MAX);
        self.sizes.clear();
        for seed in 0..n {
            if self.label[seed] != u32::MAX {
                continue;
            }
            let (id, k) = (self.sizes.len() as u32, key(seed));
            let mut size = 0;
            self.label[seed] = id;
            self.stack.clear();
            self.stack.push(seed as u32);
            while let Some(t) = self.stack.pop() {
                let t = t as usize;
                size += 1;
                let x = t % cols;
                let near = [
                    (x > 0).then(|| t - 1),
                    (x + 1 < cols && t + 1 < n).then(|| t + 1),
                    (t >= cols).then(|| t - cols),
                    (t + cols < n).then(|| t + cols),
                ];
                for u in near.into_iter().flatten() {
                    if self.label[u] == u32::MAX && key(u) == k {
                        self.label[u] = id;
                        self.stack.push(u as u32);
                    }
                }
            }
            self.sizes.push(size);
        }
    }

    /// Tiles in the largest region (0 for no tiles).
    pub fn largest(&self) -> u32 {
        self.sizes.iter().copied().max().unwrap_or(0)
    }
}

/// Smallest and largest tile sizes in source pixels.
pub const MIN_TILE: u32 = 4;
pub const MAX_TILE: u32 = 64;

/// Checks a tile size before any GPU work (a usage error outside [`MIN_TILE`]..=[`MAX_TILE`]).
pub fn validate_tile(tile: u32) -> Result<()> {
    if (MIN_TILE..=MAX_TILE).contains(&tile) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "tile size {tile} is out of range: use {MIN_TILE} to {MAX_TILE} pixels"
        )))
    }
}

/// The tile grid of one frame: a `src_width` x `src_height` frame cut into `tile` x `tile`
/// squares, `cols` x `rows` of them (the last column and row may be partial).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Grid {
    pub cols: u32,
    pub rows: u32,
    /// Tile size in source pixels.
    pub tile: u32,
    pub src_width: u32,
    pub src_height: u32,
}

impl Grid {
    /// The grid that covers a `width` x `height` frame with tiles of `tile` pixels.
    pub fn new(width: u32, height: u32, tile: u32) -> Self {
        let t = tile.max(1);
        Grid {
            cols: width.div_ceil(t),
            rows: height.div_ceil(t),
            tile,
            src_width: width,
            src_height: height,
        }
    }

    /// Number of tiles, `cols * rows`.
    pub fn tiles(&self) -> usize {
        self.cols as usize * self.rows as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_tiles_count() {
        let g = Grid::new(25, 10, 10);
        assert_eq!((g.cols, g.rows, g.tiles()), (3, 1, 3));
        assert!(validate_tile(MIN_TILE).is_ok() && validate_tile(MAX_TILE + 1).is_err());
    }
}
