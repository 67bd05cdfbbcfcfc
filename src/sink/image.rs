//! PNG/JPEG output: one picture. Given several frames, the last one written is saved.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use super::{image_of, AtomicFile, Sink};
use crate::domain::MosaicFrame;
use crate::error::{Error, Result};
use crate::frame::Frame;

pub struct ImageSink {
    file: AtomicFile,
    writer: Option<BufWriter<File>>,
    last: Option<Frame>,
}

impl ImageSink {
    pub fn create(path: &Path) -> Result<Self> {
        let (file, writer) = AtomicFile::create(path)?;
        Ok(Self {
            file,
            writer: Some(writer),
            last: None,
        })
    }
}

impl Sink for ImageSink {
    fn write(&mut self, _mosaic: &MosaicFrame, image: Option<&Frame>) -> Result<()> {
        let frame = image_of(image, self.file.target())?;
        match &mut self.last {
            Some(last) if last.width == frame.width && last.height == frame.height => {
                last.rgba.copy_from_slice(&frame.rgba)
            }
            last => *last = Some(frame.clone()),
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let target = self.file.target().to_path_buf();
        let frame = self
            .last
            .take()
            .ok_or_else(|| Error::encode(&target, "no frame was produced"))?;
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| Error::encode(&target, "finished twice"))?;
        let format = ::image::ImageFormat::from_path(&target).map_err(|e| Error::encode(&target, e.to_string()))?;
        let img = ::image::RgbaImage::from_raw(frame.width, frame.height, frame.rgba)
            .ok_or_else(|| Error::encode(&target, "frame buffer has the wrong size"))?;
        // The mosaic is opaque: JPEG takes no alpha, and WebP (lossless) is smaller without it.
        let result = if matches!(format, ::image::ImageFormat::Jpeg | ::image::ImageFormat::WebP) {
            ::image::DynamicImage::ImageRgba8(img)
                .into_rgb8()
                .write_to(&mut writer, format)
        } else {
            img.write_to(&mut writer, format)
        };
        result.map_err(|e| Error::encode(&target, e.to_string()))?;
        self.file.commit(writer)
    }
}
