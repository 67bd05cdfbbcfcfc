//! Camera lab: the live paths against real V4L2 devices. One VM per test run (Debian's kernel
//! in QEMU, see tests/lab/), where the kernel's virtual camera driver (vivid) plays a YUYV
//! camera, v4l2loopback fed MJPEG frames of a real clip by ffmpeg plays a UVC-style webcam,
//! and a second loopback device (exclusive_caps=1, as browsers need) is the virtual camera.
//! tests/lab/guest.sh runs every scenario inside; this file judges what it left behind.
//!
//! Nothing here is skipped: a machine that cannot run the lab fails the test with the reason.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{ffprobe_frames, likeness, rgb};

/// vivid's picture (75% colour bars, with a counter overlay) and the webcam clip are compared
/// with the mosaic per tile: emoji on black cover part of each tile, so the mosaic is darker
/// than its source; random emoji score 7-12 dB (see ARCHITECTURE.md).
const TILE_PSNR_FLOOR: f64 = 15.0;
const TILE: u32 = 10;
/// What guest.sh asks of vivid: a size and a rate it does not offer.
const VIVID_RATE: f64 = 15.0;

struct Lab {
    out: PathBuf,
}

impl Lab {
    fn path(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }

    fn text(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| {
            panic!(
                "the lab left no {name} ({e}); its log:\n{}",
                std::fs::read_to_string(self.path("guest.log")).unwrap_or_default()
            )
        })
    }

    /// Exit status, stdout and stderr of a scenario run by guest.sh's `run`.
    fn scenario(&self, name: &str) -> (i32, String, String) {
        let rc = self.text(&format!("{name}.rc")).trim().parse().expect("exit status");
        let (out, err) = (self.text(&format!("{name}.out")), self.text(&format!("{name}.err")));
        eprintln!(
            "--- {name}: exit {rc} after {:.1} s\nstdout:\n{out}\nstderr:\n{err}",
            self.seconds(name)
        );
        (rc, out, err)
    }

    /// A time (seconds since 1970) the lab wrote, alone in its file.
    fn instant(&self, name: &str) -> f64 {
        let t = self.text(name);
        t.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} holds no time: {t:?}"))
    }

    /// Wall-clock seconds the scenario ran.
    fn seconds(&self, name: &str) -> f64 {
        let t = self.text(&format!("{name}.time"));
        let v: Vec<f64> = t.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        v[1] - v[0]
    }
}

/// Where the lab's time went: the host's steps (`host.times`, written by [`run_lab`]), the
/// VM's boot (its start to the guest script's), and every scenario run by guest.sh, in the
/// order they started. Written to `timings.txt` in the results and printed by every test, so
/// a failing one shows it.
fn timings(out: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let mut lines: Vec<String> = read("host.times").lines().map(str::to_string).collect();
    let vm_start = lines
        .iter()
        .find_map(|l| l.strip_prefix("vm_started_at "))
        .and_then(|t| t.parse::<f64>().ok());
    lines.retain(|l| !l.starts_with("vm_started_at "));
    let guest: Option<f64> = read("guest_start.time").trim().parse().ok();
    if let (Some(a), Some(b)) = (vm_start, guest) {
        lines.push(format!("boot (VM start to the guest script) {:.1} s", b - a));
    }
    let mut runs: Vec<(f64, String)> = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let scenario = name.strip_suffix(".time")?.to_string();
            let v: Vec<f64> = read(&name).split_whitespace().filter_map(|x| x.parse().ok()).collect();
            let &[a, b] = v.as_slice() else { return None };
            let from = guest.map_or(String::new(), |g| format!(" (from {:.1} s)", a - g));
            Some((a, format!("{scenario} {:.1} s{from}", b - a)))
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines.extend(runs.into_iter().map(|r| r.1));
    lines.join("\n")
}

/// The webcam's frames as raw NV12 (a capture card's or webcam's raw format), 5 s of them (the
/// feeder loops them): 6.5 MB.
fn raw_feed(feed: &Path, out: &Path) -> PathBuf {
    let raw_feed = out.join("raw_feed.nv12");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(feed)
        .args(["-frames:v", "75", "-pix_fmt", "nv12", "-f", "rawvideo", "-y"])
        .arg(&raw_feed)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success(), "cannot make the raw camera's NV12 frames");
    raw_feed
}

fn run_lab() -> Lab {
    let here = common::root().join("tests/lab");
    let mut host_times = Vec::new();
    let step = std::time::Instant::now();
    let cache = Command::new("bash")
        .arg(here.join("provision.sh"))
        .output()
        .expect("bash runs");
    assert!(
        cache.status.success(),
        "the camera lab cannot be provisioned: {}",
        String::from_utf8_lossy(&cache.stderr).trim()
    );
    let cache = PathBuf::from(String::from_utf8_lossy(&cache.stdout).trim());
    host_times.push(format!("provision {:.1} s", step.elapsed().as_secs_f64()));
    let out = tempfile::Builder::new()
        .prefix("emojicam-lab-")
        .tempdir()
        .expect("tempdir")
        .keep();
    // About 12 MB: gone when every test passed, kept (and named) for a failure.
    common::remove_at_exit_unless_a_test_fails(out.clone());
    // The webcam's frames: the demo clip (Big Buck Bunny, CC-BY 3.0 Blender Foundation) as a
    // UVC webcam would send it at 320x180, MJPEG at 15 fps. Made here, where it is fast.
    let feed = out.join("webcam_feed.avi");
    let step = std::time::Instant::now();
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(common::demo_clip())
        .args(["-vf", "scale=320:180,fps=15", "-c:v", "mjpeg", "-q:v", "4", "-y"])
        .arg(&feed)
        .status()
        .expect("ffmpeg runs (apt-get install ffmpeg)");
    assert!(made.success(), "cannot make the webcam's MJPEG frames");
    let raw_feed = raw_feed(&feed, &out);
    host_times.push(format!("webcam frames {:.1} s", step.elapsed().as_secs_f64()));
    std::fs::write(
        out.join("env"),
        format!(
            "BIN={}\nFEED={}\nRAW_FEED={}\nLAB={}\nHERE={}\n",
            env!("CARGO_BIN_EXE_emojicam"),
            feed.display(),
            raw_feed.display(),
            cache.display(),
            here.display()
        ),
    )
    .expect("write env");
    let started = std::time::Instant::now();
    let since_1970 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    host_times.push(format!("vm_started_at {:.3}", since_1970.as_secs_f64()));
    let boot = Command::new("bash")
        .arg(here.join("boot.sh"))
        .arg(&cache)
        .arg(&out)
        .arg(here.join("guest.sh"))
        .arg("1500")
        .status()
        .expect("bash runs");
    host_times.push(format!("VM in all {:.1} s", started.elapsed().as_secs_f64()));
    std::fs::write(out.join("host.times"), host_times.join("\n")).expect("write host.times");
    let table = timings(&out);
    std::fs::write(out.join("timings.txt"), &table).expect("write timings.txt");
    eprintln!("camera lab: results in {}\n{table}", out.display());
    let log = std::fs::read_to_string(out.join("guest.log")).unwrap_or_default();
    eprintln!("{log}");
    assert!(
        boot.success() && log.contains("lab guest exit"),
        "the lab VM did not finish (status {boot:?}); console:\n{}",
        std::fs::read_to_string(out.join("console.log")).unwrap_or_default()
    );
    assert!(
        !out.join("setup.err").exists(),
        "the lab's devices did not load: {}",
        std::fs::read_to_string(out.join("setup.err")).unwrap_or_default()
    );
    Lab { out }
}

/// The VM boots once; every test reads its results (and prints where the time went).
fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    let lab = LAB.get_or_init(run_lab);
    eprintln!("camera lab timings:\n{}", timings(&lab.out));
    lab
}

/// One clear line on stderr, no panic.
fn one_line_error(err: &str) -> &str {
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    lines[0]
}

/// Every frame of a video (or image) as RGB at its own size.
fn frames(path: &Path, width: u32, height: u32, filter: &str) -> Vec<image::RgbImage> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", &format!("{filter}scale={width}:{height}")])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg cannot decode {}", path.display());
    let size = (width * height * 3) as usize;
    out.stdout
        .chunks_exact(size)
        .map(|c| image::RgbImage::from_raw(width, height, c.to_vec()).expect("frame"))
        .collect()
}

fn mirrored(img: &image::RgbImage) -> image::RgbImage {
    image::imageops::flip_horizontal(img)
}

/// Consecutive repeats removed (a recording holds each mosaic until the next one).
fn distinct(frames: Vec<image::RgbImage>) -> Vec<image::RgbImage> {
    let mut out: Vec<image::RgbImage> = Vec::new();
    for f in frames {
        if out.last().is_none_or(|l| l.as_raw() != f.as_raw()) {
            out.push(f);
        }
    }
    out
}

/// Mean difference of each pixel's luma from its left and right neighbours' mean, per column
/// phase (x % 8) and row parity: a column of 8 x 2 pixel blocks that came out wrong stands out
/// there (the GPU's I420 pass, `EMOJICAM_RECORD_YUV=gpu`, under llvmpipe's 8-wide code on this
/// emulated CPU loses each block's top-right pixel: -10 to -54 levels; a correct recording stays
/// within about 2).
fn column_phase_offsets(frames: &[image::RgbImage]) -> [[f64; 8]; 2] {
    let mut sum = [[0.0; 8]; 2];
    let mut count = [[0u64; 8]; 2];
    let luma = |p: &image::Rgb<u8>| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
    for f in frames {
        for y in 0..f.height() {
            for x in 1..f.width() - 1 {
                let side = (luma(f.get_pixel(x - 1, y)) + luma(f.get_pixel(x + 1, y))) / 2.0;
                let (r, c) = ((y % 2) as usize, (x % 8) as usize);
                sum[r][c] += luma(f.get_pixel(x, y)) - side;
                count[r][c] += 1;
            }
        }
    }
    let mut out = [[0.0; 8]; 2];
    for r in 0..2 {
        for c in 0..8 {
            out[r][c] = sum[r][c] / count[r][c].max(1) as f64;
        }
    }
    out
}

fn pixel_psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let x: Vec<f64> = a.as_raw().iter().map(|&v| v as f64).collect();
    let y: Vec<f64> = b.as_raw().iter().map(|&v| v as f64).collect();
    common::psnr(&x, &y)
}

#[test]
fn no_camera_is_one_clear_line() {
    let lab = lab();
    for name in ["nocam_list", "nocam_open"] {
        let (rc, _, err) = lab.scenario(name);
        assert_eq!(rc, 1, "{name}: {err}");
        let line = one_line_error(&err);
        assert!(line.contains("no camera found"), "{name}: {line}");
    }
}

#[test]
fn cameras_lists_vivid_and_the_mjpeg_webcam_with_sorted_modes() {
    let lab = lab();
    let (rc, out, err) = lab.scenario("cameras");
    assert_eq!(rc, 0, "{err}");
    let cams = camera_blocks(&out);
    let find = |what: &str| {
        cams.iter()
            .find(|(head, _)| head.contains(what))
            .unwrap_or_else(|| panic!("no {what} in:\n{out}"))
    };
    let (_, vivid) = find("/dev/video0");
    let (webcam_head, webcam) = find("/dev/video10");
    assert!(webcam_head.contains("Lab Webcam"), "{webcam_head}");
    assert!(
        !cams.iter().any(|(h, _)| h.contains("/dev/video11")),
        "the virtual camera nobody feeds is not a camera:\n{out}"
    );
    assert!(
        vivid
            .iter()
            .any(|m| m.starts_with("YUYV 320x180 @ ") && m.contains(" 15,")),
        "{vivid:?}"
    );
    assert!(vivid.iter().any(|m| m.starts_with("YUYV 1280x720 @ ")), "{vivid:?}");
    // The capture card's size range, at the one rate its input has (PAL: 25).
    let (_, card) = find("(/dev/video1)");
    assert!(card.iter().any(|m| m == "YUYV 1280x720 @ 25 fps"), "{card:?}");
    assert_eq!(webcam.len(), 1, "the loopback webcam has one mode: {webcam:?}");
    assert!(
        webcam[0].starts_with("MJPEG 320x180 @ ") && webcam[0].ends_with(" fps"),
        "{webcam:?}"
    );
    // A format emojicam does not decode is listed too, and said to be unusable.
    let (planar_head, planar) = find("/dev/video12");
    assert!(planar_head.contains("Planar Cam"), "{planar_head}");
    assert!(
        planar.len() == 1 && planar[0].starts_with("YUV9 320x180 @ "),
        "{planar:?}"
    );
    assert!(out.contains("(emojicam decodes none of these formats)"), "{out}");
    // A raw NV12 camera; the capture card's metadata node is no camera.
    let (raw_head, raw) = find("/dev/video14");
    assert!(raw_head.contains("Raw Cam"), "{raw_head}");
    assert!(raw.len() == 1 && raw[0].starts_with("NV12 320x180 @ "), "{raw:?}");
    assert!(
        !cams.iter().any(|(h, _)| h.contains("/dev/video2)")),
        "a metadata node is not a camera:\n{out}"
    );
    // vivid's formats that emojicam takes are listed with their modes (GREY: V4L2's fourcc,
    // which nokhwa's layer now maps; UYVY, YU12, the 4:2:2 and 4:4:4 ones and 8-bit Bayer,
    // captured straight from V4L2), the others by name.
    for fourcc in [
        "NV12", "GREY", "UYVY", "YU12", "NV21", "Y16", "Y10", "Y12", "NV16", "NV61", "422P", "NV24", "NV42", "BA81",
        "GBRG", "GRBG", "RGGB",
    ] {
        assert!(
            vivid.iter().any(|m| m.starts_with(&format!("{fourcc} 320x180 @ "))),
            "{fourcc}: {vivid:?}"
        );
    }
    let also = out.lines().find(|l| l.starts_with("    (also ")).unwrap_or_default();
    assert!(
        also.contains("HSV3") && !also.contains("NV16") && !also.contains("RGGB"),
        "{out}"
    );
    let (i420_head, i420) = find("/dev/video15");
    assert!(i420_head.contains("I420 Cam"), "{i420_head}");
    assert!(i420.len() == 1 && i420[0].starts_with("YU12 320x180 @ "), "{i420:?}");
    // A name that is not UTF-8 is listed (made readable), not a panic.
    let (odd_head, _) = find("/dev/video13");
    assert!(odd_head.contains("Odd\u{FFFD}Name"), "{odd_head}");
    assert_modes_sorted(&cams);
}

/// The blocks of `emojicam cameras`: each camera's head line and its indented mode lines.
fn camera_blocks(out: &str) -> Vec<(String, Vec<String>)> {
    // Camera blocks: "N: name (/dev/videoN)" then indented "FOURCC WxH @ r1, r2 fps" lines.
    let mut cams: Vec<(String, Vec<String>)> = Vec::new();
    for line in out.lines() {
        if line.starts_with("    (") {
            // A note under a camera (no modes, none emojicam decodes).
            continue;
        }
        if let Some(mode) = line.strip_prefix("    ") {
            cams.last_mut()
                .expect("a camera before its modes")
                .1
                .push(mode.to_string());
        } else if !line.trim().is_empty() {
            cams.push((line.to_string(), Vec::new()));
        }
    }
    cams
}

/// Modes sorted by format, then pixel count; the rates in each line ascending.
fn assert_modes_sorted(cams: &[(String, Vec<String>)]) {
    // Sorted: format, then pixel count, then the rates in each line.
    for (head, modes) in cams {
        let keys: Vec<(String, u64)> = modes
            .iter()
            .map(|m| {
                let mut it = m.split_whitespace();
                let fourcc = it.next().expect("fourcc").to_string();
                let (w, h) = it.next().expect("size").split_once('x').expect("WxH");
                (fourcc, w.parse::<u64>().expect("w") * h.parse::<u64>().expect("h"))
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| {
            // Known formats first (nokhwa's six, then those read straight from V4L2, 8-bit
            // Bayer by its code, then 32-bit RGB by its code), then any other fourcc.
            let rank = |f: &str| {
                let known = [
                    "MJPEG", "YUYV", "NV12", "GREY", "RGB3", "BGR3", "UYVY", "YVYU", "VYUY", "YU12", "YV12", "NV21",
                    "Y16", "Y10", "Y12", "RGBP", "NV16", "NV61", "422P", "NV24", "NV42", "BA81", "GBRG", "GRBG",
                    "RGGB",
                ];
                let rgb32 = ["XR24", "AR24", "BGR4", "XB24", "AB24", "RX24", "RA24", "BX24", "BA24"];
                match known.iter().position(|x| *x == f) {
                    Some(i) => (i, String::new()),
                    None if rgb32.contains(&f) => (known.len(), f.to_string()),
                    None => (usize::MAX, String::new()),
                }
            };
            (rank(&a.0), a.1).cmp(&(rank(&b.0), b.1))
        });
        assert_eq!(keys, sorted, "{head}: modes not sorted");
        for m in modes {
            // Whole rates and true ones (29.97).
            let rates: Vec<f64> = m
                .split_once(" @ ")
                .expect("rates")
                .1
                .trim_end_matches(" fps")
                .split(", ")
                .map(|r| r.parse().expect("rate"))
                .collect();
            assert!(rates.windows(2).all(|w| w[0] < w[1]), "{head}: {m}");
        }
    }
}

#[test]
fn busy_denied_and_not_a_camera_are_one_clear_line() {
    let lab = lab();
    let (rc, _, err) = lab.scenario("busy");
    assert_eq!(rc, 1, "{err}");
    let line = one_line_error(&err);
    assert!(line.contains("camera 0") && line.contains("busy"), "{line}");

    let (rc, _, err) = lab.scenario("denied");
    assert_eq!(rc, 1, "{err}");
    let line = one_line_error(&err);
    assert!(
        line.contains("permission denied") && line.contains("video group"),
        "{line}"
    );

    let (rc, _, err) = lab.scenario("notcamera");
    assert_eq!(rc, 1, "{err}");
    let line = one_line_error(&err);
    assert!(line.contains("/dev/video11") && line.contains("not a camera"), "{line}");

    // A metadata node (as UVC cameras make beside each video node).
    let (rc, _, err) = lab.scenario("meta");
    assert_eq!(rc, 1, "{err}");
    let line = one_line_error(&err);
    assert!(
        line.contains("camera 2 (/dev/video2, vivid) is not a camera") && line.contains("metadata"),
        "{line}"
    );
}

#[test]
fn a_camera_without_a_decodable_mode_or_with_an_odd_name_is_one_clear_line() {
    let lab = lab();
    // The modes it offers are listed, so the user sees why.
    let (rc, _, err) = lab.scenario("unusable");
    assert_eq!(rc, 1, "{err}");
    let line = one_line_error(&err);
    assert!(
        line.contains("camera 12 (/dev/video12, Planar Cam)")
            && line.contains("offers no mode emojicam decodes")
            && line.contains("it offers: YUV9 320x180 @ "),
        "{line}"
    );

    let (rc, _, err) = lab.scenario("oddname");
    assert_eq!(rc, 1, "{err}");
    let line = one_line_error(&err);
    assert!(line.contains("/dev/video13") && line.contains("not UTF-8"), "{line}");
}

/// A scenario that recorded `--duration 3` to `SCENARIO.mp4`: it ran without a panic, exit 0,
/// its camera line names `label`, and the file is a valid video with rate x 3 s frames (within 3:
/// `--duration` counts from the first mosaic, frames are placed by capture time). Returns the
/// recording and its rate as ffprobe says it (`num/den`).
fn three_second_recording(lab: &Lab, scenario: &str, label: &str) -> (PathBuf, String) {
    let (rc, _, err) = lab.scenario(scenario);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(rc, 0, "{err}");
    assert!(err.contains(label), "{err}");
    let rec = lab.path(&format!("{scenario}.mp4"));
    let (n, rate) = ffprobe_frames(&rec).unwrap_or_else(|| panic!("{} is not a valid video", rec.display()));
    let (num, den) = rate.split_once('/').expect("rate");
    let expected = 3.0 * num.parse::<f64>().expect("num") / den.parse::<f64>().expect("den");
    eprintln!("{scenario}: {n} frames at {rate}, {expected:.1} expected");
    assert!((n as f64 - expected).abs() <= 3.0, "{n} frames for 3 s at {rate}");
    (rec, rate)
}

/// A camera that sends raw NV12 (capture cards, some webcams; before, emojicam decoded only
/// MJPEG and YUYV), captured through nokhwa, fed frames of the clip: recorded for `--duration 3`, a valid H.264 file at
/// its rate, each mosaic like a clip frame per tile, mirrored.
#[test]
fn raw_nv12_camera_into_a_recording() {
    // The rate is the loopback device's (v4l2loopback 0.12.7 says 30 whatever its feeder's).
    raw_camera_into_a_recording("raw", "camera 14 (Raw Cam): NV12 320x180@");
}

/// A loopback webcam fed planar I420 (YU12), as ffmpeg and GStreamer feed one by default: a
/// format nokhwa has no name for (before, "offers no mode emojicam decodes"), captured straight
/// from V4L2 into a recording like the NV12 camera's; chosen by a link to its device node (as
/// udev's `/dev/v4l/by-id/` links are).
#[test]
fn planar_i420_camera_captured_straight_from_v4l2_into_a_recording() {
    raw_camera_into_a_recording("i420", "camera 15 (I420 Cam): YU12 320x180@");
}

/// `scenario`'s 3 s recording (its camera line names `label`): every distinct mosaic like a frame
/// of the clip per tile, and mirrored.
fn raw_camera_into_a_recording(scenario: &str, label: &str) {
    let lab = lab();
    let (rec, _) = three_second_recording(lab, scenario, label);
    let clip: Vec<image::RgbImage> = frames(&lab.path("webcam_feed.avi"), 320, 180, "")
        .iter()
        .map(mirrored)
        .collect();
    let mosaics = distinct(frames(&rec, 320, 180, ""));
    assert!(mosaics.len() >= 2, "{scenario}: {} distinct mosaics", mosaics.len());
    for m in &mosaics {
        let (best, unmirrored) = clip
            .iter()
            .map(|c| (likeness(c, m, TILE).1, likeness(&mirrored(c), m, TILE).1))
            .fold((0.0, 0.0), |a, b| (f64::max(a.0, b.0), f64::max(a.1, b.1)));
        eprintln!("{scenario} mosaic: tile PSNR {best:.1} dB to the nearest clip frame, {unmirrored:.1} dB unmirrored");
        assert!(best >= TILE_PSNR_FLOOR, "{scenario}: {best:.1} dB");
        assert!(
            best > unmirrored,
            "{scenario}: not mirrored: {best:.1} vs {unmirrored:.1} dB"
        );
    }
}

/// A capture card (vivid's S-Video input with only a scaler) lists its sizes as a range wider
/// than the scaler gives: a mode it lists but does not take is one line naming the camera, the
/// mode asked for, the one it set and the others it offers. A driver that refuses to stream
/// (vivid's webcam) says so. Neither is "no camera found".
#[test]
fn a_mode_the_camera_lists_but_rejects_and_a_refused_stream_are_one_clear_line() {
    let lab = lab();
    let (rc, _, err) = lab.scenario("rejected");
    assert_eq!(rc, 1, "{err}");
    let line = one_line_error(&err);
    assert!(
        // NV12: of the raw formats the card offers, the cheapest to carry at that size.
        line.contains("camera 1 (/dev/video1, vivid) rejected NV12 3840x2160@25 (it set NV12 2880x2160 instead)")
            && line.contains("choose another mode with --size and --fps")
            && line.contains("it also offers: NV12 320x180 @ 25 fps; ")
            && line.contains("NV12 1920x1080 @ 25 fps; and YUYV, ")
            && !line.contains("3840x2160 @")
            && !line.contains("no camera"),
        "{line}"
    );

    let (rc, _, err) = lab.scenario("streamon");
    assert_eq!(rc, 1, "{err}");
    let line = one_line_error(&err);
    assert!(
        line.contains("camera 0 (/dev/video0, vivid): cannot start streaming YUYV 320x180@")
            && !line.contains("lost")
            && !line.contains("no camera"),
        "{line}\n{}",
        lab.text("streamon.log")
    );
}

/// A capture card whose frame interval is not 1/N s (the camera library refused those before
/// emojicam's fix to it, vendor/nokhwa-bindings-linux): vivid's S-Video input switched to NTSC,
/// 1001/30000 s (29.97 fps) whatever rate is asked, is listed at its true rate and recorded at
/// it for `--duration 3`: a valid H.264 file of 3 s at 30000/1001, the mosaic like the
/// picture per tile, mirrored.
#[test]
fn capture_card_at_29_97_fps_is_listed_and_recorded_at_its_true_rate() {
    let lab = lab();
    let (rc, out, err) = lab.scenario("cameras_ntsc");
    assert_eq!(rc, 0, "{err}");
    let cams = camera_blocks(&out);
    let (_, card) = cams
        .iter()
        .find(|(head, _)| head.contains("(/dev/video1)"))
        .unwrap_or_else(|| panic!("no capture card in:\n{out}"));
    assert!(
        card.iter().any(|m| m == "YUYV 320x180 @ 29.97 fps"),
        "{card:?}\n{}",
        lab.text("ntsc.log")
    );
    assert_modes_sorted(&cams);

    let (rec, rate) = three_second_recording(lab, "card", "camera 1 (vivid): YUYV 320x180@29.97");
    assert_eq!(rate, "30000/1001");

    let direct = rgb(&lab.path("card_direct.png"));
    let mosaics = distinct(frames(&rec, 320, 180, ""));
    let last = mosaics.last().expect("a mosaic");
    for m in &mosaics {
        let (_, straight) = likeness(&mirrored(&direct), m, TILE);
        let (_, unmirrored) = likeness(&direct, m, TILE);
        eprintln!("card mosaic: tile PSNR {straight:.1} dB vs the mirrored picture, {unmirrored:.1} dB unmirrored");
    }
    let (_, straight) = likeness(&mirrored(&direct), last, TILE);
    let (_, unmirrored) = likeness(&direct, last, TILE);
    assert!(straight >= TILE_PSNR_FLOOR, "{straight:.1} dB");
    assert!(
        straight >= unmirrored + 3.0,
        "not mirrored: {straight:.1} vs {unmirrored:.1} dB"
    );
}

/// The MJPEG loopback webcam, fed a real clip, chosen by part of its name, into a recording;
/// its feeder stops some seconds into the recording: lost like an unplugged camera.
#[test]
fn mjpeg_webcam_by_name_into_a_recording_then_lost() {
    let lab = lab();
    let (rc, _, err) = lab.scenario("webcam");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("camera 10 (Lab Webcam): MJPEG 320x180@"), "{err}");
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("camera 10 (") && l.contains("Lab Webcam") && l.contains("lost")),
        "{err}"
    );
    assert!(err.contains("saved recording"), "{err}");
    // It noticed the stall (10 s without a frame) and finished the recording; how long that
    // took is printed, not asserted (with the vivid run beside it on a loaded machine, 138 s).
    let stopped = lab.instant("feeder_stop.time");
    let t = lab.text("webcam.time");
    let ended: f64 = t.split_whitespace().nth(1).and_then(|x| x.parse().ok()).expect("time");
    eprintln!("webcam: exit {:.0} s after the feeder stopped", ended - stopped);
    // Frames are placed by capture time: the file covers the camera's frames from the first
    // mosaic (its first bytes, written within a second or two of it) to the stop, and at most
    // until emojicam noticed, however slowly the pipeline ran.
    let rec = lab.path("webcam.mp4");
    let (n, rate) = ffprobe_frames(&rec).unwrap_or_else(|| panic!("{} is not a valid video", rec.display()));
    let (num, den) = rate.split_once('/').expect("rate");
    let secs = n as f64 / (num.parse::<f64>().expect("num") / den.parse::<f64>().expect("den"));
    let recording = lab.instant("webcam_recording.time");
    let (fed, ran) = (stopped - recording, ended - recording);
    eprintln!("webcam: {n} frames at {rate} = {secs:.1} s; frames fed {fed:.1} s after its first bytes, exit {ran:.1} s after them");
    assert!(
        secs >= fed - 3.0 && secs <= ran + 3.0,
        "{secs:.1} s recorded: the feeder ran {fed:.1} s into the recording, emojicam {ran:.1} s"
    );

    // Each mosaic resembles a frame the webcam sent, mirrored.
    let clip: Vec<image::RgbImage> = frames(&lab.path("webcam_feed.avi"), 320, 180, "")
        .iter()
        .map(mirrored)
        .collect();
    let mosaics = distinct(frames(&rec, 320, 180, ""));
    assert!(mosaics.len() >= 2, "{} distinct mosaics", mosaics.len());
    for m in &mosaics {
        let best = clip.iter().map(|c| likeness(c, m, TILE).1).fold(0.0, f64::max);
        eprintln!("webcam mosaic: tile PSNR {best:.1} dB to the nearest clip frame");
        assert!(best >= TILE_PSNR_FLOOR, "{best:.1} dB");
    }
}

/// vivid (YUYV), asked for a size and rate it lacks, into a recording and the virtual camera,
/// then disconnected mid-run.
#[test]
fn vivid_nearest_mode_mirror_recording_and_camera_lost() {
    let lab = lab();
    let (rc, _, err) = lab.scenario("vivid");
    assert!(!err.contains("panicked"), "{err}");
    // The nearest mode, printed.
    assert!(
        err.contains("YUYV 320x180@15") && err.contains("nearest mode to 330x190@14"),
        "{err}"
    );
    // Lost mid-run: one line naming the camera, exit 1, the recording so far kept.
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.lines().any(|l| l.contains("camera 0") && l.contains("lost")),
        "{err}"
    );
    // Latency is per frame, from its arrival: not the process's age (start-up frames left out).
    let run = lab.seconds("vivid");
    let median: f64 = err
        .split("latency median ")
        .nth(1)
        .and_then(|s| s.split(" ms").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no latency in the summary: {err}"));
    assert!(
        median < run * 1000.0 / 4.0,
        "latency median {median} ms in a {run:.0} s run"
    );
    let rec = lab.path("vivid.mp4");
    let (n, rate) = ffprobe_frames(&rec).unwrap_or_else(|| panic!("{} is not a valid video", rec.display()));
    assert_eq!(rate, "15/1");
    // Frames are placed by capture time: the file lasts as long as the run did after start-up,
    // however slowly the pipeline ran.
    let secs = n as f64 / VIVID_RATE;
    eprintln!("vivid: {n} frames = {secs:.1} s of a {run:.1} s run");
    assert!(
        secs <= run + 1.0,
        "{n} frames at 15 fps is more than the {run:.0} s run"
    );
    assert!(secs >= 10.0, "{n} frames at 15 fps: the recording lost its time base");

    // The mosaic resembles vivid's picture, mirrored (the default for cameras): colour bars
    // read differently left to right.
    let direct = rgb(&lab.path("vivid_direct.png"));
    let mosaics = distinct(frames(&rec, 320, 180, ""));
    assert!(mosaics.len() >= 2, "{} distinct mosaics", mosaics.len());
    // No column of 8 x 2 blocks stands out (as it does when the recording is made through the
    // GPU's I420 pass in this VM).
    let phases = column_phase_offsets(&mosaics);
    eprintln!(
        "vivid recording: luma against the neighbours per column phase, even rows {:.1?}, odd rows {:.1?}",
        phases[0], phases[1]
    );
    assert!(
        phases.iter().flatten().all(|d| d.abs() < 4.0),
        "a column in every 8 differs from its neighbours: {phases:.1?}"
    );
    for m in &mosaics[1..] {
        let (_, straight) = likeness(&mirrored(&direct), m, TILE);
        let (_, unmirrored) = likeness(&direct, m, TILE);
        eprintln!("vivid mosaic: tile PSNR {straight:.1} dB vs the mirrored picture, {unmirrored:.1} dB unmirrored");
        assert!(straight >= TILE_PSNR_FLOOR, "{straight:.1} dB");
        assert!(
            straight >= unmirrored + 3.0,
            "not mirrored: {straight:.1} vs {unmirrored:.1} dB"
        );
    }
}

/// The virtual camera: consumers before and after emojicam, stopping and coming back, read
/// mosaic frames at the camera's size and rate.
#[test]
fn virtual_camera_serves_mosaic_frames_to_consumers() {
    let lab = lab();
    let direct = mirrored(&rgb(&lab.path("vivid_direct.png")));
    let recorded = distinct(frames(&lab.path("vivid.mp4"), 320, 180, ""));
    for consumer in ["consumer1", "consumer2"] {
        let log = lab.text(&format!("{consumer}.log"));
        let stream = log
            .lines()
            .find(|l| l.contains("Stream #0:0") && l.contains("Video"))
            .unwrap_or_else(|| panic!("{consumer} saw no video stream:\n{log}"));
        assert!(stream.contains("320x180") && stream.contains("15 fps"), "{stream}");
        for i in 1..=2 {
            let p = lab.path(&format!("{consumer}_{i}.png"));
            let f = rgb(&p);
            assert_eq!((f.width(), f.height()), (320, 180));
            // Emoji, not the raw picture: like a recorded mosaic pixel for pixel, unlike the
            // camera's picture, though its tile colours follow it.
            let best = recorded.iter().map(|m| pixel_psnr(m, &f)).fold(0.0, f64::max);
            let raw = pixel_psnr(&direct, &f);
            let (_, tiles) = likeness(&direct, &f, TILE);
            eprintln!("{consumer} frame {i}: {best:.1} dB to a recorded mosaic, {raw:.1} dB to the picture, tile PSNR {tiles:.1} dB");
            assert!(best >= 25.0 && raw < 15.0 && tiles >= TILE_PSNR_FLOOR);
        }
    }
    // emojicam never waited for them: every mosaic it made went to the virtual camera...
    let (_, _, err) = lab.scenario("vivid");
    // ("emojicam: 238 frames in 61.2 s ...", "emojicam: virtual camera /dev/video11: 238 frames")
    let count = |prefix: &str, has: &str| -> u64 {
        err.lines()
            .filter(|l| l.contains(has))
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no '{prefix}...{has}' line: {err}"))
    };
    let made = count("emojicam: ", " frames in ");
    let sent = count("emojicam: virtual camera /dev/video11: ", " frames");
    assert!(made >= 2, "{err}");
    assert_eq!(sent, made, "{err}");
    // ... and mosaics kept coming (the recording grew) while no consumer read.
    let events: Vec<(String, f64)> = lab
        .text("events.txt")
        .lines()
        .filter_map(|l| {
            let (name, t) = l.split_once(' ')?;
            Some((name.to_string(), t.parse().ok()?))
        })
        .collect();
    let at = |name: &str| {
        events
            .iter()
            .find(|(n, _)| n == name)
            .map(|e| e.1)
            .unwrap_or_else(|| panic!("no {name} in {events:?}"))
    };
    let sizes: Vec<(f64, u64)> = lab
        .text("vivid_sizes.txt")
        .lines()
        .filter_map(|l| {
            let (t, n) = l.split_once(' ')?;
            Some((t.parse().ok()?, n.parse().ok()?))
        })
        .collect();
    for (from, to) in [("consumer1_done", "consumer2_start"), ("consumer2_done", "disconnect")] {
        let (t0, t1) = (at(from), at(to));
        let inside: Vec<u64> = sizes
            .iter()
            .filter(|(t, _)| (t0..=t1).contains(t))
            .map(|s| s.1)
            .collect();
        let (first, last) = (inside.first().copied(), inside.last().copied());
        eprintln!(
            "no consumer from {from} to {to} ({:.1} s): recording {first:?} -> {last:?} bytes",
            t1 - t0
        );
        assert!(
            matches!((first, last), (Some(a), Some(b)) if b > a),
            "the recording did not grow while no consumer read ({from} to {to}): {first:?} -> {last:?}"
        );
    }
}
