//! `emojicam bench`: frames per second and a per-stage breakdown, measured on real video frames
//! through the same pipeline the product uses, plus the original one-call-per-tile method.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::bench_input::{load_frames, resize};
use super::stats::{median, percentile};
use crate::cli::{parse_size, BenchArgs};
use emojicam::classify::nearest::error;
use emojicam::classify::onnx::{OnnxClassifier, OnnxOptions, PatchModel};
use emojicam::classify::{Classifier, QUADS_BYTES};
use emojicam::config::validate_threads;
use emojicam::domain::{ClassifierKind, MosaicFrame, Stamp};
use emojicam::frame::Frame;
use emojicam::gpu::renderer::RenderPath;
use emojicam::gpu::AdapterPreference;
use emojicam::pipeline::{Pipeline, Settings, DEFAULT_CHANGE_THRESHOLD, KEEP_MARGIN};
use emojicam::sink;

#[derive(Default)]
struct Acc {
    upload: Vec<f64>,
    tile: Vec<f64>,
    classify: Vec<f64>,
    render: Vec<f64>,
    encode: Vec<f64>,
    total: Vec<f64>,
    classified: usize,
    tiles: usize,
}

/// Refuses options that would measure nothing, or not what they name, instead of a silent run:
/// a live run's length that is not a number of seconds, `--live-only` with the live runs
/// skipped, `--input` where only the bundled clips are rendered.
fn check_args(args: &BenchArgs) -> Result<(), emojicam::Error> {
    if args.frames < 2 {
        // The flicker report compares consecutive frames.
        return Err(emojicam::Error::usage(format!(
            "invalid --frames {}: the bench measures 2 or more frames",
            args.frames
        )));
    }
    if !args.live_seconds.is_finite() || args.live_seconds < 0.0 {
        return Err(emojicam::Error::usage(format!(
            "invalid --live-seconds {}: expected a number of seconds (0 skips the live runs)",
            args.live_seconds
        )));
    }
    if args.live_only && args.live_seconds == 0.0 && args.render_against.is_none() {
        return Err(emojicam::Error::usage(
            "--live-only with --live-seconds 0 measures nothing: give the live runs some seconds",
        ));
    }
    if let Some(threads) = args.threads {
        validate_threads(threads)?;
    }
    if args.render_only && args.input.is_some() {
        return Err(emojicam::Error::usage(
            "--render-only renders the demo clip and the handheld footage, not --input: leave out one of them",
        ));
    }
    Ok(())
}

/// The settings every measurement starts from: the defaults with the bench's `--threads`.
fn defaults(args: &BenchArgs) -> Settings {
    let mut settings = Settings::default();
    if let Some(threads) = args.threads {
        settings.onnx.threads = threads;
    }
    settings
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn run(args: &BenchArgs) -> Result<()> {
    check_args(args)?;
    let sizes: Vec<(u32, u32)> = args.sizes.iter().map(|s| parse_size(s)).collect::<Result<_, _>>()?;
    let classifiers: Vec<ClassifierKind> = args.classifiers.iter().map(|&c| c.into()).collect();
    let onnx = classifiers.contains(&ClassifierKind::Onnx);
    // A model that cannot be compared fails now, not after minutes of the other reports.
    let other_model = args.compare_model.as_deref().map(other_model).transpose()?;
    if args.live_only || args.render_only {
        if args.live_only && args.live_seconds > 0.0 {
            super::live_bench::live_runs(args, &sizes)?;
        }
        if args.render_only || args.render_against.is_some() {
            super::render_bench::render_runs(args)?;
        }
        return Ok(());
    }
    let source_frames = load_frames(args.input.as_deref(), args.frames as usize)?;
    let adapter = AdapterPreference::parse(&args.adapter);
    emojicam::outln!(
        "emojicam bench: {} frames per row from {}, tile {}, {} CPU cores, ONNX Runtime threads {}",
        source_frames.len(),
        args.input
            .as_ref()
            .map_or("the demo clip (Big Buck Bunny)".to_string(), |p| p
                .display()
                .to_string()),
        args.tile,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        defaults(args).onnx.threads
    );
    let (mut first, batched_720) = stage_tables(args, &sizes, &classifiers, &source_frames, &adapter)?;
    if let Some(p) = first.as_mut() {
        render_paths(p, &sizes, &source_frames[0])?;
    }
    if let (Some(p), true) = (&first, onnx) {
        pipelining_table(p, args, &sizes, &source_frames, &adapter)?;
    }
    if args.live_seconds > 0.0 && onnx {
        super::live_bench::live_runs(args, &sizes)?;
    }
    if args.render_against.is_some() {
        super::render_bench::render_runs(args)?;
    }
    if onnx {
        flicker_report(&source_frames, args.tile, &adapter, &defaults(args))?;
        if let Some(p) = &first {
            let frame = resize(&source_frames[0], 1280, 720)?;
            variety_report(p, &frame, args.tile)?;
            detail_report(p, &frame, args.tile)?;
            match &other_model {
                Some(Other::Current(model, bytes, tables)) => {
                    compare_model(p, &frame, args.tile, model, bytes, tables.as_deref())?
                }
                Some(Other::Reference(model, bytes)) => {
                    let frames = sizes
                        .iter()
                        .map(|&(w, h)| resize(&source_frames[0], w, h))
                        .collect::<Result<Vec<_>>>()?;
                    compare_reference(p, &frames, args.tile, model, bytes)?;
                }
                None => {}
            }
        }
    }
    if !args.no_baseline && onnx {
        let frame = resize(&source_frames[0], 1280, 720)?;
        let pipeline = match first {
            Some(p) => p,
            None => Pipeline::new(defaults(args))?,
        };
        baseline(pipeline, &frame, args.tile, batched_720)?;
    }
    Ok(())
}

/// The per-stage table: every size, classifier, and all vs changed tiles. Returns the first
/// pipeline (its GPU and atlas are shared by the later reports) and the 1280x720 batched
/// classify time.
fn stage_tables(
    args: &BenchArgs,
    sizes: &[(u32, u32)],
    classifiers: &[ClassifierKind],
    source_frames: &[Frame],
    adapter: &AdapterPreference,
) -> Result<(Option<Pipeline>, Option<f64>)> {
    let mut first: Option<Pipeline> = None;
    let mut rows = Vec::new();
    let mut batched_720: Option<f64> = None;
    for &(w, h) in sizes {
        let frames: Vec<Frame> = source_frames.iter().map(|f| resize(f, w, h)).collect::<Result<_>>()?;
        for &kind in classifiers {
            // The exhaustive search is a quality reference: a few frames tell its speed.
            let frames = if kind == ClassifierKind::Nearest {
                &frames[..frames.len().min(3)]
            } else {
                &frames[..]
            };
            for changed_only in [false, true] {
                let settings = Settings {
                    tile: args.tile,
                    classifier: kind,
                    adapter: adapter.clone(),
                    change_threshold: changed_only.then_some(DEFAULT_CHANGE_THRESHOLD),
                    ..defaults(args)
                };
                let mut pipeline = match &first {
                    Some(p) => Pipeline::with_parts(p.gpu().clone(), p.atlas().clone(), settings)?,
                    None => Pipeline::new(settings)?,
                };
                if first.is_none() {
                    emojicam::outln!(
                        "adapter: {} ({:?})",
                        pipeline.gpu().adapter_info.name,
                        pipeline.gpu().adapter_info.backend
                    );
                }
                let acc = measure(&mut pipeline, frames)?;
                if kind == ClassifierKind::Onnx && !changed_only && (w, h) == (1280, 720) {
                    batched_720 = Some(median(&acc.classify));
                }
                rows.push(((w, h), kind, changed_only, acc));
                if first.is_none() {
                    first = Some(pipeline);
                }
            }
        }
    }
    print_stage_rows(&rows);
    Ok((first, batched_720))
}

type StageRow = ((u32, u32), ClassifierKind, bool, Acc);

fn print_stage_rows(rows: &[StageRow]) {
    emojicam::outln!();
    emojicam::outln!("| size | classifier | tiles classified | fps (end to end) | latency median / p99 ms | upload ms | tile compute + readback ms | classify ms | render + output readback ms | encode ms |");
    emojicam::outln!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for ((w, h), kind, changed_only, acc) in rows {
        let fps = 1e3 / median(&acc.total).max(1e-9);
        emojicam::outln!(
            "| {w}x{h} | {} | {} ({:.0}%) | {fps:.1} | {:.1} / {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            kind.name(),
            if *changed_only { "changed only" } else { "all" },
            100.0 * acc.classified as f64 / acc.tiles.max(1) as f64,
            median(&acc.total),
            percentile(&acc.total, 0.99),
            median(&acc.upload),
            median(&acc.tile),
            median(&acc.classify),
            median(&acc.render),
            median(&acc.encode),
        );
    }
    emojicam::outln!("(fps = 1000 / median of tile+classify+render per frame, the stages back to back; encode is the MP4 recorder's own thread)");
}

/// Back to back against pipelined (tile N+1 while classifying N), alternating.
fn pipelining_table(
    p: &Pipeline,
    args: &BenchArgs,
    sizes: &[(u32, u32)],
    source_frames: &[Frame],
    adapter: &AdapterPreference,
) -> Result<()> {
    emojicam::outln!();
    emojicam::outln!("| size (onnx, changed only) | frames/s, stages back to back | frames/s, pipelined (tile N+1 while classifying N) |");
    emojicam::outln!("| --- | --- | --- |");
    for &(w, h) in sizes {
        let frames: Vec<Frame> = source_frames.iter().map(|f| resize(f, w, h)).collect::<Result<_>>()?;
        let settings = Settings {
            tile: args.tile,
            adapter: adapter.clone(),
            change_threshold: Some(DEFAULT_CHANGE_THRESHOLD),
            ..defaults(args)
        };
        let mut pipeline = Pipeline::with_parts(p.gpu().clone(), p.atlas().clone(), settings)?;
        pipeline.process(&frames[0], None)?;
        // Alternate the two ways so that anything else the machine does weighs on both.
        let (mut back_to_back, mut pipelined) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            back_to_back.push(throughput(&mut pipeline, &frames, false)?);
            pipelined.push(throughput(&mut pipeline, &frames, true)?);
        }
        let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
        emojicam::outln!("| {w}x{h} | {:.1} | {:.1} |", best(&back_to_back), best(&pipelined));
    }
    Ok(())
}

fn measure(pipeline: &mut Pipeline, frames: &[Frame]) -> Result<Acc> {
    let mut acc = Acc::default();
    let dir = super::bench_input::bench_dir()?;
    let first = &frames[0];
    let info = emojicam::StreamInfo {
        kind: emojicam::StreamKind::Video,
        width: first.width,
        height: first.height,
        rate: Some(emojicam::Rate::new(30, 1)),
        frames: Some(frames.len() as u64),
        description: "bench".into(),
    };
    let empty: std::sync::Arc<[String]> = vec![String::new(); pipeline.atlas().count() as usize].into();
    let mut sink = sink::create(&dir.join("bench.mp4"), &info, empty.clone(), empty)?;
    // Warm up (first-use shader compilation, allocations), then measure.
    pipeline.process(first, None)?;
    for (i, frame) in frames.iter().enumerate() {
        let mosaic = pipeline.classify(frame, Stamp::new(i as u64, None))?;
        let image = pipeline.render(&mosaic, None)?;
        let t = pipeline.times();
        let t0 = Instant::now();
        sink.write(&mosaic, Some(&image))?;
        acc.encode.push(ms(t0.elapsed()));
        acc.upload.push(ms(t.upload));
        acc.tile.push(ms(t.tile - t.upload));
        acc.classify.push(ms(t.classify));
        acc.render.push(ms(t.render));
        acc.total.push(ms(t.total));
        acc.classified += t.classified;
        acc.tiles += t.tiles;
    }
    drop(sink);
    Ok(acc)
}

/// Frames per second over `frames`, tiled, classified and rendered (read back, as for a
/// recording), one after the other or pipelined.
fn throughput(pipeline: &mut Pipeline, frames: &[Frame], pipelined: bool) -> Result<f64> {
    let t0 = Instant::now();
    for (seq, f) in (0u64..).zip(frames) {
        let stamp = Stamp::new(seq, None);
        if pipelined {
            if let Some(mosaic) = pipeline.push(f, stamp)? {
                pipeline.render(&mosaic, None)?;
            }
        } else {
            let mosaic = pipeline.classify(f, stamp)?;
            pipeline.render(&mosaic, None)?;
        }
    }
    if let Some(mosaic) = pipeline.flush()? {
        pipeline.render(&mosaic, None)?;
    }
    Ok(frames.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9))
}

/// The two render paths on the same classified frame at each size, interleaved so that
/// anything else the machine does weighs on both alike.
fn render_paths(pipeline: &mut Pipeline, sizes: &[(u32, u32)], source: &Frame) -> Result<()> {
    let before = pipeline.renderer().path();
    let paths = [RenderPath::Quads, RenderPath::Compute];
    const ROUNDS: usize = 12;
    emojicam::outln!();
    emojicam::outln!(
        "| render + output readback (median of {}; this adapter uses {}) | quads ms | compute ms | quads / compute |",
        ROUNDS - 1,
        before.name()
    );
    emojicam::outln!("| --- | --- | --- | --- |");
    for &(w, h) in sizes {
        let frame = resize(source, w, h)?;
        let mosaic = pipeline.classify(&frame, Stamp::default())?;
        let mut times: [Vec<f64>; 2] = Default::default();
        for rep in 0..ROUNDS {
            for (i, &path) in paths.iter().enumerate() {
                pipeline.renderer().set_path(path);
                pipeline.render(&mosaic, None)?;
                if rep > 0 {
                    // The first round builds each path's resources.
                    times[i].push(ms(pipeline.times().render));
                }
            }
        }
        let [quads, compute] = [median(&times[0]), median(&times[1])];
        emojicam::outln!(
            "| {w}x{h} | {quads:.1} | {compute:.1} | {:.2}x |",
            quads / compute.max(1e-9)
        );
    }
    pipeline.renderer().set_path(before);
    Ok(())
}

/// The original experiment's method: one model call per tile.
fn baseline(mut pipeline: Pipeline, frame: &Frame, tile: u32, batched: Option<f64>) -> Result<()> {
    pipeline.classify(frame, Stamp::default())?;
    // what the ONNX classifier reads per tile: the quadrant means
    let quads = pipeline.tiles().means_bytes().to_vec();
    let n = quads.len() / QUADS_BYTES;
    let mut one = OnnxClassifier::new(pipeline.atlas().count() as usize, &OnnxOptions { threads: 1 })?;
    let mut batch = OnnxClassifier::new(pipeline.atlas().count() as usize, &pipeline.settings().onnx)?;
    // each call's tile is judged as part of the frame, as the pipeline's batches are
    one.set_frame(&pipeline.tiles().means);
    batch.set_frame(&pipeline.tiles().means);
    let mut out = Vec::new();
    let t0 = Instant::now();
    for q in quads.chunks_exact(QUADS_BYTES) {
        one.classify(q, &mut out)?;
    }
    let per_tile = t0.elapsed();
    let t1 = Instant::now();
    let reps = 5;
    for _ in 0..reps {
        batch.classify(&quads, &mut out)?;
    }
    let batched_now = ms(t1.elapsed()) / reps as f64;
    let t2 = Instant::now();
    for _ in 0..reps {
        one.classify(&quads, &mut out)?;
    }
    let one_thread = ms(t2.elapsed()) / reps as f64;
    let batched = batched.unwrap_or(batched_now);
    emojicam::outln!();
    emojicam::outln!(
        "original method (one model call per tile, tile {tile}): {n} calls for one 1280x720 frame = {:.0} ms; \
         one batch = {batched:.1} ms -> batching is {:.0}x faster",
        ms(per_tile),
        ms(per_tile) / batched.max(1e-9)
    );
    emojicam::outln!(
        "one batch of {n} tiles on one ONNX Runtime thread: {one_thread:.1} ms ({:.0}x faster than one call per tile on the same thread)",
        ms(per_tile) / one_thread.max(1e-9)
    );
    Ok(())
}

/// What changes between consecutive mosaics of `frames`, and the likeness kept.
struct Steadiness {
    /// Mean share of tiles whose emoji changes.
    emoji: f64,
    /// Mean share of tiles whose look changes (emoji or tile background colour): what the
    /// viewer sees move, and what the renderer redraws.
    drawn: f64,
    /// The 2x2 PSNR of the chosen emoji against their tiles (the model's objective), averaged
    /// over the frames.
    psnr: f64,
}

fn change_share(pipeline: &mut Pipeline, truth: &mut Truth, frames: &[Frame], feed: Feed) -> Result<Steadiness> {
    let features = pipeline.atlas().features_2x2();
    let background = pipeline.settings().background;
    let mut prev: Option<MosaicFrame> = None;
    let (mut emoji, mut drawn, mut n, mut psnr) = (0.0, 0.0, 0usize, 0.0);
    for (seq, f) in (0u64..).zip(frames) {
        let mosaic = pipeline.classify(&feed.frame(f), Stamp::new(seq, None))?;
        let cur = &mosaic.emoji;
        let tiles = truth.tiles(f)?;
        let err: f64 = cur
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                error(
                    &features[e as usize],
                    tiles.patch(i),
                    drawn_background(&mosaic, i, background),
                ) as f64
            })
            .sum();
        psnr += 10.0 * (255f64.powi(2) / (err / (cur.len() * 12) as f64).max(1e-9)).log10();
        if let Some(p) = &prev {
            let share = |count: usize| count as f64 / cur.len().max(1) as f64;
            emoji += share(p.emoji.iter().zip(cur).filter(|(a, b)| a != b).count());
            let color = |m: &MosaicFrame, i: usize| m.tile_colors.get(i).copied();
            drawn += share(
                (0..cur.len())
                    .filter(|&i| p.emoji[i] != cur[i] || color(p, i) != color(&mosaic, i))
                    .count(),
            );
            n += 1;
        }
        prev = Some(mosaic);
    }
    let n = n.max(1) as f64;
    Ok(Steadiness {
        emoji: emoji / n,
        drawn: drawn / n,
        psnr: psnr / frames.len().max(1) as f64,
    })
}

/// The picture's own tiles, which the likeness figures compare a mosaic with: each tile's exact
/// 10x10 patch (area average) of the RGBA frame, from a pipeline of its own that keeps patches.
/// The pipeline under test runs as the product does (on the ONNX path its tiler makes only the
/// quadrant means, from I420 where the live path gets I420), so the figures measure the path
/// that ships, not the patch path.
struct Truth {
    pipeline: Pipeline,
}

impl Truth {
    fn new(first: &Pipeline, tile: u32) -> Result<Self> {
        let settings = Settings {
            tile,
            classifier: ClassifierKind::Onnx,
            change_threshold: None,
            ..first.settings().clone()
        };
        let mut pipeline = Pipeline::with_parts(first.gpu().clone(), first.atlas().clone(), settings)?;
        pipeline.keep_patches(true);
        Ok(Self { pipeline })
    }

    /// The tiles of `frame` (RGBA: the picture itself).
    fn tiles(&mut self, frame: &Frame) -> Result<&emojicam::gpu::tiler::Tiles> {
        self.pipeline.classify(frame, Stamp::default())?;
        Ok(self.pipeline.tiles())
    }
}

/// What the pipeline under test is given: the RGBA frame (images, GIFs, MJPEG cameras) or the
/// same picture as BT.601 limited-range I420 planes (what videos give the live path).
#[derive(Clone, Copy)]
enum Feed {
    Rgba,
    I420,
}

impl Feed {
    fn frame<'a>(self, rgba: &'a Frame) -> std::borrow::Cow<'a, Frame> {
        use emojicam::frame::{Matrix, Yuv};
        match self {
            Feed::Rgba => std::borrow::Cow::Borrowed(rgba),
            Feed::I420 => {
                let (w, h) = (rgba.width as usize, rgba.height as usize);
                let (ylen, clen) = emojicam::yuv::i420_sizes(w, h);
                let mut planes = vec![0u8; ylen + 2 * clen];
                let (y, uv) = planes.split_at_mut(ylen);
                let (u, v) = uv.split_at_mut(clen);
                emojicam::yuv::rgba_to_i420(&rgba.rgba, w, h, y, u, v);
                let yuv = Yuv {
                    matrix: Matrix::Bt601,
                    full_range: false,
                };
                std::borrow::Cow::Owned(Frame::i420(rgba.width, rgba.height, planes, yuv))
            }
        }
    }
}

/// The background a tile's emoji is drawn over: with the `tile` background, the colour the
/// mosaic carries for that tile (what the renderer paints), else the fixed colour.
fn drawn_background(mosaic: &MosaicFrame, i: usize, background: emojicam::Background) -> emojicam::Background {
    match (background, mosaic.tile_colors.get(i)) {
        (emojicam::Background::Tile, Some(&c)) => emojicam::Background::Color(c),
        (b, _) => b,
    }
}

/// Likeness against variety: per background and `--variety`, the classify time (one batch of
/// every tile), how wallpaper-like the frame is, its 2x2 PSNR (the objective's error) and the
/// FLIP of the rendered mosaic against the frame.
fn variety_report(first: &Pipeline, frame: &Frame, tile: u32) -> Result<()> {
    use emojicam::classify::texture::Texture;
    use emojicam::gpu::Background;
    emojicam::outln!();
    emojicam::outln!("| variety (onnx, 1280x720, tile {tile}) | background | classify ms (median of 5) | most common emoji | largest one-emoji region (tiles) | right neighbour equal | distinct emoji | 2x2 PSNR dB | FLIP (nv-flip) |");
    emojicam::outln!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut truth = Truth::new(first, tile)?;
    for background in [Background::Color([0, 0, 0]), Background::Tile] {
        for variety in [0.0, 0.5, 1.0, 1.5, 2.0] {
            let settings = Settings {
                tile,
                background,
                variety,
                ..first.settings().clone()
            };
            let mut p = Pipeline::with_parts(
                first.gpu().clone(),
                first.atlas().clone(),
                Settings {
                    change_threshold: None,
                    ..settings
                },
            )?;
            let mut times = Vec::new();
            let mut mosaic = MosaicFrame::default();
            for _ in 0..6 {
                mosaic = p.classify(frame, Stamp::default())?;
                times.push(ms(p.times().classify));
            }
            let flip = flip_mean(frame, &p.render(&mosaic, None)?)?;
            let psnr = change_share(&mut p, &mut truth, std::slice::from_ref(frame), Feed::Rgba)?.psnr;
            let cols = mosaic.grid.cols.max(1) as usize;
            let t = Texture::measure(&p.atlas().glyphs(&mosaic.emoji), cols);
            emojicam::outln!(
                "| {variety} | {} | {:.1} | {:.1}% | {} | {:.1}% | {} | {psnr:.2} | {flip:.4} |",
                background,
                median(&times[1..]),
                100.0 * t.top_share,
                t.largest_region,
                100.0 * t.right_equal,
                t.distinct
            );
        }
    }
    Ok(())
}

/// Likeness against variety per `--detail` (nearest classifier, each tile's colour behind its
/// emoji), with the defaults (ONNX model, 2x2, variety 1.5) first: classify time, the drawn
/// tiles' PSNR against the frame on the 2x2 and the 3x3 grid (the objective's error on each
/// grid), NVIDIA's FLIP of the rendered mosaic against the frame (the `nv-flip` crate) and
/// distinct emoji.
fn detail_report(first: &Pipeline, frame: &Frame, tile: u32) -> Result<()> {
    use emojicam::domain::likeness::{emoji_grid_features, MAX_DETAIL};
    use emojicam::gpu::Background;
    let atlas = first.atlas();
    let grids: Vec<Vec<Vec<[f32; 4]>>> = [2, 3]
        .iter()
        .map(|&k| {
            (0..atlas.count())
                .map(|i| emoji_grid_features(&atlas.cell_rgba(i), atlas.cell, k))
                .collect()
        })
        .collect();
    emojicam::outln!();
    emojicam::outln!("| detail (1280x720, tile {tile}, tile background) | classify ms (median of 3) | 2x2 PSNR dB | 3x3 PSNR dB | FLIP (nv-flip, lower is better) | distinct emoji |");
    emojicam::outln!("| --- | --- | --- | --- | --- | --- |");
    let defaults = Settings {
        tile,
        background: Background::Tile,
        change_threshold: None,
        ..first.settings().clone()
    };
    let label = format!("2x2 (onnx, variety {}: the defaults)", defaults.variety);
    detail_row(first, frame, &grids, &label, defaults)?;
    for detail in 2..=MAX_DETAIL {
        let settings = Settings {
            tile,
            classifier: ClassifierKind::Nearest,
            background: Background::Tile,
            detail,
            change_threshold: None,
            ..first.settings().clone()
        };
        detail_row(first, frame, &grids, &format!("{detail}x{detail} (nearest)"), settings)?;
    }
    Ok(())
}

/// One row of [`detail_report`]: classifies `frame` four times under `settings`, renders the
/// last mosaic with the product's renderer and measures it.
fn detail_row(
    first: &Pipeline,
    frame: &Frame,
    grids: &[Vec<Vec<[f32; 4]>>],
    label: &str,
    settings: Settings,
) -> Result<()> {
    use emojicam::domain::likeness::grid_error;
    use emojicam::gpu::Background;
    let mut truth = Truth::new(first, settings.tile)?;
    let mut p = Pipeline::with_parts(first.gpu().clone(), first.atlas().clone(), settings)?;
    let mut times = Vec::new();
    let mut mosaic = MosaicFrame::default();
    for _ in 0..4 {
        mosaic = p.classify(frame, Stamp::default())?;
        times.push(ms(p.times().classify));
    }
    let drawn = p.render(&mosaic, None)?;
    let flip = flip_mean(frame, &drawn)?;
    let tiles = truth.tiles(frame)?;
    let psnr = |g: usize, k: u32| {
        let err: f64 = (mosaic.emoji.iter().enumerate())
            .map(|(i, &e)| {
                let background = drawn_background(&mosaic, i, Background::Tile);
                grid_error(&grids[g][e as usize], tiles.patch(i), k, background) as f64
            })
            .sum();
        let values = (mosaic.emoji.len() * (k * k * 3) as usize).max(1) as f64;
        10.0 * (255f64.powi(2) / (err / values).max(1e-9)).log10()
    };
    let cols = mosaic.grid.cols.max(1) as usize;
    emojicam::outln!(
        "| {label} | {:.1} | {:.2} | {:.2} | {flip:.4} | {} |",
        median(&times[1..]),
        psnr(0, 2),
        psnr(1, 3),
        emojicam::classify::texture::Texture::measure(&p.atlas().glyphs(&mosaic.emoji), cols).distinct
    );
    Ok(())
}

/// Mean NVIDIA FLIP error (LDR, 67 pixels per degree, as `flip-evaluator` computes it by
/// default) of `test` against `reference`, over the part both cover.
fn flip_mean(reference: &Frame, test: &Frame) -> Result<f32> {
    let (w, h) = (reference.width.min(test.width), reference.height.min(test.height));
    let rgb = |f: &Frame| -> Vec<u8> {
        let f = f.to_rgba();
        (0..h as usize)
            .flat_map(|y| {
                let row = &f.rgba[y * f.width as usize * 4..][..w as usize * 4];
                row.chunks_exact(4)
                    .flat_map(|px| [px[0], px[1], px[2]])
                    .collect::<Vec<u8>>()
            })
            .collect()
    };
    anyhow::ensure!(w > 0 && h > 0, "FLIP needs a picture, got {w}x{h}");
    let a = nv_flip::FlipImageRgb8::with_data(w, h, &rgb(reference));
    let b = nv_flip::FlipImageRgb8::with_data(w, h, &rgb(test));
    let map = nv_flip::flip(a, b, nv_flip::DEFAULT_PIXELS_PER_DEGREE);
    Ok(nv_flip::FlipPool::from_image(&map).mean())
}

/// The embedded model's classify time against another model file that takes the same inputs
/// (`quads`, `mask`, `background`, `position`, `tolerance`: an earlier training run, another
/// build's `models/emojinet.onnx`), on one batch of every tile of one 1280x720 frame, runs
/// interleaved so that other load on the machine weighs on both alike; min and median of 20, at
/// a black background with variety 0 and at the settings' background and variety.
fn compare_model(
    first: &Pipeline,
    frame: &Frame,
    tile: u32,
    model: &std::path::Path,
    bytes: &[u8],
    tables: Option<&[u8]>,
) -> Result<()> {
    use emojicam::gpu::Background;
    let settings = Settings {
        tile,
        change_threshold: None,
        ..first.settings().clone()
    };
    let mut p = Pipeline::with_parts(first.gpu().clone(), first.atlas().clone(), settings.clone())?;
    p.classify(frame, Stamp::default())?;
    let tiles = p.tiles();
    let cols = tiles.grid.cols;
    let positions: Vec<[u32; 2]> = (0..tiles.len() as u32).map(|i| [i % cols, i / cols]).collect();
    let allowed = first.atlas().allowed(&settings.emoji_set)?;
    let mut rows = Vec::new();
    for (background, variety) in [
        (Background::Color([0, 0, 0]), 0.0),
        (settings.background, settings.variety),
    ] {
        let mut current = OnnxClassifier::new(allowed.len(), &settings.onnx)?;
        let mut other = OnnxClassifier::from_bytes(bytes, tables, allowed.len(), &settings.onnx)?;
        for c in [&mut current, &mut other] {
            c.set_allowed(&allowed)?;
            c.set_background(background);
            c.set_variety(variety);
        }
        let times = time_interleaved([&mut current, &mut other], tiles.means_bytes(), &positions)?;
        let label = format!("{background} background, variety {variety}");
        rows.push((label, times));
    }
    emojicam::outln!();
    emojicam::outln!(
        "| classify one 1280x720 frame ({} tiles, {} threads, interleaved) | current model min ms (vs {name}) | median | {name} min | median |",
        tiles.len(),
        settings.onnx.threads,
        name = model.display()
    );
    emojicam::outln!("| --- | --- | --- | --- | --- |");
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    for (label, [current, other]) in &rows {
        let ratio = min(current) / min(other);
        emojicam::outln!(
            "| {label} | {:.1} ({ratio:.2}x) | {:.1} | {:.1} | {:.1} |",
            min(current),
            median(current),
            min(other),
            median(other)
        );
    }
    Ok(())
}

/// `--compare-model`'s file and its bytes.
#[derive(Debug)]
enum Other<'a> {
    /// A model with the current inputs and as many classes as the atlas has emoji, and the
    /// bytes of its tables graph for a model split in two.
    Current(&'a std::path::Path, Vec<u8>, Option<Vec<u8>>),
    /// A model from before issue 15, taking each tile's patch ([`PatchModel`]).
    Reference(&'a std::path::Path, Vec<u8>),
}

/// `--compare-model`'s file, once ONNX Runtime has loaded it as one of the [`Other`] kinds. A file
/// that cannot be read or is no such model is a usage error (exit 2); ONNX Runtime itself
/// missing is not.
fn other_model(path: &std::path::Path) -> Result<Other<'_>> {
    let usage = |why: String| emojicam::Error::usage(format!("--compare-model {}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| usage(e.to_string()))?;
    let classes = emojicam::Atlas::embedded()?.count() as usize;
    // a one-graph file with the current inputs is loaded once, a model of two graphs twice (the
    // first load reads the name of its tables graph, a 3 MB graph; the second takes both); only
    // a file that has neither is tried as the reference, which takes patches
    match OnnxClassifier::from_bytes(&bytes, None, classes, &OnnxOptions::default()) {
        Ok(_) => Ok(Other::Current(path, bytes, None)),
        Err(emojicam::Error::Classify(e @ emojicam::error::ClassifyError::Environment(_))) => Err(e.into()),
        // a model split in two: its tables graph is the file its metadata names, beside it
        Err(emojicam::Error::Classify(emojicam::error::ClassifyError::TablesMissing { name })) => {
            let file = path.with_file_name(&name);
            let tables =
                std::fs::read(&file).map_err(|e| usage(format!("its tables graph {}: {e}", file.display())))?;
            OnnxClassifier::from_bytes(&bytes, Some(&tables), classes, &OnnxOptions::default())
                .map_err(|e| usage(format!("with its tables graph {}: {e}", file.display())))?;
            Ok(Other::Current(path, bytes, Some(tables)))
        }
        Err(current) => match PatchModel::from_bytes(&bytes, &OnnxOptions::default()) {
            Ok(Some(_)) => Ok(Other::Reference(path, bytes)),
            _ => Err(usage(format!(
                "not a model with this build's inputs or the patches of before issue 15 ({current})"
            ))
            .into()),
        },
    }
}

/// Issue 15's speed line: this build's whole classify stage on one frame of each bench size
/// (every tile in one batch, as on a new grid: the frame's inputs, the graph, the spread) against
/// today's (before issue 15's) classify stage: a pipeline whose classifier is the model of before
/// issue 15 ([`Other::Reference`], the patches read back as that release did), timed the same way
/// right after its own tiling; and each model's run alone on the same tiles. The four take turns
/// (each round in another order) so that other load weighs on all alike; min and median of 21, at
/// the settings' background and variety and over black at variety 0. Each row twice: the runs back
/// to back (as an offline render runs them), and paced at a 30 fps camera's frame interval (as the
/// live preview runs them: between two frames the stage's threads sleep, and waking them costs
/// either model time).
fn compare_reference(
    first: &Pipeline,
    frames: &[Frame],
    tile: u32,
    model: &std::path::Path,
    bytes: &[u8],
) -> Result<()> {
    use emojicam::gpu::Background;
    let base = first.settings().clone();
    let allowed = first.atlas().allowed(&base.emoji_set)?;
    let context = || format!("--compare-model {}", model.display());
    let reference = || -> Result<PatchModel> {
        PatchModel::from_bytes(bytes, &base.onnx)
            .with_context(context)?
            .with_context(|| format!("{}: takes no patches", context()))
    };
    let mut alone = reference()?;
    alone.set_allowed(&allowed);
    let mut graph = OnnxClassifier::for_atlas(first.atlas(), &base.onnx)?;
    graph.set_allowed(&allowed)?;
    let mut rows = Vec::new();
    for frame in frames {
        for (background, variety) in [(base.background, base.variety), (Background::Color([0, 0, 0]), 0.0)] {
            for pace in [None, Some(LIVE_PACE)] {
                let settings = Settings {
                    tile,
                    change_threshold: None,
                    background,
                    variety,
                    ..base.clone()
                };
                let config = settings.clone().validate(first.atlas().clone())?;
                let today = Pipeline::with_classifier(first.gpu().clone(), config, Box::new(reference()?))?;
                let models = Turns {
                    graph: &mut graph,
                    today,
                    alone: &mut alone,
                };
                let (tiles, times) = stage_against_reference(first, frame, settings, models, pace)?;
                let label = format!(
                    "{}x{} ({tiles} tiles), {background} background, variety {variety}, {}",
                    frame.width,
                    frame.height,
                    if pace.is_some() {
                        "one run per 33 ms (live)"
                    } else {
                        "back to back"
                    }
                );
                rows.push((label, times));
            }
        }
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    emojicam::outln!();
    emojicam::outln!(
        "| issue 15's speed line: one frame ({} threads, taking turns) | this build's classify stage min ms (vs today's stage: {name}'s) | median | its model's run alone min (vs {name}'s run alone) | median | today's classify stage min | median | {name}'s run alone min | median |",
        base.onnx.threads,
        name = model.display()
    );
    emojicam::outln!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (label, [stage, run, today, old]) in &rows {
        emojicam::outln!(
            "| {label} | {:.1} ({:.2}x) | {:.1} ({:.2}x) | {:.1} ({:.2}x) | {:.1} ({:.2}x) | {:.1} | {:.1} | {:.1} | {:.1} |",
            min(stage),
            min(stage) / min(today),
            median(stage),
            median(stage) / median(today),
            min(run),
            min(run) / min(old),
            median(run),
            median(run) / median(old),
            min(today),
            median(today),
            min(old),
            median(old)
        );
    }
    Ok(())
}

/// A 30 fps camera's frame interval: [`compare_reference`]'s paced runs start one per interval.
const LIVE_PACE: Duration = Duration::from_nanos(1_000_000_000 / 30);

/// What [`stage_against_reference`] times besides this build's stage: its model alone, today's
/// pipeline (the model of before issue 15 as its classifier) and that model alone.
struct Turns<'a> {
    graph: &'a mut OnnxClassifier,
    today: Pipeline,
    alone: &'a mut PatchModel,
}

/// One row of [`compare_reference`]: the tile count of `frame` and the times (ms) of this
/// build's classify stage, its model's run alone (`graph`, the emoji set's already), today's
/// classify stage and its model's run alone, 21 rounds each after a warm-up; with `pace`, each
/// run starts one `pace` after the one before (the thread sleeping in between, as the live
/// pipeline's does between frames).
fn stage_against_reference(
    first: &Pipeline,
    frame: &Frame,
    settings: Settings,
    mut models: Turns<'_>,
    pace: Option<Duration>,
) -> Result<(usize, [Vec<f64>; 4])> {
    let mut p = Pipeline::with_parts(first.gpu().clone(), first.atlas().clone(), settings.clone())?;
    p.keep_patches(true);
    p.classify(frame, Stamp::default())?;
    let patches = p.tiles().patches.clone();
    let quads = p.tiles().means_bytes().to_vec();
    let cols = p.tiles().grid.cols;
    let tiles = p.tiles().len();
    p.keep_patches(false);
    let positions: Vec<[u32; 2]> = (0..tiles as u32).map(|i| [i % cols, i / cols]).collect();
    models.graph.set_background(settings.background);
    models.graph.set_variety(settings.variety);
    models.graph.set_frame(&p.tiles().means);
    let mut out = Vec::new();
    let mut times = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    // each round in another order, so that none of the four always runs after the same one
    let mut next = Instant::now();
    for round in 0..22 {
        for k in 0..4 {
            let which = (round + k) % 4;
            if let Some(pace) = pace {
                next += pace;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            let t = Instant::now();
            let took = match which {
                0 => {
                    p.classify(frame, Stamp::default())?;
                    ms(p.times().classify)
                }
                1 => {
                    models.graph.classify_at(&quads, &positions, &mut out)?;
                    ms(t.elapsed())
                }
                2 => {
                    models.today.classify(frame, Stamp::default())?;
                    ms(models.today.times().classify)
                }
                _ => {
                    models.alone.run(&patches, &mut out)?;
                    ms(t.elapsed())
                }
            };
            if round > 0 {
                times[which].push(took);
            }
        }
    }
    Ok((tiles, times))
}

/// 21 runs of each classifier on the same tiles, taking turns; the first of each is a warm-up
/// and not returned.
fn time_interleaved(
    mut models: [&mut OnnxClassifier; 2],
    quads: &[u8],
    positions: &[[u32; 2]],
) -> Result<[Vec<f64>; 2]> {
    let mut times = [Vec::new(), Vec::new()];
    let mut out = Vec::new();
    for round in 0..21 {
        for (model, times) in models.iter_mut().zip(&mut times) {
            let t = Instant::now();
            model.classify_at(quads, positions, &mut out)?;
            if round > 0 {
                times.push(ms(t.elapsed()));
            }
        }
    }
    Ok(times)
}

/// Flicker: a still frame with per-frame sensor noise, and the moving clip, naive vs steady.
fn flicker_report(source: &[Frame], tile: u32, adapter: &AdapterPreference, defaults: &Settings) -> Result<()> {
    let still = resize(&source[0], 1280, 720)?;
    let noisy: Vec<Frame> = (0..15).map(|i| still.with_noise(i, 3.0)).collect();
    let moving: Vec<Frame> = source.iter().map(|f| resize(f, 1280, 720)).collect::<Result<_>>()?;
    let dir = super::bench_input::bench_dir()?;
    let handheld = load_frames(
        Some(&super::demo::write_once(
            &dir,
            "handheld.mp4",
            super::demo::HANDHELD_CLIP,
            super::demo::Existing::Replace,
        )?),
        60,
    )?;
    emojicam::outln!();
    emojicam::outln!("| scene (onnx, tile {tile}, {} background) | emoji changing per frame, naive (every tile every frame) | steady (change threshold {DEFAULT_CHANGE_THRESHOLD}, keep margin {:.0}%) | tiles redrawn per frame (emoji or background colour changed), naive / steady | 2x2 PSNR naive / steady dB |", Settings::default().background, KEEP_MARGIN * 100.0);
    emojicam::outln!("| --- | --- | --- | --- | --- |");
    let mut truth = None;
    for (name, frames, feed) in [
        (
            "still frame + sigma-3 sensor noise (1280x720, I420 as from a video)",
            &noisy,
            Feed::I420,
        ),
        (
            "the same, RGBA (as from an image or an MJPEG camera)",
            &noisy,
            Feed::Rgba,
        ),
        ("the demo clip, animation (1280x720, I420)", &moving, Feed::I420),
        (
            "real handheld footage, water-skier from a boat (480x288, I420)",
            &handheld,
            Feed::I420,
        ),
    ] {
        let mut shares = Vec::new();
        for threshold in [None, Some(DEFAULT_CHANGE_THRESHOLD)] {
            let mut p = Pipeline::new(Settings {
                tile,
                adapter: adapter.clone(),
                change_threshold: threshold,
                ..defaults.clone()
            })?;
            if truth.is_none() {
                truth = Some(Truth::new(&p, tile)?);
            }
            let truth = truth.as_mut().context("no reference pipeline")?;
            shares.push(change_share(&mut p, truth, frames, feed)?);
        }
        emojicam::outln!(
            "| {name} | {:.2}% | {:.2}% | {:.2}% / {:.2}% | {:.2} / {:.2} |",
            shares[0].emoji * 100.0,
            shares[1].emoji * 100.0,
            shares[0].drawn * 100.0,
            shares[1].drawn * 100.0,
            shares[0].psnr,
            shares[1].psnr
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_model_takes_a_model_with_the_current_inputs_or_the_reference_and_refuses_anything_else() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let model = root.join("models/emojinet.onnx");
        match other_model(&model).expect("the built-in model has the current inputs") {
            Other::Current(path, bytes, tables) => assert_eq!(
                (path, bytes.len(), tables.map(|t| t.len())),
                (
                    model.as_path(),
                    std::fs::metadata(&model).unwrap().len() as usize,
                    Some(
                        std::fs::metadata(root.join("models/emojinet-tables.onnx"))
                            .unwrap()
                            .len() as usize
                    )
                )
            ),
            other => panic!("{model:?} read as {other:?}"),
        }
        let reference = root.join("models/before-issue-15.onnx");
        assert!(
            matches!(other_model(&reference), Ok(Other::Reference(p, _)) if p == reference),
            "issue 15's reference takes patches"
        );
        // a file that is no model, or no file: a usage error (exit 2) that names it
        for path in [root.join("README.md"), root.join("no-such-model.onnx")] {
            let err = other_model(&path).unwrap_err();
            let text = format!("{err:#}");
            assert!(
                text.starts_with(&format!("--compare-model {}: ", path.display())),
                "{text}"
            );
            let code = err.downcast_ref::<emojicam::Error>().map(emojicam::Error::exit_code);
            assert_eq!(code, Some(2), "{text}");
        }
    }

    /// A 64x48 picture of smooth gradients with a sharp square: enough structure for FLIP.
    fn picture(shift: u8) -> Frame {
        let (w, h) = (64u32, 48u32);
        let mut rgba = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let edge = (20..40).contains(&x) && (10..30).contains(&y);
                let v = if edge { 230 } else { (x * 3) as u8 };
                rgba.extend_from_slice(&[v.saturating_add(shift), (y * 4) as u8, 255 - v, 255]);
            }
        }
        Frame::new(w, h, rgba)
    }

    #[test]
    fn flip_is_zero_for_the_same_picture_and_grows_with_the_difference() {
        let a = picture(0);
        let same = flip_mean(&a, &a).unwrap();
        let near = flip_mean(&a, &picture(8)).unwrap();
        let far = flip_mean(&a, &picture(120)).unwrap();
        assert_eq!(same, 0.0);
        assert!(near > 0.0 && near < far, "FLIP {same} / {near} / {far}");
        assert!(flip_mean(&a, &Frame::new(0, 0, Vec::new())).is_err());
    }
}
