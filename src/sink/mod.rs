//! Where mosaics go: image files, video files, text/JSON, Y4M streams, virtual cameras.

use crate::error::Result;
use crate::frame::Frame;

/// One finished mosaic frame: the rendered image and the emoji chosen per tile.
pub struct Mosaic<'a> {
    /// Zero-based frame number in the stream.
    pub index: u64,
    /// The rendered mosaic (RGBA8). May be `None` for sinks that only need the grid.
    pub image: Option<&'a Frame>,
    /// Tile size in source pixels.
    pub tile: u32,
    pub cols: u32,
    pub rows: u32,
    /// Atlas class index per tile, row-major, `cols * rows` entries.
    pub emoji: &'a [u32],
}

/// A consumer of mosaic frames. `finish` must be called once at the end; a sink
/// dropped without `finish` leaves no output that looks valid.
pub trait Sink: Send {
    fn write(&mut self, mosaic: &Mosaic<'_>) -> Result<()>;
    fn finish(&mut self) -> Result<()>;
    /// Whether this sink needs the rendered image (text sinks do not).
    fn needs_image(&self) -> bool {
        true
    }
}
