//! Still images (PNG, JPEG): one frame, then the end of the stream.

use std::path::Path;

use super::Source;
use crate::error::{Error, Result};
use crate::frame::{Frame, StreamInfo, StreamKind};

pub struct ImageSource {
    info: StreamInfo,
    frame: Option<Frame>,
}

impl ImageSource {
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let frame = super::guard(path, "image decoding", || decode_image(&bytes)).map_err(|e| match e {
            Error::Decode { message, .. } => Error::decode(path, message),
            other => other,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let format = ::image::guess_format(&bytes)
            .map(|f| format!("{f:?}").to_uppercase())
            .unwrap_or_else(|_| "image".into());
        Ok(Self {
            info: StreamInfo {
                kind: StreamKind::Image,
                width: frame.width,
                height: frame.height,
                rate: None,
                frames: Some(1),
                description: format!("{name}: {format} {}x{}", frame.width, frame.height),
            },
            frame: Some(frame),
        })
    }
}

/// Decodes PNG or JPEG bytes to RGBA. The path in the error is filled in by the caller.
pub fn decode_image(bytes: &[u8]) -> Result<Frame> {
    let img = ::image::load_from_memory(bytes)
        .map_err(|e| Error::decode("", format!("not a readable PNG/JPEG image: {e}")))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::decode("", "the image is empty (0x0 pixels)"));
    }
    let rgba = img.into_rgba8();
    Ok(Frame::new(rgba.width(), rgba.height(), rgba.into_raw()))
}

impl Source for ImageSource {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        Ok(self.frame.take())
    }
}
