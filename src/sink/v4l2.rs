//! Virtual camera output through a v4l2loopback device, as OBS does it: `VIDIOC_S_FMT` on
//! the output buffer type with YUYV, then one `write()` per frame.
//!
//! The ioctls live behind [`VideoOutputDevice`] so the writer is testable against a plain file
//! or FIFO ([`FileOutput`]). Writes never block: a frame the device cannot take at once
//! (EAGAIN/EBUSY) is dropped and counted.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{image_of, Sink};
use crate::domain::MosaicFrame;
use crate::error::{Error, Result};
use crate::frame::Frame;

/// YUYV fourcc ('Y','U','Y','V').
pub const FOURCC_YUYV: u32 = 0x5659_5559;
const VIDIOC_QUERYCAP: libc::c_ulong = 0x8068_5600;
const VIDIOC_S_FMT: libc::c_ulong = 0xc0d0_5605;
const VIDIOC_S_PARM: libc::c_ulong = 0xc0cc_5616;
const V4L2_BUF_TYPE_VIDEO_OUTPUT: u32 = 2;
const V4L2_CAP_VIDEO_OUTPUT: u32 = 0x2;
const V4L2_CAP_DEVICE_CAPS: u32 = 0x8000_0000;
const V4L2_FIELD_NONE: u32 = 1;
const V4L2_COLORSPACE_SRGB: u32 = 8;

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

#[repr(C)]
struct V4l2Capability {
    driver: [u8; 16],
    card: [u8; 32],
    bus_info: [u8; 32],
    version: u32,
    capabilities: u32,
    device_caps: u32,
    reserved: [u32; 3],
}

/// `struct v4l2_format` with the `pix` member of its union (208 bytes on 64-bit Linux: the
/// union is 8-aligned).
#[repr(C)]
struct V4l2Format {
    kind: u32,
    _pad: u32,
    /// width, height, pixelformat, field, bytesperline, sizeimage, colorspace, priv, flags,
    /// ycbcr_enc, quantization, xfer_func
    pix: [u32; 12],
    _rest: [u8; 152],
}

/// `struct v4l2_streamparm` with the `output` member of its union (204 bytes): type,
/// capability, outputmode, timeperframe (numerator, denominator: seconds per frame),
/// extendedmode, writebuffers, reserved.
#[repr(C)]
struct V4l2StreamParm {
    kind: u32,
    capability: u32,
    outputmode: u32,
    timeperframe: [u32; 2],
    _rest: [u32; 46],
}

const _: () = assert!(std::mem::size_of::<V4l2StreamParm>() == 204);
const _: () = assert!(std::mem::size_of::<V4l2Capability>() == 104);
const _: () = assert!(std::mem::size_of::<V4l2Format>() == 208);

/// A real v4l2loopback device.
pub struct V4l2Device {
    path: PathBuf,
    file: File,
}

fn vcam(msg: String) -> Error {
    Error::VirtualCamera(msg)
}

impl V4l2Device {
    /// Opens `path` (non-blocking) and checks that it is a video output device.
    pub fn open(path: &Path) -> Result<Self> {
        let shown = path.display();
        let c_path =
            CString::new(path.as_os_str().as_bytes()).map_err(|_| vcam(format!("{shown}: invalid device path")))?;
        // SAFETY: c_path is a valid NUL-terminated string.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if fd < 0 {
            let err = std::io::Error::last_os_error();
            return Err(vcam(match err.raw_os_error() {
                Some(libc::ENOENT) => format!(
                    "{shown} does not exist: load v4l2loopback (see README), e.g. sudo modprobe v4l2loopback video_nr=9 card_label=emojicam exclusive_caps=1"
                ),
                Some(libc::EACCES) | Some(libc::EPERM) => format!(
                    "{shown}: permission denied: add yourself to the 'video' group or check ls -l {shown}"
                ),
                Some(libc::EBUSY) => format!(
                    "{shown} is busy: another program is writing to it (close it, or pick another device)"
                ),
                _ => format!("cannot open {shown}: {err}"),
            }));
        }
        // SAFETY: fd was just returned by open and is owned by nobody else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let not_output = || {
            vcam(format!(
                "{shown} is not a video output device: is it a v4l2loopback device? modprobe v4l2loopback video_nr=9 exclusive_caps=1, then use /dev/video9"
            ))
        };
        // SAFETY: zeroed is a valid bit pattern for this plain C struct.
        let mut cap: V4l2Capability = unsafe { std::mem::zeroed() };
        // SAFETY: VIDIOC_QUERYCAP writes a v4l2_capability into `cap`, which is large enough.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), VIDIOC_QUERYCAP as _, &mut cap) };
        if rc < 0 {
            return Err(not_output());
        }
        let caps = if cap.capabilities & V4L2_CAP_DEVICE_CAPS != 0 {
            cap.device_caps
        } else {
            cap.capabilities
        };
        if caps & V4L2_CAP_VIDEO_OUTPUT == 0 {
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
        let mut fmt = V4l2Format {
            kind: V4L2_BUF_TYPE_VIDEO_OUTPUT,
            _pad: 0,
            pix: [
                width,
                height,
                fourcc,
                V4L2_FIELD_NONE,
                bpl,
                size,
                V4L2_COLORSPACE_SRGB,
                0,
                0,
                0,
                0,
                0,
            ],
            _rest: [0; 152],
        };
        // SAFETY: VIDIOC_S_FMT reads and writes a v4l2_format, which `fmt` is laid out as.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), VIDIOC_S_FMT as _, &mut fmt) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            return Err(vcam(match err.raw_os_error() {
                Some(libc::EBUSY) => format!(
                    "{} is busy: another program holds it with a different format (close it and retry)",
                    self.path.display()
                ),
                _ => format!("{}: cannot set YUYV {width}x{height}: {err}", self.path.display()),
            }));
        }
        Ok(())
    }

    fn set_rate(&mut self, num: u32, den: u32) -> Result<()> {
        let mut parm = V4l2StreamParm {
            kind: V4L2_BUF_TYPE_VIDEO_OUTPUT,
            capability: 0,
            outputmode: 0,
            timeperframe: [den, num],
            _rest: [0; 46],
        };
        // SAFETY: VIDIOC_S_PARM reads and writes a v4l2_streamparm, which `parm` is laid out as.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), VIDIOC_S_PARM as _, &mut parm) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            return Err(vcam(format!(
                "{}: cannot set {num}/{den} fps: {err}",
                self.path.display()
            )));
        }
        Ok(())
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
            Err(e) => Err(vcam(format!("writing to {} failed: {e}", self.path.display()))),
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
