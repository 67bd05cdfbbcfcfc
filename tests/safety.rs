//! A person's files are never lost: outputs never overwrite inputs or each other, unfinished
//! outputs never replace anything, signals clean up, inputs are only files and FIFOs, outputs
//! of every kind are written as such, damage is never silent, and nothing panics.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, photo, root, run, stderr};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// `emojicam render -i INPUT -o OUTPUT` and `extra` (the nearest classifier, quiet).
fn render_io(input: impl AsRef<OsStr>, output: impl AsRef<OsStr>, extra: &[&str]) -> Output {
    run(bin()
        .args(["render", "--classifier", "nearest", "-q", "-i"])
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(extra))
}

fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

/// Exactly one line on stderr, no panic, the given exit code.
fn refused(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code: {err}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "mentions '{needle}': {err}");
}

fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect()
}

/// What a refused, failed or interrupted run leaves: each of `files` exactly as it was, and no
/// partial file in `dir`. `what` says which case it is, where a test runs many.
fn untouched(dir: &Path, files: &[(&Path, &[u8])], what: &str) {
    for (path, bytes) in files {
        assert_eq!(
            &std::fs::read(path).expect("read"),
            bytes,
            "{} is unchanged {what}",
            path.display()
        );
    }
    assert!(partials(dir).is_empty(), "no partial file {what}: {:?}", partials(dir));
}

/// A small copy of a real photo (PNG), `w` pixels wide.
fn small_photo(dir: &Path, name: &str, w: u32) -> PathBuf {
    let img = image::open(photo("chelsea.png")).expect("photo");
    let h = w * img.height() / img.width();
    let path = dir.join(name);
    img.resize_exact(w, h, image::imageops::FilterType::Triangle)
        .to_rgb8()
        .save(&path)
        .expect("save");
    path
}

#[test]
fn an_output_that_is_an_input_or_another_output_is_refused() {
    let dir = tmp();
    let d = dir.path();
    let input = small_photo(d, "cat.png", 120);
    let before = std::fs::read(&input).expect("read");
    let link = d.join("link.png");
    std::os::unix::fs::symlink("cat.png", &link).expect("symlink");
    let hard = d.join("hard.png");
    std::fs::hard_link(&input, &hard).expect("hard link");
    for out in [&input, &link, &hard, &d.join(".").join("cat.png")] {
        let o = render_io(&input, out, &[]);
        refused(&o, 2, "never overwrites its input");
    }
    // Through the symlink as the input too.
    let o = render_io(&link, &input, &[]);
    refused(&o, 2, "same file");
    let clip = d.join("clip.mp4");
    std::fs::copy(root().join("tests/data/video/small.mp4"), &clip).expect("copy");
    let clip_before = std::fs::read(&clip).expect("read");
    let o = render_io(&clip, &clip, &[]);
    refused(&o, 2, "never overwrites its input");
    // Standard output appended onto the input (`>> clip.y4m`).
    let y4m = d.join("clip.y4m");
    std::fs::copy(root().join("tests/data/video/small.y4m"), &y4m).expect("copy");
    let append = std::fs::OpenOptions::new().append(true).open(&y4m).expect("open");
    let o = bin()
        .args([os("render"), os("-q"), os("-i"), y4m.as_os_str(), os("-o"), os("-")])
        .stdout(append)
        .output()
        .expect("runs");
    refused(&o, 2, "standard output");
    let original = std::fs::read(root().join("tests/data/video/small.y4m")).expect("y4m");
    assert_eq!(std::fs::read(&y4m).expect("y4m"), original, "the input is untouched");
    // Live: the input as the recording, and one file as two outputs. Refused before any
    // camera, window or GPU is opened.
    let o = run(bin().args([
        os("--no-window"),
        os("-i"),
        clip.as_os_str(),
        os("--record"),
        clip.as_os_str(),
    ]));
    refused(&o, 2, "never overwrites its input");
    let x = d.join("x.mp4");
    let o = run(bin().args([
        os("--no-window"),
        os("-i"),
        input.as_os_str(),
        os("--record"),
        x.as_os_str(),
        os("--output"),
        x.as_os_str(),
    ]));
    refused(&o, 2, "same file");
    assert!(!x.exists());
    untouched(d, &[(&input, &before), (&clip, &clip_before)], "");
}

#[test]
fn a_second_run_to_a_path_being_written_is_refused() {
    let dir = tmp();
    let d = dir.path();
    let input = small_photo(d, "cat.png", 80);
    let out = d.join("out.png");
    std::fs::write(&out, b"the previous result").expect("write");
    // Another run is writing out.png right now (this test process holds it).
    let (held, writer) = emojicam::sink::AtomicFile::create(&out).expect("hold");
    let o = render_io(&input, &out, &[]);
    refused(&o, 1, "another emojicam run is writing");
    assert_eq!(std::fs::read(&out).expect("read"), b"the previous result");
    drop((held, writer));
    let o = render_io(&input, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(image::open(&out).is_ok());
    assert!(partials(d).is_empty());
}

/// Starts a render of the demo clip to `out`, waits until the partial file has data, then
/// signals it. Drawn at 320x180: a Y4M of the clip's 1280x720 takes 180 MB of a small /tmp
/// when the signal comes late (SIGKILL leaves it until the next run).
fn render_then_signal(out: &Path, signal: i32) -> (Option<i32>, String) {
    let dir = out.parent().expect("dir");
    let partial = dir.join(format!(".{}.partial", out.file_name().expect("name").to_string_lossy()));
    let mut child = bin()
        .args(["render", "--classifier", "nearest", "--size", "320x180", "-q", "-i"])
        .arg(common::demo_clip())
        .arg("-o")
        .arg(out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&partial).map_or(true, |m| m.len() == 0) {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the render ended before the signal"
        );
        assert!(Instant::now() < deadline, "no partial output appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
    let o = child.wait_with_output().expect("wait");
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn signals_remove_the_unfinished_output_and_keep_the_old_one() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.y4m");
    std::fs::write(&out, b"the previous result").expect("write");
    let (code, err) = render_then_signal(&out, libc::SIGTERM);
    assert_eq!(code, Some(143), "{err}");
    assert!(err.contains("removed the unfinished output"), "{err}");
    untouched(d, &[(&out, b"the previous result")], "");
    let fresh = d.join("fresh.jsonl");
    let (code, err) = render_then_signal(&fresh, libc::SIGINT);
    assert_eq!(code, Some(130), "{err}");
    assert!(!fresh.exists());
    assert!(partials(d).is_empty(), "{:?}", partials(d));
    // SIGKILL leaves one partial file; the next run to that name reuses and removes it.
    let (code, _) = render_then_signal(&out, libc::SIGKILL);
    assert_eq!(code, None);
    assert_eq!(partials(d).len(), 1);
    assert_eq!(std::fs::read(&out).expect("read"), b"the previous result");
    let input = small_photo(d, "cat.png", 64);
    let o = render_io(&input, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read(&out).expect("read").starts_with(b"YUV4MPEG2"));
    assert!(partials(d).is_empty(), "{:?}", partials(d));
}

#[test]
fn only_files_and_fifos_are_read_and_a_fifo_once() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.png");
    // A device under an image's name, and a directory.
    let zero = d.join("zero.png");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    let started = Instant::now();
    let o = render_io(&zero, &out, &[]);
    refused(&o, 1, "character device");
    assert!(started.elapsed() < Duration::from_secs(30), "not read without limit");
    let o = render_io(d, &out, &[]);
    refused(&o, 1, "directory");
    assert!(!out.exists());
    // A FIFO carrying a real photo: read once, its signature intact.
    let photo = small_photo(d, "cat.png", 96);
    let fifo = d.join("fifo.png");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let bytes = std::fs::read(&photo).expect("read");
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(writer_path, bytes));
    let o = render_io(&fifo, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    writer.join().expect("writer").expect("fifo written");
    assert_eq!(image::open(&out).expect("output").width(), 96);
}

#[test]
fn fifo_symlink_and_device_outputs_are_written_as_such() {
    let dir = tmp();
    let d = dir.path();
    let input = small_photo(d, "cat.png", 80);
    // A symlink: the file it points to gets the result, the link stays a link.
    let real = d.join("real.png");
    let link = d.join("link.png");
    std::os::unix::fs::symlink("real.png", &link).expect("symlink");
    let o = render_io(&input, &link, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink());
    assert!(image::open(&real).is_ok());
    // A FIFO: a reader gets the image, the FIFO stays a FIFO.
    let fifo = d.join("fifo.png");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read(reader_path));
    let o = render_io(&input, &fifo, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = reader.join().expect("reader").expect("fifo read");
    assert!(image::load_from_memory(&got).is_ok(), "a PNG came through the FIFO");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo).expect("fifo").file_type().is_fifo());
    // A character device (through a link that gives it an image's name).
    let null = d.join("null.png");
    std::os::unix::fs::symlink("/dev/null", &null).expect("symlink");
    let o = render_io(&input, &null, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::metadata("/dev/null")
        .expect("null")
        .file_type()
        .is_char_device());
    // A device that refuses the data: one line, exit 1, the device left as it is.
    let full = d.join("full.y4m");
    std::os::unix::fs::symlink("/dev/full", &full).expect("symlink");
    let small = root().join("tests/data/video/small.y4m");
    let o = render_io(&small, &full, &[]);
    refused(&o, 1, "No space left");
    assert!(std::fs::metadata("/dev/full")
        .expect("full")
        .file_type()
        .is_char_device());
    assert!(partials(d).is_empty(), "{:?}", partials(d));
}

fn jpeg_of(path: &Path, exif: Option<&[u8]>) -> Vec<u8> {
    let img = image::open(path).expect("photo").to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).expect("jpeg");
    let mut j = out.into_inner();
    if let Some(exif) = exif {
        // APP1 "Exif\0\0" + TIFF, right after the start-of-image marker.
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((exif.len() + 8) as u16).to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(exif);
        let tail = j.split_off(2);
        j.extend(app1);
        j.extend(tail);
    }
    j
}

/// A little-endian TIFF with one IFD entry: Orientation (0x0112) = `o`.
fn exif_orientation(o: u16) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&0x0112u16.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&o.to_le_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&0u32.to_le_bytes());
    t
}

#[test]
fn damaged_images_are_never_silent_and_photos_show_as_people_see_them() {
    let dir = tmp();
    let d = dir.path();
    let png = small_photo(d, "cat.png", 120);
    let out = d.join("out.png");
    // A truncated JPEG renders with a warning naming the damage, even with -q.
    let full = jpeg_of(&png, None);
    let cut = d.join("cut.jpg");
    std::fs::write(&cut, &full[..full.len() * 2 / 3]).expect("write");
    let o = render_io(&cut, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("cut.jpg") && err.contains("truncated"), "{err}");
    // A PNG with a bad checksum is refused.
    let mut bad = std::fs::read(&png).expect("read");
    let idat = bad.windows(4).position(|w| w == b"IDAT").expect("IDAT");
    bad[idat + 10] ^= 0x55;
    let bad_png = d.join("bad.png");
    std::fs::write(&bad_png, &bad).expect("write");
    let _ = std::fs::remove_file(&out);
    let o = render_io(&bad_png, &out, &[]);
    refused(&o, 1, "bad.png");
    assert!(!out.exists());
    // EXIF orientation 6 (rotate 90 degrees clockwise): a 120x80 photo shows as 80x120.
    let turned = d.join("turned.jpg");
    std::fs::write(&turned, jpeg_of(&png, Some(&exif_orientation(6)))).expect("write");
    let o = render_io(&turned, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (pw, ph) = image::image_dimensions(&png).expect("dims");
    assert_eq!(image::image_dimensions(&out).expect("dims"), (ph, pw));
    // Transparent pixels show the background: a fully transparent red PNG over a white
    // background renders exactly as an opaque white one.
    let clear = d.join("clear.png");
    image::RgbaImage::from_pixel(60, 40, image::Rgba([255, 0, 0, 0]))
        .save(&clear)
        .expect("save");
    let white = d.join("white.png");
    image::RgbaImage::from_pixel(60, 40, image::Rgba([255, 255, 255, 255]))
        .save(&white)
        .expect("save");
    let (a, b) = (d.join("a.png"), d.join("b.png"));
    for (i, o) in [(&clear, &a), (&white, &b)] {
        let r = render_io(i, o, &["--background", "white"]);
        assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    }
    assert_eq!(common::rgb(&a), common::rgb(&b));
}

#[test]
fn a_full_stderr_is_no_panic_and_quiet_is_quiet() {
    let dir = tmp();
    let d = dir.path();
    let input = small_photo(d, "cat.png", 80);
    let out = d.join("out.png");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = bin()
        .args(["render", "--classifier", "nearest", "-i"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .stderr(full)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "no panic with stderr on a full disk");
    assert!(image::open(&out).is_ok());
    // An error with stderr full still exits 1, not 101.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = bin()
        .args(["render", "-i"])
        .arg(d.join("missing.png"))
        .arg("-o")
        .arg(&out)
        .stderr(full)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1));
    // -q: nothing at all on success, for a still and for a video.
    let y4m = d.join("out.y4m");
    for (i, o) in [
        (input.clone(), out.clone()),
        (root().join("tests/data/video/small.y4m"), y4m),
    ] {
        let r = render_io(&i, &o, &[]);
        assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
        assert_eq!(stderr(&r), "", "-q prints nothing");
    }
}

/// A small deterministic generator (xorshift64*), so a failure can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random kind of damage: a cut, flipped bytes, a zeroed run, inserted garbage, or a
/// header field overwritten.
fn damage(rng: &mut Rng, good: &[u8]) -> (Vec<u8>, String) {
    let mut b = good.to_vec();
    let n = b.len();
    match rng.below(5) {
        0 => {
            let at = rng.below(n);
            b.truncate(at);
            (b, format!("cut at {at}"))
        }
        1 => {
            let k = 1 + rng.below(16);
            for _ in 0..k {
                let at = rng.below(n);
                b[at] ^= 1 << rng.below(8);
            }
            (b, format!("{k} bit flips"))
        }
        2 => {
            let at = rng.below(n);
            let len = (1 + rng.below(4096)).min(n - at);
            b[at..at + len].fill(0);
            (b, format!("{len} bytes zeroed at {at}"))
        }
        3 => {
            let at = rng.below(n);
            let junk: Vec<u8> = (0..1 + rng.below(512)).map(|_| rng.next() as u8).collect();
            let len = junk.len();
            let tail = b.split_off(at);
            b.extend(junk);
            b.extend(tail);
            (b, format!("{len} junk bytes inserted at {at}"))
        }
        _ => {
            let at = rng.below(n.min(64));
            let len = (1 + rng.below(8)).min(n - at);
            for x in &mut b[at..at + len] {
                *x = rng.next() as u8;
            }
            (b, format!("header bytes {at}..{} randomised", at + len))
        }
    }
}

fn valid_output(path: &Path) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => image::open(path).is_ok(),
        Some("y4m") => {
            std::fs::read(path).is_ok_and(|b| b.starts_with(b"YUV4MPEG2 ") && b.windows(6).any(|w| w == b"FRAME\n"))
        }
        _ => false,
    }
}

/// The good files the property test damages: (file, its extension, the output's extension,
/// how many damaged copies).
fn damage_cases(d: &Path) -> Vec<(PathBuf, &'static str, &'static str, usize)> {
    let png = small_photo(d, "good.png", 96);
    let jpg = d.join("good.jpg");
    std::fs::write(&jpg, jpeg_of(&png, None)).expect("jpeg");
    // Three frames of the real Y4M clip, and the real 12-frame H.264 clip.
    let y4m_all = std::fs::read(root().join("tests/data/video/small.y4m")).expect("y4m");
    let header = y4m_all.iter().position(|&b| b == b'\n').expect("header") + 1;
    let frame = 6 + 320 * 180 * 3 / 2;
    let y4m = d.join("good.y4m");
    std::fs::write(&y4m, &y4m_all[..header + 3 * frame]).expect("y4m");
    let mp4 = root().join("tests/data/video/small.mp4");
    let mut cases: Vec<(PathBuf, &'static str, &'static str, usize)> = vec![
        (png, "png", "png", 6),
        (jpg, "jpg", "png", 6),
        (y4m, "y4m", "y4m", 6),
        (mp4.clone(), "mp4", "y4m", 6),
        // Phone photos, read by libheif (C): HEVC in HEIC, AV1 in AVIF.
        (root().join("tests/data/photos/chelsea.heic"), "heic", "png", 4),
        (root().join("tests/data/photos/chelsea.avif"), "avif", "png", 4),
    ];
    // The other containers and codecs people have, made by ffmpeg from the same clip (ten
    // frames each, kept small: three damaged files per format).
    for (ext, codec) in [
        ("mkv", &["-c", "copy"][..]),
        ("mov", &["-c", "copy"]),
        ("webm", &["-c:v", "libvpx", "-b:v", "200k"]),
        ("avi", &["-c:v", "mpeg4"]),
        ("gif", &["-vf", "scale=96:-1"]),
    ] {
        let path = d.join(format!("good.{ext}"));
        let made = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&mp4)
            .args(["-frames:v", "10", "-an"])
            .args(codec)
            .arg(&path)
            .status()
            .expect("ffmpeg runs");
        assert!(made.success(), "ffmpeg made {ext}");
        cases.push((path, ext, "y4m", 3));
    }
    cases
}

#[test]
fn randomly_damaged_files_never_panic_hang_or_change() {
    let dir = tmp();
    let d = dir.path();
    let cases = damage_cases(d);
    let seed = std::env::var("EMOJICAM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_1234_u64);
    let mut rng = Rng(seed);
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    let started = Instant::now();
    let total: usize = cases.iter().map(|c| c.3).sum();
    for (good, ext, out_ext, per_format) in cases {
        let good = std::fs::read(good).expect("read");
        for i in 0..per_format {
            let (bytes, what) = damage(&mut rng, &good);
            let input = d.join(format!("damaged-{i}.{ext}"));
            std::fs::write(&input, &bytes).expect("write");
            let out = d.join(format!("out-{ext}-{i}.{out_ext}"));
            let mut child = bin()
                .args(["render", "--classifier", "nearest", "-q", "-i"])
                .arg(&input)
                .arg("-o")
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().expect("wait").is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    // Kept for reproduction (the temporary directory goes with the panic).
                    let kept = std::env::temp_dir().join(format!("emojicam-fuzz-hang-{seed:#x}-{i}.{ext}"));
                    let _ = std::fs::copy(&input, &kept);
                    panic!(
                        "{ext} with {what} (seed {seed:#x}): hung for 60 s (input kept as {})",
                        kept.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let o = child.wait_with_output().expect("output");
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            let ctx = format!("{ext} with {what} (seed {seed:#x}): exit {:?}: {err}", o.status.code());
            *outcomes.entry(format!("{ext} exit {:?}", o.status.code())).or_default() += 1;
            assert!(!err.contains("panicked"), "{ctx}");
            match o.status.code() {
                Some(0) => {
                    assert!(valid_output(&out), "exit 0 with a valid output: {ctx}");
                    assert!(err.trim_end().lines().count() <= 1, "at most one warning: {ctx}");
                }
                Some(1 | 2) => {
                    assert_eq!(err.trim_end().lines().count(), 1, "one line: {ctx}");
                    assert!(!out.exists(), "no output after a failure: {ctx}");
                }
                _ => panic!("unexpected exit: {ctx}"),
            }
            untouched(d, &[(&input, &bytes)], &ctx);
        }
    }
    eprintln!(
        "{total} damaged files in {:.1} s: {outcomes:?}",
        started.elapsed().as_secs_f64()
    );
}

/// Starts a live recording of the small clip to `rec` and SIGKILLs it once `watch` has data.
fn record_then_kill(dir: &Path, rec: &Path, watch: &Path) {
    let mut child = bin()
        .current_dir(dir)
        .args(["--no-window", "--classifier", "nearest", "-q", "-i"])
        .arg(root().join("tests/data/video/small.mp4"))
        .arg("--record")
        .arg(rec)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(watch).map_or(true, |m| m.len() < 2000) {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the recording stopped by itself"
        );
        assert!(Instant::now() < deadline, "nothing was recorded");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let at least one fragment reach the file.
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

#[test]
fn killed_recordings_keep_what_they_recorded_and_never_replace_a_file() {
    let dir = tmp();
    let d = dir.path();
    // A new recording is written under its own name: after SIGKILL it is there and plays.
    let new = d.join("new.mp4");
    record_then_kill(d, &new, &new);
    let bytes = std::fs::read(&new).expect("the killed recording is kept");
    assert_eq!(&bytes[4..8], b"ftyp");
    assert!(
        common::have("ffprobe"),
        "ffprobe is needed (./setup.sh installs ffmpeg)"
    );
    let (frames, _) = common::ffprobe_frames(&new).expect("the killed recording plays");
    assert!(frames > 0);
    // A recording over an existing file never touches it until finished; killed, the old
    // file stays and the next run to that name keeps what was recorded beside it.
    let old = d.join("old.mp4");
    std::fs::write(&old, b"the previous recording").expect("write");
    record_then_kill(d, &old, &d.join(".old.mp4.recording"));
    assert_eq!(std::fs::read(&old).expect("read"), b"the previous recording");
    let o = run(bin()
        .current_dir(d)
        .args([
            "--no-window",
            "--classifier",
            "nearest",
            "-q",
            "--duration",
            "0.5",
            "-i",
        ])
        .arg(root().join("tests/data/video/small.mp4"))
        .arg("--record")
        .arg(&old));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted recording"), "{}", stderr(&o));
    let kept = std::fs::read(d.join("old-interrupted.mp4")).expect("kept");
    assert_eq!(&kept[4..8], b"ftyp");
    assert_eq!(&std::fs::read(&old).expect("read")[4..8], b"ftyp", "finished: replaced");
    assert!(partials(d).is_empty(), "{:?}", partials(d));
    assert!(!d.join(".old.mp4.recording").exists());
}

#[test]
fn a_closed_stdout_is_no_panic() {
    // `emojicam sets | head -0`: the reader is gone before anything is written.
    for cmd in ["sets", "adapters"] {
        let mut child = bin()
            .arg(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("emojicam starts");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("emojicam runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{cmd}: {err}");
        assert_ne!(out.status.code(), Some(101), "{cmd}: {err}");
    }
}

#[test]
fn a_size_the_encoder_cannot_take_is_refused_before_processing() {
    let dir = tmp();
    let d = dir.path();
    // A panorama wider than H.264 takes (8192), from a real photo.
    let wide = d.join("panorama.png");
    image::open(photo("chelsea.png"))
        .expect("photo")
        .resize_exact(9000, 32, image::imageops::FilterType::Triangle)
        .to_rgb8()
        .save(&wide)
        .expect("save");
    let out = d.join("old.mp4");
    std::fs::write(&out, b"an earlier file").unwrap();
    for name in ["old.mp4", "new.mkv"] {
        let o = render_io(&wide, d.join(name), &[]);
        refused(&o, 2, "--size");
    }
    assert_eq!(std::fs::read(&out).unwrap(), b"an earlier file");
    assert!(!d.join("new.mkv").exists());
    assert!(partials(d).is_empty(), "{:?}", partials(d));
    // A smaller --size makes it.
    let o = render_io(&wide, d.join("new.mkv"), &["--size", "4500x16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join("new.mkv").metadata().unwrap().len() > 0);
    // Smaller than the encoders take (16 pixels a side): refused the same way, not a
    // "not-negotiated" encoding failure after processing.
    let tiny = d.join("tiny.png");
    image::RgbImage::from_pixel(8, 40, image::Rgb([200, 30, 30]))
        .save(&tiny)
        .expect("save");
    for name in ["tiny.mp4", "tiny.webm"] {
        let o = render_io(&tiny, d.join(name), &[]);
        refused(&o, 2, "too small");
        assert!(stderr(&o).contains("--size"), "{}", stderr(&o));
        assert!(!d.join(name).exists());
    }
    let o = render_io(&tiny, d.join("tiny.mp4"), &["--size", "16x80"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(partials(d).is_empty(), "{:?}", partials(d));
}

#[test]
fn live_input_from_a_fifo_is_read_once_to_its_end_then_played() {
    // Live `--input FIFO`: the FIFO is read once, to its end, before playing (said on stderr),
    // and its copy plays (looping) like a file.
    let dir = tmp();
    let d = dir.path();
    let photo = small_photo(d, "cat.png", 96);
    let fifo = d.join("live.png");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let bytes = std::fs::read(&photo).expect("read");
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(writer_path, bytes));
    let out = d.join("live.y4m");
    let o = run(bin()
        .args(["--classifier", "nearest", "--no-window", "--duration", "1", "--input"])
        .arg(&fifo)
        .arg("--output")
        .arg(&out));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    writer.join().expect("writer").expect("fifo written once, to its end");
    assert!(err.contains("(a FIFO) to its end first"), "{err}");
    let y4m = std::fs::read(&out).expect("output");
    assert!(y4m.starts_with(b"YUV4MPEG2 W96 "), "the photo's size");
    assert!(y4m.windows(6).filter(|w| w == b"FRAME\n").count() > 0, "frames played");
}

/// CRC-32 (the PNG chunk checksum).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header declares `w`x`h` RGB pixels, with one tiny (valid zlib) data chunk.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        let body: Vec<u8> = kind.iter().chain(data).copied().collect();
        c.extend_from_slice(&body);
        c.extend_from_slice(&crc32(&body).to_be_bytes());
        c
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// Replaces the two big-endian u16 at `at` and `at + 2` (a header's height and width fields).
fn patch_u16_pair(bytes: &mut [u8], at: usize, a: u16, b: u16) {
    bytes[at..at + 2].copy_from_slice(&a.to_be_bytes());
    bytes[at + 2..at + 4].copy_from_slice(&b.to_be_bytes());
}

#[test]
fn a_header_declaring_an_absurd_size_is_refused_without_allocating_it() {
    let dir = tmp();
    let d = dir.path();
    let png = small_photo(d, "good.png", 64);
    // JPEG: the start-of-frame's height and width (5 and 7 bytes after its marker).
    let mut jpeg = jpeg_of(&png, None);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG");
    patch_u16_pair(&mut jpeg, sof + 5, 0xFFFF, 0xFFFF);
    // GIF: the logical screen's width and height (little-endian, bytes 6..10).
    let mut gif = Vec::new();
    {
        let frame = image::Frame::new(image::RgbaImage::from_pixel(8, 8, image::Rgba([200, 30, 30, 255])));
        let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
        enc.encode_frames([frame.clone(), frame]).expect("gif");
    }
    gif[6..10].fill(0xFF);
    // Y4M: 16384x16384 4:4:4 is within each side's limit, not within the pixel limit.
    let mut y4m = b"YUV4MPEG2 W16384 H16384 F25:1 C444\nFRAME\n".to_vec();
    y4m.extend(std::iter::repeat_n(128u8, 4096));
    // MP4: the H.264 sample entry's width and height (24 bytes into the 'avc1' entry's body;
    // the last 'avc1': the first may be a brand in 'ftyp').
    let mut mp4 = std::fs::read(root().join("tests/data/video/small.mp4")).expect("mp4");
    let avc1 = mp4.windows(4).rposition(|w| w == b"avc1").expect("an avc1 entry");
    patch_u16_pair(&mut mp4, avc1 + 4 + 24, 0xFFFF, 0xFFFF);
    let cases: [(&str, Vec<u8>); 5] = [
        ("png", png_declaring(100_000, 100_000)),
        ("jpg", jpeg),
        ("gif", gif),
        ("y4m", y4m),
        ("mp4", mp4),
    ];
    for (ext, bytes) in cases {
        let input = d.join(format!("absurd.{ext}"));
        std::fs::write(&input, &bytes).expect("write");
        let out = d.join(format!("out-{ext}.png"));
        let mut cmd = bin();
        cmd.args(["render", "--classifier", "nearest", "-q", "-i"])
            .arg(&input)
            .arg("-o")
            .arg(&out);
        // At most 2 GiB of data: an allocation of the declared picture (16 GiB as RGBA; 1.8 GiB
        // for the Y4M frame and its RGBA copy) would abort instead of the one-line refusal.
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent's.
        unsafe {
            cmd.pre_exec(|| {
                let cap = libc::rlimit {
                    rlim_cur: 2 << 30,
                    rlim_max: 2 << 30,
                };
                if libc::setrlimit(libc::RLIMIT_DATA, &cap) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let o = run(&mut cmd);
        refused(&o, 1, "declares");
        assert!(!out.exists(), "{ext}: no output");
    }
}

/// Runs `emojicam render` as the user `nobody` when the tests run as root (root may write
/// anything, so a read-only file means nothing to it).
fn render_as_a_user(args: &[&OsStr]) -> Output {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_emojicam"));
        c.env("XDG_RUNTIME_DIR", std::env::temp_dir()).env_remove("DISPLAY");
        c
    } else {
        bin()
    };
    run(cmd.arg("render").args(["--classifier", "nearest", "-q"]).args(args))
}

#[test]
fn a_read_only_file_is_not_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp();
    let d = dir.path();
    // Anyone may write in the directory (as in /tmp without its sticky bit): only the file's
    // own permissions protect it.
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod dir");
    let input = small_photo(d, "cat.png", 64);
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o644)).expect("chmod input");
    let kept = d.join("kept.png");
    std::fs::write(&kept, b"mine, read-only").expect("write");
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let o = render_as_a_user(&[os("-i"), input.as_os_str(), os("-o"), kept.as_os_str()]);
    refused(&o, 1, "read-only");
    untouched(d, &[(&kept, b"mine, read-only")], "");
}

#[test]
fn dash_is_standard_input() {
    let dir = tmp();
    let d = dir.path();
    let input = small_photo(d, "cat.png", 64);
    // Standard input a file, then a pipe (read once into a private copy).
    let out = d.join("from-file.png");
    let stdin = std::fs::File::open(&input).expect("open");
    let o = run(bin()
        .args(["render", "--classifier", "nearest", "-q", "-i", "-", "-o"])
        .arg(&out)
        .stdin(stdin));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(image::open(&out).expect("output").width(), 64);
    let out = d.join("from-pipe.png");
    let mut child = bin()
        .args(["render", "--classifier", "nearest", "-q", "-i", "-", "-o"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let bytes = std::fs::read(&input).expect("read");
    let mut pipe = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut pipe, &bytes).expect("feed");
    drop(pipe);
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(image::open(&out).expect("output").width(), 64);
    // The input named `-` is still never overwritten.
    let stdin = std::fs::File::open(&input).expect("open");
    let o = run(bin()
        .args(["render", "--classifier", "nearest", "-q", "-i", "-", "-o"])
        .arg(&input)
        .stdin(stdin));
    refused(&o, 2, "never overwrites its input");
}

#[test]
fn a_name_with_control_characters_stays_one_line() {
    let dir = tmp();
    let d = dir.path();
    let input = small_photo(d, "cat.png", 64);
    let out = d.join("two\nlines\x1b[31m.png");
    let o = run(bin()
        .args(["render", "--classifier", "nearest", "-i"])
        .arg(&input)
        .arg("-o")
        .arg(&out));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one summary line: {err}");
    assert!(
        err.contains("two\\nlines\\u{1b}[31m.png") && !err.contains('\x1b'),
        "{err}"
    );
    assert!(out.exists());
    let missing = d.join("no\nsuch.png");
    let o = render_io(&missing, "x.png", &[]);
    refused(&o, 1, "no\\nsuch.png");
}

#[test]
fn a_video_file_to_a_fifo_is_refused_at_once() {
    let dir = tmp();
    let d = dir.path();
    for name in ["fifo.mp4", "fifo.MKV", "fifo.webm"] {
        let fifo = d.join(name);
        assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
        // Nobody reads the FIFO: a run that opened it would wait for ever.
        let mut child = bin()
            .args(["render", "--classifier", "nearest", "-q", "-i"])
            .arg(root().join("tests/data/video/small.mp4"))
            .arg("-o")
            .arg(&fifo)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{name}: a video file to a FIFO hung");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = child.wait_with_output().expect("wait");
        refused(&o, 2, "FIFO");
    }
    let o = run(bin()
        .args(["--classifier", "nearest", "--no-window", "-q", "--duration", "1", "-i"])
        .arg(root().join("tests/data/video/small.mp4"))
        .arg("--record")
        .arg(d.join("fifo.mp4")));
    refused(&o, 2, "FIFO");
}

#[test]
fn a_reader_that_goes_away_is_quiet() {
    // `emojicam render -i clip -o - | head -c 100`.
    let mut child = bin()
        .args(["render", "--classifier", "nearest", "-i"])
        .arg(root().join("tests/data/video/small.mp4"))
        .args(["-o", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut head = [0u8; 100];
    let mut stdout = child.stdout.take().expect("stdout");
    std::io::Read::read_exact(&mut stdout, &mut head).expect("first bytes");
    drop(stdout);
    let o = child.wait_with_output().expect("wait");
    let err = stderr(&o);
    assert!(head.starts_with(b"YUV4MPEG2 "));
    assert_eq!(o.status.code(), Some(141), "{err}");
    assert!(err.trim().is_empty(), "quiet: {err}");
}

#[test]
fn other_fatal_signals_and_a_file_size_limit_leave_no_partial() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.y4m");
    std::fs::write(&out, b"the previous result").expect("write");
    let (code, err) = render_then_signal(&out, libc::SIGUSR1);
    assert_eq!(code, Some(128 + libc::SIGUSR1), "{err}");
    assert!(err.contains("removed the unfinished output"), "{err}");
    untouched(d, &[(&out, b"the previous result")], "");
    // `ulimit -f`: the write fails ("File too large") instead of SIGXFSZ killing the process.
    let script = format!(
        "ulimit -f 64; exec '{}' render --classifier nearest -q -i '{}' -o '{}'",
        env!("CARGO_BIN_EXE_emojicam"),
        root().join("tests/data/video/small.mp4").display(),
        out.display()
    );
    let o = run(Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir()));
    refused(&o, 1, "File too large");
    untouched(d, &[(&out, b"the previous result")], "");
}

#[test]
fn live_options_that_make_no_sense_are_refused() {
    let dir = tmp();
    let d = dir.path();
    let clip = root().join("tests/data/video/small.mp4");
    let live = |extra: &[&OsStr]| {
        run(bin()
            .args(["--classifier", "nearest", "--no-window", "-q", "-i"])
            .arg(&clip)
            .args(extra))
    };
    let y4m = d.join("out.y4m");
    let o = live(&[os("--duration"), os("1e308"), os("-o"), y4m.as_os_str()]);
    refused(&o, 2, "--duration");
    // The live stream is Y4M: it does not go under a name that says otherwise.
    for name in ["photo.png", "clip.mp4", "noext"] {
        let out = d.join(name);
        let o = live(&[os("--duration"), os("1"), os("-o"), out.as_os_str()]);
        refused(&o, 2, "Y4M");
        assert!(!out.exists());
    }
}

#[test]
fn a_hostile_environment_still_works_quietly() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.mp4");
    // TMPDIR missing (the MP4 muxer's temporary file), no usable cache directory for Mesa.
    let o = run(bin()
        .args(["render", "--classifier", "nearest", "-q", "-i"])
        .arg(root().join("tests/data/video/small.mp4"))
        .arg("-o")
        .arg(&out)
        .env("TMPDIR", d.join("missing"))
        .env("XDG_CACHE_HOME", "/proc/emojicam-cache")
        .env("HOME", "/proc/emojicam-home"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).trim().is_empty(), "-q is quiet: {}", stderr(&o));
    assert!(std::fs::read(&out).expect("output").windows(4).any(|w| w == b"moov"));
    assert!(!d.join("missing").exists(), "TMPDIR is not created");
}

#[test]
fn the_hidden_partial_name_never_writes_through_to_someone_elses_file() {
    let dir = tmp();
    let d = dir.path();
    let input = small_photo(d, "cat.png", 64);
    // A hard link and a symlink under the partial file's name (left by anyone in a shared
    // directory): the files they name keep their data.
    let victim = d.join("victim.txt");
    std::fs::write(&victim, b"precious").expect("write");
    std::fs::hard_link(&victim, d.join(".hard.png.partial")).expect("hard link");
    std::os::unix::fs::symlink(&victim, d.join(".soft.png.partial")).expect("symlink");
    for name in ["hard.png", "soft.png"] {
        let out = d.join(name);
        let o = render_io(&input, &out, &[]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert_eq!(image::open(&out).expect("output").width(), 64);
        assert_eq!(std::fs::read(&victim).expect("read"), b"precious", "{name}");
    }
    assert!(partials(d).is_empty(), "{:?}", partials(d));
    // An input under the hidden name of the output would be emptied: refused.
    let hidden = d.join(".out.png.partial");
    std::fs::copy(&input, &hidden).expect("copy");
    let bytes = std::fs::read(&hidden).expect("read");
    let o = render_io(&hidden, d.join("out.png"), &[]);
    refused(&o, 2, "hidden file");
    assert_eq!(std::fs::read(&hidden).expect("read"), bytes);
}

#[test]
fn a_video_to_json_is_one_line_of_refusal() {
    let dir = tmp();
    let out = dir.path().join("clip.json");
    let o = run(bin()
        .args(["render", "--classifier", "nearest", "-i"])
        .arg(root().join("tests/data/video/small.mp4"))
        .arg("-o")
        .arg(&out));
    refused(&o, 2, ".jsonl");
    assert!(!out.exists());
}
