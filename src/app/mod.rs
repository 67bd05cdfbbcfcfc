//! The commands behind the CLI. Each returns `anyhow::Result`: this is the binary's edge.

pub mod bench;
pub mod demo;
pub mod info;
pub mod live;
pub mod render;

use crate::cli::MosaicArgs;
use crate::gpu::renderer::Background;
use crate::gpu::AdapterPreference;
use crate::pipeline::{check_tile, check_variety, Settings};

/// Validates the shared mosaic options into pipeline settings (usage errors exit with 2).
pub fn settings(args: &MosaicArgs) -> crate::Result<Settings> {
    check_tile(args.tile)?;
    check_variety(args.variety)?;
    let mut s = Settings {
        tile: args.tile,
        classifier: args.classifier,
        background: Background::parse(&args.background)?,
        emoji_set: args.emoji.clone(),
        adapter: AdapterPreference::parse(&args.adapter),
        change_threshold: (args.change_threshold > 0).then_some(args.change_threshold),
        variety: args.variety,
        ..Settings::default()
    };
    // Transparent pixels of a still image are shown over the mosaic's background (over white
    // when the background is each tile's own colour).
    crate::source::set_transparent_background(match s.background {
        Background::Color(rgb) => rgb,
        Background::Tile => [255, 255, 255],
    });
    if let Some(t) = args.threads {
        if t == 0 {
            return Err(crate::Error::usage("--threads must be at least 1"));
        }
        s.onnx.threads = t;
    }
    Ok(s)
}
