//! Steady emoji on a still scene: camera noise must not make tiles flicker, while a moving
//! object's tiles update in the very next frame.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

mod common;

use std::time::Duration;

use emojicam::pipeline::{Pipeline, Settings, DEFAULT_CHANGE_THRESHOLD};
use emojicam::{Frame, Stamp};

fn photo_frame() -> Frame {
    let dir = common::root().join("tests/data/photos");
    let mut photos: Vec<_> = std::fs::read_dir(dir)
        .expect("photos")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
        .collect();
    photos.sort();
    let img = image::open(&photos[0]).expect("photo").to_rgba8();
    Frame::new(img.width(), img.height(), img.into_raw())
}

fn changed_share(a: &[u32], b: &[u32]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / a.len() as f64
}

/// `base` moved by (dx, dy) px (edges repeated): a shaking camera.
fn shifted(base: &Frame, dx: i32, dy: i32) -> Frame {
    let (w, h) = (base.width as i32, base.height as i32);
    let mut rgba = Vec::with_capacity(base.rgba.len());
    for y in 0..h {
        for x in 0..w {
            let p = base.pixel((x - dx).clamp(0, w - 1) as u32, (y - dy).clamp(0, h - 1) as u32);
            rgba.extend_from_slice(&p);
        }
    }
    Frame::new(base.width, base.height, rgba)
}

fn flicker(threshold: Option<u8>, base: &Frame) -> f64 {
    flicker_over(threshold, &(0..12).map(|i| base.with_noise(i, 3.0)).collect::<Vec<_>>())
}

fn flicker_over(threshold: Option<u8>, frames: &[Frame]) -> f64 {
    let mut p = Pipeline::new(Settings {
        change_threshold: threshold,
        ..Settings::default()
    })
    .expect("pipeline");
    let mut prev: Option<Vec<u32>> = None;
    let mut shares = Vec::new();
    for (seq, f) in (0u64..).zip(frames) {
        let mosaic = p.classify(f, Stamp::new(seq, None)).expect("classify");
        if let Some(prev) = &prev {
            shares.push(changed_share(prev, &mosaic.emoji));
        }
        prev = Some(mosaic.emoji);
    }
    shares.iter().sum::<f64>() / shares.len() as f64
}

#[test]
fn still_scene_with_noise_is_steady() {
    let base = photo_frame();
    let naive = flicker(None, &base);
    let ours = flicker(Some(DEFAULT_CHANGE_THRESHOLD), &base);
    eprintln!(
        "flicker per frame on a still photo with sigma-3 noise: naive {:.2}%, with change threshold {:.2}%",
        naive * 100.0,
        ours * 100.0
    );
    assert!(ours <= 0.01, "flicker {:.2}% > 1%", ours * 100.0);
    assert!(naive > ours, "the naive per-frame choice flickers more");
}

/// A shaking camera moves every edge by a pixel or two: tiles re-classified then keep their
/// emoji unless another is clearly better, so near-equal choices stop taking turns.
#[test]
fn shaking_camera_flickers_less_than_naive() {
    let base = photo_frame();
    let shake = [
        (0, 0),
        (2, 1),
        (1, -1),
        (-1, 2),
        (2, 2),
        (0, -2),
        (-2, 0),
        (1, 1),
        (-1, -1),
        (2, 0),
    ];
    let frames: Vec<Frame> = shake
        .iter()
        .enumerate()
        .map(|(i, &(dx, dy))| shifted(&base, dx, dy).with_noise(i as u64, 3.0))
        .collect();
    let naive = flicker_over(None, &frames);
    let ours = flicker_over(Some(DEFAULT_CHANGE_THRESHOLD), &frames);
    eprintln!(
        "flicker per frame with camera shake: naive {:.2}%, steady {:.2}%",
        naive * 100.0,
        ours * 100.0
    );
    assert!(
        ours < 0.6 * naive,
        "steady {:.2}% vs naive {:.2}%",
        ours * 100.0,
        naive * 100.0
    );
}

/// Over black (over each tile's own colour an old emoji drawn over the square's new colour can
/// be within the keep margin of the fresh pick, and is then kept by design).
#[test]
fn moving_object_updates_next_frame() {
    let base = photo_frame();
    let black = emojicam::gpu::Background::Color([0, 0, 0]);
    let mut steady = Pipeline::new(Settings {
        change_threshold: Some(DEFAULT_CHANGE_THRESHOLD),
        background: black,
        ..Settings::default()
    })
    .expect("pipeline");
    let mut fresh = Pipeline::new(Settings {
        change_threshold: None,
        background: black,
        ..Settings::default()
    })
    .expect("pipeline");
    steady
        .classify(&base.with_noise(0, 3.0), Stamp::default())
        .expect("classify");
    // A bright square appears and moves right by 40 px per frame.
    for step in 1..4u32 {
        let mut f = base.with_noise(step as u64, 3.0);
        let (x0, y0) = (20 + step * 40, 40);
        for y in y0..y0 + 60 {
            for x in x0..x0 + 60 {
                let i = ((y * f.width + x) * 4) as usize;
                f.rgba[i..i + 3].copy_from_slice(&[250, 40, 200]);
            }
        }
        let stamp = Stamp::new(step as u64, None);
        let steady_mosaic = steady.classify(&f, stamp).expect("classify");
        let fresh_mosaic = fresh.classify(&f, stamp).expect("classify");
        let grid = steady_mosaic.grid;
        // Tiles fully inside the square must show what a fresh classification picks now.
        let mut checked = 0;
        for r in 0..grid.rows {
            for c in 0..grid.cols {
                let (tx, ty) = (c * grid.tile, r * grid.tile);
                if tx >= x0 && tx + grid.tile <= x0 + 60 && ty >= y0 && ty + grid.tile <= y0 + 60 {
                    let i = (r * grid.cols + c) as usize;
                    assert_eq!(
                        steady_mosaic.emoji[i], fresh_mosaic.emoji[i],
                        "tile ({c},{r}) at step {step}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 16);
    }
}

/// Pipelined classification (the GPU tiles frame N+1 while frame N is classified) gives every
/// frame the emoji a one-at-a-time classification gives.
#[test]
fn pipelined_frames_match_one_at_a_time() {
    let base = photo_frame();
    let frames: Vec<Frame> = (0..5).map(|i| base.with_noise(i, 8.0)).collect();
    let settings = || Settings {
        change_threshold: None,
        ..Settings::default()
    };
    let mut one = Pipeline::new(settings()).expect("pipeline");
    let stamp = |i: usize| Stamp::new(i as u64, Some(Duration::from_millis(40 * i as u64)));
    let want: Vec<Vec<u32>> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| one.classify(f, stamp(i)).expect("classify").emoji)
        .collect();
    let mut piped = Pipeline::new(settings()).expect("pipeline");
    let mut got = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        // Each result is an owned mosaic that outlives the next push.
        got.extend(piped.push(f, stamp(i)).expect("push"));
        assert!(
            piped.classify(f, stamp(i)).is_err(),
            "classify while a frame is in flight is refused"
        );
    }
    got.push(piped.flush().expect("flush").expect("the last frame"));
    assert!(piped.flush().expect("flush").is_none());
    assert_eq!(got.len(), frames.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.stamp, stamp(i), "frame {i} comes out with its own stamp");
        assert_eq!(&g.emoji, w, "frame {i}");
    }
}

/// A frame budget too small for every changed tile: the tiles that changed most are classified
/// first, the rest follow in the next frames, and once caught up the mosaic is the one
/// classifying every changed tile at once gives. A still scene never needs the budget.
#[test]
fn frame_budget_carries_the_rest_to_the_next_frames() {
    let base = photo_frame();
    let settings = |budget: Option<Duration>| Settings {
        change_threshold: Some(DEFAULT_CHANGE_THRESHOLD),
        frame_budget: budget,
        ..Settings::default()
    };
    let mut all = Pipeline::new(settings(None)).expect("pipeline");
    let mut budgeted = Pipeline::new(settings(Some(Duration::from_micros(1)))).expect("pipeline");
    // A still, noisy scene first: nothing is carried.
    for i in 0..4u64 {
        let f = base.with_noise(i, 3.0);
        all.classify(&f, Stamp::new(i, None)).expect("classify");
        budgeted.classify(&f, Stamp::new(i, None)).expect("classify");
        assert_eq!(budgeted.times().carried, 0, "still frame {i}");
    }
    // Then the camera turns: every tile changes; the picture stays there.
    let turned = shifted(&base, 37, 23).with_noise(9, 3.0);
    let want = all.classify(&turned, Stamp::new(4, None)).expect("classify").emoji;
    let mut got = Vec::new();
    let mut carried = Vec::new();
    let mut colors = budgeted
        .classify(&base.with_noise(4, 3.0), Stamp::new(4, None))
        .expect("classify")
        .tile_colors;
    for i in 0..40u64 {
        let mosaic = budgeted.classify(&turned, Stamp::new(5 + i, None)).expect("classify");
        let t = budgeted.times();
        carried.push(t.carried);
        // Carried tiles keep the colour they were classified against: only the classified
        // ones can change.
        let recoloured = mosaic.tile_colors.iter().zip(&colors).filter(|(a, b)| a != b).count();
        assert!(recoloured <= t.classified, "{recoloured} recoloured, {t:?}");
        colors = mosaic.tile_colors;
        got = mosaic.emoji;
        if i == 0 {
            assert!(t.carried > 0 && t.classified > 0 && t.classified < t.tiles, "{t:?}");
        }
        if t.carried == 0 {
            break;
        }
    }
    eprintln!("changed tiles carried to the next frame, frame by frame: {carried:?}");
    assert!(carried.windows(2).all(|w| w[1] < w[0]), "{carried:?}");
    assert_eq!(carried.last(), Some(&0), "caught up: {carried:?}");
    assert_eq!(
        got, want,
        "once caught up, the same mosaic as classifying every tile at once"
    );
}

/// A pipeline with the tile background and the default change threshold.
fn tile_background_pipeline() -> Pipeline {
    Pipeline::new(Settings {
        change_threshold: Some(DEFAULT_CHANGE_THRESHOLD),
        background: emojicam::gpu::Background::Tile,
        ..Settings::default()
    })
    .expect("pipeline")
}

/// With the tile background (the default), a still noisy scene is pixel-still: a tile keeps
/// the colour it was classified against until it is classified again, so consecutive mosaics
/// are identical pixel for pixel and the renderer redraws nothing.
#[test]
fn still_noisy_scene_with_tile_background_is_pixel_still() {
    let base = photo_frame();
    let mut p = tile_background_pipeline();
    let mut prev: Option<(Vec<[u8; 3]>, Frame)> = None;
    for seq in 0..8u64 {
        let mosaic = p
            .classify(&base.with_noise(seq, 3.0), Stamp::new(seq, None))
            .expect("classify");
        let image = p.render(&mosaic, None).expect("render");
        if let Some((colors, last)) = &prev {
            assert_eq!(&mosaic.tile_colors, colors, "frame {seq}: tile colours");
            assert!(image.rgba == last.rgba, "frame {seq}: the rendered mosaic moved");
            assert_eq!(
                p.renderer().redrawn(),
                Some(0),
                "frame {seq}: a still scene redraws no tile"
            );
        }
        prev = Some((mosaic.tile_colors, image));
    }
}

/// A tile that changed is classified again and takes its new colour (in the rendered mosaic
/// too, drawn by a partial redraw); the tiles around it keep theirs.
#[test]
fn changed_tile_gets_its_new_colour() {
    let base = photo_frame();
    let mut p = tile_background_pipeline();
    let first = p
        .classify(&base.with_noise(0, 3.0), Stamp::default())
        .expect("classify");
    p.render(&first, None).expect("render");
    let mut f = base.with_noise(1, 3.0);
    let (x0, y0, side) = (100u32, 60u32, 60u32);
    for y in y0..y0 + side {
        for x in x0..x0 + side {
            let i = ((y * f.width + x) * 4) as usize;
            f.rgba[i..i + 3].copy_from_slice(&[250, 40, 200]);
        }
    }
    let second = p.classify(&f, Stamp::new(1, None)).expect("classify");
    let image = p.render(&second, None).expect("render");
    let grid = second.grid;
    let (mut inside, mut changed) = (0, 0);
    for r in 0..grid.rows {
        for c in 0..grid.cols {
            let i = (r * grid.cols + c) as usize;
            let (tx, ty) = (c * grid.tile, r * grid.tile);
            let within = |t: u32, lo: u32| t + grid.tile > lo && t < lo + side;
            if tx >= x0 && tx + grid.tile <= x0 + side && ty >= y0 && ty + grid.tile <= y0 + side {
                inside += 1;
                let [r8, g8, b8] = second.tile_colors[i];
                assert!(
                    r8.abs_diff(250) <= 3 && g8.abs_diff(40) <= 3 && b8.abs_diff(200) <= 3,
                    "tile ({c},{r}) inside the square has colour {:?}",
                    second.tile_colors[i]
                );
            } else if !(within(tx, x0) && within(ty, y0)) {
                assert_eq!(second.tile_colors[i], first.tile_colors[i], "tile ({c},{r}) outside");
            }
            if second.tile_colors[i] != first.tile_colors[i] || second.emoji[i] != first.emoji[i] {
                changed += 1;
            }
        }
    }
    assert!(inside >= 16, "{inside} tiles inside the square");
    assert_eq!(
        p.renderer().redrawn(),
        Some(changed),
        "only the changed tiles are redrawn"
    );
    // The redrawn image is the one a whole redraw gives.
    let mut whole = Pipeline::new(p.settings().clone()).expect("pipeline");
    let want =
        whole
            .renderer()
            .render_to_frame(&emojicam::gpu::renderer::Scene::of(&second), image.width, image.height);
    assert!(
        want.expect("render").rgba == image.rgba,
        "partial redraw differs from a whole one"
    );
}
