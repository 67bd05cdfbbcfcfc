//! The V4L2 requests emojicam makes itself, where neither nokhwa nor the `v4l` crate has a
//! safe call that fits: `VIDIOC_QUERYCAP` (the `v4l` crate's `query_caps` panics on a device
//! name that is not UTF-8, which a v4l2loopback label can be), and for the virtual camera
//! (`sink/v4l2.rs`) `VIDIOC_S_FMT` and `VIDIOC_S_PARM` on an output device that is written to
//! with `write()` on our own non-blocking, close-on-exec descriptor (`v4l::Device` opens its
//! descriptor without close-on-exec). The structs and request codes are the `v4l` crate's
//! (its `v4l_sys` bindings of the kernel's `videodev2.h`). Every request goes through
//! [`ioctl`], whose argument type is tied to its request code by [`Request`]: the one `unsafe`
//! call is there.

use std::os::fd::RawFd;

use v4l::v4l2::vidioc::{self, VIDIOC_QUERYCAP, VIDIOC_S_FMT, VIDIOC_S_PARM};
use v4l::v4l_sys::{
    v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_OUTPUT as BUF_TYPE_VIDEO_OUTPUT, v4l2_capability, v4l2_format,
    v4l2_format__bindgen_ty_1, v4l2_fract, v4l2_outputparm, v4l2_streamparm, v4l2_streamparm__bindgen_ty_1,
    V4L2_CAP_DEVICE_CAPS,
};

pub(crate) use v4l::v4l_sys::{
    V4L2_CAP_META_CAPTURE as CAP_META_CAPTURE, V4L2_CAP_VIDEO_CAPTURE as CAP_VIDEO_CAPTURE,
    V4L2_CAP_VIDEO_OUTPUT as CAP_VIDEO_OUTPUT,
};

/// An argument of one V4L2 request.
///
/// # Safety
///
/// `Self` must be laid out exactly as the struct the kernel reads and writes for the request
/// `CODE` (the code's size bits say how many bytes it touches), and every bit pattern the
/// kernel may write must be a valid `Self` (plain integers, byte arrays and unions of them).
pub(crate) unsafe trait Request {
    const CODE: vidioc::_IOC_TYPE;
}

// SAFETY: the bindings of `struct v4l2_capability`, `struct v4l2_format` and `struct
// v4l2_streamparm`, the arguments of these requests (sizes asserted below); only integers,
// byte arrays and unions of them (no pointer is read or written by these requests).
unsafe impl Request for v4l2_capability {
    const CODE: vidioc::_IOC_TYPE = VIDIOC_QUERYCAP;
}

// SAFETY: as above.
unsafe impl Request for v4l2_format {
    const CODE: vidioc::_IOC_TYPE = VIDIOC_S_FMT;
}

// SAFETY: as above.
unsafe impl Request for v4l2_streamparm {
    const CODE: vidioc::_IOC_TYPE = VIDIOC_S_PARM;
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

/// What VIDIOC_QUERYCAP says a device is: the kernel's struct (its fields through `Deref`).
pub(crate) struct Capability(v4l2_capability);

impl std::ops::Deref for Capability {
    type Target = v4l2_capability;

    fn deref(&self) -> &v4l2_capability {
        &self.0
    }
}

impl Capability {
    /// What the node itself can do: a node of a multi-node device describes itself in
    /// `device_caps`.
    pub fn node_caps(&self) -> u32 {
        if self.0.capabilities & V4L2_CAP_DEVICE_CAPS != 0 {
            self.0.device_caps
        } else {
            self.0.capabilities
        }
    }

    /// The card name, up to its NUL.
    pub fn card(&self) -> &[u8] {
        let card = &self.0.card;
        let end = card.iter().position(|&c| c == 0).unwrap_or(card.len());
        &card[..end]
    }
}

/// VIDIOC_QUERYCAP: what the device on `fd` is.
pub(crate) fn query_caps(fd: RawFd) -> std::io::Result<Capability> {
    let mut caps = v4l2_capability {
        driver: [0; 16],
        card: [0; 32],
        bus_info: [0; 32],
        version: 0,
        capabilities: 0,
        device_caps: 0,
        reserved: [0; 3],
    };
    ioctl(fd, &mut caps)?;
    Ok(Capability(caps))
}

/// VIDIOC_S_FMT on the output buffer type of the device on `fd`: frames as `format`.
pub(crate) fn set_output_format(fd: RawFd, format: v4l::Format) -> std::io::Result<()> {
    let mut arg = v4l2_format {
        type_: BUF_TYPE_VIDEO_OUTPUT,
        fmt: v4l2_format__bindgen_ty_1 { raw_data: [0; 200] },
    };
    arg.fmt.pix = format.into();
    ioctl(fd, &mut arg)
}

/// VIDIOC_S_PARM on the output buffer type of the device on `fd`: `num/den` frames a second.
pub(crate) fn set_output_rate(fd: RawFd, num: u32, den: u32) -> std::io::Result<()> {
    let mut arg = v4l2_streamparm {
        type_: BUF_TYPE_VIDEO_OUTPUT,
        parm: v4l2_streamparm__bindgen_ty_1 { raw_data: [0; 200] },
    };
    arg.parm.output = v4l2_outputparm {
        capability: 0,
        outputmode: 0,
        // Seconds per frame.
        timeperframe: v4l2_fract {
            numerator: den,
            denominator: num,
        },
        extendedmode: 0,
        writebuffers: 0,
        reserved: [0; 4],
    };
    ioctl(fd, &mut arg)
}

/// The size each request code carries (bits 16..30) is the struct's size.
const fn size_of_code(code: vidioc::_IOC_TYPE) -> usize {
    ((code >> 16) & 0x3fff) as usize
}

const _: () = assert!(std::mem::size_of::<v4l2_capability>() == 104);
const _: () = assert!(std::mem::size_of::<v4l2_format>() == 208);
const _: () = assert!(std::mem::size_of::<v4l2_streamparm>() == 204);
const _: () = assert!(size_of_code(VIDIOC_QUERYCAP) == std::mem::size_of::<v4l2_capability>());
const _: () = assert!(size_of_code(VIDIOC_S_FMT) == std::mem::size_of::<v4l2_format>());
const _: () = assert!(size_of_code(VIDIOC_S_PARM) == std::mem::size_of::<v4l2_streamparm>());

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn requests_on_a_file_that_is_no_device_fail_cleanly() {
        let file = tempfile::tempfile().expect("temporary file");
        let fd = file.as_raw_fd();
        let format = v4l::Format::new(64, 48, v4l::FourCC::new(b"YUYV"));
        for result in [
            query_caps(fd).map(|_| ()),
            set_output_format(fd, format),
            set_output_rate(fd, 30, 1),
        ] {
            let e = result.expect_err("a plain file is no V4L2 device");
            assert_eq!(e.raw_os_error(), Some(libc::ENOTTY), "{e}");
        }
    }
}
