//! HEIC and AVIF photos (HEIF files: the default photo format of iPhones and many Android
//! phones), read by libheif, the reference HEIF library: its HEVC (libde265) and AV1 (dav1d or
//! aom) decoders, tiled grids (a phone's 512x512 tiles), and the file's rotation, mirroring and
//! crop (`irot`, `imir`, `clap`), so the picture comes upright as the phone showed it, and in the
//! colours it showed (its ICC profile or `nclx` primaries converted to sRGB: [`super::colour`]).
//!
//! Only the primary picture is read: a burst gives its primary picture, an image sequence
//! (an animated AVIF or HEIF: `avis`, `heis`, `msf1`) its still first frame, each with a note.
//! 10- and 12-bit pictures come as 8-bit RGBA; the caller (`super::image`) composites an alpha
//! channel over the mosaic's background as for any image.

use libheif_rs::{ColorSpace, HeifContext, HeifError, HeifErrorCode, ItemId, LibHeif, RgbChroma};

use crate::error::{Error, Result};

fn bad(e: impl std::fmt::Display) -> Error {
    Error::decode("", format!("not a readable HEIF picture: {e}"))
}

/// libheif's error in one line: a picture coded in a way this libheif cannot decode (another
/// codec, a feature it lacks) is an unsupported format, anything else damage.
fn heif_error(e: HeifError) -> Error {
    let message = e.message.split_whitespace().collect::<Vec<_>>().join(" ");
    match e.code {
        HeifErrorCode::UnsupportedFileType | HeifErrorCode::UnsupportedFeature | HeifErrorCode::DecoderPluginError => {
            Error::usage(format!(
                "this HEIF picture cannot be decoded here ({message}): convert it to JPEG or PNG first (heif-convert IN OUT.jpg)"
            ))
        }
        _ => bad(if message.is_empty() { format!("{:?}", e.code) } else { message }),
    }
}

/// Whether the bytes are a HEIF file (HEIC, AVIF, HEIF), by the `ftyp` box's major brand.
pub fn brand(head: &[u8]) -> Option<&'static str> {
    if head.get(4..8) != Some(b"ftyp") {
        return None;
    }
    match head.get(8..12)? {
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => Some("HEIC"),
        b"avif" | b"avis" => Some("AVIF"),
        b"mif1" | b"msf1" => Some("HEIF"),
        _ => None,
    }
}

/// A decoded HEIF picture: upright RGBA, row after row.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
    /// Whether the picture has an alpha channel (else every alpha byte is 255).
    pub alpha: bool,
    /// What was left out of the file, in words (the other pictures of a burst).
    pub note: Option<String>,
}

/// Decodes HEIF bytes to upright RGBA (the caller fills in the path of an error). The picture's
/// declared size is checked before anything of its size is allocated.
pub fn decode(bytes: &[u8]) -> Result<Picture> {
    let lib = LibHeif::new();
    let ctx = HeifContext::read_from_bytes(bytes).map_err(heif_error)?;
    // An animated AVIF or HEIF (a `pict` track of frames, which GStreamer's demuxer does not
    // play) usually carries its first frame as the primary picture too.
    let sequence = matches!(bytes.get(8..12), Some(b"avis" | b"heis" | b"hevc" | b"hevx" | b"msf1"));
    let handle = ctx.primary_image_handle().map_err(|e| {
        if sequence {
            Error::usage(
                "an image sequence (animated AVIF or HEIF) without a still picture: convert it to MP4 first (ffmpeg -i IN OUT.mp4)",
            )
        } else {
            heif_error(e)
        }
    })?;
    let (width, height) = (handle.width(), handle.height());
    super::check_size(std::path::Path::new(""), "HEIF picture", width.into(), height.into())?;
    if width == 0 || height == 0 {
        return Err(Error::decode("", "the picture is empty (0x0 pixels)"));
    }
    let mut ids: Vec<ItemId> = vec![0; ctx.number_of_top_level_images()];
    let count = ctx.top_level_image_ids(&mut ids);
    let note = if sequence {
        Some(
            "it is an image sequence (an animated AVIF or HEIF): only its first picture is read (convert it to MP4 for all of them: ffmpeg -i IN OUT.mp4)"
                .to_string(),
        )
    } else {
        (count > 1).then(|| format!("it holds {count} pictures (a burst): only its primary picture is read"))
    };
    let alpha = handle.has_alpha_channel();
    let image = lib
        .decode(&handle, ColorSpace::Rgb(RgbChroma::Rgba), None)
        .map_err(heif_error)?;
    let plane = image
        .planes()
        .interleaved
        .ok_or_else(|| bad("the decoder gave no RGBA picture"))?;
    let (w, h) = (plane.width, plane.height);
    if plane.storage_bits_per_pixel != 32 || w == 0 || h == 0 {
        return Err(bad(format!(
            "the decoder gave {w}x{h} at {} bits a pixel, not 8-bit RGBA",
            plane.storage_bits_per_pixel
        )));
    }
    let row = w as usize * 4;
    let mut rgba = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        let at = y * plane.stride;
        let line = plane
            .data
            .get(at..at + row)
            .ok_or_else(|| bad("the decoder's picture is shorter than its size"))?;
        rgba.extend_from_slice(line);
    }
    if !alpha {
        for px in rgba.chunks_exact_mut(4) {
            px[3] = 255;
        }
    }
    // The picture's colour space (an ICC profile, or `nclx` primaries: an iPhone's Display P3).
    if let Some(icc) = handle.color_profile_raw() {
        super::colour::icc_to_srgb(&mut rgba, &icc.data);
    } else if let Some(nclx) = handle.color_profile_nclx() {
        super::colour::cicp_to_srgb(
            &mut rgba,
            nclx.color_primaries() as u8,
            nclx.transfer_characteristics() as u8,
        );
    }
    Ok(Picture {
        width: w,
        height: h,
        rgba,
        alpha,
        note,
    })
}
