//! Live mode end to end: the built binary in a window under Xvfb (screenshots compared with the
//! offline render), headless recording stopped by SIGINT, and the no-camera / no-display errors.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_emojicam");

/// The window test polls screenshots against a deadline; the recording test loads both cores.
/// Run them one at a time so neither starves the other (2-core CI machines).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn photo() -> PathBuf {
    root().join("tests/data/photos/astronaut.png")
}

fn clip() -> PathBuf {
    root().join("assets/demo/bigbuckbunny.mp4")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A private XDG_RUNTIME_DIR (silences the Wayland probe).
fn runtime_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700));
    }
    d
}

/// An Xvfb server on a free display, stopped on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Self {
        assert!(
            have("Xvfb"),
            "Xvfb is needed for the window test (./setup.sh installs it)"
        );
        for n in (150 + std::process::id() % 400)..1000 {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            let display = format!(":{n}");
            let Ok(child) = Command::new("Xvfb")
                .args([display.as_str(), "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            else {
                continue;
            };
            let mut x = Xvfb { child, display };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                    std::thread::sleep(Duration::from_millis(200));
                    return x;
                }
                if let Ok(Some(_)) = x.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            x.stop();
        }
        panic!("could not start Xvfb on any display");
    }

    /// SIGTERM first: Xvfb then removes its /tmp/.X<n>-lock and socket, which SIGKILL leaves
    /// behind (and later runs step over).
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: plain kill(2) on our own child's pid, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The emojicam process, killed on drop if still running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigint(child: &Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    panic!(
        "emojicam did not exit within {limit:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn xdo(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .expect("xdotool");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn screenshot(display: &str, window: &str, path: &Path) -> image::RgbImage {
    let st = Command::new("import")
        .args(["-window", window, path.to_str().expect("utf-8 path")])
        .env("DISPLAY", display)
        .status()
        .expect("import");
    assert!(st.success(), "import failed");
    image::open(path).expect("screenshot").to_rgb8()
}

fn render(input: &Path, out: &Path, tile: u32, size: (u32, u32)) -> image::RgbImage {
    let runtime = runtime_dir();
    let o = Command::new(BIN)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .args([
            "render",
            "-q",
            "--tile",
            &tile.to_string(),
            "--size",
            &format!("{}x{}", size.0, size.1),
            "-i",
        ])
        .arg(input)
        .arg("-o")
        .arg(out)
        .output()
        .expect("render");
    assert!(
        o.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    image::open(out).expect("rendered png").to_rgb8()
}

fn psnr(mse: f64) -> f64 {
    if mse <= 1e-12 {
        99.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// PSNR after averaging both images over `block` x `block` cells (`block` = 1: per pixel).
fn block_psnr(a: &image::RgbImage, b: &image::RgbImage, block: u32) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (w, h) = a.dimensions();
    let (mut se, mut n) = (0.0f64, 0u64);
    for by in (0..h).step_by(block as usize) {
        for bx in (0..w).step_by(block as usize) {
            let (mut sa, mut sb, mut k) = ([0f64; 3], [0f64; 3], 0f64);
            for y in by..(by + block).min(h) {
                for x in bx..(bx + block).min(w) {
                    let (pa, pb) = (a.get_pixel(x, y), b.get_pixel(x, y));
                    for c in 0..3 {
                        sa[c] += pa[c] as f64;
                        sb[c] += pb[c] as f64;
                    }
                    k += 1.0;
                }
            }
            for c in 0..3 {
                let d = (sa[c] - sb[c]) / k;
                se += d * d;
                n += 1;
            }
        }
    }
    psnr(se / n as f64)
}

fn wait_for_window(display: &str, child: &mut Child) -> String {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        let id = xdo(display, &["search", "--name", "emojicam"]);
        if let Some(first) = id.lines().next() {
            return first.to_string();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("emojicam exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no emojicam window appeared");
}

/// The live preview of `photo()` with 10 px tiles, in `display`, run in `dir`.
fn spawn_window(display: &str, dir: &Path, runtime: &Path) -> Running {
    let child = Command::new(BIN)
        .args(["--tile", "10", "--input"])
        .arg(photo())
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", runtime)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn emojicam");
    Running(child)
}

/// Screenshots of window `win` (saved as `path`) until one is `size` and `done`, or 40 s
/// passed (the first frames may still be on their way on a loaded machine): the last one.
fn shot_until(
    display: &str,
    win: &str,
    path: &Path,
    size: (u32, u32),
    done: &dyn Fn(&image::RgbImage) -> bool,
) -> image::RgbImage {
    let t = Instant::now();
    loop {
        let shot = screenshot(display, win, path);
        if t.elapsed() > Duration::from_secs(40) || (shot.dimensions() == size && done(&shot)) {
            return shot;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// After 'o' the left half of the window shows the photo, fitted.
fn assert_original_beside(display: &str, win: &str, dir: &Path, photo_img: &image::RgbImage) {
    let size = photo_img.dimensions();
    xdo(display, &["key", "o"]);
    let (hw, hh) = (size.0 / 2, size.1 * (size.0 / 2) / size.0);
    let small = image::imageops::resize(photo_img, hw, hh, image::imageops::FilterType::Triangle);
    let left = |s: &image::RgbImage| {
        let y0 = (size.1 - hh) / 2;
        image::imageops::crop_imm(s, 0, y0, hw, hh).to_image()
    };
    let beside = shot_until(display, win, &dir.join("beside.png"), size, &|s| {
        block_psnr(&left(s), &small, 4) > 22.0
    });
    let vs_photo = block_psnr(&left(&beside), &small, 4);
    eprintln!("after 'o': left half vs the photo {vs_photo:.1} dB (4 px blocks)");
    assert!(
        vs_photo > 22.0,
        "after 'o' the original should show beside the mosaic ({vs_photo:.1} dB)"
    );
}

#[test]
fn window_shows_the_mosaic_and_plus_enlarges_tiles() {
    let _serial = serial();
    let x = Xvfb::start();
    for tool in ["xdotool", "import"] {
        assert!(have(tool), "{tool} is needed (apt-get install xdotool imagemagick)");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = runtime_dir();
    let mut run = spawn_window(&x.display, tmp.path(), rt.path());
    let win = wait_for_window(&x.display, &mut run.0);
    let photo_img = image::open(photo()).expect("photo").to_rgb8();
    let size = photo_img.dimensions();
    let ref10 = render(&photo(), &tmp.path().join("ref10.png"), 10, size);
    let until = |done: &dyn Fn(&image::RgbImage) -> bool, name: &str| {
        shot_until(&x.display, &win, &tmp.path().join(name), size, done)
    };
    let shot = until(&|s| block_psnr(s, &ref10, 10) > 20.0, "shot10.png");
    assert_eq!(
        shot.dimensions(),
        size,
        "the window opens at the source size when it fits"
    );
    let tile_psnr = block_psnr(&shot, &ref10, 10);
    let pixel_vs_ref = block_psnr(&shot, &ref10, 1);
    let pixel_vs_photo = block_psnr(&shot, &photo_img, 1);
    eprintln!("window vs render: tile PSNR {tile_psnr:.1} dB, pixel PSNR {pixel_vs_ref:.1} dB; vs photo pixels {pixel_vs_photo:.1} dB");
    assert!(
        tile_psnr > 20.0,
        "the window should show the offline mosaic (tile PSNR {tile_psnr:.1} dB)"
    );
    assert!(
        pixel_vs_ref > pixel_vs_photo + 5.0,
        "the window should be the mosaic, not the photo ({pixel_vs_ref:.1} vs {pixel_vs_photo:.1} dB)"
    );

    // '+' makes tiles 12 px: the window must now match the 12 px render better than the 10 px one.
    xdo(&x.display, &["windowfocus", "--sync", &win]);
    xdo(&x.display, &["key", "plus"]);
    let ref12 = render(&photo(), &tmp.path().join("ref12.png"), 12, size);
    let shot12 = until(
        &|s| block_psnr(s, &ref12, 1) > block_psnr(s, &ref10, 1) + 3.0,
        "shot12.png",
    );
    let vs12 = block_psnr(&shot12, &ref12, 1);
    let vs10 = block_psnr(&shot12, &ref10, 1);
    eprintln!("after '+': pixel PSNR vs 12 px render {vs12:.1} dB, vs 10 px render {vs10:.1} dB");
    assert!(
        vs12 > vs10 + 3.0,
        "after '+' the window should show 12 px tiles ({vs12:.1} vs {vs10:.1} dB)"
    );

    // 'o' shows the original beside the mosaic.
    assert_original_beside(&x.display, &win, tmp.path(), &photo_img);

    xdo(&x.display, &["key", "q"]);
    let child = std::mem::replace(&mut run.0, Command::new("true").spawn().expect("true"));
    let out = wait_with_timeout(child, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "Q should exit 0: {err}");
    assert!(err.contains("frames in"), "summary line missing: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn headless_recording_survives_sigint() {
    let _serial = serial();
    assert!(have("ffprobe"), "ffprobe is needed (./setup.sh installs ffmpeg)");
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = runtime_dir();
    let out_mp4 = tmp.path().join("out.mp4");
    let child = Command::new(BIN)
        .args(["--no-window", "--input"])
        .arg(clip())
        .arg("--record")
        .arg(&out_mp4)
        .env("XDG_RUNTIME_DIR", rt.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn emojicam");
    std::thread::sleep(Duration::from_secs(5));
    sigint(&child);
    let out = wait_with_timeout(child, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "Ctrl-C is a user stop (exit 0): {err}");
    assert!(!err.contains("panicked"), "{err}");
    // "emojicam: saved recording /path/out.mp4: N frames", once.
    let frames = saved_frames(&err);
    assert!(frames > 0, "{err}");
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,r_frame_rate,duration",
            "-of",
            "default=nw=1",
        ])
        .arg(&out_mp4)
        .output()
        .expect("ffprobe");
    let p = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success(),
        "ffprobe rejects the recording: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let field = |k: &str| {
        p.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        field("nb_read_frames").parse::<u64>().ok(),
        Some(frames),
        "ffprobe: {p}"
    );
    assert_eq!(field("r_frame_rate"), "25/1", "{p}");
    if let Ok(d) = field("duration").parse::<f64>() {
        assert!(
            (d - frames as f64 / 25.0).abs() < 0.05,
            "duration {d} for {frames} frames at 25 fps"
        );
    }
}

/// The small clip (320x180, 12 frames at 25 fps; played live, it loops).
fn small_clip() -> PathBuf {
    root().join("tests/data/video/small.mp4")
}

/// `emojicam --no-window` recording the small clip to `out` (the quick classifier), with
/// `extra` arguments.
fn record_small(out: &Path, extra: &[&str], runtime: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(["--no-window", "--classifier", "nearest", "--input"])
        .arg(small_clip())
        .arg("--record")
        .arg(out)
        .args(extra)
        .env("XDG_RUNTIME_DIR", runtime)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// The frame count of the one `emojicam: saved recording PATH: N frames` line of `err`.
fn saved_frames(err: &str) -> u64 {
    let saved = |l: &&str| l.starts_with("emojicam: saved recording ") && l.contains(" frames");
    assert_eq!(
        err.lines().filter(saved).count(),
        1,
        "the recording is reported once: {err}"
    );
    let line = err
        .lines()
        .find(saved)
        .unwrap_or_else(|| panic!("no recording summary in: {err}"));
    line.rsplit(": ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the frame count from '{line}'"))
}

/// ffprobe's `key=value` lines for `entries` of `path`'s first video stream, every frame
/// decoded; panics when ffprobe cannot read the file.
fn probe(path: &Path, entries: &str) -> String {
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-count_packets",
            "-select_streams",
            "v:0",
        ])
        .args(["-show_entries", entries, "-of", "default=nw=1"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(
        probe.status.success(),
        "ffprobe rejects {}: {}",
        path.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    String::from_utf8_lossy(&probe.stdout).into_owned()
}

/// The value of `key` among ffprobe's `key=value` lines (empty when absent).
fn field(probe: &str, key: &str) -> String {
    probe
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// What a recording file says it is: an ISO file's `ftyp` brand, or a Matroska file's
/// DocType (`matroska` or `webm`).
fn container_of(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read the recording");
    if bytes.get(4..8) == Some(b"ftyp") {
        return format!("ftyp {}", String::from_utf8_lossy(&bytes[8..12]));
    }
    assert_eq!(
        bytes.get(..4),
        Some(&[0x1a, 0x45, 0xdf, 0xa3][..]),
        "neither ISO nor EBML"
    );
    let head = &bytes[..bytes.len().min(64)];
    let has = |word: &[u8]| head.windows(word.len()).any(|w| w == word);
    if has(b"webm") {
        "webm".into()
    } else if has(b"matroska") {
        "matroska".into()
    } else {
        "EBML without a known DocType".into()
    }
}

/// `--record` takes every video file `render` writes: each is the container its name says,
/// holds the codec that container takes, and has every frame the summary counts at the run's
/// rate (1 s of the 25 fps clip).
#[test]
fn headless_recording_writes_every_video_container() {
    let _serial = serial();
    assert!(have("ffprobe"), "ffprobe is needed (./setup.sh installs ffmpeg)");
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = runtime_dir();
    // (extension, what the file says it is, video codec)
    let cases = [
        ("mkv", "matroska", "h264"),
        ("webm", "webm", "vp8"),
        ("mov", "ftyp qt  ", "h264"),
        ("m4v", "ftyp mp4", "h264"),
    ];
    for (ext, kind, codec) in cases {
        let out_path = tmp.path().join(format!("out.{ext}"));
        let child = record_small(&out_path, &["--duration", "1"], rt.path())
            .spawn()
            .expect("spawn emojicam");
        let out = wait_with_timeout(child, Duration::from_secs(90));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), ".{ext}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let frames = saved_frames(&err);
        let p = probe(&out_path, "stream=codec_name,nb_read_frames,r_frame_rate");
        let what = container_of(&out_path);
        eprintln!(".{ext}: {what}, {frames} frames; ffprobe: {}", p.replace('\n', " "));
        assert!(what.starts_with(kind), ".{ext} is {what}, not {kind}");
        assert_eq!(field(&p, "codec_name"), codec, ".{ext}: {p}");
        assert_eq!(
            field(&p, "nb_read_frames").parse::<u64>().ok(),
            Some(frames),
            ".{ext}: {p}"
        );
        assert_eq!(field(&p, "r_frame_rate"), "25/1", ".{ext}: {p}");
        // --duration 1 at 25 fps: rate x duration frames, the recording's frames placed by
        // capture time from its first (a frame captured in the last half frame is not one more).
        assert_eq!(frames, 25, ".{ext}: {frames} frames in 1 s at 25 fps");
    }
}

/// A Matroska or WebM recording killed (SIGKILL) mid-way plays up to where it was cut: every
/// frame whose data reached the file decodes.
#[test]
fn killed_matroska_and_webm_recordings_play() {
    let _serial = serial();
    assert!(have("ffprobe"), "ffprobe is needed (./setup.sh installs ffmpeg)");
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = runtime_dir();
    for ext in ["mkv", "webm"] {
        let out_path = tmp.path().join(format!("killed.{ext}"));
        let mut child = Running(
            record_small(&out_path, &[], rt.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn emojicam"),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::metadata(&out_path).map_or(true, |m| m.len() < 2000) {
            assert!(
                child.0.try_wait().expect("wait").is_none(),
                ".{ext}: the recording stopped by itself"
            );
            assert!(Instant::now() < deadline, ".{ext}: nothing was recorded");
            std::thread::sleep(Duration::from_millis(20));
        }
        // About 60 frames of the 25 fps clip go in while this waits.
        std::thread::sleep(Duration::from_millis(2500));
        child.0.kill().expect("SIGKILL");
        let _ = child.0.wait();
        let p = probe(&out_path, "stream=codec_name,nb_read_frames,nb_read_packets");
        let (frames, packets) = (
            field(&p, "nb_read_frames").parse::<u64>().unwrap_or(0),
            field(&p, "nb_read_packets").parse::<u64>().unwrap_or(0),
        );
        eprintln!(".{ext} killed after 2.5 s: {frames} frames decoded of {packets} packets");
        assert!(frames >= 25, ".{ext}: only {frames} frames after 2.5 s: {p}");
        // Only a packet torn by the kill may fail to decode.
        assert!(frames + 1 >= packets, ".{ext}: {frames} of {packets} packets decode");
        // ffmpeg plays it through to its end.
        let played = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&out_path)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg");
        assert!(
            played.status.success(),
            ".{ext}: ffmpeg cannot play the killed recording: {}",
            String::from_utf8_lossy(&played.stderr)
        );
    }
}

/// `--record` with a name that is no video file is one line naming the ones taken (exit 2),
/// and a recording to the input's own name is refused (its container taken or not), both
/// before anything is written.
#[test]
fn recording_names_are_checked_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = runtime_dir();
    let avi = tmp.path().join("out.avi");
    let out = record_small(&avi, &["--duration", "1"], rt.path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(".mp4, .m4v, .mov, .mkv or .webm"),
        "names the video files taken: {err}"
    );
    assert!(!avi.exists(), "nothing written");
    let input = tmp.path().join("in.mkv");
    std::fs::copy(small_clip(), &input).expect("copy");
    let before = std::fs::read(&input).expect("read");
    let out = Command::new(BIN)
        .args(["--no-window", "--input"])
        .arg(&input)
        .arg("--record")
        .arg(&input)
        .env("XDG_RUNTIME_DIR", rt.path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "never overwrites its input: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert_eq!(std::fs::read(&input).expect("read"), before, "the input is untouched");
}

#[test]
fn no_camera_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = runtime_dir();
    let out = Command::new(BIN)
        .args(["--camera", "0", "--no-window", "--record"])
        .arg(tmp.path().join("x.mp4"))
        .env("XDG_RUNTIME_DIR", rt.path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && std::env::var_os("CI").is_none() {
        // A developer's machine with a camera cannot show the no-camera path; CI has none.
        eprintln!("this machine has a camera: the no-camera message is checked on CI");
        return;
    }
    assert!(err.contains("no camera"), "{err}");
    assert!(err.contains("--input FILE") && err.contains("emojicam render"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn no_display_is_a_clear_error() {
    let rt = runtime_dir();
    let out = Command::new(BIN)
        .arg("--input")
        .arg(photo())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", rt.path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("no display"), "{err}");
    assert!(err.contains("--no-window"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Mean squared error -> PSNR in dB (8-bit).
fn psnr_of(sum: f64, n: f64) -> f64 {
    10.0 * (255.0f64 * 255.0 / (sum / n).max(1e-9)).log10()
}

/// PSNR of decoded frames against the rendered ones (RGB, over the rendered size: the
/// recording's even padding is left out).
fn recording_psnr(path: &Path, rendered: &[emojicam::Frame]) -> f64 {
    let mut source = emojicam::source::open(path).expect("open the recording");
    let (mut sum, mut n) = (0.0, 0.0);
    for want in rendered {
        let got = source.next_frame().expect("decode").expect("as many frames as written");
        for y in 0..want.height {
            for x in 0..want.width {
                let (a, b) = (want.pixel(x, y), got.pixel(x, y));
                for c in 0..3 {
                    sum += (a[c] as f64 - b[c] as f64).powi(2);
                }
                n += 3.0;
            }
        }
    }
    assert!(
        source.next_frame().expect("decode").is_none(),
        "more frames than written"
    );
    psnr_of(sum, n)
}

/// The live recorder gets I420 converted on the GPU; a recording made so looks as one made
/// from RGBA through GStreamer's conversion (as before), at an HD size (BT.709) and at an odd
/// small one (BT.601, padded to even).
#[test]
fn a_recording_converted_on_the_gpu_looks_as_the_cpu_conversion() {
    use emojicam::pipeline::{Pipeline, Settings};
    use emojicam::sink::{Container, Mp4Sink, Sink};
    use emojicam::{Frame, Rate, Stamp};

    let _serial = serial();
    let photo = image::open(photo()).expect("photo").to_rgba8();
    let tmp = tempfile::tempdir().expect("tempdir");
    // The GPU is opened in this process: a private runtime dir for the Wayland probe, as the
    // child processes get (the tests that read the environment hold `serial` too).
    let runtime = runtime_dir();
    std::env::set_var("XDG_RUNTIME_DIR", runtime.path());
    let mut pipeline = Pipeline::new(Settings::default()).expect("pipeline");
    for (w, h) in [(1280u32, 720u32), (321, 181)] {
        let base = image::imageops::resize(&photo, w + 24, h, image::imageops::FilterType::Triangle);
        let paths = [
            tmp.path().join(format!("cpu-{w}.mp4")),
            tmp.path().join(format!("gpu-{w}.mp4")),
        ];
        let mut sinks = paths
            .clone()
            .map(|p| Mp4Sink::create_recording(&p, Container::Mp4, w, h, Rate::new(10, 1)).expect("recording"));
        let mut rendered = Vec::new();
        // A camera panning 3 px a frame: most frames redraw only some tiles.
        for i in 0..8u32 {
            let view = image::imageops::crop_imm(&base, i * 3, 0, w, h).to_image();
            let frame = Frame::new(w, h, view.into_raw());
            let mosaic = pipeline.classify(&frame, Stamp::new(i as u64, None)).expect("classify");
            let rgba = pipeline.render(&mosaic, None).expect("render");
            let i420 = pipeline.render_i420(&mosaic).expect("render as I420");
            assert_eq!((i420.width, i420.height), (w.div_ceil(2) * 2, h.div_ceil(2) * 2));
            sinks[0].write(&mosaic, Some(&rgba)).expect("write RGBA");
            sinks[1].write_i420(&mosaic, &i420).expect("write I420");
            rendered.push(rgba);
        }
        for s in &mut sinks {
            s.finish().expect("finish");
        }
        let [cpu, gpu] = paths.map(|p| recording_psnr(&p, &rendered));
        println!("{w}x{h}: recorded from RGBA (CPU conversion) {cpu:.3} dB, from I420 (GPU) {gpu:.3} dB");
        // The recording keeps the emoji (x264 at constant quality: 27.8-28.1 dB at 1280x720
        // over these 8 frames; under GStreamer's default cap of 2 Mbit/s it was 23.5 dB, the
        // emoji smeared into a blurred photo).
        assert!(
            cpu > 25.0,
            "{w}x{h}: the CPU-converted recording is {cpu:.2} dB from the mosaic"
        );
        // The two conversions agree closely (tests/gpu.rs compares the planes: `videoconvert`
        // comes out 1.5-3.5 levels darker), and the rest is the encoder: a live recording is
        // timed by the clock, and the same frames recorded twice through the same path came out
        // 0.04 dB apart at 1280x720 on a loaded machine; the paths are 0.25 dB apart here.
        assert!(
            (gpu - cpu).abs() <= 0.5,
            "{w}x{h}: GPU-converted {gpu:.2} dB vs CPU-converted {cpu:.2} dB from the mosaic"
        );
    }
}
