//! emojicam: turns camera frames, videos and photos into emoji mosaics.
//!
//! One frame's journey: a [`source::Source`] delivers RGBA frames; the GPU tiler reduces every
//! tile to a 10x10 RGB patch; a [`classify::Classifier`] picks one emoji per tile in one batch;
//! the renderer draws the emoji from the atlas; [`sink::Sink`]s write the result.

pub mod app;
pub mod atlas;
pub mod classify;
pub mod cli;
pub mod error;
pub mod frame;
pub mod gpu;
pub mod live;
pub mod media;
pub mod pipeline;
pub mod safety;
pub mod sink;
pub mod source;
pub mod yuv;

pub use error::{Error, Result};
pub use frame::{Frame, Rate, StreamInfo, StreamKind};
