//! Y4M (YUV4MPEG2) files: 8-bit 4:2:0, 4:2:2, 4:4:4 and mono.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::Source;
use crate::error::{Error, Result};
use crate::frame::{Frame, Rate, StreamInfo, StreamKind};

pub struct Y4mSource {
    path: PathBuf,
    decoder: ::y4m::Decoder<Counted<BufReader<File>>>,
    info: StreamInfo,
    shift: (u32, u32),
    mono: bool,
    /// Bytes the decoder has read so far, and the file's length: a frame cut short reads as
    /// the end of the stream to the `y4m` crate, and only these tell the two apart.
    read: Arc<AtomicU64>,
    len: Option<u64>,
    frames: u64,
}

/// Whether a cut Y4M's warning was printed (once a run: live `--input` reopens the file at
/// each loop).
static CUT_SAID: AtomicBool = AtomicBool::new(false);

/// A reader that counts the bytes it hands out.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Y4mSource {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let len = file.metadata().map(|m| m.len()).ok();
        let mut reader = BufReader::new(file);
        let (w, h) = declared_size(&mut reader).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        super::check_size(path, "Y4M header", w, h)?;
        // A frame of the largest picture in 4:4:4 (the decoder allocates one frame).
        let limits = ::y4m::Limits {
            bytes: 3 * super::MAX_PIXELS as usize,
        };
        let read = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            inner: reader,
            read: read.clone(),
        };
        let decoder = ::y4m::Decoder::new_with_limits(counted, limits)
            .map_err(|e| Error::decode(path, format!("not a valid Y4M header: {e:?}")))?;
        use ::y4m::Colorspace as C;
        let colorspace = decoder.get_colorspace();
        let (shift, mono) = match colorspace {
            C::C420 | C::C420jpeg | C::C420paldv | C::C420mpeg2 => ((1, 1), false),
            C::C422 => ((1, 0), false),
            C::C444 => ((0, 0), false),
            C::Cmono => ((0, 0), true),
            other => {
                return Err(Error::usage(format!(
                    "{}: Y4M colorspace {other:?} is not supported: use 8-bit 4:2:0, 4:2:2 or 4:4:4",
                    path.display()
                )))
            }
        };
        let (width, height) = (decoder.get_width() as u32, decoder.get_height() as u32);
        if width == 0 || height == 0 {
            return Err(Error::decode(path, "Y4M frame size is 0"));
        }
        let r = decoder.get_framerate();
        let rate = (r.num > 0 && r.den > 0 && r.num <= u32::MAX as usize && r.den <= u32::MAX as usize)
            .then(|| Rate::new(r.num as u32, r.den as u32));
        // Frame count from the file size, assuming no per-frame parameters (the usual case).
        let frames = len.and_then(|len| {
            let (cw, ch) = (
                (width as u64).div_ceil(1 << shift.0),
                (height as u64).div_ceil(1 << shift.1),
            );
            let planes = if mono { 0 } else { 2 * cw * ch };
            let frame = 6 + width as u64 * height as u64 + planes;
            let header = decoder.get_raw_params().len() as u64 + 10;
            len.checked_sub(header).map(|body| body / frame)
        });
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fps = rate.map(|r| format!(" {r} fps")).unwrap_or_default();
        Ok(Self {
            path: path.to_path_buf(),
            decoder,
            info: StreamInfo {
                kind: StreamKind::Video,
                width,
                height,
                rate: rate.or(Some(Rate::new(25, 1))),
                frames,
                description: format!("{name}: Y4M {colorspace:?} {width}x{height}{fps}"),
            },
            shift,
            mono,
            read,
            len,
            frames: 0,
        })
    }

    /// The end of the stream where the decoder saw one: at the end of the file, or before a
    /// frame cut short (said once, and an error when not even the first frame is whole).
    fn ended(&self, frame_start: u64) -> Result<Option<Frame>> {
        let Some(left) = self.len.and_then(|len| len.checked_sub(frame_start)).filter(|&n| n > 0) else {
            return Ok(None);
        };
        if self.frames == 0 {
            return Err(Error::decode(&self.path, "truncated Y4M: its first frame is cut short"));
        }
        if !CUT_SAID.swap(true, Ordering::Relaxed) {
            let name = self.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            crate::say!(
                "emojicam: warning: {name}: the Y4M file ends {left} bytes into frame {} (cut short?): only the {} whole frame(s) before it are shown",
                self.frames + 1,
                self.frames
            );
        }
        Ok(None)
    }
}

/// The width and height the Y4M header line declares (0 where it has none), read without
/// consuming it: the header is checked before the decoder allocates a frame of that size.
fn declared_size(reader: &mut BufReader<File>) -> std::io::Result<(u64, u64)> {
    use std::io::BufRead;
    let head = reader.fill_buf()?;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let field = |tag: u8| {
        line.split(|&b| b == b' ')
            .find(|f| f.first() == Some(&tag))
            .map_or(0, |f| {
                f[1..]
                    .iter()
                    .take_while(|d| d.is_ascii_digit())
                    .fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')))
            })
    };
    Ok((field(b'W'), field(b'H')))
}

impl Source for Y4mSource {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let (w, h) = (self.info.width as usize, self.info.height as usize);
        let frame_start = self.read.load(Ordering::Relaxed);
        let frame = match self.decoder.read_frame() {
            Ok(frame) => frame,
            Err(::y4m::Error::EOF) => return self.ended(frame_start),
            Err(::y4m::Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(Error::decode(&self.path, "truncated Y4M frame"))
            }
            Err(e) => return Err(Error::decode(&self.path, format!("bad Y4M frame: {e:?}"))),
        };
        let mut rgba = vec![0u8; w * h * 4];
        let cw = w.div_ceil(1 << self.shift.0);
        if self.mono {
            const GREY: [u8; 1] = [128];
            let y = frame.get_y_plane();
            for (o, &yy) in rgba.chunks_exact_mut(4).zip(y) {
                let (r, g, b) = crate::yuv::yuv_to_rgb(yy, GREY[0], GREY[0]);
                o.copy_from_slice(&[r, g, b, 255]);
            }
        } else {
            crate::yuv::planar_to_rgba(
                frame.get_y_plane(),
                frame.get_u_plane(),
                frame.get_v_plane(),
                (w, cw, cw),
                self.shift,
                w,
                h,
                &mut rgba,
            );
        }
        self.frames += 1;
        Ok(Some(Frame::new(w as u32, h as u32, rgba)))
    }
}
