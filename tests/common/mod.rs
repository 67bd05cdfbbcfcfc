//! Helpers shared by the integration tests: running the real binary, reading images, and the
//! likeness ruler (a port of ../shared/tools/mosaic_score.py for whole-tile, same-size images).
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock, PoisonError};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_emojicam"));
    c.env("XDG_RUNTIME_DIR", xdg_dir())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    c
}

/// A private runtime dir (0700, made once per test binary), so the Wayland probe does not
/// complain. Removed when the test binary exits.
pub fn xdg_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::Builder::new()
            .prefix("emojicam-xdg-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .expect("a runtime dir in the temporary directory")
            .keep();
        remove_at_exit(d.clone());
        d
    })
    .clone()
}

/// Directories removed when the test binary exits (a static is never dropped, so one shared by
/// the tests of a binary cannot be a `TempDir`), each with whether to keep it after a failure.
static AT_EXIT: Mutex<Vec<(PathBuf, bool)>> = Mutex::new(Vec::new());
/// Set by the panic hook [`remove_at_exit_unless_a_test_fails`] installs.
static FAILED: AtomicBool = AtomicBool::new(false);

/// Removes `dir` and all in it when the test binary exits (every test ran, passed or not).
pub fn remove_at_exit(dir: PathBuf) {
    at_exit(dir, false);
}

/// Removes `dir` and all in it when the test binary exits if no test panicked; otherwise it
/// stays, and a failing test's output names it.
pub fn remove_at_exit_unless_a_test_fails(dir: PathBuf) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            FAILED.store(true, Ordering::SeqCst);
            for (dir, _) in dirs().iter().filter(|d| d.1) {
                eprintln!("kept for the failure: {}", dir.display());
            }
        }));
    });
    at_exit(dir, true);
}

fn at_exit(dir: PathBuf, keep_if_a_test_fails: bool) {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registers a function that takes nothing, returns nothing and never unwinds.
        let rc = unsafe { libc::atexit(remove_dirs) };
        assert_eq!(rc, 0, "atexit refused the cleanup");
    });
    dirs().push((dir, keep_if_a_test_fails));
}

fn dirs() -> MutexGuard<'static, Vec<(PathBuf, bool)>> {
    AT_EXIT.lock().unwrap_or_else(PoisonError::into_inner)
}

extern "C" fn remove_dirs() {
    let failed = FAILED.load(Ordering::SeqCst);
    for (dir, keep_if_a_test_fails) in std::mem::take(&mut *dirs()) {
        if !(failed && keep_if_a_test_fails) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn photo(name: &str) -> PathBuf {
    root().join("tests/data/photos").join(name)
}

pub fn demo_clip() -> PathBuf {
    root().join("assets/demo/bigbuckbunny.mp4")
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the emojicam binary runs");
    eprintln!(
        "$ {:?}\nstatus {:?}\nstdout: {}\nstderr: {}",
        cmd,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn rgb(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
        .to_rgb8()
}

/// Mean colour of each k x k cell grid inside each tile (k = 1 or 2), over whole tiles only.
pub fn grid_means(img: &image::RgbImage, cols: u32, rows: u32, cell_w: f64, cell_h: f64, k: u32) -> Vec<f64> {
    let mut out = Vec::with_capacity((cols * rows * k * k * 3) as usize);
    for gy in 0..rows * k {
        for gx in 0..cols * k {
            let x0 = (gx as f64 * cell_w / k as f64).round() as u32;
            let x1 = ((gx + 1) as f64 * cell_w / k as f64).round() as u32;
            let y0 = (gy as f64 * cell_h / k as f64).round() as u32;
            let y1 = ((gy + 1) as f64 * cell_h / k as f64).round() as u32;
            let mut s = [0f64; 3];
            let mut n = 0f64;
            for y in y0..y1.max(y0 + 1) {
                for x in x0..x1.max(x0 + 1) {
                    let p = img.get_pixel(x.min(img.width() - 1), y.min(img.height() - 1));
                    for c in 0..3 {
                        s[c] += p[c] as f64;
                    }
                    n += 1.0;
                }
            }
            out.extend(s.iter().map(|v| v / n));
        }
    }
    out
}

pub fn psnr(a: &[f64], b: &[f64]) -> f64 {
    let mse: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Peak signal to noise ratio of two RGB byte vectors in dB, and the same after taking away
/// each channel's mean difference (`a - b`), which it returns too.
pub fn rgb_psnr_and_bias(a: &[u8], b: &[u8]) -> (f64, f64, [f64; 3]) {
    let db = |mse: f64| 10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10();
    let n = a.len() as f64;
    let mut bias = [0.0; 3];
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        bias[i % 3] += (x as f64 - y as f64) * 3.0 / n;
    }
    let (mut mse, mut left) = (0.0, 0.0);
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let d = x as f64 - y as f64;
        mse += d * d / n;
        left += (d - bias[i % 3]).powi(2) / n;
    }
    (db(mse), db(left), bias)
}

/// (2x2 PSNR, tile PSNR) of `mosaic` against `source`, as mosaic_score.py measures them.
/// An RGB picture as the pipeline's RGBA frame.
pub fn rgb_frame(img: &image::RgbImage) -> emojicam::Frame {
    let rgba = image::DynamicImage::ImageRgb8(img.clone()).to_rgba8();
    emojicam::Frame::new(img.width(), img.height(), rgba.into_raw())
}

/// A rendered RGBA frame as an RGB picture.
pub fn frame_rgb(f: &emojicam::Frame) -> image::RgbImage {
    let rgba = image::RgbaImage::from_raw(f.width, f.height, f.rgba.clone()).expect("frame size");
    image::DynamicImage::ImageRgba8(rgba).to_rgb8()
}

pub fn likeness(source: &image::RgbImage, mosaic: &image::RgbImage, tile: u32) -> (f64, f64) {
    let cols = source.width() / tile;
    let rows = source.height() / tile;
    let sx = mosaic.width() as f64 / source.width() as f64;
    let sy = mosaic.height() as f64 / source.height() as f64;
    let t = tile as f64;
    let s2 = grid_means(source, cols, rows, t, t, 2);
    let m2 = grid_means(mosaic, cols, rows, t * sx, t * sy, 2);
    let s1 = grid_means(source, cols, rows, t, t, 1);
    let m1 = grid_means(mosaic, cols, rows, t * sx, t * sy, 1);
    (psnr(&s2, &m2), psnr(&s1, &m1))
}

pub struct EmojiMeta {
    pub unified: Vec<String>,
    pub text: Vec<String>,
    pub sets: std::collections::BTreeMap<String, Vec<usize>>,
    pub block: Vec<bool>,
}

/// The emoji each entry of a grid draws (a dimmed copy's source: `Atlas::glyph`), as repetition
/// is measured.
pub fn glyphs(emoji: &[u32]) -> Vec<u32> {
    static ATLAS: OnceLock<emojicam::atlas::Atlas> = OnceLock::new();
    ATLAS
        .get_or_init(|| emojicam::atlas::Atlas::embedded().expect("atlas"))
        .glyphs(emoji)
}

/// The ONNX model on its own (no pipeline), set up as the pipeline sets it at the defaults but
/// for the emoji `allowed` and `variety`: each tile's own colour behind the emoji, 1 thread.
pub fn onnx_classifier(allowed: &[bool], variety: f32) -> emojicam::classify::onnx::OnnxClassifier {
    use emojicam::classify::onnx::{OnnxClassifier, OnnxOptions};
    use emojicam::classify::Classifier;
    let mut c = OnnxClassifier::new(allowed.len(), &OnnxOptions { threads: 1 }).expect("model");
    c.set_allowed(allowed).expect("mask");
    c.set_background(emojicam::gpu::Background::Tile);
    c.set_variety(variety);
    c
}

/// The grid position `[column, row]` of each of `n` tiles, row by row, `cols` to a row.
pub fn grid_positions(n: usize, cols: usize) -> Vec<[u32; 2]> {
    (0..n).map(|i| [(i % cols) as u32, (i / cols) as u32]).collect()
}

/// What the product knows of every atlas entry (the catalogue's emoji, then their dimmed copies).
pub fn emoji_meta() -> EmojiMeta {
    let atlas = emojicam::atlas::Atlas::embedded().expect("atlas");
    EmojiMeta {
        unified: atlas.emoji.iter().map(|e| e.unified.clone()).collect(),
        text: atlas.emoji.iter().map(|e| e.text.clone()).collect(),
        block: atlas.emoji.iter().map(|e| e.block).collect(),
        sets: atlas
            .sets
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|&i| i as usize).collect()))
            .collect(),
    }
}

/// Frame count and rate of a video, as ffprobe reports them (decoding every frame).
pub fn ffprobe_frames(path: &Path) -> Option<(u64, String)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,r_frame_rate",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s.lines().next()?.trim().to_string();
    let mut parts = line.split(',');
    let rate = parts.next()?.to_string();
    let frames = parts.next()?.trim().parse().ok()?;
    Some((frames, rate))
}

/// The numbers ffprobe prints for `entries` (e.g. `packet=duration_time`, `frame=pts_time`,
/// `stream=duration`) of `path`'s stream `which` (`v:0`, `a:0`), in ffprobe's order; what is
/// not a number (`N/A`) is left out.
pub fn ffprobe_numbers(path: &Path, which: &str, entries: &str) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", which, "-show_entries", entries])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// Makes `out` from ffmpeg's `testsrc2` pattern (`spec`: its size, rate and duration), encoded
/// with `encode` (ffmpeg's output options).
pub fn ffmpeg_test_pattern(spec: &str, encode: &[&str], out: &Path) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("testsrc2={spec}")])
        .args(encode)
        .arg(out)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ffmpeg made {}", out.display());
}

pub fn have(tool: &str) -> bool {
    Command::new(tool).arg("-version").output().is_ok()
}

/// Issue 15's texture targets: the most common emoji on at most 10% of the tiles, no one-emoji
/// region over 25 tiles, at most 15% of tiles equal to their right-hand neighbour.
pub fn meets_the_targets(t: &emojicam::classify::texture::Texture) -> bool {
    t.top_share <= 0.10 && t.largest_region <= 25 && t.right_equal <= 0.15
}
