//! The committed model and atlas: they load, agree with each other, and the model's mosaics of
//! held-back real photos stay above the quality floors of models/EVAL.md.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

mod common;

use common::*;
use emojicam::atlas::Atlas;
use emojicam::classify::onnx::{OnnxClassifier, OnnxOptions, PatchModel, MODEL, TABLES};
use emojicam::classify::{Classifier, Input, PATCH_BYTES, QUADS_BYTES};
use emojicam::domain::Background;

#[test]
fn model_loads_and_matches_the_atlas() {
    let atlas = Atlas::embedded().expect("atlas");
    let count = atlas.count() as usize;
    let meta = emoji_meta();
    assert_eq!(count, meta.unified.len());
    let png = image::open(root().join("models/atlas.png")).expect("atlas png");
    let catalogue: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("models/emoji.json")).expect("emoji.json")).expect("json");
    let in_file = catalogue["count"].as_u64().expect("count") as usize;
    assert_eq!(png.width(), 64 * 64, "64 cells of 64 px per row");
    assert_eq!(png.height() as usize, in_file.div_ceil(64) * 64);
    // The dimmed copies follow the file's entries: two of each default emoji covering 30% or more.
    let copies: Vec<_> = atlas.emoji[in_file..].iter().collect();
    assert!(!copies.is_empty() && copies.len() % 2 == 0, "{} copies", copies.len());
    assert!(copies.iter().all(|e| e.dim == 4 || e.dim == 8));
    let mut model = OnnxClassifier::new(count, &OnnxOptions { threads: 1 }).expect("model loads through ort");
    assert_eq!(model.classes(), count);

    // A model whose class count differs from the atlas is refused with a clear message.
    let err = OnnxClassifier::from_bytes(MODEL, Some(TABLES), count + 1, &OnnxOptions { threads: 1 })
        .err()
        .expect("mismatch refused")
        .to_string();
    assert!(err.contains("classes") && err.contains("atlas"), "{err}");

    // The model is two graphs: without its tables graph it is refused, naming the file.
    let err = OnnxClassifier::from_bytes(MODEL, None, count, &OnnxOptions { threads: 1 })
        .err()
        .expect("a model without its tables graph refused")
        .to_string();
    assert!(err.contains("emojinet-tables.onnx"), "{err}");

    // The model takes the tile features this build computes (its metadata names their rules);
    // one that names other rules (here the same bytes with the contract's version changed) is
    // refused, not fed features it does not expect.
    let contract = emojicam::classify::features::CONTRACT.as_bytes();
    let at = MODEL
        .windows(contract.len())
        .position(|w| w == contract)
        .expect("the model names the tile features' contract");
    let mut other = MODEL.to_vec();
    let version = at + b"emojicam tile features ".len();
    assert!(other[version].is_ascii_digit(), "the contract starts with its version");
    other[version] = b'9';
    let err = OnnxClassifier::from_bytes(&other, Some(TABLES), count, &OnnxOptions { threads: 1 })
        .err()
        .expect("other tile features refused")
        .to_string();
    assert!(err.contains("tile features") && err.contains("features 9"), "{err}");

    // Bytes that are not a model: a classifier error that keeps ONNX Runtime's own error as its
    // source, and a partial patch buffer is refused before any run.
    let err = OnnxClassifier::from_bytes(b"not an onnx model", None, count, &OnnxOptions { threads: 1 })
        .err()
        .expect("garbage refused");
    assert!(
        matches!(
            err,
            emojicam::Error::Classify(emojicam::error::ClassifyError::LoadModel { .. })
        ),
        "{err:?}"
    );
    let ort_error = std::error::Error::source(&err).and_then(std::error::Error::source);
    assert!(ort_error.is_some(), "{err}: no ONNX Runtime error kept as the source");
    let mut out = Vec::new();
    assert_eq!(model.input(), Input::Quads, "the model reads quadrant means");
    let partial = model.classify(&[0u8; QUADS_BYTES + 1], &mut out).expect_err("refused");
    assert!(partial.to_string().contains("whole number of tiles"), "{partial}");

    // Masks: a restricted set only ever yields members of that set, at variety 0 (the exact
    // search of the longer lists) and above it (the graph's pick), over black and each tile's colour.
    let hearts = atlas.allowed("hearts").expect("hearts set");
    model.set_allowed(&hearts).expect("mask");
    let quads: Vec<u8> = (0..64 * QUADS_BYTES).map(|i| ((i * 37) % 251) as u8).collect();
    for (variety, background) in [(0.0, Background::Color([0, 0, 0])), (1.5, Background::Tile)] {
        model.set_variety(variety);
        model.set_background(background);
        let mut out = Vec::new();
        model.classify(&quads, &mut out).expect("run");
        assert_eq!(out.len(), 64);
        assert!(
            out.iter().all(|&i| hearts[i as usize]),
            "only hearts chosen at variety {variety}"
        );
    }
    // The set's tables follow a change of set: back to the default set, the same tiles take
    // emoji outside the hearts again.
    let default = atlas.allowed("default").expect("default set");
    model.set_allowed(&default).expect("mask");
    let mut out = Vec::new();
    model.classify(&quads, &mut out).expect("run");
    assert!(out.iter().all(|&i| default[i as usize]), "only default emoji");
    assert!(out.iter().any(|&i| !hearts[i as usize]), "not only hearts: {out:?}");
}

/// Issue 15's speed reference (`bench --compare-model models/before-issue-15.onnx`): the model of
/// before it, over the atlas file's emoji (no dimmed copies), runs on 10x10 patches with the
/// product's session options and picks an allowed, dark emoji for a black patch and another,
/// bright one for a white patch; the built-in model is not taken for it.
#[test]
fn the_reference_model_of_before_issue_15_runs_on_patches() {
    let atlas = Atlas::embedded().expect("atlas");
    let options = OnnxOptions { threads: 1 };
    assert!(PatchModel::from_bytes(MODEL, &options).expect("loads").is_none());
    let bytes = std::fs::read(root().join("models/before-issue-15.onnx")).expect("the reference model");
    let mut reference = PatchModel::from_bytes(&bytes, &options)
        .expect("loads")
        .expect("takes patches");
    let catalogue: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("models/emoji.json")).expect("emoji.json")).expect("json");
    assert_eq!(Some(reference.classes() as u64), catalogue["count"].as_u64());
    let allowed = atlas.allowed("default").expect("default set");
    reference.set_allowed(&allowed);
    let mut patches = vec![0u8; PATCH_BYTES];
    patches.extend(std::iter::repeat_n(255u8, PATCH_BYTES));
    let mut out = Vec::new();
    reference.run(&patches, &mut out).expect("runs");
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|&e| allowed[e as usize]), "{out:?}");
    // drawn over black: the quadrants' premultiplied colour
    let lum = |e: u32| atlas.feature_2x2(e).chunks(4).map(|q| q[0] + q[1] + q[2]).sum::<f32>();
    assert!(
        lum(out[0]) < lum(out[1]),
        "black patch {} vs white patch {}",
        out[0],
        out[1]
    );
    assert!(reference.run(&patches[..PATCH_BYTES + 1], &mut out).is_err());
}

#[test]
fn quality_floors_on_held_back_photos() {
    let floors: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("tests/data/photos/floors.json")).expect("floors.json"))
            .expect("json");
    let meta = emoji_meta();
    let dir = tempfile::tempdir().expect("tmp");
    let obj = floors["photos"].as_object().expect("floors.photos object");
    assert!(obj.len() >= 3);
    for (name, f) in obj {
        let photo = root()
            .join("tests/data/photos")
            .join(f["file"].as_str().unwrap_or(name));
        if !photo.is_file() {
            continue;
        }
        let src = rgb(&photo);
        let out = dir.path().join("m.png");
        let o = run(bin()
            .args(["render", "-q", "--input"])
            .arg(&photo)
            .arg("--output")
            .arg(&out));
        assert!(o.status.success());
        let (p2, pt) = likeness(&src, &rgb(&out), 10);
        let mean2 = f["meancolour"]["psnr_2x2"].as_f64().expect("meancolour 2x2");
        let meant = f["meancolour"]["psnr_tile"].as_f64().expect("meancolour tile");
        eprintln!(
            "{name}: model 2x2 {p2:.2} dB (floor {:.2}), tile {pt:.2} dB (floor {:.2})",
            mean2 + 2.0,
            meant - 3.5
        );
        assert!(
            p2 >= mean2 + 2.0,
            "{name}: 2x2 PSNR {p2:.2} below the floor {:.2}",
            mean2 + 2.0
        );
        assert!(
            pt >= meant - 3.5,
            "{name}: tile PSNR {pt:.2} below the floor {:.2}",
            meant - 3.5
        );

        // Variety on a 1280x720 frame of the same photo.
        let json = dir.path().join("m.json");
        let big = dir.path().join("big.png");
        image::imageops::resize(&src, 1280, 720, image::imageops::FilterType::Triangle)
            .save(&big)
            .expect("save");
        let o = run(bin()
            .args(["render", "-q", "--input"])
            .arg(&big)
            .arg("--output")
            .arg(&json));
        assert!(o.status.success());
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("json");
        let emoji: Vec<&str> = v["emoji"]
            .as_array()
            .expect("emoji")
            .iter()
            .filter_map(|e| e.as_str())
            .collect();
        let distinct: std::collections::HashSet<&str> = emoji.iter().copied().collect();
        let block_idx: std::collections::HashSet<&str> = meta
            .unified
            .iter()
            .zip(&meta.block)
            .filter(|(_, &b)| b)
            .map(|(u, _)| u.as_str())
            .collect();
        let blocks = emoji.iter().filter(|e| block_idx.contains(*e)).count();
        eprintln!(
            "{name}: {} distinct emoji at 1280x720, {:.1}% block-like tiles",
            distinct.len(),
            100.0 * blocks as f64 / emoji.len() as f64
        );
        assert!(distinct.len() >= 150, "{name}: {} distinct emoji", distinct.len());
    }
}

/// The ONNX classifier reads only the quadrant means, so patches are read back only when asked
/// for; asking while a frame is in flight (pipelined, as offline rendering does) takes effect
/// from the next frame: the frame already submitted comes back without patches, classified, not
/// refused because the flag changed between its submit and its read.
#[test]
fn keep_patches_changed_while_a_frame_is_in_flight() {
    use emojicam::pipeline::{Pipeline, Settings};
    use emojicam::{Frame, Stamp};
    let src = rgb(&photo("chelsea.png"));
    let rgba = image::DynamicImage::ImageRgb8(src.clone()).to_rgba8();
    let frame = Frame::new(src.width(), src.height(), rgba.into_raw());
    let mut p = Pipeline::new(Settings::default()).expect("pipeline");
    let stamp = |i: u64| Stamp::new(i, None);
    assert!(p.push(&frame, stamp(0)).expect("push").is_none());
    p.keep_patches(true);
    let first = p
        .push(&frame, stamp(1))
        .expect("the in-flight frame is read")
        .expect("a mosaic");
    assert_eq!(first.stamp.seq, 0);
    assert!(p.tiles().patches.is_empty(), "submitted without patches");
    let second = p.flush().expect("flush").expect("a mosaic");
    assert_eq!(
        p.tiles().patches.len(),
        p.tiles().len() * 300,
        "patches from the next frame on"
    );
    assert_eq!(first.emoji, second.emoji, "same frame, same emoji");
}

/// Stage 2 scores the tiles in blocks of one prototype, sorted by it (models/EVAL.md, "Stage 2 in
/// blocks of one prototype"): a tile's emoji must not depend on which other tiles share its batch
/// or where it lies in it. A real photo's tiles, with the frame given (`set_frame`), at variety 0
/// over black (the exact search) and at the defaults, get the same emoji as the whole frame in
/// reverse order, in every third tile, and one at a time.
#[test]
fn a_tiles_emoji_does_not_depend_on_its_batch() {
    use emojicam::pipeline::{Pipeline, Settings};
    use emojicam::Stamp;
    let img = rgb(&photo("astronaut.png"));
    let mut p = Pipeline::new(Settings::default()).expect("pipeline");
    let m = p.classify(&rgb_frame(&img), Stamp::default()).expect("classify");
    let means = p.tiles().means.clone();
    let all = grid_positions(means.len(), m.grid.cols as usize);
    let count = emoji_meta().unified.len();
    for (variety, background) in [(0.0, Background::Color([0, 0, 0])), (1.5, Background::Tile)] {
        let mut c = onnx_classifier(&vec![true; count], variety);
        c.set_background(background);
        c.set_frame(&means);
        let mut whole = Vec::new();
        c.classify_at(means.as_flattened(), &all, &mut whole).expect("run");
        let reversed: Vec<usize> = (0..means.len()).rev().collect();
        let thirds: Vec<usize> = (0..means.len()).step_by(3).collect();
        for batch in [reversed, thirds] {
            let quads: Vec<u8> = batch.iter().flat_map(|&i| means[i]).collect();
            let at: Vec<[u32; 2]> = batch.iter().map(|&i| all[i]).collect();
            let mut out = Vec::new();
            c.classify_at(&quads, &at, &mut out).expect("run");
            let expected: Vec<u32> = batch.iter().map(|&i| whole[i]).collect();
            assert_eq!(out, expected, "variety {variety}: a batch of {} tiles", batch.len());
        }
        for i in (0..means.len()).step_by(97) {
            let mut one = Vec::new();
            c.classify_at(&means[i], &all[i..=i], &mut one).expect("run");
            assert_eq!(one, [whole[i]], "variety {variety}: tile {i} alone");
        }
    }
}
