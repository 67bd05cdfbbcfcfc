//! Camera frames without a camera: YUYV and MJPEG bytes made by ffmpeg from real footage
//! (assets/bench/handheld.mp4), decoded the way the grab thread decodes them (I420 for the
//! tiler's Y'CbCr path) and the way it did before (RGBA on the CPU), tiled on the GPU
//! (lavapipe in CI): the tile colours must agree as closely as the video path's do.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

use std::process::Command;
use std::sync::{Arc, OnceLock};

use emojicam::frame::{Matrix, PixelFormat, Yuv};
use emojicam::gpu::{AdapterPreference, GpuContext, Tiler, Tiles};
use emojicam::source::camera::{decode_mjpeg, decode_mjpeg_rgba, decode_yuyv, decode_yuyv_as};
use emojicam::{Error, Frame};

const CLIP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/bench/handheld.mp4");

fn ctx() -> Arc<GpuContext> {
    static CTX: OnceLock<Arc<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("xdg-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
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

/// PSNR in dB of two byte vectors of RGB triplets, the same less each channel's mean
/// difference, and that difference (`a - b`).
fn psnr(a: &[u8], b: &[u8]) -> (f64, f64, [f64; 3]) {
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
        let (db, flat, bias) = psnr(&x, &y);
        let kind = if keep { "patches" } else { "quadrant means" };
        eprintln!("{what} {kind}: {db:.1} dB, {flat:.1} dB less the bias {bias:.2?}");
        assert!(db >= 39.0 && flat >= 45.0, "{what} {kind}: {db:.1} dB, {flat:.1} dB");
        assert!(bias.iter().all(|b| b.abs() < 1.0), "{what} {kind}: bias {bias:?}");
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

#[test]
fn mjpeg_as_i420_tiles_like_the_rgba_decode() {
    let (w, h) = (320, 180);
    for pix_fmt in ["yuvj420p", "yuvj422p"] {
        for (i, jpeg) in mjpeg_frames(w, h, 2, pix_fmt).iter().enumerate() {
            let new = decode_mjpeg(jpeg).unwrap();
            assert_eq!((new.width, new.height), (w, h));
            assert_eq!(
                new.format,
                PixelFormat::I420(Yuv {
                    matrix: Matrix::Bt601,
                    full_range: true
                })
            );
            let what = format!("MJPEG {pix_fmt} {w}x{h} frame {i}");
            assert_same_tiles(&new, &decode_mjpeg_rgba(jpeg).unwrap(), &what);
        }
    }
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

#[test]
fn torn_and_foreign_jpegs_are_errors_or_rgba_never_panics() {
    let jpeg = &mjpeg_frames(320, 180, 1, "yuvj422p")[0];
    assert!(matches!(decode_mjpeg(b"not a jpeg"), Err(Error::Camera(_))));
    assert!(matches!(decode_mjpeg(&jpeg[..100]), Err(Error::Camera(_))));
    assert!(matches!(decode_mjpeg(&[]), Err(Error::Camera(_))));
    // A frame torn mid-data: the decoder used before (the same one, as lenient) decides alike.
    for cut in [jpeg.len() / 2, jpeg.len() - 10] {
        let (new, old) = (decode_mjpeg(&jpeg[..cut]), decode_mjpeg_rgba(&jpeg[..cut]));
        let said = |r: &Result<Frame, Error>| r.as_ref().map(|f| f.width).map_err(ToString::to_string);
        assert_eq!(
            new.is_ok(),
            old.is_ok(),
            "cut at {cut}: {:?} vs {:?}",
            said(&new),
            said(&old)
        );
    }
    // Noise in the entropy-coded data.
    let mut noisy = jpeg.clone();
    for i in (jpeg.len() / 3..jpeg.len() - 2).step_by(97) {
        noisy[i] = noisy[i].wrapping_mul(31).wrapping_add(7);
    }
    let _ = decode_mjpeg(&noisy);
    // A greyscale JPEG (not a webcam's, but a JPEG): decoded as RGBA.
    let mut grey = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(64, 32, |x, y| {
        image::Luma([(x * 4 + y) as u8])
    }))
    .write_to(&mut std::io::Cursor::new(&mut grey), image::ImageFormat::Jpeg)
    .unwrap();
    let f = decode_mjpeg(&grey).unwrap();
    assert_eq!((f.format, f.width, f.height), (PixelFormat::Rgba, 64, 32));
}
