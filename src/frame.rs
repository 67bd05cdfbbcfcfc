//! Frames as they travel between threads: the pixel bytes plus their size and layout.

use std::borrow::Cow;

/// How a frame's bytes are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PixelFormat {
    /// RGBA8 (sRGB), 4 bytes per pixel, rows packed.
    #[default]
    Rgba,
    /// 8-bit Y'CbCr 4:2:0 planes as a video decoder gives them: Y (`width` x `height`), then U,
    /// then V (`ceil(width/2)` x `ceil(height/2)` each), rows packed; one chroma sample covers
    /// a 2x2 block. Converted to RGB by the tiler's shader ([`Frame::to_rgba`] on the CPU).
    I420(Yuv),
}

/// The matrix between Y'CbCr and RGB, as a stream's colorimetry names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matrix {
    Bt601,
    Bt709,
    Bt2020,
    Smpte240m,
    Fcc,
}

impl Matrix {
    /// What GStreamer picks for a YUV video with no colorimetry given (and so what a recording
    /// converted by its `videoconvert` gets): BT.709 above 576 rows, BT.601 up to there.
    pub fn default_for(height: u32) -> Self {
        if height > 576 {
            Matrix::Bt709
        } else {
            Matrix::Bt601
        }
    }

    /// The luma weights of red and blue (Kr, Kb); green's is 1 - Kr - Kb.
    pub fn kr_kb(self) -> (f64, f64) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
            Matrix::Bt2020 => (0.2627, 0.0593),
            Matrix::Smpte240m => (0.212, 0.087),
            Matrix::Fcc => (0.30, 0.11),
        }
    }
}

/// How Y'CbCr values map to RGB: the matrix and whether they use the full 0..255 range or
/// the limited one (Y 16..235, Cb/Cr 16..240).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Yuv {
    pub matrix: Matrix,
    pub full_range: bool,
}

impl Yuv {
    /// Coefficients of `rgb = (Y - y0) * ys + (C - 128) * cs * [..]`: `[y0, ys, cs]` and the
    /// chroma weights `[R from Cr, G from Cb, G from Cr, B from Cb]` (G's are subtracted).
    pub fn coefficients(self) -> ([f32; 3], [f32; 4]) {
        let (kr, kb) = self.matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let (y0, ys, cs) = if self.full_range {
            (0.0, 1.0, 1.0)
        } else {
            (16.0, 255.0 / 219.0, 255.0 / 224.0)
        };
        let weights = [
            2.0 * (1.0 - kr),
            2.0 * kb * (1.0 - kb) / kg,
            2.0 * kr * (1.0 - kr) / kg,
            2.0 * (1.0 - kb),
        ];
        ([y0 as f32, ys as f32, cs as f32], weights.map(|w| w as f32))
    }

    /// One pixel to RGB, rounded and clamped (what the tiler's shader computes).
    pub fn to_rgb(self, y: u8, u: u8, v: u8) -> [u8; 3] {
        let ([y0, ys, cs], [rv, gu, gv, bu]) = self.coefficients();
        let l = (y as f32 - y0) * ys;
        let (cb, cr) = ((u as f32 - 128.0) * cs, (v as f32 - 128.0) * cs);
        [l + rv * cr, l - gu * cb - gv * cr, l + bu * cb].map(|c| c.round().clamp(0.0, 255.0) as u8)
    }
}

/// Bytes of a frame of this size in `format`.
pub fn frame_bytes(format: PixelFormat, width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    match format {
        PixelFormat::Rgba => w * h * 4,
        PixelFormat::I420(_) => w * h + 2 * w.div_ceil(2) * h.div_ceil(2),
    }
}

/// An image: RGBA8 unless `format` says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// The pixels as `format` lays them out (RGBA8 for every source but a video file opened
    /// for the pipeline: see [`crate::source::open_looping`]).
    pub rgba: Vec<u8>,
    pub format: PixelFormat,
}

impl Frame {
    pub fn new(width: u32, height: u32, rgba: Vec<u8>) -> Self {
        debug_assert_eq!(rgba.len(), width as usize * height as usize * 4);
        Self {
            width,
            height,
            rgba,
            format: PixelFormat::Rgba,
        }
    }

    /// A frame of I420 planes (see [`PixelFormat::I420`]).
    pub fn i420(width: u32, height: u32, planes: Vec<u8>, yuv: Yuv) -> Self {
        let format = PixelFormat::I420(yuv);
        debug_assert_eq!(planes.len(), frame_bytes(format, width, height));
        Self {
            width,
            height,
            rgba: planes,
            format,
        }
    }

    /// Whether the bytes are as many as the size and format need.
    pub fn is_complete(&self) -> bool {
        self.rgba.len() == frame_bytes(self.format, self.width, self.height)
    }

    /// The frame as RGBA8: itself, or converted from Y'CbCr on the CPU (each chroma sample
    /// repeated over its 2x2 block).
    pub fn to_rgba(&self) -> Cow<'_, Frame> {
        let PixelFormat::I420(yuv) = self.format else {
            return Cow::Borrowed(self);
        };
        let (w, h) = (self.width as usize, self.height as usize);
        let cw = w.div_ceil(2);
        let (luma, chroma) = self.rgba.split_at(w * h);
        let (u, v) = chroma.split_at(chroma.len() / 2);
        let mut rgba = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            for x in 0..w {
                let c = (y / 2) * cw + x / 2;
                let [r, g, b] = yuv.to_rgb(luma[y * w + x], u[c], v[c]);
                rgba.extend_from_slice(&[r, g, b, 255]);
            }
        }
        Cow::Owned(Frame::new(self.width, self.height, rgba))
    }

    /// The frame scaled to `width` x `height`, as RGBA, by a triangle filter (each output pixel
    /// the weighted mean of the input pixels it covers); itself (as RGBA) at its own size. `None`
    /// when its bytes do not match its size.
    pub fn resized(&self, width: u32, height: u32) -> Option<Frame> {
        let rgba = self.to_rgba();
        if (rgba.width, rgba.height) == (width, height) {
            return Some(rgba.into_owned());
        }
        let view = image::ImageBuffer::<image::Rgba<u8>, &[u8]>::from_raw(rgba.width, rgba.height, &rgba.rgba[..])?;
        let out = image::imageops::resize(&view, width, height, image::imageops::FilterType::Triangle);
        Some(Frame::new(width, height, out.into_raw()))
    }

    /// Mirrors the frame left-right in place, whatever its format.
    pub fn mirror(&mut self) {
        let (w, h) = (self.width as usize, self.height as usize);
        match self.format {
            PixelFormat::Rgba => mirror_rows(&mut self.rgba, w, 4),
            PixelFormat::I420(_) => {
                let (luma, chroma) = self.rgba.split_at_mut(w * h);
                mirror_rows(luma, w, 1);
                mirror_rows(chroma, w.div_ceil(2), 1);
            }
        }
    }

    /// A frame filled with one colour.
    pub fn filled(width: u32, height: u32, rgba: [u8; 4]) -> Self {
        let rgba = rgba
            .iter()
            .copied()
            .cycle()
            .take(width as usize * height as usize * 4)
            .collect();
        Self::new(width, height, rgba)
    }

    /// A copy with deterministic sensor-like noise on RGB (a sum of four uniforms, standard
    /// deviation about `sigma` levels): a still scene as a camera sees it, for the flicker
    /// benchmark and tests. An RGBA copy whatever the frame's format.
    pub fn with_noise(&self, seed: u64, sigma: f64) -> Frame {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut out = self.to_rgba().into_owned();
        for (i, v) in out.rgba.iter_mut().enumerate() {
            if i % 4 != 3 {
                let g = (next() + next() + next() + next() - 2.0) * sigma * 1.732;
                *v = (*v as f64 + g).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    /// The RGBA pixel at (x, y) (converted when the frame is Y'CbCr).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        if let PixelFormat::I420(yuv) = self.format {
            let (w, h) = (self.width as usize, self.height as usize);
            let (x, y) = (x as usize, y as usize);
            let u = w * h + (y / 2) * w.div_ceil(2) + x / 2;
            let v = u + w.div_ceil(2) * h.div_ceil(2);
            let [r, g, b] = yuv.to_rgb(self.rgba[y * w + x], self.rgba[u], self.rgba[v]);
            return [r, g, b, 255];
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }
}

/// A planar YUV 4:2:0 image (I420, limited range) as GStreamer lays it out: the Y plane, then
/// U, then V, each row padded to a multiple of 4 bytes. Even width and height. The live
/// recorder gets its frames this way from the GPU (`gpu::i420`), 1.5 bytes a pixel instead
/// of RGBA's 4, and hands them to the encoder as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I420Frame {
    pub width: u32,
    pub height: u32,
    /// The colour matrix the planes were converted with.
    pub matrix: Matrix,
    pub data: Vec<u8>,
}

/// Where the planes of an `width` x `height` [`I420Frame`] lie (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct I420Layout {
    pub y_stride: u32,
    pub c_stride: u32,
    /// Bytes of the Y plane, and of each chroma plane.
    pub y_len: u32,
    pub c_len: u32,
}

impl I420Layout {
    /// GStreamer's default I420 layout: rows rounded up to 4 bytes, planes back to back.
    /// `width` and `height` must be even.
    pub fn new(width: u32, height: u32) -> Self {
        let y_stride = width.next_multiple_of(4);
        let c_stride = (width / 2).next_multiple_of(4);
        Self {
            y_stride,
            c_stride,
            y_len: y_stride * height,
            c_len: c_stride * (height / 2),
        }
    }

    /// Bytes of the whole image.
    pub fn len(&self) -> usize {
        self.y_len as usize + 2 * self.c_len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reverses the order of the `bytes`-byte pixels within each `width`-pixel row of `data`.
fn mirror_rows(data: &mut [u8], width: usize, bytes: usize) {
    if width < 2 {
        return;
    }
    for row in data.chunks_exact_mut(width * bytes) {
        let (mut i, mut j) = (0, width - 1);
        while i < j {
            for c in 0..bytes {
                row.swap(i * bytes + c, j * bytes + c);
            }
            i += 1;
            j -= 1;
        }
    }
}

/// Frames per second as an exact fraction (25/1, 30000/1001, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub num: u32,
    pub den: u32,
}

impl Rate {
    pub const fn new(num: u32, den: u32) -> Self {
        Self { num, den }
    }

    pub fn fps(self) -> f64 {
        if self.den == 0 {
            0.0
        } else {
            self.num as f64 / self.den as f64
        }
    }

    /// Duration of one frame.
    pub fn frame_duration(self) -> std::time::Duration {
        let fps = self.fps();
        if fps > 0.0 {
            std::time::Duration::from_secs_f64(1.0 / fps)
        } else {
            std::time::Duration::from_millis(33)
        }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            // 30000/1001 as 29.97, 24000/1001 as 23.976, 25/2 as 12.5.
            let text = format!("{:.3}", self.fps());
            write!(f, "{}", text.trim_end_matches('0').trim_end_matches('.'))
        }
    }
}

/// What kind of stream a source delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Image,
    Video,
    Camera,
}

/// What a source knows about its stream before the first frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub kind: StreamKind,
    pub width: u32,
    pub height: u32,
    /// Frame rate; `None` for still images.
    pub rate: Option<Rate>,
    /// Number of frames when known (1 for images, the sample count for video files).
    pub frames: Option<u64>,
    /// Human-readable description ("bunny.mp4: H.264 1280x720 25 fps", "camera 0: MJPEG 1280x720@30").
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_print_as_people_write_them() {
        let shown = |num, den| Rate::new(num, den).to_string();
        assert_eq!(shown(30, 1), "30");
        assert_eq!(shown(30000, 1001), "29.97");
        assert_eq!(shown(24000, 1001), "23.976");
        assert_eq!(shown(25, 2), "12.5");
        assert_eq!(shown(50, 2), "25");
    }

    const BT601: Yuv = Yuv {
        matrix: Matrix::Bt601,
        full_range: false,
    };

    #[test]
    fn limited_range_covers_black_to_white() {
        assert_eq!(BT601.to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(BT601.to_rgb(235, 128, 128), [255, 255, 255]);
        assert_eq!(BT601.to_rgb(126, 128, 128), [128, 128, 128]);
        // Red in BT.601 limited range is (81, 90, 240), rounded.
        let [r, g, b] = BT601.to_rgb(81, 90, 240);
        assert!(r >= 254 && g <= 1 && b <= 1, "{r} {g} {b}");
        let full = Yuv {
            matrix: Matrix::Bt709,
            full_range: true,
        };
        assert_eq!(full.to_rgb(0, 128, 128), [0, 0, 0]);
        assert_eq!(full.to_rgb(200, 128, 128), [200, 200, 200]);
    }

    #[test]
    fn i420_mirrors_and_converts_with_odd_sizes() {
        // 3x3: Y plane 9 bytes, chroma 2x2 each.
        let planes: Vec<u8> = (16..25)
            .chain([100, 110, 120, 130])
            .chain([140, 150, 160, 170])
            .collect();
        let mut f = Frame::i420(3, 3, planes, BT601);
        assert!(f.is_complete());
        let before = f.to_rgba().into_owned();
        assert_eq!(before.pixel(2, 2), f.pixel(2, 2));
        f.mirror();
        assert_eq!(&f.rgba[..9], &[18, 17, 16, 21, 20, 19, 24, 23, 22]);
        assert_eq!(&f.rgba[9..], &[110, 100, 130, 120, 150, 140, 170, 160]);
        // Mirroring moves a pixel's luma exactly; its chroma pairs up anew on odd widths.
        assert_eq!(f.to_rgba().rgba.len(), 3 * 3 * 4);
    }
}
