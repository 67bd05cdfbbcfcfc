//! RGBA <-> YUV conversions, BT.601 limited ("studio swing": Y 16..235, U/V 16..240).
//!
//! The conversions emojicam makes on the CPU itself, one for every writer that converts (Y4M,
//! the virtual camera's YUYV, the bench's I420 frames) and every reader that does (Y4M, a
//! camera's YUYV, NV12, grey and RGB24 frames). Videos are not converted here: GStreamer
//! decodes and encodes them (`src/media/`) with the matrix it chooses for the stream, and the
//! live recorder's GPU path (`gpu::i420`) uses that same matrix. Coefficients are 16-bit fixed
//! point so results round like the floating-point formula (red -> Y 81, U 90, V 240). All functions write into caller buffers and never
//! allocate; buffer sizes are the caller's contract (checked with `assert!`).

const ONE: i32 = 1 << 16;
const HALF: i32 = 1 << 15;

// Y = 16 + 219/255 (0.299 R + 0.587 G + 0.114 B)
const YR: i32 = 16829;
const YG: i32 = 33039;
const YB: i32 = 6416;
// U = 128 + 224/255 (B - Y') / 1.772
const UR: i32 = -9714;
const UG: i32 = -19070;
const UB: i32 = 28784;
// V = 128 + 224/255 (R - Y') / 1.402
const VR: i32 = 28784;
const VG: i32 = -24103;
const VB: i32 = -4681;

// Inverse: R = 1.164383 (Y-16) + 1.596027 (V-128) ...
const CY: i32 = 76309;
const CRV: i32 = 104597;
const CGU: i32 = 25675;
const CGV: i32 = 53279;
const CBU: i32 = 132201;

#[inline]
fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

#[inline]
fn luma(r: i32, g: i32, b: i32) -> u8 {
    clamp_u8((16 * ONE + YR * r + YG * g + YB * b + HALF) >> 16)
}

/// Chroma of an RGB sum over `1 << shift` pixels (averaging before conversion keeps it
/// linear). A shift, not a division: this runs per chroma sample.
#[inline]
fn chroma(r: i32, g: i32, b: i32, shift: u32) -> (u8, u8) {
    let bias = (128 * ONE + HALF) << shift;
    let s = 16 + shift;
    (
        clamp_u8((bias + UR * r + UG * g + UB * b) >> s),
        clamp_u8((bias + VR * r + VG * g + VB * b) >> s),
    )
}

/// One pixel, RGB -> (Y, U, V).
pub fn rgb_to_yuv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (r as i32, g as i32, b as i32);
    let (u, v) = chroma(r, g, b, 0);
    (luma(r, g, b), u, v)
}

/// One pixel, (Y, U, V) -> RGB.
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> (u8, u8, u8) {
    let c = (y as i32 - 16) * CY + HALF;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    (
        clamp_u8((c + CRV * e) >> 16),
        clamp_u8((c - CGU * d - CGV * e) >> 16),
        clamp_u8((c + CBU * d) >> 16),
    )
}

/// Plane sizes of an I420 image: (luma bytes, bytes of each chroma plane). Odd sizes round the
/// chroma planes up, as Y4M and H.264 do.
pub fn i420_sizes(width: usize, height: usize) -> (usize, usize) {
    (width * height, width.div_ceil(2) * height.div_ceil(2))
}

/// Bytes of a YUYV (4:2:2 packed) image; an odd width repeats its last pixel into a pair.
pub fn yuyv_len(width: usize, height: usize) -> usize {
    width.div_ceil(2) * 4 * height
}

/// RGBA -> planar I420 (4:2:0), chroma averaged over each 2x2 block.
pub fn rgba_to_i420(rgba: &[u8], width: usize, height: usize, y: &mut [u8], u: &mut [u8], v: &mut [u8]) {
    let (ylen, clen) = i420_sizes(width, height);
    assert!(rgba.len() >= width * height * 4 && y.len() >= ylen);
    assert!(u.len() >= clen && v.len() >= clen);
    for (row, yrow) in rgba.chunks_exact(width * 4).zip(y.chunks_exact_mut(width)).take(height) {
        for (p, out) in row.chunks_exact(4).zip(yrow.iter_mut()) {
            *out = luma(p[0] as i32, p[1] as i32, p[2] as i32);
        }
    }
    let cw = width.div_ceil(2);
    let stride = width * 4;
    for (cy, (urow, vrow)) in u
        .chunks_exact_mut(cw)
        .zip(v.chunks_exact_mut(cw))
        .take(height.div_ceil(2))
        .enumerate()
    {
        let top = &rgba[cy * 2 * stride..(cy * 2 + 1) * stride];
        // An odd last row pairs with itself.
        let bottom = if cy * 2 + 1 < height {
            &rgba[(cy * 2 + 1) * stride..(cy * 2 + 2) * stride]
        } else {
            top
        };
        let pairs = width / 2;
        for (((t, b), cu), cv) in top
            .chunks_exact(8)
            .zip(bottom.chunks_exact(8))
            .zip(urow.iter_mut())
            .zip(vrow.iter_mut())
            .take(pairs)
        {
            let r = t[0] as i32 + t[4] as i32 + b[0] as i32 + b[4] as i32;
            let g = t[1] as i32 + t[5] as i32 + b[1] as i32 + b[5] as i32;
            let bl = t[2] as i32 + t[6] as i32 + b[2] as i32 + b[6] as i32;
            (*cu, *cv) = chroma(r, g, bl, 2);
        }
        if width % 2 == 1 {
            // An odd last column pairs with itself.
            let i = (width - 1) * 4;
            let r = 2 * (top[i] as i32 + bottom[i] as i32);
            let g = 2 * (top[i + 1] as i32 + bottom[i + 1] as i32);
            let b = 2 * (top[i + 2] as i32 + bottom[i + 2] as i32);
            (urow[cw - 1], vrow[cw - 1]) = chroma(r, g, b, 2);
        }
    }
}

/// RGBA -> packed YUYV (Y0 U Y1 V), chroma averaged over each horizontal pair.
pub fn rgba_to_yuyv(rgba: &[u8], width: usize, height: usize, out: &mut [u8]) {
    assert!(rgba.len() >= width * height * 4 && out.len() >= yuyv_len(width, height));
    let out_stride = width.div_ceil(2) * 4;
    for (row, orow) in rgba
        .chunks_exact(width * 4)
        .zip(out.chunks_exact_mut(out_stride))
        .take(height)
    {
        for (x2, o) in orow.chunks_exact_mut(4).enumerate() {
            let a = &row[x2 * 8..x2 * 8 + 4];
            let b = if x2 * 2 + 1 < width {
                &row[x2 * 8 + 4..x2 * 8 + 8]
            } else {
                a
            };
            let (ar, ag, ab) = (a[0] as i32, a[1] as i32, a[2] as i32);
            let (br, bg, bb) = (b[0] as i32, b[1] as i32, b[2] as i32);
            let (cu, cv) = chroma(ar + br, ag + bg, ab + bb, 1);
            o[0] = luma(ar, ag, ab);
            o[1] = cu;
            o[2] = luma(br, bg, bb);
            o[3] = cv;
        }
    }
}

/// Planar YUV with subsampled chroma -> RGBA (alpha 255). `chroma_shift` is (log2 horizontal,
/// log2 vertical) subsampling: (1, 1) for 4:2:0, (1, 0) for 4:2:2, (0, 0) for 4:4:4.
#[allow(clippy::too_many_arguments)]
pub fn planar_to_rgba(
    y: &[u8],
    u: &[u8],
    v: &[u8],
    strides: (usize, usize, usize),
    chroma_shift: (u32, u32),
    width: usize,
    height: usize,
    out: &mut [u8],
) {
    assert!(out.len() >= width * height * 4);
    let (sx, sy) = chroma_shift;
    let cw = width.div_ceil(1 << sx);
    for (row, orow) in out.chunks_exact_mut(width * 4).take(height).enumerate() {
        let yrow = &y[row * strides.0..row * strides.0 + width];
        let crow = row >> sy;
        let urow = &u[crow * strides.1..crow * strides.1 + cw];
        let vrow = &v[crow * strides.2..crow * strides.2 + cw];
        if sx == 1 {
            for (((o, yy), &cu), &cv) in orow.chunks_exact_mut(8).zip(yrow.chunks_exact(2)).zip(urow).zip(vrow) {
                let (r0, g0, b0) = yuv_to_rgb(yy[0], cu, cv);
                let (r1, g1, b1) = yuv_to_rgb(yy[1], cu, cv);
                o.copy_from_slice(&[r0, g0, b0, 255, r1, g1, b1, 255]);
            }
            if width % 2 == 1 {
                let (r, g, b) = yuv_to_rgb(yrow[width - 1], urow[cw - 1], vrow[cw - 1]);
                orow[(width - 1) * 4..].copy_from_slice(&[r, g, b, 255]);
            }
        } else {
            for (x, (o, &yy)) in orow.chunks_exact_mut(4).zip(yrow).enumerate() {
                let (r, g, b) = yuv_to_rgb(yy, urow[x >> sx], vrow[x >> sx]);
                o.copy_from_slice(&[r, g, b, 255]);
            }
        }
    }
}

/// Packed YUYV -> RGBA. `yuyv` must hold `yuyv_len(width, height)` bytes.
pub fn yuyv_to_rgba(yuyv: &[u8], width: usize, height: usize, out: &mut [u8]) {
    assert!(yuyv.len() >= yuyv_len(width, height) && out.len() >= width * height * 4);
    let in_stride = width.div_ceil(2) * 4;
    for (irow, orow) in yuyv
        .chunks_exact(in_stride)
        .zip(out.chunks_exact_mut(width * 4))
        .take(height)
    {
        for (x, o) in orow.chunks_exact_mut(4).enumerate() {
            let q = &irow[(x / 2) * 4..(x / 2) * 4 + 4];
            let yy = if x % 2 == 0 { q[0] } else { q[2] };
            let (r, g, b) = yuv_to_rgb(yy, q[1], q[3]);
            o.copy_from_slice(&[r, g, b, 255]);
        }
    }
}

/// Packed YUYV 4:2:2 -> I420 planes back to back (Y, then U, then V, rows packed, as
/// [`crate::frame::PixelFormat::I420`] lays them out): luma copied, each chroma sample the
/// rounded mean of the two rows' samples (an odd last row pairs with itself). Integer copies
/// and adds only: the colour maths is left to the tiler's shader. `out` must hold
/// `i420_sizes` bytes (Y + 2 x chroma).
pub fn yuyv_to_i420(yuyv: &[u8], width: usize, height: usize, out: &mut [u8]) {
    yuyv_rows_to_i420(yuyv, width.div_ceil(2) * 4, width, height, out);
}

/// Bytes the rows of an image take when each starts `stride` bytes after the last and holds
/// `row` bytes (the last row's padding may be missing).
pub fn rows_len(stride: usize, row: usize, height: usize) -> usize {
    if height == 0 {
        0
    } else {
        stride * (height - 1) + row
    }
}

/// Where a packed 4:2:2 format keeps each pair of pixels' samples in its four bytes: the two
/// lumas, then U and V.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packed422 {
    y0: usize,
    y1: usize,
    u: usize,
    v: usize,
}

impl Packed422 {
    /// YUYV (Y0 U Y1 V): UVC webcams.
    pub const YUYV: Self = Self::order(0, 1, 2, 3);
    /// UYVY (U Y0 V Y1): capture cards, some embedded cameras.
    pub const UYVY: Self = Self::order(1, 0, 3, 2);
    /// YVYU (Y0 V Y1 U).
    pub const YVYU: Self = Self::order(0, 3, 2, 1);
    /// VYUY (V Y0 U Y1).
    pub const VYUY: Self = Self::order(1, 2, 3, 0);

    /// The byte of Y0, U, Y1 and V in each group of four.
    const fn order(y0: usize, u: usize, y1: usize, v: usize) -> Self {
        Self { y0, y1, u, v }
    }
}

/// [`yuyv_to_i420`] for rows `stride` bytes apart (a driver may pad them).
pub fn yuyv_rows_to_i420(src: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    packed422_to_i420(src, stride, width, height, Packed422::YUYV, out);
}

/// Packed 4:2:2 in the byte `order` given (rows `stride` bytes apart) -> I420 planes back to
/// back: luma copied, chroma averaged over row pairs.
pub fn packed422_to_i420(src: &[u8], stride: usize, width: usize, height: usize, order: Packed422, out: &mut [u8]) {
    let (ylen, clen) = i420_sizes(width, height);
    let cw = width.div_ceil(2);
    let row_bytes = cw * 4;
    assert!(stride >= row_bytes && src.len() >= rows_len(stride, row_bytes, height));
    assert!(out.len() >= ylen + 2 * clen);
    let Packed422 { y0, y1, u: ou, v: ov } = order;
    let row = |y: usize| &src[y * stride..y * stride + row_bytes];
    let (luma, chroma) = out.split_at_mut(ylen);
    let (u, v) = chroma.split_at_mut(clen);
    for (y, yrow) in luma.chunks_exact_mut(width).take(height).enumerate() {
        let r = row(y);
        for (q, yy) in r.chunks_exact(4).zip(yrow.chunks_exact_mut(2)) {
            yy[0] = q[y0];
            yy[1] = q[y1];
        }
        if width % 2 == 1 {
            yrow[width - 1] = r[row_bytes - 4 + y0];
        }
    }
    for (cy, (urow, vrow)) in u
        .chunks_exact_mut(cw)
        .zip(v.chunks_exact_mut(cw))
        .take(height.div_ceil(2))
        .enumerate()
    {
        let top = row(cy * 2);
        let bottom = row((cy * 2 + 1).min(height - 1));
        for (((t, b), cu), cv) in top
            .chunks_exact(4)
            .zip(bottom.chunks_exact(4))
            .zip(urow.iter_mut())
            .zip(vrow.iter_mut())
        {
            *cu = ((t[ou] as u16 + b[ou] as u16 + 1) >> 1) as u8;
            *cv = ((t[ov] as u16 + b[ov] as u16 + 1) >> 1) as u8;
        }
    }
}

/// Copies `height` rows of `width` bytes, `stride` bytes apart in `src`, into packed rows.
fn copy_rows(src: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    if stride == width {
        out[..width * height].copy_from_slice(&src[..width * height]);
        return;
    }
    for (y, o) in out.chunks_exact_mut(width).take(height).enumerate() {
        o.copy_from_slice(&src[y * stride..y * stride + width]);
    }
}

/// Copies the luma rows of `src` (`stride` bytes apart) into the I420 frame `out` and returns
/// its U and V planes, for the caller to fill.
fn luma_copied<'a>(
    src: &[u8],
    stride: usize,
    width: usize,
    height: usize,
    out: &'a mut [u8],
) -> (&'a mut [u8], &'a mut [u8]) {
    let (ylen, clen) = i420_sizes(width, height);
    assert!(out.len() >= ylen + 2 * clen);
    let (luma, chroma) = out.split_at_mut(ylen);
    copy_rows(src, stride, width, height, luma);
    let (u, v) = chroma.split_at_mut(clen);
    (u, &mut v[..clen])
}

/// The row stride of a 4:2:0 frame's chroma. V4L2 gives one bytes-per-line, the luma's: the
/// interleaved chroma rows of NV12/NV21 take it as it is, the separate planes of YU12/YV12 half
/// of it; never fewer bytes than a chroma row holds (odd widths, packed rows).
pub fn chroma_stride(stride: usize, width: usize, interleaved: bool) -> usize {
    let cw = width.div_ceil(2);
    if interleaved {
        stride.max(cw * 2)
    } else {
        (stride / 2).max(cw)
    }
}

/// Bytes of an NV12/NV21 frame whose luma rows are `stride` bytes apart (the last chroma row's
/// padding not required).
pub fn nv12_len(stride: usize, width: usize, height: usize) -> usize {
    let cs = chroma_stride(stride, width, true);
    stride * height + rows_len(cs, width.div_ceil(2) * 2, height.div_ceil(2))
}

/// NV12 (Y plane, then U V interleaved; `vu`: NV21, V U), luma rows `stride` bytes apart
/// ([`chroma_stride`] for the chroma's) -> I420 planes back to back: plain copies.
pub fn nv12_to_i420(src: &[u8], stride: usize, width: usize, height: usize, vu: bool, out: &mut [u8]) {
    let cw = width.div_ceil(2);
    let cs = chroma_stride(stride, width, true);
    assert!(stride >= width && src.len() >= nv12_len(stride, width, height));
    let (u, v) = luma_copied(src, stride, width, height, out);
    let plane = &src[stride * height..];
    let (iu, iv) = if vu { (1, 0) } else { (0, 1) };
    for (cy, (urow, vrow)) in u.chunks_exact_mut(cw).zip(v.chunks_exact_mut(cw)).enumerate() {
        let row = &plane[cy * cs..cy * cs + cw * 2];
        for ((pair, cu), cv) in row.chunks_exact(2).zip(urow.iter_mut()).zip(vrow.iter_mut()) {
            *cu = pair[iu];
            *cv = pair[iv];
        }
    }
}

/// Bytes of a YU12/YV12 frame whose luma rows are `stride` bytes apart (the last row's padding
/// not required).
pub fn planar420_len(stride: usize, width: usize, height: usize) -> usize {
    let (cs, ch) = (chroma_stride(stride, width, false), height.div_ceil(2));
    stride * height + cs * ch + rows_len(cs, width.div_ceil(2), ch)
}

/// YU12 (I420: Y, U, V planes; `vu`: YV12, Y, V, U), luma rows `stride` bytes apart
/// ([`chroma_stride`] for the chroma's) -> I420 planes back to back: plain copies.
pub fn planar420_to_i420(src: &[u8], stride: usize, width: usize, height: usize, vu: bool, out: &mut [u8]) {
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let cs = chroma_stride(stride, width, false);
    assert!(stride >= width && src.len() >= planar420_len(stride, width, height));
    let (u, v) = luma_copied(src, stride, width, height, out);
    let first = &src[stride * height..];
    let second = &first[cs * ch..];
    let (su, sv) = if vu { (second, first) } else { (first, second) };
    copy_rows(su, cs, cw, ch, u);
    copy_rows(sv, cs, cw, ch, v);
}

/// GREY (one byte of luma a pixel, rows `stride` bytes apart) -> I420 with neutral chroma
/// (128): a grey picture.
pub fn grey_to_i420(src: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    let (ylen, clen) = i420_sizes(width, height);
    assert!(stride >= width && src.len() >= rows_len(stride, width, height));
    assert!(out.len() >= ylen + 2 * clen);
    let (luma, chroma) = out.split_at_mut(ylen);
    copy_rows(src, stride, width, height, luma);
    chroma[..2 * clen].fill(128);
}

/// Packed RGB of `N` bytes a pixel (RGB3, BGR3: 3; the 32-bit formats: 4, the fourth byte
/// alpha or padding, ignored), red, green and blue at bytes `rgb` of each, rows `stride` bytes
/// apart -> RGBA (alpha 255).
pub fn packed_rgb_to_rgba<const N: usize>(
    src: &[u8],
    stride: usize,
    width: usize,
    height: usize,
    rgb: [usize; 3],
    out: &mut [u8],
) {
    assert!(stride >= width * N && src.len() >= rows_len(stride, width * N, height));
    assert!(out.len() >= width * height * 4);
    let [r, g, b] = rgb;
    for (y, orow) in out.chunks_exact_mut(width * 4).take(height).enumerate() {
        let row = &src[y * stride..y * stride + width * N];
        for (p, o) in row.chunks_exact(N).zip(orow.chunks_exact_mut(4)) {
            o.copy_from_slice(&[p[r], p[g], p[b], 255]);
        }
    }
}

/// Grey of `bits` (10, 12 or 16) in 16-bit little-endian words (V4L2's Y10, Y12, Y16; rows
/// `stride` bytes apart) -> I420 with neutral chroma: each sample's top 8 bits.
pub fn grey16_to_i420(src: &[u8], stride: usize, width: usize, height: usize, bits: u32, out: &mut [u8]) {
    assert!((8..=16).contains(&bits));
    let (ylen, clen) = i420_sizes(width, height);
    assert!(stride >= width * 2 && src.len() >= rows_len(stride, width * 2, height));
    assert!(out.len() >= ylen + 2 * clen);
    let (luma, chroma) = out.split_at_mut(ylen);
    for (y, o) in luma.chunks_exact_mut(width).take(height).enumerate() {
        let row = &src[y * stride..y * stride + width * 2];
        for (p, v) in row.chunks_exact(2).zip(o.iter_mut()) {
            // A sample beyond its bits (a driver's stray high bits) saturates.
            *v = (u16::from_le_bytes([p[0], p[1]]) >> (bits - 8)).min(255) as u8;
        }
    }
    chroma[..2 * clen].fill(128);
}

/// RGB565 (RGBP: 16-bit little-endian, red in the top 5 bits, green 6, blue 5), rows `stride`
/// bytes apart -> RGBA (alpha 255), each channel widened by repeating its top bits.
pub fn rgb565_to_rgba(src: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    assert!(stride >= width * 2 && src.len() >= rows_len(stride, width * 2, height));
    assert!(out.len() >= width * height * 4);
    for (y, orow) in out.chunks_exact_mut(width * 4).take(height).enumerate() {
        let row = &src[y * stride..y * stride + width * 2];
        for (p, o) in row.chunks_exact(2).zip(orow.chunks_exact_mut(4)) {
            let v = u16::from_le_bytes([p[0], p[1]]);
            let (r, g, b) = ((v >> 11) as u8, ((v >> 5) & 63) as u8, (v & 31) as u8);
            o.copy_from_slice(&[(r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2), 255]);
        }
    }
}

/// The row stride of a semi-planar 4:2:2 (NV16/NV61) or 4:4:4 (NV24/NV42) frame's chroma. V4L2
/// gives the luma's bytes-per-line: NV16's interleaved chroma rows take it as they are (as
/// NV12's do), NV24's twice it (each holds two samples a pixel); never fewer bytes than a chroma
/// row holds.
fn semiplanar_chroma_stride(stride: usize, width: usize, full: bool) -> usize {
    if full {
        (stride * 2).max(width * 2)
    } else {
        stride.max(width.div_ceil(2) * 2)
    }
}

/// Bytes of an NV16/NV61 (`full` false) or NV24/NV42 (`full` true) frame whose luma rows are
/// `stride` bytes apart (the last chroma row's padding not required).
pub fn semiplanar_len(stride: usize, width: usize, height: usize, full: bool) -> usize {
    let cs = semiplanar_chroma_stride(stride, width, full);
    let row = if full { width * 2 } else { width.div_ceil(2) * 2 };
    stride * height + rows_len(cs, row, height)
}

/// NV16 (`full` false: Y plane, then U V interleaved at half width on every row) or NV24
/// (`full` true: U V for every pixel); `vu`: NV61/NV42, V before U. Luma rows `stride` bytes
/// apart -> I420 planes back to back: luma copied, each chroma sample the mean of the samples
/// its 2x2 pixels have.
pub fn semiplanar_to_i420(
    src: &[u8],
    stride: usize,
    width: usize,
    height: usize,
    full: bool,
    vu: bool,
    out: &mut [u8],
) {
    let cw = width.div_ceil(2);
    let cs = semiplanar_chroma_stride(stride, width, full);
    assert!(stride >= width && src.len() >= semiplanar_len(stride, width, height, full));
    let (u, v) = luma_copied(src, stride, width, height, out);
    let plane = &src[stride * height..];
    let (iu, iv) = if vu { (1, 0) } else { (0, 1) };
    // The chroma pair covering pixel column x (as an index of pairs in a row).
    let pair = |x: usize| if full { x.min(width - 1) } else { x.min(width - 1) / 2 };
    for (cy, (urow, vrow)) in u.chunks_exact_mut(cw).zip(v.chunks_exact_mut(cw)).enumerate() {
        let rows = [cy * 2, (cy * 2 + 1).min(height - 1)].map(|y| &plane[y * cs..]);
        for (cx, (cu, cv)) in urow.iter_mut().zip(vrow.iter_mut()).enumerate() {
            let cols = [pair(cx * 2), pair(cx * 2 + 1)];
            let (mut su, mut sv) = (0u16, 0u16);
            for row in rows {
                for c in cols {
                    su += row[c * 2 + iu] as u16;
                    sv += row[c * 2 + iv] as u16;
                }
            }
            *cu = ((su + 2) >> 2) as u8;
            *cv = ((sv + 2) >> 2) as u8;
        }
    }
}

/// Bytes of a 422P frame (Y, then U and V planes at half width, every row) whose luma rows are
/// `stride` bytes apart ([`chroma_stride`]'s half of it for the chroma's).
pub fn planar422_len(stride: usize, width: usize, height: usize) -> usize {
    let cs = chroma_stride(stride, width, false);
    stride * height + cs * height + rows_len(cs, width.div_ceil(2), height)
}

/// 422P (planar 4:2:2: Y, U, V planes, chroma at half width on every row), luma rows `stride`
/// bytes apart -> I420 planes back to back: luma copied, chroma averaged over row pairs.
pub fn planar422_to_i420(src: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    let cw = width.div_ceil(2);
    let cs = chroma_stride(stride, width, false);
    assert!(stride >= width && src.len() >= planar422_len(stride, width, height));
    let (u, v) = luma_copied(src, stride, width, height, out);
    let planes = [&src[stride * height..], &src[stride * height + cs * height..]];
    for (plane, dst) in planes.into_iter().zip([u, v]) {
        for (cy, drow) in dst.chunks_exact_mut(cw).enumerate() {
            let top = &plane[cy * 2 * cs..];
            let bottom = &plane[(cy * 2 + 1).min(height - 1) * cs..];
            for (x, d) in drow.iter_mut().enumerate() {
                *d = ((top[x] as u16 + bottom[x] as u16 + 1) >> 1) as u8;
            }
        }
    }
}

/// 8-bit raw Bayer (one colour a pixel, `cells` naming each 2x2 cell's colours: top left, top
/// right, bottom left, bottom right; 0 red, 1 green, 2 blue), rows `stride` bytes apart -> RGBA
/// by bilinear demosaicing: each pixel's missing colours the mean of its 3x3 neighbours that
/// see them (edges repeated).
pub fn bayer_to_rgba(src: &[u8], stride: usize, width: usize, height: usize, cells: [u8; 4], out: &mut [u8]) {
    assert!(stride >= width && src.len() >= rows_len(stride, width, height));
    assert!(out.len() >= width * height * 4);
    let colour = |x: usize, y: usize| cells[(y % 2) * 2 + x % 2] as usize;
    let avg2 = |a: u8, b: u8| ((a as u16 + b as u16 + 1) >> 1) as u8;
    let avg4 = |a: u8, b: u8, c: u8, d: u8| ((a as u16 + b as u16 + c as u16 + d as u16 + 2) >> 2) as u8;
    let row = |y: usize| &src[y * stride..y * stride + width];
    for (y, orow) in out.chunks_exact_mut(width * 4).take(height).enumerate() {
        let ys = [y.saturating_sub(1), y, (y + 1).min(height - 1)];
        if y > 0 && y + 1 < height && width > 2 {
            // Inside the picture the 3x3 means are fixed sums: the same values, without the
            // per-neighbour bookkeeping (edges below).
            let (up, here, down) = (row(y - 1), row(y), row(y + 1));
            // What each of the row's two alternating places sees: 0 red, 2 blue, and for green
            // which colour lies left and right of it (the row's other one).
            let kind = |x: usize| match colour(x, y) {
                1 => 3 + colour(x + 1, y) / 2,
                c => c,
            };
            let kinds = [kind(0), kind(1)];
            for (x, o) in orow.chunks_exact_mut(4).enumerate().take(width - 1).skip(1) {
                let c = here[x];
                let h2 = avg2(here[x - 1], here[x + 1]);
                let v2 = avg2(up[x], down[x]);
                let px = match kinds[x & 1] {
                    0 => [
                        c,
                        avg4(here[x - 1], here[x + 1], up[x], down[x]),
                        avg4(up[x - 1], up[x + 1], down[x - 1], down[x + 1]),
                    ],
                    2 => [
                        avg4(up[x - 1], up[x + 1], down[x - 1], down[x + 1]),
                        avg4(here[x - 1], here[x + 1], up[x], down[x]),
                        c,
                    ],
                    // Green between reds (blue above and below), or between blues.
                    3 => [h2, c, v2],
                    _ => [v2, c, h2],
                };
                o.copy_from_slice(&[px[0], px[1], px[2], 255]);
            }
        }
        // The edges: the first and last rows whole, the first and last pixel of the others.
        let edge: Vec<usize> = if y > 0 && y + 1 < height && width > 2 {
            vec![0, width - 1]
        } else {
            (0..width).collect()
        };
        for x in edge {
            let o = &mut orow[x * 4..x * 4 + 4];
            let xs = [x.saturating_sub(1), x, (x + 1).min(width - 1)];
            let (mut sum, mut n) = ([0u32; 3], [0u32; 3]);
            // Every 3x3 neighbourhood (edges repeated) holds a whole 2x2 cell: each colour is seen.
            for &yy in &ys {
                for &xx in &xs {
                    let c = colour(xx, yy);
                    sum[c] += src[yy * stride + xx] as u32;
                    n[c] += 1;
                }
            }
            let own = colour(x, y);
            for c in 0..3 {
                o[c] = if c == own {
                    src[y * stride + x]
                } else {
                    ((sum[c] + n[c] / 2) / n[c].max(1)) as u8
                };
            }
            o[3] = 255;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_repacks_to_i420_with_chroma_averaged_over_row_pairs() {
        // 3x3 (odd both ways): each row is two quads, the second's Y1 is padding.
        let rows: [[u8; 8]; 3] = [
            [10, 100, 11, 200, 12, 50, 99, 60],
            [20, 102, 21, 203, 22, 52, 99, 61],
            [30, 120, 31, 220, 32, 70, 99, 80],
        ];
        let yuyv: Vec<u8> = rows.concat();
        let (ylen, clen) = i420_sizes(3, 3);
        let mut out = vec![0; ylen + 2 * clen];
        yuyv_to_i420(&yuyv, 3, 3, &mut out);
        assert_eq!(&out[..9], &[10, 11, 12, 20, 21, 22, 30, 31, 32]);
        // U: (100+102)/2, (50+52)/2; the odd last row pairs with itself.
        assert_eq!(&out[9..13], &[101, 51, 120, 70]);
        // V rounds half up: (200+203)/2 = 201.5 -> 202.
        assert_eq!(&out[13..], &[202, 61, 220, 80]);
    }

    #[test]
    fn rgb565_and_y16_take_the_bits_they_name() {
        // Little-endian words: red 0xf800, green 0x07e0, blue 0x001f, 0x8410 (mid grey).
        let src = [0x00, 0xf8, 0xe0, 0x07, 0x1f, 0x00, 0x10, 0x84];
        let mut rgba = [0; 16];
        rgb565_to_rgba(&src, 8, 4, 1, &mut rgba);
        assert_eq!(
            rgba,
            [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 132, 130, 132, 255]
        );
        // Y16: the high byte of each little-endian sample.
        let (ylen, clen) = i420_sizes(2, 1);
        let mut out = vec![0; ylen + 2 * clen];
        grey16_to_i420(&[0x34, 0x12, 0xff, 0xfe], 4, 2, 1, 16, &mut out);
        assert_eq!(out, [0x12, 0xfe, 128, 128]);
        // Y10: 0x3ff (white) and 0x200 (mid grey); Y12: 0xfff and 0x800.
        grey16_to_i420(&[0xff, 0x03, 0x00, 0x02], 4, 2, 1, 10, &mut out);
        assert_eq!(&out[..2], &[255, 128]);
        grey16_to_i420(&[0xff, 0x0f, 0x00, 0x08], 4, 2, 1, 12, &mut out);
        assert_eq!(&out[..2], &[255, 128]);
    }

    #[test]
    fn odd_width_planar_and_semi_planar_chroma_rows_hold_the_last_column() {
        // 3x2: luma rows 3 bytes, chroma 2 samples a row (one row).
        let (ylen, clen) = i420_sizes(3, 2);
        let mut out = vec![0; ylen + 2 * clen];
        // YU12 packed as ffmpeg writes it: Y (6), U (2), V (2).
        planar420_to_i420(&[1, 2, 3, 4, 5, 6, 10, 11, 20, 21], 3, 3, 2, false, &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 10, 11, 20, 21]);
        planar420_to_i420(&[1, 2, 3, 4, 5, 6, 10, 11, 20, 21], 3, 3, 2, true, &mut out);
        assert_eq!(&out[6..], &[20, 21, 10, 11]);
        // NV21 with rows 3 bytes apart: the chroma row (4 bytes) needs more than that.
        assert_eq!(nv12_len(3, 3, 2), 10);
        nv12_to_i420(&[1, 2, 3, 4, 5, 6, 20, 10, 21, 11], 3, 3, 2, true, &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 10, 11, 20, 21]);
    }

    #[test]
    fn odd_sized_422_444_and_bayer_frames_convert() {
        // 3x3 NV16: luma, then three rows of two U V pairs (the last pair covers column 2).
        let (w, h) = (3, 3);
        let mut out = vec![0u8; 9 + 2 * 4];
        let nv16 = [[0u8; 9].as_slice(), &[10, 20, 30, 40, 12, 22, 32, 42, 14, 24, 34, 44]].concat();
        assert_eq!(semiplanar_len(3, w, h, false), nv16.len());
        semiplanar_to_i420(&nv16, 3, w, h, false, false, &mut out);
        // U of the top-left 2x2: rows 0-1, pair 0 (twice): (10+10+12+12)/4; the right column
        // pair 1; the bottom row repeated.
        assert_eq!(&out[9..13], &[11, 31, 14, 34]);
        assert_eq!(&out[13..17], &[21, 41, 24, 44]);
        // 3x3 NV42 (V first): every pixel its own pair.
        let nv42: Vec<u8> = (0..9)
            .map(|_| 0)
            .chain((0..9).flat_map(|i| [100 + i as u8, i as u8]))
            .collect();
        assert_eq!(semiplanar_len(3, w, h, true), nv42.len());
        semiplanar_to_i420(&nv42, 3, w, h, true, true, &mut out);
        // U of the top-left cell: pixels 0, 1, 3, 4 -> (0+1+3+4)/4 = 2; bottom right: 8 alone.
        assert_eq!(&out[9..13], &[2, 4, 7, 8]);
        assert_eq!(&out[13..17], &[102, 104, 107, 108]);
        // 3x3 422P: U plane 2x3, V plane 2x3.
        let p422 = [[0u8; 9].as_slice(), &[1, 2, 3, 4, 5, 6], &[9, 9, 9, 9, 9, 9]].concat();
        assert_eq!(planar422_len(3, w, h), p422.len());
        planar422_to_i420(&p422, 3, w, h, &mut out);
        assert_eq!(&out[9..17], &[2, 3, 5, 6, 9, 9, 9, 9]);
        // Bayer RGGB over a flat colour (red 200, green 100, blue 50 where each is seen): every
        // pixel comes out that colour, edges included.
        let cells = [0, 1, 1, 2];
        let raw: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| [200, 100, 50][cells[(y % 2) * 2 + x % 2] as usize]))
            .collect();
        let mut rgba = vec![0u8; w * h * 4];
        bayer_to_rgba(&raw, w, w, h, cells, &mut rgba);
        assert!(rgba.chunks_exact(4).all(|p| p == [200, 100, 50, 255]), "{rgba:?}");
    }

    #[test]
    fn bayer_demosaic_is_the_mean_of_each_colours_3x3_neighbours() {
        // The shortcut inside the picture and the edges agree with the definition: each
        // missing colour the rounded mean of the 3x3 neighbours (edges repeated) that see it.
        let (w, h) = (7, 5);
        let raw: Vec<u8> = (0..w * h).map(|i| (i * 37 % 251) as u8).collect();
        for cells in [[0, 1, 1, 2], [2, 1, 1, 0], [1, 0, 2, 1], [1, 2, 0, 1]] {
            let mut rgba = vec![0u8; w * h * 4];
            bayer_to_rgba(&raw, w, w, h, cells, &mut rgba);
            for y in 0..h {
                for x in 0..w {
                    let colour = |x: usize, y: usize| cells[(y % 2) * 2 + x % 2] as usize;
                    let (mut sum, mut n) = ([0u32; 3], [0u32; 3]);
                    for yy in [y.saturating_sub(1), y, (y + 1).min(h - 1)] {
                        for xx in [x.saturating_sub(1), x, (x + 1).min(w - 1)] {
                            sum[colour(xx, yy)] += raw[yy * w + xx] as u32;
                            n[colour(xx, yy)] += 1;
                        }
                    }
                    let want: Vec<u8> = (0..3)
                        .map(|c| {
                            if c == colour(x, y) {
                                raw[y * w + x]
                            } else {
                                ((sum[c] + n[c] / 2) / n[c]) as u8
                            }
                        })
                        .collect();
                    assert_eq!(&rgba[(y * w + x) * 4..][..3], &want[..], "{cells:?} at ({x}, {y})");
                }
            }
        }
    }
}
