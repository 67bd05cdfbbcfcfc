//! Y4M output (4:2:0, BT.601 limited range), to a file or to stdout (`--output -`).
//!
//! The header is written with the first frame, whose size fixes the stream's size. Chroma is
//! averaged over 2x2 blocks (centred siting), hence `C420jpeg`; `XCOLORRANGE=LIMITED` tells
//! ffmpeg the range.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{image_of, AtomicFile, Sink};
use crate::domain::MosaicFrame;
use crate::error::{Error, Result};
use crate::frame::{Frame, Rate, StreamInfo};

enum Out {
    File(AtomicFile, BufWriter<File>),
    Stdout(BufWriter<std::io::Stdout>),
}

pub struct Y4mSink {
    path: PathBuf,
    out: Option<Out>,
    rate: Rate,
    size: Option<(u32, u32)>,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl Y4mSink {
    pub fn create(path: &Path, info: &StreamInfo) -> Result<Self> {
        let (file, writer) = AtomicFile::create(path)?;
        Ok(Self::new(path.to_path_buf(), Out::File(file, writer), info))
    }

    /// Y4M on standard output; nothing else may be printed there.
    pub fn stdout(info: &StreamInfo) -> Self {
        Self::new(
            PathBuf::from("-"),
            Out::Stdout(BufWriter::with_capacity(1 << 20, std::io::stdout())),
            info,
        )
    }

    fn new(path: PathBuf, out: Out, info: &StreamInfo) -> Self {
        let rate = info.rate.filter(|r| r.num > 0 && r.den > 0).unwrap_or(Rate::new(25, 1));
        Self {
            path,
            out: Some(out),
            rate,
            size: None,
            y: Vec::new(),
            u: Vec::new(),
            v: Vec::new(),
        }
    }
}

impl Sink for Y4mSink {
    fn write(&mut self, _mosaic: &MosaicFrame, image: Option<&Frame>) -> Result<()> {
        let frame = image_of(image, &self.path)?;
        let (w, h) = (frame.width as usize, frame.height as usize);
        let mut header = None;
        match self.size {
            None => {
                self.size = Some((frame.width, frame.height));
                let (ylen, clen) = crate::yuv::i420_sizes(w, h);
                self.y.resize(ylen, 0);
                self.u.resize(clen, 0);
                self.v.resize(clen, 0);
                header = Some(format!(
                    "YUV4MPEG2 W{w} H{h} F{}:{} Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\n",
                    self.rate.num, self.rate.den
                ));
            }
            Some(size) if size != (frame.width, frame.height) => {
                return Err(Error::encode(
                    &self.path,
                    format!("frame size changed from {}x{} to {w}x{h}", size.0, size.1),
                ))
            }
            Some(_) => {}
        }
        crate::yuv::rgba_to_i420(&frame.rgba, w, h, &mut self.y, &mut self.u, &mut self.v);
        let writer: &mut dyn Write = match self.out.as_mut() {
            Some(Out::File(_, w)) => w,
            Some(Out::Stdout(w)) => w,
            None => return Err(Error::encode(&self.path, "write after finish")),
        };
        let path = &self.path;
        let result = (|| {
            if let Some(header) = &header {
                writer.write_all(header.as_bytes())?;
            }
            writer.write_all(b"FRAME\n")?;
            writer.write_all(&self.y)?;
            writer.write_all(&self.u)?;
            writer.write_all(&self.v)
        })();
        result.map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })
    }

    fn finish(&mut self) -> Result<()> {
        match self.out.take() {
            // No frame, no header: an empty file would look like a result.
            Some(Out::File(mut file, writer)) if self.size.is_none() => {
                drop(writer);
                file.discard();
                Ok(())
            }
            Some(Out::File(mut file, writer)) => file.commit(writer),
            Some(Out::Stdout(mut w)) => w.flush().map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::StreamKind;

    fn info() -> StreamInfo {
        StreamInfo {
            kind: StreamKind::Video,
            width: 64,
            height: 48,
            rate: Some(Rate::new(30, 1)),
            frames: None,
            description: "test".into(),
        }
    }

    #[test]
    fn a_stream_that_got_no_frame_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (new, old) = (dir.path().join("new.y4m"), dir.path().join("old.y4m"));
        std::fs::write(&old, b"someone's file").expect("write");
        for path in [&new, &old] {
            let mut sink = Y4mSink::create(path, &info()).expect("create");
            sink.finish().expect("finish");
        }
        assert!(!new.exists(), "an empty stream file was left");
        assert_eq!(std::fs::read(&old).expect("read"), b"someone's file");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "partial files left"
        );
    }
}
