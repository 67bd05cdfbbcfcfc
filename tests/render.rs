//! `emojicam render` end to end on the software GPU, with the real model, atlas, photos and video.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

mod common;

use common::*;
use std::path::PathBuf;

fn photos() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/data/photos"))
        .expect("tests/data/photos")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png" || e == "jpg" || e == "jpeg"))
        .collect();
    v.sort();
    assert!(v.len() >= 3, "expected the held-back photos in tests/data/photos");
    v
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn parse_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("json output")).expect("valid json")
}

#[test]
fn image_to_png_json_txt_with_both_classifiers() {
    let meta = emoji_meta();
    let photo = &photos()[0];
    let src = rgb(photo);
    let dir = tmp();
    for classifier in ["onnx", "nearest"] {
        let png = dir.path().join(format!("{classifier}.png"));
        let json = dir.path().join(format!("{classifier}.json"));
        let txt = dir.path().join(format!("{classifier}.txt"));
        for out in [&png, &json, &txt] {
            let o = run(bin()
                .args(["render", "--classifier", classifier, "-q", "--input"])
                .arg(photo)
                .arg("--output")
                .arg(out));
            assert!(o.status.success(), "{classifier} -> {}", out.display());
        }
        // Output size = input size.
        let mosaic = rgb(&png);
        assert_eq!(mosaic.dimensions(), src.dimensions());
        // WebP is lossless: the same picture, smaller than the PNG.
        let webp = dir.path().join(format!("{classifier}.webp"));
        let o = run(bin()
            .args(["render", "--classifier", classifier, "-q", "--input"])
            .arg(photo)
            .arg("--output")
            .arg(&webp));
        assert!(o.status.success(), "{classifier} -> {}", webp.display());
        assert_eq!(rgb(&webp), mosaic, "{classifier}: the WebP is not the PNG's picture");
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(
            size(&webp) < size(&png),
            "{classifier}: WebP {} bytes, PNG {}",
            size(&webp),
            size(&png)
        );

        // Every tile is an emoji of the default set.
        let v = parse_json(&json);
        let (cols, rows) = (v["cols"].as_u64().unwrap_or(0), v["rows"].as_u64().unwrap_or(0));
        assert_eq!(v["tile"].as_u64(), Some(10));
        assert_eq!(cols, (src.width() as u64).div_ceil(10));
        assert_eq!(rows, (src.height() as u64).div_ceil(10));
        let emoji: Vec<String> = v["emoji"]
            .as_array()
            .expect("emoji")
            .iter()
            .map(|e| e.as_str().expect("str").to_string())
            .collect();
        assert_eq!(emoji.len() as u64, cols * rows);
        let default: std::collections::HashSet<&str> =
            meta.sets["default"].iter().map(|&i| meta.unified[i].as_str()).collect();
        for e in &emoji {
            assert!(default.contains(e.as_str()), "{e} is not an emoji of the default set");
        }
        let distinct: std::collections::HashSet<&String> = emoji.iter().collect();
        assert!(
            distinct.len() > 50,
            "{classifier}: only {} distinct emoji",
            distinct.len()
        );

        // The .txt is the same grid as emoji characters, one line per tile row.
        let text_of: std::collections::HashMap<&str, &str> = meta
            .unified
            .iter()
            .map(String::as_str)
            .zip(meta.text.iter().map(String::as_str))
            .collect();
        let txt = std::fs::read_to_string(&txt).expect("txt");
        let lines: Vec<&str> = txt.lines().collect();
        assert_eq!(lines.len() as u64, rows);
        for (r, line) in lines.iter().enumerate() {
            let expect: String = emoji[r * cols as usize..(r + 1) * cols as usize]
                .iter()
                .map(|u| text_of[u.as_str()])
                .collect();
            assert_eq!(*line, expect, "row {r}");
        }

        // It looks like the photo: per-tile colour PSNR well above a random choice.
        let (p2, pt) = likeness(&src, &mosaic, 10);
        eprintln!("{classifier}: 2x2 PSNR {p2:.2} dB, tile PSNR {pt:.2} dB");
        assert!(pt > 18.0, "{classifier}: tile PSNR {pt:.2} dB");
        assert!(p2 > 17.0, "{classifier}: 2x2 PSNR {p2:.2} dB");
    }
}

#[test]
fn output_size_and_backgrounds() {
    let photo = &photos()[1];
    let src = rgb(photo);
    let dir = tmp();
    let big = dir.path().join("big.png");
    let size = format!("{}x{}", src.width() * 2, src.height() * 2);
    let o = run(bin()
        .args(["render", "-q", "--size", &size, "--input"])
        .arg(photo)
        .arg("--output")
        .arg(&big));
    assert!(o.status.success());
    let mosaic = rgb(&big);
    assert_eq!(mosaic.dimensions(), (src.width() * 2, src.height() * 2));
    let (_, pt) = likeness(&src, &mosaic, 10);
    assert!(pt > 18.0, "upscaled mosaic tile PSNR {pt:.2}");

    // A white background lightens the mosaic. The nearest classifier composites every emoji
    // over the background it will be drawn on, so with it the `tile` background (each tile's
    // own colour behind its emoji) must raise likeness above black.
    let mut means = Vec::new();
    for bg in ["black", "white", "tile", "#336699"] {
        let out = dir.path().join(format!("bg-{}.png", bg.trim_start_matches('#')));
        let o = run(bin()
            .args(["render", "-q", "--classifier", "nearest", "--background", bg, "--input"])
            .arg(photo)
            .arg("--output")
            .arg(&out));
        assert!(o.status.success(), "background {bg}");
        let m = rgb(&out);
        let mean = m
            .pixels()
            .map(|p| p.0.iter().map(|&c| c as f64).sum::<f64>())
            .sum::<f64>()
            / (m.len() as f64);
        means.push((bg, mean, likeness(&src, &m, 10).1));
    }
    eprintln!("{means:?}");
    assert!(
        means[1].1 > means[0].1 + 5.0,
        "white background must be lighter than black"
    );
    assert!(
        means[2].2 > means[0].2,
        "the tile background must resemble the photo more"
    );
    let o = run(bin()
        .args(["render", "-q", "--background", "purple-ish", "--input"])
        .arg(photo)
        .arg("--output")
        .arg(dir.path().join("x.png")));
    assert_eq!(o.status.code(), Some(2));
}

/// `--size` of another shape stretches the mosaic, emoji and all: the summary says so once and
/// names the size that keeps the shape; a size of the input's shape says nothing of it. The summary line
/// names the output's size next to the input's.
#[test]
fn a_size_of_another_shape_says_it_stretches() {
    let photo = common::photo("astronaut.png"); // 512x512
    let dir = tmp();
    for (size, note) in [
        ("1280x360", Some("--size 1280x1280 keeps the shape")),
        ("1024x1024", None),
    ] {
        let out = dir.path().join(format!("{size}.png"));
        let o = run(bin()
            .args(["render", "--size", size, "--input"])
            .arg(&photo)
            .arg("--output")
            .arg(&out));
        assert!(o.status.success(), "{}", stderr(&o));
        let said = stderr(&o);
        assert_eq!(rgb(&out).dimensions(), crate::parse(size));
        match note {
            Some(n) => assert!(
                said.contains("is not the shape of the input (512x512)") && said.contains(n),
                "{said}"
            ),
            None => assert!(!said.contains("shape"), "{said}"),
        }
        let name = out.file_name().expect("a file name").to_string_lossy();
        assert!(
            said.contains("1 frame 512x512 -> ") && said.contains(&format!("{name} at {size} (")),
            "{said}"
        );
    }
}

fn parse(size: &str) -> (u32, u32) {
    let (w, h) = size.split_once('x').expect("WxH");
    (w.parse().expect("width"), h.parse().expect("height"))
}

#[test]
fn video_keeps_frame_count_and_rate() {
    assert!(have("ffprobe"), "ffprobe is needed (./setup.sh installs ffmpeg)");
    let dir = tmp();
    // A short real clip: the first 20 frames of the demo clip at 320x180, as Y4M and MP4 inputs.
    let small_y4m = dir.path().join("small.y4m");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(demo_clip())
        .args(["-frames:v", "20", "-vf", "scale=320:180", "-pix_fmt", "yuv420p"])
        .arg(&small_y4m)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ffmpeg made the test clip");
    let out_mp4 = dir.path().join("out.mp4");
    let o = run(bin()
        .args(["render", "--input"])
        .arg(&small_y4m)
        .arg("--output")
        .arg(&out_mp4));
    assert!(o.status.success());
    assert!(stderr(&o).contains("20 frames"), "summary line names the frame count");
    assert_eq!(ffprobe_frames(&out_mp4), Some((20, "25/1".to_string())));

    // MP4 in (H.264 with audio) -> Y4M and JSONL out, checked by decoding the outputs. The Y4M
    // at 320x180 (11 MB, where the clip's own 1280x720 takes 180 MB of a small /tmp).
    let out_y4m = dir.path().join("out.y4m");
    let o = run(bin()
        .args(["render", "-q", "--size", "320x180", "--input"])
        .arg(demo_clip())
        .arg("--output")
        .arg(&out_y4m));
    assert!(o.status.success());
    assert_eq!(ffprobe_frames(&out_y4m), Some((132, "25/1".to_string())));
    let jsonl = dir.path().join("out.jsonl");
    let o = run(bin()
        .args(["render", "-q", "--tile", "16", "--input"])
        .arg(&small_y4m)
        .arg("--output")
        .arg(&jsonl));
    assert!(o.status.success());
    let text = std::fs::read_to_string(&jsonl).expect("jsonl");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 20);
    for l in &lines {
        assert_eq!(l["tile"].as_u64(), Some(16));
        assert_eq!(l["cols"].as_u64(), Some(20));
        assert_eq!(l["rows"].as_u64(), Some(12));
        assert_eq!(l["emoji"].as_array().map(|a| a.len()), Some(240));
    }
}

#[test]
fn demo_runs() {
    let dir = tmp();
    let o = run(bin().args(["demo", "--out-dir"]).arg(dir.path()));
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    let paths: Vec<&str> = stdout.lines().collect();
    assert_eq!(paths.len(), 2, "demo prints the MP4 and PNG paths");
    assert!(std::path::Path::new(paths[0]).is_file() && paths[0].ends_with(".mp4"));
    assert!(std::path::Path::new(paths[1]).is_file() && paths[1].ends_with(".png"));
    assert!(have("ffprobe"), "ffprobe is needed (./setup.sh installs ffmpeg)");
    assert_eq!(
        ffprobe_frames(std::path::Path::new(paths[0])),
        Some((132, "25/1".to_string()))
    );
}

/// Runs `render` and asserts a clean failure: the exit code, one clear line, no panic, no output.
fn fails(args: &[&str], input: &std::path::Path, output: &std::path::Path, code: i32, needle: &str) {
    let o = run(bin()
        .arg("render")
        .args(args)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "exit code for {needle}: {err}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "message mentions '{needle}': {err}"
    );
    assert!(!output.exists(), "no output left behind for {needle}");
    let Ok(dir) = std::fs::read_dir(output.parent().expect("dir")) else {
        return; // the output directory does not exist: nothing can be left in it
    };
    let leftovers: Vec<_> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// `dir/panorama.png`, `w` x `h`: a left half red and a right half blue, as a panorama's sky
/// and sea would be.
fn panorama(dir: &std::path::Path, w: u32, h: u32) -> PathBuf {
    let path = dir.join("panorama.png");
    let img = image::RgbImage::from_fn(w, h, |x, _| {
        if x < w.div_ceil(2) {
            image::Rgb([220, 40, 30])
        } else {
            image::Rgb([30, 60, 200])
        }
    });
    img.save(&path).expect("png");
    path
}

#[test]
fn a_photo_wider_than_the_gpu_takes_is_scaled_to_fit_and_says_so() {
    // 65535x16 (a JPEG's widest; no GPU's textures are as wide; about 1 megapixel): a left half
    // red and a right half blue, as a panorama's sky and sea would be. Its mosaic is drawn from a
    // copy scaled to the GPU's widest texture, keeping the aspect and the picture.
    let dir = tmp();
    let input = panorama(dir.path(), 65535, 16);
    let out = dir.path().join("mosaic.png");
    let o = run(bin().args(["render", "-i"]).arg(&input).arg("-o").arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    let said = stderr(&o);
    assert!(said.contains("65535x16 is more than this GPU takes"), "{said}");
    let mosaic = rgb(&out);
    let (w, h) = mosaic.dimensions();
    assert!((4096..65535).contains(&w) && h >= 1, "{w}x{h}");
    assert!(said.contains(&format!("scaled to {w}x{h}")), "{said}");
    assert!(
        (w as f64 / h as f64 - 65535.0 / 16.0).abs() < 65535.0 / 16.0 * 0.6,
        "{w}x{h}"
    );
    // Red on the left, blue on the right, as in the photo.
    let mean = |x0: u32, x1: u32| {
        let px: Vec<_> = (x0..x1).flat_map(|x| (0..h).map(move |y| (x, y))).collect();
        [0, 1, 2].map(|c| px.iter().map(|&(x, y)| mosaic.get_pixel(x, y)[c] as f64).sum::<f64>() / px.len() as f64)
    };
    let (left, right) = (mean(0, w / 4), mean(w * 3 / 4, w));
    assert!(
        left[0] > left[2] + 30.0 && right[2] > right[0] + 30.0,
        "left {left:?}, right {right:?}"
    );
}

#[test]
fn a_photo_wider_than_the_gpu_takes_plays_live_from_a_scaled_copy() {
    // The live view opens the photo before the GPU: a side above wgpu's default texture limit
    // (8192, what every desktop adapter offers) is scaled to it, once, keeping the aspect.
    let dir = tmp();
    let input = panorama(dir.path(), 20000, 400);
    let out = dir.path().join("live.y4m");
    let o = run(bin()
        .args(["--no-window", "--duration", "1", "-i"])
        .arg(&input)
        .arg("--output")
        .arg(&out));
    let said = stderr(&o);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("20000x400 is more than a live session takes: it is shown from a copy scaled to 8192x163"),
        "{said}"
    );
    let bytes = std::fs::read(&out).expect("the stream");
    let header_end = bytes.iter().position(|&b| b == b'\n').expect("a Y4M header");
    let header = String::from_utf8_lossy(&bytes[..header_end]);
    assert!(header.contains(" W8192 H163 "), "{header}");
    // The first frame: Cr high on the left (red), Cb high on the right (blue).
    let (w, h) = (8192usize, 163usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let frame = header_end + 1 + "FRAME\n".len();
    let (u, v) = (frame + w * h, frame + w * h + cw * ch);
    let mean = |plane: usize, x0: usize, x1: usize| {
        let n = (x1 - x0) * ch;
        (0..ch)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .map(|(x, y)| bytes[plane + y * cw + x] as f64)
            .sum::<f64>()
            / n as f64
    };
    let (left_cr, right_cb) = (mean(v, 0, cw / 4), mean(u, cw * 3 / 4, cw));
    assert!(
        left_cr > 150.0 && right_cb > 150.0,
        "left Cr {left_cr}, right Cb {right_cb}"
    );
}

#[test]
fn a_device_with_no_extension_gets_the_y4m_stream() {
    // `-o /dev/null` (a run for its timing, or a check that the input decodes): a character
    // device is written to as a Y4M stream, like stdout, never replaced.
    for input in [photos()[0].clone(), root().join("tests/data/video/small.mp4")] {
        let o = run(bin().args(["render", "-i"]).arg(&input).args(["-o", "/dev/null"]));
        assert!(o.status.success(), "{}: {}", input.display(), stderr(&o));
        assert!(stderr(&o).contains("-> /dev/null"), "{}", stderr(&o));
    }
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata("/dev/null").expect("/dev/null");
    assert!(meta.file_type().is_char_device(), "/dev/null is still a device");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tmp();
    let d = dir.path();
    let photo = &photos()[0];
    let out = d.join("out.png");
    fails(&[], &d.join("missing.png"), &out, 1, "missing.png");
    fails(&[], d, &out, 1, "cannot read");
    let garbage = d.join("garbage.png");
    std::fs::write(&garbage, b"this is not a png at all").expect("write");
    fails(&[], &garbage, &out, 1, "garbage.png");
    let empty = d.join("empty.jpg");
    std::fs::write(&empty, b"").expect("write");
    fails(&[], &empty, &out, 1, "empty.jpg");
    let gif = d.join("anim.gif");
    std::fs::write(&gif, b"GIF89a").expect("write");
    fails(&[], &gif, &out, 1, "anim.gif");
    // A truncated MP4 (first half of a real file) and garbage named .mp4.
    let clip = std::fs::read(demo_clip()).expect("clip");
    let cut = d.join("cut.mp4");
    std::fs::write(&cut, &clip[..clip.len() / 2]).expect("write");
    fails(&[], &cut, &d.join("cut-out.mp4"), 1, "cut.mp4");
    let fake = d.join("fake.mp4");
    std::fs::write(&fake, vec![7u8; 5000]).expect("write");
    fails(&[], &fake, &d.join("fake-out.mp4"), 1, "fake.mp4");
    // Tile sizes out of range, unknown set, unknown output format, unwritable output.
    fails(&["--tile", "3"], photo, &out, 2, "tile size 3");
    fails(&["--tile", "65"], photo, &out, 2, "tile size 65");
    fails(&["--emoji", "nope"], photo, &out, 2, "nope");
    fails(&[], photo, &d.join("out.bmp"), 2, "unsupported output");
    // A directory as the output is named as such (it was "has no extension").
    let o = run(bin()
        .args(["render", "-q", "--input"])
        .arg(photo)
        .arg("--output")
        .arg(d));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
    fails(&[], photo, &d.join("no/such/dir/out.png"), 1, "cannot write");
    fails(&["--size", "12"], photo, &out, 2, "invalid size");
}

#[test]
fn video_with_sound_renders_with_its_sound() {
    let dir = tmp();
    // H.264 High with B-frames and an MP3 track, as phones and cameras write them.
    let input = dir.path().join("phone.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(demo_clip())
        .args(["-frames:v", "15", "-t", "0.6", "-vf", "scale=320:180"])
        .args([
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-bf",
            "3",
            "-c:a",
            "libmp3lame",
        ])
        .arg(&input)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ffmpeg made the test clip");
    let audio_codec = |path: &std::path::Path| {
        let o = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "a",
                "-show_entries",
                "stream=codec_name",
            ])
            .args(["-of", "csv=p=0"])
            .arg(path)
            .output()
            .expect("ffprobe");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    // MP4 and QuickTime take MP3: copied. WebM does not: re-encoded to Opus. The summary says which.
    for (name, said, codec) in [
        ("out.mp4", "; sound copied (MPEG-1 Layer 3 (MP3))", "mp3"),
        ("Out.MOV", "; sound copied (MPEG-1 Layer 3 (MP3))", "mp3"),
        ("out.webm", "; sound re-encoded (MPEG-1 Layer 3 (MP3) -> Opus)", "opus"),
    ] {
        let out = dir.path().join(name);
        let o = run(bin().args(["render", "--input"]).arg(&input).arg("--output").arg(&out));
        assert!(o.status.success());
        assert!(stderr(&o).contains(said), "{name}: {}", stderr(&o));
        assert_eq!(ffprobe_frames(&out), Some((15, "25/1".to_string())), "{name}");
        assert_eq!(audio_codec(&out), codec, "{name}");
        // A .mov is QuickTime (Apple's tools read its brand), not an MP4 under another name.
        let brand = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format_tags=major_brand",
                "-of",
                "csv=p=0",
            ])
            .arg(&out)
            .output()
            .expect("ffprobe");
        let brand = String::from_utf8_lossy(&brand.stdout).trim().to_string();
        if name.ends_with("MOV") {
            assert_eq!(brand, "qt", "{name}");
        } else if name.ends_with("mp4") {
            assert_ne!(brand, "qt", "{name}");
        }
    }
    let silent = dir.path().join("silent.webm");
    let o = run(bin()
        .args(["render", "--no-audio", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&silent));
    assert!(o.status.success());
    let streams = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0"])
        .arg(&silent)
        .output()
        .expect("ffprobe");
    assert_eq!(String::from_utf8_lossy(&streams.stdout).trim(), "video");
}

/// A small H.264 + AAC clip made by ffmpeg from the demo clip.
fn clip_with_sound(dir: &std::path::Path) -> PathBuf {
    let input = dir.join("clip.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(demo_clip())
        .args([
            "-frames:v",
            "6",
            "-t",
            "0.24",
            "-vf",
            "scale=160:90",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
        ])
        .arg(&input)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ffmpeg made the test clip");
    input
}

fn stream_types(path: &std::path::Path) -> String {
    let o = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&o.stdout).trim().replace('\n', ",")
}

#[test]
fn a_video_from_a_fifo_keeps_its_sound() {
    // The FIFO is read once into a spool file: the sound must come from that copy, not from
    // the FIFO (already drained: the sound was silently lost).
    let dir = tmp();
    let input = clip_with_sound(dir.path());
    let fifo = dir.path().join("pipe.mp4");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let bytes = std::fs::read(&input).expect("read");
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(writer_path, bytes));
    let out = dir.path().join("out.mp4");
    let o = run(bin().args(["render", "--input"]).arg(&fifo).arg("--output").arg(&out));
    writer.join().expect("writer").expect("fifo written");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("; sound copied (MPEG-4 AAC)"), "{}", stderr(&o));
    assert_eq!(stream_types(&out), "video,audio");
}

#[test]
fn render_looks_up_the_sound_track_once() {
    // GStreamer's Discoverer (about 0.2 s a run) finds the sound for the output and for the
    // summary line: once per render. Counted in GStreamer's own log of discover_uri calls.
    let dir = tmp();
    let input = clip_with_sound(dir.path());
    let out = dir.path().join("out.mkv");
    let log = dir.path().join("gst.log");
    let o = run(bin()
        .args(["render", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .env("GST_DEBUG", "discoverer:5")
        .env("GST_DEBUG_NO_COLOR", "1")
        .env("GST_DEBUG_FILE", &log));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("; sound copied (MPEG-4 AAC)"), "{}", stderr(&o));
    assert_eq!(stream_types(&out), "video,audio");
    let log = std::fs::read_to_string(&log).expect("GStreamer's log");
    assert_eq!(log.matches("gst_discoverer_discover_uri").count(), 1, "Discoverer runs");
}

#[test]
fn an_animated_png_says_only_its_first_frame_is_read() {
    // Not silently one frame of many: the summary names the limit (and a plain PNG does not).
    let dir = tmp();
    let apng = dir.path().join("sticker.png");
    ffmpeg_test_pattern("size=64x48:rate=5:duration=0.6", &["-c:v", "apng", "-f", "apng"], &apng);
    for (input, animated) in [(apng.clone(), true), (photos()[0].clone(), false)] {
        let out = dir.path().join("out.png");
        let o = run(bin().args(["render", "--input"]).arg(&input).arg("--output").arg(&out));
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            stderr(&o).contains("animated PNG: only its first frame"),
            animated,
            "{}",
            stderr(&o)
        );
        assert!(out.exists());
    }
}

#[test]
fn a_video_cut_short_renders_what_is_there_and_says_so() {
    // A fast-start MP4 (index first) cut in half: its index still declares the whole clip.
    // The frames that are there are rendered, with one warning line (it was silent); the
    // whole file gives none.
    let dir = tmp();
    let whole = dir.path().join("whole.mp4");
    ffmpeg_test_pattern(
        "size=96x64:rate=10:duration=2",
        &["-c:v", "libx264", "-g", "5", "-movflags", "+faststart"],
        &whole,
    );
    let bytes = std::fs::read(&whole).expect("clip");
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    // Whole files whose sound outlasts their picture (4 s of sound, 2 s of video): the file's
    // duration is the sound's, but nothing is missing (it said "0.6 of the 4.00 s"). Matroska
    // declares only the file's duration (MKV and WebM said "2.00 of the 4.00 s").
    let long_sound = |name: &str, codecs: &[&str]| {
        let path = dir.path().join(name);
        let mut encode = vec!["-f", "lavfi", "-i", "sine=duration=4"];
        encode.extend(codecs);
        ffmpeg_test_pattern("size=96x64:rate=10:duration=2", &encode, &path);
        path
    };
    let mp4 = long_sound("long-sound.mp4", &["-c:v", "libx264", "-c:a", "aac"]);
    let mkv = long_sound("long-sound.mkv", &["-c:v", "libx264", "-c:a", "aac"]);
    let webm = long_sound(
        "long-sound.webm",
        &["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"],
    );
    // A Matroska file cut short still says so (its sound is cut with its picture).
    let bytes = std::fs::read(&mkv).expect("clip");
    let cut_mkv = dir.path().join("cut.mkv");
    std::fs::write(&cut_mkv, &bytes[..bytes.len() / 2]).expect("write");
    for (input, warned) in [
        (&whole, false),
        (&cut, true),
        (&mp4, false),
        (&mkv, false),
        (&webm, false),
        (&cut_mkv, true),
    ] {
        let out = dir.path().join("out.y4m");
        let o = run(bin()
            .args(["render", "-q", "--input"])
            .arg(input)
            .arg("--output")
            .arg(&out));
        let err = stderr(&o);
        assert!(o.status.success(), "{err}");
        assert_eq!(err.contains("could be read"), warned, "{}: {err}", input.display());
        if *input == cut {
            assert!(
                err.contains("of the 2.00 s of video its file declares could be read"),
                "{err}"
            );
        }
        // Nothing is damaged in the whole files (a sound block before the first picture, as
        // ffmpeg writes MKV, counted one frame lost).
        if !warned {
            assert!(!err.contains("damaged input frame"), "{}: {err}", input.display());
        }
        assert!(err.trim_end().lines().count() <= 1, "{err}");
    }
}

#[test]
fn a_closed_stdout_is_refused_before_rendering() {
    // `render -o - >&-`: Rust points a closed stdout at /dev/null, so the whole stream went
    // nowhere and the run said it had written it (exit 0). A redirect to /dev/null, write-only
    // or read-write, is a choice and still renders.
    let input = root().join("tests/data/video/small.y4m");
    let sh = |redirect: &str| {
        run(std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec \"$0\" render -q --input \"$1\" --output - {redirect}"))
            .arg(env!("CARGO_BIN_EXE_emojicam"))
            .arg(&input))
    };
    let o = sh(">&-");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("standard output is closed"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // Write-only (a shell's redirect) and read-write (Python's subprocess.DEVNULL, nohup)
    // /dev/null are both choices, not a closed stdout.
    for redirect in [">/dev/null", "1<>/dev/null"] {
        let o = sh(redirect);
        assert!(o.status.success(), "{redirect}: {}", stderr(&o));
    }
}

#[test]
fn y4m_on_stdout_decodes() {
    assert!(have("ffprobe"), "ffprobe is needed (./setup.sh installs ffmpeg)");
    let dir = tmp();
    // Offline: render ... --output - writes only Y4M to stdout.
    let o = run(bin()
        .args(["render", "--input"])
        .arg(root().join("tests/data/video/small.y4m"))
        .args(["--output", "-"]));
    assert!(o.status.success());
    assert!(o.stdout.starts_with(b"YUV4MPEG2 "), "stdout is a Y4M stream");
    let path = dir.path().join("stdout.y4m");
    std::fs::write(&path, &o.stdout).expect("write");
    assert_eq!(ffprobe_frames(&path), Some((10, "25/1".to_string())));

    // Live, headless: a photo played as a camera for a second, streamed to stdout.
    let o = run(bin()
        .args(["--no-window", "--duration", "1.5", "--output", "-", "--input"])
        .arg(photo("chelsea.png")));
    assert!(o.status.success(), "{}", stderr(&o));
    let path = dir.path().join("live.y4m");
    std::fs::write(&path, &o.stdout).expect("write");
    let (frames, _) = ffprobe_frames(&path).expect("ffprobe reads the live stream");
    assert!(frames >= 1, "at least one frame streamed");
}

#[test]
fn virtual_camera_errors_are_clear() {
    let o = run(bin()
        .args([
            "--no-window",
            "--duration",
            "1",
            "--virtual-camera",
            "/dev/video99",
            "--input",
        ])
        .arg(photo("chelsea.png")));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("/dev/video99") && err.contains("v4l2loopback"), "{err}");
    assert!(!err.contains("panicked"));
    // A regular file is not a video output device.
    let dir = tmp();
    let f = dir.path().join("not-a-device");
    std::fs::write(&f, b"").expect("write");
    let o = run(bin()
        .args(["--no-window", "--duration", "1", "--virtual-camera"])
        .arg(&f)
        .arg("--input")
        .arg(photo("chelsea.png")));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a video output device"), "{}", stderr(&o));
}

/// RGB PSNR of a rendered MP4 (BT.709, as GStreamer tags 720p) against the same render as Y4M
/// (BT.601), frame by frame, through ffmpeg.
fn mp4_psnr_against_y4m(mp4: &std::path::Path, y4m: &std::path::Path) -> f64 {
    let filter = "[0:v]setpts=N/25/TB,scale=in_color_matrix=bt709:in_range=tv,format=gbrp[a];\
                  [1:v]setpts=N/25/TB,scale=in_color_matrix=bt601:in_range=tv,format=gbrp[b];[a][b]psnr";
    let o = std::process::Command::new("ffmpeg")
        .arg("-i")
        .arg(mp4)
        .arg("-i")
        .arg(y4m)
        .args(["-lavfi", filter, "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let text = String::from_utf8_lossy(&o.stderr);
    let average = text
        .split("average:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|v| v.parse().ok());
    average.unwrap_or_else(|| panic!("no PSNR from ffmpeg:\n{text}"))
}

#[test]
fn mp4_output_keeps_the_mosaic_detail() {
    assert!(have("ffmpeg"), "ffmpeg is needed (./setup.sh installs it)");
    let dir = tmp();
    // The demo clip's first second (25 frames, 1280x720: the encoder's rate cap matters at this
    // size; the Y4M takes 35 MB).
    let clip = dir.path().join("clip.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(demo_clip())
        .args(["-t", "1", "-an", "-c:v", "copy"])
        .arg(&clip)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ffmpeg cut the test clip");
    let (mp4, y4m) = (dir.path().join("out.mp4"), dir.path().join("out.y4m"));
    for out in [&mp4, &y4m] {
        let o = run(bin()
            .args(["render", "-q", "--input"])
            .arg(&clip)
            .arg("--output")
            .arg(out));
        assert!(o.status.success(), "render to {}: {}", out.display(), stderr(&o));
    }
    // 31.7 dB with x264 at constant quality (quantizer 23, the rate only capped at 1.2 bits
    // per pixel); 27.4 dB capped at ~0.15 bits per pixel, 26.2 dB under GStreamer's default cap
    // of 2 Mbit/s: the emoji smeared.
    let psnr = mp4_psnr_against_y4m(&mp4, &y4m);
    eprintln!("MP4 against the mosaic: {psnr:.2} dB");
    assert!(psnr > 30.5, "the MP4 lost the mosaic's detail: {psnr:.2} dB");
}

#[test]
fn mpeg_ps_sound_is_copied_through_its_parser() {
    // A camcorder/DVD-style MPEG-PS: MPEG-2 video and MP2 sound, whose demuxer gives the MP2
    // without its rate and channels. MP4 and MKV take MP2: copied, never "missing decoder".
    let dir = tmp();
    let input = dir.path().join("camcorder.mpg");
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x90:rate=25:duration=0.4",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.4"])
        .args(["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob"])
        .arg(&input)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ffmpeg made the test clip");
    for name in ["out.mp4", "out.mkv"] {
        let out = dir.path().join(name);
        let o = run(bin()
            .args(["render", "-q", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&out));
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(stream_types(&out), "video,audio", "{name}");
        // The copied sound decodes, and lasts as long as the input's.
        let o = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&out)
            .args(["-vn", "-f", "wav", "-"])
            .output()
            .expect("ffmpeg");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let seconds = o.stdout.len().saturating_sub(44) as f64 / (48_000.0 * 2.0);
        assert!((seconds - 0.4).abs() < 0.1, "{name}: {seconds} s of sound");
    }
}

/// A GIF of three 64x48 frames shown for 100, 200 and 800 ms (a pause on the last frame, as
/// many shared GIFs end), written with the `gif` crate.
fn gif_with_delays(path: &std::path::Path, delays_cs: &[u16]) {
    let file = std::fs::File::create(path).expect("create the GIF");
    let mut encoder = gif::Encoder::new(file, 64, 48, &[]).expect("GIF header");
    for (i, &delay) in delays_cs.iter().enumerate() {
        let shade = (i * 100) as u8;
        let mut rgba: Vec<u8> = [shade, 255 - shade, 90, 255].repeat(64 * 48);
        let mut frame = gif::Frame::from_rgba(64, 48, &mut rgba);
        frame.delay = delay;
        encoder.write_frame(&frame).expect("GIF frame");
    }
}

/// Each packet's duration in seconds, as ffprobe reads `path`.
fn packet_durations(path: &std::path::Path) -> Vec<f64> {
    let mut d = ffprobe_numbers(path, "v:0", "packet=duration_time");
    // MP4 packets come in decoding order; the durations are compared as a set of times.
    d.sort_by(f64::total_cmp);
    d
}

#[test]
fn every_frame_of_a_gif_keeps_its_own_delay_the_last_one_too() {
    assert!(have("ffprobe"), "ffprobe is needed (./setup.sh installs ffmpeg)");
    let dir = tmp();
    let input = dir.path().join("pause.gif");
    gif_with_delays(&input, &[10, 20, 80]);
    for ext in ["gif", "mp4", "webm"] {
        let out = dir.path().join(format!("out.{ext}"));
        let o = run(bin()
            .args(["render", "-q", "--tile", "16", "--classifier", "nearest", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&out));
        assert!(o.status.success(), "{ext}: {}", stderr(&o));
        let got = packet_durations(&out);
        assert_eq!(got.len(), 3, "{ext}: {got:?}");
        for (g, want) in got.iter().zip([0.1, 0.2, 0.8]) {
            assert!((g - want).abs() < 0.011, "{ext}: durations {got:?}, want 0.1 0.2 0.8");
        }
    }
}

/// The duration ffprobe gives `path`'s first `which` stream (`v:0`, `a:0`), in seconds.
fn stream_seconds(path: &std::path::Path, which: &str) -> f64 {
    ffprobe_numbers(path, which, "stream=duration")
        .first()
        .copied()
        .unwrap_or(0.0)
}

#[test]
fn a_clip_cut_with_ffmpeg_without_re_encoding_keeps_all_its_sound() {
    // `ffmpeg -ss X -c copy` (and Apple's lossless trims) start each track through an edit list
    // inside its media. GStreamer 1.22's MP4 reader would end each track that much early (0.6 of
    // 1.3 s of sound; nothing at all past the middle): such files are read through our own file
    // source (src/media/edits.rs), the input itself untouched.
    assert!(have("ffprobe"), "ffprobe is needed (./setup.sh installs ffmpeg)");
    let dir = tmp();
    let whole = dir.path().join("whole.mp4");
    let spec = "size=160x90:rate=25:duration=2";
    let tone = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=2"];
    let encode = [&tone[..], &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]].concat();
    ffmpeg_test_pattern(spec, &encode, &whole);
    for (name, at, codec) in [
        ("copied.mp4", 0.7, "copy"),
        ("recut.mp4", 0.7, ""),
        ("late.mp4", 1.2, "copy"),
    ] {
        let cut = dir.path().join(name);
        let mut ffmpeg = std::process::Command::new("ffmpeg");
        ffmpeg.args(["-v", "error", "-ss", &at.to_string(), "-i"]).arg(&whole);
        if !codec.is_empty() {
            ffmpeg.args(["-c", codec]);
        }
        assert!(
            ffmpeg.arg(&cut).status().is_ok_and(|s| s.success()),
            "ffmpeg cut {name}"
        );
        let before = std::fs::read(&cut).expect("read the cut");
        let out = dir.path().join(format!("out-{name}"));
        let o = run(bin()
            .args(["render", "--tile", "16", "--classifier", "nearest", "--input"])
            .arg(&cut)
            .arg("--output")
            .arg(&out));
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        // The frames before the cut, decoded only to reach it, are not damaged ones.
        assert!(!stderr(&o).contains("damaged"), "{name}: {}", stderr(&o));
        let (picture, sound) = (stream_seconds(&out, "v:0"), stream_seconds(&out, "a:0"));
        let length = 2.0 - at;
        assert!(
            (picture - length).abs() < 0.05,
            "{name}: {picture} s of picture, want {length}"
        );
        assert!(
            (sound - length).abs() < 0.05,
            "{name}: {sound} s of sound, want {length}"
        );
        assert!(
            std::fs::read(&cut).expect("read the cut") == before,
            "{name} was changed"
        );
    }
}
