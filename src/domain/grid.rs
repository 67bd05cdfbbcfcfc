//! The tile grid: which source rectangle each tile of a mosaic stands for.

use crate::error::{Error, Result};

/// The 4-connected regions of equal keys in a row-major grid of tiles: each tile's region in
/// `label`, each region's size in `sizes` (the buffers are kept between calls).
#[derive(Debug, Default)]
pub struct Regions {
    pub label: Vec<u32>,
    pub sizes: Vec<u32>,
    /// Scratch: each tile's key and its parent in the union of equal neighbours.
    keys: Vec<u32>,
    parent: Vec<u32>,
}

impl Regions {
    /// Labels the regions of `n` tiles, `cols` per row, tile `i` having key `key(i)`: regions
    /// numbered in the order of their first tile (row by row).
    pub fn find(&mut self, n: usize, cols: usize, key: impl Fn(usize) -> u32) {
        let cols = cols.max(1);
        self.keys.clear();
        self.keys.extend((0..n).map(key));
        // each tile joined to its left and upper neighbours of the same key, every set's root
        // its first tile
        self.parent.clear();
        self.parent.extend(0..n as u32);
        for t in 0..n {
            let k = self.keys[t];
            if t % cols > 0 && self.keys[t - 1] == k {
                self.union(t - 1, t);
            }
            if t >= cols && self.keys[t - cols] == k {
                self.union(t - cols, t);
            }
        }
        self.label.clear();
        self.sizes.clear();
        for t in 0..n {
            let root = self.root(t);
            let id = if root == t {
                self.sizes.push(0);
                self.sizes.len() as u32 - 1
            } else {
                // the root is an earlier tile, labelled already
                self.label[root]
            };
            self.label.push(id);
            self.sizes[id as usize] += 1;
        }
    }

    /// The first tile of `t`'s set, halving the path on the way.
    fn root(&mut self, mut t: usize) -> usize {
        while self.parent[t] as usize != t {
            let up = self.parent[t] as usize;
            self.parent[t] = self.parent[up];
            t = up;
        }
        t
    }

    /// Joins the sets of `a` and `b` under the earlier of their roots.
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            let (first, other) = (ra.min(rb), ra.max(rb));
            self.parent[other] = first as u32;
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
