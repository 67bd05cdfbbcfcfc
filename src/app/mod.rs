//! The commands behind the CLI. Each returns `anyhow::Result`: this is the binary's edge.

pub mod bench;
pub mod bench_input;
pub mod demo;
pub mod info;
pub mod live;
pub mod live_bench;
pub mod render;

use crate::cli::MosaicArgs;
use emojicam::domain::Background;
use emojicam::gpu::AdapterPreference;
use emojicam::pipeline::{check_tile, check_variety, Settings};

/// Validates the shared mosaic options into pipeline settings (usage errors exit with 2).
pub fn settings(args: &MosaicArgs) -> emojicam::Result<Settings> {
    check_tile(args.tile)?;
    check_variety(args.variety)?;
    let mut s = Settings {
        tile: args.tile,
        classifier: args.classifier.into(),
        background: Background::parse(&args.background)?,
        emoji_set: args.emoji.clone(),
        adapter: AdapterPreference::parse(&args.adapter),
        change_threshold: (args.change_threshold > 0).then_some(args.change_threshold),
        variety: args.variety,
        ..Settings::default()
    };
    // Transparent pixels of a still image are shown over the mosaic's background (over white
    // when the background is each tile's own colour).
    emojicam::source::set_transparent_background(s.background.flat_color());
    if let Some(t) = args.threads {
        if t == 0 {
            return Err(emojicam::Error::usage("--threads must be at least 1"));
        }
        s.onnx.threads = t;
    }
    Ok(s)
}
