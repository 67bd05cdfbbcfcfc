//! emojicam: turns camera frames, videos and photos into emoji mosaics.
//!
//! One frame's journey: a [`Source`] delivers [`Frame`]s (RGBA, or a video's I420 planes for
//! the live preview); the GPU tiler ([`gpu::Tiler`])
//! reduces every tile to its 2x2 quadrant mean colours (and, for a classifier that reads them, a
//! 10x10 RGB patch); a [`classify::Classifier`] picks one emoji per tile
//! in one batch; the renderer ([`gpu::Renderer`]) draws the emoji from the [`Atlas`]; a
//! [`Sink`] writes the result. [`Pipeline`] runs the middle three for every mode (live
//! preview, offline render, bench), configured by [`Settings`] that are checked once into a
//! [`Config`].
//!
//! # The API
//!
//! | layer | modules |
//! | --- | --- |
//! | domain | [`domain`] ([`Background`], [`ClassifierKind`], [`Grid`], [`Stamp`] and [`MosaicFrame`], the patch contract, the likeness objective), [`error`], [`frame`] |
//! | GPU | [`gpu`] ([`gpu::GpuContext`], [`gpu::Tiler`], [`gpu::Renderer`]), [`atlas`] |
//! | classify | [`classify`] (the ONNX model, the nearest-emoji reference) |
//! | pipeline | [`config`], [`pipeline`] |
//! | media | [`source`] (images, GIF, Y4M, videos, cameras; the frame reader), [`sink`] (images, video, GIF, Y4M, text, JSON, V4L2; the sink thread) |
//!
//! Each layer uses only those below it (docs/ARCHITECTURE.md). Usage errors
//! ([`Error::Usage`]: a bad setting, an unsupported format) are told apart from runtime
//! failures by [`Error::exit_code`].
//!
//! The live preview, the file-safety helpers and the YUV conversions are public only for the
//! `emojicam` program and the tests, and are not part of the API; neither is the command line
//! (`src/main.rs`, `src/cli.rs`, `src/app/`), which is the program's own.
//!
//! # Examples
//!
//! One frame to a mosaic, on the GPU (Mesa's lavapipe will do) with the nearest classifier,
//! which needs no ONNX Runtime. `examples/mosaic.rs` does the same from a file to a PNG.
//!
//! ```
//! use emojicam::{Background, ClassifierKind, Frame, Pipeline, Settings, Stamp};
//!
//! // A 64x48 picture: a horizontal red ramp over a vertical blue one.
//! let (w, h) = (64, 48);
//! let rgba = (0..w * h)
//!     .flat_map(|i| [(i % w * 4) as u8, 40, (i / w * 5) as u8, 255])
//!     .collect();
//! let frame = Frame::new(w, h, rgba);
//!
//! let settings = Settings {
//!     tile: 16,
//!     classifier: ClassifierKind::Nearest,
//!     background: Background::Color([0, 0, 0]),
//!     ..Settings::default()
//! };
//! let mut pipeline = Pipeline::new(settings)?;
//! let mosaic = pipeline.classify(&frame, Stamp::default())?;
//! assert_eq!((mosaic.grid.cols, mosaic.grid.rows), (4, 3));
//! assert_eq!(mosaic.emoji.len(), 12);
//! assert!(mosaic.emoji.iter().all(|&e| e < pipeline.atlas().count()));
//!
//! let image = pipeline.render(&mosaic, Some((128, 96)))?; // RGBA, twice the input's size
//! assert_eq!((image.width, image.height, image.rgba.len()), (128, 96, 128 * 96 * 4));
//! # Ok::<(), emojicam::Error>(())
//! ```
//!
//! Settings are checked before any GPU work, each with one clear message:
//!
//! ```
//! use std::sync::Arc;
//! use emojicam::{Atlas, Background, Error, Settings};
//!
//! let atlas = Arc::new(Atlas::embedded()?);
//! let bad = Settings { tile: 2, ..Settings::default() };
//! assert!(matches!(bad.validate(atlas.clone()), Err(Error::Usage(m)) if m.starts_with("tile size 2")));
//! assert!(Background::parse("plaid").is_err());
//!
//! let config = Settings::default().validate(atlas)?;
//! assert_eq!(config.settings().background, Background::parse("tile")?);
//! # Ok::<(), emojicam::Error>(())
//! ```

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

// The API: what other programs build on (documented, with `examples/mosaic.rs` as a user).
pub mod atlas;
pub mod classify;
pub mod config;
pub mod domain;
pub mod error;
pub mod frame;
pub mod gpu;
pub mod pipeline;
pub mod sink;
pub mod source;

// Not part of the API: public only because the emojicam binary (`src/main.rs`, `src/app/`) and
// the integration tests (`tests/`), crates of their own, use them. Hidden from the docs; they
// change with the program.
#[doc(hidden)]
pub mod live;
#[doc(hidden)]
pub mod safety;
#[doc(hidden)]
pub mod yuv;

mod media;

pub use atlas::{Atlas, EmojiInfo};
pub use config::{Config, Settings};
pub use domain::{Background, ClassifierKind, Grid, MosaicFrame, Stamp};
pub use error::{Error, Result};
pub use frame::{Frame, Rate, StreamInfo, StreamKind};
pub use pipeline::{Pipeline, StageTimes};
pub use sink::Sink;
pub use source::Source;
