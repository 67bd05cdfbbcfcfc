//! Camera frames without a camera: YUYV and MJPEG bytes made by ffmpeg from real footage
//! (assets/bench/handheld.mp4), decoded the way the grab thread decodes them (I420 for the
//! tiler's Y'CbCr path: YUYV repacked, MJPEG through GStreamer's jpegdec) and the way it did
//! before (RGBA on the CPU), tiled on the GPU (lavapipe in CI): the tile colours must agree as
//! closely as the video path's do.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

mod common;

use std::process::Command;
use std::sync::{Arc, OnceLock};

use emojicam::frame::{Matrix, PixelFormat, Yuv};
use emojicam::gpu::{AdapterPreference, GpuContext, Tiler, Tiles};
use emojicam::source::camera::{
    check_jpeg_whole, decode_mjpeg, decode_raw, decode_yuyv, decode_yuyv_as, FourCc, MjpegDecoder, CAMERA_YUV,
};
use emojicam::{Error, Frame};

const CLIP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/bench/handheld.mp4");

fn ctx() -> Arc<GpuContext> {
    static CTX: OnceLock<Arc<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        std::env::set_var("XDG_RUNTIME_DIR", common::xdg_dir());
        Arc::new(GpuContext::new(AdapterPreference::Auto).expect("a GPU adapter (lavapipe at least)"))
    })
    .clone()
}

/// `frames` frames of the clip scaled to `w`x`h`, as ffmpeg writes them with `args` (its
/// output on stdout).
fn ffmpeg(w: u32, h: u32, frames: u32, args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i", CLIP, "-vf"])
        .arg(format!("scale={w}:{h}"))
        .args(["-frames:v", &frames.to_string()])
        .args(args)
        .arg("-")
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// YUYV frames as a UVC webcam sends them (BT.601, limited range).
fn yuyv_frames(w: u32, h: u32, frames: u32) -> Vec<Vec<u8>> {
    let bytes = ffmpeg(w, h, frames, &["-pix_fmt", "yuyv422", "-f", "rawvideo"]);
    let size = (w * h * 2) as usize;
    assert_eq!(bytes.len(), size * frames as usize);
    bytes.chunks_exact(size).map(<[u8]>::to_vec).collect()
}

/// MJPEG frames as a webcam sends them, `pix_fmt` yuvj420p or yuvj422p (both are common).
fn mjpeg_frames(w: u32, h: u32, frames: u32, pix_fmt: &str) -> Vec<Vec<u8>> {
    let stream = ffmpeg(
        w,
        h,
        frames,
        &["-pix_fmt", pix_fmt, "-c:v", "mjpeg", "-q:v", "4", "-f", "mjpeg"],
    );
    // Each JPEG ends with EOI (FF D9); entropy-coded data never holds that pair.
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..stream.len() {
        if stream[i - 1] == 0xff && stream[i] == 0xd9 {
            out.push(stream[start..=i].to_vec());
            start = i + 1;
        }
    }
    assert_eq!(out.len(), frames as usize);
    out
}

/// The old YUYV path: every pixel converted to RGBA on the CPU.
fn yuyv_rgba(bytes: &[u8], w: u32, h: u32) -> Frame {
    let mut rgba = vec![0; (w * h * 4) as usize];
    emojicam::yuv::yuyv_to_rgba(bytes, w as usize, h as usize, &mut rgba);
    Frame::new(w, h, rgba)
}

/// Tiles both frames, with patches and with the quadrant means alone (the live path), and
/// asserts the colours agree within the video path's tolerance (tests/gpu.rs,
/// `i420_mosaic_matches_the_videoconvert_rgba_path`: 39 dB, 45 dB less the bias) and with no
/// bias of a level or more.
fn assert_same_tiles(new: &Frame, old: &Frame, what: &str) {
    assert!(matches!(new.format, PixelFormat::I420(_)), "{what}: {:?}", new.format);
    assert_eq!(old.format, PixelFormat::Rgba);
    let (mut a, mut b) = (Tiles::default(), Tiles::default());
    for keep in [true, false] {
        let mut tiler = Tiler::new(ctx(), 10).unwrap();
        tiler.keep_patches(keep);
        tiler.tile(new, &mut a).unwrap();
        tiler.tile(old, &mut b).unwrap();
        let (x, y) = if keep {
            (a.patches.clone(), b.patches.clone())
        } else {
            (a.means.concat(), b.means.concat())
        };
        assert!(!x.is_empty() && x.len() == y.len(), "{what}");
        let (db, flat, bias) = common::rgb_psnr_and_bias(&x, &y);
        let kind = if keep { "patches" } else { "quadrant means" };
        eprintln!("{what} {kind}: {db:.1} dB, {flat:.1} dB less the bias {bias:.2?}");
        assert!(db >= 39.0 && flat >= 45.0, "{what} {kind}: {db:.1} dB, {flat:.1} dB");
        assert!(bias.iter().all(|b| b.abs() < 1.0), "{what} {kind}: bias {bias:?}");
    }
}

/// Tile colours of two frames (the quadrant means, the live path): PSNR, PSNR less the bias,
/// and the bias per channel.
fn tile_agreement(a: &Frame, b: &Frame) -> (f64, f64, [f64; 3]) {
    let (mut x, mut y) = (Tiles::default(), Tiles::default());
    let mut tiler = Tiler::new(ctx(), 10).unwrap();
    tiler.keep_patches(false);
    tiler.tile(a, &mut x).unwrap();
    tiler.tile(b, &mut y).unwrap();
    common::rgb_psnr_and_bias(&x.means.concat(), &y.means.concat())
}

/// The raw formats emojicam takes (the six the camera library, nokhwa, opens, then those read
/// straight from V4L2), as ffmpeg writes them (its pix_fmt; `vyuy422` and `yv12`, which ffmpeg
/// lacks, are made from its `uyvy422` and `yuv420p` by [`raw_frame`], `nv16` and `nv61` from
/// `yuv422p`, and
/// Bayer from its `rgb24`), and the encoding emojicam is told (what a driver reports: Y'CbCr
/// limited range; ffmpeg's grey is full range).
const RAW_FORMATS: [(FourCc, &str, bool); 33] = [
    (FourCc::Yuyv, "yuyv422", false),
    (FourCc::Nv12, "nv12", false),
    (FourCc::Gray, "gray", true),
    (FourCc::Rgb, "rgb24", true),
    (FourCc::Bgr, "bgr24", true),
    (FourCc::Uyvy, "uyvy422", false),
    (FourCc::Yvyu, "yvyu422", false),
    (FourCc::Vyuy, "vyuy422", false),
    (FourCc::Yu12, "yuv420p", false),
    (FourCc::Yv12, "yv12", false),
    (FourCc::Nv21, "nv21", false),
    (FourCc::Y16, "gray16le", true),
    (FourCc::Y10, "gray10le", true),
    (FourCc::Y12, "gray12le", true),
    (FourCc::Rgb565, "rgb565le", true),
    (FourCc::Rgb32(*b"XR24"), "bgr0", true),
    (FourCc::Rgb32(*b"AR24"), "bgra", true),
    (FourCc::Rgb32(*b"BGR4"), "bgr0", true),
    (FourCc::Rgb32(*b"XB24"), "rgb0", true),
    (FourCc::Rgb32(*b"AB24"), "rgba", true),
    (FourCc::Rgb32(*b"RX24"), "0bgr", true),
    (FourCc::Rgb32(*b"RA24"), "abgr", true),
    (FourCc::Rgb32(*b"BX24"), "0rgb", true),
    (FourCc::Rgb32(*b"BA24"), "argb", true),
    (FourCc::Nv16, "nv16", false),
    (FourCc::Nv61, "nv61", false),
    (FourCc::Yuv422p, "yuv422p", false),
    (FourCc::Nv24, "nv24", false),
    (FourCc::Nv42, "nv42", false),
    (FourCc::Bayer(*b"BA81"), "bayer_bggr8", true),
    (FourCc::Bayer(*b"GBRG"), "bayer_gbrg8", true),
    (FourCc::Bayer(*b"GRBG"), "bayer_grbg8", true),
    (FourCc::Bayer(*b"RGGB"), "bayer_rggb8", true),
];

/// One frame of the clip as `pix_fmt`, at `w` x `h` (`vyuy422`: `uyvy422` with U and V
/// swapped; `yv12`: `yuv420p` with its chroma planes swapped).
fn raw_frame(pix_fmt: &str, w: u32, h: u32) -> Vec<u8> {
    match pix_fmt {
        "vyuy422" => {
            let mut bytes = raw_frame("uyvy422", w, h);
            bytes.chunks_exact_mut(4).for_each(|q| q.swap(0, 2));
            bytes
        }
        // ffmpeg reads NV16 but does not write it: its yuv422p with the chroma planes interleaved.
        "nv16" => {
            let bytes = raw_frame("yuv422p", w, h);
            let luma = (w * h) as usize;
            let chroma = (w.div_ceil(2) * h) as usize;
            let (y, uv) = bytes.split_at(luma);
            let (u, v) = uv.split_at(chroma);
            let pairs = u.iter().zip(v).flat_map(|(&u, &v)| [u, v]);
            y.iter().copied().chain(pairs).collect()
        }
        "nv61" => {
            let mut bytes = raw_frame("nv16", w, h);
            let luma = (w * h) as usize;
            bytes[luma..].chunks_exact_mut(2).for_each(|p| p.swap(0, 1));
            bytes
        }
        // A sensor's raw picture: each pixel keeps the one colour its place in the 2x2 cell
        // sees (bayer_rggb8: red top left, green, green, blue bottom right).
        bayer if bayer.starts_with("bayer_") => {
            let cells: Vec<usize> = bayer[6..10]
                .chars()
                .map(|c| match c {
                    'r' => 0,
                    'g' => 1,
                    _ => 2,
                })
                .collect();
            let rgb = raw_frame("rgb24", w, h);
            (0..h as usize)
                .flat_map(|y| (0..w as usize).map(move |x| (x, y)))
                .map(|(x, y)| rgb[(y * w as usize + x) * 3 + cells[(y % 2) * 2 + x % 2]])
                .collect()
        }
        "yv12" => {
            let bytes = raw_frame("yuv420p", w, h);
            let luma = (w * h) as usize;
            let chroma = (w.div_ceil(2) * h.div_ceil(2)) as usize;
            let (y, uv) = bytes.split_at(luma);
            let (u, v) = uv.split_at(chroma);
            [y, v, u].concat()
        }
        _ => ffmpeg(w, h, 1, &["-pix_fmt", pix_fmt, "-f", "rawvideo"]),
    }
}

/// Every raw format's bytes, decoded as the grab thread decodes them (I420, or RGBA for RGB),
/// tile like ffmpeg's own RGB picture of the same frame (grey formats: like its grey picture):
/// a repack that swapped U and V, read a plane from the wrong place or the wrong byte of a
/// 16-bit sample fails this.
#[test]
fn every_raw_format_tiles_like_ffmpegs_rgb_picture() {
    let (w, h) = (320, 180);
    let rgb_of = |pix_fmt: &str| {
        let rgb = ffmpeg(w, h, 1, &["-pix_fmt", pix_fmt, "-f", "rawvideo"]);
        let rgba: Vec<u8> = match pix_fmt {
            "gray" => rgb.iter().flat_map(|&v| [v, v, v, 255]).collect(),
            _ => rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        };
        Frame::new(w, h, rgba)
    };
    let (colour, grey) = (rgb_of("rgb24"), rgb_of("gray"));
    let full = Yuv {
        matrix: Matrix::Bt601,
        full_range: true,
    };
    for (fourcc, pix_fmt, full_range) in RAW_FORMATS {
        let bytes = raw_frame(pix_fmt, w, h);
        let yuv = if full_range { full } else { CAMERA_YUV };
        let frame = decode_raw(fourcc, &bytes, w, h, 0, yuv).unwrap();
        let reference = if fourcc.is_grey() { &grey } else { &colour };
        let (db, flat, bias) = tile_agreement(&frame, reference);
        eprintln!("{fourcc:?} ({pix_fmt}): {db:.1} dB, {flat:.1} dB less the bias {bias:.2?}");
        // Measured: 44.3-45.8 dB (51.0-51.1 less the bias) for YUYV and NV12 (the other
        // Y'CbCr formats the same, as they hold the same samples), whose bias
        // (+0.7 to +1.6 levels) is swscale's (its limited-range expansion is a little
        // brighter, as videoconvert's is: README); 47-138 dB for grey and RGB. YUYV bytes
        // read with U and V swapped (a YVYU reader tried on the way) gave 18.9 dB. RGB565
        // keeps 5-6 bits a channel, and swscale dithers into it: 38.8 dB (42.8 less a bias of
        // +0.5 to +3.1 levels).
        let (least, least_flat, most_bias) = if fourcc == FourCc::Rgb565 {
            (35.0, 40.0, 4.0)
        } else {
            (40.0, 45.0, 2.5)
        };
        assert!(
            db >= least && flat >= least_flat,
            "{fourcc:?}: {db:.1} dB, {flat:.1} dB"
        );
        assert!(bias.iter().all(|b| b.abs() < most_bias), "{fourcc:?}: bias {bias:?}");
        // Cut short (a frame the driver did not fill): an error, not a picture.
        let short = decode_raw(fourcc, &bytes[..bytes.len() - 1], w, h, 0, yuv);
        assert!(matches!(short, Err(Error::Camera(_))), "{fourcc:?}");
    }
}

/// Drivers may pad each row (bytesperline above the width's bytes): the picture is the same.
#[test]
fn padded_rows_decode_like_packed_ones() {
    let (w, h) = (318, 180);
    for (fourcc, pix_fmt, row) in [
        (FourCc::Yuyv, "yuyv422", w * 2),
        (FourCc::Nv12, "nv12", w),
        (FourCc::Gray, "gray", w),
        (FourCc::Rgb, "rgb24", w * 3),
        (FourCc::Uyvy, "uyvy422", w * 2),
        (FourCc::Yu12, "yuv420p", w),
        (FourCc::Yv12, "yv12", w),
        (FourCc::Nv21, "nv21", w),
        (FourCc::Y16, "gray16le", w * 2),
        (FourCc::Rgb565, "rgb565le", w * 2),
        (FourCc::Rgb32(*b"XR24"), "bgr0", w * 4),
        (FourCc::Nv16, "nv16", w),
        (FourCc::Yuv422p, "yuv422p", w),
        (FourCc::Nv24, "nv24", w),
        (FourCc::Bayer(*b"RGGB"), "bayer_rggb8", w),
    ] {
        let packed = raw_frame(pix_fmt, w, h);
        let stride = row + 66;
        // Each plane's rows padded (NV12: the luma's and the interleaved chroma's, by the
        // same bytes-per-line; YU12: the chroma planes' rows by half of it, as V4L2 has it).
        let mut padded = Vec::new();
        let mut rest = &packed[..];
        let planes: Vec<(u32, u32, u32)> = match fourcc {
            FourCc::Nv12 | FourCc::Nv21 => vec![(row, stride, h), (row, stride, h / 2)],
            // NV16: chroma rows as long as the luma's, every row; NV24: twice as long.
            FourCc::Nv16 => vec![(row, stride, h), (row, stride, h)],
            FourCc::Nv24 => vec![(row, stride, h), (row * 2, stride * 2, h)],
            // 422P: both chroma planes at half width, every row.
            FourCc::Yuv422p => vec![(row, stride, h), (row / 2, stride / 2, h * 2)],
            // Both chroma planes: h / 2 rows each.
            FourCc::Yu12 | FourCc::Yv12 => vec![(row, stride, h), (row / 2, stride / 2, h)],
            _ => vec![(row, stride, h)],
        };
        for (bytes, pitch, rows) in planes {
            for _ in 0..rows {
                let (line, tail) = rest.split_at(bytes as usize);
                padded.extend_from_slice(line);
                padded.resize(padded.len() + (pitch - bytes) as usize, 0xaa);
                rest = tail;
            }
        }
        let yuv = CAMERA_YUV;
        let a = decode_raw(fourcc, &packed, w, h, 0, yuv).unwrap();
        let b = decode_raw(fourcc, &padded, w, h, stride, yuv).unwrap();
        assert_eq!(a, b, "{fourcc:?}");
    }
}

#[test]
fn yuyv_as_i420_tiles_like_the_rgba_conversion() {
    let (w, h) = (320, 180);
    for (i, bytes) in yuyv_frames(w, h, 3).iter().enumerate() {
        let new = decode_yuyv(bytes, w, h).unwrap();
        assert_eq!(
            new.format,
            PixelFormat::I420(Yuv {
                matrix: Matrix::Bt601,
                full_range: false
            })
        );
        assert_same_tiles(&new, &yuyv_rgba(bytes, w, h), &format!("YUYV {w}x{h} frame {i}"));
    }
}

/// `jpeg` without its Huffman tables (DHT segments), as many UVC webcams send MJPEG: the decoder
/// must take the standard tables (JPEG Annex K) that such frames are coded with.
fn without_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut i = 2;
    while i + 4 <= jpeg.len() {
        assert_eq!(jpeg[i], 0xff, "a marker at {i}");
        let marker = jpeg[i + 1];
        if marker == 0xda {
            out.extend_from_slice(&jpeg[i..]);
            return out;
        }
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if marker != 0xc4 {
            out.extend_from_slice(&jpeg[i..i + 2 + len]);
        }
        i += 2 + len;
    }
    panic!("no start of scan");
}

#[test]
fn mjpeg_without_huffman_tables_decodes_like_with_them() {
    let (w, h) = (320, 180);
    let mut decoder = MjpegDecoder::new().expect("GStreamer's jpegdec (gstreamer1.0-plugins-good)");
    let stream = ffmpeg(
        w,
        h,
        1,
        &[
            "-pix_fmt", "yuvj422p", "-c:v", "mjpeg", "-huffman", "default", "-q:v", "4", "-f", "mjpeg",
        ],
    );
    let bare = without_huffman_tables(&stream);
    assert!(bare.len() < stream.len(), "the frame had Huffman tables to take out");
    let whole = decoder.decode(&stream).unwrap();
    let frame = decoder.decode(&bare).unwrap();
    assert_eq!(frame, whole);
    // The built-in decoder (where jpegdec is missing) and photos: the standard tables go in.
    assert_eq!(decode_mjpeg(&bare).unwrap(), decode_mjpeg(&stream).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (with, without) = (dir.path().join("with.jpg"), dir.path().join("snapshot.jpg"));
    std::fs::write(&with, &stream).unwrap();
    std::fs::write(&without, &bare).unwrap();
    let photo = |p: &std::path::Path| emojicam::source::open(p).unwrap().next_frame().unwrap().unwrap();
    assert_eq!(photo(&without), photo(&with));
    assert_eq!(std::fs::read(&without).unwrap(), bare, "the file is not touched");
}

#[test]
fn mjpeg_through_jpegdec_tiles_like_the_rgba_decode() {
    let (w, h) = (320, 180);
    let mut decoder = MjpegDecoder::new().expect("GStreamer's jpegdec (gstreamer1.0-plugins-good)");
    for pix_fmt in ["yuvj420p", "yuvj422p"] {
        for (i, jpeg) in mjpeg_frames(w, h, 2, pix_fmt).iter().enumerate() {
            let new = decoder.decode(jpeg).unwrap();
            assert_eq!((new.width, new.height), (w, h));
            let PixelFormat::I420(yuv) = new.format else {
                panic!("{:?}", new.format)
            };
            assert!(yuv.full_range, "{yuv:?}");
            let what = format!("MJPEG {pix_fmt} {w}x{h} frame {i}");
            assert_same_tiles(&new, &decode_mjpeg(jpeg).unwrap(), &what);
        }
    }
}

#[test]
fn bad_jpegs_are_errors_and_the_next_frame_still_decodes() {
    let frames = mjpeg_frames(320, 180, 2, "yuvj422p");
    let (jpeg, next) = (&frames[0], &frames[1]);
    let mut decoder = MjpegDecoder::new().expect("GStreamer's jpegdec");
    let want = decoder.decode(next).unwrap();
    let mut noisy = jpeg.clone();
    for i in (jpeg.len() / 3..jpeg.len() - 2).step_by(97) {
        noisy[i] = noisy[i].wrapping_mul(31).wrapping_add(7);
    }
    let mut header_only = jpeg[..600.min(jpeg.len() / 2)].to_vec();
    header_only.extend_from_slice(&[0xff, 0xd9]);
    let mut torn_padded = jpeg[..jpeg.len() * 2 / 3].to_vec();
    torn_padded.resize(jpeg.len() + 300, 0);
    let cases: [(&str, &[u8]); 6] = [
        ("not a JPEG", b"not a jpeg"),
        ("empty", &[]),
        ("its first 100 bytes", &jpeg[..100]),
        ("torn in the middle", &jpeg[..jpeg.len() / 2]),
        ("torn near its end", &jpeg[..jpeg.len() - 3]),
        ("torn, the rest of the buffer zeros", &torn_padded),
    ];
    for (what, bytes) in cases {
        match decoder.decode(bytes) {
            Err(Error::Camera(e)) => assert!(e.message().starts_with("bad MJPEG frame"), "{what}: {e}"),
            Err(e) => panic!("{what}: {e}"),
            Ok(f) => panic!("{what}: decoded to a {}x{} picture", f.width, f.height),
        }
        assert!(decode_mjpeg(bytes).is_err(), "{what}: the built-in decoder took it");
        // Whatever the frame did, the next one is itself, not a leftover.
        let got = decoder.decode(next).unwrap();
        assert_eq!(got, want, "after {what}");
    }
    // Noise inside the data, or data cut and then ended (the end marker present): libjpeg-turbo
    // shows what it can (as a webcam's own driver would), or refuses it; either way the next
    // frame is itself.
    for (what, bytes) in [("noise in its data", &noisy), ("headers then its end", &header_only)] {
        if let Ok(f) = decoder.decode(bytes) {
            assert_eq!((f.width, f.height), (320, 180), "{what}");
        }
        assert_eq!(decoder.decode(next).unwrap(), want, "after {what}");
    }
    // A whole frame followed by zeros (some cameras pad their buffers) is whole.
    let mut padded = next.clone();
    padded.resize(next.len() + 500, 0);
    assert!(check_jpeg_whole(&padded).is_ok());
    assert_eq!(decoder.decode(&padded).unwrap(), want, "a padded frame");
    assert!(decode_mjpeg(b"not a jpeg").is_err());
}

/// Without GStreamer's jpegdec (here: no plugins at all, in a child process), an MJPEG camera
/// still works through the built-in decoder, and one line says what is missing and which
/// package gives it; `-q` silences it.
#[test]
fn a_missing_jpegdec_is_said_once_with_its_package() {
    let empty = tempfile::tempdir().unwrap();
    for quiet in [false, true] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "jpegdec_missing_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("GST_PLUGIN_SYSTEM_PATH_1_0", empty.path())
            .env("GST_PLUGIN_SYSTEM_PATH", empty.path())
            .env("GST_PLUGIN_PATH_1_0", empty.path())
            .env("GST_PLUGIN_PATH", empty.path())
            .env("GST_REGISTRY", empty.path().join("registry.bin"))
            .env("EMOJICAM_TEST_QUIET", if quiet { "1" } else { "0" })
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && stdout.contains("1 passed"), "{stdout}\n{err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("jpegdec")).collect();
        if quiet {
            assert!(lines.is_empty(), "{err}");
        } else {
            assert_eq!(lines.len(), 1, "{err}");
            assert!(
                lines[0].contains("camera 9") && lines[0].contains("gstreamer1.0-plugins-good"),
                "{}",
                lines[0]
            );
        }
    }
}

/// Run by [`a_missing_jpegdec_is_said_once_with_its_package`] in a process without GStreamer
/// plugins.
#[test]
#[ignore]
fn jpegdec_missing_child() {
    emojicam::safety::set_quiet(std::env::var("EMOJICAM_TEST_QUIET").as_deref() == Ok("1"));
    assert!(emojicam::source::camera::mjpeg_decoder("camera 9 (/dev/video9, Lab)").is_none());
    // The built-in decoder takes the frames instead.
    let jpeg = &mjpeg_frames(64, 48, 1, "yuvj422p")[0];
    assert_eq!(decode_mjpeg(jpeg).unwrap().width, 64);
}

#[test]
fn a_mirrored_camera_frame_is_the_mirror_image() {
    let (w, h) = (320, 180);
    let bytes = &yuyv_frames(w, h, 1)[0];
    let mut frame = decode_yuyv(bytes, w, h).unwrap();
    let mut want = frame.to_rgba().into_owned();
    want.mirror();
    frame.mirror();
    // Even sizes: every 2x2 chroma block stays whole, so mirroring commutes with converting.
    assert_eq!(frame.to_rgba().into_owned(), want);
}

#[test]
fn the_driver_reported_encoding_is_kept() {
    let bt709 = Yuv {
        matrix: Matrix::Bt709,
        full_range: true,
    };
    let f = decode_yuyv_as(&[16, 128, 235, 128, 16, 128, 235, 128], 2, 2, bt709).unwrap();
    assert_eq!(f.format, PixelFormat::I420(bt709));
    // Full range: Y 16 is not black.
    assert_eq!(f.pixel(0, 0), [16, 16, 16, 255]);
    let mut limited = v4l::Format::new(2, 2, v4l::FourCC::new(b"YUYV"));
    limited.colorspace = v4l::format::Colorspace::Rec709;
    assert_eq!(
        emojicam::source::camera::driver_yuv(&limited),
        Yuv {
            matrix: Matrix::Bt709,
            full_range: false
        }
    );
    limited.colorspace = v4l::format::Colorspace::JPEG;
    assert_eq!(
        emojicam::source::camera::driver_yuv(&limited),
        full_range(Matrix::Bt601)
    );
    limited.colorspace = v4l::format::Colorspace::SRGB;
    assert_eq!(
        emojicam::source::camera::driver_yuv(&limited),
        emojicam::source::camera::CAMERA_YUV
    );
}

fn full_range(matrix: Matrix) -> Yuv {
    Yuv {
        matrix,
        full_range: true,
    }
}

/// The `image` crate's JPEG decoder (zune-jpeg) asked for Y'CbCr instead of RGB, then
/// repacked to I420 (chroma averaged over 2x2 blocks): one way weighed for MJPEG.
fn zune_i420(jpeg: &[u8]) -> Frame {
    use zune_core::colorspace::ColorSpace;
    let options = zune_core::options::DecoderOptions::default()
        .set_strict_mode(false)
        .jpeg_set_out_colorspace(ColorSpace::YCbCr);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(jpeg), options);
    let ycbcr = decoder.decode().unwrap();
    let (w, h) = decoder.dimensions().unwrap();
    let cw = w.div_ceil(2);
    let mut planes = vec![0u8; w * h + 2 * cw * h.div_ceil(2)];
    let (luma, chroma) = planes.split_at_mut(w * h);
    let (u, v) = chroma.split_at_mut(cw * h.div_ceil(2));
    for (y, p) in luma.iter_mut().zip(ycbcr.chunks_exact(3)) {
        *y = p[0];
    }
    for cy in 0..h.div_ceil(2) {
        let top = &ycbcr[cy * 2 * w * 3..][..w * 3];
        let bottom = &ycbcr[(cy * 2 + 1).min(h - 1) * w * 3..][..w * 3];
        for (cx, (t, b)) in top.chunks_exact(6).zip(bottom.chunks_exact(6)).enumerate() {
            let mean = |c: usize| ((t[c] as u16 + t[c + 3] as u16 + b[c] as u16 + b[c + 3] as u16 + 2) >> 2) as u8;
            u[cy * cw + cx] = mean(1);
            v[cy * cw + cx] = mean(2);
        }
    }
    let yuv = Yuv {
        matrix: Matrix::Bt601,
        full_range: true,
    };
    Frame::i420(w as u32, h as u32, planes, yuv)
}

/// CPU seconds this process has used (every thread: jpegdec decodes on GStreamer's).
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which `t` is.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

type Decode<'a> = Box<dyn Fn(&[u8]) -> Frame + 'a>;

/// Per-frame CPU time of the capture thread's conversion, the old way and the new, at the
/// sizes webcams send, taking turns over several rounds (docs/PERFORMANCE.md):
/// `cargo test --release --test camera_frames timings -- --ignored --nocapture --test-threads=1`.
#[test]
#[ignore]
fn timings_camera_conversion_old_vs_new() {
    use std::time::Instant;
    const ROUNDS: usize = 7;
    const PER_TURN: usize = 4;
    let mut jpegdec = MjpegDecoder::new().expect("GStreamer's jpegdec");
    let jpegdec = std::cell::RefCell::new(&mut jpegdec);
    eprintln!("load average before: {}", load());
    for (w, h) in [(640u32, 480u32), (1280, 720), (1920, 1080)] {
        let yuyv = yuyv_frames(w, h, PER_TURN as u32);
        let jpeg420 = mjpeg_frames(w, h, PER_TURN as u32, "yuvj420p");
        let jpeg422 = mjpeg_frames(w, h, PER_TURN as u32, "yuvj422p");
        let raw = |pix_fmt: &str| -> Vec<Vec<u8>> { vec![raw_frame(pix_fmt, w, h); PER_TURN] };
        let (nv12, grey, rgb3) = (raw("nv12"), raw("gray"), raw("rgb24"));
        let (nv16, bayer) = (raw("nv16"), raw("bayer_rggb8"));
        let decoder = |f: FourCc| -> Decode { Box::new(move |b| decode_raw(f, b, w, h, 0, CAMERA_YUV).unwrap()) };
        let ways: Vec<(String, &Vec<Vec<u8>>, Decode)> = vec![
            ("NV12 -> I420".into(), &nv12, decoder(FourCc::Nv12)),
            ("GREY -> I420".into(), &grey, decoder(FourCc::Gray)),
            ("RGB3 -> RGBA".into(), &rgb3, decoder(FourCc::Rgb)),
            ("NV16 -> I420".into(), &nv16, decoder(FourCc::Nv16)),
            ("RGGB Bayer -> RGBA".into(), &bayer, decoder(FourCc::Bayer(*b"RGGB"))),
            ("YUYV -> RGBA (old)".into(), &yuyv, Box::new(|b| yuyv_rgba(b, w, h))),
            (
                "YUYV -> I420 (new)".into(),
                &yuyv,
                Box::new(|b| decode_yuyv(b, w, h).unwrap()),
            ),
            (
                "MJPEG 4:2:0 image RGBA (old)".into(),
                &jpeg420,
                Box::new(|b| decode_mjpeg(b).unwrap()),
            ),
            ("MJPEG 4:2:0 zune Y'CbCr -> I420".into(), &jpeg420, Box::new(zune_i420)),
            (
                "MJPEG 4:2:0 jpegdec I420 (new)".into(),
                &jpeg420,
                Box::new(|b| jpegdec.borrow_mut().decode(b).unwrap()),
            ),
            (
                "MJPEG 4:2:2 image RGBA (old)".into(),
                &jpeg422,
                Box::new(|b| decode_mjpeg(b).unwrap()),
            ),
            ("MJPEG 4:2:2 zune Y'CbCr -> I420".into(), &jpeg422, Box::new(zune_i420)),
            (
                "MJPEG 4:2:2 jpegdec I420 (new)".into(),
                &jpeg422,
                Box::new(|b| jpegdec.borrow_mut().decode(b).unwrap()),
            ),
        ];
        let mut cpu = vec![Vec::new(); ways.len()];
        let mut wall = vec![Vec::new(); ways.len()];
        for round in 0..=ROUNDS {
            for (i, (_, frames, decode)) in ways.iter().enumerate() {
                let (c0, t0) = (cpu_seconds(), Instant::now());
                for f in frames.iter() {
                    std::hint::black_box(decode(f));
                }
                // Round 0 warms caches and the decoder up: not counted.
                if round > 0 {
                    cpu[i].push((cpu_seconds() - c0) * 1e3 / PER_TURN as f64);
                    wall[i].push(t0.elapsed().as_secs_f64() * 1e3 / PER_TURN as f64);
                }
            }
        }
        for (i, (name, _, _)) in ways.iter().enumerate() {
            cpu[i].sort_by(f64::total_cmp);
            wall[i].sort_by(f64::total_cmp);
            eprintln!(
                "{w}x{h} {name}: CPU median {:.2} ms/frame (min {:.2}), wall median {:.2} ms",
                cpu[i][ROUNDS / 2],
                cpu[i][0],
                wall[i][ROUNDS / 2]
            );
        }
    }
    eprintln!("load average after: {}", load());
}
