//! Pictures in their own colours: a picture tagged with a colour space other than sRGB (an ICC
//! profile: Display P3 from phones and Macs, Adobe RGB or ProPhoto from cameras and editors; or a
//! HEIF/AVIF file's `nclx` primaries) is converted to sRGB, the space the emoji atlas and the
//! outputs are in, as a colour-managed viewer shows it. Without this a Display P3 photo comes out
//! duller and an Adobe RGB one greener.
//!
//! The conversion is moxcms's (a colour-management engine in Rust, the one `image` uses), with
//! the perceptual intent viewers use (the same as relative colorimetric for the usual
//! matrix-and-curve profiles), on 8-bit RGBA. A profile that cannot be read, or that describes grey or
//! CMYK data (the decoder has already made RGB of those), leaves the pixels as they are, as
//! viewers do. A still picture with an HDR curve (PQ, HLG) is left alone too.
//!
//! Videos: [`VideoToSrgb`] maps HDR (HLG, PQ) and wide-gamut (BT.2020, Display P3) video to SDR
//! sRGB, with tables built from the standards' formulas (a frame at a time, so it must be fast).

use moxcms::{
    CicpColorPrimaries, CicpProfile, ColorProfile, DataColorSpace, Layout, MatrixCoefficients, RenderingIntent,
    TransferCharacteristics, TransformOptions,
};

/// Converts RGBA pixels described by the ICC profile `icc` to sRGB, in place (alpha is kept).
/// Returns whether anything was converted: `false` for an unreadable profile, a grey or CMYK
/// one, or one that is sRGB in all but name.
pub fn icc_to_srgb(rgba: &mut [u8], icc: &[u8]) -> bool {
    match ColorProfile::new_from_slice(icc) {
        Ok(profile) if profile.color_space == DataColorSpace::Rgb => to_srgb(rgba, &profile),
        _ => false,
    }
}

/// Converts RGBA pixels whose primaries and transfer curve are given as CICP code points (ITU-T
/// H.273, as a HEIF `nclx` box carries them) to sRGB, in place. Returns whether anything was
/// converted: BT.709/sRGB primaries, unspecified or unknown ones, and HDR curves are left as
/// they are.
pub fn cicp_to_srgb(rgba: &mut [u8], primaries: u8, transfer: u8) -> bool {
    // 1 (BT.709, sRGB's primaries) and 2 (unspecified): shown as sRGB.
    if matches!(primaries, 1 | 2) {
        return false;
    }
    let Ok(color_primaries) = CicpColorPrimaries::try_from(primaries) else {
        return false;
    };
    // 1, 6, 14, 15: the BT.709 curve, which viewers show stills in as sRGB; 2 unspecified; 13 sRGB.
    let transfer = match transfer {
        1 | 2 | 6 | 13 | 14 | 15 => TransferCharacteristics::Srgb,
        t => match TransferCharacteristics::try_from(t) {
            Ok(TransferCharacteristics::Smpte2084 | TransferCharacteristics::Hlg) | Err(_) => return false,
            Ok(t) => t,
        },
    };
    let cicp = CicpProfile {
        color_primaries,
        transfer_characteristics: transfer,
        matrix_coefficients: MatrixCoefficients::Bt709,
        full_range: true,
    };
    let profile = ColorProfile::new_from_cicp(cicp);
    if profile.red_trc.is_none() {
        return false;
    }
    to_srgb(rgba, &profile)
}

fn to_srgb(rgba: &mut [u8], profile: &ColorProfile) -> bool {
    let options = TransformOptions {
        rendering_intent: RenderingIntent::Perceptual,
        ..TransformOptions::default()
    };
    let srgb = ColorProfile::new_srgb();
    let Ok(transform) = profile.create_transform_8bit(Layout::Rgba, &srgb, Layout::Rgba, options) else {
        return false;
    };
    if is_identity(&*transform) {
        return false;
    }
    let mut out = vec![0u8; rgba.len() - rgba.len() % 4];
    let whole = out.len();
    if transform.transform(&rgba[..whole], &mut out).is_err() {
        return false;
    }
    rgba[..whole].copy_from_slice(&out);
    true
}

/// Whether the transform leaves every colour within one level (an sRGB profile under another
/// name, or one that differs only by rounding): such pictures are left untouched.
fn is_identity(transform: &dyn moxcms::TransformExecutor<u8>) -> bool {
    let mut probe = Vec::new();
    for v in (0..=255u16).step_by(15) {
        let v = v as u8;
        for px in [
            [v, 0, 0],
            [0, v, 0],
            [0, 0, v],
            [v, v, v],
            [v, 255 - v, 128],
            [255, v, 255 - v],
        ] {
            probe.extend_from_slice(&[px[0], px[1], px[2], 255]);
        }
    }
    let mut out = vec![0u8; probe.len()];
    transform.transform(&probe, &mut out).is_ok() && probe.iter().zip(&out).all(|(a, b)| a.abs_diff(*b) <= 1)
}

/// How a video's R'G'B' values encode light: SDR (sRGB-like), or one of the two HDR curves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    Sdr,
    /// Hybrid log-gamma (ARIB STD-B67): phones' HDR video (iPhone, Pixel).
    Hlg,
    /// Perceptual quantiser (SMPTE ST 2084): HDR10 and Dolby Vision masters.
    Pq,
}

/// The primaries of a video's R'G'B'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Primaries {
    Bt709,
    Bt2020,
    DisplayP3,
}

/// Maps an HDR or wide-gamut video's pixels to SDR, as an SDR screen should show them: the curve
/// decoded to display light with the picture's reference white (HLG 75%, PQ 203 cd/m²: BT.2408)
/// at SDR white (HLG's scene light through its system gamma, 1.2), the primaries converted to
/// BT.709/sRGB's, highlights above the reference white rolled off instead of clipped, and the
/// light encoded for an SDR screen (BT.1886's gamma 2.4, as SDR video is). Without it an HLG clip
/// looks dark and dull and a PQ one grey and flat. It matches libzimg's (ffmpeg's `zscale`)
/// conversion of the same pictures within a level or two.
pub struct VideoToSrgb {
    transfer: Transfer,
    /// R'G'B' (0..=1023 for 0..=1) to display light, SDR white at 1.
    decode: Box<[f32; DECODE_STEPS]>,
    /// Linear BT.709 from linear source primaries (row-major).
    matrix: [[f32; 3]; 3],
    /// Display light (0..=ENCODE_MAX in ENCODE_STEPS steps) to an SDR 8-bit code, highlights
    /// rolled off.
    encode: Box<[u8; ENCODE_STEPS]>,
}

const DECODE_STEPS: usize = 1024;
/// The encoding table covers display light 0..=ENCODE_MAX (past it, the roll-off is at white).
const ENCODE_MAX: f32 = 2.0;
const ENCODE_STEPS: usize = 8192;
/// Where highlights start to roll off (of SDR white).
const KNEE: f64 = 0.9;

impl VideoToSrgb {
    /// The mapping for a video, or `None` for an SDR BT.709 one (shown as it is).
    pub fn new(transfer: Transfer, primaries: Primaries) -> Option<Self> {
        if transfer == Transfer::Sdr && primaries == Primaries::Bt709 {
            return None;
        }
        let matrix = match primaries {
            Primaries::Bt709 => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            Primaries::Bt2020 => [
                [1.660_491, -0.587_641, -0.072_850],
                [-0.124_550, 1.132_9, -0.008_349],
                [-0.018_151, -0.100_579, 1.118_73],
            ],
            Primaries::DisplayP3 => [
                [1.224_94, -0.224_94, 0.0],
                [-0.042_057, 1.042_057, 0.0],
                [-0.019_638, -0.078_636, 1.098_274],
            ],
        };
        let decode = Box::new(std::array::from_fn(|i| {
            let e = i as f64 / (DECODE_STEPS - 1) as f64;
            (match transfer {
                Transfer::Sdr => e.powf(2.4),
                // Scene light to display light with HLG's system gamma (1.2), per channel as
                // an SDR camera's curve and screen render a scene (BT.2100 applies it to
                // luminance, which leaves the picture visibly less saturated than an SDR
                // rendition of the same scene).
                Transfer::Hlg => (hlg_to_scene(e) / hlg_to_scene(0.75)).powf(1.2),
                Transfer::Pq => pq_to_nits(e) / 203.0,
            }) as f32
        }));
        let encode = Box::new(std::array::from_fn(|i| {
            let l = i as f64 / (ENCODE_STEPS - 1) as f64 * ENCODE_MAX as f64;
            let l = if l > KNEE {
                KNEE + (1.0 - KNEE) * (1.0 - (-(l - KNEE) / (1.0 - KNEE)).exp())
            } else {
                l
            };
            (l.powf(1.0 / 2.4) * 255.0).round().clamp(0.0, 255.0) as u8
        }));
        Some(Self {
            transfer,
            decode,
            matrix,
            encode,
        })
    }

    /// The transfer curve this mapping decodes.
    pub fn transfer(&self) -> Transfer {
        self.transfer
    }

    /// One pixel, R'G'B' as indices into the decoding table (0..DECODE_STEPS), to sRGB.
    #[inline]
    fn pixel(&self, idx: [usize; 3]) -> [u8; 3] {
        const OUT: f32 = (ENCODE_STEPS - 1) as f32 / ENCODE_MAX;
        let light = idx.map(|i| self.decode[i.min(DECODE_STEPS - 1)]);
        let m = &self.matrix;
        [0, 1, 2].map(|r| {
            let c = m[r][0] * light[0] + m[r][1] * light[1] + m[r][2] * light[2];
            // Negative light is black; `as i32` is one instruction where `as usize` is several.
            self.encode[((c * OUT + 0.5) as i32).clamp(0, ENCODE_STEPS as i32 - 1) as usize]
        })
    }

    /// Maps RGBA pixels (the video's R'G'B', as a converter without colour management gives
    /// them) to sRGB in place.
    pub fn map_rgba(&self, rgba: &mut [u8]) {
        let index: Vec<usize> = (0..256).map(|v| (v * (DECODE_STEPS - 1) + 127) / 255).collect();
        let rows = rgba.len() / 4;
        in_parts(rgba, 4, rows, |part, _| {
            for px in part.chunks_exact_mut(4) {
                let [r, g, b] = self.pixel([px[0], px[1], px[2]].map(|c| index[c as usize]));
                px[..3].copy_from_slice(&[r, g, b]);
            }
        });
    }

    /// I420 planes (Y, then U and V at half size, packed) of `yuv`'s matrix and range to
    /// opaque sRGB RGBA. `None` when the planes are shorter than the size.
    pub fn i420_to_rgba(&self, width: usize, height: usize, planes: &[u8], yuv: crate::frame::Yuv) -> Option<Vec<u8>> {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let y_plane = planes.get(..width * height)?;
        let u_plane = planes.get(width * height..width * height + cw * ch)?;
        let v_plane = planes.get(width * height + cw * ch..width * height + 2 * cw * ch)?;
        // Y'CbCr to R'G'B' in fixed point (16 fractional bits), as decoding-table indices.
        let ([y0, ys, cs], [rv, gu, gv, bu]) = yuv.coefficients();
        let unit = (DECODE_STEPS - 1) as f32 / 255.0 * 65536.0;
        let table = |f: &dyn Fn(f32) -> f32| -> Vec<i32> { (0..256).map(|v| f(v as f32).round() as i32).collect() };
        let luma = table(&|y| ((y - y0) * ys * unit) + 32768.0);
        let chroma = |k: f32| table(&|c| (c - 128.0) * cs * k * unit);
        let (r_v, g_u, g_v, b_u) = (chroma(rv), chroma(-gu), chroma(-gv), chroma(bu));
        let index = |v: i32| (v.max(0) >> 16) as usize;
        let mut rgba = vec![0u8; width * height * 4];
        in_parts(&mut rgba, width * 4, height, |part, first_row| {
            for (i, out) in part.chunks_exact_mut(width * 4).enumerate() {
                let row = first_row + i;
                let ys = &y_plane[row * width..][..width];
                let us = &u_plane[(row / 2) * cw..][..cw];
                let vs = &v_plane[(row / 2) * cw..][..cw];
                for (col, px) in out.chunks_exact_mut(4).enumerate() {
                    let (u, v) = (us[col / 2] as usize, vs[col / 2] as usize);
                    let l = luma[ys[col] as usize];
                    let rgb = [l + r_v[v], l + g_u[u] + g_v[v], l + b_u[u]].map(index);
                    let [r, g, b] = self.pixel(rgb);
                    px.copy_from_slice(&[r, g, b, 255]);
                }
            }
        });
        Some(rgba)
    }
}

/// Runs `f` on `rows` rows of `row` bytes each in `data`, split into one run of whole rows per
/// core (at most 4), each given its part and the index of its first row.
fn in_parts(data: &mut [u8], row: usize, rows: usize, f: impl Fn(&mut [u8], usize) + Sync) {
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let per = rows.div_ceil(parts).max(1);
    if parts == 1 || rows < 64 || row == 0 {
        f(data, 0);
        return;
    }
    std::thread::scope(|scope| {
        for (i, part) in data.chunks_mut(per * row).enumerate() {
            let f = &f;
            scope.spawn(move || f(part, i * per));
        }
    });
}

/// HLG's inverse OETF (BT.2100): signal to normalised scene light (0..=1).
fn hlg_to_scene(e: f64) -> f64 {
    const A: f64 = 0.178_832_77;
    const B: f64 = 0.284_668_92;
    const C: f64 = 0.559_910_73;
    if e <= 0.5 {
        e * e / 3.0
    } else {
        (((e - C) / A).exp() + B) / 12.0
    }
}

/// PQ's EOTF (SMPTE ST 2084): signal to display light in cd/m².
fn pq_to_nits(e: f64) -> f64 {
    const M1: f64 = 2610.0 / 16384.0;
    const M2: f64 = 2523.0 / 4096.0 * 128.0;
    const C1: f64 = 3424.0 / 4096.0;
    const C2: f64 = 2413.0 / 4096.0 * 32.0;
    const C3: f64 = 2392.0 / 4096.0 * 32.0;
    let p = e.powf(1.0 / M2);
    ((p - C1).max(0.0) / (C2 - C3 * p)).powf(1.0 / M1) * 10000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile_bytes(p: &ColorProfile) -> Vec<u8> {
        p.encode().expect("encodes")
    }

    #[test]
    fn an_srgb_profile_changes_nothing() {
        let mut px = vec![200, 30, 40, 255, 10, 220, 90, 128];
        let before = px.clone();
        assert!(!icc_to_srgb(&mut px, &profile_bytes(&ColorProfile::new_srgb())));
        assert!(!cicp_to_srgb(&mut px, 1, 13));
        assert_eq!(px, before);
    }

    #[test]
    fn display_p3_red_is_redder_than_srgb_red() {
        // P3's pure red lies outside sRGB: converted, it clips to sRGB's red; a P3 mid-grey stays grey.
        let mut px = vec![255, 0, 0, 255, 128, 128, 128, 7];
        assert!(icc_to_srgb(&mut px, &profile_bytes(&ColorProfile::new_display_p3())));
        assert!(px[0] >= 250 && px[1] <= 5 && px[2] <= 5, "{px:?}");
        assert!(
            px[4].abs_diff(128) <= 1 && px[5].abs_diff(128) <= 1 && px[6].abs_diff(128) <= 1,
            "{px:?}"
        );
        assert_eq!(px[7], 7, "alpha is kept");
        // A P3 orange-red inside sRGB: sRGB needs more red saturation to show it.
        let mut p3 = vec![200, 80, 60, 255];
        assert!(cicp_to_srgb(&mut p3, 12, 13));
        assert!(p3[0] > 205 && p3[1] < 80, "{p3:?}");
    }

    #[test]
    fn unreadable_grey_and_hdr_profiles_leave_pixels_alone() {
        let mut px = vec![1, 2, 3, 255];
        assert!(!icc_to_srgb(&mut px, b"not a profile"));
        assert!(!icc_to_srgb(&mut px, &[]));
        assert!(!cicp_to_srgb(&mut px, 9, 16), "PQ is tone mapping, not a conversion");
        assert!(!cicp_to_srgb(&mut px, 200, 13), "an unknown code point");
        assert_eq!(px, [1, 2, 3, 255]);
    }

    #[test]
    fn damaged_profiles_never_panic() {
        let good = profile_bytes(&ColorProfile::new_display_p3());
        let mut px = vec![200u8, 80, 60, 255];
        for len in (0..good.len()).step_by(7) {
            icc_to_srgb(&mut px.clone(), &good[..len]);
        }
        for at in 0..good.len() {
            for v in [0x00, 0xff, 0x7f] {
                let mut bad = good.clone();
                bad[at] = v;
                icc_to_srgb(&mut px, &bad);
            }
        }
    }

    /// R'G'B' (0..=1) as decoding-table indices.
    fn at(rgb: [f64; 3]) -> [usize; 3] {
        rgb.map(|v| (v * (DECODE_STEPS - 1) as f64).round() as usize)
    }

    #[test]
    fn hdr_reference_white_is_sdr_white_and_black_stays_black() {
        for (transfer, white) in [(Transfer::Hlg, 0.75), (Transfer::Pq, 0.580_69)] {
            let map = VideoToSrgb::new(transfer, Primaries::Bt2020).expect("a mapping");
            // Reference white maps near (not past) SDR white: the knee rolls it off a little.
            let [r, g, b] = map.pixel(at([white; 3]));
            assert!(
                r == g && g == b && (240..=252).contains(&r),
                "{transfer:?} white -> {r}"
            );
            assert_eq!(map.pixel(at([0.0; 3])), [0, 0, 0], "{transfer:?}");
            // Mid-grey stays mid-grey, and brighter signals stay brighter.
            let mid = map.pixel(at([white * 0.7; 3]))[0];
            assert!((90..200).contains(&mid) && mid < r, "{transfer:?} mid -> {mid}");
            assert!(map.pixel(at([1.0; 3]))[0] >= r, "{transfer:?}");
        }
        assert!(VideoToSrgb::new(Transfer::Sdr, Primaries::Bt709).is_none());
        // BT.2020's green is beyond sRGB's: its pure green saturates sRGB's.
        let sdr2020 = VideoToSrgb::new(Transfer::Sdr, Primaries::Bt2020).expect("a mapping");
        let [r, g, b] = sdr2020.pixel(at([0.0, 0.6, 0.0]));
        assert!(r == 0 && b == 0 && g > 150, "{r} {g} {b}");
    }
}
