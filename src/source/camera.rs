//! Webcams through nokhwa (V4L2 on Linux).
//!
//! nokhwa's `Camera` is not `Send` on every platform, so it lives on a thread of its own and
//! [`CameraSource`] talks to it through channels. Format choice and pixel decoding are pure
//! functions, testable without a camera.

use crossbeam_channel::{bounded, Receiver, Sender};
use nokhwa::pixel_format::RgbAFormat;
use nokhwa::utils::{ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};
use nokhwa::Camera;

use super::Source;
use crate::error::{Error, Result};
use crate::frame::{Frame, Rate, StreamInfo, StreamKind};

const NO_CAMERA_HINT: &str =
    "connect one, check permissions (ls -l /dev/video*; v4l2-ctl --list-devices), or use --input FILE";

/// Pixel formats a camera may deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FourCc {
    Mjpeg,
    Yuyv,
    Nv12,
    Gray,
    Rgb,
    Bgr,
}

impl FourCc {
    pub fn name(self) -> &'static str {
        match self {
            FourCc::Mjpeg => "MJPEG",
            FourCc::Yuyv => "YUYV",
            FourCc::Nv12 => "NV12",
            FourCc::Gray => "GRAY",
            FourCc::Rgb => "RGB3",
            FourCc::Bgr => "BGR3",
        }
    }

    fn from_nokhwa(f: FrameFormat) -> Self {
        match f {
            FrameFormat::MJPEG => FourCc::Mjpeg,
            FrameFormat::YUYV => FourCc::Yuyv,
            FrameFormat::NV12 => FourCc::Nv12,
            FrameFormat::GRAY => FourCc::Gray,
            FrameFormat::RAWRGB => FourCc::Rgb,
            FrameFormat::RAWBGR => FourCc::Bgr,
        }
    }

    fn to_nokhwa(self) -> FrameFormat {
        match self {
            FourCc::Mjpeg => FrameFormat::MJPEG,
            FourCc::Yuyv => FrameFormat::YUYV,
            FourCc::Nv12 => FrameFormat::NV12,
            FourCc::Gray => FrameFormat::GRAY,
            FourCc::Rgb => FrameFormat::RAWRGB,
            FourCc::Bgr => FrameFormat::RAWBGR,
        }
    }
}

/// One mode a camera offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FormatSpec {
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl std::fmt::Display for FormatSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}x{}@{}", self.fourcc.name(), self.width, self.height, self.fps)
    }
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
}

/// Lists cameras and their modes. A machine without cameras gives an empty list.
pub fn list_cameras() -> Result<Vec<CameraDescription>> {
    let infos = nokhwa::query(ApiBackend::Auto).map_err(|e| Error::Camera(format!("cannot list cameras: {e}")))?;
    let mut out = Vec::new();
    for info in infos {
        let Ok(index) = info.index().as_index() else {
            continue;
        };
        let formats = Camera::new(
            info.index().clone(),
            RequestedFormat::new::<RgbAFormat>(RequestedFormatType::None),
        )
        .and_then(|mut cam| cam.compatible_camera_formats())
        .map(|fs| fs.into_iter().map(spec_from).collect())
        .unwrap_or_default();
        out.push(CameraDescription {
            index,
            name: info.human_name(),
            formats,
        });
    }
    Ok(out)
}

fn spec_from(f: CameraFormat) -> FormatSpec {
    FormatSpec {
        fourcc: FourCc::from_nokhwa(f.format()),
        width: f.width(),
        height: f.height(),
        fps: f.frame_rate(),
    }
}

/// Picks the mode nearest the wish: MJPEG or YUYV only (what we decode); the size closest to
/// `want_size` (default 1280x720) in pixel count, preferring not to go below it; then the
/// fps closest to `want_fps` (default 30), preferring more; then MJPEG above 640x480
/// (YUYV bandwidth limits USB cameras there), YUYV otherwise (no JPEG decode cost).
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
        .filter(|f| matches!(f.fourcc, FourCc::Mjpeg | FourCc::Yuyv) && f.width > 0)
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
            let big = px > 640 * 480;
            let fourcc_cost = match (f.fourcc, big) {
                (FourCc::Mjpeg, true) | (FourCc::Yuyv, false) => 0,
                _ => 1,
            };
            (exact, size_cost, fps_cost, fourcc_cost)
        })
        .copied()
}

/// Packed YUYV 4:2:2 (as cameras send it) to RGBA.
pub fn decode_yuyv(bytes: &[u8], width: u32, height: u32) -> Result<Frame> {
    let (w, h) = (width as usize, height as usize);
    let need = crate::yuv::yuyv_len(w, h);
    if w == 0 || h == 0 || bytes.len() < need {
        return Err(Error::Camera(format!(
            "YUYV frame of {} bytes is too short for {width}x{height} (needs {need})",
            bytes.len()
        )));
    }
    let mut rgba = vec![0u8; w * h * 4];
    crate::yuv::yuyv_to_rgba(bytes, w, h, &mut rgba);
    Ok(Frame::new(width, height, rgba))
}

/// One MJPEG frame (a JPEG image) to RGBA.
pub fn decode_mjpeg(bytes: &[u8]) -> Result<Frame> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .map_err(|e| Error::Camera(format!("bad MJPEG frame: {e}")))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::Camera("empty MJPEG frame".into()));
    }
    let rgba = img.into_rgba8();
    Ok(Frame::new(rgba.width(), rgba.height(), rgba.into_raw()))
}

/// A live camera. nokhwa's `Camera` stays on a capture thread of its own, created by
/// [`CameraSource::open`]; this handle only holds channels, so it is `Send` and cheap to move.
/// Each `next_frame` asks that thread for one frame and waits for it, exactly as a direct
/// `Camera::frame()` call would.
pub struct CameraSource {
    info: StreamInfo,
    requests: Option<Sender<()>>,
    frames: Receiver<Result<Frame>>,
}

impl CameraSource {
    /// Opens the camera (on its capture thread), picks the mode nearest `size`/`fps` with
    /// [`choose_format`], starts streaming, and reports the chosen mode in
    /// `info().description`.
    pub fn open(selector: CameraSelector, size: Option<(u32, u32)>, fps: Option<u32>) -> Result<Self> {
        let (init_tx, init_rx) = bounded::<Result<StreamInfo>>(1);
        let (req_tx, req_rx) = bounded::<()>(1);
        let (frame_tx, frame_rx) = bounded::<Result<Frame>>(1);
        std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || {
                let (mut camera, format, info) = match start_camera(&selector, size, fps) {
                    Ok(started) => started,
                    Err(e) => {
                        let _ = init_tx.send(Err(e));
                        return;
                    }
                };
                if init_tx.send(Ok(info)).is_err() {
                    return;
                }
                while req_rx.recv().is_ok() {
                    if frame_tx.send(grab(&mut camera, format)).is_err() {
                        break;
                    }
                }
                let _ = camera.stop_stream();
            })
            .map_err(|e| Error::Camera(format!("cannot start the capture thread: {e}")))?;
        let info = init_rx
            .recv()
            .map_err(|_| Error::Camera("the capture thread stopped while opening the camera".into()))??;
        Ok(Self {
            info,
            requests: Some(req_tx),
            frames: frame_rx,
        })
    }
}

fn start_camera(
    selector: &CameraSelector,
    size: Option<(u32, u32)>,
    fps: Option<u32>,
) -> Result<(Camera, FormatSpec, StreamInfo)> {
    let index = match selector {
        CameraSelector::Index(i) => *i,
        CameraSelector::Name(name) => {
            let infos = nokhwa::query(ApiBackend::Auto).unwrap_or_default();
            let lower = name.to_lowercase();
            let found = infos.iter().find_map(|i| {
                i.human_name()
                    .to_lowercase()
                    .contains(&lower)
                    .then(|| i.index().as_index().ok())
                    .flatten()
            });
            match found {
                Some(i) => i,
                None if infos.is_empty() => return Err(Error::Camera(format!("no camera found: {NO_CAMERA_HINT}"))),
                None => {
                    let names: Vec<String> = infos.iter().map(|i| i.human_name()).collect();
                    return Err(Error::Camera(format!(
                        "no camera named '{name}' (found: {}): use --list-cameras",
                        names.join(", ")
                    )));
                }
            }
        }
    };
    let mut camera = Camera::new(
        CameraIndex::Index(index),
        RequestedFormat::new::<RgbAFormat>(RequestedFormatType::None),
    )
    .map_err(|e| Error::Camera(format!("no camera found ({e}): {NO_CAMERA_HINT}")))?;
    let available: Vec<FormatSpec> = camera
        .compatible_camera_formats()
        .map_err(|e| Error::Camera(format!("camera {index}: cannot list formats: {e}")))?
        .into_iter()
        .map(spec_from)
        .collect();
    let format = choose_format(&available, size, fps).ok_or_else(|| {
        Error::Camera(format!(
            "camera {index} offers no MJPEG or YUYV mode (it offers: {})",
            available.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
        ))
    })?;
    camera
        .set_camera_requset(RequestedFormat::new::<RgbAFormat>(RequestedFormatType::Exact(
            CameraFormat::new_from(format.width, format.height, format.fourcc.to_nokhwa(), format.fps),
        )))
        .map_err(|e| Error::Camera(format!("camera {index}: cannot set {format}: {e}")))?;
    camera
        .open_stream()
        .map_err(|e| Error::Camera(format!("camera {index}: cannot start streaming: {e}")))?;
    let name = camera.info().human_name();
    let info = StreamInfo {
        kind: StreamKind::Camera,
        width: format.width,
        height: format.height,
        rate: Some(Rate::new(format.fps.max(1), 1)),
        frames: None,
        description: format!("camera {index} ({name}): {format}"),
    };
    Ok((camera, format, info))
}

fn grab(camera: &mut Camera, format: FormatSpec) -> Result<Frame> {
    let buffer = camera.frame().map_err(|e| Error::Camera(format!("camera lost: {e}")))?;
    let res = buffer.resolution();
    match format.fourcc {
        FourCc::Mjpeg => decode_mjpeg(buffer.buffer()),
        _ => decode_yuyv(buffer.buffer(), res.width(), res.height()),
    }
}

impl Source for CameraSource {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let lost = || Error::Camera("camera lost: the capture thread stopped".into());
        let requests = self.requests.as_ref().ok_or_else(lost)?;
        requests.send(()).map_err(|_| lost())?;
        self.frames.recv().map_err(|_| lost())?.map(Some)
    }
}

impl Drop for CameraSource {
    /// Closing the request channel ends the capture thread after its current frame; it is not
    /// joined, so a camera stuck in the driver cannot hang shutdown.
    fn drop(&mut self) {
        self.requests.take();
    }
}
