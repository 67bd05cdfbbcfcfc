//! Virtual camera output through a v4l2loopback device, as OBS does it: `VIDIOC_S_FMT` on
//! the output buffer type with YUYV, then one `write()` per frame.
//!
//! The ioctls live behind [`VideoOutputDevice`] so the writer is testable against a plain file
//! or FIFO ([`FileOutput`]); they are made through `source::v4l2`, which holds the one
//! `unsafe` call. Writes never block: a frame the device cannot take at once
//! (EAGAIN/EBUSY) is dropped and counted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{image_of, Sink};
use crate::domain::MosaicFrame;
use crate::error::{CauseError, Error, Result};
use crate::frame::Frame;
use crate::source::v4l2::{self as ioctl, CAP_VIDEO_OUTPUT};

/// YUYV fourcc ('Y','U','Y','V').
pub const FOURCC_YUYV: u32 = 0x5659_5559;

/// Where YUYV frames go.
pub trait VideoOutputDevice: Send {
    fn set_format(&mut self, width: u32, height: u32, fourcc: u32) -> Result<()>;
    /// Writes one whole frame. `Ok(false)`: the device was busy and the frame was dropped.
    fn write_frame(&mut self, bytes: &[u8]) -> Result<bool>;
    /// The frame rate consumers are told (`num/den` frames per second).
    fn set_rate(&mut self, _num: u32, _den: u32) -> Result<()> {
        Ok(())
    }
}

/// A real v4l2loopback device.
pub struct V4l2Device {
    path: PathBuf,
    file: File,
}

fn vcam(msg: String) -> Error {
    Error::VirtualCamera(CauseError::new(msg))
}

/// A failure whose line already includes the system's `err`, kept as its source.
fn vcam_caused(msg: String, err: std::io::Error) -> Error {
    Error::VirtualCamera(CauseError::caused(msg, err))
}

impl V4l2Device {
    /// Opens `path` (non-blocking) and checks that it is a video output device.
    pub fn open(path: &Path) -> Result<Self> {
        let shown = path.display();
        // Never blocks: a write the device cannot take at once fails with EAGAIN (std adds
        // O_CLOEXEC).
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|err| match err.raw_os_error() {
                Some(libc::ENOENT) => vcam(format!(
                    "{shown} does not exist: load v4l2loopback (see README), e.g. sudo modprobe v4l2loopback video_nr=9 card_label=emojicam exclusive_caps=1"
                )),
                Some(libc::EACCES) | Some(libc::EPERM) => vcam(format!(
                    "{shown}: permission denied: add yourself to the 'video' group or check ls -l {shown}"
                )),
                Some(libc::EBUSY) => vcam(format!(
                    "{shown} is busy: another program is writing to it (close it, or pick another device)"
                )),
                _ => vcam_caused(format!("cannot open {shown}: {err}"), err),
            })?;
        let not_output = || {
            vcam(format!(
                "{shown} is not a video output device: is it a v4l2loopback device? modprobe v4l2loopback video_nr=9 exclusive_caps=1, then use /dev/video9"
            ))
        };
        let caps = ioctl::query_caps(file.as_raw_fd()).map_err(|_| not_output())?;
        if caps.node_caps() & CAP_VIDEO_OUTPUT == 0 {
            return Err(not_output());
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }
}

impl VideoOutputDevice for V4l2Device {
    fn set_format(&mut self, width: u32, height: u32, fourcc: u32) -> Result<()> {
        let bpl = if fourcc == FOURCC_YUYV { width * 2 } else { width };
        let size = if fourcc == FOURCC_YUYV {
            width * height * 2
        } else {
            width * height * 3 / 2
        };
        let format = v4l::Format {
            field_order: v4l::format::FieldOrder::Progressive,
            stride: bpl,
            size,
            colorspace: v4l::format::Colorspace::SRGB,
            ..v4l::Format::new(width, height, v4l::FourCC::from(fourcc))
        };
        if let Err(err) = ioctl::set_output_format(self.file.as_raw_fd(), format) {
            return Err(match err.raw_os_error() {
                Some(libc::EBUSY) => vcam(format!(
                    "{} is busy: another program holds it with a different format (close it and retry)",
                    self.path.display()
                )),
                _ => vcam_caused(
                    format!("{}: cannot set YUYV {width}x{height}: {err}", self.path.display()),
                    err,
                ),
            });
        }
        Ok(())
    }

    fn set_rate(&mut self, num: u32, den: u32) -> Result<()> {
        ioctl::set_output_rate(self.file.as_raw_fd(), num, den).map_err(|err| {
            vcam_caused(
                format!("{}: cannot set {num}/{den} fps: {err}", self.path.display()),
                err,
            )
        })
    }

    fn write_frame(&mut self, bytes: &[u8]) -> Result<bool> {
        match self.file.write(bytes) {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::EINTR)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(vcam_caused(
                format!("writing to {} failed: {e}", self.path.display()),
                e,
            )),
        }
    }
}

/// Frames appended to a file or FIFO (for tests; ffprobe reads it as rawvideo yuyv422).
pub struct FileOutput {
    path: PathBuf,
    file: File,
    pub format: Option<(u32, u32, u32)>,
}

impl FileOutput {
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            format: None,
        })
    }
}

impl VideoOutputDevice for FileOutput {
    fn set_format(&mut self, width: u32, height: u32, fourcc: u32) -> Result<()> {
        self.format = Some((width, height, fourcc));
        Ok(())
    }

    fn write_frame(&mut self, bytes: &[u8]) -> Result<bool> {
        self.file.write_all(bytes).map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(true)
    }
}

/// Mosaics to a video output device as YUYV. An odd width is padded to even by repeating the
/// last column (YUYV pairs pixels).
pub struct V4l2Sink {
    device: Box<dyn VideoOutputDevice>,
    rate: Option<crate::frame::Rate>,
    size: Option<(u32, u32)>,
    yuyv: Vec<u8>,
    written: u64,
    dropped: u64,
}

impl V4l2Sink {
    /// Opens a v4l2loopback device such as `/dev/video9`.
    pub fn open(device: &Path) -> Result<Self> {
        Ok(Self::with_device(Box::new(V4l2Device::open(device)?)))
    }

    pub fn with_device(device: Box<dyn VideoOutputDevice>) -> Self {
        Self {
            device,
            rate: None,
            size: None,
            yuyv: Vec::new(),
            written: 0,
            dropped: 0,
        }
    }

    /// The rate consumers are told, set with the format (without it v4l2loopback reports its
    /// default, 30 fps, whatever the camera's rate).
    pub fn with_rate(mut self, rate: crate::frame::Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    /// Frames the device was too busy to take.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Sink for V4l2Sink {
    fn write(&mut self, _mosaic: &MosaicFrame, image: Option<&Frame>) -> Result<()> {
        let frame = image_of(image, Path::new("virtual camera"))?;
        let (w, h) = (frame.width as usize, frame.height as usize);
        let even_w = w.div_ceil(2) * 2;
        match self.size {
            None => {
                self.device.set_format(even_w as u32, h as u32, FOURCC_YUYV)?;
                if let Some(r) = self.rate.filter(|r| r.num > 0 && r.den > 0) {
                    self.device.set_rate(r.num, r.den)?;
                }
                self.size = Some((frame.width, frame.height));
                self.yuyv.resize(even_w * h * 2, 0);
            }
            Some(s) if s != (frame.width, frame.height) => {
                return Err(vcam(format!("frame size changed from {}x{} to {w}x{h}", s.0, s.1)))
            }
            Some(_) => {}
        }
        // rgba_to_yuyv repeats the last pixel of an odd row into its pair, which is the padding.
        crate::yuv::rgba_to_yuyv(&frame.rgba, w, h, &mut self.yuyv);
        if self.device.write_frame(&self.yuyv)? {
            self.written += 1;
        } else {
            self.dropped += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
