//! The bottom layer: what a mosaic is, independent of how it is computed or shown.
//!
//! Everything above (the GPU passes, the classifiers, the pipeline, sources and sinks) speaks
//! in these types; nothing here depends on another module of the crate except [`crate::error`].

mod background;
mod grid;
pub mod likeness;
mod mosaic;
pub mod patch;
pub mod spread;

pub use background::Background;
pub use grid::{validate_tile, Grid, Regions, MAX_TILE, MIN_TILE};
pub use mosaic::{MosaicFrame, Stamp};
pub use patch::{
    backdrop, dark_ground, patch_mean, quadrant_means, quadrant_sums, quads_backdrop, quads_mean, BACKDROP_BLACK,
    BACKDROP_FADE, GROUND_BRIGHT, GROUND_DARK, PATCH, PATCH_BYTES, QUADS_BYTES,
};

/// Which classifier picks each tile's emoji.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClassifierKind {
    /// The trained model through ONNX Runtime (the product's path).
    #[default]
    Onnx,
    /// Exhaustive nearest match in a compute shader (quality reference; needs no ONNX Runtime).
    Nearest,
}

impl ClassifierKind {
    /// Every kind, in the order they are listed to users.
    pub const ALL: [ClassifierKind; 2] = [ClassifierKind::Onnx, ClassifierKind::Nearest];

    /// The name users type (`--classifier onnx`).
    pub fn name(self) -> &'static str {
        match self {
            ClassifierKind::Onnx => "onnx",
            ClassifierKind::Nearest => "nearest",
        }
    }
}

impl std::fmt::Display for ClassifierKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
