//! What a [`Pipeline`](crate::Pipeline) runs with: the [`Settings`] a caller fills in, and the
//! [`Config`] they become once checked against the atlas.
//!
//! Every rule on a setting lives here and runs once: [`Settings::validate`] checks them all
//! before any GPU work (a bad one is an [`Error::Usage`], exit code 2), and a pipeline built
//! from a [`Config`] does not check them again. Changing one setting later (the live
//! preview's hotkeys) goes through [`Config`]'s setters, which check only the new value.

use std::sync::Arc;

use crate::atlas::Atlas;
use crate::classify::onnx::OnnxOptions;
use crate::domain::likeness::{DEFAULT_DETAIL, DEFAULT_VARIETY, MAX_DETAIL, MAX_VARIETY};
use crate::domain::{validate_tile, Background, ClassifierKind};
use crate::error::{Error, Result};
use crate::gpu::AdapterPreference;

/// The most ONNX Runtime threads `--threads` may ask for.
pub const MAX_THREADS: usize = 256;

/// The pipeline's options as a caller gives them; nothing is checked until
/// [`Settings::validate`] (or [`Pipeline::new`](crate::Pipeline::new), which calls it).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Tile size in source pixels ([`MIN_TILE`](crate::domain::MIN_TILE) to
    /// [`MAX_TILE`](crate::domain::MAX_TILE)).
    pub tile: u32,
    pub classifier: ClassifierKind,
    pub background: Background,
    /// Name of an emoji set of the atlas ([`Atlas::set_names`]).
    pub emoji_set: String,
    /// Whether the set's dimmed copies may be drawn ([`crate::atlas::DIM`]; `--no-dim` clears it:
    /// every emoji as the atlas has it, as before they existed).
    pub dimmed: bool,
    pub adapter: AdapterPreference,
    /// ONNX Runtime options; `threads` must be at least 1.
    pub onnx: OnnxOptions,
    /// Re-classify only tiles that changed by more than this (None: every tile, every frame).
    pub change_threshold: Option<u8>,
    /// How far a tile may stray from its best emoji to vary flat areas (0: the exact choice;
    /// see [`crate::domain::likeness::VARIETY_UNIT`]). Used by the ONNX classifier.
    pub variety: f32,
    /// The grid per tile the likeness compares (`--detail`, 2..=[`MAX_DETAIL`]); above 2 only
    /// with the nearest classifier (the ONNX model compares the 2x2 grid).
    pub detail: u32,
    /// Live: the time one frame may take (tile + classify + render). When the changed tiles
    /// would not fit, the ones that changed most are classified and the rest are carried to
    /// the next frame (they stay "changed" until classified). None: every changed tile, every
    /// frame (offline rendering, tests).
    pub frame_budget: Option<std::time::Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tile: 10,
            classifier: ClassifierKind::Onnx,
            background: Background::Tile,
            emoji_set: "default".into(),
            dimmed: true,
            adapter: AdapterPreference::Auto,
            onnx: OnnxOptions::default(),
            change_threshold: None,
            variety: DEFAULT_VARIETY,
            detail: DEFAULT_DETAIL,
            frame_budget: None,
        }
    }
}

impl Settings {
    /// Checks every setting, in the order tile, variety, detail, emoji set, threads, and resolves the
    /// emoji set against `atlas`. Touches no GPU.
    pub fn validate(self, atlas: Arc<Atlas>) -> Result<Config> {
        validate_tile(self.tile)?;
        validate_variety(self.variety)?;
        validate_detail(self.detail, self.classifier)?;
        let allowed = atlas.allowed_dimmed(&self.emoji_set, self.dimmed)?;
        validate_threads(self.onnx.threads)?;
        Ok(Config {
            settings: self,
            atlas,
            allowed,
        })
    }
}

/// `--threads` must be 1..=[`MAX_THREADS`]: a thread per request, 100000 of them, is not a
/// speed-up but a machine brought to a halt.
pub fn validate_threads(threads: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(Error::usage(format!("--threads must be 1 to {MAX_THREADS}")));
    }
    Ok(())
}

/// `--variety` must be a finite number in 0..=[`MAX_VARIETY`].
fn validate_variety(variety: f32) -> Result<()> {
    if !(0.0..=MAX_VARIETY).contains(&variety) {
        return Err(Error::usage(format!(
            "invalid --variety {variety}: expected a number from 0 (exact choice) to {MAX_VARIETY}"
        )));
    }
    Ok(())
}

/// `--detail` must be 2..=[`MAX_DETAIL`], and 2 with the ONNX classifier.
fn validate_detail(detail: u32, classifier: ClassifierKind) -> Result<()> {
    if !(DEFAULT_DETAIL..=MAX_DETAIL).contains(&detail) {
        return Err(Error::usage(format!(
            "invalid --detail {detail}: expected {DEFAULT_DETAIL} to {MAX_DETAIL} (the grid of mean colours per tile)"
        )));
    }
    if detail != DEFAULT_DETAIL && classifier == ClassifierKind::Onnx {
        return Err(Error::usage(format!(
            "--detail {detail} needs --classifier nearest (the onnx model compares the 2x2 grid)"
        )));
    }
    Ok(())
}

/// [`Settings`] that passed [`Settings::validate`], with the atlas they were checked against
/// and the emoji set resolved to a mask over it. Its setters keep it valid.
#[derive(Clone, Debug)]
pub struct Config {
    settings: Settings,
    atlas: Arc<Atlas>,
    allowed: Vec<bool>,
}

impl Config {
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn atlas(&self) -> &Arc<Atlas> {
        &self.atlas
    }

    /// The emoji set as a mask over the atlas (`true`: may be chosen).
    pub fn allowed(&self) -> &[bool] {
        &self.allowed
    }

    pub fn set_tile(&mut self, tile: u32) -> Result<()> {
        validate_tile(tile)?;
        self.settings.tile = tile;
        Ok(())
    }

    pub fn set_variety(&mut self, variety: f32) -> Result<()> {
        validate_variety(variety)?;
        self.settings.variety = variety;
        Ok(())
    }

    pub fn set_emoji_set(&mut self, name: &str) -> Result<()> {
        self.allowed = self.atlas.allowed_dimmed(name, self.settings.dimmed)?;
        self.settings.emoji_set = name.to_string();
        Ok(())
    }

    pub fn set_background(&mut self, background: Background) {
        self.settings.background = background;
    }

    /// Live: see [`Settings::frame_budget`].
    pub fn set_frame_budget(&mut self, budget: Option<std::time::Duration>) {
        self.settings.frame_budget = budget;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atlas() -> Arc<Atlas> {
        Arc::new(Atlas::embedded().expect("the embedded atlas loads"))
    }

    fn usage_message(settings: Settings) -> String {
        match settings.validate(atlas()) {
            Err(Error::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn each_bad_setting_is_one_usage_error() {
        let bad = |f: fn(&mut Settings)| {
            let mut s = Settings::default();
            f(&mut s);
            usage_message(s)
        };
        assert!(bad(|s| s.tile = 3).starts_with("tile size 3 is out of range"));
        assert!(bad(|s| s.variety = f32::NAN).starts_with("invalid --variety NaN"));
        assert!(bad(|s| s.emoji_set = "plaid".into()).starts_with("unknown emoji set 'plaid'"));
        assert_eq!(bad(|s| s.onnx.threads = 0), "--threads must be 1 to 256");
        assert_eq!(bad(|s| s.onnx.threads = 100_000), "--threads must be 1 to 256");
        assert!(bad(|s| s.detail = 5).starts_with("invalid --detail 5"));
        assert!(bad(|s| s.detail = 3).starts_with("--detail 3 needs --classifier nearest"));
    }

    #[test]
    fn a_valid_config_keeps_its_setters_checked() {
        let mut config = Settings::default().validate(atlas()).expect("defaults are valid");
        assert_eq!(config.allowed().len(), config.atlas().count() as usize);
        assert!(config.set_tile(65).is_err());
        assert_eq!(config.settings().tile, 10);
        config.set_tile(16).expect("16 px tiles");
        assert!(config.set_emoji_set("plaid").is_err());
        assert_eq!(config.settings().emoji_set, "default");
        assert!(config.set_variety(-1.0).is_err());
        config.set_variety(0.0).expect("no variety");
        assert_eq!((config.settings().tile, config.settings().variety), (16, 0.0));
    }
}
