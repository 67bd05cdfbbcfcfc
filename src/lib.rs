//! emojicam: turns camera frames, videos and photos into emoji mosaics.
//!
//! One frame's journey: a [`source::Source`] delivers RGBA [`Frame`]s; the GPU tiler
//! ([`gpu::Tiler`]) reduces every tile to a 10x10 RGB patch; a [`classify::Classifier`] picks
//! one emoji per tile in one batch; the renderer ([`gpu::Renderer`]) draws the emoji from the
//! [`Atlas`]; [`sink::Sink`]s write the result. [`Pipeline`] runs the middle three for every
//! mode (live preview, offline render, bench).
//!
//! The modules are layered, each using only those below it (docs/ARCHITECTURE.md):
//!
//! | layer | modules |
//! | --- | --- |
//! | domain | [`domain`] (background, classifier kind, [`Grid`], [`Stamp`] and [`MosaicFrame`], patch contract, likeness), [`error`], [`frame`] |
//! | GPU | [`gpu`] (context, tiler, renderer), [`atlas`] |
//! | classify | [`classify`] (ONNX model, nearest reference) |
//! | pipeline | [`pipeline`] |
//! | media | [`source`], [`sink`], [`media`], [`yuv`], [`safety`] |
//! | live | [`live`] (session, window, overlay, hotkeys) |
//!
//! The command line (`src/cli.rs`, `src/app/`) is the binary's, not the library's.
//!
//! # Example
//!
//! Parse the options a caller offers, as the command line does:
//!
//! ```
//! use emojicam::{Background, ClassifierKind, Grid};
//!
//! assert_eq!(Background::parse("#20a0ff")?, Background::Color([0x20, 0xa0, 0xff]));
//! assert!(Background::parse("plaid").is_err());
//! assert_eq!(ClassifierKind::default().name(), "onnx");
//! let grid = Grid::new(1280, 720, 10);
//! assert_eq!((grid.cols, grid.rows, grid.tiles()), (128, 72, 9216));
//! # Ok::<(), emojicam::Error>(())
//! ```
//!
//! Turn one image into a mosaic (needs a GPU adapter, or Mesa's lavapipe; the nearest
//! classifier needs no ONNX Runtime). `examples/mosaic.rs` is the whole program.
//!
//! ```no_run
//! use emojicam::{ClassifierKind, Pipeline, Settings};
//!
//! let mut source = emojicam::source::open("photo.png".as_ref())?;
//! let frame = source.next_frame()?.expect("an image has one frame");
//! let settings = Settings { classifier: ClassifierKind::Nearest, tile: 16, ..Settings::default() };
//! let mut pipeline = Pipeline::new(settings)?;
//! let mosaic = pipeline.process(&frame, None)?; // RGBA, the input's size
//! assert_eq!((mosaic.width, mosaic.height), (frame.width, frame.height));
//! # Ok::<(), emojicam::Error>(())
//! ```

pub mod atlas;
pub mod classify;
pub mod domain;
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

pub use atlas::Atlas;
pub use domain::{Background, ClassifierKind, Grid, MosaicFrame, Stamp};
pub use error::{Error, Result};
pub use frame::{Frame, Rate, StreamInfo, StreamKind};
pub use pipeline::{Pipeline, Settings};
