//! The product's classifier: the EmojiNet graph run by ONNX Runtime, one `Session::run` per
//! frame over every tile's 2x2 quadrant means ([`Input::Quads`]). The graph scores the emoji as
//! drawn over each tile's background and, among the emoji within the variety tolerance of the
//! best, picks the one whose rank among them is given by a pattern of each tile's grid position
//! (models/README.md).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionOutputs};
use ort::value::{DynValue, TensorRef};

use super::features::{self, TileFeatures};
use super::{Classifier, Input, PATCH, PATCH_BYTES, QUADS_BYTES, VARIETY_UNIT};
use crate::atlas::Atlas;
use crate::domain::likeness::{BlackFloor, FrameMeasures};
use crate::domain::Background;
use crate::error::{ClassifyError, Error, Result};

/// The committed model, embedded so the binary works from any directory: the graph run on every
/// frame, which reads the outputs of [`TABLES`] as inputs.
pub static MODEL: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/emojinet.onnx"));

/// The committed model's tables graph (`models/emojinet-tables.onnx`): what depends only on the
/// emoji set and the variety (the set's member tables and biases, the tolerance's thresholds), run
/// once per setting instead of inside every frame's run (models/README.md).
pub static TABLES: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/emojinet-tables.onnx"));

/// The metadata key naming a model's tables graph (a file beside it), written by
/// `training/graph.py`'s `split_tables`; a model without it is one graph.
pub const TABLES_KEY: &str = "tables";

/// Score added to disallowed emoji before the in-graph argmax.
const MASKED: f32 = -1e9;

/// ONNX Runtime allows one environment per process; sessions share it.
static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, Arc<ClassifyError>>> = OnceLock::new();

/// Where the ONNX Runtime library is looked for, in order: `ORT_DYLIB_PATH`, next to the
/// executable, then the copy provisioned at build time.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        out.push(PathBuf::from(p));
        return out;
    }
    let version = env!("EMOJICAM_ORT_VERSION");
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for name in [
            format!("libonnxruntime.so.{version}"),
            "libonnxruntime.so".into(),
            format!("libonnxruntime.{version}.dylib"),
            "onnxruntime.dll".into(),
        ] {
            out.push(dir.join(name));
        }
    }
    let baked = env!("EMOJICAM_ORT_DYLIB");
    if !baked.is_empty() {
        out.push(PathBuf::from(baked));
    }
    out
}

/// Finds the ONNX Runtime library or explains how to provide one.
pub fn find_library() -> Result<PathBuf> {
    Ok(locate_library()?)
}

fn locate_library() -> std::result::Result<PathBuf, ClassifyError> {
    let candidates = library_candidates();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(ClassifyError::LibraryPath(p))
        };
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or(ClassifyError::LibraryMissing {
            version: env!("EMOJICAM_ORT_VERSION"),
        })
}

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub fn environment() -> Result<&'static ort::environment::Environment> {
    let env = ENVIRONMENT.get_or_init(|| {
        let lib = locate_library().map_err(Arc::new)?;
        let builder = match ort::init_from(&lib) {
            Ok(b) => b,
            Err(source) => return Err(Arc::new(ClassifyError::LoadLibrary { path: lib, source })),
        };
        builder
            .with_name("emojicam")
            .with_telemetry(false)
            .build()
            .map_err(|source| Arc::new(ClassifyError::Start { path: lib, source }))
    });
    env.as_ref()
        .map_err(|e| ClassifyError::Environment(Arc::clone(e)).into())
}

/// Options that matter for speed on small CPUs (measured: spinning intra-op threads steal the
/// cores the software GPU needs).
#[derive(Clone, Debug)]
pub struct OnnxOptions {
    /// Intra-op threads (0: ONNX Runtime's own default). The CLI's `--threads` is checked to be
    /// at least 1 once, by `Settings::validate` (src/config.rs).
    pub threads: usize,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self {
            threads: cores.clamp(1, 4),
        }
    }
}

/// ONNX Runtime's memory pattern (the allocations planned per input shape, the plan kept for
/// that shape): off, as each frame's changed-tile count is a new shape, planned again (measured:
/// classify ~7% faster without, the live classify stage 0.3-2.3 ms shorter on a quiet machine;
/// docs/PERFORMANCE.md). `EMOJICAM_ORT_MEMPATTERN=1` turns it on (for measuring).
fn memory_pattern() -> bool {
    std::env::var("EMOJICAM_ORT_MEMPATTERN").is_ok_and(|v| v.trim() == "1")
}

/// How long an intra-op worker spins for the next operator before it sleeps, in microseconds
/// (0, the default: it never spins). ONNX Runtime's own default spin (tens of milliseconds)
/// keeps a worker busy between frames and steals the cores the software GPU needs. A spin of
/// 100 us bridges only the gaps between one run's operators, each of which otherwise wakes the
/// sleeping worker again: the classify stage back to back about 13% faster at 1280x720 (7.1 ->
/// 6.2 ms) and 4-30% at 640x360 (noisy), but offline renders 3-7% slower on 2 cores, where the
/// spinning worker takes time from decoding, drawing and encoding (docs/PERFORMANCE.md).
/// `EMOJICAM_ORT_SPIN_US` sets one (for measuring; a value that is not a number is 0).
fn spin_us() -> u32 {
    const SPIN_US: u32 = 0;
    std::env::var("EMOJICAM_ORT_SPIN_US")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(SPIN_US)
}

/// A session of `model` with the product's options: [`OnnxOptions`]' intra-op threads, spinning
/// for [`spin_us`] after an operator (none by default), the memory pattern as [`memory_pattern`].
fn session(model: &[u8], options: &OnnxOptions) -> Result<Session> {
    let env = environment()?;
    let err = |source: ort::Error| ClassifyError::LoadModel { source };
    let spin = spin_us();
    let mut builder = Session::builder(env)
        .map_err(err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| err(e.into()))?
        .with_intra_threads(options.threads)
        .map_err(|e| err(e.into()))?
        .with_intra_op_spinning(spin > 0)
        .map_err(|e| err(e.into()))?
        .with_inter_op_spinning(false)
        .map_err(|e| err(e.into()))?;
    if spin > 0 {
        builder = builder
            .with_config_entry("session.intra_op.spin_duration_us", spin.to_string())
            .map_err(|e| err(e.into()))?;
    }
    Ok(builder
        .with_memory_pattern(memory_pattern())
        .map_err(|e| err(e.into()))?
        .commit_from_memory(model)
        .map_err(err)?)
}

/// A run's `index` output for `n` tiles, appended to `out` (each clamped to the model's
/// `classes`).
fn choices(outputs: &SessionOutputs, n: usize, classes: usize, out: &mut Vec<u32>) -> Result<()> {
    let (_, index) = outputs["index"]
        .try_extract_tensor::<i64>()
        .map_err(|source| ClassifyError::Run { source })?;
    if index.len() != n {
        return Err(ClassifyError::Choices {
            got: index.len(),
            tiles: n,
        }
        .into());
    }
    let top = (classes as i64 - 1).max(0);
    out.extend(index.iter().map(|&i| i.clamp(0, top) as u32));
    Ok(())
}

/// The length of the model's `mask` input: its classes.
fn mask_classes(session: &Session) -> Result<usize> {
    let mask = session
        .inputs()
        .iter()
        .find(|i| i.name() == "mask")
        .ok_or_else(|| Error::Assets("the model has no 'mask' input".into()))?;
    let shape = mask
        .dtype()
        .tensor_shape()
        .ok_or_else(|| Error::Assets("the model's 'mask' input is not a tensor".into()))?;
    match shape.iter().as_slice() {
        [c] if *c > 0 => Ok(*c as usize),
        other => Err(Error::Assets(format!(
            "the model's 'mask' input has shape {other:?}, expected [classes]"
        ))),
    }
}

/// Which of a frame's [`FrameMeasures`] a whole-frame input takes.
#[derive(Debug, Clone, Copy)]
enum Measure {
    DarkBudget,
    FrameFlat,
    FrameBlack,
}

impl Measure {
    fn of(self, m: &FrameMeasures) -> f32 {
        match self {
            Measure::DarkBudget => m.dark_budget,
            Measure::FrameFlat => m.frame_flat,
            Measure::FrameBlack => m.frame_black,
        }
    }
}

/// An input the model reads from the whole frame, not per tile.
struct FrameInput {
    name: &'static str,
    measure: Measure,
}

/// The whole-frame inputs a model may take (models before each of them do not).
const FRAME_INPUTS: [(&str, Measure); 3] = [
    ("dark_budget", Measure::DarkBudget),
    ("frame_flat", Measure::FrameFlat),
    ("frame_black", Measure::FrameBlack),
];

/// The [`BlackFloor`] of an atlas's default set without its dimmed copies: the emoji the
/// picture before issue 15 drew from, as `training/export.py` builds the model's table.
pub fn black_floor(atlas: &Atlas) -> BlackFloor {
    // an atlas without a default set: every emoji it holds
    let allowed = atlas
        .allowed("default")
        .unwrap_or_else(|_| vec![true; atlas.count() as usize]);
    let features: Vec<[f32; 16]> = (0..atlas.count())
        .filter(|&e| allowed.get(e as usize).copied().unwrap_or(false) && atlas.glyph(e) == e)
        .map(|e| atlas.feature_2x2(e))
        .collect();
    BlackFloor::new(&features)
}

/// [`black_floor`] of the embedded atlas, for a classifier made without one
/// ([`OnnxClassifier::new`]), shared by every such classifier; each keeps its own scored cells.
fn embedded_floor() -> Result<BlackFloor> {
    static FLOOR: OnceLock<std::result::Result<BlackFloor, String>> = OnceLock::new();
    FLOOR
        .get_or_init(|| {
            let atlas = Atlas::embedded().map_err(|e| e.to_string())?;
            Ok(black_floor(&atlas))
        })
        .clone()
        .map_err(|e| Error::Assets(format!("the model's frame_black input needs the embedded atlas: {e}")))
}

/// A model's tables graph and its outputs for the current emoji set and variety.
struct Tables {
    session: Session,
    /// Its outputs, each an input of the same name of the frame graph; `None` once the mask or
    /// the tolerance has changed, until the next run computes them again.
    values: Option<Vec<(String, DynValue)>>,
}

impl Tables {
    /// The tables graph from `bytes`: a graph that reads only `mask` and `tolerance` (that its
    /// outputs make every input of the model's that this build does not give it, [`feeds`]
    /// checks).
    fn load(bytes: &[u8], options: &OnnxOptions) -> Result<Self> {
        let session = session(bytes, options)?;
        if let Some(other) = session
            .inputs()
            .iter()
            .find(|i| !matches!(i.name(), "mask" | "tolerance"))
        {
            return Err(Error::Assets(format!(
                "the model's tables graph reads '{}', which this build does not give it",
                other.name()
            )));
        }
        Ok(Self { session, values: None })
    }

    /// Runs the graph on `mask` and `tolerance` unless its outputs for them are at hand.
    fn update(&mut self, mask: &[f32], tolerance: &[f32; 1]) -> Result<()> {
        if self.values.is_some() {
            return Ok(());
        }
        let err = |source: ort::Error| ClassifyError::Run { source };
        let mut inputs: Vec<(std::borrow::Cow<str>, ort::session::SessionInputValue)> = Vec::new();
        for input in self.session.inputs() {
            let value = match input.name() {
                "mask" => TensorRef::from_array_view(([mask.len()], mask)),
                _ => TensorRef::from_array_view(([1usize], &tolerance[..])),
            }
            .map_err(err)?;
            inputs.push((input.name().to_owned().into(), value.into()));
        }
        let names: Vec<String> = self.session.outputs().iter().map(|o| o.name().to_owned()).collect();
        let mut outputs = self.session.run(inputs).map_err(err)?;
        let values = names
            .into_iter()
            .filter_map(|name| outputs.remove(&name).map(|value| (name, value)))
            .collect();
        self.values = Some(values);
        Ok(())
    }
}

/// Where each of the model's inputs comes from on a run, in the order the model lists them: the
/// per-tile and per-setting inputs this build gives (`position` and `tolerance` every model takes,
/// `quads` and `background` every one that does not take the tile features, `mask` the model or
/// its tables graph), the whole-frame ones of [`FRAME_INPUTS`], the tile features of
/// [`features::NAMES`], the tables graph's outputs.
#[derive(Debug, Clone, Copy)]
enum Feed {
    Quads,
    Mask,
    Background,
    Position,
    Tolerance,
    /// A whole-frame input: the classifier's `frame_inputs[i]`.
    Frame(usize),
    /// A tile feature: [`features::NAMES`]`[i]`.
    Feature(usize),
    /// An output of the tables graph: its `values[i]`.
    Table(usize),
}

pub struct OnnxClassifier {
    session: Session,
    /// The model's tables graph, for a model split in two.
    tables: Option<Tables>,
    classes: usize,
    mask: Vec<f32>,
    background: Background,
    tolerance: [f32; 1],
    /// The whole-frame inputs this model takes.
    frame_inputs: Vec<FrameInput>,
    /// What scores `frame_black` ([`black_floor`] of the atlas's default set), for a model
    /// that takes it.
    floor: Option<BlackFloor>,
    /// The model's inputs, in its order, and where each comes from.
    feeds: Vec<(String, Feed)>,
    /// The tile features, for a model that takes them (instead of quads and backgrounds).
    features: Option<TileFeatures>,
    /// Per-run inputs, reused: each whole-frame input's value, each tile's background colour and
    /// grid position.
    frame_values: Vec<[f32; 1]>,
    /// The measures of the frame last given to `set_frame` (`None`: each batch's own).
    frame: Option<FrameMeasures>,
    backgrounds: Vec<f32>,
    positions: Vec<f32>,
    row: Vec<[u32; 2]>,
}

impl OnnxClassifier {
    /// Loads the embedded model; `classes` is the atlas's emoji count, which the model must match.
    /// The model's `frame_black` input is scored from the embedded atlas (decoded once per
    /// process); [`OnnxClassifier::for_atlas`] takes an atlas already at hand.
    pub fn new(classes: usize, options: &OnnxOptions) -> Result<Self> {
        Self::from_bytes(MODEL, Some(TABLES), classes, options)
    }

    /// Loads the embedded model for this atlas (its emoji count, and its default set for the
    /// model's `frame_black` input).
    pub fn for_atlas(atlas: &Atlas, options: &OnnxOptions) -> Result<Self> {
        Self::load(MODEL, Some(TABLES), atlas.count() as usize, options, Some(atlas))
    }

    /// A model from its bytes and, for a model split in two, its tables graph's (the file its
    /// metadata names under [`TABLES_KEY`], beside it).
    pub fn from_bytes(model: &[u8], tables: Option<&[u8]>, classes: usize, options: &OnnxOptions) -> Result<Self> {
        Self::load(model, tables, classes, options, None)
    }

    fn load(
        model: &[u8],
        tables: Option<&[u8]>,
        classes: usize,
        options: &OnnxOptions,
        atlas: Option<&Atlas>,
    ) -> Result<Self> {
        let session = session(model, options)?;
        let takes_features = takes_features(&session)?;
        let tables = match (tables_file(&session)?, tables) {
            (None, _) => None,
            (Some(_), Some(bytes)) => Some(Tables::load(bytes, options)?),
            (Some(name), None) => return Err(ClassifyError::TablesMissing { name }.into()),
        };
        let model_classes = Self::model_classes(&session, tables.as_ref().map(|t| &t.session), takes_features)?;
        if model_classes != classes {
            return Err(Error::Assets(format!(
                "the model has {model_classes} classes but the atlas has {classes} emoji: \
                 rebuild them together (training/run.sh)"
            )));
        }
        let frame_inputs: Vec<FrameInput> = FRAME_INPUTS
            .into_iter()
            .filter(|(name, _)| session.inputs().iter().any(|i| i.name() == *name))
            .map(|(name, measure)| FrameInput { name, measure })
            .collect();
        let feeds = feeds(
            &session,
            tables.as_ref().map(|t| &t.session),
            &frame_inputs,
            takes_features,
        )?;
        let floor = if frame_inputs.iter().any(|i| matches!(i.measure, Measure::FrameBlack)) {
            Some(match atlas {
                Some(atlas) => black_floor(atlas),
                None => embedded_floor()?,
            })
        } else {
            None
        };
        Ok(Self {
            session,
            tables,
            frame_inputs,
            floor,
            feeds,
            features: takes_features.then(TileFeatures::default),
            frame_values: Vec::new(),
            frame: None,
            classes,
            mask: vec![0.0; classes],
            background: Background::Color([0, 0, 0]),
            tolerance: [0.0],
            backgrounds: Vec::new(),
            positions: Vec::new(),
            row: Vec::new(),
        })
    }

    /// The model's classes (its `mask`'s, or its tables graph's), once its inputs are checked.
    fn model_classes(session: &Session, tables: Option<&Session>, takes_features: bool) -> Result<usize> {
        let tile: &[&str] = if takes_features {
            &features::NAMES
        } else {
            &["quads", "background"]
        };
        for input in ["position", "tolerance"].iter().chain(tile) {
            if !session.inputs().iter().any(|i| i.name() == *input) {
                return Err(Error::Assets(format!(
                    "the model has no '{input}' input: rebuild it with training/run.sh"
                )));
            }
        }
        match tables {
            Some(t) if !session.inputs().iter().any(|i| i.name() == "mask") => mask_classes(t),
            _ => mask_classes(session),
        }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The mask or the tolerance changed: the tables graph runs again before the next frame.
    fn tables_changed(&mut self) {
        if let Some(tables) = &mut self.tables {
            tables.values = None;
        }
    }
}

/// Whether the model of `session` takes the tile features ([`features::CONTRACT`] under
/// [`features::KEY`] in its metadata); one that names other features is refused.
fn takes_features(session: &Session) -> Result<bool> {
    let metadata = session
        .metadata()
        .map_err(|source| ClassifyError::LoadModel { source })?;
    match metadata.custom(features::KEY) {
        None => Ok(false),
        Some(c) if c == features::CONTRACT => Ok(true),
        Some(other) => Err(Error::Assets(format!(
            "the model takes tile features this build does not compute ('{other}'): rebuild it with training/run.sh"
        ))),
    }
}

/// Where each input of the model of `session` comes from ([`Feed`]): this build (the tile
/// features for a model that `takes_features`) or the `tables` graph; an input that none of them
/// gives is an error, at load rather than on the first run.
fn feeds(
    session: &Session,
    tables: Option<&Session>,
    frame_inputs: &[FrameInput],
    takes_features: bool,
) -> Result<Vec<(String, Feed)>> {
    let table = |name: &str| tables.and_then(|t| t.outputs().iter().position(|o| o.name() == name));
    session
        .inputs()
        .iter()
        .map(|input| {
            let name = input.name();
            let feed = match name {
                "quads" => Feed::Quads,
                "mask" => Feed::Mask,
                "background" => Feed::Background,
                "position" => Feed::Position,
                "tolerance" => Feed::Tolerance,
                _ => {
                    if let Some(i) = frame_inputs.iter().position(|f| f.name == name) {
                        Feed::Frame(i)
                    } else if let Some(i) = features::NAMES.iter().position(|f| takes_features && *f == name) {
                        Feed::Feature(i)
                    } else if let Some(i) = table(name) {
                        Feed::Table(i)
                    } else {
                        return Err(Error::Assets(format!(
                            "the model's input '{name}' is made by neither this build nor its tables graph"
                        )));
                    }
                }
            };
            Ok((name.to_owned(), feed))
        })
        .collect()
}

/// The file name of the tables graph the model of `session` names in its metadata (beside the
/// model's own file), or `None` for a model that is one graph.
fn tables_file(session: &Session) -> Result<Option<String>> {
    let metadata = session
        .metadata()
        .map_err(|source| ClassifyError::LoadModel { source })?;
    Ok(metadata.custom(TABLES_KEY))
}

impl OnnxClassifier {
    /// A run's inputs other than the quads themselves, for the whole tiles of `quads`: each
    /// tile's background, position and (for a model that takes them) features, the whole-frame
    /// measures, the tables graph's outputs when the setting changed.
    fn prepare(&mut self, quads: &[u8], positions: &[[u32; 2]], backdrops: &[[u8; 3]]) -> Result<()> {
        let (tiles, _) = quads.as_chunks::<QUADS_BYTES>();
        self.backgrounds.clear();
        if self.background == Background::Tile && backdrops.len() == tiles.len() {
            self.backgrounds.extend(backdrops.iter().flat_map(|b| b.map(f32::from)));
        } else {
            for q in tiles {
                self.backgrounds.extend(self.background.behind(q).map(f32::from));
            }
        }
        self.positions.clear();
        self.positions
            .extend(positions.iter().flat_map(|&[c, r]| [c as f32, r as f32]));
        // without a frame set, the batch's own measures (for a model that takes any)
        let measures = self
            .frame
            .or_else(|| (!self.frame_inputs.is_empty()).then(|| FrameMeasures::of(tiles, self.floor.as_mut())));
        self.frame_values.clear();
        self.frame_values.extend(
            self.frame_inputs
                .iter()
                .map(|i| [measures.map_or(0.0, |m| i.measure.of(&m))]),
        );
        if let Some(tables) = &mut self.tables {
            tables.update(&self.mask, &self.tolerance)?;
        }
        if let Some(f) = &mut self.features {
            f.compute(tiles, &self.backgrounds);
        }
        Ok(())
    }
}

impl Classifier for OnnxClassifier {
    fn name(&self) -> &'static str {
        "onnx"
    }

    fn input(&self) -> Input {
        Input::Quads
    }

    fn set_allowed(&mut self, allowed: &[bool]) -> Result<()> {
        if allowed.len() != self.classes {
            return Err(ClassifyError::MaskLength {
                got: allowed.len(),
                classes: self.classes,
            }
            .into());
        }
        if !allowed.iter().any(|&a| a) {
            return Err(Error::usage("the emoji set is empty"));
        }
        for (m, &a) in self.mask.iter_mut().zip(allowed) {
            *m = if a { 0.0 } else { MASKED };
        }
        self.tables_changed();
        Ok(())
    }

    fn set_background(&mut self, background: Background) {
        self.background = background;
    }

    fn set_variety(&mut self, variety: f32) {
        let tolerance = [variety.max(0.0) * VARIETY_UNIT];
        if tolerance != self.tolerance {
            self.tolerance = tolerance;
            self.tables_changed();
        }
    }

    fn varies(&self) -> bool {
        self.tolerance[0] > 0.0
    }

    fn set_frame(&mut self, means: &[[u8; QUADS_BYTES]]) {
        self.frame = Some(FrameMeasures::of(means, self.floor.as_mut()));
    }

    fn frame_flat(&self) -> Option<f32> {
        self.frame.map(|m| m.frame_flat)
    }

    fn classify(&mut self, quads: &[u8], out: &mut Vec<u32>) -> Result<()> {
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        row.extend((0..(quads.len() / QUADS_BYTES) as u32).map(|c| [c, 0]));
        let result = self.classify_at(quads, &row, out);
        self.row = row;
        result
    }

    fn classify_at(&mut self, quads: &[u8], positions: &[[u32; 2]], out: &mut Vec<u32>) -> Result<()> {
        self.classify_over(quads, positions, &[], out)
    }

    fn classify_over(
        &mut self,
        quads: &[u8],
        positions: &[[u32; 2]],
        backdrops: &[[u8; 3]],
        out: &mut Vec<u32>,
    ) -> Result<()> {
        out.clear();
        if !quads.len().is_multiple_of(QUADS_BYTES) {
            return Err(ClassifyError::PartialPatch(quads.len()).into());
        }
        let n = quads.len() / QUADS_BYTES;
        if positions.len() != n {
            return Err(ClassifyError::Positions {
                positions: positions.len(),
                patches: n,
            }
            .into());
        }
        if n == 0 {
            return Ok(());
        }
        self.prepare(quads, positions, backdrops)?;
        let err = |source: ort::Error| ClassifyError::Run { source };
        let mut inputs: Vec<(std::borrow::Cow<str>, ort::session::SessionInputValue)> =
            Vec::with_capacity(self.feeds.len());
        for (name, feed) in &self.feeds {
            let value: ort::session::SessionInputValue = match *feed {
                Feed::Quads => TensorRef::from_array_view(([n, QUADS_BYTES], quads))
                    .map_err(err)?
                    .into(),
                Feed::Mask => TensorRef::from_array_view(([self.classes], self.mask.as_slice()))
                    .map_err(err)?
                    .into(),
                Feed::Background => TensorRef::from_array_view(([n, 3], self.backgrounds.as_slice()))
                    .map_err(err)?
                    .into(),
                Feed::Position => TensorRef::from_array_view(([n, 2], self.positions.as_slice()))
                    .map_err(err)?
                    .into(),
                Feed::Tolerance => TensorRef::from_array_view(([1usize], &self.tolerance[..]))
                    .map_err(err)?
                    .into(),
                Feed::Frame(i) => {
                    let value = self
                        .frame_values
                        .get(i)
                        .ok_or_else(|| ClassifyError::FeedMissing { input: name.clone() })?;
                    TensorRef::from_array_view(([1usize], &value[..])).map_err(err)?.into()
                }
                Feed::Feature(i) => {
                    let f = self
                        .features
                        .as_ref()
                        .ok_or_else(|| ClassifyError::FeedMissing { input: name.clone() })?;
                    f.input(i).map_err(err)?
                }
                Feed::Table(i) => {
                    let (_, value) = self
                        .tables
                        .as_ref()
                        .and_then(|t| t.values.as_ref())
                        .and_then(|v| v.get(i))
                        .ok_or_else(|| ClassifyError::FeedMissing { input: name.clone() })?;
                    value.into()
                }
            };
            inputs.push((name.as_str().into(), value));
        }
        let outputs = self.session.run(inputs).map_err(err)?;
        choices(&outputs, n, self.classes, out)
    }
}

/// A model from before issue 15, the reference of its speed line (`models/before-issue-15.onnx`,
/// models/README.md): each tile's 10x10 patch in (`patches`, uint8 `[N, 10, 10, 3]`) and a mask
/// over its own classes (the atlas's first emoji, without the dimmed copies after them); emoji as
/// drawn over black, no variety. Only the bench runs it (`bench --compare-model`), with the
/// product's session options.
pub struct PatchModel {
    session: Session,
    mask: Vec<f32>,
}

impl PatchModel {
    /// The model, or `None` when it takes no `patches` (one with the current inputs is an
    /// [`OnnxClassifier`]).
    pub fn from_bytes(model: &[u8], options: &OnnxOptions) -> Result<Option<Self>> {
        let session = session(model, options)?;
        if !session.inputs().iter().any(|i| i.name() == "patches") {
            return Ok(None);
        }
        let classes = mask_classes(&session)?;
        Ok(Some(Self {
            session,
            mask: vec![0.0; classes],
        }))
    }

    /// The model's classes (the length of its `mask`).
    pub fn classes(&self) -> usize {
        self.mask.len()
    }

    /// The allowed emoji among the model's classes, the first entries of `allowed` (an atlas's).
    pub fn set_allowed(&mut self, allowed: &[bool]) {
        for (i, m) in self.mask.iter_mut().enumerate() {
            *m = if allowed.get(i).copied().unwrap_or(false) {
                0.0
            } else {
                MASKED
            };
        }
    }

    /// One run over `patches` (whole 10x10 RGB patches, [`PATCH_BYTES`] each): its choices.
    pub fn run(&mut self, patches: &[u8], out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        if !patches.len().is_multiple_of(PATCH_BYTES) {
            return Err(ClassifyError::PartialPatch(patches.len()).into());
        }
        let n = patches.len() / PATCH_BYTES;
        if n == 0 {
            return Ok(());
        }
        let err = |source: ort::Error| ClassifyError::Run { source };
        let input = TensorRef::from_array_view(([n, PATCH, PATCH, 3], patches)).map_err(err)?;
        let mask = TensorRef::from_array_view(([self.mask.len()], self.mask.as_slice())).map_err(err)?;
        let outputs = self
            .session
            .run(ort::inputs!["patches" => input, "mask" => mask])
            .map_err(err)?;
        choices(&outputs, n, self.mask.len(), out)
    }
}

/// The model of before issue 15 as the classifier of a pipeline (the bench's "today's classify
/// stage": tiled on the GPU with its patches read back, then this model's run, as that release's
/// pipeline did): emoji as drawn over black, no variety, whatever the settings say.
impl Classifier for PatchModel {
    fn name(&self) -> &'static str {
        "before issue 15"
    }

    fn input(&self) -> Input {
        Input::Patches
    }

    /// The allowed emoji among the model's classes (the first entries of the atlas's `allowed`).
    fn set_allowed(&mut self, allowed: &[bool]) -> Result<()> {
        PatchModel::set_allowed(self, allowed);
        Ok(())
    }

    fn classify(&mut self, patches: &[u8], out: &mut Vec<u32>) -> Result<()> {
        self.run(patches, out)
    }
}
