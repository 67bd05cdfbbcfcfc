//! Media I/O: decoding real clips, encoding and reading back with ffprobe and our own
//! decoders, text outputs, YUV reference values, the V4L2 writer, and error handling.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use emojicam::error::Error;
use emojicam::frame::{Frame, Rate, StreamInfo, StreamKind};
use emojicam::sink::{self, Container, FileOutput, Mp4Sink, Sink, V4l2Sink, VideoOutputDevice, VideoSink};
use emojicam::source::camera::{choose_format, decode_mjpeg, decode_yuyv, list_cameras, FormatSpec, FourCc};
use emojicam::source::{self, Source};
use emojicam::yuv;
use emojicam::{Grid, MosaicFrame, Stamp};

/// The emojicam binary, with a private runtime dir (so the Wayland probe stays quiet).
fn emojicam() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_emojicam"));
    c.env("XDG_RUNTIME_DIR", common::xdg_dir());
    c
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/video")
        .join(name)
}

fn decode_all(src: &mut dyn Source) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(f) = src.next_frame().expect("decode") {
        frames.push(f);
    }
    frames
}

/// ffmpeg's own RGBA decode of a file (the independent reference).
fn ffmpeg_rgba(path: &Path) -> Vec<u8> {
    ffmpeg_rgba_filtered(path, "null")
}

/// [`ffmpeg_rgba`] through the video filter `vf`.
fn ffmpeg_rgba_filtered(path: &Path, vf: &str) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgba", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn ffprobe(path: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries", entries, "-of", "default=nw=1"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .enumerate()
        .filter(|(i, _)| i % 4 != 3)
        .map(|(_, (&x, &y))| (x as i32 - y as i32).unsigned_abs() as u64)
        .sum();
    sum as f64 / (a.len() as f64 * 0.75)
}

/// Frame `seq` of a mosaic of `cols` x `rows` tiles of 10 px (evenly spaced: no timestamp).
fn mosaic(seq: u64, emoji: &[u32], cols: u32, rows: u32) -> MosaicFrame {
    mosaic_at(Stamp::new(seq, None), emoji, cols, rows)
}

fn mosaic_at(stamp: Stamp, emoji: &[u32], cols: u32, rows: u32) -> MosaicFrame {
    MosaicFrame {
        stamp,
        grid: Grid::new(cols * 10, rows * 10, 10),
        emoji: emoji.to_vec(),
        ..MosaicFrame::default()
    }
}

fn video_info(w: u32, h: u32, rate: Rate) -> StreamInfo {
    StreamInfo {
        kind: StreamKind::Video,
        width: w,
        height: h,
        rate: Some(rate),
        frames: None,
        description: String::new(),
    }
}

fn tables() -> (Arc<[String]>, Arc<[String]>) {
    let text: Vec<String> = ["😀", "👨‍👩", "🍎"].iter().map(|s| s.to_string()).collect();
    let codes: Vec<String> = ["1F600", "1F468-200D-1F469", "1F34E"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    (text.into(), codes.into())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------- decoding ----------

#[test]
fn bunny_mp4_decodes_every_frame_at_25_fps() {
    let mut src = source::open(&data("bigbuckbunny.mp4")).unwrap();
    let info = src.info().clone();
    assert_eq!(info.kind, StreamKind::Video);
    assert_eq!((info.width, info.height), (1280, 720));
    assert_eq!(info.rate, Some(Rate::new(25, 1)));
    assert_eq!(info.frames, Some(132));
    assert!(info.description.contains("H.264"), "{}", info.description);
    let mut count = 0;
    while let Some(f) = src.next_frame().unwrap() {
        assert_eq!((f.width, f.height), (1280, 720));
        assert_eq!(f.rgba.len(), 1280 * 720 * 4);
        count += 1;
    }
    assert_eq!(count, 132);
    assert!(src.next_frame().unwrap().is_none());
}

#[test]
fn b_frame_clip_decodes_in_display_order_like_ffmpeg() {
    let path = data("small.mp4");
    let mut src = source::open(&path).unwrap();
    assert_eq!(src.info().frames, Some(12));
    let ours = decode_all(src.as_mut());
    assert_eq!(ours.len(), 12);
    let reference = ffmpeg_rgba(&path);
    let n = 320 * 180 * 4;
    assert_eq!(reference.len(), 12 * n);
    for (i, f) in ours.iter().enumerate() {
        let d = mean_abs_diff(&f.rgba, &reference[i * n..(i + 1) * n]);
        assert!(d < 3.0, "frame {i} differs from ffmpeg's by {d}");
    }
}

#[test]
fn y4m_decodes_like_ffmpeg() {
    let path = data("small.y4m");
    let mut src = source::open(&path).unwrap();
    let info = src.info().clone();
    assert_eq!((info.width, info.height), (320, 180));
    assert_eq!(info.rate, Some(Rate::new(25, 1)));
    assert_eq!(info.frames, Some(10));
    let ours = decode_all(src.as_mut());
    assert_eq!(ours.len(), 10);
    let reference = ffmpeg_rgba(&path);
    let n = 320 * 180 * 4;
    for (i, f) in ours.iter().enumerate() {
        let d = mean_abs_diff(&f.rgba, &reference[i * n..(i + 1) * n]);
        assert!(d < 3.0, "frame {i} differs from ffmpeg's by {d}");
    }
}

#[test]
fn png_and_jpeg_images_decode_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = image::RgbaImage::new(3, 2);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgba([x as u8 * 100, y as u8 * 200, 7, 255]);
    }
    let png = dir.path().join("a.png");
    img.save(&png).unwrap();
    let mut src = source::open(&png).unwrap();
    assert_eq!(src.info().kind, StreamKind::Image);
    assert_eq!(src.info().frames, Some(1));
    assert_eq!(src.info().rate, None);
    let f = src.next_frame().unwrap().unwrap();
    assert_eq!((f.width, f.height), (3, 2));
    assert_eq!(f.pixel(2, 1), [200, 200, 7, 255]);
    assert!(src.next_frame().unwrap().is_none());

    let jpg = dir.path().join("b.jpg");
    image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(16, 8, image::Rgba([200, 40, 40, 255])))
        .into_rgb8()
        .save(&jpg)
        .unwrap();
    let mut src = source::open(&jpg).unwrap();
    let f = src.next_frame().unwrap().unwrap();
    assert_eq!((f.width, f.height), (16, 8));
    let p = f.pixel(5, 5);
    assert!((p[0] as i32 - 200).abs() < 6 && (p[1] as i32 - 40).abs() < 6, "{p:?}");
}

#[test]
fn looping_repeats_images_and_restarts_videos() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("a.png");
    image::RgbaImage::from_pixel(4, 4, image::Rgba([1, 2, 3, 255]))
        .save(&png)
        .unwrap();
    let mut src = source::open_looping(&png).unwrap();
    for _ in 0..5 {
        assert_eq!(src.next_frame().unwrap().unwrap().pixel(0, 0), [1, 2, 3, 255]);
    }
    let mut src = source::open_looping(&data("small.y4m")).unwrap();
    assert_eq!(src.info().frames, None);
    let first = src.next_frame().unwrap().unwrap();
    for _ in 1..10 {
        src.next_frame().unwrap().unwrap();
    }
    let again = src.next_frame().unwrap().unwrap();
    assert_eq!(first, again, "frame 11 is frame 1 again");
}

// ---------- encoding ----------

#[test]
fn mp4_round_trip_keeps_frame_count_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let frames = decode_all(source::open(&data("small.mp4")).unwrap().as_mut());
    let out = dir.path().join("out.mp4");
    let (text, codes) = tables();
    let info = video_info(320, 180, Rate::new(25, 1));
    let mut sink = sink::create(&out, &info, text, codes).unwrap();
    for (i, f) in frames.iter().enumerate() {
        sink.write(&mosaic(i as u64, &[0], 1, 1), Some(f)).unwrap();
    }
    assert!(!out.exists(), "nothing at the target before finish");
    sink.finish().unwrap();
    assert_eq!(entries(dir.path()), vec!["out.mp4".to_string()]);

    let probe = ffprobe(&out, "stream=codec_name,width,height,r_frame_rate,nb_read_frames");
    assert!(probe.contains("codec_name=h264"), "{probe}");
    assert!(probe.contains("width=320") && probe.contains("height=180"), "{probe}");
    assert!(probe.contains("r_frame_rate=25/1"), "{probe}");
    assert!(probe.contains("nb_read_frames=12"), "{probe}");

    let mut back = source::open(&out).unwrap();
    assert_eq!(back.info().rate, Some(Rate::new(25, 1)));
    assert_eq!(back.info().frames, Some(12));
    let decoded = decode_all(back.as_mut());
    assert_eq!(decoded.len(), 12);
    for (a, b) in frames.iter().zip(&decoded) {
        let d = mean_abs_diff(&a.rgba, &b.rgba);
        assert!(d < 8.0, "re-encoded frame differs by {d}");
    }
}

#[test]
fn mp4_pads_odd_sizes_and_keeps_ntsc_rate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("odd.mp4");
    let info = video_info(33, 17, Rate::new(30000, 1001));
    let mut sink = VideoSink::create(&out, &info, Container::Mp4, None).unwrap();
    for i in 0..5u8 {
        let f = Frame::filled(33, 17, [i * 40, 100, 200 - i * 30, 255]);
        sink.write(&mosaic(i as u64, &[0], 1, 1), Some(&f)).unwrap();
    }
    sink.finish().unwrap();
    let probe = ffprobe(&out, "stream=width,height,r_frame_rate,nb_read_frames");
    assert!(probe.contains("width=34") && probe.contains("height=18"), "{probe}");
    assert!(probe.contains("r_frame_rate=30000/1001"), "{probe}");
    assert!(probe.contains("nb_read_frames=5"), "{probe}");
}

#[test]
fn mp4_recording_is_playable_before_finish() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.mp4");
    let mut sink = Mp4Sink::create_recording(&out, Container::Mp4, 64, 48, Rate::new(10, 1)).unwrap();
    for i in 0..25u8 {
        let f = Frame::filled(64, 48, [i * 10, 50, 100, 255]);
        sink.write(&mosaic(i as u64, &[0], 1, 1), Some(&f)).unwrap();
    }
    // One-second fragments are on disk as they complete, before the recording ends.
    let on_disk = frames_on_disk(&out, 20);
    assert!((10..25).contains(&on_disk), "mid-recording: {on_disk} frames");
    sink.finish().unwrap();
    let probe = ffprobe(&out, "stream=nb_read_frames,width,height");
    assert!(probe.contains("nb_read_frames=25"), "{probe}");
    assert!(probe.contains("width=64"), "{probe}");
    // Our own decoder reads the fragmented file back.
    let mut back = source::open(&out).unwrap();
    assert_eq!((back.info().width, back.info().height), (64, 48));
    assert_eq!(back.info().rate, Some(Rate::new(10, 1)));
    let decoded = decode_all(back.as_mut());
    assert_eq!(decoded.len(), 25);
    // Killed in the middle of writing its last fragment: the whole fragments still decode.
    let bytes = std::fs::read(&out).unwrap();
    let torn = dir.path().join("torn.mp4");
    std::fs::write(&torn, &bytes[..bytes.len() - 100]).unwrap();
    let n = decode_all(source::open(&torn).unwrap().as_mut()).len();
    assert!((20..25).contains(&n), "{n} frames");
    // A recording dropped without finish (an early return) still ends properly: no frame lost.
    let cut = dir.path().join("cut.mp4");
    let mut sink = Mp4Sink::create_recording(&cut, Container::Mp4, 64, 48, Rate::new(10, 1)).unwrap();
    for i in 0..12u8 {
        let f = Frame::filled(64, 48, [i * 10, 50, 100, 255]);
        sink.write(&mosaic(i as u64, &[0], 1, 1), Some(&f)).unwrap();
    }
    drop(sink);
    assert_eq!(ffprobe_count(&cut), 12);
}

/// A Matroska or WebM recording has every frame on disk as it is muxed: what a kill would
/// leave (the file as it is before `finish`) plays, in ffprobe and in our own decoder; a
/// finished one knows its duration.
#[test]
fn matroska_and_webm_recordings_are_playable_before_finish() {
    let dir = tempfile::tempdir().unwrap();
    for (ext, container, codec) in [("mkv", Container::Mkv, "h264"), ("webm", Container::Webm, "vp8")] {
        let out = dir.path().join(format!("rec.{ext}"));
        let mut sink = Mp4Sink::create_recording(&out, container, 64, 48, Rate::new(10, 1)).unwrap();
        for i in 0..25u8 {
            let f = Frame::filled(64, 48, [i * 10, 50, 100, 255]);
            sink.write(&mosaic(i as u64, &[0], 1, 1), Some(&f)).unwrap();
        }
        let on_disk = frames_on_disk(&out, 24);
        // Block by block: at most the frame the encoder still holds is missing.
        assert!(on_disk >= 24, ".{ext} mid-recording: {on_disk} frames");
        let killed = dir.path().join(format!("killed.{ext}"));
        std::fs::copy(&out, &killed).unwrap();
        sink.finish().unwrap();
        let probe = ffprobe(&out, "stream=codec_name,nb_read_frames:format=duration");
        assert!(probe.contains(&format!("codec_name={codec}")), "{probe}");
        assert!(probe.contains("nb_read_frames=25"), "{probe}");
        assert!(probe.contains("duration=2.5"), ".{ext} finished: {probe}");
        assert_eq!(decode_all(source::open(&out).unwrap().as_mut()).len(), 25);
        let n = decode_all(source::open(&killed).unwrap().as_mut()).len() as u64;
        assert_eq!(n, ffprobe_count(&killed), ".{ext}: what a kill leaves");
    }
}

/// Video frames ffprobe counts (0 when it cannot read the file yet).
/// The frames ffprobe finds in a recording still being written, once it finds `at_least` or
/// after 30 s (the encoder works on its own threads: waited for, without asserting how fast).
fn frames_on_disk(path: &Path, at_least: u64) -> u64 {
    let mut on_disk = 0;
    for _ in 0..300 {
        on_disk = ffprobe_count(path);
        if on_disk >= at_least {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    on_disk
}

fn ffprobe_count(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "default=nw=1:nk=1"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

#[test]
fn y4m_writer_reads_back_in_ffprobe_and_our_source() {
    let dir = tempfile::tempdir().unwrap();
    let frames = decode_all(source::open(&data("small.y4m")).unwrap().as_mut());
    let out = dir.path().join("out.y4m");
    let (text, codes) = tables();
    let mut sink = sink::create(&out, &video_info(320, 180, Rate::new(25, 1)), text, codes).unwrap();
    for (i, f) in frames.iter().take(3).enumerate() {
        sink.write(&mosaic(i as u64, &[0], 1, 1), Some(f)).unwrap();
    }
    sink.finish().unwrap();
    let probe = ffprobe(&out, "stream=width,height,r_frame_rate,nb_read_frames");
    assert!(probe.contains("width=320") && probe.contains("height=180"), "{probe}");
    assert!(probe.contains("r_frame_rate=25/1"), "{probe}");
    assert!(probe.contains("nb_read_frames=3"), "{probe}");
    let mut back = source::open(&out).unwrap();
    assert_eq!(back.info().frames, Some(3));
    let decoded = decode_all(back.as_mut());
    assert_eq!(decoded.len(), 3);
    for (a, b) in frames.iter().zip(&decoded) {
        let d = mean_abs_diff(&a.rgba, &b.rgba);
        assert!(d < 3.0, "Y4M round trip differs by {d}");
    }
    // ffmpeg reads our colours as we meant them: pure red stays red.
    let red = dir.path().join("red.y4m");
    let mut sink = sink::create(&red, &video_info(4, 4, Rate::new(25, 1)), tables().0, tables().1).unwrap();
    let f = Frame::filled(4, 4, [255, 0, 0, 255]);
    sink.write(&mosaic(0, &[0], 1, 1), Some(&f)).unwrap();
    sink.finish().unwrap();
    let rgba = ffmpeg_rgba(&red);
    assert!(rgba[0] > 245 && rgba[1] < 10 && rgba[2] < 10, "{:?}", &rgba[..4]);
}

#[test]
fn image_sink_keeps_the_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (text, codes) = tables();
    let out = dir.path().join("m.png");
    let info = video_info(2, 2, Rate::new(25, 1));
    let mut sink = sink::create(&out, &info, text.clone(), codes.clone()).unwrap();
    let a = Frame::filled(2, 2, [10, 20, 30, 255]);
    let b = Frame::filled(2, 2, [40, 50, 60, 255]);
    sink.write(&mosaic(0, &[0], 1, 1), Some(&a)).unwrap();
    sink.write(&mosaic(1, &[0], 1, 1), Some(&b)).unwrap();
    sink.finish().unwrap();
    let img = image::open(&out).unwrap().into_rgba8();
    assert_eq!(img.get_pixel(1, 1).0, [40, 50, 60, 255]);
    let jpg = dir.path().join("m.jpg");
    let mut sink = sink::create(&jpg, &info, text, codes).unwrap();
    sink.write(&mosaic(0, &[0], 1, 1), Some(&a)).unwrap();
    sink.finish().unwrap();
    assert_eq!(image::open(&jpg).unwrap().width(), 2);
}

#[test]
fn text_json_and_jsonl_sinks_write_exact_contents() {
    let dir = tempfile::tempdir().unwrap();
    let (text, codes) = tables();
    let info = video_info(30, 20, Rate::new(25, 1));
    let grid0 = [0u32, 1, 2, 2, 1, 0];
    let grid1 = [2u32, 2, 2, 0, 0, 0];

    let txt = dir.path().join("m.txt");
    let mut sink = sink::create(&txt, &info, text.clone(), codes.clone()).unwrap();
    assert!(!sink.needs_image());
    for (i, g) in [grid0, grid1].iter().enumerate() {
        sink.write(&mosaic(i as u64, g, 3, 2), None).unwrap();
    }
    sink.finish().unwrap();
    assert_eq!(
        std::fs::read_to_string(&txt).unwrap(),
        "😀👨‍👩🍎\n🍎👨‍👩😀\n\n🍎🍎🍎\n😀😀😀\n"
    );

    let json = dir.path().join("m.json");
    let mut sink = sink::create(&json, &info, text.clone(), codes.clone()).unwrap();
    sink.write(&mosaic(0, &grid0, 3, 2), None).unwrap();
    sink.finish().unwrap();
    assert_eq!(
        std::fs::read_to_string(&json).unwrap(),
        "{\"tile\":10,\"cols\":3,\"rows\":2,\"emoji\":[\"1F600\",\"1F468-200D-1F469\",\"1F34E\",\"1F34E\",\"1F468-200D-1F469\",\"1F600\"]}\n"
    );

    let jsonl = dir.path().join("m.jsonl");
    let mut sink = sink::create(&jsonl, &info, text, codes).unwrap();
    sink.write(&mosaic(0, &grid0, 3, 2), None).unwrap();
    sink.write(&mosaic(1, &grid1, 3, 2), None).unwrap();
    sink.finish().unwrap();
    assert_eq!(
        std::fs::read_to_string(&jsonl).unwrap(),
        "{\"frame\":0,\"tile\":10,\"cols\":3,\"rows\":2,\"emoji\":[\"1F600\",\"1F468-200D-1F469\",\"1F34E\",\"1F34E\",\"1F468-200D-1F469\",\"1F600\"]}\n\
         {\"frame\":1,\"tile\":10,\"cols\":3,\"rows\":2,\"emoji\":[\"1F34E\",\"1F34E\",\"1F34E\",\"1F600\",\"1F600\",\"1F600\"]}\n"
    );
}

#[test]
fn out_of_range_emoji_index_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (text, codes) = tables();
    let mut sink = sink::create(
        &dir.path().join("m.txt"),
        &video_info(10, 10, Rate::new(25, 1)),
        text,
        codes,
    )
    .unwrap();
    let m = mosaic(0, &[99], 1, 1);
    assert!(matches!(sink.write(&m, None), Err(Error::Encode { .. })));
}

#[test]
fn dropped_sinks_leave_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let (text, codes) = tables();
    let info = video_info(32, 32, Rate::new(25, 1));
    let f = Frame::filled(32, 32, [1, 2, 3, 255]);
    for name in [
        "a.txt", "a.json", "a.jsonl", "a.webp", "a.mp4", "a.mov", "a.mkv", "a.webm", "a.gif", "a.y4m", "a.png",
    ] {
        let mut sink = sink::create(&dir.path().join(name), &info, text.clone(), codes.clone()).unwrap();
        assert_eq!(
            entries(dir.path()).len(),
            1,
            "{name}: the temporary file exists up front"
        );
        assert!(entries(dir.path())[0].starts_with(&format!(".{name}.partial")));
        sink.write(&mosaic(0, &[0], 1, 1), Some(&f)).unwrap();
        drop(sink);
        assert!(entries(dir.path()).is_empty(), "{name}: {:?}", entries(dir.path()));
    }
}

#[test]
fn unwritable_output_fails_before_processing() {
    let (text, codes) = tables();
    let info = video_info(8, 8, Rate::new(25, 1));
    let err = sink::create(
        Path::new("/nonexistent-dir/out.mp4"),
        &info,
        text.clone(),
        codes.clone(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Write { .. }), "{err}");
    let err = Mp4Sink::create_recording(
        Path::new("/nonexistent-dir/rec.mp4"),
        Container::Mp4,
        64,
        48,
        Rate::new(25, 1),
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Write { .. }), "{err}");
    // A source smaller than x264 takes (16 a side): refused before the file is made (it was a
    // "not-negotiated" failure at the first frame, after a live run had started).
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.mp4");
    let err = Mp4Sink::create_recording(&tiny, Container::Mp4, 1, 1, Rate::new(25, 1))
        .err()
        .unwrap();
    assert!(matches!(err, Error::Usage(_)), "{err}");
    assert!(err.to_string().contains("too small"), "{err}");
    assert!(!tiny.exists());
    let err = sink::create(Path::new("out.flv"), &info, text, codes).err().unwrap();
    assert!(matches!(err, Error::Usage(_)), "{err}");
    assert!(err.to_string().contains("'.flv'"), "{err}");
}

// ---------- YUV ----------

#[test]
fn bt601_limited_reference_values() {
    // Hand-computed: Y = 16 + 219/255 (0.299 R + 0.587 G + 0.114 B),
    // U = 128 + 224/255 (B - Y')/1.772, V = 128 + 224/255 (R - Y')/1.402, rounded.
    let cases = [
        ([255, 0, 0], (81, 90, 240)),
        ([0, 255, 0], (145, 54, 34)),
        ([0, 0, 255], (41, 240, 110)),
        ([255, 255, 255], (235, 128, 128)),
        ([0, 0, 0], (16, 128, 128)),
        ([128, 128, 128], (126, 128, 128)),
    ];
    for (rgb, expected) in cases {
        assert_eq!(yuv::rgb_to_yuv(rgb[0], rgb[1], rgb[2]), expected, "{rgb:?}");
        let (r, g, b) = yuv::yuv_to_rgb(expected.0, expected.1, expected.2);
        for (got, want) in [r, g, b].iter().zip(rgb) {
            assert!((*got as i32 - want as i32).abs() <= 2, "{rgb:?} -> {:?}", (r, g, b));
        }
    }
}

#[test]
fn i420_and_yuyv_layouts() {
    // 2x2 image: red, green / blue, white.
    let rgba = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255];
    let (mut y, mut u, mut v) = ([0u8; 4], [0u8; 1], [0u8; 1]);
    yuv::rgba_to_i420(&rgba, 2, 2, &mut y, &mut u, &mut v);
    assert_eq!(y, [81, 145, 41, 235]);
    // Average colour (127.5, 127.5, 127.5) is grey: neutral chroma.
    assert_eq!((u[0], v[0]), (128, 128));

    let mut yuyv = [0u8; 8];
    yuv::rgba_to_yuyv(&rgba, 2, 2, &mut yuyv);
    // Row 0: red+green averaged: R 127.5 G 127.5 B 0 -> U 128 - 0.439216*127.5*... = 72, V 128 + ... = 137
    assert_eq!([yuyv[0], yuyv[2], yuyv[4], yuyv[6]], [81, 145, 41, 235]);
    let (_, u_rg, v_rg) = yuv::rgb_to_yuv(128, 128, 0);
    assert!((yuyv[1] as i32 - u_rg as i32).abs() <= 1 && (yuyv[3] as i32 - v_rg as i32).abs() <= 1);

    // Odd width: the last pixel pairs with itself.
    let one = [255u8, 0, 0, 255];
    let mut out = [0u8; 4];
    yuv::rgba_to_yuyv(&one, 1, 1, &mut out);
    assert_eq!(out, [81, 90, 81, 240]);

    // Odd I420 sizes round chroma up.
    assert_eq!(yuv::i420_sizes(33, 17), (33 * 17, 17 * 9));
}

// ---------- V4L2 ----------

#[test]
fn v4l2_writer_writes_whole_yuyv_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vcam.yuyv");
    let device = FileOutput::create(&path).unwrap();
    let mut sink = V4l2Sink::with_device(Box::new(device));
    let colours = [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]];
    for (i, c) in colours.iter().enumerate() {
        // Odd width 5 is padded to 6.
        let f = Frame::filled(5, 2, *c);
        sink.write(&mosaic(i as u64, &[0], 1, 1), Some(&f)).unwrap();
    }
    sink.finish().unwrap();
    assert_eq!(sink.written(), 3);
    assert_eq!(sink.dropped(), 0);
    let bytes = std::fs::read(&path).unwrap();
    let frame_len = 6 * 2 * 2;
    assert_eq!(bytes.len(), 3 * frame_len);
    let expected = [[81, 90, 81, 240], [145, 54, 145, 34], [41, 240, 41, 110]];
    for (i, e) in expected.iter().enumerate() {
        let frame = &bytes[i * frame_len..(i + 1) * frame_len];
        for quad in frame.chunks_exact(4) {
            assert_eq!(quad, e, "frame {i}");
        }
    }
    // ffprobe agrees on the layout.
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-f",
            "rawvideo",
            "-pixel_format",
            "yuyv422",
            "-video_size",
            "6x2",
            "-count_frames",
        ])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "default=nw=1"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("nb_read_frames=3"));
}

#[test]
fn v4l2_device_errors_are_clear() {
    let err = V4l2Sink::open(Path::new("/dev/video-emojicam-missing")).err().unwrap();
    assert!(matches!(err, Error::VirtualCamera(_)));
    assert!(err.to_string().contains("does not exist: load v4l2loopback"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-device");
    std::fs::write(&file, b"").unwrap();
    let err = V4l2Sink::open(&file).err().unwrap();
    assert!(err.to_string().contains("is not a video output device"), "{err}");
}

#[test]
fn file_output_records_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = FileOutput::create(&dir.path().join("x")).unwrap();
    dev.set_format(6, 2, sink::v4l2::FOURCC_YUYV).unwrap();
    assert_eq!(dev.format, Some((6, 2, 0x5659_5559)));
    assert!(dev.write_frame(&[0; 24]).unwrap());
}

// ---------- errors ----------

fn open_err(path: &Path) -> Error {
    match source::open(path) {
        Err(e) => e,
        Ok(mut src) => loop {
            match src.next_frame() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("{} decoded without error", path.display()),
                Err(e) => break e,
            }
        },
    }
}

#[test]
fn missing_file_is_a_read_error() {
    let err = open_err(Path::new("/nonexistent/clip.mp4"));
    assert!(matches!(err, Error::Read { .. }), "{err}");
}

#[test]
fn truncated_mp4_is_a_decode_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(data("bigbuckbunny.mp4")).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = open_err(&cut);
    // GStreamer's own error is kept as the cause (Error::Media).
    assert!(matches!(err, Error::Decode { .. } | Error::Media(_)), "{err}");
}

#[test]
fn a_video_track_with_no_frame_left_is_damage_not_audio_only() {
    // A fast-start MP4 (index first) cut just after its index: the file declares a video
    // track, but none of its frames is there. That is a damaged file (exit 1), not an
    // audio-only one (a usage error, exit 2), as it was reported.
    let dir = tempfile::tempdir().unwrap();
    let whole = clip(
        dir.path(),
        "whole.mp4",
        &["-c:v", "libx264", "-c:a", "aac", "-shortest", "-movflags", "+faststart"],
        true,
    );
    let bytes = std::fs::read(&whole).unwrap();
    // Top-level boxes: the cut keeps everything before the media data and 16 bytes of it.
    let mut at = 0usize;
    while &bytes[at + 4..at + 8] != b"mdat" {
        at += u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..at + 16]).unwrap();
    let err = open_err(&cut);
    assert!(matches!(err, Error::Decode { .. } | Error::Media(_)), "{err}");
    assert!(err.to_string().contains("no frame of it could be decoded"), "{err}");
}

#[test]
fn garbage_files_are_decode_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    for name in ["g.mp4", "g.png", "g.jpg", "g.y4m"] {
        let p = dir.path().join(name);
        std::fs::write(&p, &garbage).unwrap();
        let err = open_err(&p);
        assert!(matches!(err, Error::Decode { .. } | Error::Media(_)), "{name}: {err}");
    }
    // A PNG signature followed by garbage.
    let p = dir.path().join("sig.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&garbage);
    std::fs::write(&p, bytes).unwrap();
    assert!(matches!(open_err(&p), Error::Decode { .. }));
    // An MP4 "ftyp" box followed by garbage.
    let p = dir.path().join("ftyp.mp4");
    let mut bytes = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2".to_vec();
    bytes.extend_from_slice(&garbage);
    std::fs::write(&p, bytes).unwrap();
    assert!(matches!(open_err(&p), Error::Decode { .. } | Error::Media(_)));
}

#[test]
fn empty_and_unknown_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let err = open_err(&empty);
    assert!(matches!(err, Error::Decode { .. }), "{err}");

    let unknown = dir.path().join("clip.xyz");
    std::fs::write(&unknown, b"hello world, not media").unwrap();
    let err = open_err(&unknown);
    assert!(matches!(err, Error::Usage(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "unsupported input format '.xyz': use PNG, JPEG, HEIC, AVIF, WebP, BMP, TIFF, GIF, MP4, MOV, MKV, WebM, AVI, MPEG-TS/PS, raw H.264/HEVC or Y4M"
    );
    assert_eq!(err.exit_code(), 2);
}

/// A raw stream, a DVD's MPEG-PS or an MPEG-TS saved under a name that says nothing (`.bin`, `.dat`, no
/// extension: a dashcam's or a capture tool's) is recognised by its first bytes.
#[test]
fn raw_streams_are_recognised_by_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // the same streams as every_input_kind_decodes_like_ffmpeg's, and MPEG-TS, plain (188-byte
    // packets) and M2TS (192: a camcorder's `.mts`)
    let mut kinds: Vec<(&str, Vec<&str>)> = ["raw.h264", "raw.hevc", "mpeg2.vob"]
        .into_iter()
        .map(|name| {
            let (_, args, _) = INPUT_KINDS.iter().find(|k| k.0 == name).expect("an input kind");
            (name, args.to_vec())
        })
        .collect();
    kinds.push(("h264.ts", vec![X264, "-pix_fmt yuv420p -f mpegts"]));
    kinds.push((
        "h264.m2ts",
        vec![X264, "-pix_fmt yuv420p -f mpegts -mpegts_m2ts_mode 1"],
    ));
    for (name, args) in kinds {
        let args: Vec<&str> = args.iter().flat_map(|a| a.split(' ')).collect();
        let made = clip(d, name, &args, false);
        let renamed = d.join(format!("{name}-stream.bin"));
        std::fs::rename(&made, &renamed).unwrap();
        let mut src = source::open(&renamed).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(src.info().kind, StreamKind::Video, "{name}");
        assert_eq!(decode_all(src.as_mut()).len(), 10, "{name}: frame count");
    }
}

#[test]
fn hevc_decodes_and_audio_only_is_refused() {
    let mut src = source::open(&data("hevc.mp4")).unwrap();
    assert!(src.info().description.contains("H.265"), "{}", src.info().description);
    assert!(!decode_all(src.as_mut()).is_empty());
    let err = open_err(&data("audio_only.mp4"));
    assert!(matches!(err, Error::Usage(_)), "{err}");
    assert!(err.to_string().contains("no video track"), "{err}");
}

#[test]
fn zero_size_image_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // A hand-made PNG header claiming 0x0.
    let p = dir.path().join("zero.png");
    let mut bytes =
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x00\x08\x06\x00\x00\x00".to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    std::fs::write(&p, bytes).unwrap();
    assert!(matches!(open_err(&p), Error::Decode { .. }));
}

// ---------- camera ----------

#[test]
fn camera_format_choice() {
    let f = FormatSpec::new;
    let available = [
        f(FourCc::Yuyv, 640, 480, 30),
        f(FourCc::Yuyv, 1280, 720, 10),
        f(FourCc::Mjpeg, 1280, 720, 30),
        f(FourCc::Mjpeg, 1920, 1080, 30),
        f(FourCc::Mjpeg, 640, 480, 30),
        f(FourCc::Nv12, 1280, 720, 60),
    ];
    // Default 1280x720@30: MJPEG at that size.
    assert_eq!(choose_format(&available, None, None), Some(available[2]));
    // 640x480: YUYV preferred at small sizes.
    assert_eq!(
        choose_format(&available, Some((640, 480)), Some(30)),
        Some(available[0])
    );
    // An exact size wins even at a lower rate than asked, picking the nearest rate.
    assert_eq!(
        choose_format(&available, Some((1920, 1080)), Some(60)),
        Some(available[3])
    );
    // An unavailable size: the nearest above.
    assert_eq!(choose_format(&available, Some((800, 600)), None), Some(available[2]));
    // Only formats we cannot decode: none.
    assert_eq!(
        choose_format(&[f(FourCc::Other(*b"H264"), 1280, 720, 30)], None, None),
        None
    );
    assert_eq!(choose_format(&[], None, None), None);
}

#[test]
fn yuyv_and_mjpeg_decode() {
    // 2x1: Y0=81 U=90 Y1=81 V=240 is two red pixels.
    let f = decode_yuyv(&[81, 90, 81, 240], 2, 1).unwrap();
    for x in 0..2 {
        let p = f.pixel(x, 0);
        assert!(p[0] >= 253 && p[1] <= 2 && p[2] <= 2 && p[3] == 255, "{p:?}");
    }
    // Black and white pair sharing neutral chroma.
    let f = decode_yuyv(&[16, 128, 235, 128], 2, 1).unwrap();
    assert_eq!(f.pixel(0, 0), [0, 0, 0, 255]);
    assert_eq!(f.pixel(1, 0), [255, 255, 255, 255]);
    assert!(matches!(decode_yuyv(&[1, 2, 3], 2, 1), Err(Error::Camera(_))));

    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(8, 8, image::Rgb([0, 0, 250])))
        .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    let f = decode_mjpeg(&jpeg).unwrap();
    assert_eq!((f.width, f.height), (8, 8));
    assert!(f.pixel(3, 3)[2] > 240);
    assert!(matches!(decode_mjpeg(b"not a jpeg"), Err(Error::Camera(_))));
}

#[test]
fn listing_cameras_without_a_camera_does_not_panic() {
    match list_cameras() {
        Ok(list) => assert!(list.iter().all(|c| !c.name.is_empty() || c.formats.is_empty())),
        Err(e) => assert!(matches!(e, Error::Camera(_)), "{e}"),
    }
}

#[test]
fn opening_a_missing_camera_is_a_clear_error() {
    use emojicam::source::camera::{CameraSelector, CameraSource};
    match CameraSource::open(CameraSelector::Index(57), None, None) {
        Err(Error::Camera(msg)) => assert!(
            msg.message().contains("no camera found") && msg.message().contains("--input FILE"),
            "{msg}"
        ),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => {} // a machine with 58 cameras
    }
    match CameraSource::open(CameraSelector::Name("no such camera".into()), None, None) {
        Err(Error::Camera(msg)) => assert!(msg.message().contains("no camera"), "{msg}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened a camera that does not exist"),
    }
}

#[test]
fn y4m_422_444_and_odd_sizes_decode_like_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    // Natural pictures (the bunny clip scaled): on synthetic sharp-edged patterns ffmpeg's
    // interpolated chroma and our nearest-sample chroma legitimately differ a lot.
    for (pix_fmt, size) in [
        ("yuv444p", "64x48"),
        ("yuv422p", "64x48"),
        ("yuv420p", "34x18"),
        ("yuv420p", "33x17"),
    ] {
        let path = dir.path().join(format!("{pix_fmt}-{size}.y4m"));
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(data("small.y4m"))
            .arg("-vf")
            .arg(format!("scale={}", size.replace('x', ":")))
            .args(["-frames:v", "2", "-pix_fmt", pix_fmt, "-strict", "-1"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let ours = decode_all(source::open(&path).unwrap().as_mut());
        assert_eq!(ours.len(), 2, "{pix_fmt}");
        let reference = ffmpeg_rgba(&path);
        let n = reference.len() / 2;
        for (i, f) in ours.iter().enumerate() {
            let d = mean_abs_diff(&f.rgba, &reference[i * n..(i + 1) * n]);
            assert!(d < 6.0, "{pix_fmt} {size} frame {i}: {d}");
        }
    }
}

// ---------- real-world media (clips made by ffmpeg, as people's tools make them) ----------

/// Runs ffmpeg with `args` (inputs and codec options) writing `out`; panics with its message
/// if it fails.
fn ffmpeg_make(args: &[&str], out: &Path) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .output()
        .expect("ffmpeg runs");
    assert!(
        o.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// 10 frames of real footage (the bunny clip at 320x180, 25 fps) with `extra` ffmpeg options,
/// and, with `tone`, a sine tone of the clip's length as a sound track.
fn clip(dir: &Path, name: &str, extra: &[&str], tone: bool) -> PathBuf {
    let out = dir.join(name);
    let y4m = data("small.y4m");
    let mut args = vec!["-i", y4m.to_str().unwrap()];
    if tone {
        args.extend(["-f", "lavfi", "-i", "sine=frequency=440:duration=0.4"]);
    }
    args.extend(extra);
    ffmpeg_make(&args, &out);
    out
}

#[test]
fn hdr_phone_video_is_shown_in_sdr_colours() {
    // The bunny clip converted by ffmpeg's zscale (libzimg, not our code) to 10-bit BT.2020 HEVC
    // with the HDR curves phones record (HLG: iPhone, Pixel) and HDR10 masters use (PQ), SDR
    // white at BT.2408's reference white. Decoded, each is mapped to SDR: within a few levels of
    // libzimg's own conversion of the same decoded file back to SDR, and near the SDR clip (what
    // the codec lost aside), where its coded values shown as they are (dark and dull, or grey)
    // are far from both.
    let dir = tempfile::tempdir().unwrap();
    let sdr = first_frame(&data("small.y4m"));
    for (name, trc) in [("hlg.mp4", "arib-std-b67"), ("pq.mp4", "smpte2084")] {
        let vf = format!(
            "zscale=tin=bt709:pin=bt709:min=470bg:rin=limited:t={trc}:p=bt2020:m=bt2020nc:r=limited:npl=203,format=yuv420p10le"
        );
        let path = clip(
            dir.path(),
            name,
            &[
                "-frames:v",
                "1",
                "-vf",
                &vf,
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error",
                "-color_primaries",
                "bt2020",
                "-color_trc",
                trc,
                "-colorspace",
                "bt2020nc",
            ],
            false,
        );
        let n = sdr.rgba.len();
        let zimg = ffmpeg_rgba_filtered(
            &path,
            &format!("zscale=tin={trc}:pin=bt2020:min=bt2020nc:rin=limited:t=bt709:p=bt709:npl=203,format=gbrp"),
        );
        let coded = ffmpeg_rgba_filtered(&path, "scale=in_color_matrix=bt2020:in_range=tv:out_range=pc");
        let (zimg, coded) = (&zimg[..n], &coded[..n]);
        let as_coded = mean_abs_diff(coded, zimg);
        assert!(
            as_coded > 10.0,
            "{name}: the coded values are only {as_coded} levels from SDR"
        );
        for yuv in [false, true] {
            let mut src = if yuv {
                source::open_yuv(&path)
            } else {
                source::open(&path)
            }
            .expect("opens");
            let f = src
                .next_frame()
                .expect("decodes")
                .expect("a frame")
                .to_rgba()
                .into_owned();
            let (from_zimg, from_sdr) = (mean_abs_diff(&f.rgba, zimg), mean_abs_diff(&f.rgba, &sdr.rgba));
            let floor = mean_abs_diff(zimg, &sdr.rgba);
            assert!(
                from_zimg < 3.5 && from_sdr < floor + 2.0,
                "{name} (yuv {yuv}): {from_zimg} levels from libzimg's SDR, {from_sdr} from the SDR clip \
                 (libzimg's: {floor}); the coded values: {as_coded}"
            );
        }
    }
}

/// The first frame of a video as emojicam decodes it, RGBA.
fn first_frame(path: &Path) -> Frame {
    let mut src = source::open(path).expect("opens");
    src.next_frame()
        .expect("decodes")
        .expect("a frame")
        .to_rgba()
        .into_owned()
}

/// Seconds of a stream ("v:0" or "a:0") as ffprobe reads it, and its codec.
fn probe_stream(path: &Path, which: &str) -> Option<(String, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", which])
        .args([
            "-show_entries",
            "stream=codec_name,duration:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let codec = text.lines().find_map(|l| l.strip_prefix("codec_name="))?.to_string();
    let seconds = text
        .lines()
        .filter_map(|l| l.strip_prefix("duration="))
        .find_map(|d| d.parse::<f64>().ok())
        .unwrap_or(0.0);
    Some((codec, seconds))
}

const X264: &str = "-c:v libx264 -preset ultrafast";

/// The clips `every_input_kind_decodes_like_ffmpeg` makes: file name, ffmpeg encoder
/// arguments (split at spaces), and whether it has a tone for audio.
const INPUT_KINDS: &[(&str, &[&str], bool)] = &[
    ("baseline.mp4", &[X264, "-profile:v baseline -pix_fmt yuv420p"], true),
    (
        "main.mp4",
        &[X264, "-profile:v main -pix_fmt yuv420p -c:a libmp3lame"],
        true,
    ),
    (
        "high-bframes.mp4",
        &["-c:v libx264 -profile:v high -bf 3 -pix_fmt yuv420p -c:a aac"],
        true,
    ),
    // An odd size (4:4:4 allows any size in H.264).
    ("odd-444.mp4", &[X264, "-vf scale=641:361 -pix_fmt yuv444p"], false),
    ("422.mp4", &[X264, "-pix_fmt yuv422p"], false),
    ("10bit.mp4", &[X264, "-pix_fmt yuv420p10le"], false),
    (
        "interlaced.mp4",
        &["-c:v libx264 -flags +ildct+ilme -pix_fmt yuv420p"],
        false,
    ),
    ("h264.mov", &[X264, "-pix_fmt yuv420p -c:a aac"], true),
    (
        "hevc.mp4",
        &["-c:v libx265 -preset ultrafast -x265-params log-level=error -tag:v hvc1"],
        false,
    ),
    (
        "vp9.webm",
        &["-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus"],
        true,
    ),
    (
        "av1.mkv",
        &["-c:v libaom-av1 -usage realtime -cpu-used 8 -c:a libopus"],
        true,
    ),
    ("mpeg4.avi", &["-c:v mpeg4 -q:v 3"], false),
    // A DVD's MPEG-PS, and raw MPEG-2 and Annex B streams, as a Raspberry Pi camera or a dashcam
    // writes them: no container.
    ("mpeg2.vob", &["-c:v mpeg2video -q:v 3 -f vob"], false),
    ("raw.m2v", &["-c:v mpeg2video -q:v 3 -f mpeg2video"], false),
    ("raw.h264", &[X264, "-pix_fmt yuv420p -f h264"], false),
    (
        "raw.hevc",
        &["-c:v libx265 -preset ultrafast -x265-params log-level=error -f hevc"],
        false,
    ),
    // Ogg sends Theora's and Vorbis's codec headers as buffers: no damaged frames.
    ("theora.ogv", &["-c:v libtheora -q:v 7 -c:a libvorbis"], true),
    // VP8 with alternate reference frames (frames decoded but never shown).
    (
        "vp8-altref.webm",
        &["-c:v libvpx -auto-alt-ref 1 -lag-in-frames 8 -b:v 300k"],
        false,
    ),
    ("anim.gif", &[], false),
];

#[test]
fn every_input_kind_decodes_like_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for &(name, args, tone) in INPUT_KINDS {
        let args: Vec<&str> = args.iter().flat_map(|a| a.split(' ')).collect();
        let path = clip(d, name, &args, tone);
        let mut src = source::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = src.info().clone();
        let ours = decode_all(src.as_mut());
        assert_eq!(ours.len(), 10, "{name}: frame count");
        assert_eq!(src.damaged(), 0, "{name}: a clean file has no damaged frame");
        // Interlaced frames are deinterlaced (from their first field), as players show them.
        let reference = if name.starts_with("interlaced") {
            ffmpeg_rgba_filtered(&path, "yadif=mode=send_frame:parity=tff")
        } else {
            ffmpeg_rgba(&path)
        };
        let n = reference.len() / 10;
        assert_eq!(
            n,
            (info.width * info.height * 4) as usize,
            "{name}: size {}x{}",
            info.width,
            info.height
        );
        for (i, f) in ours.iter().enumerate() {
            assert_eq!((f.width, f.height), (info.width, info.height), "{name}");
            let diff = mean_abs_diff(&f.rgba, &reference[i * n..(i + 1) * n]);
            assert!(diff < 4.0, "{name} frame {i} differs from ffmpeg's by {diff}");
        }
    }
}

#[test]
fn a_missing_decoder_names_the_package() {
    // With every HEVC decoder ranked out, decodebin finds none, as on a machine without
    // gstreamer1.0-libav. A phone's clip has sound beside it (which still decodes): the same
    // line and status.
    let inputs = tempfile::tempdir().unwrap();
    let with_sound = clip(
        inputs.path(),
        "hevc-aac.mp4",
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=none",
            "-c:a",
            "aac",
            "-shortest",
        ],
        true,
    );
    for input in [data("hevc.mp4"), with_sound] {
        let dir = tempfile::tempdir().unwrap();
        let out = emojicam()
            .env("GST_PLUGIN_FEATURE_RANK", "avdec_h265:NONE,libde265dec:NONE")
            .args(["render", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(dir.path().join("x.png"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", input.display());
        assert!(err.contains("gstreamer1.0-libav") && err.contains("H.265"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(entries(dir.path()).is_empty());
    }
}

/// Decodes `input` and writes every frame, at its own timestamp, to `out` with its sound.
fn transcode(input: &Path, out: &Path, container: Container, audio: bool) -> Vec<Frame> {
    let mut src = source::open(input).unwrap();
    let info = src.info().clone();
    let mut sink = VideoSink::create(out, &info, container, audio.then_some(input)).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        sink.write(
            &mosaic_at(Stamp::new(frames.len() as u64, src.timestamp()), &[0], 1, 1),
            Some(&f),
        )
        .unwrap();
        frames.push(f);
    }
    sink.finish().unwrap();
    frames
}

/// The sizes of a file's audio packets (the same when the sound was copied).
fn audio_packets(path: &Path) -> Vec<u64> {
    common::ffprobe_numbers(path, "a:0", "packet=size")
        .into_iter()
        .map(|size| size as u64)
        .collect()
}

#[test]
fn video_outputs_keep_the_sound() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(
        dir.path(),
        "in.mp4",
        &["-c:v", "libx264", "-bf", "2", "-c:a", "libmp3lame"],
        true,
    );
    let opus = clip(
        dir.path(),
        "in.webm",
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-c:a",
            "libopus",
        ],
        true,
    );
    let (_, input_audio) = probe_stream(&input, "a:0").expect("the input has sound");
    // MP3 goes into MP4 and MKV as it is (copied); WebM takes only Opus and Vorbis (re-encoded).
    // Opus goes into MKV and WebM as it is.
    for (input, name, container, video_codec, audio_codec, copied) in [
        (&input, "out.mp4", Container::Mp4, "h264", "mp3", true),
        (&input, "out.mkv", Container::Mkv, "h264", "mp3", true),
        (&input, "out.mov", Container::Mov, "h264", "mp3", true),
        (&input, "out.webm", Container::Webm, "vp8", "opus", false),
        (&opus, "opus.mkv", Container::Mkv, "h264", "opus", true),
        (&opus, "opus.webm", Container::Webm, "vp8", "opus", true),
    ] {
        let out = dir.path().join(name);
        transcode(input, &out, container, true);
        // Copied: the input's packets, as they were (a parser drops an MP3 info frame; the last may end past the picture).
        let (ours, theirs) = (audio_packets(&out), audio_packets(input));
        let same = ours.len() + 2 >= theirs.len() && theirs.windows(ours.len()).any(|w| w == ours);
        assert_eq!(
            same,
            copied,
            "{name}: the sound is {} (packet sizes {ours:?}, the input's {theirs:?})",
            if copied { "copied" } else { "re-encoded" }
        );
        assert_eq!(ffprobe_count(&out), 10, "{name}");
        let (codec, _) = probe_stream(&out, "v:0").expect("video");
        assert_eq!(codec, video_codec, "{name}");
        let (codec, seconds) = probe_stream(&out, "a:0").unwrap_or_else(|| panic!("{name} has sound"));
        assert_eq!(codec, audio_codec, "{name}");
        assert!(
            (seconds - input_audio).abs() < 0.1,
            "{name}: {seconds} s of sound, the input has {input_audio} s"
        );
    }
    // Without the input's sound (--no-audio).
    let silent = dir.path().join("silent.mp4");
    transcode(&input, &silent, Container::Mp4, false);
    assert!(probe_stream(&silent, "a:0").is_none());
    assert_eq!(ffprobe_count(&silent), 10);
}

#[test]
fn variable_frame_rate_keeps_its_timing() {
    let dir = tempfile::tempdir().unwrap();
    // Frames at 0, 40, 80, 120, 160 ms, then every 200 ms.
    let input = clip(
        dir.path(),
        "vfr.mp4",
        &[
            "-vf",
            "setpts='if(lt(N,5),N*0.04,0.2+(N-5)*0.2)/TB'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
        ],
        false,
    );
    let times = |path: &Path| common::ffprobe_numbers(path, "v:0", "frame=pts_time");
    let expected = times(&input);
    assert_eq!(expected.len(), 10);
    for (name, container) in [("out.mp4", Container::Mp4), ("out.webm", Container::Webm)] {
        let out = dir.path().join(name);
        transcode(&input, &out, container, false);
        let got = times(&out);
        assert_eq!(got.len(), 10, "{name}");
        let (e0, g0) = (expected[0], got[0]);
        for (g, e) in got.iter().zip(&expected) {
            assert!(((g - g0) - (e - e0)).abs() < 0.011, "{name}: {got:?} vs {expected:?}");
        }
    }
}

#[test]
fn gif_output_plays_at_the_input_timing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.gif");
    let (text, codes) = tables();
    let mut sink = sink::create(&out, &video_info(64, 48, Rate::new(10, 1)), text, codes).unwrap();
    for i in 0..10u8 {
        let f = Frame::filled(64, 48, [i * 25, 255 - i * 25, 128, 255]);
        sink.write(&mosaic(i as u64, &[0], 1, 1), Some(&f)).unwrap();
    }
    assert!(!out.exists());
    sink.finish().unwrap();
    assert_eq!(ffprobe_count(&out), 10);
    let (codec, seconds) = probe_stream(&out, "v:0").unwrap();
    assert_eq!(codec, "gif");
    assert!((seconds - 1.0).abs() < 0.02, "{seconds} s");
    // It reads back as the colours we wrote.
    let back = decode_all(source::open(&out).unwrap().as_mut());
    assert_eq!(back.len(), 10);
    let p = back[4].pixel(10, 10);
    assert!((p[0] as i32 - 100).abs() < 8 && (p[1] as i32 - 155).abs() < 8, "{p:?}");
}

#[test]
fn a_damaged_frame_mid_stream_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let input = ts_clip_keyframe_every_5(dir.path());
    let mut bytes = std::fs::read(&input).unwrap();
    // Garble the middle of the file (inside the 4th..6th frames' data), keeping the
    // 188-byte TS packet headers so the demuxer stays in step.
    let mid = bytes.len() / 2;
    for (i, b) in bytes[mid - 2000..mid + 2000].iter_mut().enumerate() {
        if (mid - 2000 + i) % 188 > 4 {
            *b = garbled(*b);
        }
    }
    let (damaged, frames, counted) = decode_damaged(dir.path(), "damaged.ts", &bytes);
    assert!(
        frames.len() >= 5,
        "the frames around the damage decode: {}",
        frames.len()
    );
    assert!(frames.len() < 10, "the damage costs frames: {}", frames.len());
    assert!(
        counted > 0,
        "the damage is counted: {} frames, {} counted damaged",
        frames.len(),
        counted
    );
    // The render's summary says so, and the rest renders.
    let out = dir.path().join("out.mp4");
    let err = render_tile20(&damaged, &out);
    assert!(
        err.contains("damaged input frame"),
        "the summary counts the damage: {err}"
    );
    assert_eq!(ffprobe_count(&out), frames.len() as u64, "{err}");
    // A clean file's summary says nothing of damage.
    let err = render_tile20(&input, &dir.path().join("clean.mp4"));
    assert!(!err.contains("damaged"), "{err}");
}

/// A 10-frame H.264 MPEG-TS clip with a keyframe every 5 frames (as cameras and broadcasts
/// make them), so a damaged frame costs only the frames that depend on it.
fn ts_clip_keyframe_every_5(dir: &Path) -> PathBuf {
    clip(dir, "clip.ts", &["-c:v", "libx264", "-g", "5", "-bf", "0"], false)
}

/// Writes `bytes` (a clip damaged by the test) as `name` in `dir` and decodes it: its path,
/// the frames that came out, and how many the source counted as damaged.
fn decode_damaged(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, Vec<Frame>, u64) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let mut src = source::open(&path).unwrap();
    let frames = decode_all(src.as_mut());
    let counted = src.damaged();
    (path, frames, counted)
}

/// A byte garbled (the same way every run).
fn garbled(b: u8) -> u8 {
    b.wrapping_mul(31).wrapping_add(7)
}

/// `emojicam render --tile 20` of `input` into `output`, which must succeed: its stderr.
fn render_tile20(input: &Path, output: &Path) -> String {
    let o = emojicam()
        .args(["render", "--tile", "20", "--input"])
        .arg(input)
        .arg("--output")
        .arg(output)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

#[test]
fn a_damaged_first_keyframe_is_counted() {
    // The first keyframe garbled: the parser drops it and the frames that depend on it before
    // the decoder sees them, so the decoder's in/out counts show nothing; the frames from the
    // next keyframe on render, and the summary says frames were lost (it said nothing).
    let dir = tempfile::tempdir().unwrap();
    let input = ts_clip_keyframe_every_5(dir.path());
    let mut bytes = std::fs::read(&input).unwrap();
    // The video stream's packets (ffmpeg's PID 0x100) that start a frame (PES).
    let starts: Vec<usize> = (0..bytes.len() / 188)
        .filter(|p| {
            let h = &bytes[p * 188..p * 188 + 4];
            h[0] == 0x47 && h[1] & 0x40 != 0 && ((h[1] as usize & 0x1f) << 8 | h[2] as usize) == 0x100
        })
        .collect();
    assert!(starts.len() >= 10, "{starts:?}");
    // Garble the first frame's payload, keeping the packet headers and its PES header.
    for p in starts[0]..starts[1] {
        let from = p * 188 + if p == starts[0] { 24 } else { 4 };
        for b in &mut bytes[from..p * 188 + 188] {
            *b = garbled(*b);
        }
    }
    let (damaged, frames, counted) = decode_damaged(dir.path(), "damaged-start.ts", &bytes);
    assert!(
        (1..10).contains(&frames.len()),
        "the frames after the damage decode, not all 10: {}",
        frames.len()
    );
    assert!(
        counted >= 1,
        "the lost start is counted: {} frames, {} counted damaged",
        frames.len(),
        counted
    );
    // The clean clip counts none (its first frame is the first one in).
    let mut clean = source::open(&input).unwrap();
    assert_eq!(decode_all(clean.as_mut()).len(), 10);
    assert_eq!(clean.damaged(), 0);
    let err = render_tile20(&damaged, &dir.path().join("out.y4m"));
    assert!(
        err.contains("damaged input frame"),
        "the summary counts the damage: {err}"
    );
}

#[test]
fn interlaced_video_is_deinterlaced() {
    // Fields of different moments (a picture that turns black and white 50 times a second,
    // woven into 25 frames) decoded as one picture alternate black and white row by row: the
    // combing a moving edge shows. Each frame is rebuilt from its first field: no combing.
    let dir = tempfile::tempdir().unwrap();
    let fields = "color=gray:s=64x64:r=50:d=0.4,format=yuv420p,\
                  geq=lum='235*mod(N\\,2)+16':cb=128:cr=128,tinterlace=mode=interleave_top";
    for (name, codec) in [("mpeg2.ts", "mpeg2video -q:v 2"), ("h264.mkv", "libx264")] {
        let path = dir.path().join(name);
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            fields,
            "-flags",
            "+ilme+ildct",
            "-top",
            "1",
            "-c:v",
        ];
        args.extend(codec.split(' '));
        ffmpeg_make(&args, &path);
        let mut src = source::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let frames = decode_all(src.as_mut());
        assert_eq!(frames.len(), 10, "{name}: one frame per frame");
        for f in &frames {
            let row = (f.width * 4) as usize;
            let rows: Vec<f64> = f
                .rgba
                .chunks(row)
                .map(|r| r.iter().map(|&b| f64::from(b)).sum::<f64>() / row as f64)
                .collect();
            let combing = rows.windows(2).map(|w| (w[0] - w[1]).abs()).sum::<f64>() / (rows.len() - 1) as f64;
            assert!(
                combing < 10.0,
                "{name}: rows differ by {combing:.1} on average (combing)"
            );
        }
    }
}

/// The TS packets of `clip.ts`'s video stream (ffmpeg's PID 0x100) that start a frame (PES).
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    (0..bytes.len() / 188)
        .filter(|p| {
            let h = &bytes[p * 188..p * 188 + 4];
            h[0] == 0x47 && h[1] & 0x40 != 0 && ((h[1] as usize & 0x1f) << 8 | h[2] as usize) == 0x100
        })
        .collect()
}

/// Garbles frame `n`'s payload in a TS file, keeping every packet's header, adaptation field
/// and the PES header (its timestamps), so only the coded picture is lost.
fn garble_frame(bytes: &mut [u8], n: usize) {
    let starts = frame_starts(bytes);
    for p in starts[n]..starts[n + 1] {
        let packet = &mut bytes[p * 188..p * 188 + 188];
        let mut from = if packet[3] & 0x20 != 0 {
            5 + packet[4] as usize
        } else {
            4
        };
        if p == starts[n] {
            from += 9 + packet[from + 8] as usize;
        }
        for b in &mut packet[from..] {
            *b = garbled(*b);
        }
    }
}

#[test]
fn a_single_lost_frame_after_the_first_is_counted() {
    // One P-frame garbled right after the first keyframe: the parser drops it quietly (and the
    // decoder never sees it), so nothing counted it and the summary said nothing of damage.
    let dir = tempfile::tempdir().unwrap();
    let input = ts_clip_keyframe_every_5(dir.path());
    let mut bytes = std::fs::read(&input).unwrap();
    garble_frame(&mut bytes, 1);
    let (damaged, frames, counted) = decode_damaged(dir.path(), "damaged-p.ts", &bytes);
    assert!(
        frames.len() >= 5,
        "the frames around the damage decode: {}",
        frames.len()
    );
    assert!(
        counted >= 1,
        "the lost frame is counted: {} frames, {} counted damaged",
        frames.len(),
        counted
    );
    let err = render_tile20(&damaged, &dir.path().join("out.y4m"));
    assert!(
        err.contains("damaged input frame"),
        "the summary counts the damage: {err}"
    );
}

#[test]
fn a_video_track_without_frames_beside_sound_is_damage() {
    // A video track with not one frame beside a sound track: qtdemux and avidemux expose no
    // stream for it, and it was reported as an audio-only file ("no video track", exit 2, or
    // GStreamer's "no playable streams"). It is a damaged video: one line saying so, exit 1.
    let dir = tempfile::tempdir().unwrap();
    let avi = dir.path().join("empty.avi");
    let no_video = ["-map", "1:v", "-map", "0:a", "-vf", "select=0", "-c:v", "libx264"];
    let tone = [
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
        "-f",
        "lavfi",
        "-i",
        "color=s=64x64:d=1",
    ];
    ffmpeg_make(&[&tone[..], &no_video[..], &["-c:a", "libmp3lame"]].concat(), &avi);
    // ffmpeg drops an MP4 track without samples; mp4mux keeps one whose frames never came.
    let mp4 = dir.path().join("empty.mp4");
    let o = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "audiotestsrc",
            "num-buffers=40",
            "!",
            "audioconvert",
            "!",
            "avenc_aac",
            "!",
        ])
        .args(["aacparse", "!", "mp4mux", "name=m", "!", "filesink"])
        .arg(format!("location={}", mp4.display()))
        .args([
            "videotestsrc",
            "num-buffers=5",
            "!",
            "video/x-raw,width=64,height=64",
            "!",
            "x264enc",
        ])
        .args(["!", "h264parse", "!", "identity", "drop-probability=1.0", "!", "m."])
        .output()
        .expect("gst-launch-1.0 runs (./setup.sh installs it: gstreamer1.0-tools)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for path in [&avi, &mp4] {
        let err = open_err(path);
        assert!(matches!(err, Error::Decode { .. }), "{}: {err}", path.display());
        assert!(err.to_string().contains("video track has no frames"), "{err}");
    }
    // One line of ours, exit 1 (the AVI also printed avidemux's "GStreamer-Base-CRITICAL").
    for input in [&avi, &mp4] {
        let out = dir.path().join("out.mp4");
        let o = emojicam()
            .args(["render", "--input"])
            .arg(input)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("video track has no frames"), "{err}");
        assert!(!out.exists());
    }
    // A file with sound only is still that (exit 2).
    let err = open_err(&data("audio_only.mp4"));
    assert!(matches!(err, Error::Usage(_)), "{err}");
}

#[test]
fn rotation_metadata_is_honoured_like_ffmpeg() {
    // A phone held upright: landscape pixels with a 90 degree display matrix (as phones write).
    let dir = tempfile::tempdir().unwrap();
    let plain = clip(
        dir.path(),
        "plain.mp4",
        &["-c:v", "libx264", "-preset", "ultrafast"],
        false,
    );
    let rotated = dir.path().join("rotated.mp4");
    ffmpeg_make(
        &[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
        &rotated,
    );
    let mut src = source::open(&rotated).unwrap();
    let info = src.info().clone();
    assert_eq!((info.width, info.height), (180, 320), "shown portrait");
    let ours = decode_all(src.as_mut());
    assert_eq!(ours.len(), 10);
    // ffmpeg turns it the same way (it honours the matrix by default).
    let reference = ffmpeg_rgba(&rotated);
    let n = reference.len() / 10;
    assert_eq!(n, 180 * 320 * 4);
    for (i, f) in ours.iter().enumerate() {
        let diff = mean_abs_diff(&f.rgba, &reference[i * n..(i + 1) * n]);
        assert!(diff < 4.0, "frame {i} differs from ffmpeg's by {diff}");
    }
}

#[test]
fn uhd_4096x2160_encodes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("uhd.mp4");
    let mut sink = VideoSink::create(&out, &video_info(4096, 2160, Rate::new(30, 1)), Container::Mp4, None).unwrap();
    for i in 0..2u8 {
        let f = Frame::filled(4096, 2160, [i * 100, 80, 200, 255]);
        sink.write(&mosaic(i as u64, &[0], 1, 1), Some(&f)).unwrap();
    }
    sink.finish().unwrap();
    let probe = ffprobe(&out, "stream=width,height,nb_read_frames");
    assert!(probe.contains("width=4096") && probe.contains("height=2160"), "{probe}");
    assert!(probe.contains("nb_read_frames=2"), "{probe}");
}

#[test]
fn anamorphic_pixels_are_shown_at_the_display_aspect() {
    // PAL DV/DVD-style pixels (16:15): 360x288 stored, 384x288 shown, as players show it.
    let dir = tempfile::tempdir().unwrap();
    let path = clip(
        dir.path(),
        "anamorphic.mp4",
        &[
            "-vf",
            "scale=360:288,setsar=16/15",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
        false,
    );
    let mut src = source::open(&path).unwrap();
    let info = src.info().clone();
    assert_eq!((info.width, info.height), (384, 288), "display aspect");
    let ours = decode_all(src.as_mut());
    assert_eq!(ours.len(), 10);
    // ffmpeg's picture stretched to the same square-pixel size.
    let square = dir.path().join("square.mp4");
    ffmpeg_make(
        &[
            "-i",
            path.to_str().unwrap(),
            "-vf",
            "scale=384:288,setsar=1",
            "-c:v",
            "libx264",
            "-qp",
            "0",
        ],
        &square,
    );
    let reference = ffmpeg_rgba(&square);
    let n = reference.len() / 10;
    assert_eq!(n, 384 * 288 * 4);
    for (i, f) in ours.iter().enumerate() {
        assert_eq!((f.width, f.height), (384, 288));
        let diff = mean_abs_diff(&f.rgba, &reference[i * n..(i + 1) * n]);
        assert!(diff < 4.0, "frame {i} differs from ffmpeg's by {diff}");
    }
}

#[test]
fn webp_bmp_and_tiff_stills_decode_like_ffmpeg() {
    // Photos saved from the web (WebP) and from older tools (BMP, TIFF), made by ffmpeg.
    let dir = tempfile::tempdir().unwrap();
    let y4m = data("small.y4m");
    // The mean difference allowed: under a level, and two for chroma at half resolution, which
    // libtiff repeats over each 2x2 block where ffmpeg interpolates it.
    for (name, codec, within) in [
        ("photo.webp", &["-c:v", "libwebp", "-lossless", "1"][..], 1.0),
        ("photo.bmp", &["-c:v", "bmp"][..], 1.0),
        ("photo.tiff", &["-c:v", "tiff", "-pix_fmt", "rgb24"][..], 1.0),
        // A palette of indexed colours (scanned documents, maps) and YCbCr (scanners, cameras,
        // JPEG-compressed TIFFs): the `image` crate lacks these, libtiff reads them (GStreamer's
        // gdkpixbufdec).
        ("palette.tiff", &["-c:v", "tiff", "-pix_fmt", "pal8"][..], 1.0),
        ("ycbcr444.tiff", &["-c:v", "tiff", "-pix_fmt", "yuv444p"][..], 1.0),
        ("ycbcr420.tiff", &["-c:v", "tiff", "-pix_fmt", "yuv420p"][..], 2.0),
    ] {
        let path = dir.path().join(name);
        let mut args = vec!["-i", y4m.to_str().unwrap(), "-frames:v", "1"];
        args.extend(codec);
        ffmpeg_make(&args, &path);
        let mut src = source::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let frames = decode_all(src.as_mut());
        assert_eq!(frames.len(), 1, "{name}");
        let reference = ffmpeg_rgba(&path);
        assert_eq!(frames[0].rgba.len(), reference.len(), "{name}: size");
        let diff = mean_abs_diff(&frames[0].rgba, &reference);
        assert!(diff < within, "{name} differs from ffmpeg's by {diff}");
    }
    // An animated WebP gives its first frame, and says so.
    let anim = dir.path().join("anim.webp");
    ffmpeg_make(
        &[
            "-i",
            y4m.to_str().unwrap(),
            "-frames:v",
            "3",
            "-c:v",
            "libwebp_anim",
            "-loop",
            "0",
        ],
        &anim,
    );
    let out = emojicam()
        .args(["render", "--input"])
        .arg(&anim)
        .arg("--output")
        .arg(dir.path().join("out.json"))
        .output()
        .expect("emojicam runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("is an animated WebP: only its first frame is read"),
        "{err}"
    );
}

fn photo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/photos")
        .join(name)
}

/// An RGBA frame turned a quarter clockwise.
fn rotate_cw(f: &Frame) -> Frame {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut out = vec![0u8; w * h * 4];
    for y in 0..w {
        for x in 0..h {
            let from = ((h - 1 - x) * w + y) * 4;
            out[(y * h + x) * 4..][..4].copy_from_slice(&f.rgba[from..from + 4]);
        }
    }
    Frame::new(f.height, f.width, out)
}

#[test]
fn heic_and_avif_photos_decode_upright() {
    // Phone photos, made from chelsea.png and coffee.png (tests/data/photos/LICENSE.md): HEIC
    // (HEVC, 8 and 10 bits), AVIF (AV1), a HEIC stored sideways with a rotation (`irot`) as
    // phones write a portrait shot, and one cut into 256x256 tiles that a `grid` item
    // assembles (as iPhones write every photo), also rotated. Each decodes to the photo it was
    // encoded from, upright.
    let read = |name: &str| {
        let mut src = source::open(&photo(name)).expect("png");
        decode_all(src.as_mut()).remove(0)
    };
    let (chelsea, coffee) = (read("chelsea.png"), read("coffee.png"));
    for (name, png, turned) in [
        ("chelsea.heic", &chelsea, false),
        ("chelsea_10bit.heic", &chelsea, false),
        ("chelsea.avif", &chelsea, false),
        ("chelsea_rotated.heic", &chelsea, true),
        ("coffee_grid.heic", &coffee, true),
    ] {
        let mut src = source::open(&photo(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(src.info().kind, StreamKind::Image, "{name}");
        let frames = decode_all(src.as_mut());
        assert_eq!(frames.len(), 1, "{name}");
        let want = if turned { rotate_cw(png) } else { png.clone() };
        let f = &frames[0];
        assert_eq!((f.width, f.height), (want.width, want.height), "{name}");
        assert!(f.rgba.chunks_exact(4).all(|p| p[3] == 255), "{name}: not opaque");
        let diff = mean_abs_diff(&f.rgba, &want.rgba);
        assert!(diff < 4.0, "{name} differs from the photo it was made from by {diff}");
        if turned {
            let wrong = rotate_cw(&rotate_cw(&want));
            let upside = mean_abs_diff(&f.rgba, &wrong.rgba);
            assert!(upside > 4.0 * diff, "{name}: upright {diff}, upside down {upside}");
        }
    }
}

#[test]
fn photos_in_other_colour_spaces_come_out_in_srgb() {
    // chelsea.png converted to other colour spaces by LittleCMS and by hand
    // (tests/data/photos/make_profiled.py) and tagged with them: a ProPhoto RGB JPEG (ICC), a PNG
    // whose ICC profile swaps red and green, and a Display P3 HEIC tagged by its `nclx` box only.
    // Each decodes to the sRGB photo it was made from; read as if sRGB (the profile ignored) it
    // would not, so each profile is applied, not only read.
    let read = |name: &str| {
        let mut src = source::open(&photo(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        decode_all(src.as_mut()).remove(0)
    };
    let chelsea = read("chelsea.png");
    for (name, raw_at_least) in [
        ("chelsea_prophoto.jpg", 15.0),
        ("chelsea_swapped.png", 20.0),
        ("chelsea_p3.heic", 3.0),
    ] {
        let f = read(name);
        assert_eq!((f.width, f.height), (chelsea.width, chelsea.height), "{name}");
        let diff = mean_abs_diff(&f.rgba, &chelsea.rgba);
        assert!(diff < 2.5, "{name} differs from the sRGB photo by {diff} levels");
        let raw = raw_pixels(&photo(name));
        let unmanaged = mean_abs_diff(&raw, &chelsea.rgba);
        assert!(
            unmanaged > raw_at_least && unmanaged > 3.0 * diff,
            "{name}: {unmanaged} levels from the photo without its profile, {diff} with it"
        );
    }
    // The swapped profile, in numbers: the cat's orange fur is stored greener than red.
    let swapped = raw_pixels(&photo("chelsea_swapped.png"));
    let sum = |px: &[u8], c: usize| px.chunks_exact(4).map(|p| p[c] as u64).sum::<u64>();
    assert!(sum(&swapped, 1) > sum(&swapped, 0) && sum(&chelsea.rgba, 0) > sum(&chelsea.rgba, 1));
}

/// A photo's stored RGBA, its colour profile ignored (what a viewer without colour management shows).
fn raw_pixels(path: &Path) -> Vec<u8> {
    if path.extension().is_some_and(|e| e == "heic") {
        let ctx = libheif_rs::HeifContext::read_from_file(path.to_str().expect("utf-8 path")).expect("heif");
        let handle = ctx.primary_image_handle().expect("primary");
        let img = libheif_rs::LibHeif::new()
            .decode(&handle, libheif_rs::ColorSpace::Rgb(libheif_rs::RgbChroma::Rgba), None)
            .expect("decodes");
        let plane = img.planes().interleaved.expect("rgba");
        let row = plane.width as usize * 4;
        return (0..plane.height as usize)
            .flat_map(|y| plane.data[y * plane.stride..y * plane.stride + row].to_vec())
            .collect();
    }
    image::open(path).expect("decodes").into_rgba8().into_raw()
}

#[test]
fn heif_bursts_and_sequences_render_one_picture_and_say_so() {
    // Two pictures in one HEIC (a burst): the primary one (64x48; the other is 96x32) is
    // rendered. An animated AVIF (5 frames of 160x90, libavif's avifenc): its first frame, the
    // still picture it carries (GStreamer does not play the frames' track). Each with a note
    // saying what was left out, even into a video output.
    let dir = tempfile::tempdir().unwrap();
    for (name, out, says, size) in [
        (
            "burst.heic",
            "burst.json",
            "holds 2 pictures (a burst): only its primary picture",
            (7, 5),
        ),
        (
            "animated.avif",
            "anim.jsonl",
            "an image sequence (an animated AVIF or HEIF): only its first picture",
            (16, 9),
        ),
    ] {
        let out = dir.path().join(out);
        let o = emojicam()
            .args(["render", "--input"])
            .arg(photo(name))
            .arg("--output")
            .arg(&out)
            .output()
            .expect("emojicam runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().count(), 1, "{name}: one picture");
        let grid: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let got = (grid["cols"].as_u64().unwrap(), grid["rows"].as_u64().unwrap());
        assert_eq!(got, size, "{name}: {grid}");
    }
}

#[test]
fn damaged_heif_photos_and_tiffs_are_refused_in_one_line() {
    // A HEIC or AVIF with no pictures in it (its `ftyp` box as phones write it, then an empty
    // `meta` box): one line naming it, exit 1 (damage), nothing written. A YCbCr TIFF (which
    // libtiff reads, `webp_bmp_and_tiff_stills_decode_like_ffmpeg`) cut in half, its directory
    // lost with the second half: the same.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cases = Vec::new();
    for (name, brand) in [("IMG_0001.HEIC", b"heic"), ("photo.avif", b"avif")] {
        let mut bytes = vec![0, 0, 0, 0x1c];
        bytes.extend(b"ftyp");
        bytes.extend(brand);
        bytes.extend([0, 0, 0, 0]);
        bytes.extend(b"mif1");
        bytes.extend(brand);
        bytes.extend(b"miaf");
        bytes.extend([0, 0, 0, 8]);
        bytes.extend(b"meta");
        std::fs::write(d.join(name), &bytes).unwrap();
        cases.push((d.join(name), 1, "not a readable HEIF picture", name));
    }
    let tiff = d.join("scan.tif");
    let y4m = data("small.y4m");
    ffmpeg_make(
        &[
            "-i",
            y4m.to_str().unwrap(),
            "-frames:v",
            "1",
            "-c:v",
            "tiff",
            "-pix_fmt",
            "yuv420p",
        ],
        &tiff,
    );
    let bytes = std::fs::read(&tiff).unwrap();
    std::fs::write(&tiff, &bytes[..bytes.len() / 2]).unwrap();
    cases.push((tiff, 1, "not a readable image", "scan.tif"));
    for (input, code, kind, advice) in cases {
        let out = d.join("out.png");
        let o = emojicam()
            .args(["render", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&out)
            .output()
            .expect("emojicam runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{}: {err}", input.display());
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(kind) && err.contains(advice), "{err}");
        assert!(!out.exists(), "{}", input.display());
    }
}
