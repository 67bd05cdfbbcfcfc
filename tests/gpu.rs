//! GPU passes against CPU references, on whatever adapter is present (lavapipe in CI).

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use emojicam::atlas::{Atlas, EmojiInfo};
use emojicam::classify::nearest::{error, NearestClassifier};
use emojicam::classify::{Classifier, PATCH_BYTES};
use emojicam::domain::Grid;
use emojicam::domain::{likeness, quadrant_sums};
use emojicam::frame::{Matrix, PixelFormat, Yuv};
use emojicam::gpu::renderer::{Fill, RenderPath, Scene};
use emojicam::gpu::tiler::{quadrant_means, NEVER_CLASSIFIED};
use emojicam::gpu::{AdapterPreference, Background, GpuContext, Renderer, Tiler, Tiles};
use emojicam::source::{Source, VideoSource};
use emojicam::{Error, Frame};

fn ctx() -> Arc<GpuContext> {
    static CTX: OnceLock<Arc<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        std::env::set_var("XDG_RUNTIME_DIR", common::xdg_dir());
        let ctx = GpuContext::new(AdapterPreference::Auto).expect("a GPU adapter (lavapipe at least)");
        eprintln!("adapter: {}", ctx.describe());
        Arc::new(ctx)
    })
    .clone()
}

fn atlas() -> &'static Atlas {
    static ATLAS: OnceLock<Atlas> = OnceLock::new();
    ATLAS.get_or_init(|| Atlas::embedded().expect("embedded atlas"))
}

/// Deterministic pseudo-random bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// A gradient with noise and a few hard edges: something like a photo, but reproducible.
fn test_frame(w: u32, h: u32, seed: u64) -> Frame {
    let mut rng = Rng(seed);
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let noise = rng.byte() as u32 % 48;
            let edge = if (x / 17 + y / 11) % 3 == 0 { 90 } else { 0 };
            rgba.extend_from_slice(&[
                ((x * 255 / w.max(1) + noise) % 256) as u8,
                ((y * 255 / h.max(1) + edge) % 256) as u8,
                ((x + y) * 3 % 256) as u8 ^ (noise as u8),
                255,
            ]);
        }
    }
    Frame::new(w, h, rgba)
}

/// The tiler's definition, in integer tenths of a pixel so it can be matched exactly.
fn cpu_patches(frame: &Frame, t: u32) -> Vec<u8> {
    let span = |origin: u32, p: u32, size: u32| {
        let lo = origin * 10 + p * t;
        let limit = size * 10;
        if lo >= limit {
            (limit - 10, limit)
        } else {
            (lo, (lo + t).min(limit))
        }
    };
    let overlap = |i: u32, (a, b): (u32, u32)| b.min(i * 10 + 10).saturating_sub(a.max(i * 10));
    let (cols, rows) = (frame.width.div_ceil(t), frame.height.div_ceil(t));
    let mut out = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            for py in 0..10 {
                for px in 0..10 {
                    let sx = span(c * t, px, frame.width);
                    let sy = span(r * t, py, frame.height);
                    let mut sum = [0u64; 3];
                    let mut area = 0u64;
                    for y in sy.0 / 10..sy.1.div_ceil(10) {
                        for x in sx.0 / 10..sx.1.div_ceil(10) {
                            let w = (overlap(y, sy) * overlap(x, sx)) as u64;
                            let p = frame.pixel(x, y);
                            for ch in 0..3 {
                                sum[ch] += p[ch] as u64 * w;
                            }
                            area += w;
                        }
                    }
                    for s in sum {
                        out.push(((s + area / 2) / area) as u8);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn tiler_matches_cpu_area_average_exactly() {
    let mut tiler = Tiler::new(ctx(), 10).unwrap();
    tiler.keep_patches(true);
    let mut tiles = Tiles::default();
    for (w, h, seed) in [(203u32, 117u32, 1u64), (64, 64, 2), (5, 9, 3)] {
        let frame = test_frame(w, h, seed);
        for t in [4u32, 7, 10, 13, 16, 64] {
            tiler.set_tile(t).unwrap();
            tiler.tile(&frame, &mut tiles).unwrap();
            assert_eq!((tiles.grid.cols, tiles.grid.rows), (w.div_ceil(t), h.div_ceil(t)));
            assert_eq!(tiles.patches.len(), tiles.len() * PATCH_BYTES);
            let want = cpu_patches(&frame, t);
            if let Some(i) = (0..want.len()).find(|&i| want[i] != tiles.patches[i]) {
                panic!(
                    "{w}x{h} tile {t}: byte {i} (tile {}, pixel {}, channel {}) is {} not {}",
                    i / PATCH_BYTES,
                    i % PATCH_BYTES / 3,
                    i % 3,
                    tiles.patches[i],
                    want[i]
                );
            }
        }
    }
}

#[test]
fn tiler_patch_layout() {
    // With 10 px tiles every patch pixel is one source pixel: the layout is visible directly.
    let (w, h) = (30u32, 20u32);
    let mut rgba = Vec::new();
    for y in 0..h {
        for x in 0..w {
            rgba.extend_from_slice(&[x as u8 * 8, y as u8 * 12, (x + y) as u8, 255]);
        }
    }
    let frame = Frame::new(w, h, rgba);
    let mut tiler = Tiler::new(ctx(), 10).unwrap();
    tiler.keep_patches(true);
    let mut tiles = Tiles::default();
    tiler.tile(&frame, &mut tiles).unwrap();
    assert!(
        tiler.frame_view().is_none(),
        "the Rgba8 frame is uploaded only when asked for"
    );
    tiler.keep_frame_view(true);
    tiler.tile(&frame, &mut tiles).unwrap();
    assert_eq!((tiles.grid.cols, tiles.grid.rows, tiles.grid.tile), (3, 2, 10));
    for r in 0..2u32 {
        for c in 0..3u32 {
            let patch = tiles.patch((r * 3 + c) as usize);
            for py in 0..10u32 {
                for px in 0..10u32 {
                    let (x, y) = (c * 10 + px, r * 10 + py);
                    let i = ((py * 10 + px) * 3) as usize;
                    assert_eq!(
                        &patch[i..i + 3],
                        &frame.pixel(x, y)[..3],
                        "tile ({c},{r}) pixel ({px},{py})"
                    );
                }
            }
        }
    }
    assert!(tiler.frame_view().is_some());
}

#[test]
fn tiler_reports_changes_since_accept() {
    let mut tiler = Tiler::new(ctx(), 10).unwrap();
    tiler.keep_patches(true);
    let mut tiles = Tiles::default();
    let a = test_frame(40, 30, 7);
    tiler.tile(&a, &mut tiles).unwrap();
    assert!(tiles.change.iter().all(|&d| d == NEVER_CLASSIFIED));
    // The GPU's quadrant means are the CPU definition's.
    for t in 0..tiles.len() {
        assert_eq!(tiles.means[t], quadrant_means(tiles.patch(t)), "tile {t}");
    }
    tiler.accept_all(&tiles);
    tiler.tile(&a, &mut tiles).unwrap();
    assert!(tiles.change.iter().all(|&d| d == 0), "{:?}", tiles.change);

    // Paint tile (2, 1) white: only it changes, by a lot.
    let mut b = a.clone();
    for y in 10..20 {
        for x in 20..30 {
            let i = ((y * 40 + x) * 4) as usize;
            b.rgba[i..i + 3].copy_from_slice(&[255, 255, 255]);
        }
    }
    let changed_tile = 4 + 2;
    // Split submit/read, as the pipeline uses it.
    tiler.submit(&b).unwrap();
    tiler.read(&mut tiles).unwrap();
    for (i, &d) in tiles.change.iter().enumerate() {
        if i == changed_tile {
            assert!(d > 50, "changed tile reports {d}");
        } else {
            assert_eq!(d, 0, "tile {i}");
        }
    }
    assert_eq!(tiles.changed(4).collect::<Vec<_>>(), vec![changed_tile as u32]);
    // Not accepted: still compared with frame a.
    let b_tiles = tiles.clone();
    tiler.tile(&b, &mut tiles).unwrap();
    assert_eq!(tiles.changed(4).collect::<Vec<_>>(), vec![changed_tile as u32]);
    // Pipelined: frame a is already in flight when b's tiles are accepted. The accept takes
    // effect from the next submit on: a in flight is still compared with a, the next a with b.
    tiler.submit(&a).unwrap();
    tiler.accept(&b_tiles, &[changed_tile as u32]);
    tiler.read(&mut tiles).unwrap();
    assert!(tiles.change.iter().all(|&d| d == 0), "{:?}", tiles.change);
    tiler.tile(&a, &mut tiles).unwrap();
    assert_eq!(tiles.changed(4).collect::<Vec<_>>(), vec![changed_tile as u32]);
    tiler.tile(&b, &mut tiles).unwrap();
    assert!(tiles.change.iter().all(|&d| d == 0), "{:?}", tiles.change);

    // A new tile size starts over.
    tiler.set_tile(8).unwrap();
    tiler.tile(&b, &mut tiles).unwrap();
    assert!(tiles.change.iter().all(|&d| d == NEVER_CLASSIFIED));
}

#[test]
fn tiler_without_patches_reads_the_same_means_and_change() {
    let (mut with, mut without) = (Tiler::new(ctx(), 10).unwrap(), Tiler::new(ctx(), 10).unwrap());
    with.keep_patches(true);
    let (mut a, mut b) = (Tiles::default(), Tiles::default());
    for (tile, (w, h, seed)) in [
        (10, (203u32, 117u32, 1u64)),
        (16, (64, 64, 2)),
        (10, (5, 9, 3)),
        (14, (203, 117, 4)),
        (7, (50, 30, 5)),
    ] {
        with.set_tile(tile).unwrap();
        without.set_tile(tile).unwrap();
        let frame = test_frame(w, h, seed);
        with.tile(&frame, &mut a).unwrap();
        without.tile(&frame, &mut b).unwrap();
        assert_eq!(a.patches.len(), a.len() * PATCH_BYTES);
        assert!(b.patches.is_empty(), "patches read back unasked");
        assert_eq!((a.grid, &a.change), (b.grid, &b.change), "{w}x{h} @{tile}");
        // Without patches, whole tiles of even size other than 10 take the exact mean of each
        // quadrant's pixels: within one level of the patch's (which rounds every patch pixel).
        assert_eq!(b.means, cpu_rgba_quads(&frame, tile), "{w}x{h} @{tile}");
        let limit = if tile == 10 { 0 } else { 1 };
        assert_within(&a.means, &b.means, limit, &format!("{w}x{h} @{tile}"));
        for t in 0..a.len() {
            assert_eq!(a.means[t], quadrant_means(a.patch(t)), "tile {t}");
        }
    }
    // Switching patches on or off keeps what was accepted as the reference.
    let frame = test_frame(40, 30, 7);
    without.tile(&frame, &mut b).unwrap();
    without.accept_all(&b);
    without.keep_patches(true);
    without.tile(&frame, &mut b).unwrap();
    assert_eq!(b.patches.len(), b.len() * PATCH_BYTES);
    assert!(b.change.iter().all(|&d| d == 0), "{:?}", b.change);
    without.keep_patches(false);
    without.tile(&frame, &mut b).unwrap();
    assert!(b.patches.is_empty());
    assert!(b.change.iter().all(|&d| d == 0), "{:?}", b.change);
}

#[test]
fn tiler_rejects_bad_tile_sizes() {
    let mut tiler = Tiler::new(ctx(), 10).unwrap();
    for t in [0, 3, 65, 1000] {
        assert!(matches!(Tiler::new(ctx(), t), Err(Error::Usage(_))), "tile {t}");
        assert!(matches!(tiler.set_tile(t), Err(Error::Usage(_))), "tile {t}");
        assert_eq!(tiler.tile_size(), 10, "a refused size changes nothing");
    }
}

/// Straight-alpha cell pixels -> premultiplied, box-downsampled to `size`, over `bg`.
fn cpu_cell(atlas: &Atlas, index: u32, size: u32, bg: [u8; 3]) -> Vec<[f32; 3]> {
    let cell = atlas.cell;
    let px = atlas.cell_rgba(index);
    let k = cell / size;
    let mut out = Vec::new();
    for y in 0..size {
        for x in 0..size {
            let mut sum = [0f32; 4];
            for dy in 0..k {
                for dx in 0..k {
                    let i = (((y * k + dy) * cell + x * k + dx) * 4) as usize;
                    let a = px[i + 3] as f32 / 255.0;
                    for c in 0..3 {
                        sum[c] += px[i + c] as f32 * a;
                    }
                    sum[3] += a;
                }
            }
            let n = (k * k) as f32;
            out.push([0, 1, 2].map(|c| sum[c] / n + (1.0 - sum[3] / n) * bg[c] as f32));
        }
    }
    out
}

const PATHS: [RenderPath; 2] = [RenderPath::Quads, RenderPath::Compute];

#[test]
fn renderer_draws_each_tiles_emoji_over_its_background() {
    for path in PATHS {
        draws_each_tiles_emoji(path);
    }
}

fn draws_each_tiles_emoji(path: RenderPath) {
    let atlas = atlas();
    let mut renderer = Renderer::new(ctx(), atlas).unwrap();
    renderer.set_path(path);
    // 8 px tiles drawn 2x: 16 px on screen, exactly mip level 2 of the 64 px cells.
    let grid = Grid {
        cols: 4,
        rows: 3,
        tile: 8,
        src_width: 32,
        src_height: 24,
    };
    let emoji: Vec<u32> = (0..12).map(|i| i * 311 % atlas.count()).collect();
    let colors: Vec<[u8; 3]> = (0..12).map(|i| [i * 20, 255 - i * 20, 128]).collect();
    for background in [
        Background::parse("black").unwrap(),
        Background::parse("white").unwrap(),
        Background::parse("#20a0ff").unwrap(),
        Background::parse("tile").unwrap(),
    ] {
        let scene = Scene {
            grid,
            emoji: &emoji,
            fill: Fill::new(background, &colors),
        };
        let frame = renderer.render_to_frame(&scene, 64, 48).unwrap();
        assert_eq!((frame.width, frame.height), (64, 48));
        let mut worst = 0f32;
        for t in 0..12u32 {
            let bg = match background {
                Background::Color(c) => c,
                Background::Tile => colors[t as usize],
            };
            let want = cpu_cell(atlas, emoji[t as usize], 16, bg);
            let (x0, y0) = (t % 4 * 16, t / 4 * 16);
            for y in 0..16 {
                for x in 0..16 {
                    let got = frame.pixel(x0 + x, y0 + y);
                    let w = want[(y * 16 + x) as usize];
                    for c in 0..3 {
                        worst = worst.max((got[c] as f32 - w[c]).abs());
                    }
                }
            }
        }
        eprintln!("{path:?} {background:?}: worst channel error {worst}");
        assert!(worst <= 3.0, "{path:?} {background:?}: worst channel error {worst}");
    }
}

#[test]
fn renderer_any_output_size_and_transparent_background() {
    for path in PATHS {
        any_output_size(path);
    }
}

fn any_output_size(path: RenderPath) {
    let atlas = atlas();
    let mut renderer = Renderer::new(ctx(), atlas).unwrap();
    renderer.set_path(path);
    // A fully transparent region of the atlas is not guaranteed; use the corner pixel of an
    // emoji with low coverage, which Noto leaves transparent.
    let sparse = atlas
        .emoji
        .iter()
        .filter(|e| atlas.cell_rgba(e.index)[3] == 0)
        .min_by(|a, b| a.coverage.total_cmp(&b.coverage))
        .expect("an emoji with a transparent corner")
        .index;
    let grid = Grid {
        cols: 3,
        rows: 2,
        tile: 10,
        src_width: 25, // partial last column
        src_height: 20,
    };
    let emoji = vec![sparse; 6];
    for (out_w, out_h) in [(50, 40), (101, 37), (25, 20), (7, 5)] {
        let scene = Scene {
            grid,
            emoji: &emoji,
            fill: Fill::Color([10, 200, 30]),
        };
        let frame = renderer.render_to_frame(&scene, out_w, out_h).unwrap();
        assert_eq!(
            (frame.width, frame.height, frame.rgba.len() as u32),
            (out_w, out_h, out_w * out_h * 4)
        );
        if out_w >= 25 {
            assert_eq!(frame.pixel(0, 0), [10, 200, 30, 255], "{path:?} {out_w}x{out_h}");
        }
    }
    // The tile background needs colours; wrong emoji counts are errors, not panics.
    let bad = Scene {
        grid,
        emoji: &emoji,
        fill: Fill::Tiles(&[]),
    };
    assert!(renderer.render_to_frame(&bad, 10, 10).is_err());
    let short = Scene {
        grid,
        emoji: &emoji[..3],
        fill: Fill::Color([0, 0, 0]),
    };
    assert!(renderer.render_to_frame(&short, 10, 10).is_err());
    let out_of_atlas = vec![atlas.count(); 6];
    let oob = Scene {
        emoji: &out_of_atlas,
        ..short
    };
    assert!(renderer.render_to_frame(&oob, 10, 10).is_err());
}

/// The compute path draws what the quad path draws, at whole and fractional tile sizes, and
/// keeps every tile's mean colour (what the likeness ruler measures).
#[test]
fn render_paths_agree() {
    let atlas = atlas();
    let mut renderer = Renderer::new(ctx(), atlas).unwrap();
    let grid = Grid {
        cols: 13,
        rows: 9,
        tile: 10,
        src_width: 127, // partial last column and row
        src_height: 83,
    };
    let emoji: Vec<u32> = (0..grid.tiles() as u32).map(|i| i * 131 % atlas.count()).collect();
    let colors: Vec<[u8; 3]> = (0..grid.tiles() as u32)
        .map(|i| [(i * 37) as u8, (i * 91) as u8, (i * 13) as u8])
        .collect();
    for (w, h) in [(127, 83), (254, 166), (300, 200), (1000, 640), (64, 41)] {
        let scene = Scene {
            grid,
            emoji: &emoji,
            fill: Fill::Tiles(&colors),
        };
        let mut frames = Vec::new();
        for path in PATHS {
            renderer.set_path(path);
            frames.push(renderer.render_to_frame(&scene, w, h).unwrap());
        }
        let (q, c) = (&frames[0], &frames[1]);
        assert_eq!((c.width, c.height), (w, h));
        // Whole tiles at whole pixels: each path's tile mean against the emoji's true mean
        // colour over the tile's background.
        let (tw, th) = (w * 10 / 127, h * 10 / 83);
        let mut worst_mean = [0f64; 2];
        if tw * 127 == w * 10 && th * 83 == h * 10 {
            for t in 0..grid.tiles() as u32 {
                let (col, r) = (t % grid.cols, t / grid.cols);
                if col + 1 == grid.cols || r + 1 == grid.rows {
                    continue;
                }
                let want = true_mean(atlas, emoji[t as usize], colors[t as usize]);
                for (i, f) in [q, c].into_iter().enumerate() {
                    let mut sum = [0f64; 3];
                    for y in r * th..(r + 1) * th {
                        for x in col * tw..(col + 1) * tw {
                            let p = f.pixel(x, y);
                            for k in 0..3 {
                                sum[k] += p[k] as f64;
                            }
                        }
                    }
                    for k in 0..3 {
                        let got = sum[k] / (tw * th) as f64;
                        worst_mean[i] = worst_mean[i].max((got - want[k]).abs());
                    }
                }
            }
        }
        let mse = q
            .rgba
            .iter()
            .zip(&c.rgba)
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum::<f64>()
            / q.rgba.len() as f64;
        let psnr = 10.0 * (255f64.powi(2) / mse.max(1e-9)).log10();
        eprintln!(
            "{w}x{h}: paths differ by PSNR {psnr:.1} dB; worst tile mean error quads {:.2}, compute {:.2} levels",
            worst_mean[0], worst_mean[1]
        );
        assert!(
            psnr > 26.0,
            "{w}x{h}: compute path differs from quads: PSNR {psnr:.1} dB"
        );
        // Box-filtered cells keep each tile's mean colour exact up to rounding.
        assert!(
            worst_mean[1] < 1.5,
            "{w}x{h}: compute tile means off by {:.2} levels",
            worst_mean[1]
        );
    }
}

/// Redrawing only the tiles that changed gives the image a full redraw gives.
#[test]
fn partial_redraw_matches_full_redraw() {
    let atlas = atlas();
    let mut incremental = Renderer::new(ctx(), atlas).unwrap();
    incremental.set_path(RenderPath::Compute);
    let grid = Grid {
        cols: 13,
        rows: 9,
        tile: 10,
        src_width: 127,
        src_height: 83,
    };
    let n = grid.tiles() as u32;
    let colors: Vec<[u8; 3]> = (0..n).map(|i| [(i * 37) as u8, (i * 91) as u8, 40]).collect();
    for (w, h) in [(127, 83), (300, 200)] {
        for (step, changed_every) in [(0u32, 1u32), (1, 10), (2, 10), (3, 3), (4, 1000), (5, 2)] {
            // Frame `step`: every `changed_every`-th tile gets a new emoji.
            let emoji: Vec<u32> = (0..n)
                .map(|i| (i * 131 + if i % changed_every == 0 { step * 7 } else { 0 }) % atlas.count())
                .collect();
            let background = if step == 5 {
                Background::Tile
            } else {
                Background::Color([20, 40, 60])
            };
            let scene = Scene {
                grid,
                emoji: &emoji,
                fill: Fill::new(background, &colors),
            };
            let got = incremental.render_to_frame(&scene, w, h).unwrap();
            // A second target in between (a window beside a recording) keeps its own state.
            incremental.render_to_frame(&scene, w / 2, h / 2).unwrap();
            let mut fresh = Renderer::new(ctx(), atlas).unwrap();
            fresh.set_path(RenderPath::Compute);
            let want = fresh.render_to_frame(&scene, w, h).unwrap();
            assert!(
                got.rgba == want.rgba,
                "{w}x{h} step {step}: partial redraw differs from a full one"
            );
        }
    }
}

/// Reads an Rgba8 texture back, tightly packed.
fn read_texture(ctx: &GpuContext, texture: &wgpu::Texture) -> Vec<u8> {
    let (w, h) = (texture.width(), texture.height());
    let padded = (w * 4).next_multiple_of(256);
    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (padded * h) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded),
                rows_per_image: Some(h),
            },
        },
        wgpu::Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
    );
    ctx.queue.submit([encoder.finish()]);
    buffer.map_async(wgpu::MapMode::Read, .., |r| r.unwrap());
    ctx.device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let data = buffer.get_mapped_range(..).unwrap();
    data.chunks_exact(padded as usize)
        .flat_map(|row| row[..(w * 4) as usize].to_vec())
        .collect()
}

/// Two targets drawn in turn (a window and a recording) each keep their own partial redraws.
#[test]
fn partial_redraw_per_target() {
    let ctx = ctx();
    let atlas = atlas();
    let mut renderer = Renderer::new(ctx.clone(), atlas).unwrap();
    renderer.set_path(RenderPath::Compute);
    let grid = Grid {
        cols: 8,
        rows: 5,
        tile: 10,
        src_width: 80,
        src_height: 50,
    };
    let targets: Vec<(wgpu::Texture, wgpu::TextureView)> = [(80u32, 50u32), (160, 100)]
        .iter()
        .map(|&(w, h)| {
            let t = emojicam::gpu::texture_2d(
                &ctx.device,
                "target",
                (w, h),
                emojicam::gpu::renderer::OFFSCREEN_FORMAT,
                emojicam::gpu::renderer::TARGET_USAGE | wgpu::TextureUsages::COPY_SRC,
            );
            let v = t.create_view(&Default::default());
            (t, v)
        })
        .collect();
    let n = grid.tiles() as u32;
    for step in 0..4u32 {
        // Each step changes a few tiles (few enough for a partial redraw).
        let emoji: Vec<u32> = (0..n)
            .map(|i| (i * 131 + if i % 7 == step % 7 { step * 11 } else { 0 }) % atlas.count())
            .collect();
        let scene = Scene {
            grid,
            emoji: &emoji,
            fill: Fill::Color([90, 10, 10]),
        };
        for (texture, view) in &targets {
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            renderer.draw(&mut encoder, texture, view, &scene).unwrap();
            ctx.queue.submit([encoder.finish()]);
            let got = read_texture(&ctx, texture);
            let mut fresh = Renderer::new(ctx.clone(), atlas).unwrap();
            fresh.set_path(RenderPath::Compute);
            let want = fresh
                .render_to_frame(&scene, texture.width(), texture.height())
                .unwrap();
            assert!(
                got == want.rgba,
                "step {step}, {}x{} target",
                texture.width(),
                texture.height()
            );
        }
    }
}

/// The window's mosaic in the surface's BGRA format (copied onto the surface as it is) holds
/// the same pixels as the RGBA render, red and blue swapped, whole and partially redrawn.
#[test]
fn bgra_target_matches_rgba_render() {
    let ctx = ctx();
    assert!(
        ctx.device.features().contains(wgpu::Features::BGRA8UNORM_STORAGE),
        "lavapipe offers BGRA8UNORM_STORAGE and the device asks for it"
    );
    let atlas = atlas();
    let mut renderer = Renderer::new(ctx.clone(), atlas).unwrap();
    renderer.set_path(RenderPath::Compute);
    let grid = Grid {
        cols: 8,
        rows: 5,
        tile: 10,
        src_width: 80,
        src_height: 50,
    };
    let texture = emojicam::gpu::texture_2d(
        &ctx.device,
        "bgra target",
        (120, 75),
        wgpu::TextureFormat::Bgra8Unorm,
        emojicam::gpu::renderer::TARGET_USAGE | wgpu::TextureUsages::COPY_SRC,
    );
    let view = texture.create_view(&Default::default());
    let n = grid.tiles() as u32;
    for step in 0..2u32 {
        let emoji: Vec<u32> = (0..n)
            .map(|i| (i * 131 + if i % 7 == 0 { step * 11 } else { 0 }) % atlas.count())
            .collect();
        let scene = Scene {
            grid,
            emoji: &emoji,
            fill: Fill::Color([90, 10, 200]),
        };
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        renderer.draw(&mut encoder, &texture, &view, &scene).unwrap();
        ctx.queue.submit([encoder.finish()]);
        assert_eq!(
            renderer.redrawn().is_some(),
            step > 0,
            "step {step}: whole, then partial"
        );
        let mut got = read_texture(&ctx, &texture);
        for px in got.chunks_exact_mut(4) {
            px.swap(0, 2);
        }
        let mut fresh = Renderer::new(ctx.clone(), atlas).unwrap();
        fresh.set_path(RenderPath::Compute);
        let want = fresh.render_to_frame(&scene, 120, 75).unwrap();
        assert!(
            got == want.rgba,
            "step {step}: the BGRA mosaic differs from the RGBA one"
        );
    }
}

/// An emoji's mean colour composited over `bg`, from the full-resolution cell.
fn true_mean(atlas: &Atlas, index: u32, bg: [u8; 3]) -> [f64; 3] {
    let px = atlas.cell_rgba(index);
    let mut sum = [0f64; 4];
    for p in px.chunks_exact(4) {
        let a = p[3] as f64 / 255.0;
        for k in 0..3 {
            sum[k] += p[k] as f64 * a;
        }
        sum[3] += a;
    }
    let n = (px.len() / 4) as f64;
    [0, 1, 2].map(|k| sum[k] / n + (1.0 - sum[3] / n) * bg[k] as f64)
}

#[test]
fn background_parse() {
    assert_eq!(Background::parse("black").unwrap(), Background::Color([0, 0, 0]));
    assert_eq!(Background::parse("White").unwrap(), Background::Color([255, 255, 255]));
    assert_eq!(
        Background::parse("#20a0FF").unwrap(),
        Background::Color([0x20, 0xa0, 0xff])
    );
    assert_eq!(
        Background::parse("102030").unwrap(),
        Background::Color([0x10, 0x20, 0x30])
    );
    assert_eq!(Background::parse("tile").unwrap(), Background::Tile);
    for bad in ["", "#12345", "#1234567", "purple", "#gg0000"] {
        assert!(matches!(Background::parse(bad), Err(Error::Usage(_))), "{bad:?}");
    }
}

fn random_patches(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n * PATCH_BYTES);
    for i in 0..n {
        if i % 2 == 0 {
            out.extend((0..PATCH_BYTES).map(|_| rng.byte()));
        } else {
            // Smooth patches, more like photos: a base colour plus a gentle ramp.
            let base = [rng.byte(), rng.byte(), rng.byte()];
            for y in 0..10u32 {
                for x in 0..10u32 {
                    for b in base {
                        out.push(b.saturating_add((x * 3 + y * 2) as u8));
                    }
                }
            }
        }
    }
    out
}

/// Asserts that every tile got its nearest allowed emoji, the dimmed copies counted for dark
/// tiles only (`likeness::is_dark`); returns how many tiles
/// got a dimmed copy.
fn assert_nearest(atlas: &Atlas, patches: &[u8], got: &[u32], allowed: &[bool], bg: Background) -> usize {
    let features = atlas.features_2x2();
    let plain = atlas.plain_count() as usize;
    assert_eq!(got.len(), patches.len() / PATCH_BYTES);
    let mut dimmed = 0;
    for (t, patch) in patches.chunks_exact(PATCH_BYTES).enumerate() {
        let dark = likeness::is_dark(&emojicam::domain::quadrant_means(patch));
        let best = (0..features.len())
            .filter(|&i| allowed[i] && (dark || i < plain))
            .map(|i| error(&features[i], patch, bg))
            .fold(f32::INFINITY, f32::min);
        let g = got[t] as usize;
        assert!(allowed[g], "tile {t}: emoji {g} is not allowed");
        assert!(
            dark || g < plain,
            "tile {t}: a dimmed copy ({g}) for a tile that is not dark"
        );
        dimmed += usize::from(g >= plain);
        let e = error(&features[g], patch, bg);
        assert!(
            e <= best * 1.0001 + 0.01,
            "tile {t} ({bg:?}): GPU chose {g} with error {e}, best is {best}"
        );
    }
    dimmed
}

#[test]
fn nearest_equals_cpu_brute_force() {
    let atlas = atlas();
    // Bright, mid and dark tiles: a third at full range, a third halved (the `tile` backdrop's
    // fade, brightest channel 60..120) and a third quartered (mostly over black).
    let bright = random_patches(200, 11);
    let patches: Vec<u8> = [1u8, 2, 4]
        .iter()
        .flat_map(|&d| bright.iter().map(move |b| b / d))
        .collect();
    let all = vec![true; atlas.count() as usize];
    let mut out = Vec::new();
    for bg in [
        Background::Color([0, 0, 0]),
        Background::Color([255, 255, 255]),
        Background::Tile,
    ] {
        let mut nearest = NearestClassifier::new(ctx(), atlas, bg).unwrap();
        nearest.classify(&patches, &mut out).unwrap();
        let dimmed = assert_nearest(atlas, &patches, &out, &all, bg);
        // the quartered tiles are dark: over black, the dimmed copies fit many of them best
        if bg != Background::Color([255, 255, 255]) {
            assert!(dimmed >= 20, "{bg:?}: {dimmed} tiles got a dimmed copy");
        }
    }
}

#[test]
fn nearest_finer_detail_equals_cpu_brute_force() {
    // Every other tile dark (its patch quartered), so every workgroup holds tiles that search the
    // dimmed copies and tiles that do not. With k read from the uniform, lavapipe ran the loops
    // over the k x k cells once at k = 4 (each error from one cell; the astronaut photo at 15 dB
    // instead of 24 at --detail 4), which no test at detail 2 could see.
    let atlas = atlas();
    let plain = atlas.plain_count() as usize;
    let patches: Vec<u8> = random_patches(128, 23)
        .chunks_exact(PATCH_BYTES)
        .enumerate()
        .flat_map(|(t, p)| p.iter().map(move |&b| if t % 2 == 1 { b / 4 } else { b }))
        .collect();
    let all = vec![true; atlas.count() as usize];
    let mut out = Vec::new();
    for detail in [2u32, 3, 4] {
        let cells = (detail * detail) as usize;
        let features: Vec<Vec<[f32; 4]>> = (0..atlas.count())
            .map(|i| likeness::emoji_grid_features(&atlas.cell_rgba(i), atlas.cell, detail))
            .collect();
        for bg in [Background::Color([0, 0, 0]), Background::Tile] {
            let mut nearest = NearestClassifier::with_detail(ctx(), atlas, bg, detail).unwrap();
            nearest.set_allowed(&all).unwrap();
            nearest.classify(&patches, &mut out).unwrap();
            assert_eq!(out.len(), patches.len() / PATCH_BYTES);
            let mut dimmed = 0;
            for (t, patch) in patches.chunks_exact(PATCH_BYTES).enumerate() {
                let dark = likeness::is_dark(&emojicam::domain::quadrant_means(patch));
                // the objective once per tile: its grid means and backdrop, then every candidate
                let means = likeness::grid_means(patch, detail);
                let back = bg.behind(&emojicam::domain::quadrant_means(patch)).map(f32::from);
                let err = |f: &[[f32; 4]]| -> f32 {
                    (0..cells)
                        .flat_map(|c| (0..3).map(move |ch| (c, ch)))
                        .map(|(c, ch)| {
                            let e = means[c][ch] - (f[c][ch] + (1.0 - f[c][3]) * back[ch]);
                            e * e
                        })
                        .sum()
                };
                let best = (0..features.len())
                    .filter(|&i| dark || i < plain)
                    .map(|i| err(&features[i]))
                    .fold(f32::INFINITY, f32::min);
                let g = out[t] as usize;
                assert!(
                    dark || g < plain,
                    "detail {detail}, tile {t}: a dimmed copy for a bright tile"
                );
                dimmed += usize::from(g >= plain);
                let e = err(&features[g]);
                assert!(
                    e <= best * 1.0001 + 0.01,
                    "detail {detail}, tile {t} ({bg:?}, dark {dark}): GPU chose {g} with error {e}, best is {best}"
                );
            }
            assert!(
                dimmed >= 5,
                "detail {detail} {bg:?}: {dimmed} dark tiles got a dimmed copy"
            );
        }
    }
}

#[test]
fn nearest_respects_allowed_set() {
    let atlas = atlas();
    let patches = random_patches(130, 5);
    let bg = Background::Color([0, 0, 0]);
    let mut nearest = NearestClassifier::new(ctx(), atlas, bg).unwrap();
    let mut out = Vec::new();
    for set in ["hearts", "faces"] {
        let allowed = atlas.allowed(set).unwrap();
        nearest.set_allowed(&allowed).unwrap();
        nearest.classify(&patches, &mut out).unwrap();
        assert_nearest(atlas, &patches, &out, &allowed, bg);
    }
    assert!(matches!(atlas.allowed("no-such-set"), Err(Error::Usage(m)) if m.contains("hearts")));
    assert!(nearest.set_allowed(&vec![false; atlas.count() as usize]).is_err());
    assert!(nearest.set_allowed(&[true]).is_err());
    assert!(nearest.classify(&[0u8; 299], &mut out).is_err());
    nearest.classify(&[], &mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn embedded_atlas_is_consistent() {
    let atlas = atlas();
    assert_eq!(atlas.cell, 64);
    assert!(atlas.count() > 1000);
    assert!(atlas.set_names().contains(&"default"));
    let mips = atlas.premultiplied_mips();
    assert_eq!(mips.len(), 7, "64 px cells halve down to 1 px");
    let (w, h) = atlas.dimensions();
    assert_eq!((mips[0].0, mips[0].1), (w, h));
    assert_eq!((mips[6].0, mips[6].1), (w / 64, h / 64));
    for (mw, mh, px) in &mips {
        assert_eq!(px.len(), (mw * mh * 4) as usize);
    }
    let f = atlas.features_2x2();
    assert_eq!(f.len(), atlas.count() as usize);
    assert!(f.iter().flatten().all(|v| v.is_finite() && *v >= 0.0 && *v <= 255.0));
}

#[test]
fn atlas_from_parts_validates() {
    let info = |i: u32| EmojiInfo {
        index: i,
        unified: format!("{:X}", 0x1F600 + i),
        text: String::new(),
        name: format!("e{i}"),
        category: String::new(),
        subcategory: String::new(),
        coverage: 1.0,
        block: false,
        skin_tone: false,
        dim: 0,
        copy_of: None,
    };
    let image = image::RgbaImage::from_pixel(16, 8, image::Rgba([200, 100, 50, 128]));
    let sets = |v: Vec<u32>| BTreeMap::from([("all".to_string(), v)]);
    let ok = Atlas::from_parts(8, 2, image.clone(), vec![info(0), info(1)], sets(vec![0, 1])).unwrap();
    assert_eq!(ok.count(), 2);
    let f = ok.features_2x2();
    // 200 * 128/255 premultiplied; alpha 128/255.
    assert!((f[0][0] - 200.0 * 128.0 / 255.0).abs() < 0.01);
    assert!((f[0][3] - 128.0 / 255.0).abs() < 1e-6);
    let bad = |r: emojicam::Result<Atlas>| matches!(r, Err(Error::Atlas(_)));
    assert!(bad(Atlas::from_parts(
        8,
        2,
        image.clone(),
        vec![info(0), info(1)],
        sets(vec![2])
    )));
    assert!(bad(Atlas::from_parts(
        8,
        2,
        image.clone(),
        vec![info(0), info(1)],
        sets(vec![])
    )));
    assert!(bad(Atlas::from_parts(
        8,
        3,
        image.clone(),
        vec![info(0), info(1)],
        sets(vec![0])
    )));
    assert!(bad(Atlas::from_parts(
        8,
        1,
        image.clone(),
        vec![info(0), info(1)],
        sets(vec![0])
    )));
    assert!(bad(Atlas::from_parts(
        6,
        2,
        image.clone(),
        vec![info(0), info(1)],
        sets(vec![0])
    )));
    assert!(bad(Atlas::from_parts(
        8,
        2,
        image,
        vec![info(1), info(0)],
        sets(vec![0])
    )));
    assert!(bad(Atlas::from_bytes(b"not a png", b"{}")));
}

/// Timings for the report: `cargo test --release --test gpu -- --ignored --nocapture`.
#[test]
#[ignore]
fn timings_720p() {
    use std::time::Instant;
    let atlas = atlas();
    let frame = test_frame(1280, 720, 3);
    let mut tiler = Tiler::new(ctx(), 10).unwrap();
    tiler.keep_patches(true);
    let mut tiles = Tiles::default();
    tiler.tile(&frame, &mut tiles).unwrap();
    let t0 = Instant::now();
    for _ in 0..10 {
        tiler.tile(&frame, &mut tiles).unwrap();
    }
    eprintln!("tile 1280x720 @10: {:?}/frame", t0.elapsed() / 10);

    let mut nearest = NearestClassifier::new(ctx(), atlas, Background::Color([0, 0, 0])).unwrap();
    nearest.set_allowed(&atlas.allowed("default").unwrap()).unwrap();
    let mut out = Vec::new();
    nearest.classify(&tiles.patches, &mut out).unwrap();
    let t0 = Instant::now();
    for _ in 0..3 {
        nearest.classify(&tiles.patches, &mut out).unwrap();
    }
    eprintln!("nearest 9216 tiles x default set: {:?}/frame", t0.elapsed() / 3);

    let mut renderer = Renderer::new(ctx(), atlas).unwrap();
    let scene = Scene {
        grid: tiles.grid,
        emoji: &out,
        fill: Fill::Color([0, 0, 0]),
    };
    renderer.render_to_frame(&scene, 1280, 720).unwrap();
    let t0 = Instant::now();
    for _ in 0..10 {
        renderer.render_to_frame(&scene, 1280, 720).unwrap();
    }
    eprintln!("render 1280x720: {:?}/frame", t0.elapsed() / 10);
}

/// Upload + tile + readback of `frame` by two tilers taking turns, `rounds` rounds of 4 frames
/// after one warm-up round: each tiler's (min, median) ms per frame.
fn tile_in_turns(tilers: &mut [Tiler; 2], frame: &Frame, rounds: usize) -> [(f64, f64); 2] {
    let mut tiles = Tiles::default();
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..=rounds {
        for (k, tiler) in tilers.iter_mut().enumerate() {
            let t0 = std::time::Instant::now();
            for _ in 0..4 {
                tiler.tile(frame, &mut tiles).unwrap();
            }
            if round > 0 {
                times[k].push(t0.elapsed().as_secs_f64() * 1e3 / 4.0);
            }
        }
    }
    times.map(|mut v| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    })
}

/// Upload + tile + readback per frame with patches (the nearest classifier's input) and without
/// (only the quadrant means and change: the ONNX classifier's), the two tilers taking turns.
#[test]
#[ignore = "timing report, run by hand: cargo test --release --test gpu timings_tiler -- --ignored --nocapture"]
fn timings_tiler_patches_vs_quads() {
    for (w, h) in [(1280, 720), (1920, 1080)] {
        let frame = test_frame(w, h, 3);
        let mut tilers = [Tiler::new(ctx(), 10).unwrap(), Tiler::new(ctx(), 10).unwrap()];
        tilers[0].keep_patches(true);
        let [p, q] = tile_in_turns(&mut tilers, &frame, 15);
        eprintln!(
            "tile {w}x{h} @10, min / median ms per frame over 15 rounds of 4: patches {:.1} / {:.1}, \
             quads only {:.1} / {:.1} ({:.2}x / {:.2}x)",
            p.0,
            p.1,
            q.0,
            q.1,
            q.0 / p.0,
            q.1 / p.1
        );
    }
}

/// The window path: `encode` into a Bgra8UnormSrgb texture, as a surface would be, must show
/// the same sRGB bytes as the offscreen path.
#[test]
fn renderer_encode_into_srgb_surface_format_matches_offscreen() {
    let ctx = ctx();
    let atlas = atlas();
    let mut renderer = Renderer::new(ctx.clone(), atlas).unwrap();
    let grid = Grid {
        cols: 4,
        rows: 2,
        tile: 10,
        src_width: 40,
        src_height: 20,
    };
    let emoji: Vec<u32> = (0..8).map(|i| i * 97 % atlas.count()).collect();
    let scene = Scene {
        grid,
        emoji: &emoji,
        fill: Fill::Color([40, 90, 200]),
    };
    renderer.set_path(RenderPath::Quads);
    let offscreen = renderer.render_to_frame(&scene, 80, 40).unwrap();

    // Draw into the right half of a 160x40 surface-like texture.
    let (w, h) = (160u32, 40u32);
    let format = wgpu::TextureFormat::Bgra8UnormSrgb;
    let texture = emojicam::gpu::texture_2d(
        &ctx.device,
        "srgb target",
        (w, h),
        format,
        wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
    );
    let view = texture.create_view(&Default::default());
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    renderer
        .encode(
            &mut encoder,
            &view,
            format,
            [80.0, 0.0, 80.0, 40.0],
            &scene,
            Some(wgpu::Color::BLACK),
        )
        .unwrap();
    ctx.queue.submit([encoder.finish()]);
    let data = read_texture(&ctx, &texture);
    let mut worst = 0i32;
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) * 4) as usize;
            let bgra = &data[i..i + 4];
            let got = [bgra[2], bgra[1], bgra[0]];
            let want = if x < 80 {
                [0, 0, 0]
            } else {
                let p = offscreen.pixel(x - 80, y);
                [p[0], p[1], p[2]]
            };
            for c in 0..3 {
                worst = worst.max((got[c] as i32 - want[c] as i32).abs());
            }
        }
    }
    assert!(worst <= 1, "sRGB target differs from offscreen by {worst}");
}

#[test]
fn passes_can_move_to_the_pipeline_thread() {
    fn send<T: Send>() {}
    fn shared<T: Send + Sync>() {}
    send::<Tiler>();
    send::<Renderer>();
    send::<NearestClassifier>();
    shared::<GpuContext>();
}

/// `test_frame` as I420 planes (chroma of each 2x2 block from its top-left pixel), in `yuv`.
fn test_i420(w: u32, h: u32, seed: u64, yuv: Yuv) -> Frame {
    let rgb = test_frame(w, h, seed);
    let (wu, hu) = (w as usize, h as usize);
    let cw = wu.div_ceil(2);
    let mut planes = vec![0u8; wu * hu + 2 * cw * hu.div_ceil(2)];
    let (luma, chroma) = planes.split_at_mut(wu * hu);
    let (u, v) = chroma.split_at_mut(cw * hu.div_ceil(2));
    for y in 0..hu {
        for x in 0..wu {
            let [r, g, b, _] = rgb.pixel(x as u32, y as u32);
            // Any bytes will do; these keep the picture recognisable.
            luma[y * wu + x] = ((r as u32 * 66 + g as u32 * 129 + b as u32 * 25) / 256 + 16) as u8;
            if x % 2 == 0 && y % 2 == 0 {
                u[(y / 2) * cw + x / 2] = (128 + (b as i32 - g as i32) / 2) as u8;
                v[(y / 2) * cw + x / 2] = (128 + (r as i32 - g as i32) / 2) as u8;
            }
        }
    }
    Frame::i420(w, h, planes, yuv)
}

#[test]
fn tiler_converts_i420_as_the_cpu_does() {
    let mut tiler = Tiler::new(ctx(), 10).unwrap();
    tiler.keep_patches(true);
    let (mut from_yuv, mut from_rgba) = (Tiles::default(), Tiles::default());
    let colours = [
        Yuv {
            matrix: Matrix::Bt601,
            full_range: false,
        },
        Yuv {
            matrix: Matrix::Bt709,
            full_range: false,
        },
        Yuv {
            matrix: Matrix::Bt709,
            full_range: true,
        },
    ];
    for (w, h, seed) in [(203u32, 117u32, 1u64), (64, 64, 2), (5, 9, 3), (31, 1, 4)] {
        for yuv in colours {
            let frame = test_i420(w, h, seed, yuv);
            let rgba = frame.to_rgba().into_owned();
            for t in [4u32, 10, 16] {
                tiler.set_tile(t).unwrap();
                tiler.tile(&frame, &mut from_yuv).unwrap();
                tiler.tile(&rgba, &mut from_rgba).unwrap();
                assert_eq!(from_yuv.grid, from_rgba.grid);
                // The shader and the CPU compute in f32 alike; an FMA may move a half.
                let off: Vec<usize> = (0..from_rgba.patches.len())
                    .filter(|&i| from_yuv.patches[i] != from_rgba.patches[i])
                    .collect();
                let worst = off
                    .iter()
                    .map(|&i| from_yuv.patches[i].abs_diff(from_rgba.patches[i]))
                    .max();
                assert!(
                    worst.unwrap_or(0) <= 1 && off.len() * 1000 <= from_rgba.patches.len(),
                    "{w}x{h} tile {t} {yuv:?}: {} bytes differ, by up to {worst:?}",
                    off.len()
                );
            }
        }
    }
}

#[test]
fn i420_mosaic_matches_the_videoconvert_rgba_path() {
    // Real clips: handheld camera footage (480x288: BT.601) and an animation (720p: BT.709).
    let clips = [
        concat!(env!("CARGO_MANIFEST_DIR"), "/assets/bench/handheld.mp4"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/video/bigbuckbunny.mp4"),
    ];
    let mut tiler = Tiler::new(ctx(), 10).unwrap();
    tiler.keep_patches(true);
    let (mut from_yuv, mut from_rgba) = (Tiles::default(), Tiles::default());
    for clip in clips {
        let path = std::path::Path::new(clip);
        let mut yuv = VideoSource::open_yuv(path).unwrap();
        let mut rgba = VideoSource::open(path).unwrap();
        let mut frames = 0;
        for _ in 0..8 {
            let (Some(a), Some(b)) = (yuv.next_frame().unwrap(), rgba.next_frame().unwrap()) else {
                break;
            };
            assert!(matches!(a.format, PixelFormat::I420(_)), "{clip}: {:?}", a.format);
            assert_eq!(b.format, PixelFormat::Rgba);
            for t in [10u32, 16] {
                tiler.set_tile(t).unwrap();
                tiler.tile(&a, &mut from_yuv).unwrap();
                tiler.tile(&b, &mut from_rgba).unwrap();
                let (db, flat, bias) = common::rgb_psnr_and_bias(&from_yuv.patches, &from_rgba.patches);
                eprintln!(
                    "{clip} {}x{} frame {frames} tile {t}: {db:.1} dB, {flat:.1} dB less the bias {bias:.2?}",
                    a.width, a.height
                );
                // videoconvert (GStreamer 1.22) maps limited-range Y 16..235 to about -2.4..252.6
                // (measured: Y 128 -> 128, 235 -> 253), the standard formula to 0..255: its
                // frames are 1.5-3.5 levels darker; with that taken away they agree closely
                // (matrix, range and chroma placement).
                assert!(
                    db >= 39.0,
                    "{clip} frame {frames} tile {t}: tile colours {db:.1} dB apart"
                );
                assert!(
                    flat >= 45.0,
                    "{clip} frame {frames} tile {t}: {flat:.1} dB apart less the bias"
                );
                assert!(
                    bias.iter().all(|b| (0.0..=4.0).contains(b)),
                    "{clip} frame {frames} tile {t}: bias {bias:?}"
                );
            }
            frames += 1;
        }
        assert_eq!(frames, 8, "{clip}: too few frames");
    }
}

/// Upload + tile of one 1920x1080 frame as RGBA and as I420, taking turns, for the README:
/// `cargo test --release --test gpu timings_1080p -- --ignored --nocapture`.
#[test]
#[ignore]
fn timings_1080p_rgba_vs_i420() {
    use std::time::{Duration, Instant};
    let yuv = test_i420(
        1920,
        1080,
        5,
        Yuv {
            matrix: Matrix::Bt709,
            full_range: false,
        },
    );
    let rgba = yuv.to_rgba().into_owned();
    let mut tiler = Tiler::new(ctx(), 10).unwrap();
    let mut tiles = Tiles::default();
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..12 {
        for (i, frame) in [&rgba, &yuv].into_iter().enumerate() {
            // The first of each format remakes the buffers: not timed.
            tiler.tile(frame, &mut tiles).unwrap();
            let t0 = Instant::now();
            tiler.tile(frame, &mut tiles).unwrap();
            if round > 0 {
                times[i].push(t0.elapsed());
            }
        }
    }
    for (name, mut t) in ["RGBA", "I420"].into_iter().zip(times) {
        t.sort();
        eprintln!(
            "tile 1920x1080 @10 from {name}: min {:?}, median {:?}",
            t[0],
            t[t.len() / 2]
        );
    }
}

/// The tiler's quadrant sums without patches, and how many pixels each sums (`tiler.wgsl`): a
/// whole tile of even size `t`, its t/2 x t/2 pixel blocks; any other tile, its patch's quadrants.
fn cpu_quad_sums(frame: &Frame, t: u32) -> Vec<([[u32; 3]; 4], u32)> {
    let cols = frame.width.div_ceil(t);
    let patches = cpu_patches(frame, t);
    (0u32..)
        .zip(patches.chunks_exact(PATCH_BYTES))
        .map(|(i, p)| {
            let (c, r) = (i % cols, i / cols);
            if !t.is_multiple_of(2) || (c + 1) * t > frame.width || (r + 1) * t > frame.height {
                return (quadrant_sums(p), 25);
            }
            let h = t / 2;
            let mut s = [[0u32; 3]; 4];
            for y in 0..t {
                for x in 0..t {
                    let px = frame.pixel(c * t + x, r * t + y);
                    for ch in 0..3 {
                        s[((y / h) * 2 + x / h) as usize][ch] += u32::from(px[ch]);
                    }
                }
            }
            (s, h * h)
        })
        .collect()
}

/// The tiler's quadrant means of an RGBA frame without patches.
fn cpu_rgba_quads(frame: &Frame, t: u32) -> Vec<[u8; 12]> {
    cpu_quad_sums(frame, t)
        .into_iter()
        .map(|(s, n)| std::array::from_fn(|i| ((s[i / 3][i % 3] + n / 2) / n) as u8))
        .collect()
}

/// The tiler's contract for an I420 frame tiled without patches: [`cpu_quad_sums`] of the
/// frame in Y'CbCr (Y, Cb, Cr in the R, G, B bytes, each pixel with its 2x2 block's chroma),
/// the means (unrounded) converted once each.
fn cpu_yuv_quads(frame: &Frame, yuv: Yuv, t: u32) -> Vec<[u8; 12]> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let cw = w.div_ceil(2);
    let (luma, chroma) = frame.rgba.split_at(w * h);
    let (u, v) = chroma.split_at(chroma.len() / 2);
    let mut raw = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let c = (y / 2) * cw + x / 2;
            raw.extend_from_slice(&[luma[y * w + x], u[c], v[c], 255]);
        }
    }
    let ([y0, ys, cs], [rv, gu, gv, bu]) = yuv.coefficients();
    cpu_quad_sums(&Frame::new(frame.width, frame.height, raw), t)
        .into_iter()
        .map(|(s, n)| {
            let rgb = s.map(|s| {
                let m = s.map(|s| s as f32 / n as f32);
                let l = (m[0] - y0) * ys;
                let (cb, cr) = ((m[1] - 128.0) * cs, (m[2] - 128.0) * cs);
                [l + rv * cr, l - gu * cb - gv * cr, l + bu * cb].map(|c| (c + 0.5).floor().clamp(0.0, 255.0) as u8)
            });
            std::array::from_fn(|i| rgb[i / 3][i % 3])
        })
        .collect()
}

/// `frame` (I420) squeezed so that no pixel clips when converted: Y into 60..=180, chroma
/// within 21 of 128.
fn unclipped(frame: &Frame) -> Frame {
    let luma = (frame.width * frame.height) as usize;
    let mut out = frame.clone();
    for (i, b) in out.rgba.iter_mut().enumerate() {
        *b = if i < luma {
            (60 + u32::from(*b) * 120 / 255) as u8
        } else {
            (128 + (i32::from(*b) - 128) / 6) as u8
        };
    }
    out
}

/// Asserts that two tilings' quadrant means differ by at most `limit` levels anywhere.
fn assert_within(a: &[[u8; 12]], b: &[[u8; 12]], limit: u8, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let worst = a.concat().iter().zip(b.concat()).map(|(x, y)| x.abs_diff(y)).max();
    assert!(
        worst.unwrap_or(0) <= limit,
        "{what}: quadrant means differ by up to {worst:?}"
    );
}

#[test]
fn tiler_without_patches_converts_i420_quadrant_means() {
    let yuv = Yuv {
        matrix: Matrix::Bt709,
        full_range: false,
    };
    let (mut tiler, mut exact) = (Tiler::new(ctx(), 10).unwrap(), Tiler::new(ctx(), 10).unwrap());
    exact.keep_patches(true);
    let (mut got, mut patched) = (Tiles::default(), Tiles::default());
    // Odd widths put every other row's Y at an odd byte; 5x9 and 31x1 are all edge tiles.
    // Tiles of 6 and 14 px split the middle chroma row and column between quadrants.
    for (w, h, seed) in [(203u32, 117u32, 1u64), (64, 64, 2), (120, 40, 5), (5, 9, 3), (31, 1, 4)] {
        let frame = test_i420(w, h, seed, yuv);
        for t in [4u32, 5, 6, 10, 14, 16, 20] {
            tiler.set_tile(t).unwrap();
            tiler.tile(&frame, &mut got).unwrap();
            let want = cpu_yuv_quads(&frame, yuv, t);
            assert_eq!(got.means.len(), want.len());
            // The shader and the CPU compute in f32 alike; an FMA may move a half.
            let (got_b, want_b) = (got.means.concat(), want.concat());
            let off: Vec<u8> = got_b
                .iter()
                .zip(&want_b)
                .map(|(a, b)| a.abs_diff(*b))
                .filter(|&d| d > 0)
                .collect();
            assert!(
                off.iter().all(|&d| d <= 1) && off.len() * 1000 <= got_b.len(),
                "{w}x{h} tile {t}: {} of {} bytes differ, by up to {:?}",
                off.len(),
                got_b.len(),
                off.iter().max()
            );
            // Where no pixel clips, within rounding of the RGB patch's quadrant means (which
            // for tiles of other sizes than 10 px rounds every patch pixel too).
            let frame = unclipped(&frame);
            tiler.tile(&frame, &mut got).unwrap();
            exact.set_tile(t).unwrap();
            exact.tile(&frame, &mut patched).unwrap();
            let limit = if t == 10 { 1 } else { 2 };
            assert_within(&got.means, &patched.means, limit, &format!("{w}x{h} tile {t}"));
        }
    }
}

#[test]
fn tiler_fast_quads_agree_with_the_per_pixel_way() {
    // RGBA: the same integers either way. I420: the per-pixel way converts before averaging.
    let (mut fast, mut slow) = (Tiler::new(ctx(), 10).unwrap(), Tiler::new(ctx(), 10).unwrap());
    slow.set_fast_quads(false);
    let (mut a, mut b) = (Tiles::default(), Tiles::default());
    let yuv = Yuv {
        matrix: Matrix::Bt601,
        full_range: true,
    };
    for (w, h, seed) in [(203u32, 117u32, 1u64), (64, 48, 2)] {
        let rgba = test_frame(w, h, seed);
        fast.tile(&rgba, &mut a).unwrap();
        slow.tile(&rgba, &mut b).unwrap();
        assert_eq!((&a.means, &a.change), (&b.means, &b.change), "{w}x{h} RGBA");
        let i420 = unclipped(&test_i420(w, h, seed, yuv));
        fast.tile(&i420, &mut a).unwrap();
        slow.tile(&i420, &mut b).unwrap();
        assert_within(&a.means, &b.means, 1, &format!("{w}x{h} I420"));
    }
}

/// Upload + tile + readback without patches (the ONNX path), quadrant sums straight from the
/// bytes (this path) vs every pixel converted (before it), taking turns, RGBA and I420:
/// `cargo test --release --test gpu timings_tiler_fast -- --ignored --nocapture`.
#[test]
#[ignore = "timing report, run by hand"]
fn timings_tiler_fast_quads() {
    let yuv = Yuv {
        matrix: Matrix::Bt709,
        full_range: false,
    };
    for (w, h, t) in [(1280, 720, 10), (1920, 1080, 10), (1920, 1080, 20)] {
        let i420 = test_i420(w, h, 3, yuv);
        let rgba = i420.to_rgba().into_owned();
        for (name, frame) in [("RGBA", &rgba), ("I420", &i420)] {
            let mut tilers = [Tiler::new(ctx(), t).unwrap(), Tiler::new(ctx(), t).unwrap()];
            tilers[0].set_fast_quads(false);
            let [p, f] = tile_in_turns(&mut tilers, frame, 10);
            eprintln!(
                "tile {w}x{h} @{t} {name}, no patches, min / median ms over 10 rounds of 4: per pixel \
                 {:.2} / {:.2}, fast {:.2} / {:.2} ({:.2}x / {:.2}x)",
                p.0,
                p.1,
                f.0,
                f.1,
                f.0 / p.0,
                f.1 / p.1
            );
        }
    }
}

/// Issue 14 item 3 for the quadrant-mean path: on real footage decoded as I420, the ONNX
/// mosaic from the tiler's Y'CbCr quadrant means (the live path) is as like the frame (2x2
/// PSNR against the RGB patches, as the bench measures it) as the mosaic from the same frame
/// converted to RGBA first (every pixel converted, the way before), within 0.1 dB.
#[test]
fn yuv_quadrant_means_keep_the_mosaic_likeness() {
    use emojicam::pipeline::{Pipeline, Settings};
    let clip = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/bench/handheld.mp4");
    let mut source = VideoSource::open_yuv(std::path::Path::new(clip)).unwrap();
    let settings = Settings {
        change_threshold: None,
        ..Settings::default()
    };
    let (mut yuv, mut rgb) = (
        Pipeline::new(settings.clone()).unwrap(),
        Pipeline::new(settings).unwrap(),
    );
    let mut truth = Tiler::new(ctx(), 10).unwrap();
    truth.keep_patches(true);
    let mut patches = Tiles::default();
    let features = yuv.atlas().features_2x2();
    let background = yuv.settings().background;
    let (mut db, mut frames) = ([0.0f64; 2], 0);
    while let (Some(frame), true) = (source.next_frame().unwrap(), frames < 6) {
        let rgba = frame.to_rgba().into_owned();
        truth.tile(&rgba, &mut patches).unwrap();
        for (k, (p, f)) in [(&mut yuv, &frame), (&mut rgb, &rgba)].into_iter().enumerate() {
            let emoji = p.classify(f, emojicam::Stamp::new(frames, None)).unwrap().emoji;
            let err: f64 = emoji
                .iter()
                .enumerate()
                .map(|(i, &e)| f64::from(likeness::error(&features[e as usize], patches.patch(i), background)))
                .sum();
            db[k] += 10.0 * (255f64.powi(2) / (err / (emoji.len() * 12) as f64).max(1e-9)).log10();
        }
        frames += 1;
    }
    assert_eq!(frames, 6);
    let [a, b] = db.map(|d| d / 6.0);
    eprintln!("handheld 2x2 PSNR, I420 quadrant means {a:.3} dB, RGBA {b:.3} dB");
    assert!((a - b).abs() <= 0.1, "I420 quadrant means {a:.3} dB vs RGBA {b:.3} dB");
}

/// Eight 10 px tiles per invocation (an I420 frame whose width is a multiple of 32) give exactly
/// what one invocation per tile gives, means and change: whole groups, a part group at the end
/// of a row (352 px: 35 tiles a row), a part tile row at the bottom (45 px), chroma rows that
/// start half way into a texel (odd groups).
#[test]
fn tiler_eight_tiles_per_invocation_match_one_per_tile() {
    let (mut eight, mut one) = (Tiler::new(ctx(), 10).unwrap(), Tiler::new(ctx(), 10).unwrap());
    eight.set_group_tiles(true);
    one.set_group_tiles(false);
    let yuv = Yuv {
        matrix: Matrix::Bt709,
        full_range: false,
    };
    let (mut a, mut b) = (Tiles::default(), Tiles::default());
    for (w, h, seed) in [(352u32, 45u32, 1u64), (160, 50, 2), (96, 20, 3), (1280, 720, 4)] {
        let first = test_i420(w, h, seed, yuv);
        eight.tile(&first, &mut a).unwrap();
        one.tile(&first, &mut b).unwrap();
        assert_eq!((&a.means, &a.change), (&b.means, &b.change), "{w}x{h}");
        assert_within(&a.means, &cpu_yuv_quads(&first, yuv, 10), 1, &format!("{w}x{h} vs CPU"));
        eight.accept_all(&a);
        one.accept_all(&b);
        let second = test_i420(w, h, seed + 10, yuv);
        eight.tile(&second, &mut a).unwrap();
        one.tile(&second, &mut b).unwrap();
        assert_eq!((&a.means, &a.change), (&b.means, &b.change), "{w}x{h}, second frame");
        assert!(
            a.change.iter().any(|&d| d > 0 && d != u32::MAX),
            "{w}x{h}: no change seen"
        );
    }
}

/// Upload + tile + readback of an I420 frame without patches (the live ONNX path), eight tiles
/// per invocation vs one, taking turns:
/// `cargo test --release --test gpu timings_tiler_eight -- --ignored --nocapture`.
#[test]
#[ignore = "timing report, run by hand"]
fn timings_tiler_eight_per_invocation() {
    let yuv = Yuv {
        matrix: Matrix::Bt709,
        full_range: false,
    };
    for (w, h) in [(1280, 720), (1920, 1080)] {
        let i420 = test_i420(w, h, 3, yuv);
        let mut tilers = [Tiler::new(ctx(), 10).unwrap(), Tiler::new(ctx(), 10).unwrap()];
        tilers[0].set_group_tiles(false);
        tilers[1].set_group_tiles(true);
        let [p, f] = tile_in_turns(&mut tilers, &i420, 10);
        eprintln!(
            "tile {w}x{h} @10 I420, no patches, min / median ms over 10 rounds of 4: one per \
             invocation {:.2} / {:.2}, eight {:.2} / {:.2} ({:.2}x / {:.2}x)",
            p.0,
            p.1,
            f.0,
            f.1,
            f.0 / p.0,
            f.1 / p.1
        );
    }
}

/// The window's partial redraw at 1280x720 (10 px tiles at the source size, about 45% of the
/// tiles changed a frame, as on handheld footage) with the exact path and with the per-pixel
/// maps, the two renderers taking turns: draw + wait for the GPU, (min, median) ms per frame.
/// Both targets end up with the same pixels.
#[test]
#[ignore = "timing report, run by hand: cargo test --release --test gpu timings_mosaic -- --ignored --nocapture"]
fn timings_mosaic_exact_tiles() {
    let ctx = ctx();
    let atlas = atlas();
    let grid = Grid {
        cols: 128,
        rows: 72,
        tile: 10,
        src_width: 1280,
        src_height: 720,
    };
    let n = grid.tiles() as u32;
    let colors: Vec<[u8; 3]> = (0..n).map(|i| [(i * 37) as u8, (i * 91) as u8, 40]).collect();
    let mut renderers = [
        Renderer::new(ctx.clone(), atlas).unwrap(),
        Renderer::new(ctx.clone(), atlas).unwrap(),
    ];
    let targets: Vec<(wgpu::Texture, wgpu::TextureView)> = renderers
        .iter_mut()
        .enumerate()
        .map(|(k, r)| {
            r.set_path(RenderPath::Compute);
            r.set_exact_tiles(k == 0);
            let t = emojicam::gpu::texture_2d(
                &ctx.device,
                "target",
                (1280, 720),
                wgpu::TextureFormat::Bgra8Unorm,
                emojicam::gpu::renderer::TARGET_USAGE | wgpu::TextureUsages::COPY_SRC,
            );
            let v = t.create_view(&Default::default());
            (t, v)
        })
        .collect();
    let mut rng = Rng(7);
    let mut emoji: Vec<u32> = (0..n).map(|_| rng.next() % atlas.count()).collect();
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..=40 {
        for e in emoji.iter_mut() {
            if rng.next() % 100 < 45 {
                *e = rng.next() % atlas.count();
            }
        }
        let scene = Scene {
            grid,
            emoji: &emoji,
            fill: Fill::new(Background::Tile, &colors),
        };
        for (k, (renderer, (texture, view))) in renderers.iter_mut().zip(&targets).enumerate() {
            let t0 = std::time::Instant::now();
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            renderer.draw(&mut encoder, texture, view, &scene).unwrap();
            ctx.queue.submit([encoder.finish()]);
            ctx.device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
            if round > 0 {
                times[k].push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let [exact, maps] = times.map(|mut v| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    });
    eprintln!(
        "mosaic partial redraw 1280x720, ~45% of tiles: exact {:.2} / {:.2} ms, maps {:.2} / {:.2} ms (min / median)",
        exact.0, exact.1, maps.0, maps.1
    );
    assert!(read_texture(&ctx, &targets[0].0) == read_texture(&ctx, &targets[1].0));
}
