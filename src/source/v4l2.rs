//! The V4L2 requests emojicam makes itself, where neither nokhwa nor the `v4l` crate has a
//! safe call that fits: `VIDIOC_QUERYCAP` (the `v4l` crate's `query_caps` panics on a device
//! name that is not UTF-8, which a v4l2loopback label can be), and for the virtual camera
//! (`sink/v4l2.rs`) `VIDIOC_S_FMT` and `VIDIOC_S_PARM` on an output device that is written to
//! with `write()` (the `v4l` crate opens devices itself and has no `write`). Every request
//! goes through [`ioctl`], whose argument type is tied to its request code by [`Request`]:
//! the one `unsafe` call is there.

use std::os::fd::RawFd;

const VIDIOC_QUERYCAP: libc::c_ulong = 0x8068_5600;
const VIDIOC_S_FMT: libc::c_ulong = 0xc0d0_5605;
const VIDIOC_S_PARM: libc::c_ulong = 0xc0cc_5616;

pub(crate) const CAP_VIDEO_CAPTURE: u32 = 0x1;
pub(crate) const CAP_VIDEO_OUTPUT: u32 = 0x2;
const CAP_DEVICE_CAPS: u32 = 0x8000_0000;

/// An argument of one V4L2 request.
///
/// # Safety
///
/// `Self` must be laid out exactly as the struct the kernel reads and writes for the request
/// `CODE` (the code's size bits say how many bytes it touches), and every bit pattern the
/// kernel may write must be a valid `Self` (plain integers and byte arrays).
pub(crate) unsafe trait Request {
    const CODE: libc::c_ulong;
}

/// Makes the request `R::CODE` on `fd` with `arg` as its argument.
pub(crate) fn ioctl<R: Request>(fd: RawFd, arg: &mut R) -> std::io::Result<()> {
    // SAFETY: `Request` ties R's layout to the request code, so the kernel reads and writes
    // only `arg`'s bytes, which are borrowed mutably for the whole call and valid whatever it
    // writes there. A descriptor that is not open fails with EBADF.
    let rc = unsafe { libc::ioctl(fd, R::CODE as _, arg as *mut R) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `struct v4l2_capability`.
#[repr(C)]
pub(crate) struct Capability {
    pub driver: [u8; 16],
    pub card: [u8; 32],
    pub bus_info: [u8; 32],
    pub version: u32,
    pub capabilities: u32,
    pub device_caps: u32,
    pub reserved: [u32; 3],
}

// SAFETY: the layout of `struct v4l2_capability` (104 bytes, asserted below), the argument of
// VIDIOC_QUERYCAP; only integers and byte arrays.
unsafe impl Request for Capability {
    const CODE: libc::c_ulong = VIDIOC_QUERYCAP;
}

impl Capability {
    /// What the node itself can do: a node of a multi-node device describes itself in
    /// `device_caps`.
    pub fn node_caps(&self) -> u32 {
        if self.capabilities & CAP_DEVICE_CAPS != 0 {
            self.device_caps
        } else {
            self.capabilities
        }
    }

    /// The card name, up to its NUL.
    pub fn card(&self) -> &[u8] {
        let end = self.card.iter().position(|&c| c == 0).unwrap_or(self.card.len());
        &self.card[..end]
    }
}

/// VIDIOC_QUERYCAP: what the device on `fd` is.
pub(crate) fn query_caps(fd: RawFd) -> std::io::Result<Capability> {
    let mut caps = Capability {
        driver: [0; 16],
        card: [0; 32],
        bus_info: [0; 32],
        version: 0,
        capabilities: 0,
        device_caps: 0,
        reserved: [0; 3],
    };
    ioctl(fd, &mut caps)?;
    Ok(caps)
}

/// `struct v4l2_format` with the `pix` member of its union (208 bytes on 64-bit Linux: the
/// union is 8-aligned).
#[repr(C)]
pub(crate) struct Format {
    pub kind: u32,
    pub _pad: u32,
    /// width, height, pixelformat, field, bytesperline, sizeimage, colorspace, priv, flags,
    /// ycbcr_enc, quantization, xfer_func
    pub pix: [u32; 12],
    pub _rest: [u8; 152],
}

// SAFETY: the layout of `struct v4l2_format` (208 bytes, asserted below), the argument of
// VIDIOC_S_FMT; only integers and byte arrays.
unsafe impl Request for Format {
    const CODE: libc::c_ulong = VIDIOC_S_FMT;
}

/// `struct v4l2_streamparm` with the `output` member of its union (204 bytes): type,
/// capability, outputmode, timeperframe (numerator, denominator: seconds per frame),
/// extendedmode, writebuffers, reserved.
#[repr(C)]
pub(crate) struct StreamParm {
    pub kind: u32,
    pub capability: u32,
    pub outputmode: u32,
    pub timeperframe: [u32; 2],
    pub _rest: [u32; 46],
}

// SAFETY: the layout of `struct v4l2_streamparm` (204 bytes, asserted below), the argument of
// VIDIOC_S_PARM; only integers.
unsafe impl Request for StreamParm {
    const CODE: libc::c_ulong = VIDIOC_S_PARM;
}

/// The size each request code carries (bits 16..30) is the struct's size.
const fn size_of_code(code: libc::c_ulong) -> usize {
    ((code >> 16) & 0x3fff) as usize
}

const _: () = assert!(std::mem::size_of::<Capability>() == 104);
const _: () = assert!(std::mem::size_of::<Format>() == 208);
const _: () = assert!(std::mem::size_of::<StreamParm>() == 204);
const _: () = assert!(size_of_code(VIDIOC_QUERYCAP) == std::mem::size_of::<Capability>());
const _: () = assert!(size_of_code(VIDIOC_S_FMT) == std::mem::size_of::<Format>());
const _: () = assert!(size_of_code(VIDIOC_S_PARM) == std::mem::size_of::<StreamParm>());
