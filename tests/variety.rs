//! Issue 15 on real photos: `--variety` turns flat areas into a varied emoji texture at a small
//! likeness cost, a still scene stays still with it, and the model scores emoji as drawn over
//! the chosen background (so `--background tile` matches the exhaustive search).

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

mod common;

use common::*;
use emojicam::atlas::Atlas;
use emojicam::classify::texture::Texture;
use emojicam::classify::{Classifier, DEFAULT_VARIETY, VARIETY_UNIT};
use emojicam::domain::spread::MOST_COMMON_SHARE;
use emojicam::gpu::Background;
use emojicam::pipeline::{Pipeline, Settings, DEFAULT_CHANGE_THRESHOLD};
use emojicam::{Frame, Stamp};

fn photo_frame(name: &str) -> (Frame, image::RgbImage) {
    let src = rgb(&photo(&format!("{name}.png")));
    (rgb_frame(&src), src)
}

fn pipeline(settings: Settings) -> Pipeline {
    Pipeline::new(settings).expect("pipeline")
}

fn texture(emoji: &[u32], cols: usize) -> Texture {
    Texture::measure(&glyphs(emoji), cols)
}

/// What emojicam drew before issue 15: each tile's exact choice over black, every emoji as drawn
/// (no dimmed copies).
fn before_issue_15() -> Settings {
    Settings {
        background: Background::Color([0, 0, 0]),
        variety: 0.0,
        dimmed: false,
        ..Settings::default()
    }
}

/// Mosaic of `frame` with these settings: (emoji, columns, 2x2 PSNR against `src`).
fn mosaic(frame: &Frame, src: &image::RgbImage, settings: Settings) -> (Vec<u32>, usize, f64) {
    let mut p = pipeline(settings);
    let mosaic = p.classify(frame, Stamp::default()).expect("classify");
    let out = p.render(&mosaic, None).expect("render");
    let cols = mosaic.grid.cols as usize;
    let (p2, _) = likeness(src, &frame_rgb(&out), 10);
    (mosaic.emoji, cols, p2)
}

/// The issue's targets at the default settings (each tile's own colour behind its emoji, the
/// default variety) on real photos and a real camera frame: no emoji on more than 10% of the
/// tiles, largest one-emoji region <= 25 tiles, <= 15% of right-hand neighbours equal, and a 2x2
/// PSNR no more than 0.5 dB below the exact choice over black (the output before issue 15).
/// None of these frames is nearly flat (models/EVAL.md): each has textured parts. The grey
/// camera photo's smooth sky is where a fixed tolerance cost the most likeness (0.97 dB before the
/// count ladder: models/EVAL.md, "Count ladder").
#[test]
fn default_settings_meet_the_variety_targets() {
    for name in ["astronaut", "coffee", "handheld", "camera"] {
        let (frame, src) = photo_frame(name);
        let (before, cols, p_before) = mosaic(&frame, &src, before_issue_15());
        let (now, _, p_now) = mosaic(&frame, &src, Settings::default());
        let (t0, t1) = (texture(&before, cols), texture(&now, cols));
        eprintln!("{name}: black, variety 0: {t0:?}, 2x2 PSNR {p_before:.2} dB");
        eprintln!("{name}: default (tile, variety {DEFAULT_VARIETY}): {t1:?}, 2x2 PSNR {p_now:.2} dB");
        assert!(
            t1.top_share <= 0.10,
            "{name}: one emoji on {:.1}% of tiles",
            100.0 * t1.top_share
        );
        assert!(
            t1.largest_region <= 25,
            "{name}: a region of {} tiles",
            t1.largest_region
        );
        assert!(
            t1.right_equal <= 0.15,
            "{name}: {:.1}% right neighbours equal",
            100.0 * t1.right_equal
        );
        assert!(
            p_before - p_now <= 0.5,
            "{name}: 2x2 PSNR cost {:.2} dB",
            p_before - p_now
        );
        // ... and the exact choice is the wallpaper the issue describes: the targets are not trivial.
        assert!(t0.largest_region > 25 && t0.right_equal > 0.15, "{name}: {t0:?}");
        assert!(t1.distinct > t0.distinct, "{name}");
    }
}

/// Variety 0 over each tile's own colour is the exact choice, repetitive in flat areas; the
/// default variety breaks that up at a bounded likeness cost (each pick is within the tolerance of
/// the best).
#[test]
fn variety_breaks_up_repetition_over_the_tile_colour() {
    let (frame, src) = photo_frame("chelsea");
    let (exact, cols, p_exact) = mosaic(
        &frame,
        &src,
        Settings {
            variety: 0.0,
            ..Settings::default()
        },
    );
    let (varied, _, p_varied) = mosaic(&frame, &src, Settings::default());
    let (t0, t1) = (texture(&exact, cols), texture(&varied, cols));
    eprintln!("variety 0: {t0:?}, 2x2 PSNR {p_exact:.2} dB");
    eprintln!("variety {DEFAULT_VARIETY}: {t1:?}, 2x2 PSNR {p_varied:.2} dB");
    assert!(t1.right_equal < 0.5 * t0.right_equal, "{t1:?} vs {t0:?}");
    assert!(t1.largest_region < t0.largest_region, "{t1:?} vs {t0:?}");
    // Each tile's pick is at most the tolerance (summed over its 12 2x2 values) worse than the
    // best, so the 2x2 mean squared error grows by at most tolerance / 12 (+ rendering rounding).
    let mse = |psnr: f64| 255.0f64.powi(2) / 10f64.powf(psnr / 10.0);
    let bound = (VARIETY_UNIT * DEFAULT_VARIETY) as f64 / 12.0;
    assert!(
        mse(p_varied) - mse(p_exact) <= 1.05 * bound,
        "2x2 MSE {:.1} -> {:.1}, more than {bound:.1} worse",
        mse(p_exact),
        mse(p_varied)
    );
}

/// Over black the palette of emoji that match a saturated or bright flat colour is small, so
/// the targets are not all reachable there (models/EVAL.md); the default variety still cuts
/// repetition at a small cost.
#[test]
fn variety_breaks_up_repetition_over_black() {
    let (frame, src) = photo_frame("coffee");
    let black = Settings {
        background: Background::Color([0, 0, 0]),
        ..Settings::default()
    };
    let (exact, cols, p_exact) = mosaic(
        &frame,
        &src,
        Settings {
            variety: 0.0,
            ..black.clone()
        },
    );
    let (varied, _, p_varied) = mosaic(&frame, &src, black);
    let (t0, t1) = (texture(&exact, cols), texture(&varied, cols));
    eprintln!("variety 0: {t0:?}, 2x2 PSNR {p_exact:.2} dB");
    eprintln!("variety {DEFAULT_VARIETY}: {t1:?}, 2x2 PSNR {p_varied:.2} dB");
    assert!(t1.right_equal <= 0.8 * t0.right_equal, "{t1:?} vs {t0:?}");
    assert!(t1.largest_region < t0.largest_region, "{t1:?} vs {t0:?}");
    assert!(p_exact - p_varied <= 0.5, "2x2 PSNR cost {:.2} dB", p_exact - p_varied);
}

/// The variety pattern is keyed to each tile's place in the grid, not to the batch: a still
/// scene with sensor noise keeps every emoji, frame after frame.
#[test]
fn still_scene_stays_still_with_variety() {
    let (frame, _) = photo_frame("chelsea");
    let mut p = pipeline(Settings {
        change_threshold: Some(DEFAULT_CHANGE_THRESHOLD),
        background: Background::Tile,
        ..Settings::default()
    });
    let first = p
        .classify(&frame.with_noise(0, 3.0), Stamp::default())
        .expect("classify")
        .emoji;
    for i in 1..8 {
        let now = p
            .classify(&frame.with_noise(i, 3.0), Stamp::new(i, None))
            .expect("classify");
        let changed = first.iter().zip(&now.emoji).filter(|(a, b)| a != b).count();
        assert_eq!(changed, 0, "frame {i}: {changed} tiles changed on a still scene");
    }
    // Re-classifying the same tiles in a smaller batch picks the same emoji.
    let mut again = pipeline(Settings {
        background: Background::Tile,
        ..Settings::default()
    });
    let again = again
        .classify(&frame.with_noise(0, 3.0), Stamp::default())
        .expect("classify");
    assert_eq!(again.emoji, first);
}

/// Grass at dusk beside a person: a dark saturated green with fine texture in every tile (a
/// value-noise field of 4 px cells, +-20 levels, and sensor noise) over the right 60% of the
/// frame, the astronaut photo in the left 40%. Only a few emoji come near such tiles, so the
/// model's variety pattern alone leaves each of them on more than a tenth of the frame (the
/// held-back night sky and path of models/EVAL.md, "One emoji on at most a tenth": 12-13%).
fn grass_beside_a_person() -> image::RgbImage {
    beside_the_astronaut(frame_rgb(
        &field_wall([35, 56, 28], (640, 480), 4, 40.0).with_noise(3, 6.0),
    ))
}

/// `img` (640x480) with the astronaut photo scaled into its left 40%.
fn beside_the_astronaut(mut img: image::RgbImage) -> image::RgbImage {
    let astronaut = image::imageops::resize(
        &rgb(&photo("astronaut.png")),
        256,
        480,
        image::imageops::FilterType::CatmullRom,
    );
    image::imageops::replace(&mut img, &astronaut, 0, 0);
    img
}

/// `img` at the default settings: the pipeline that drew it, its emoji and tile columns, and the
/// 2x2 PSNR of the output before issue 15 and of this one.
fn at_the_defaults(img: &image::RgbImage) -> (Pipeline, Vec<u32>, usize, f64, f64) {
    let frame = rgb_frame(img);
    let (_, _, p_before) = mosaic(&frame, img, before_issue_15());
    let mut p = pipeline(Settings::default());
    let m = p.classify(&frame, Stamp::default()).expect("classify");
    let (p_now, _) = likeness(img, &frame_rgb(&p.render(&m, None).expect("render")), 10);
    (p, m.emoji, m.grid.cols as usize, p_before, p_now)
}

/// The model's own choice for every tile of the frame `p` last classified (no spreading).
fn model_choice(p: &Pipeline, cols: usize) -> Vec<u32> {
    let atlas = Atlas::embedded().expect("atlas");
    let mut c = onnx_classifier(&atlas.allowed("default").expect("set"), DEFAULT_VARIETY);
    let means = &p.tiles().means;
    c.set_frame(means);
    let mut out = Vec::new();
    c.classify_at(means.as_flattened(), &grid_positions(means.len(), cols), &mut out)
        .expect("run");
    out
}

/// No emoji covers much of a picture with a scene in it: where the model leaves one on more than
/// a tenth of the frame, the pipeline moves its excess to each tile's closest emoji among those
/// the frame shows (`emojicam::domain::spread`), at no great likeness cost, and a still scene
/// with sensor noise stays still.
#[test]
fn no_emoji_covers_much_of_a_scene() {
    let img = grass_beside_a_person();
    let (p, emoji, cols, p_before, p_now) = at_the_defaults(&img);
    let frame = rgb_frame(&img);
    let (t_model, t) = (texture(&model_choice(&p, cols), cols), texture(&emoji, cols));
    eprintln!("grass beside a person: the model alone {t_model:?}; spread {t:?}, 2x2 PSNR {p_now:.2} dB (before {p_before:.2})");
    assert!(t_model.top_share > 0.10, "the frame this is for: {t_model:?}");
    assert!(t.top_share <= MOST_COMMON_SHARE, "{t:?}");
    assert!(t.largest_region <= 25 && t.right_equal <= 0.15, "{t:?}");
    assert!(p_before - p_now <= 0.5, "cost {:.2} dB", p_before - p_now);
    let mut steady = pipeline(Settings {
        change_threshold: Some(DEFAULT_CHANGE_THRESHOLD),
        ..Settings::default()
    });
    let first = steady
        .classify(&frame.with_noise(10, 3.0), Stamp::default())
        .expect("classify")
        .emoji;
    assert!(texture(&first, cols).top_share <= MOST_COMMON_SHARE);
    for i in 1..6 {
        let now = steady
            .classify(&frame.with_noise(10 + i, 3.0), Stamp::new(i, None))
            .expect("classify");
        let changed = first.iter().zip(&now.emoji).filter(|(a, b)| a != b).count();
        assert_eq!(changed, 0, "frame {i}: {changed} tiles changed on a still scene");
    }
}

/// A dark navy area beside a person, which the model draws with a few emoji (one of them on more
/// than a tenth of the frame): the spread moves the excess to the emoji nearest those tiles,
/// some of which the frame did not show, not only to the ones it shows (models/EVAL.md, "The
/// spread reaches past the frame's emoji"), and the frame meets every target.
#[test]
fn a_dim_area_spreads_to_emoji_the_frame_did_not_show() {
    let img = beside_the_astronaut(image::RgbImage::from_pixel(640, 480, image::Rgb([0, 4, 28])));
    let (p, emoji, cols, p_before, p_now) = at_the_defaults(&img);
    let model = glyphs(&model_choice(&p, cols));
    let (t_model, t) = (Texture::measure(&model, cols), texture(&emoji, cols));
    let new: std::collections::BTreeSet<u32> = glyphs(&emoji).into_iter().filter(|g| !model.contains(g)).collect();
    eprintln!(
        "navy beside a person: the model alone {t_model:?}; spread {t:?}, {} emoji the model did not show, 2x2 PSNR {p_now:.2} dB (before {p_before:.2})",
        new.len()
    );
    assert!(t_model.top_share > 0.10, "the frame this is for: {t_model:?}");
    assert!(!new.is_empty(), "the spread moved tiles only to emoji the frame showed");
    assert!(meets_the_targets(&t), "{t:?}");
    assert!(p_before - p_now <= 0.5, "cost {:.2} dB", p_before - p_now);
}

/// The model scores each emoji as drawn over the background (item 2 of the issue): with each
/// tile's own colour behind the emoji its likeness is that of the exhaustive search.
#[test]
fn tile_background_matches_the_exhaustive_search() {
    for name in ["chelsea", "coffee"] {
        let (frame, src) = photo_frame(name);
        let mut psnr = Vec::new();
        for (classifier, background) in [
            (emojicam::domain::ClassifierKind::Onnx, Background::Tile),
            (emojicam::domain::ClassifierKind::Nearest, Background::Tile),
            (emojicam::domain::ClassifierKind::Onnx, Background::Color([0, 0, 0])),
        ] {
            let (_, _, p) = mosaic(
                &frame,
                &src,
                Settings {
                    classifier,
                    background,
                    variety: 0.0,
                    ..Settings::default()
                },
            );
            psnr.push(p);
        }
        eprintln!(
            "{name}: 2x2 PSNR onnx/tile {:.2}, nearest/tile {:.2}, onnx/black {:.2}",
            psnr[0], psnr[1], psnr[2]
        );
        assert!(
            psnr[0] >= psnr[1] - 0.5,
            "{name}: onnx {:.2} vs nearest {:.2}",
            psnr[0],
            psnr[1]
        );
        // with lists of 96 at variety 0 chelsea was 0.43 dB below; twice as long, about 0.25
        // (models/EVAL.md, "Longer exact lists")
        assert!(
            psnr[0] >= psnr[1] - 0.35,
            "{name}: onnx {:.2} vs nearest {:.2}: the longer exact lists",
            psnr[0],
            psnr[1]
        );
        assert!(psnr[0] > psnr[2], "{name}: the tile background is the better likeness");
    }
}

/// The model at variety 0 against the exhaustive search, both over each tile's own colour: 2x2
/// PSNR of each.
fn onnx_and_nearest(frame: &Frame) -> [f64; 2] {
    use emojicam::domain::ClassifierKind;
    let src = frame_rgb(frame);
    [ClassifierKind::Onnx, ClassifierKind::Nearest].map(|classifier| {
        let settings = Settings {
            classifier,
            variety: 0.0,
            ..Settings::default()
        };
        mosaic(frame, &src, settings).2
    })
}

/// Over each tile's own colour, the model's exact choice (variety 0) on `frame` (a wall of colour
/// `rgb`) is within 0.5 dB of the exhaustive search (2x2 PSNR).
fn assert_near_nearest(rgb: [u8; 3], frame: &Frame) {
    let psnr = onnx_and_nearest(frame);
    eprintln!("{rgb:?}: 2x2 PSNR onnx {:.2}, nearest {:.2}", psnr[0], psnr[1]);
    assert!(
        psnr[0] >= psnr[1] - 0.5,
        "{rgb:?}: onnx {:.2} vs nearest {:.2}",
        psnr[0],
        psnr[1]
    );
}

/// What a webcam mostly sees, a wall or a ceiling: a nearly flat bright frame with sensor noise.
/// Over each tile's own colour the model's exact choice must still be as good as the exhaustive
/// search (the member lists once missed the best emoji of such tiles: 3-10 dB below it on pale
/// colours, models/EVAL.md "Unseen photos").
#[test]
fn flat_walls_match_the_exhaustive_search() {
    for rgb in [[0xe6, 0xe2, 0xda], [0xc8, 0xc8, 0xc8], [0xf0, 0xf0, 0xf0]] {
        let frame = Frame::filled(320, 240, [rgb[0], rgb[1], rgb[2], 255]).with_noise(7, 3.0);
        assert_near_nearest(rgb, &frame);
    }
}

/// A tinted wall under sensor noise, where the exact choice reads member lists of its own
/// (models/EVAL.md, "An exact table"): with one table for every variety, whose lists were mostly
/// near-best picks, the model's exact choice was 3.7 dB below the exhaustive search on this mauve
/// wall (of 40 random walls of every lightness and tint, the one that missed by more than 0.5 dB).
#[test]
fn a_tinted_wall_matches_the_exhaustive_search() {
    let mauve = [0x9f, 0x74, 0x8a];
    assert_near_nearest(
        mauve,
        &Frame::filled(320, 240, [mauve[0], mauve[1], mauve[2], 255]).with_noise(5, 4.0),
    );
}

/// A pale colour under a smooth value-noise field (+-20 levels, 9 px cells) and sensor noise:
/// plaster, paper or a blurred background, where a tile's quadrants differ by a few levels.
fn textured_wall(rgb: [u8; 3]) -> Frame {
    field_wall(rgb, (320, 240), 9, 40.0).with_noise(11, 2.0)
}

/// `rgb` plus `amplitude` x a bilinear value-noise field of `cell` px cells (values in -0.5..0.5).
fn field_wall(rgb: [u8; 3], (w, h): (usize, usize), cell: usize, amplitude: f64) -> Frame {
    let value = |i: usize, j: usize| {
        let v = ((i as u64 * 7919 + j as u64 * 104_729) * 2_654_435_761) % (1 << 32);
        v as f64 / (1u64 << 32) as f64 - 0.5
    };
    let mut rgba = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let (i, j) = (x / cell, y / cell);
            let (tx, ty) = ((x % cell) as f64 / cell as f64, (y % cell) as f64 / cell as f64);
            let f = value(i, j) * (1.0 - tx) * (1.0 - ty)
                + value(i + 1, j) * tx * (1.0 - ty)
                + value(i, j + 1) * (1.0 - tx) * ty
                + value(i + 1, j + 1) * tx * ty;
            for c in rgb {
                rgba.push((c as f64 + amplitude * f).round().clamp(0.0, 255.0) as u8);
            }
            rgba.push(255);
        }
    }
    Frame::new(w as u32, h as u32, rgba)
}

/// Walls with faint texture (the unseen frames' pale wall, grey ceiling and bright blurred
/// background): the member lists once missed their best emoji (0.8-2.2 dB below the exhaustive
/// search on these frames; models/EVAL.md "Textured flat tiles").
#[test]
fn textured_walls_match_the_exhaustive_search() {
    for rgb in [[0xdc, 0xdc, 0xdc], [0xf5, 0xf5, 0xf0], [0xc8, 0xc8, 0xc8]] {
        assert_near_nearest(rgb, &textured_wall(rgb));
    }
}

/// A 640x480 wall of `rgb` under a slow field of +-`amplitude` levels (64 px cells) and sensor
/// noise, drawn at the defaults: its texture, and the 2x2 PSNR before issue 15 and now.
fn wall_at_defaults(rgb: [u8; 3], amplitude: f64) -> (Texture, f64, f64) {
    let frame = field_wall(rgb, (640, 480), 64, amplitude).with_noise(5, 2.0);
    let src = frame_rgb(&frame);
    let (_, _, p_before) = mosaic(&frame, &src, before_issue_15());
    let (now, cols, p_now) = mosaic(&frame, &src, Settings::default());
    let t = texture(&now, cols);
    eprintln!("{rgb:?}: defaults {t:?}, 2x2 PSNR {p_now:.2} dB (before {p_before:.2})");
    (t, p_before, p_now)
}

/// A smooth grey or beige wall (mid and pale greys under a slow +-25-level field and sensor
/// noise): many emoji come close to every tile, and picking evenly among all of them within the
/// tolerance cost 2.9 dB against the exact choice over black on the mid grey (the previous model).
/// Among the dozen nearest (the count ladder, models/EVAL.md) the defaults keep a varied texture
/// at no such cost. Darker walls are the known limit: under about #505050 few emoji come close at
/// all and the variety still costs 1-1.5 dB there (models/EVAL.md, "Count ladder").
#[test]
fn smooth_grey_walls_keep_variety_at_a_small_cost() {
    for rgb in [
        [0x7a, 0x7a, 0x7a],
        [0xa0, 0xa0, 0xa0],
        [0xb0, 0xa8, 0x98],
        [0x60, 0x60, 0x60],
    ] {
        let (t, p_before, p_now) = wall_at_defaults(rgb, 50.0);
        assert!(t.largest_region <= 25 && t.right_equal <= 0.15, "{rgb:?}: {t:?}");
        assert!(
            p_before - p_now <= 0.5,
            "{rgb:?}: 2x2 PSNR cost {:.2} dB",
            p_before - p_now
        );
    }
}

/// Walls of a saturated colour (purple, green, blue under a slow +-10-level field and sensor noise):
/// over its own colour few emoji come close to such a tile, and picking among the 5-8 within the
/// tolerance left one emoji on 11-13% of the tiles (the previous model). A saturated tile with fewer
/// than 4 members within the ladder's first rung now picks within 1.5 x the tolerance (models/EVAL.md,
/// "Widening saturated tiles"): a varied texture, still well above the likeness of before.
#[test]
fn saturated_walls_keep_variety() {
    walls_meet_the_targets([[0x70, 0x34, 0xbc], [0x00, 0x78, 0x3c], [0x28, 0x3c, 0xc8]]);
}

/// Walls of these colours under a slow +-10-level field: issue 15's texture targets at no more
/// than 0.5 dB of 2x2 PSNR below the output before issue 15.
fn walls_meet_the_targets(colours: [[u8; 3]; 3]) {
    for rgb in colours {
        let (t, p_before, p_now) = wall_at_defaults(rgb, 20.0);
        assert!(meets_the_targets(&t), "{rgb:?}: {t:?}");
        assert!(
            p_before - p_now <= 0.5,
            "{rgb:?}: 2x2 PSNR cost {:.2} dB",
            p_before - p_now
        );
    }
}

/// White and pale walls (near-white, cream, pale blue under a slow +-10-level field and sensor
/// noise): over a pale tile's own colour only a handful of nearly empty emoji come within the
/// tolerance, and picking among them left one emoji on 10.6% of the near-white wall here and
/// 12-14% of a flat white frame (the previous model). A pale near-flat tile with fewer than 12
/// members within the ladder's first rung now picks within 3 x the tolerance (models/EVAL.md,
/// "Pale walls"): a varied texture, still far above the likeness of before.
#[test]
fn pale_walls_keep_variety() {
    walls_meet_the_targets([[0xfa, 0xfa, 0xfa], [0xf0, 0xec, 0xe2], [0xe4, 0xec, 0xf4]]);
}

/// Dark walls and shirts (dark navy, dark grey and dark blue under a slow +-20-level field and
/// sensor noise): walls this flat are nearly one flat colour, where issue 15 lets one emoji take
/// more than 10% of the tiles, but not a large one-emoji region or many equal neighbours. Their
/// frames hold almost no detail, so the dark budget keeps each dark tile near its best emoji (at
/// least two candidates, alternated by position): the variety that cost 2-9 dB of 2x2 PSNR here
/// before the budget now costs at most about 2 (models/EVAL.md, "A dark budget").
#[test]
fn dark_walls_vary_near_their_best() {
    for rgb in [[0x11, 0x0f, 0x16], [0x1c, 0x1c, 0x20], [0x10, 0x18, 0x28]] {
        let (t, p_before, p_now) = wall_at_defaults(rgb, 20.0);
        assert!(
            t.largest_region <= 25 && t.right_equal <= 0.15,
            "{rgb:?}: {t:?} (2x2 PSNR {p_now:.2} dB, before {p_before:.2})"
        );
        assert!(
            p_before - p_now <= 2.5,
            "{rgb:?}: 2x2 PSNR cost {:.2} dB",
            p_before - p_now
        );
    }
}

/// Share of tiles equal to their right-hand neighbour, and to the one below.
fn neighbours_equal(emoji: &[u32], cols: usize) -> (f64, f64) {
    let emoji = &glyphs(emoji);
    let right = Texture::measure(emoji, cols).right_equal;
    let below = emoji.iter().zip(&emoji[cols..]).filter(|(a, b)| a == b).count();
    (right, below as f64 / (emoji.len() - cols).max(1) as f64)
}

/// In a flat area every tile has much the same candidates, and the pick is the floor(u n)-th of
/// them with u the tile's pattern phase: neighbouring phases lie 0.245 (across) and 0.430 (down)
/// apart, so neighbours take different emoji whenever a tile has four or more candidates (models/EVAL.md,
/// "A quantile pick"). The pick by the highest random key that it replaced left about one in n
/// neighbours alike (3-6% of a wall's tiles). (A flat dark wall keeps two or three candidates
/// under its dark budget: `dark_walls_vary_near_their_best`.)
#[test]
fn neighbours_on_a_wall_differ() {
    for (rgb, amplitude) in [([0xa0, 0xa0, 0xa0], 50.0), ([0x28, 0x3c, 0xc8], 20.0)] {
        let frame = field_wall(rgb, (640, 480), 64, amplitude).with_noise(5, 2.0);
        let (now, cols, _) = mosaic(&frame, &frame_rgb(&frame), Settings::default());
        let (right, below) = neighbours_equal(&now, cols);
        eprintln!(
            "{rgb:?}: {:.2}% right, {:.2}% below equal",
            100.0 * right,
            100.0 * below
        );
        assert!(
            right <= 0.02 && below <= 0.02,
            "{rgb:?}: {right:.3} right, {below:.3} below equal"
        );
    }
}

/// A bad `--variety` is a usage error (exit 2, one line), never a panic.
#[test]
fn bad_variety_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tmp");
    for bad in ["-1", "11", "nan", "lots"] {
        let out = dir.path().join("m.png");
        let o = run(bin()
            .args(["render", "-q", "--variety", bad, "--input"])
            .arg(photo("chelsea.png"))
            .arg("--output")
            .arg(&out));
        assert_eq!(o.status.code(), Some(2), "--variety {bad}: {}", stderr(&o));
        assert!(!out.exists(), "--variety {bad} left an output");
    }
}

/// `--detail 3` (nearest classifier) compares a 3x3 grid per tile: on a real photo the mosaic is
/// closer to the photo on that grid than the default 2x2 objective's, uses fewer kinds of
/// emoji (the trade-off the option offers, models/EVAL.md), and each tile's pick is the CPU
/// objective's exact minimum on the 3x3 grid.
#[test]
fn finer_detail_trades_variety_for_grid_likeness() {
    use emojicam::domain::likeness::{emoji_grid_features, grid_error};
    use emojicam::domain::ClassifierKind;
    let (frame, src) = photo_frame("chelsea");
    let (cols, rows) = (src.width() / 10, src.height() / 10);
    let mut rows_out = Vec::new();
    for detail in [2, 3] {
        let mut p = pipeline(Settings {
            classifier: ClassifierKind::Nearest,
            background: Background::Color([0, 0, 0]),
            detail,
            ..Settings::default()
        });
        let mosaic = p.classify(&frame, Stamp::default()).expect("classify");
        let out = frame_rgb(&p.render(&mosaic, None).expect("render"));
        let (sx, sy) = (out.width() as f64 / cols as f64, out.height() as f64 / rows as f64);
        let s3 = grid_means(&src, cols, rows, 10.0, 10.0, 3);
        let m3 = grid_means(&out, cols, rows, sx, sy, 3);
        let (p2, _) = likeness(&src, &out, 10);
        let distinct = texture(&mosaic.emoji, cols as usize).distinct;
        eprintln!(
            "detail {detail}: 2x2 PSNR {p2:.2}, 3x3 PSNR {:.2}, {distinct} distinct",
            psnr(&s3, &m3)
        );
        rows_out.push((p2, psnr(&s3, &m3), distinct, mosaic.emoji, p.tiles().patches.clone()));
    }
    let (d2, d3) = (&rows_out[0], &rows_out[1]);
    assert!(
        d3.1 > d2.1 + 1.0,
        "3x3 PSNR {:.2} (detail 3) vs {:.2} (detail 2)",
        d3.1,
        d2.1
    );
    assert!(d2.0 > d3.0, "the 2x2 objective is the best 2x2 likeness");
    assert!(d3.2 < d2.2, "finer detail uses fewer kinds of emoji");
    // the GPU's pick is the CPU objective's minimum (within float rounding) on sampled tiles
    let atlas = emojicam::Atlas::embedded().expect("atlas");
    let allowed = atlas.allowed("default").expect("default set");
    let feats: Vec<Vec<[f32; 4]>> = (0..atlas.count())
        .map(|i| emoji_grid_features(&atlas.cell_rgba(i), atlas.cell, 3))
        .collect();
    for t in (0..d3.3.len()).step_by(97) {
        let patch = &d3.4[t * 300..(t + 1) * 300];
        let err = |e: usize| grid_error(&feats[e], patch, 3, Background::Color([0, 0, 0]));
        let best = (0..feats.len())
            .filter(|&e| allowed[e])
            .map(err)
            .fold(f32::INFINITY, f32::min);
        let picked = err(d3.3[t] as usize);
        assert!(picked <= best * 1.001 + 0.01, "tile {t}: picked {picked}, best {best}");
    }
}

/// `--detail` above 2 needs the nearest classifier; a bad value is a usage error (exit 2).
#[test]
fn detail_is_checked() {
    let dir = tempfile::tempdir().expect("tmp");
    for args in [
        vec!["--detail", "3"],
        vec!["--detail", "5", "--classifier", "nearest"],
        vec!["--detail", "1"],
    ] {
        let out = dir.path().join("m.png");
        let o = run(bin()
            .args(["render", "-q"])
            .args(&args)
            .arg("--input")
            .arg(photo("chelsea.png"))
            .arg("--output")
            .arg(&out));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} left an output");
    }
}
