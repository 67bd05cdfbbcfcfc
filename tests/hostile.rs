//! Inputs and command lines nobody meant to give: files cut short in formats we decode
//! ourselves (GIF, Y4M), pictures with no sound to look for, and options clap refuses. Each
//! gives what a player would show plus one warning, or one line and an exit status; never a
//! panic, a wait or a usage block.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{bin, ffmpeg_test_pattern, ffprobe_frames, run, stderr};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn render(input: &Path, output: &Path) -> Output {
    run(bin()
        .args(["render", "--classifier", "nearest", "-q", "-i"])
        .arg(input)
        .arg("-o")
        .arg(output))
}

/// Exactly one line on stderr, no panic, the given exit code.
fn one_line(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code: {err}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "mentions '{needle}': {err}");
}

/// A 10-frame 64x48 GIF, each frame a different colour, 0.1 s apart.
fn gif(dir: &Path) -> PathBuf {
    let path = dir.join("anim.gif");
    let mut bytes = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut bytes, 64, 48, &[]).expect("encoder");
        for n in 0..10u8 {
            let mut rgba: Vec<u8> = (0..64 * 48).flat_map(|_| [n * 25, 255 - n * 25, 128, 255]).collect();
            let mut frame = gif::Frame::from_rgba(64, 48, &mut rgba);
            frame.delay = 10;
            encoder.write_frame(&frame).expect("frame");
        }
    }
    std::fs::write(&path, bytes).expect("write");
    path
}

/// A 10-frame 64x48 Y4M, 4:2:0 or grey (`Cmono`, with the full range as ffmpeg writes it):
/// the header, then per frame `FRAME\n` and its planes.
fn y4m(dir: &Path, name: &str, mono: bool) -> PathBuf {
    let path = dir.join(name);
    let colour = if mono { "Cmono XCOLORRANGE=FULL" } else { "C420jpeg" };
    let mut bytes = format!("YUV4MPEG2 W64 H48 F10:1 Ip A1:1 {colour}\n").into_bytes();
    let plane = if mono { 64 * 48 } else { 64 * 48 * 3 / 2 };
    for n in 0..10u8 {
        bytes.extend_from_slice(b"FRAME\n");
        bytes.extend((0..plane).map(|i| (i as u8).wrapping_add(n * 20)));
    }
    std::fs::write(&path, bytes).expect("write");
    path
}

/// The first `keep` of `path`'s bytes, as `PREFIX-NAME` beside it.
fn cut(path: &Path, keep: f64, prefix: &str) -> PathBuf {
    let bytes = std::fs::read(path).expect("read");
    let name = format!("{prefix}-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("x"));
    let out = path.with_file_name(name);
    std::fs::write(&out, &bytes[..(bytes.len() as f64 * keep) as usize]).expect("write");
    out
}

/// A GIF or Y4M cut short shows the frames before the cut, as players and browsers do, with
/// one warning (shown with -q too); cut inside its first frame it is refused. Before, a cut
/// GIF was refused whole (and to a video output only after GStreamer looked 20 s for its
/// sound), and a cut Y4M rendered with no word of the damage.
#[test]
fn a_gif_or_y4m_cut_short_shows_its_whole_frames_and_says_so() {
    let dir = tmp();
    let gif = gif(dir.path());
    let y4m = y4m(dir.path(), "clip.y4m", false);
    for (input, words) in [(&gif, "GIF is cut short"), (&y4m, "Y4M file ends")] {
        let out = dir.path().join("out.mp4");
        let o = render(&cut(input, 0.55, "cut"), &out);
        one_line(&o, 0, words);
        let (frames, _) = ffprobe_frames(&out).expect("ffprobe reads the output");
        assert!((4..10).contains(&frames), "the whole frames before the cut: {frames}");
        let err = stderr(&o);
        let counted = [format!("first {frames} frame"), format!("the {frames} whole frame")];
        assert!(counted.iter().any(|c| err.contains(c)), "says how many: {err}");
        let _ = std::fs::remove_file(&out);
        // Cut inside the first frame: nothing to show.
        one_line(&render(&cut(input, 0.02, "first"), &out), 1, "");
        assert!(!out.exists(), "no output");
    }
    // Whole files: no warning.
    for input in [&gif, &y4m] {
        let o = render(input, &dir.path().join("whole.y4m"));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stderr(&o), "", "no warning for a whole file");
    }
}

/// An MP4 recording cut short before its index (the `moov` box, written last) cannot be read
/// at all: one line that says so, instead of GStreamer's "no playable streams"; no output.
#[test]
fn an_mp4_cut_before_its_index_says_so() {
    let dir = tmp();
    let whole = dir.path().join("rec.mp4");
    ffmpeg_test_pattern(
        "size=160x90:rate=25:duration=1",
        &["-c:v", "libx264", "-preset", "ultrafast"],
        &whole,
    );
    let out = dir.path().join("out.mp4");
    one_line(
        &render(&cut(&whole, 0.8, "cut"), &out),
        1,
        "without its index (the moov box",
    );
    assert!(!out.exists(), "no output");
    let o = render(&whole, &out);
    assert_eq!(o.status.code(), Some(0), "the whole file renders: {}", stderr(&o));
}

/// Only a video file read by GStreamer can carry sound: a grey Y4M to MP4 is not handed to
/// GStreamer's Y4M reader to look for it (which asserted `denom != 0` on stderr).
#[test]
fn a_picture_without_sound_is_not_probed_for_it() {
    let dir = tmp();
    let input = y4m(dir.path(), "grey.y4m", true);
    let out = dir.path().join("grey.mp4");
    let o = render(&input, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "nothing on stderr");
    assert_eq!(ffprobe_frames(&out).map(|f| f.0), Some(10));
}

/// `emojicam render` of `bytes` fed on standard input (`-i -`, nearest classifier) to `out`.
fn render_stdin(bytes: &[u8], out: &Path) -> Output {
    let mut child = bin()
        .args(["render", "--classifier", "nearest", "-q", "-i", "-", "-o"])
        .arg(out)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut pipe, bytes).expect("feed");
    drop(pipe);
    child.wait_with_output().expect("wait")
}

/// A 32x32 PNG of one red, written to `dir/name`.
fn small_png(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    image::RgbImage::from_pixel(32, 32, image::Rgb([200, 30, 30]))
        .save(&path)
        .expect("png");
    path
}

/// Every command line clap refuses is one line and exit status 2 (not clap's usage block),
/// and a thread count or frame rate that would bring the machine to a halt is refused.
#[test]
fn bad_command_lines_are_one_line() {
    let dir = tmp();
    let png = small_png(dir.path(), "in.png");
    let out = dir.path().join("out.png");
    let (i, o) = (png.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
    // A virtual camera that is the camera read (a loopback device is a camera once fed): by
    // number, by node, by a link to the node (made here: no device is needed to refuse it).
    let link = dir.path().join("cam-link");
    std::os::unix::fs::symlink("/dev/video7", &link).expect("symlink");
    let l = link.to_str().expect("utf-8");
    // A model of two graphs copied without its tables graph.
    let lone = dir.path().join("emojinet.onnx");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/emojinet.onnx"),
        &lone,
    )
    .expect("copy");
    let lone = lone.to_str().expect("utf-8");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--camera", "7", "--virtual-camera", "/dev/video7", "--no-window"],
            "--virtual-camera /dev/video7 is the camera emojicam reads",
        ),
        (
            &["--virtual-camera", "/dev/video0", "--no-window"],
            "is the camera emojicam reads",
        ),
        (
            &["--camera", l, "--virtual-camera", "/dev/video7", "--no-window"],
            "is the camera emojicam reads",
        ),
        (&["render", "-i", i, "-o", o, "--tile", "abc"], "invalid value 'abc'"),
        (
            &["render", "-i", i, "-o", o, "--tile", "8", "--tile", "9"],
            "cannot be used multiple times",
        ),
        (&["render", "-i", i, "-o", o, "--size", "-5x5"], "goes after '='"),
        (
            &["render", "-i", i, "-o", o, "--tiles", "8"],
            "a similar argument exists: '--tile'",
        ),
        (&["render", "-i", i], "--output"),
        (
            &["render", "-i", i, "-o", o, "--threads", "100000"],
            "--threads must be 1 to 256",
        ),
        (&["render", "-i", i, "-o", o, "--change-threshold", "256"], "256"),
        (
            &["--input", i, "--no-window", "--record", "r.mp4", "--fps", "100000000"],
            "--fps must be 1 to 1000",
        ),
        (
            &["--input", i, "--no-window", "--record", "r.mp4", "--fps", "0"],
            "--fps must be 1 to 1000",
        ),
        (
            &["--input", i, "--no-window", "--record", "r.mp4", "--size", "640x480"],
            "a file plays live at its own size",
        ),
        (&["--mirror", "maybe"], "possible values: true, false"),
        // The bench measured nothing, silently, or ignored its input (exit 0, no word).
        (
            &["bench", "--live-only", "--live-seconds", "nan"],
            "invalid --live-seconds NaN",
        ),
        (&["bench", "--live-only", "--live-seconds", "0"], "measures nothing"),
        (&["bench", "--render-only", "--input", i], "not --input"),
        (&["bench", "--frames", "0"], "invalid --frames 0"),
        (&["bench", "--threads", "0"], "--threads must be 1 to 256"),
        (
            &["bench", "--compare-model", "missing.onnx"],
            "--compare-model missing.onnx: No such file",
        ),
        (&["bench", "--compare-model", i], "not a model with this build's inputs"),
        (&["bench", "--compare-model", lone], "emojinet-tables.onnx: No such file"),
        (&["nonsense"], "unrecognized subcommand"),
        // the live preview's options before a subcommand were ignored, silently
        (
            &["--threads", "1", "bench", "--frames", "2"],
            "the subcommand 'bench' cannot be used with '--threads <THREADS>'; a subcommand's options go after its name",
        ),
        (&["-q", "render", "-i", i, "-o", o], "cannot be used with '--quiet'"),
    ];
    for &(args, needle) in cases {
        let o = run(bin().current_dir(dir.path()).args(args));
        one_line(&o, 2, needle);
        assert!(stderr(&o).starts_with("emojicam: error: "), "{}", stderr(&o));
    }
    assert!(!out.exists() && !dir.path().join("r.mp4").exists(), "nothing written");
    let help = run(bin().args(["render", "--help"]));
    assert_eq!(help.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--output"),
        "help still prints"
    );
}

/// A picture smaller than the encoder takes, played live into a recording: one line that
/// says what to do for a file, whose size live `--size` does not change.
#[test]
fn a_picture_too_small_to_record_live_says_what_to_do() {
    let dir = tmp();
    let png = dir.path().join("tiny.png");
    image::RgbImage::from_pixel(9, 9, image::Rgb([200, 30, 30]))
        .save(&png)
        .expect("png");
    let rec = dir.path().join("rec.mp4");
    let o = run(bin()
        .args(["--no-window", "--classifier", "nearest", "-q", "--duration", "1", "-i"])
        .arg(&png)
        .arg("--record")
        .arg(&rec));
    one_line(&o, 2, "9x9 picture is too small");
    assert!(stderr(&o).contains("render --size"), "{}", stderr(&o));
    assert!(!rec.exists(), "no recording");
}

/// A photo with more tiles than the GPU classifies at once (the nearest classifier's batch on
/// software Vulkan holds 262144: 2100x2100 at 4 px is 275625) has its mosaic made from a copy
/// scaled to fit, as a photo larger than the GPU's textures does. Before, the scaled size
/// counted pixels only, and this was refused ("use a larger --tile", exit 2).
#[test]
fn a_photo_with_more_tiles_than_the_gpu_takes_is_scaled_to_fit() {
    let dir = tmp();
    let png = dir.path().join("big.png");
    image::RgbImage::from_fn(2100, 2100, |x, y| image::Rgb([(x / 9) as u8, (y / 9) as u8, 128]))
        .save(&png)
        .expect("png");
    let out = dir.path().join("out.png");
    let o = run(bin()
        .args(["render", "--classifier", "nearest", "--tile", "4", "-i"])
        .arg(&png)
        .arg("-o")
        .arg(&out));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
    let (w, h) = image::image_dimensions(&out).expect("the mosaic");
    assert_eq!(w, h, "the aspect is kept");
    if w < 2100 {
        assert!(err.contains(&format!("scaled to {w}x{h}")), "says so: {err}");
    }
}

/// Standard input that is empty, or whose first bytes are no format emojicam reads, says that
/// (it has no extension to blame: before, both were "unsupported input format (no
/// extension)", exit 2).
#[test]
fn standard_input_that_is_empty_or_unknown_says_so() {
    let dir = tmp();
    let out = dir.path().join("out.png");
    for (bytes, code, needle) in [
        (&b""[..], 1, "empty (0 bytes)"),
        (
            &b"\x00\x01garbage, not a picture\n"[..],
            2,
            "its first bytes are those of no format",
        ),
    ] {
        let o = render_stdin(bytes, &out);
        one_line(&o, code, needle);
        assert!(!stderr(&o).contains("no extension"), "{}", stderr(&o));
        assert!(!out.exists(), "no output");
    }
}

/// An output that names no file: a symlink that leads back to itself is refused (before, the
/// link was replaced by the mosaic), a demo `--out-dir` that is no directory says so
/// (before: "File exists"), and a name ending in `/` is refused.
#[test]
fn an_output_that_names_no_file_is_refused() {
    let dir = tmp();
    let d = dir.path();
    let png = small_png(d, "in.png");
    let (a, b) = (d.join("a.png"), d.join("b.png"));
    std::os::unix::fs::symlink("b.png", &a).expect("symlink");
    std::os::unix::fs::symlink("a.png", &b).expect("symlink");
    one_line(&render(&png, &a), 1, "symbolic links");
    for link in [&a, &b] {
        let meta = std::fs::symlink_metadata(link).expect("still there");
        assert!(meta.file_type().is_symlink(), "{} is still a link", link.display());
    }
    let o = run(bin().args(["demo", "--classifier", "nearest", "--out-dir", "/dev/null"]));
    one_line(&o, 1, "not a directory");
    // The demo writes its clip into --out-dir: a file of the user's under that name stays.
    let theirs = d.join("bigbuckbunny.mp4");
    std::fs::write(&theirs, b"someone's own video").expect("write");
    let o = run(bin().args(["demo", "--out-dir"]).arg(d));
    one_line(&o, 1, "it is left alone");
    assert_eq!(std::fs::read(&theirs).expect("read"), b"someone's own video");
    assert!(!d.join("demo-emoji.mp4").exists(), "nothing rendered");
    // `out.png/` names a directory: before, `out.png` was written.
    let slash = d.join("out.png/");
    one_line(&render(&png, &slash), 2, "ends in '/'");
    assert!(!d.join("out.png").exists(), "nothing written");
}

/// A GIF frame may be as large as any picture emojicam reads: a 3600x3600 GIF (more than the
/// gif crate's default 50 MB a frame) renders; before, it was refused with "Out of Memory".
/// A frame that declares 65535x65535 on a 4x4 canvas is refused in words that say so.
#[test]
fn a_large_gif_renders_and_a_gif_frame_too_large_says_so() {
    let dir = tmp();
    let big = dir.path().join("big.gif");
    {
        let (w, h) = (3600u16, 3600u16);
        let pixels: Vec<u8> = (0..u32::from(w) * u32::from(h))
            .map(|i| ((i % u32::from(w)) / 900 + (i / u32::from(w)) / 900 * 4) as u8)
            .collect();
        let palette: Vec<u8> = (0..16u8).flat_map(|n| [n * 16, 255 - n * 16, 128]).collect();
        let mut file = std::fs::File::create(&big).expect("create");
        let mut encoder = gif::Encoder::new(&mut file, w, h, &palette).expect("encoder");
        let mut frame = gif::Frame::from_indexed_pixels(w, h, pixels, None);
        frame.delay = 10;
        encoder.write_frame(&frame).expect("frame");
    }
    let out = dir.path().join("big.y4m");
    let o = render(&big, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read(&out)
        .expect("output")
        .starts_with(b"YUV4MPEG2 W3600 H3600"));
    // GIF89a, a 4x4 canvas with a 2-colour table, then one frame of 65535x65535.
    let mut bomb = b"GIF89a\x04\x00\x04\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    bomb.extend_from_slice(b"\x2c\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02\x44\x01\x00\x3b");
    let input = dir.path().join("bomb.gif");
    std::fs::write(&input, bomb).expect("write");
    let out = dir.path().join("bomb.y4m");
    one_line(&render(&input, &out), 1, "declares more than emojicam reads");
    assert!(!out.exists(), "no output");
}

/// 5.1 sound re-encoded to AAC keeps at least two channels: voaacenc takes mono or stereo,
/// mono first, and the 5.1 PCM of an MKV was mixed down to one channel (the summary said only
/// "sound re-encoded").
#[test]
fn surround_sound_re_encoded_to_aac_stays_stereo() {
    let dir = tmp();
    let input = dir.path().join("surround.mkv");
    let pan = "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0";
    ffmpeg_test_pattern(
        "size=160x90:rate=25:duration=1",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=d=1",
            "-af",
            pan,
            "-c:v",
            "libx264",
            "-c:a",
            "pcm_s16le",
        ],
        &input,
    );
    let sound = |path: &Path| common::ffprobe_numbers(path, "a:0", "stream=channels");
    assert_eq!(sound(&input), [6.0], "the input is 5.1");
    for name in ["out.mp4", "out.mkv"] {
        let out = dir.path().join(name);
        let o = render(&input, &out);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let channels = sound(&out);
        assert!(channels.first().is_some_and(|&c| c >= 2.0), "{name}: {channels:?}");
    }
}

/// A sound file is refused as audio only (exit 2), by its name or, on standard input, its
/// first bytes; before, an MP3, WAV or FLAC was "unsupported input format '.mp3'" while an
/// M4A said "no video track (audio only?)". A song's cover art is not a video: both say so.
#[test]
fn a_sound_file_is_refused_as_audio_only() {
    let dir = tmp();
    let cover = small_png(dir.path(), "cover.png");
    let out = dir.path().join("out.mp4");
    for name in ["song.mp3", "song.m4a", "song.wav", "song.flac"] {
        let song = dir.path().join(name);
        let mut ffmpeg = std::process::Command::new("ffmpeg");
        ffmpeg.args(["-v", "error", "-f", "lavfi", "-i", "sine=d=0.5"]);
        if name != "song.wav" {
            ffmpeg
                .arg("-i")
                .arg(&cover)
                .args(["-map", "0", "-map", "1", "-c:v", "copy"]);
            ffmpeg.args(["-disposition:v", "attached_pic"]);
        }
        let ok = ffmpeg.arg(&song).status().is_ok_and(|s| s.success());
        assert!(ok, "ffmpeg made {name}");
        let o = render(&song, &out);
        one_line(&o, 2, "audio only");
        assert!(stderr(&o).contains("cover art"), "{}", stderr(&o));
        assert!(!out.exists(), "no output");
    }
    // An MP3 on standard input, known by its ID3 tag.
    let mp3 = std::fs::read(dir.path().join("song.mp3")).expect("read");
    one_line(&render_stdin(&mp3, &out), 2, "audio only");
}

/// qtdemux leaves out an MP4 track shorter than a fifth of the movie, taking it for a
/// trailer's preview picture: a 0.15 s sound in a 1 s clip was dropped without a word, and a
/// 0.2 s video beside 2 s of sound was refused as "its video track has no frames". Both are
/// read now, as players read them.
#[test]
fn a_track_shorter_than_a_fifth_of_its_mp4_is_kept() {
    let dir = tmp();
    let make = |name: &str, video: &str, sound: &str| {
        let path = dir.path().join(name);
        let spec = format!("size=160x90:rate=25:duration={video}");
        let sine = format!("sine=d={sound}");
        let encode = [
            "-f",
            "lavfi",
            "-i",
            &sine,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
        ];
        ffmpeg_test_pattern(&spec, &encode, &path);
        path
    };
    let out = dir.path().join("out.mp4");
    let o = render(&make("short-sound.mp4", "1", "0.15"), &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ffprobe_frames(&out).map(|f| f.0), Some(25));
    let sound = common::ffprobe_numbers(&out, "a:0", "stream=duration");
    assert!(sound.first().is_some_and(|&d| d > 0.1), "the sound is kept: {sound:?}");
    let o = render(&make("short-video.mp4", "0.2", "2"), &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ffprobe_frames(&out).map(|f| f.0), Some(5));
}

/// A GIF's transparent pixels show the background as a transparent PNG's do (white with the
/// default `--background tile`); they were black whatever the background, so a sticker GIF on
/// a white page came out dark.
#[test]
fn a_transparent_gif_shows_the_background_as_a_png_does() {
    let dir = tmp();
    // A red square in the middle of a transparent 64x48 picture.
    let rgba = image::RgbaImage::from_fn(64, 48, |x, y| {
        let inside = (20..44).contains(&x) && (12..36).contains(&y);
        image::Rgba(if inside { [220, 20, 20, 255] } else { [0, 0, 0, 0] })
    });
    let png = dir.path().join("sticker.png");
    rgba.save(&png).expect("png");
    let gif = dir.path().join("sticker.gif");
    {
        let mut file = std::fs::File::create(&gif).expect("create");
        let mut encoder = gif::Encoder::new(&mut file, 64, 48, &[]).expect("encoder");
        let mut pixels = rgba.clone().into_raw();
        encoder
            .write_frame(&gif::Frame::from_rgba(64, 48, &mut pixels))
            .expect("frame");
    }
    let mosaic = |input: &Path, name: &str| {
        let out = dir.path().join(name);
        let o = render(input, &out);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        common::rgb(&out)
    };
    let (from_png, from_gif) = (mosaic(&png, "png.png"), mosaic(&gif, "gif.png"));
    let corner = |img: &image::RgbImage| img.get_pixel(2, 2).0;
    assert!(
        corner(&from_png).iter().all(|&c| c > 200),
        "white: {:?}",
        corner(&from_png)
    );
    assert_eq!(from_gif, from_png, "the GIF's mosaic is the PNG's");
}

/// `input` rendered to a GIF in `dir` (it must succeed): the GIF's frame delays, in seconds.
fn gif_delays(input: &Path, dir: &Path) -> Vec<f64> {
    let out = dir.join("out.gif");
    let o = render(input, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    common::ffprobe_numbers(&out, "v:0", "packet=duration_time")
}

/// A GIF starts with its input's first frame: a clip whose picture starts 0.5 s after its
/// sound (an MKV) held its first frame those 0.5 s too (1.5 s for a 1 s clip).
#[test]
fn a_gif_starts_with_the_first_frame() {
    let dir = tmp();
    let input = dir.path().join("late-picture.mkv");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-itsoffset", "0.5", "-f", "lavfi", "-i"])
        .args([
            "testsrc2=size=160x90:rate=25:duration=1",
            "-f",
            "lavfi",
            "-i",
            "sine=d=1.5",
        ])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus"])
        .arg(&input)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ffmpeg made the clip");
    let delays = gif_delays(&input, dir.path());
    assert_eq!(delays.len(), 25, "{delays:?}");
    let total: f64 = delays.iter().sum();
    assert!((total - 1.0).abs() < 0.015, "1 s, each frame 0.04 s: {delays:?}");
}

/// No GIF frame lasts less than 0.02 s: browsers (and ffmpeg) show a 0.01 s frame for 0.1 s,
/// and a 60 fps clip, written with delays of 0.02, 0.02, 0.01 s, played for 2.8 s instead of
/// 1 s. Over 50 fps the frames that would last less are left out; the timing is kept.
#[test]
fn a_gif_of_a_60_fps_clip_plays_at_its_speed() {
    let dir = tmp();
    let input = dir.path().join("60fps.mp4");
    ffmpeg_test_pattern(
        "size=160x90:rate=60:duration=1",
        &["-c:v", "libx264", "-preset", "ultrafast"],
        &input,
    );
    let out = dir.path().join("out.gif");
    let o = run(bin()
        .args(["render", "--classifier", "nearest", "-i"])
        .arg(&input)
        .arg("-o")
        .arg(&out));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let delays = common::ffprobe_numbers(&out, "v:0", "packet=duration_time");
    assert!(delays.iter().all(|&d| d >= 0.019), "{delays:?}");
    let total: f64 = delays.iter().sum();
    assert!((total - 1.0).abs() < 0.025, "1 s: {total} ({} frames)", delays.len());
    // The summary says how many of the 60 frames the GIF left out.
    let said = stderr(&o);
    let left = format!("60 frames 160x90 -> {}", out.display());
    let out_of = format!("; {} of them left out of the GIF", 60 - delays.len());
    assert!(
        delays.len() < 60 && said.contains(&left) && said.contains(&out_of),
        "{said}"
    );
}

/// A 2x2 8-bit palette (indexed-colour) TIFF, as scanners and maps write: header, one IFD, the
/// colour map (grey `i` at index `i`, but (200, 40, 0) at 255), the `pixels` (indices, row by
/// row); its pixels at `pixels_at` (past the end of the file: damage), its EXIF-style
/// `orientation` tag and its ICC colour profile if given.
fn palette_tiff(pixels: [u8; 4], pixels_at: Option<u32>, orientation: Option<u32>, icc: Option<&[u8]>) -> Vec<u8> {
    let entry = |tag: u16, kind: u16, count: u32, value: u32| {
        [
            &tag.to_le_bytes()[..],
            &kind.to_le_bytes(),
            &count.to_le_bytes(),
            &value.to_le_bytes(),
        ]
        .concat()
    };
    let n = 10 + u32::from(orientation.is_some()) + u32::from(icc.is_some());
    let map_at = 8 + 2 + n * 12 + 4;
    let end = map_at + 768 * 2;
    let mut entries = vec![
        (256, 3, 1, 2),
        (257, 3, 1, 2),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 3),
        (273, 4, 1, pixels_at.unwrap_or(end)),
    ];
    entries.extend(orientation.map(|o| (274, 3, 1, o)));
    entries.extend([(277, 3, 1, 1), (278, 3, 1, 2), (279, 4, 1, 4), (320, 3, 768, map_at)]);
    entries.extend(icc.map(|p| (34675, 7, p.len() as u32, end + 4)));
    let mut bytes = b"II*\0\x08\0\0\0".to_vec();
    bytes.extend((n as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        bytes.extend(entry(tag, kind, count, value));
    }
    bytes.extend([0; 4]);
    let map = |c: u32, i: u32| if i == 255 { [200, 40, 0][c as usize] } else { i };
    bytes.extend((0..768u32).flat_map(|k| (map(k / 256, k % 256) as u16 * 257).to_le_bytes()));
    bytes.extend(pixels);
    bytes.extend(icc.unwrap_or_default());
    bytes
}

/// A palette TIFF (which the `image` crate lacks) is read by libtiff to its colours, upright as
/// its orientation tag says; one whose pixels lie past the end of the file is refused as damage
/// in one line (exit 1), nothing written. (Until this release every palette TIFF was refused.)
#[test]
fn a_palette_tiff_is_read_and_a_damaged_one_refused_in_one_line() {
    let dir = tmp();
    let input = dir.path().join("scan.tif");
    let greys = |bytes: Vec<u8>| {
        std::fs::write(&input, bytes).expect("write");
        let mut src = emojicam::source::open(&input).expect("a palette TIFF opens");
        let frame = src.next_frame().expect("decodes").expect("one frame");
        assert_eq!((frame.width, frame.height), (2, 2));
        assert!(frame
            .rgba
            .chunks_exact(4)
            .all(|p| p[0] == p[1] && p[1] == p[2] && p[3] == 255));
        frame.rgba.chunks_exact(4).map(|p| p[0]).collect::<Vec<u8>>()
    };
    assert_eq!(greys(palette_tiff([0, 1, 2, 3], None, None, None)), [0, 1, 2, 3]);
    // Each orientation tag as EXIF defines it (the stored rows 0 1 / 2 3 as shown): mirrored,
    // half turned, upside down, transposed, a quarter clockwise, transverse, a quarter back.
    for (tag, shown) in [
        (1, [0, 1, 2, 3]),
        (2, [1, 0, 3, 2]),
        (3, [3, 2, 1, 0]),
        (4, [2, 3, 0, 1]),
        (5, [0, 2, 1, 3]),
        (6, [2, 0, 3, 1]),
        (7, [3, 1, 2, 0]),
        (8, [1, 3, 0, 2]),
    ] {
        assert_eq!(
            greys(palette_tiff([0, 1, 2, 3], None, Some(tag), None)),
            shown,
            "orientation {tag}"
        );
    }
    std::fs::write(&input, palette_tiff([0, 1, 2, 3], Some(1 << 20), None, None)).expect("write");
    let out = dir.path().join("out.png");
    one_line(&render(&input, &out), 1, "not a readable TIFF");
    assert!(!out.exists(), "no output");
}

/// A palette TIFF's colour profile is applied as any other picture's: the profile of
/// `chelsea_swapped.png` (which swaps red and green) turns its stored orange (200, 40, 0) green.
#[test]
fn a_palette_tiffs_colour_profile_is_applied() {
    use image::ImageDecoder;
    let png = std::fs::File::open(common::photo("chelsea_swapped.png")).expect("photo");
    let icc = image::codecs::png::PngDecoder::new(std::io::BufReader::new(png))
        .expect("png")
        .icc_profile()
        .expect("reads")
        .expect("a profile");
    let dir = tmp();
    let input = dir.path().join("map.tif");
    let colour = |icc: Option<&[u8]>| {
        std::fs::write(&input, palette_tiff([255; 4], None, None, icc)).expect("write");
        let mut src = emojicam::source::open(&input).expect("opens");
        let frame = src.next_frame().expect("decodes").expect("one frame");
        [frame.rgba[0], frame.rgba[1], frame.rgba[2]]
    };
    assert_eq!(colour(None), [200, 40, 0]);
    let [r, g, _] = colour(Some(&icc));
    assert!(g > 150 && r < 80, "{:?}", [r, g]);
}
