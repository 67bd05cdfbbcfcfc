//! What goes into the pipeline with each frame, and the owned mosaic that comes out.

use std::time::Duration;

use super::{Background, Grid};

/// Where a frame stands in its stream: carried from the source through the pipeline to the
/// sinks, so a result can never be matched with the wrong frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// Zero-based number of the frame in its stream.
    pub seq: u64,
    /// Presentation time from the start of the stream, when the source knows it.
    pub timestamp: Option<Duration>,
}

impl Stamp {
    pub fn new(seq: u64, timestamp: Option<Duration>) -> Self {
        Self { seq, timestamp }
    }
}

/// One classified frame: the emoji chosen for every tile of its grid, owned, so it stays valid
/// while the pipeline goes on with the next frames.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MosaicFrame {
    /// The frame this mosaic was made from.
    pub stamp: Stamp,
    pub grid: Grid,
    /// Atlas index per tile, row-major, `grid.tiles()` entries.
    pub emoji: Vec<u32>,
    /// The background the emoji were chosen over.
    pub background: Background,
    /// Each tile's mean colour when it was last classified (the colour its emoji was chosen
    /// over), row-major; filled only for [`Background::Tile`] (empty otherwise).
    pub tile_colors: Vec<[u8; 3]>,
}
