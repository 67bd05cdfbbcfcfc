//! Photos in their own colours: a picture tagged with a colour space other than sRGB (an ICC
//! profile: Display P3 from phones and Macs, Adobe RGB or ProPhoto from cameras and editors; or a
//! HEIF/AVIF file's `nclx` primaries) is converted to sRGB, the space the emoji atlas and the
//! outputs are in, as a colour-managed viewer shows it. Without this a Display P3 photo comes out
//! duller and an Adobe RGB one greener.
//!
//! The conversion is moxcms's (a colour-management engine in Rust, the one `image` uses), with
//! the perceptual intent viewers use (the same as relative colorimetric for the usual
//! matrix-and-curve profiles), on 8-bit RGBA. A profile that cannot be read, or that describes grey or
//! CMYK data (the decoder has already made RGB of those), leaves the pixels as they are, as
//! viewers do. HDR transfer curves (PQ, HLG) are left alone too: mapping them to an SDR picture
//! is tone mapping, not a profile conversion.

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
}
