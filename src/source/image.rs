//! Still images (PNG, JPEG, WebP, BMP, TIFF, and HEIC/AVIF through [`super::heif`]): one frame, then
//! the end of the stream.
//!
//! Shown as people see them: the EXIF orientation a JPEG, PNG, WebP or TIFF carries is applied, a colour
//! profile other than sRGB (Display P3, Adobe RGB, ...) is converted to sRGB ([`super::colour`]), and transparent
//! pixels are composited over the mosaic's background colour
//! ([`set_transparent_background`]). Damage is never silent: a PNG whose checksums fail or
//! whose data ends early is refused; a JPEG whose data ends before its end marker is rendered
//! (the missing part is grey, as viewers show it) with a one-line warning naming the damage.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use super::Source;
use crate::error::{Error, Result};
use crate::frame::{Frame, StreamInfo, StreamKind};

/// The largest still image file read (a 16384x16384 PNG compresses far below this).
pub const MAX_IMAGE_BYTES: u64 = 1 << 30;

static BACKGROUND: AtomicU32 = AtomicU32::new(0);

/// The colour transparent pixels are composited over (the mosaic's background; black unless
/// set).
pub fn set_transparent_background(rgb: [u8; 3]) {
    BACKGROUND.store(u32::from_be_bytes([0, rgb[0], rgb[1], rgb[2]]), Ordering::Relaxed);
}

pub(super) fn transparent_background() -> [u8; 3] {
    let [_, r, g, b] = BACKGROUND.load(Ordering::Relaxed).to_be_bytes();
    [r, g, b]
}

pub struct ImageSource {
    info: StreamInfo,
    frame: Option<Frame>,
}

impl ImageSource {
    pub fn open(path: &Path) -> Result<Self> {
        let read_err = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_IMAGE_BYTES + 1), &mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_IMAGE_BYTES {
            return Err(Error::decode(
                path,
                format!("the image file is larger than {} MiB", MAX_IMAGE_BYTES >> 20),
            ));
        }
        let decoded = super::guard(path, "image decoding", || decode_image(&bytes)).map_err(|e| match e {
            Error::Decode { message, .. } => Error::decode(path, message),
            Error::Usage(message) => Error::usage(format!("{}: {message}", path.display())),
            other => other,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(damage) = &decoded.damage {
            crate::say!("emojicam: warning: {name}: {damage}");
        }
        if let Some(note) = &decoded.note {
            crate::note!("emojicam: {name}: {note}");
        }
        if png_is_animated(&bytes) {
            crate::note!(
                "emojicam: {name} is an animated PNG: only its first frame is read (convert it to GIF or MP4 for all of them)"
            );
        }
        if webp_is_animated(&bytes) {
            crate::note!(
                "emojicam: {name} is an animated WebP: only its first frame is read (convert it to GIF or MP4 for all of them)"
            );
        }
        let frame = decoded.frame;
        let format = match super::heif::brand(&bytes) {
            Some(kind) => kind.to_string(),
            None => ::image::guess_format(&bytes)
                .map(|f| format!("{f:?}").to_uppercase())
                .unwrap_or_else(|_| "image".into()),
        };
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

/// A decoded still image.
pub struct Decoded {
    /// Upright, opaque RGBA.
    pub frame: Frame,
    /// Damage that was worked around, in words (for a warning).
    pub damage: Option<String>,
    /// What was left out of the file, in words (for a note: e.g. a HEIF burst's other pictures).
    pub note: Option<String>,
}

/// Whether WebP bytes hold an animation: a `VP8X` header chunk with its animation flag.
fn webp_is_animated(bytes: &[u8]) -> bool {
    bytes.starts_with(b"RIFF")
        && bytes.get(8..16) == Some(b"WEBPVP8X")
        && bytes.get(20).is_some_and(|flags| flags & 0x02 != 0)
}

/// A TIFF whose colour encoding neither decoder reads (the `image` crate's nor libtiff's through
/// GStreamer, [`decode_tiff_gst`]): a format we do not read, not damage.
const TIFF_ENCODING: &str = "this TIFF's colour encoding (YCbCr, a palette of indexed colours, or another the decoder lacks) is not supported: convert it to PNG or JPEG first (e.g. convert IN.tif OUT.png)";

/// A TIFF the `image` crate does not read (YCbCr, which scanners, some cameras and
/// JPEG-compressed TIFFs use; a palette of indexed colours, as scanned documents and maps have),
/// read by libtiff through GStreamer's `gdkpixbufdec` (gstreamer1.0-plugins-good), its header
/// checked first ([`tiff_header`]), shown upright ([`upright_from_libtiff`]), with its colour
/// profile for the caller to convert to sRGB as any other picture's. None when
/// GStreamer or the element is missing (the caller then refuses the file, [`TIFF_ENCODING`]); an
/// error naming the damage when libtiff cannot read it.
fn decode_tiff_gst(bytes: &[u8]) -> Option<Result<(::image::RgbaImage, Option<Vec<u8>>)>> {
    let TiffHeader {
        width,
        height,
        orientation,
        icc,
    } = match tiff_header(bytes)? {
        Ok(header) => header,
        Err(e) => return Some(Err(e)),
    };
    // Stopped when dropped, at the end of this function.
    let d = crate::media::MemoryDecoder::new("image/tiff", "gdkpixbufdec", |_| {}, gstreamer_video::VideoFormat::Rgba)?;
    let picture = d
        .src
        .push_buffer(gstreamer::Buffer::from_slice(bytes.to_vec()))
        .ok()
        .and_then(|_| d.src.end_of_stream().ok())
        .and_then(|_| d.sink.try_pull_sample(gstreamer::ClockTime::from_seconds(60)))
        .and_then(|sample| {
            let info = gstreamer_video::VideoInfo::from_caps(sample.caps()?).ok()?;
            let map = sample.buffer()?.map_readable().ok()?;
            let (w, h, stride) = (info.width(), info.height(), info.stride()[0] as usize);
            let row = w as usize * 4;
            if (w, h) != (width, height) || stride < row || map.len() < stride * (h as usize - 1) + row {
                return None;
            }
            let rows = map.chunks(stride).take(h as usize);
            let rgba: Vec<u8> = rows.flat_map(|r| &r[..row]).copied().collect();
            Some(upright_from_libtiff(
                ::image::RgbaImage::from_raw(w, h, rgba)?,
                orientation,
            ))
        });
    // What libtiff said, when no picture came out.
    let why = d.bus.iter().find_map(|msg| match msg.view() {
        gstreamer::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    });
    Some(picture.map(|p| (p, icc)).ok_or_else(|| {
        let why = why.unwrap_or_else(|| "no picture came out of it".into());
        Error::decode("", format!("not a readable TIFF: {why}"))
    }))
}

/// What [`tiff_header`] reads: the declared size, the orientation tag and the colour profile.
struct TiffHeader {
    width: u32,
    height: u32,
    orientation: ::image::metadata::Orientation,
    icc: Option<Vec<u8>>,
}

/// A TIFF's declared size, checked ([`super::check_size`]), its orientation tag and its colour
/// profile, read with the `tiff` crate before libtiff decodes it; an error when its strips or
/// tiles lie past the end of the file (libtiff reads on as if the missing data were there and
/// says nothing). None when the header itself is unreadable.
fn tiff_header(bytes: &[u8]) -> Option<Result<TiffHeader>> {
    use tiff::tags::Tag;
    let mut header = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes)).ok()?;
    let (width, height) = header.dimensions().ok()?;
    if let Err(e) = super::check_size(Path::new(""), "image header", width.into(), height.into()) {
        return Some(Err(e));
    }
    let mut parts = |offsets, counts| {
        let offsets = header.find_tag_unsigned_vec::<u64>(offsets).ok().flatten()?;
        let counts = header.find_tag_unsigned_vec::<u64>(counts).ok().flatten()?;
        Some((offsets, counts))
    };
    let (offsets, counts) = parts(Tag::StripOffsets, Tag::StripByteCounts)
        .or_else(|| parts(Tag::TileOffsets, Tag::TileByteCounts))
        .unwrap_or_default();
    let len = bytes.len() as u64;
    if offsets.len() != counts.len() || offsets.iter().zip(&counts).any(|(&o, &c)| o.saturating_add(c) > len) {
        return Some(Err(Error::decode(
            "",
            "not a readable TIFF: its image data lies past the end of the file (cut short?)",
        )));
    }
    let orientation = header
        .find_tag_unsigned::<u8>(Tag::Orientation)
        .ok()
        .flatten()
        .and_then(::image::metadata::Orientation::from_exif)
        .unwrap_or(::image::metadata::Orientation::NoTransforms);
    let icc = header.get_tag_u8_vec(Tag::IccProfile).ok();
    Some(Ok(TiffHeader {
        width,
        height,
        orientation,
        icc,
    }))
}

/// A picture as libtiff gave it (gdk-pixbuf's loader asks for the top-left origin) shown as its
/// orientation tag says, like the `image` crate's TIFFs. libtiff applies the tag's flips and
/// leaves its quarter turns, so a turned picture comes out flipped (6: mirrored, 7: half turned,
/// 8: upside down): that flip undone, the tag applies whole.
fn upright_from_libtiff(rgba: ::image::RgbaImage, orientation: ::image::metadata::Orientation) -> ::image::RgbaImage {
    use ::image::metadata::Orientation::*;
    let (undo, then) = match orientation {
        FlipHorizontal | Rotate180 | FlipVertical => (NoTransforms, NoTransforms),
        Rotate90 => (FlipHorizontal, Rotate90),
        Rotate270FlipH => (Rotate180, Rotate270FlipH),
        Rotate270 => (FlipVertical, Rotate270),
        other => (NoTransforms, other),
    };
    let mut upright = ::image::DynamicImage::from(rgba);
    upright.apply_orientation(undo);
    upright.apply_orientation(then);
    upright.into_rgba8()
}

/// Decodes PNG, JPEG, WebP, BMP or TIFF bytes to upright, opaque RGBA. The path in the error is filled in by the
/// caller.
pub fn decode_image(bytes: &[u8]) -> Result<Decoded> {
    use ::image::ImageDecoder;
    if super::heif::brand(bytes).is_some() {
        let mut picture = super::heif::decode(bytes)?;
        if picture.alpha {
            over_background(&mut picture.rgba, transparent_background());
        }
        return Ok(Decoded {
            frame: Frame::new(picture.width, picture.height, picture.rgba),
            damage: None,
            note: picture.note,
        });
    }
    let bad = |e: &dyn std::fmt::Display| Error::decode("", format!("not a readable image: {e}"));
    // A Motion-JPEG frame saved as a photo (a webcam's or IP camera's snapshot) may lack its
    // Huffman tables: the standard ones go in (the bytes only; the file is not touched).
    let bytes = &*super::jpeg::with_huffman_tables(bytes);
    let mut reader = ::image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(&e))?;
    // Reading the header allocates nothing of the picture's size: its declared size is checked
    // first, with a clear message, then the decoder's own allocation limit (its working memory
    // included) stands behind that.
    reader.no_limits();
    let format = reader.format();
    let tiff_unsupported = |e: &::image::ImageError| {
        matches!(e, ::image::ImageError::Unsupported(_)) && format == Some(::image::ImageFormat::Tiff)
    };
    let failed = |e: ::image::ImageError| match e {
        e if tiff_unsupported(&e) => Error::usage(TIFF_ENCODING),
        e => bad(&e),
    };
    let mut decoder = match reader.into_decoder() {
        Ok(decoder) => decoder,
        Err(e) if tiff_unsupported(&e) => {
            let (rgba, icc) = decode_tiff_gst(bytes).unwrap_or_else(|| Err(Error::usage(TIFF_ENCODING)))?;
            return Ok(finish(rgba, icc.as_deref(), true, None));
        }
        Err(e) => return Err(bad(&e)),
    };
    let (width, height) = decoder.dimensions();
    super::check_size(Path::new(""), "image header", width.into(), height.into())?;
    let mut limits = ::image::Limits::default();
    limits.max_alloc = Some(super::MAX_PIXELS * 8);
    decoder.set_limits(limits).map_err(|e| bad(&e))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(::image::metadata::Orientation::NoTransforms);
    // A profile the decoder cannot read is as if absent (viewers show such a picture as sRGB).
    let icc = decoder.icc_profile().ok().flatten();
    let mut img = ::image::DynamicImage::from_decoder(decoder).map_err(failed)?;
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::decode("", "the image is empty (0x0 pixels)"));
    }
    img.apply_orientation(orientation);
    let damage = (format == Some(::image::ImageFormat::Jpeg) && jpeg_truncated(bytes)).then(|| {
        "the JPEG is truncated (its data ends before the end-of-image marker): the missing part is rendered grey"
            .to_string()
    });
    let has_alpha = img.color().has_alpha();
    Ok(finish(img.into_rgba8(), icc.as_deref(), has_alpha, damage))
}

/// A decoded picture as shown: converted to sRGB from its colour profile, composited over the
/// transparent background where it has alpha.
fn finish(mut rgba: ::image::RgbaImage, icc: Option<&[u8]>, has_alpha: bool, damage: Option<String>) -> Decoded {
    if let Some(icc) = icc {
        super::colour::icc_to_srgb(&mut rgba, icc);
    }
    if has_alpha {
        over_background(&mut rgba, transparent_background());
    }
    Decoded {
        frame: Frame::new(rgba.width(), rgba.height(), rgba.into_raw()),
        damage,
        note: None,
    }
}

/// Composites RGBA pixels over an opaque colour ("over" operator), leaving them opaque.
pub fn over_background(rgba: &mut [u8], bg: [u8; 3]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = u32::from(px[3]);
        if a == 255 {
            continue;
        }
        for c in 0..3 {
            let v = u32::from(px[c]) * a + u32::from(bg[c]) * (255 - a);
            px[c] = ((v + 127) / 255) as u8;
        }
        px[3] = 255;
    }
}

/// Whether PNG bytes are an animated PNG: an `acTL` chunk before the first `IDAT`.
pub fn png_is_animated(b: &[u8]) -> bool {
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return false;
    }
    let mut i = 8usize;
    while let (Some(len), Some(kind)) = (b.get(i..i + 4), b.get(i + 4..i + 8)) {
        match kind {
            b"acTL" => return true,
            b"IDAT" | b"IEND" => return false,
            _ => {}
        }
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        i = i.saturating_add(12).saturating_add(len);
    }
    false
}

/// Whether a JPEG's data ends before its End Of Image marker: walks the marker segments by
/// their lengths and the entropy-coded data after each start of scan.
pub fn jpeg_truncated(b: &[u8]) -> bool {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    loop {
        // The next marker: 0xFF (possibly repeated as fill), then its code.
        while i < b.len() && b[i] != 0xFF {
            i += 1;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&code) = b.get(i) else { return true };
        i += 1;
        match code {
            0xD9 => return false,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = b.get(i..i + 2).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
            return true;
        };
        if len < 2 || i + len > b.len() {
            return true;
        }
        i += len;
        if code == 0xDA {
            // Entropy-coded data: 0xFF 0x00 is a stuffed byte, 0xFF 0xD0..0xD7 a restart marker.
            loop {
                match b[i..].iter().position(|&x| x == 0xFF) {
                    None => return true,
                    Some(p) => i += p,
                }
                let mut j = i + 1;
                while j < b.len() && b[j] == 0xFF {
                    j += 1;
                }
                match b.get(j) {
                    None => return true,
                    Some(0x00 | 0xD0..=0xD7) => i = j + 1,
                    Some(_) => break,
                }
            }
        }
    }
}

impl Source for ImageSource {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        Ok(self.frame.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg() -> Vec<u8> {
        let img = ::image::RgbImage::from_fn(64, 48, |x, y| ::image::Rgb([x as u8 * 4, y as u8 * 5, 128]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ::image::ImageFormat::Jpeg).expect("encode");
        out.into_inner()
    }

    #[test]
    fn a_cut_jpeg_is_truncated_a_whole_one_is_not() {
        let j = jpeg();
        assert!(!jpeg_truncated(&j));
        let mut trailing = j.clone();
        trailing.extend_from_slice(b"trailer bytes after the image");
        assert!(!jpeg_truncated(&trailing));
        for cut in [j.len() - 2, j.len() / 2, 200, 3] {
            assert!(jpeg_truncated(&j[..cut]), "cut at {cut}");
        }
        let d = decode_image(&j[..j.len() * 2 / 3]).expect("renders");
        assert!(d.damage.is_some_and(|m| m.contains("truncated")));
    }

    #[test]
    fn transparency_goes_over_the_background() {
        let mut px = [255, 0, 0, 0, 255, 0, 0, 255, 200, 100, 50, 128];
        over_background(&mut px, [0, 0, 255]);
        assert_eq!(px, [0, 0, 255, 255, 255, 0, 0, 255, 100, 50, 152, 255]);
    }
}
