//! Webcams through nokhwa (V4L2 on Linux).
//!
//! Frames reach the pipeline through the one frame reader (`source/reader.rs`) like every
//! source's, but nokhwa's `Camera` lives on a grab thread of its own that [`CameraSource`]
//! asks for one frame at a time, for two reasons: the `Camera` is not `Send` (nokhwa's
//! `camera-sync-impl` feature, which would declare it so, is off), and its `frame()` waits in
//! the driver without a timeout, so the reader could neither notice a camera that stopped
//! delivering (reported as lost after `STALL`, so a recording is finished) nor stop while a
//! read hangs (the grab thread is left behind, never joined). Format choice and pixel decoding
//! are pure functions, testable without a camera.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use nokhwa::utils::{ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};
use nokhwa::Camera;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::video::Capture as _;

use super::Source;
use crate::error::{Error, Result};
use crate::frame::{frame_bytes, Frame, Matrix, PixelFormat, Rate, StreamInfo, StreamKind, Yuv};

const NO_CAMERA_HINT: &str = "connect one, check permissions (ls -l /dev/video*; v4l2-ctl --list-devices), or go without: --input FILE or `emojicam render`";

/// A camera that delivers nothing for this long is reported as lost (a stalled driver, a
/// loopback webcam whose feeder stopped) instead of freezing the picture forever.
const STALL: Duration = Duration::from_secs(10);

/// Frames in a row that do not decode before the camera is reported as failing; fewer are
/// skipped.
const BAD_FRAMES: u32 = 5;

/// Sizes tried on cameras that describe their sizes as a range rather than a list.
const RANGE_SIZES: [(u32, u32); 9] = [
    (320, 180),
    (320, 240),
    (640, 360),
    (640, 480),
    (800, 600),
    (1280, 720),
    (1280, 960),
    (1920, 1080),
    (3840, 2160),
];

/// Rates tried on cameras that describe their rates as a range.
const RANGE_RATES: [u32; 8] = [5, 10, 15, 20, 24, 25, 30, 60];

/// Pixel formats a camera may deliver, in the order `emojicam cameras` lists them: the six
/// the camera library (nokhwa) can open, then the raw ones emojicam captures straight from
/// V4L2 (nokhwa has no name for them), all decoded, then any other (listed, not decoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FourCc {
    Mjpeg,
    Yuyv,
    Nv12,
    /// Y8 (V4L2's GREY): infrared (Windows Hello) and machine-vision cameras.
    Gray,
    Rgb,
    Bgr,
    /// Packed 4:2:2 with the bytes in another order than YUYV's: capture cards, embedded cameras.
    Uyvy,
    Yvyu,
    Vyuy,
    /// YU12 (I420: Y, U, V planes): what ffmpeg and GStreamer feed a loopback webcam by default.
    Yu12,
    /// YV12 (Y, V, U planes).
    Yv12,
    /// NV21 (NV12 with V before U): phone-style and embedded cameras.
    Nv21,
    /// Y16 (16-bit little-endian grey): infrared and depth cameras.
    Y16,
    /// Y10, Y12 (10- and 12-bit grey in 16-bit little-endian words): infrared and machine-vision
    /// cameras.
    Y10,
    Y12,
    /// RGBP (RGB565 little-endian).
    Rgb565,
    /// NV16 (Y plane, then U V interleaved at half width, every row: semi-planar 4:2:2) and
    /// NV61 (V U): embedded and phone-style cameras, capture chips.
    Nv16,
    Nv61,
    /// 422P (Y, U, V planes, chroma at half width: planar 4:2:2).
    Yuv422p,
    /// NV24 (Y plane, then U V interleaved at full size: semi-planar 4:4:4) and NV42 (V U).
    Nv24,
    Nv42,
    /// 8-bit raw Bayer by its V4L2 code (BA81, GBRG, GRBG, RGGB: [`bayer_pattern`] says which
    /// colour each pixel of a 2x2 cell sees): machine-vision and embedded camera sensors.
    Bayer([u8; 4]),
    /// 32-bit RGB with alpha or padding, by its V4L2 code (XR24, AR24, BGR4, XB24, AB24, RX24,
    /// RA24, BX24, BA24: [`rgb32_order`] says where each channel is).
    Rgb32([u8; 4]),
    /// Any other V4L2 fourcc (YUV9, H.264, 10-bit Bayer, ...): listed so people see what the
    /// camera offers.
    Other([u8; 4]),
}

/// The fourccs emojicam decodes and their V4L2 codes (`Rgb32` holds its own code, `Other` the
/// rest).
const CODES: [(FourCc, &[u8; 4]); 21] = [
    (FourCc::Mjpeg, b"MJPG"),
    (FourCc::Yuyv, b"YUYV"),
    (FourCc::Nv12, b"NV12"),
    (FourCc::Gray, b"GREY"),
    (FourCc::Rgb, b"RGB3"),
    (FourCc::Bgr, b"BGR3"),
    (FourCc::Uyvy, b"UYVY"),
    (FourCc::Yvyu, b"YVYU"),
    (FourCc::Vyuy, b"VYUY"),
    (FourCc::Yu12, b"YU12"),
    (FourCc::Yv12, b"YV12"),
    (FourCc::Nv21, b"NV21"),
    (FourCc::Y16, b"Y16 "),
    (FourCc::Y10, b"Y10 "),
    (FourCc::Y12, b"Y12 "),
    (FourCc::Rgb565, b"RGBP"),
    (FourCc::Nv16, b"NV16"),
    (FourCc::Nv61, b"NV61"),
    (FourCc::Yuv422p, b"422P"),
    (FourCc::Nv24, b"NV24"),
    (FourCc::Nv42, b"NV42"),
];

/// Where red, green and blue lie in each pixel's four bytes of a 32-bit RGB format (V4L2's
/// packed RGB table); None for codes that are not one, and for the deprecated RGB4, whose byte
/// order drivers never agreed on.
pub fn rgb32_order(code: [u8; 4]) -> Option<[usize; 3]> {
    Some(match &code {
        b"XR24" | b"AR24" | b"BGR4" => [2, 1, 0],
        b"XB24" | b"AB24" => [0, 1, 2],
        b"RX24" | b"RA24" => [3, 2, 1],
        b"BX24" | b"BA24" => [1, 2, 3],
        _ => return None,
    })
}

/// The colour (0 red, 1 green, 2 blue) each pixel of a 2x2 Bayer cell sees (top left, top
/// right, bottom left, bottom right) for V4L2's 8-bit Bayer codes; None for other codes.
pub fn bayer_pattern(code: [u8; 4]) -> Option<[u8; 4]> {
    Some(match &code {
        b"BA81" => [2, 1, 1, 0],
        b"GBRG" => [1, 2, 0, 1],
        b"GRBG" => [1, 0, 2, 1],
        b"RGGB" => [0, 1, 1, 2],
        _ => return None,
    })
}

impl FourCc {
    /// The name v4l2-ctl shows (`MJPEG` for `MJPG`, as webcams' own tools call it).
    pub fn name(self) -> String {
        match self {
            FourCc::Mjpeg => "MJPEG".into(),
            // Bit 31 marks the big-endian twin of a format (v4l2_fourcc_be), as v4l2-ctl shows it.
            FourCc::Other([a, b, c, d]) if d & 0x80 != 0 => {
                format!("{}-BE", String::from_utf8_lossy(&[a, b, c, d & 0x7f]).trim_end())
            }
            f => String::from_utf8_lossy(&f.code()).trim_end().to_string(),
        }
    }

    /// Formats emojicam decodes: the six nokhwa can open (MJPEG, YUYV, NV12, GREY, RGB3,
    /// BGR3) and the raw ones captured straight from V4L2.
    pub fn is_decoded(self) -> bool {
        !matches!(self, FourCc::Other(_))
    }

    /// Grey (infrared) frames: chosen only where a camera offers no colour.
    pub fn is_grey(self) -> bool {
        matches!(self, FourCc::Gray | FourCc::Y16 | FourCc::Y10 | FourCc::Y12)
    }

    pub fn from_code(code: [u8; 4]) -> Self {
        if rgb32_order(code).is_some() {
            return FourCc::Rgb32(code);
        }
        if bayer_pattern(code).is_some() {
            return FourCc::Bayer(code);
        }
        CODES
            .iter()
            .find(|(_, c)| **c == code)
            .map_or(FourCc::Other(code), |(f, _)| *f)
    }

    pub fn code(self) -> [u8; 4] {
        match self {
            FourCc::Other(code) | FourCc::Rgb32(code) | FourCc::Bayer(code) => code,
            f => CODES.iter().find(|(g, _)| *g == f).map_or([0; 4], |(_, c)| **c),
        }
    }

    fn from_v4l(f: v4l::FourCC) -> Self {
        Self::from_code(f.repr)
    }

    fn to_v4l(self) -> v4l::FourCC {
        v4l::FourCC::new(&self.code())
    }

    fn to_nokhwa(self) -> Option<FrameFormat> {
        Some(match self {
            FourCc::Mjpeg => FrameFormat::MJPEG,
            FourCc::Yuyv => FrameFormat::YUYV,
            FourCc::Nv12 => FrameFormat::NV12,
            FourCc::Gray => FrameFormat::GRAY,
            FourCc::Rgb => FrameFormat::RAWRGB,
            FourCc::Bgr => FrameFormat::RAWBGR,
            _ => return None,
        })
    }
}

/// What VIDIOC_QUERYCAP says about a device node. Read with [`super::v4l2::query_caps`]
/// rather than the `v4l` crate's `query_caps`, which panics on names that are not UTF-8 (a
/// driver's 32-byte name cut in the middle of a character, a loopback device's label).
struct DeviceCaps {
    card: String,
    capture: bool,
    /// A metadata node (UVC cameras make one beside each video node).
    meta: bool,
    /// The driver, card and bus names are all UTF-8: nokhwa, which reads them with `v4l`,
    /// can open the device without panicking.
    text: bool,
}

fn query_caps(device: &v4l::Device) -> std::io::Result<DeviceCaps> {
    let caps = super::v4l2::query_caps(device.handle().fd())?;
    Ok(DeviceCaps {
        card: String::from_utf8_lossy(caps.card()).trim().to_string(),
        capture: caps.node_caps() & super::v4l2::CAP_VIDEO_CAPTURE != 0,
        meta: caps.node_caps() & super::v4l2::CAP_META_CAPTURE != 0,
        // `v4l` decodes each whole array, the bytes after the name included.
        text: [&caps.driver[..], &caps.card[..], &caps.bus_info[..]]
            .iter()
            .all(|b| std::str::from_utf8(b).is_ok()),
    })
}

/// One mode a camera offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatSpec {
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
    /// Frames per second rounded to a whole number: what `--fps` is compared with and what the
    /// camera library (nokhwa) is given.
    pub fps: u32,
    /// The true rate, from the driver's frame interval: 30000/1001 (29.97) for an NTSC capture
    /// card, 25/1 for its PAL input's 1000/25000 s.
    pub rate: Rate,
}

impl FormatSpec {
    /// A mode at a whole rate.
    pub fn new(fourcc: FourCc, width: u32, height: u32, fps: u32) -> Self {
        Self {
            fourcc,
            width,
            height,
            fps,
            rate: Rate::new(fps, 1),
        }
    }
}

impl std::fmt::Display for FormatSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}x{}@{}",
            self.fourcc.name(),
            self.width,
            self.height,
            rate_text(self.rate)
        )
    }
}

/// A rate as people read it: `25`, `29.97`, `12.5`.
pub fn rate_text(rate: Rate) -> String {
    if rate.den == 1 {
        return rate.num.to_string();
    }
    let text = format!("{:.2}", rate.fps());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraDescription {
    pub index: u32,
    pub name: String,
    pub formats: Vec<FormatSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CameraSelector {
    Index(u32),
    /// Case-insensitive substring of the camera's name.
    Name(String),
    /// The device node, `/dev/video2`, or a link to one (udev's stable
    /// `/dev/v4l/by-id/usb-...-video-index0`).
    Path(std::path::PathBuf),
}

impl CameraSelector {
    /// "0" or "2" selects by index, a path (starting with `/` or `.`) by its device node,
    /// anything else by name.
    pub fn parse(spec: &str) -> Self {
        let spec = spec.trim();
        if spec.is_empty() {
            CameraSelector::Index(0)
        } else if let Ok(index) = spec.parse::<u32>() {
            CameraSelector::Index(index)
        } else if spec.starts_with('/') || spec.starts_with('.') {
            CameraSelector::Path(spec.into())
        } else {
            CameraSelector::Name(spec.to_string())
        }
    }

    /// The device node this selects, where that is known without opening anything: `/dev/videoN`
    /// for an index, the node a path is or links to; None for a name.
    pub fn node(&self) -> Option<std::path::PathBuf> {
        match self {
            CameraSelector::Index(i) => Some(format!("/dev/video{i}").into()),
            // A link to a node not there (yet) still names it.
            CameraSelector::Path(p) => std::fs::canonicalize(p).ok().or_else(|| {
                let target = std::fs::read_link(p).ok()?;
                Some(p.parent().map_or(target.clone(), |dir| dir.join(&target)))
            }),
            CameraSelector::Name(_) => None,
        }
    }
}

/// The index N of the device node `path` is, or links to (`/dev/videoN`).
fn index_of_path(path: &std::path::Path) -> Result<u32> {
    let shown = path.display();
    let node = std::fs::canonicalize(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
            Error::camera(format!("no camera found at {shown}: {NO_CAMERA_HINT}"))
        }
        _ => Error::camera_caused(format!("cannot open {shown}: {e}"), e),
    })?;
    node.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("video"))
        .filter(|_| node.parent() == Some(std::path::Path::new("/dev")))
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| {
            Error::camera(format!(
                "{shown} is not a video device (/dev/videoN): give --camera a camera's number, name or /dev/videoN; see `emojicam cameras`"
            ))
        })
}

/// Lists cameras and their modes (sorted: format, then size, then rate). A machine without
/// cameras gives an empty list; a camera that cannot be opened is listed without modes.
/// The modes are read straight from V4L2 on a fresh file descriptor per device: some drivers
/// (v4l2loopback) describe their rates only once per opener.
pub fn list_cameras() -> Result<Vec<CameraDescription>> {
    let infos =
        nokhwa::query(ApiBackend::Auto).map_err(|e| Error::camera_caused(format!("cannot list cameras: {e}"), e))?;
    let mut out = Vec::new();
    for info in infos {
        let Ok(index) = info.index().as_index() else {
            continue;
        };
        let Ok(device) = v4l::Device::new(index as usize) else {
            out.push(CameraDescription {
                index,
                name: info.human_name(),
                formats: Vec::new(),
            });
            continue;
        };
        let Some(caps) = query_caps(&device).ok().filter(|c| c.capture) else {
            // An output-only node (a virtual camera nobody feeds yet, a codec's sink).
            continue;
        };
        out.push(CameraDescription {
            index,
            name: if caps.card.is_empty() {
                info.human_name()
            } else {
                caps.card
            },
            formats: modes(&device),
        });
    }
    out.sort_by_key(|c| c.index);
    Ok(out)
}

fn is_capture(device: &v4l::Device) -> bool {
    query_caps(device).is_ok_and(|c| c.capture)
}

/// Every mode the device offers, sorted (the formats emojicam decodes first) and without
/// repeats.
fn modes(device: &v4l::Device) -> Vec<FormatSpec> {
    let mut out = Vec::new();
    let current = device.format().ok();
    let current_rate = device.params().ok().and_then(|p| interval_rate(p.interval));
    for desc in device.enum_formats().unwrap_or_default() {
        let fourcc = FourCc::from_v4l(desc.fourcc);
        let mut sizes = Vec::new();
        for size in device.enum_framesizes(desc.fourcc).unwrap_or_default() {
            match size.size {
                FrameSizeEnum::Discrete(d) => sizes.push((d.width, d.height)),
                FrameSizeEnum::Stepwise(r) => sizes.extend(RANGE_SIZES.iter().copied().filter(|&(w, h)| {
                    (r.min_width..=r.max_width).contains(&w)
                        && (r.min_height..=r.max_height).contains(&h)
                        && (w - r.min_width) % r.step_width.max(1) == 0
                        && (h - r.min_height) % r.step_height.max(1) == 0
                })),
            }
        }
        if sizes.is_empty() {
            // A driver that lists no sizes still has the one it is set to.
            if let Some(f) = current.as_ref().filter(|f| f.fourcc == desc.fourcc) {
                sizes.push((f.width, f.height));
            }
        }
        for (width, height) in sizes {
            let mut rates = Vec::new();
            for iv in device
                .enum_frameintervals(desc.fourcc, width, height)
                .unwrap_or_default()
            {
                match iv.interval {
                    FrameIntervalEnum::Discrete(f) => rates.extend(interval_rate(f)),
                    FrameIntervalEnum::Stepwise(r) => {
                        // Intervals: the shortest interval is the highest rate.
                        let max = r.min.denominator as f64 / r.min.numerator.max(1) as f64;
                        let min = r.max.denominator as f64 / r.max.numerator.max(1) as f64;
                        rates.extend(
                            RANGE_RATES
                                .iter()
                                .copied()
                                .filter(|&f| (min..=max).contains(&(f as f64)))
                                .map(|f| (f, Rate::new(f, 1))),
                        );
                    }
                }
            }
            if rates.is_empty() {
                let is_current = current
                    .as_ref()
                    .is_some_and(|f| f.fourcc == desc.fourcc && f.width == width && f.height == height);
                rates.extend(current_rate.filter(|_| is_current));
            }
            out.extend(rates.into_iter().map(|(fps, rate)| FormatSpec {
                fourcc,
                width,
                height,
                fps,
                rate,
            }));
        }
    }
    out.sort_by(|a, b| {
        let key = |f: &FormatSpec| (f.fourcc, f.width as u64 * f.height as u64, f.width);
        key(a).cmp(&key(b)).then(rate_order(a.rate, b.rate))
    });
    out.dedup();
    out
}

/// Slower rates first (exactly: 30000/1001 before 30/1).
fn rate_order(a: Rate, b: Rate) -> std::cmp::Ordering {
    (a.num as u64 * b.den as u64).cmp(&(b.num as u64 * a.den as u64))
}

/// Frames per second of a frame interval, rounded to a whole number (what nokhwa sets; the
/// driver then picks its nearest interval, 30000/1001 for 30).
fn whole_fps(interval: v4l::Fraction) -> Option<u32> {
    let (num, den) = (interval.numerator, interval.denominator);
    (num > 0 && den > 0)
        .then(|| (den as f64 / num as f64).round() as u32)
        .filter(|&fps| fps > 0)
}

/// A frame interval (seconds per frame) as its whole rate and its true rate, in lowest terms:
/// 1000/25000 s is 25 and 25/1, 1001/30000 s (NTSC) is 30 and 30000/1001.
fn interval_rate(interval: v4l::Fraction) -> Option<(u32, Rate)> {
    let fps = whole_fps(interval)?;
    let (mut a, mut b) = (interval.numerator, interval.denominator);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    Some((fps, Rate::new(interval.denominator / a, interval.numerator / a)))
}

/// The modes grouped per format and size, one line each: `YUYV 320x180 @ 5, 15, 30 fps`.
pub fn describe_modes(formats: &[FormatSpec]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut last: Option<(FourCc, u32, u32)> = None;
    for f in formats {
        let key = (f.fourcc, f.width, f.height);
        if last == Some(key) {
            if let Some(line) = lines.last_mut() {
                line.push_str(&format!(", {}", rate_text(f.rate)));
            }
        } else {
            lines.push(format!(
                "{} {}x{} @ {}",
                f.fourcc.name(),
                f.width,
                f.height,
                rate_text(f.rate)
            ));
            last = Some(key);
        }
    }
    for line in &mut lines {
        line.push_str(" fps");
    }
    lines
}

/// Picks the mode nearest the wish, among the formats emojicam decodes: colour before grey (a
/// grey or infrared format only where the camera offers no colour); then the size closest to
/// `want_size` (default 1280x720) in pixel count, preferring not to go below it; then the
/// fps closest to `want_fps` (default 30), preferring more; then the cheapest format to take
/// (`fourcc_cost`); then the true rate nearest the wish (30/1 before 30000/1001 for 30).
pub fn choose_format(
    available: &[FormatSpec],
    want_size: Option<(u32, u32)>,
    want_fps: Option<u32>,
) -> Option<FormatSpec> {
    let (ww, wh) = want_size.unwrap_or((1280, 720));
    let want_px = ww as i64 * wh as i64;
    let want_fps = want_fps.unwrap_or(30) as i64;
    available
        .iter()
        .filter(|f| f.fourcc.is_decoded() && f.width > 0)
        .min_by_key(|f| {
            let px = f.width as i64 * f.height as i64;
            let exact = !(f.width == ww && f.height == wh);
            let size_cost = if px >= want_px {
                px - want_px
            } else {
                (want_px - px) * 4
            };
            let fps = f.fps as i64;
            let fps_cost = if fps >= want_fps {
                fps - want_fps
            } else {
                (want_fps - fps) * 4
            };
            let fourcc_cost = fourcc_cost(f.fourcc, px > 640 * 480);
            // At equal cost, the camera library's formats before those read straight from V4L2.
            let direct = f.fourcc.to_nokhwa().is_none();
            let true_cost = ((f.rate.fps() - want_fps as f64).abs() * 1e6) as i64;
            (
                f.fourcc.is_grey(),
                exact,
                size_cost,
                fps_cost,
                fourcc_cost,
                direct,
                true_cost,
            )
        })
        .copied()
}

/// What taking a format costs, lowest first: above 640x480 MJPEG (raw frames that size exceed
/// what USB 2 cameras carry at full rate; 4:2:0 carries half of 4:2:2's chroma), up to it the
/// raw Y'CbCr formats (integer repacks, no JPEG decode); RGB (4 bytes a pixel to the GPU) last.
fn fourcc_cost(fourcc: FourCc, big: bool) -> u8 {
    use FourCc::*;
    match (fourcc, big) {
        (Mjpeg, true) | (Yuyv | Uyvy | Yvyu | Vyuy | Nv12 | Nv21 | Yu12 | Yv12 | Gray | Y16 | Y10 | Y12, false) => 0,
        (Nv12 | Nv21 | Yu12 | Yv12 | Gray | Y16 | Y10 | Y12, true) | (Mjpeg, false) => 1,
        (Yuyv | Uyvy | Yvyu | Vyuy, true) | (Nv16 | Nv61 | Yuv422p, _) => 2,
        (Rgb | Bgr | Rgb565 | Rgb32(_) | Nv24 | Nv42, _) => 3,
        // Demosaiced here: only where a camera offers nothing else.
        (Bayer(_), _) => 4,
        (Other(_), _) => 5,
    }
}

/// What a webcam's YUYV means when its driver does not say: BT.601, limited range (V4L2's
/// default for the sRGB and SMPTE 170M colorspaces that UVC cameras report).
pub const CAMERA_YUV: Yuv = Yuv {
    matrix: Matrix::Bt601,
    full_range: false,
};

/// The Y'CbCr encoding a driver reports for the format it set, by V4L2's own defaults
/// (`V4L2_MAP_YCBCR_ENC_DEFAULT`, `V4L2_MAP_QUANTIZATION_DEFAULT`): the matrix follows the
/// colorspace (Rec. 709 and BT.2020 their own, SMPTE 240M its own, the rest BT.601), the range
/// is limited unless the driver says full or names the JPEG colorspace.
pub fn driver_yuv(format: &v4l::Format) -> Yuv {
    use v4l::format::{Colorspace as C, Quantization as Q};
    let matrix = match format.colorspace {
        C::Rec709 | C::DCIP3 => Matrix::Bt709,
        C::Rec2020 => Matrix::Bt2020,
        C::SMPTE240M => Matrix::Smpte240m,
        _ => Matrix::Bt601,
    };
    let full_range = match format.quantization {
        Q::FullRange => true,
        Q::LimitedRange => false,
        Q::Default => matches!(format.colorspace, C::JPEG),
    };
    Yuv { matrix, full_range }
}

/// Packed YUYV 4:2:2 (as cameras send it) as BT.601 limited-range I420 (see [`decode_yuyv_as`]).
pub fn decode_yuyv(bytes: &[u8], width: u32, height: u32) -> Result<Frame> {
    decode_yuyv_as(bytes, width, height, CAMERA_YUV)
}

/// Packed YUYV 4:2:2 to I420 planes (luma copied, chroma averaged over row pairs) that the
/// tiler converts to RGB with `yuv`: no colour maths on the capture thread.
pub fn decode_yuyv_as(bytes: &[u8], width: u32, height: u32, yuv: Yuv) -> Result<Frame> {
    decode_raw(FourCc::Yuyv, bytes, width, height, 0, yuv)
}

/// Bytes a raw frame needs: its rows `stride` bytes apart (`stride` 0: the format's own packed
/// rows), the last row's padding not required. None for MJPEG and formats not decoded.
pub fn raw_frame_len(fourcc: FourCc, width: u32, height: u32, stride: u32) -> Option<(usize, usize)> {
    use crate::yuv::{nv12_len, planar420_len, planar422_len, rows_len, semiplanar_len};
    use FourCc::*;
    let (w, h) = (width as usize, height as usize);
    let row = match fourcc {
        Yuyv | Uyvy | Yvyu | Vyuy => w.div_ceil(2) * 4,
        Nv12 | Nv21 | Yu12 | Yv12 | Gray | Nv16 | Nv61 | Yuv422p | Nv24 | Nv42 | Bayer(_) => w,
        Y16 | Y10 | Y12 | Rgb565 => w * 2,
        Rgb | Bgr => w * 3,
        Rgb32(_) => w * 4,
        Mjpeg | Other(_) => return None,
    };
    let stride = (stride as usize).max(row);
    let len = match fourcc {
        Nv12 | Nv21 => nv12_len(stride, w, h),
        Yu12 | Yv12 => planar420_len(stride, w, h),
        Nv16 | Nv61 => semiplanar_len(stride, w, h, false),
        Nv24 | Nv42 => semiplanar_len(stride, w, h, true),
        Yuv422p => planar422_len(stride, w, h),
        _ => rows_len(stride, row, h),
    };
    Some((stride, len))
}

/// One raw frame as the driver delivers it (rows `stride` bytes apart; 0: packed) to a frame
/// for the tiler, with integer copies only on the capture thread: the Y'CbCr formats repacked
/// to I420 in the encoding `yuv` (what the driver reports), GREY and Y10/Y12/Y16 to I420 with neutral
/// chroma, RGB formats to RGBA. A frame shorter than its format needs (cut short) is an error.
pub fn decode_raw(fourcc: FourCc, bytes: &[u8], width: u32, height: u32, stride: u32, yuv: Yuv) -> Result<Frame> {
    use crate::yuv as conv;
    let name = fourcc.name();
    let (stride, need) = raw_frame_len(fourcc, width, height, stride)
        .ok_or_else(|| Error::camera(format!("{name} frames are not raw frames emojicam decodes")))?;
    if width == 0 || height == 0 || bytes.len() < need {
        return Err(Error::camera(format!(
            "{name} frame of {} bytes is too short for {width}x{height} (needs {need})",
            bytes.len()
        )));
    }
    let (w, h) = (width as usize, height as usize);
    if matches!(
        fourcc,
        FourCc::Rgb | FourCc::Bgr | FourCc::Rgb565 | FourCc::Rgb32(_) | FourCc::Bayer(_)
    ) {
        let mut rgba = vec![0u8; w * h * 4];
        match fourcc {
            FourCc::Bayer(code) => {
                let cells = bayer_pattern(code).ok_or_else(|| Error::camera(format!("{name} is not 8-bit Bayer")))?;
                conv::bayer_to_rgba(bytes, stride, w, h, cells, &mut rgba);
            }
            FourCc::Rgb565 => conv::rgb565_to_rgba(bytes, stride, w, h, &mut rgba),
            FourCc::Rgb32(code) => {
                let order = rgb32_order(code).ok_or_else(|| Error::camera(format!("{name} is not 32-bit RGB")))?;
                conv::packed_rgb_to_rgba::<4>(bytes, stride, w, h, order, &mut rgba);
            }
            FourCc::Bgr => conv::packed_rgb_to_rgba::<3>(bytes, stride, w, h, [2, 1, 0], &mut rgba),
            _ => conv::packed_rgb_to_rgba::<3>(bytes, stride, w, h, [0, 1, 2], &mut rgba),
        }
        return Ok(Frame::new(width, height, rgba));
    }
    let mut planes = vec![0u8; frame_bytes(PixelFormat::I420(yuv), width, height)];
    match fourcc {
        FourCc::Yuyv => conv::packed422_to_i420(bytes, stride, w, h, conv::Packed422::YUYV, &mut planes),
        FourCc::Uyvy => conv::packed422_to_i420(bytes, stride, w, h, conv::Packed422::UYVY, &mut planes),
        FourCc::Yvyu => conv::packed422_to_i420(bytes, stride, w, h, conv::Packed422::YVYU, &mut planes),
        FourCc::Vyuy => conv::packed422_to_i420(bytes, stride, w, h, conv::Packed422::VYUY, &mut planes),
        FourCc::Nv12 | FourCc::Nv21 => conv::nv12_to_i420(bytes, stride, w, h, fourcc == FourCc::Nv21, &mut planes),
        FourCc::Yu12 | FourCc::Yv12 => {
            conv::planar420_to_i420(bytes, stride, w, h, fourcc == FourCc::Yv12, &mut planes)
        }
        FourCc::Nv16 | FourCc::Nv61 => {
            conv::semiplanar_to_i420(bytes, stride, w, h, false, fourcc == FourCc::Nv61, &mut planes)
        }
        FourCc::Nv24 | FourCc::Nv42 => {
            conv::semiplanar_to_i420(bytes, stride, w, h, true, fourcc == FourCc::Nv42, &mut planes)
        }
        FourCc::Yuv422p => conv::planar422_to_i420(bytes, stride, w, h, &mut planes),
        FourCc::Y16 => conv::grey16_to_i420(bytes, stride, w, h, 16, &mut planes),
        FourCc::Y10 => conv::grey16_to_i420(bytes, stride, w, h, 10, &mut planes),
        FourCc::Y12 => conv::grey16_to_i420(bytes, stride, w, h, 12, &mut planes),
        _ => conv::grey_to_i420(bytes, stride, w, h, &mut planes),
    }
    Ok(Frame::i420(width, height, planes, yuv))
}

/// A JPEG whose end (the EOI marker, FF D9) is missing was cut short: a torn frame (a USB
/// glitch, a feeder stopped mid-write). Decoders would fill in the missing part and show it, so
/// it is refused instead. Zero bytes after the end (padding some cameras send) are allowed.
pub fn check_jpeg_whole(bytes: &[u8]) -> Result<()> {
    let bad = |why: &str| Err(Error::camera(format!("bad MJPEG frame: {why}")));
    if bytes.len() < 4 || bytes[..2] != [0xff, 0xd8] {
        return bad("not a JPEG image");
    }
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if bytes[end.saturating_sub(16)..end].windows(2).any(|w| w == [0xff, 0xd9]) {
        Ok(())
    } else {
        bad("cut short (no end of image): a torn frame")
    }
}

/// One MJPEG frame (a JPEG image) to RGBA, where GStreamer's jpegdec ([`MjpegDecoder`]) is
/// missing. Decoding to Y'CbCr with this decoder (zune-jpeg) and repacking to I420 measured
/// slower than this (1280x720: 2.9 vs 2.4 ms of CPU a frame).
pub fn decode_mjpeg(bytes: &[u8]) -> Result<Frame> {
    check_jpeg_whole(bytes)?;
    let bytes = super::jpeg::with_huffman_tables(bytes);
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(|e| Error::camera_caused(format!("bad MJPEG frame: {e}"), e))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::camera("empty MJPEG frame"));
    }
    let rgba = img.into_rgba8();
    Ok(Frame::new(rgba.width(), rgba.height(), rgba.into_raw()))
}

/// How long one JPEG may take to come out of jpegdec before it counts as not decoded (a
/// 1080p frame takes a few ms; this only bounds a decoder that swallowed the frame silently).
const JPEGDEC_WAIT: Duration = Duration::from_secs(2);

/// MJPEG frames decoded by GStreamer's jpegdec (libjpeg-turbo) straight to I420 planes, with
/// no RGB conversion on the CPU: 0.53-0.73x the CPU time of decoding to RGBA with the `image`
/// crate (640x480 to 1920x1080; tests/camera_frames.rs `timings`, docs/PERFORMANCE.md). The
/// frame goes in through an appsrc and comes out of an appsink on the grab thread; a frame
/// jpegdec rejects (it says so on the bus and drops it) is an error, which the grab loop
/// counts as a skipped frame.
pub struct MjpegDecoder(crate::media::MemoryDecoder);

impl MjpegDecoder {
    /// None when GStreamer or its jpegdec (gstreamer1.0-plugins-good) is missing.
    pub fn new() -> Option<Self> {
        use gstreamer::prelude::*;
        let configure = |jpegdec: &gstreamer::Element| {
            // libjpeg's accurate integer IDCT, as the `image` crate's decoder: the default fast one
            // darkens red and blue by about a level.
            if jpegdec.find_property("idct-method").is_some() {
                jpegdec.set_property_from_str("idct-method", "islow");
            }
            // A bad frame is reported and dropped, never the end of the stream.
            if jpegdec.find_property("max-errors").is_some() {
                jpegdec.set_property("max-errors", -1i32);
            }
        };
        crate::media::MemoryDecoder::new("image/jpeg", "jpegdec", configure, gstreamer_video::VideoFormat::I420)
            .map(Self)
    }

    /// One JPEG to an I420 frame, in the encoding its caps give (JFIF: BT.601, full range).
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Frame> {
        use gstreamer::prelude::*;
        use gstreamer::MessageView;
        let bad = |why: String| Error::camera(format!("bad MJPEG frame: {why}"));
        check_jpeg_whole(bytes)?;
        // Anything left from an earlier frame (a warning about a frame that still came out, a
        // picture that came after its frame was given up on) must not be taken for this one's.
        while self.0.bus.pop().is_some() {}
        while self.0.sink.try_pull_sample(gstreamer::ClockTime::ZERO).is_some() {}
        self.0
            .src
            .push_buffer(gstreamer::Buffer::from_slice(bytes.to_vec()))
            .map_err(|e| bad(format!("the decoder refused it ({e:?})")))?;
        let started = Instant::now();
        loop {
            if let Some(sample) = self.0.sink.try_pull_sample(gstreamer::ClockTime::from_mseconds(5)) {
                return i420_sample(&sample).ok_or_else(|| bad("the decoder gave an unreadable frame".into()));
            }
            while let Some(msg) = self.0.bus.pop() {
                match msg.view() {
                    MessageView::Warning(w) => return Err(bad(w.error().to_string())),
                    MessageView::Error(e) => {
                        // The pipeline stopped: start it again for the next frame.
                        let _ = self.0.pipeline.set_state(gstreamer::State::Null);
                        let _ = self.0.pipeline.set_state(gstreamer::State::Playing);
                        return Err(bad(e.error().to_string()));
                    }
                    _ => {}
                }
            }
            if started.elapsed() > JPEGDEC_WAIT {
                return Err(bad("the decoder gave no picture for it".into()));
            }
        }
    }
}

/// A decoded I420 sample as a frame with packed rows, in the encoding its caps give.
fn i420_sample(sample: &gstreamer::Sample) -> Option<Frame> {
    let info = gstreamer_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let frame = gstreamer_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer()?, &info).ok()?;
    if info.width() == 0 || info.height() == 0 {
        return None;
    }
    super::video::i420_frame(&info, &frame).ok()
}

/// A live camera. nokhwa's `Camera` stays on a grab thread of its own, created by
/// [`CameraSource::open`]; this handle only holds channels, so it is `Send` and cheap to move.
/// Each `next_frame` asks that thread for one frame and waits for it, exactly as a direct
/// `Camera::frame()` call would, but at most `STALL`.
pub struct CameraSource {
    info: StreamInfo,
    /// "camera 0 (/dev/video0, vivid)", for errors.
    label: String,
    requests: Option<Sender<()>>,
    frames: Receiver<(Result<Frame>, Instant)>,
    arrived: Option<Instant>,
}

impl CameraSource {
    /// Opens the camera (on its grab thread), picks the mode nearest `size`/`fps` with
    /// [`choose_format`], starts streaming, and reports the chosen mode in
    /// `info().description` (saying so when it is not the size or rate asked for).
    pub fn open(selector: CameraSelector, size: Option<(u32, u32)>, fps: Option<u32>) -> Result<Self> {
        let (init_tx, init_rx) = bounded::<Result<(StreamInfo, String)>>(1);
        let (req_tx, req_rx) = bounded::<()>(1);
        let (frame_tx, frame_rx) = bounded::<(Result<Frame>, Instant)>(1);
        std::thread::Builder::new()
            .name("camera-grab".into())
            .spawn(move || {
                let mut started = match start_camera(&selector, size, fps) {
                    Ok(started) => started,
                    Err(e) => {
                        let _ = init_tx.send(Err(e));
                        return;
                    }
                };
                if init_tx.send(Ok((started.info.clone(), started.label.clone()))).is_err() {
                    return;
                }
                let (mut streaming, mut skipped) = (false, 0);
                while req_rx.recv().is_ok() {
                    let grabbed = grab(&mut started, streaming, &mut skipped);
                    streaming = true;
                    if frame_tx.send(grabbed).is_err() {
                        break;
                    }
                }
                started.camera.stop();
            })
            .map_err(|e| Error::camera_caused(format!("cannot start the camera's grab thread: {e}"), e))?;
        let (info, label) = init_rx
            .recv()
            .map_err(|_| Error::camera("the camera's grab thread stopped while opening the camera"))??;
        Ok(Self {
            info,
            label,
            requests: Some(req_tx),
            frames: frame_rx,
            arrived: None,
        })
    }
}

/// "MJPEG, YUYV, ..., RGBP or 32-bit RGB": the formats emojicam takes, for errors.
fn decoded_names() -> String {
    let names: Vec<String> = CODES.iter().map(|(f, _)| f.name()).collect();
    format!("{} or 32-bit RGB", names.join(", "))
}

/// "camera 0 (/dev/video0, vivid)": how errors name a camera.
fn label(index: u32, name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => format!("camera {index} (/dev/video{index}, {n})"),
        _ => format!("camera {index} (/dev/video{index})"),
    }
}

fn is_busy(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EBUSY)
}

fn busy(label: &str) -> Error {
    Error::camera(format!(
        "{label} is busy: another program is using it; close that program or choose another camera with --camera"
    ))
}

/// Why a camera could not be opened, and what to do about it.
fn open_error(index: u32, e: &std::io::Error) -> Error {
    let label = label(index, None);
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => {
            Error::camera(format!("no camera found at /dev/video{index}: {NO_CAMERA_HINT}"))
        }
        Some(libc::EACCES) | Some(libc::EPERM) => Error::camera(format!(
            "{label}: permission denied: add your user to the video group (sudo usermod -aG video $USER, then log in again)"
        )),
        Some(libc::EBUSY) => busy(&label),
        _ => Error::camera_caused(
            format!("{label}: cannot open: {e}"),
            std::io::Error::new(e.kind(), e.to_string()),
        ),
    }
}

/// The modes for an error message: those emojicam decodes, or all of them if there are none
/// (vivid alone offers dozens of formats).
fn offered(available: &[FormatSpec]) -> String {
    let decoded: Vec<FormatSpec> = available.iter().copied().filter(|f| f.fourcc.is_decoded()).collect();
    let lines = describe_modes(if decoded.is_empty() { available } else { &decoded });
    if lines.is_empty() {
        "no modes".into()
    } else {
        lines.join("; ")
    }
}

/// The modes to offer instead of `rejected` (its format and size left out): the other sizes
/// of its format, then the names of the other formats emojicam decodes (vivid offers a dozen,
/// each at every size: one line must stay readable).
fn others(available: &[FormatSpec], rejected: FormatSpec) -> String {
    let rest: Vec<FormatSpec> = available
        .iter()
        .copied()
        .filter(|f| (f.fourcc, f.width, f.height) != (rejected.fourcc, rejected.width, rejected.height))
        .collect();
    let (same, other): (Vec<FormatSpec>, Vec<FormatSpec>) = rest.iter().partition(|f| f.fourcc == rejected.fourcc);
    let mut names: Vec<String> = other
        .iter()
        .filter(|f| f.fourcc.is_decoded())
        .map(|f| f.fourcc.name())
        .collect();
    names.dedup();
    match (same.is_empty(), names.is_empty()) {
        (true, true) if rest.is_empty() => "it offers no other mode".into(),
        (true, true) => format!("it also offers: {}", offered(&rest)),
        (false, true) => format!("it also offers: {}", offered(&same)),
        (true, false) => format!("it also offers {}: see `emojicam cameras`", names.join(", ")),
        (false, false) => format!(
            "it also offers: {}; and {}: see `emojicam cameras`",
            offered(&same),
            names.join(", ")
        ),
    }
}

fn find_by_name(name: &str) -> Result<u32> {
    let infos = nokhwa::query(ApiBackend::Auto).unwrap_or_default();
    let lower = name.to_lowercase();
    // Only capture devices: a virtual camera's output side may share the name.
    let capture = |i: &nokhwa::utils::CameraInfo| {
        i.index()
            .as_index()
            .ok()
            .filter(|&n| v4l::Device::new(n as usize).is_ok_and(|d| is_capture(&d)))
    };
    if let Some(i) = infos
        .iter()
        .filter(|i| i.human_name().to_lowercase().contains(&lower))
        .find_map(capture)
    {
        return Ok(i);
    }
    let names: Vec<String> = infos
        .iter()
        .filter(|i| capture(i).is_some())
        .map(|i| i.human_name())
        .collect();
    if names.is_empty() {
        return Err(Error::camera(format!("no camera found: {NO_CAMERA_HINT}")));
    }
    Err(Error::camera(format!(
        "no camera named '{name}' (found: {}): see `emojicam cameras`",
        names.join(", ")
    )))
}

/// Where frames come from: nokhwa for the six formats it can name; the other raw formats
/// straight from the driver's memory-mapped buffers (the same V4L2 calls nokhwa's own layer
/// makes, through the same `v4l` crate), which nokhwa cannot be asked for.
enum Grabber {
    Nokhwa(Box<Camera>),
    Direct(v4l::io::mmap::Stream<'static>),
}

/// Why a read off the device gave no frame: one the driver marked damaged (skipped), or the
/// device failing (the error to report).
enum ReadError {
    Damaged(String),
    Failed(Error),
}

impl Grabber {
    /// The next frame's bytes (those the driver filled). The first read starts streaming: a
    /// failure there is a refusal to stream, later ones a lost camera.
    fn read(
        &mut self,
        label: &str,
        format: &FormatSpec,
        streaming: bool,
    ) -> std::result::Result<Cow<'_, [u8]>, ReadError> {
        fn failed(
            label: &str,
            format: &FormatSpec,
            streaming: bool,
            e: impl std::error::Error + Send + Sync + 'static,
        ) -> ReadError {
            ReadError::Failed(if streaming {
                Error::camera_caused(format!("{label} was lost: {e}"), e)
            } else {
                Error::camera_caused(format!("{label}: cannot start streaming {format}: {e}"), e)
            })
        }
        match self {
            // The driver's buffer itself (`frame` would copy it into a `Buffer` first).
            Grabber::Nokhwa(camera) => match camera.frame_raw() {
                Ok(bytes) => Ok(bytes),
                // A buffer the driver flagged as damaged (vendor/nokhwa-bindings-linux says so).
                Err(e) if e.to_string().contains("V4L2_BUF_FLAG_ERROR") => Err(ReadError::Damaged(e.to_string())),
                Err(e) => Err(failed(label, format, streaming, e)),
            },
            Grabber::Direct(stream) => {
                use v4l::io::traits::CaptureStream as _;
                match stream.next() {
                    Ok((_, meta)) if meta.flags.contains(v4l::buffer::Flags::ERROR) => Err(ReadError::Damaged(
                        "the driver marked the frame damaged (V4L2_BUF_FLAG_ERROR)".into(),
                    )),
                    // Only the bytes the driver filled: a frame cut short must not look whole.
                    Ok((data, meta)) => {
                        let used = meta.bytesused as usize;
                        Ok(Cow::Borrowed(if used > 0 && used <= data.len() {
                            &data[..used]
                        } else {
                            data
                        }))
                    }
                    Err(e) => Err(failed(label, format, streaming, e)),
                }
            }
        }
    }

    fn stop(&mut self) {
        match self {
            Grabber::Nokhwa(camera) => {
                let _ = camera.stop_stream();
            }
            // Dropping the stream stops it (VIDIOC_STREAMOFF) and frees its buffers.
            Grabber::Direct(_) => {}
        }
    }
}

/// A camera streaming in the mode chosen for it.
struct Started {
    camera: Grabber,
    format: FormatSpec,
    /// Bytes from one row to the next, and of a whole frame, as the driver set them.
    stride: u32,
    frame_size: u32,
    /// What the driver says its Y'CbCr means.
    yuv: Yuv,
    /// jpegdec for an MJPEG camera; None for raw formats, or where GStreamer lacks it (then the
    /// `image` crate decodes to RGBA).
    mjpeg: Option<MjpegDecoder>,
    info: StreamInfo,
    label: String,
}

/// Opens the camera and sets the chosen mode with V4L2 directly, then hands the device to
/// nokhwa already in that mode. nokhwa reads the device's current format before it changes
/// anything and gives up on formats it does not know (a camera left in another program's
/// mode), so it must find the device in a mode it knows.
fn start_camera(selector: &CameraSelector, size: Option<(u32, u32)>, fps: Option<u32>) -> Result<Started> {
    let index = match selector {
        CameraSelector::Index(i) => *i,
        CameraSelector::Name(name) => find_by_name(name)?,
        CameraSelector::Path(path) => index_of_path(path)?,
    };
    let device = v4l::Device::new(index as usize).map_err(|e| open_error(index, &e))?;
    let caps = query_caps(&device).map_err(|e| open_error(index, &e))?;
    let name = caps.card.clone();
    let label = label(index, Some(&name));
    if !caps.capture {
        return Err(not_a_camera(&label, caps.meta));
    }
    if !caps.text {
        return Err(Error::camera(format!(
            "{label}: its driver reports a name that is not UTF-8 text, which the camera library (nokhwa) cannot open; choose another camera with --camera, or rename this one (v4l2loopback: card_label)"
        )));
    }
    let available = modes(&device);
    if available.is_empty() {
        return Err(Error::camera(format!(
            "{label} lists no modes: nothing feeds it yet (a virtual camera?), or its driver does not say what it sends; see `emojicam cameras`"
        )));
    }
    let format = choose_format(&available, size, fps).ok_or_else(|| {
        Error::camera(format!(
            "{label} offers no mode emojicam decodes ({}; it offers: {})",
            decoded_names(),
            offered(&available)
        ))
    })?;
    // What the camera delivers: the driver keeps its nearest frame interval, a capture card
    // its input's, whatever rate is asked.
    let (rate, set) = set_mode(&device, format, &label, &available)?;
    let format = FormatSpec {
        fps: (rate.fps().round() as u32).max(1),
        rate,
        ..format
    };
    let camera = match format.fourcc.to_nokhwa() {
        Some(frame_format) => {
            drop(device);
            Grabber::Nokhwa(Box::new(open_nokhwa(index, format, frame_format, &label)?))
        }
        None => {
            let stream =
                v4l::io::mmap::Stream::with_buffers(&device, v4l::buffer::Type::VideoCapture, 4).map_err(|e| {
                    if is_busy(&e) {
                        busy(&label)
                    } else {
                        Error::camera_caused(format!("{label}: cannot start streaming {format}: {e}"), e)
                    }
                })?;
            Grabber::Direct(stream)
        }
    };
    let info = StreamInfo {
        kind: StreamKind::Camera,
        width: format.width,
        height: format.height,
        rate: Some(format.rate),
        frames: None,
        description: describe(index, &name, format, size, fps),
    };
    let mjpeg = (format.fourcc == FourCc::Mjpeg)
        .then(|| mjpeg_decoder(&label))
        .flatten();
    Ok(Started {
        camera,
        format,
        stride: set.stride,
        frame_size: set.size,
        yuv: driver_yuv(&set),
        mjpeg,
        info,
        label,
    })
}

/// nokhwa's camera in the mode already set, streaming.
fn open_nokhwa(index: u32, format: FormatSpec, frame_format: FrameFormat, label: &str) -> Result<Camera> {
    // Only the format chosen: nokhwa's RGBA decoder list leaves GREY out.
    let requested = RequestedFormatType::Exact(CameraFormat::new_from(
        format.width,
        format.height,
        frame_format,
        format.fps,
    ));
    let mut camera = Camera::new(
        CameraIndex::Index(index),
        RequestedFormat::with_formats(requested, &[frame_format]),
    )
    .map_err(|e| nokhwa_error(label, &format!("cannot use {format}"), &e))?;
    camera
        .open_stream()
        .map_err(|e| nokhwa_error(label, "cannot start streaming", &e))?;
    Ok(camera)
}

/// "camera 0 (vivid): YUYV 320x180@15", and where that is not the size or rate asked for, ", the
/// nearest mode to 330x190@14".
fn describe(index: u32, name: &str, format: FormatSpec, size: Option<(u32, u32)>, fps: Option<u32>) -> String {
    let mut description = format!("camera {index} ({name}): {format}");
    let size_differs = size.is_some_and(|(w, h)| (w, h) != (format.width, format.height));
    let fps_differs = fps.is_some_and(|f| f != format.fps);
    if size_differs || fps_differs {
        let want_size = size.map_or(String::new(), |(w, h)| format!("{w}x{h}"));
        let want_fps = fps.map_or(String::new(), |f| format!("@{f}"));
        description.push_str(&format!(", the nearest mode to {want_size}{want_fps}"));
    }
    description
}

/// GStreamer's jpegdec, or None after saying (unless -q) that it is missing and which package
/// gives it: the built-in decoder then takes the camera's MJPEG frames, at about twice the CPU.
pub fn mjpeg_decoder(label: &str) -> Option<MjpegDecoder> {
    let decoder = MjpegDecoder::new();
    if decoder.is_none() {
        crate::note!(
            "emojicam: {label}: GStreamer's jpegdec is missing (install gstreamer1.0-plugins-good): MJPEG frames are decoded by a slower built-in decoder"
        );
    }
    decoder
}

/// A node that gives no video: a UVC camera's second node (metadata only), or an output-only
/// one (a virtual camera nobody feeds yet).
fn not_a_camera(label: &str, meta: bool) -> Error {
    if meta {
        Error::camera(format!(
            "{label} is not a camera: it gives metadata, not pictures (a UVC camera's second node); use the node `emojicam cameras` lists for it"
        ))
    } else {
        Error::camera(format!(
            "{label} is not a camera (it takes video instead of giving it: a virtual camera nobody feeds yet?)"
        ))
    }
}

/// nokhwa reports errors as text; its V4L2 calls fail with the OS error's message inside.
fn nokhwa_error(label: &str, what: &str, e: &nokhwa::NokhwaError) -> Error {
    let text = e.to_string();
    if text.contains("Device or resource busy") {
        busy(label)
    } else if text.contains("Permission denied") {
        Error::camera(format!(
            "{label}: permission denied: add your user to the video group (sudo usermod -aG video $USER, then log in again)"
        ))
    } else {
        Error::camera_caused(format!("{label}: {what}: {text}"), e.clone())
    }
}

/// Sets `format` on the device, or says why it refused (busy, or another mode set: a driver
/// may list a size range wider than its current input allows, a capture card's scaler).
/// Returns the rate the device then delivers (its frame interval's), which may not be the one
/// asked for, and the format it set (its row stride; its Y'CbCr encoding, [`driver_yuv`]).
fn set_mode(
    device: &v4l::Device,
    format: FormatSpec,
    label: &str,
    available: &[FormatSpec],
) -> Result<(Rate, v4l::Format)> {
    let rejected = |why: String| {
        Error::camera(format!(
            "{label} rejected {format} ({why}): choose another mode with --size and --fps; {}",
            others(available, format)
        ))
    };
    let set = device
        .set_format(&v4l::Format::new(format.width, format.height, format.fourcc.to_v4l()))
        .map_err(|e| {
            if is_busy(&e) {
                busy(label)
            } else {
                rejected(e.to_string())
            }
        })?;
    if (set.width, set.height, set.fourcc) != (format.width, format.height, format.fourcc.to_v4l()) {
        let fourcc = FourCc::from_v4l(set.fourcc).name();
        return Err(rejected(format!(
            "it set {fourcc} {}x{} instead",
            set.width, set.height
        )));
    }
    // Rates are a wish: a driver that keeps another rate (a capture card's PAL input stays at
    // 1000/25000 s, NTSC at 1001/30000 s) still delivers frames, at the rate it reports. The
    // vendored nokhwa layer (vendor/nokhwa-bindings-linux) opens such cameras.
    let _ = device.set_params(&v4l::video::capture::Parameters::with_fps(format.fps));
    let rate = device
        .params()
        .ok()
        .and_then(|p| interval_rate(p.interval))
        .map_or(format.rate, |(_, rate)| rate);
    Ok((rate, set))
}

/// One frame and the moment it came off the driver (before decoding). The first one starts
/// streaming (nokhwa's stream calls VIDIOC_STREAMON then): a driver that refuses to stream says
/// so there, and that is not a lost camera. A frame that does not decode (the driver marked it
/// damaged; a torn MJPEG frame: a USB glitch, a loopback webcam's feeder stopped mid-write; a
/// raw frame cut short: the vendored nokhwa layer gives the bytes the driver filled) is
/// skipped, the first one said on stderr; only `BAD_FRAMES` in a row stop the run.
fn grab(started: &mut Started, streaming: bool, skipped: &mut u64) -> (Result<Frame>, Instant) {
    let Started {
        camera,
        format,
        stride,
        frame_size,
        yuv,
        mjpeg,
        label,
        ..
    } = started;
    let mut bad = 0;
    loop {
        let read = camera.read(label, format, streaming);
        let arrived = Instant::now();
        let frame = match read {
            Ok(bytes) => decode(&bytes, format, *stride, *frame_size, *yuv, mjpeg),
            Err(ReadError::Damaged(why)) => Err(Error::camera(why)),
            Err(ReadError::Failed(e)) => return (Err(e), arrived),
        };
        match frame {
            Err(e) if bad + 1 < BAD_FRAMES => {
                bad += 1;
                *skipped += 1;
                if *skipped == 1 {
                    crate::say!("emojicam: {label}: skipped a frame that does not decode ({e})");
                }
            }
            Err(e) => {
                let e = Error::camera_caused(format!("{label}: {BAD_FRAMES} frames in a row do not decode: {e}"), e);
                return (Err(e), arrived);
            }
            Ok(frame) => return (Ok(frame), arrived),
        }
    }
}

/// One frame's bytes (those the driver filled) as a frame, by the camera's format.
fn decode(
    bytes: &[u8],
    format: &FormatSpec,
    stride: u32,
    frame_size: u32,
    yuv: Yuv,
    mjpeg: &mut Option<MjpegDecoder>,
) -> Result<Frame> {
    if format.fourcc == FourCc::Mjpeg {
        match mjpeg {
            Some(decoder) => decoder.decode(bytes),
            None => decode_mjpeg(bytes),
        }
        .and_then(|f| same_size(f, format))
    } else if frame_size > 0 && bytes.len() > frame_size as usize {
        Err(changed(
            format,
            &format!("a frame of {} bytes, not {frame_size}", bytes.len()),
        ))
    } else {
        decode_raw(format.fourcc, bytes, format.width, format.height, stride, yuv)
    }
}

/// A camera that changed its format on its own (a capture card whose input changed) sends frames
/// that are not what was set: each is refused (five in a row stop the run with one line)
/// rather than shown at a size the pipeline was not made for, or read with the wrong layout.
fn changed(format: &FormatSpec, what: &str) -> Error {
    Error::camera(format!(
        "the camera changed its format on its own ({what}; {format} was set): start emojicam again"
    ))
}

/// `frame`, if it has the size set.
fn same_size(frame: Frame, format: &FormatSpec) -> Result<Frame> {
    if (frame.width, frame.height) == (format.width, format.height) {
        Ok(frame)
    } else {
        Err(changed(format, &format!("a {}x{} picture", frame.width, frame.height)))
    }
}

impl Source for CameraSource {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let camera = &self.label;
        let lost = || Error::camera(format!("{camera} was lost: its grab thread stopped"));
        let requests = self.requests.as_ref().ok_or_else(lost)?;
        requests.send(()).map_err(|_| lost())?;
        match self.frames.recv_timeout(STALL) {
            Ok((frame, arrived)) => {
                self.arrived = Some(arrived);
                frame.map(Some)
            }
            Err(RecvTimeoutError::Timeout) => Err(Error::camera(format!(
                "{camera} was lost: no frame for {} s",
                STALL.as_secs()
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(lost()),
        }
    }

    fn arrived(&self) -> Option<Instant> {
        self.arrived
    }
}

impl Drop for CameraSource {
    /// Closing the request channel ends the grab thread after its current frame; it is not
    /// joined, so a camera stuck in the driver cannot hang shutdown.
    fn drop(&mut self) {
        self.requests.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yuyv(width: u32, height: u32, fps: u32) -> FormatSpec {
        FormatSpec::new(FourCc::Yuyv, width, height, fps)
    }

    #[test]
    fn nearest_mode_for_a_size_and_rate_the_camera_lacks() {
        // vivid's webcam modes at its two smallest sizes.
        let modes: Vec<FormatSpec> = [(320, 180), (640, 360)]
            .into_iter()
            .flat_map(|(w, h)| [5, 15, 25, 30].map(|f| yuyv(w, h, f)))
            .collect();
        assert_eq!(
            choose_format(&modes, Some((330, 190)), Some(14)),
            Some(yuyv(320, 180, 15))
        );
        assert_eq!(choose_format(&modes, Some((320, 180)), None), Some(yuyv(320, 180, 30)));
    }

    #[test]
    fn modes_are_described_one_line_per_format_and_size() {
        let mjpeg = FormatSpec::new(FourCc::Mjpeg, 320, 180, 30);
        let lines = describe_modes(&[mjpeg, yuyv(320, 180, 5), yuyv(320, 180, 30), yuyv(640, 360, 10)]);
        assert_eq!(
            lines,
            [
                "MJPEG 320x180 @ 30 fps",
                "YUYV 320x180 @ 5, 30 fps",
                "YUYV 640x360 @ 10 fps"
            ]
        );
        assert!(describe_modes(&[]).is_empty());
    }

    #[test]
    fn other_formats_are_named_and_offered_only_when_nothing_else_is() {
        let yuv9 = FourCc::from_v4l(v4l::FourCC::new(b"YUV9"));
        assert_eq!((yuv9, yuv9.name()), (FourCc::Other(*b"YUV9"), "YUV9".to_string()));
        assert_eq!(FourCc::from_code(*b"Y16 ").name(), "Y16");
        assert_eq!(FourCc::Gray.name(), "GREY");
        assert_eq!(FourCc::from_v4l(v4l::FourCC::new(b"GREY")), FourCc::Gray);
        assert_eq!(FourCc::Mjpeg.code(), *b"MJPG");
        assert_eq!(FourCc::Other([b'A', b'R', b'1', b'5' | 0x80]).name(), "AR15-BE");
        // The deprecated RGB4 (byte order never agreed) and big-endian Y16 are not taken.
        assert_eq!(FourCc::from_code(*b"RGB4"), FourCc::Other(*b"RGB4"));
        assert!(!FourCc::from_code([b'Y', b'1', b'6', b' ' | 0x80]).is_decoded());
        assert!(!yuv9.is_decoded() && yuv9.to_nokhwa().is_none());
        let planar = FormatSpec::new(yuv9, 320, 180, 30);
        assert_eq!(choose_format(&[planar], None, None), None);
        assert_eq!(offered(&[planar]), "YUV9 320x180 @ 30 fps");
        assert_eq!(offered(&[yuyv(320, 180, 15), planar]), "YUYV 320x180 @ 15 fps");
        assert_eq!(offered(&[]), "no modes");
        assert_eq!(
            decoded_names(),
            "MJPEG, YUYV, NV12, GREY, RGB3, BGR3, UYVY, YVYU, VYUY, YU12, YV12, NV21, Y16, Y10, Y12, RGBP, NV16, NV61, 422P, NV24, NV42 or 32-bit RGB"
        );
    }

    /// 8-bit raw Bayer is decoded, taken only when the camera offers nothing else; 10-bit Bayer
    /// is not (listed, not taken); the 4:2:2 and 4:4:4 formats come after 4:2:0 ones.
    #[test]
    fn raw_bayer_and_422_formats_are_taken_after_the_usual_ones() {
        let bayer = FourCc::from_code(*b"RGGB");
        assert_eq!((bayer, bayer.name()), (FourCc::Bayer(*b"RGGB"), "RGGB".to_string()));
        assert!(bayer.is_decoded() && !bayer.is_grey() && bayer.to_nokhwa().is_none());
        assert!(!FourCc::from_code(*b"RG10").is_decoded());
        assert_eq!(FourCc::from_code(*b"NV16"), FourCc::Nv16);
        let at = |f: FourCc| FormatSpec::new(f, 640, 480, 30);
        assert_eq!(choose_format(&[at(bayer)], None, None), Some(at(bayer)));
        assert_eq!(
            choose_format(&[at(bayer), at(FourCc::Rgb), at(FourCc::Nv16)], None, None),
            Some(at(FourCc::Nv16))
        );
        assert_eq!(
            choose_format(&[at(FourCc::Nv16), at(FourCc::Nv12)], None, None),
            Some(at(FourCc::Nv12))
        );
        assert_eq!(
            choose_format(&[at(bayer), at(FourCc::Nv24)], None, None),
            Some(at(FourCc::Nv24))
        );
    }

    /// Formats nokhwa has no name for are captured straight from V4L2; at equal cost a camera's
    /// nokhwa formats come first, and Y16 is grey like GREY.
    #[test]
    fn raw_formats_nokhwa_cannot_name_are_taken_after_its_own() {
        let direct = [
            *b"UYVY", *b"YVYU", *b"VYUY", *b"YU12", *b"YV12", *b"NV21", *b"Y16 ", *b"Y10 ", *b"Y12 ", *b"RGBP",
            *b"XR24", *b"AB24", *b"BA24",
        ];
        for code in direct {
            let f = FourCc::from_code(code);
            assert!(f.is_decoded() && f.to_nokhwa().is_none(), "{f:?}");
            assert_eq!(f.code(), code);
            let only = FormatSpec::new(f, 640, 480, 30);
            assert_eq!(choose_format(&[only], None, None), Some(only), "{f:?}");
        }
        let at = |f| FormatSpec::new(f, 640, 480, 30);
        assert_eq!(
            choose_format(&[at(FourCc::Uyvy), at(FourCc::Yuyv)], None, None),
            Some(at(FourCc::Yuyv))
        );
        assert_eq!(
            choose_format(&[at(FourCc::Yu12), at(FourCc::Rgb)], None, None),
            Some(at(FourCc::Yu12))
        );
        assert_eq!(
            choose_format(&[at(FourCc::Y16), at(FourCc::Rgb32(*b"XR24"))], None, None),
            Some(at(FourCc::Rgb32(*b"XR24")))
        );
        assert!(FourCc::Y16.is_grey() && FourCc::Y10.is_grey() && FourCc::Y12.is_grey());
    }

    #[test]
    fn every_decoded_format_is_chosen_when_it_is_all_a_camera_offers_and_grey_comes_last() {
        for (fourcc, _) in CODES {
            let only = FormatSpec::new(fourcc, 640, 480, 30);
            assert_eq!(choose_format(&[only], None, None), Some(only), "{fourcc:?}");
            assert_eq!(FourCc::from_code(fourcc.code()), fourcc);
        }
        // A colour camera that also offers grey (vivid) is taken in colour, even smaller.
        let grey = FormatSpec::new(FourCc::Gray, 1280, 720, 30);
        let nv12 = FormatSpec::new(FourCc::Nv12, 640, 480, 30);
        assert_eq!(choose_format(&[grey, nv12], None, None), Some(nv12));
        // At one size and rate: raw Y'CbCr before RGB and, large, MJPEG before NV12 before
        // YUYV.
        let big = |f| FormatSpec::new(f, 1280, 720, 30);
        assert_eq!(
            choose_format(&[big(FourCc::Rgb), big(FourCc::Yuyv)], None, None),
            Some(big(FourCc::Yuyv))
        );
        assert_eq!(
            choose_format(&[big(FourCc::Yuyv), big(FourCc::Nv12), big(FourCc::Mjpeg)], None, None),
            Some(big(FourCc::Mjpeg))
        );
        assert_eq!(
            choose_format(&[big(FourCc::Yuyv), big(FourCc::Nv12)], None, None),
            Some(big(FourCc::Nv12))
        );
    }

    #[test]
    fn a_picture_of_another_size_than_the_mode_set_is_refused() {
        let mode = FormatSpec::new(FourCc::Mjpeg, 640, 480, 30);
        assert!(same_size(Frame::filled(640, 480, [0, 0, 0, 255]), &mode).is_ok());
        let e = same_size(Frame::filled(1280, 720, [0, 0, 0, 255]), &mode).unwrap_err();
        assert!(
            e.to_string()
                .contains("changed its format on its own (a 1280x720 picture; MJPEG 640x480@30 was set)"),
            "{e}"
        );
    }

    #[test]
    fn a_rejected_mode_is_not_offered_again() {
        let modes = [yuyv(320, 180, 25), yuyv(1280, 720, 25), yuyv(3840, 2160, 25)];
        assert_eq!(
            others(&modes, yuyv(3840, 2160, 25)),
            "it also offers: YUYV 320x180 @ 25 fps; YUYV 1280x720 @ 25 fps"
        );
        assert_eq!(others(&modes[2..], yuyv(3840, 2160, 25)), "it offers no other mode");
        // Other formats by name only.
        let nv12 = FormatSpec::new(FourCc::Nv12, 320, 180, 25);
        let gray = FormatSpec::new(FourCc::Gray, 640, 360, 25);
        assert_eq!(
            others(&[modes[0], nv12, gray, modes[2]], yuyv(3840, 2160, 25)),
            "it also offers: YUYV 320x180 @ 25 fps; and NV12, GREY: see `emojicam cameras`"
        );
        assert_eq!(
            others(&[nv12, modes[2]], yuyv(3840, 2160, 25)),
            "it also offers NV12: see `emojicam cameras`"
        );
    }

    #[test]
    fn frame_rates_are_rounded_to_whole_numbers() {
        assert_eq!(whole_fps(v4l::Fraction::new(1, 30)), Some(30));
        assert_eq!(whole_fps(v4l::Fraction::new(1001, 30000)), Some(30));
        assert_eq!(whole_fps(v4l::Fraction::new(2, 25)), Some(13));
        assert_eq!(whole_fps(v4l::Fraction::new(0, 25)), None);
        assert_eq!(whole_fps(v4l::Fraction::new(1, 0)), None);
    }

    #[test]
    fn intervals_that_are_not_one_nth_of_a_second_keep_their_true_rate() {
        let rate = |n, d| interval_rate(v4l::Fraction::new(n, d));
        // A capture card's PAL input, NTSC, a plain webcam.
        assert_eq!(rate(1000, 25000), Some((25, Rate::new(25, 1))));
        assert_eq!(rate(1001, 30000), Some((30, Rate::new(30000, 1001))));
        assert_eq!(rate(1, 15), Some((15, Rate::new(15, 1))));
        assert_eq!(rate(0, 30), None);
        assert_eq!(rate_text(Rate::new(30000, 1001)), "29.97");
        assert_eq!(rate_text(Rate::new(60000, 1001)), "59.94");
        assert_eq!(rate_text(Rate::new(25, 2)), "12.5");
        assert_eq!(rate_text(Rate::new(25, 1)), "25");
        let ntsc = FormatSpec {
            rate: Rate::new(30000, 1001),
            ..yuyv(720, 480, 30)
        };
        assert_eq!(ntsc.to_string(), "YUYV 720x480@29.97");
        assert_eq!(
            describe_modes(&[yuyv(720, 480, 15), ntsc, yuyv(720, 480, 30)]),
            ["YUYV 720x480 @ 15, 29.97, 30 fps"]
        );
        // --fps 30 takes 30/1 where both are offered, 29.97 where only that is.
        assert_eq!(
            choose_format(&[ntsc, yuyv(720, 480, 30)], Some((720, 480)), Some(30)),
            Some(yuyv(720, 480, 30))
        );
        assert_eq!(
            choose_format(&[yuyv(720, 480, 30), ntsc], Some((720, 480)), Some(30)),
            Some(yuyv(720, 480, 30))
        );
        assert_eq!(choose_format(&[ntsc], Some((720, 480)), Some(30)), Some(ntsc));
    }

    #[test]
    fn a_camera_is_chosen_by_number_name_or_device_node() {
        assert_eq!(CameraSelector::parse(" 2 "), CameraSelector::Index(2));
        assert_eq!(CameraSelector::parse(""), CameraSelector::Index(0));
        assert_eq!(
            CameraSelector::parse("Logitech C920"),
            CameraSelector::Name("Logitech C920".into())
        );
        assert_eq!(
            CameraSelector::parse("/dev/video10"),
            CameraSelector::Path("/dev/video10".into())
        );
        // Not a device node: one line saying what --camera takes.
        let e = index_of_path(std::path::Path::new("/dev/null"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/null is not a video device"), "{e}");
        let e = index_of_path(std::path::Path::new("/dev/video-none-such"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no camera found at /dev/video-none-such"), "{e}");
    }
}
