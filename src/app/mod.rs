//! The commands behind the CLI. Each returns `anyhow::Result`: this is the binary's edge.

pub mod bench;
pub mod bench_input;
pub mod demo;
pub mod info;
pub mod live;
pub mod live_bench;
pub mod render;
pub mod render_bench;
mod stats;

use std::sync::Arc;

use crate::cli::MosaicArgs;
use emojicam::atlas::Atlas;
use emojicam::domain::Background;
use emojicam::gpu::AdapterPreference;
use emojicam::pipeline::{Config, Settings};

/// The shared mosaic options as a checked [`Config`] on the embedded atlas: every usage error
/// (exit code 2) comes from here, before any GPU work.
pub fn config(args: &MosaicArgs) -> emojicam::Result<Config> {
    let mut settings = Settings {
        tile: args.tile,
        classifier: args.classifier.into(),
        background: Background::parse(&args.background)?,
        emoji_set: args.emoji.clone(),
        dimmed: !args.no_dim,
        adapter: AdapterPreference::parse(&args.adapter),
        change_threshold: (args.change_threshold > 0).then_some(args.change_threshold),
        variety: args.variety,
        detail: args.detail,
        ..Settings::default()
    };
    if let Some(threads) = args.threads {
        settings.onnx.threads = threads;
    }
    let config = settings.validate(Arc::new(Atlas::embedded()?))?;
    // Transparent pixels of a still image are shown over the mosaic's background (over white
    // when the background is each tile's own colour).
    emojicam::source::set_transparent_background(config.settings().background.flat_color());
    Ok(config)
}
