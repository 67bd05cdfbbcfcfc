//! Frames as they travel between threads: plain RGBA8 bytes plus their size.

/// A tightly packed RGBA8 (sRGB) image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Frame {
    pub fn new(width: u32, height: u32, rgba: Vec<u8>) -> Self {
        debug_assert_eq!(rgba.len(), width as usize * height as usize * 4);
        Self { width, height, rgba }
    }

    /// A frame filled with one colour.
    pub fn filled(width: u32, height: u32, rgba: [u8; 4]) -> Self {
        let rgba = rgba
            .iter()
            .copied()
            .cycle()
            .take(width as usize * height as usize * 4)
            .collect();
        Self { width, height, rgba }
    }

    /// A copy with deterministic sensor-like noise on RGB (a sum of four uniforms, standard
    /// deviation about `sigma` levels): a still scene as a camera sees it, for the flicker
    /// benchmark and tests.
    pub fn with_noise(&self, seed: u64, sigma: f64) -> Frame {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut out = self.clone();
        for (i, v) in out.rgba.iter_mut().enumerate() {
            if i % 4 != 3 {
                let g = (next() + next() + next() + next() - 2.0) * sigma * 1.732;
                *v = (*v as f64 + g).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
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
    pub matrix: YuvMatrix,
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

/// The RGB -> YUV matrix of a limited-range ("studio swing") video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YuvMatrix {
    Bt601,
    Bt709,
}

impl YuvMatrix {
    /// What GStreamer picks for a YUV video with no colorimetry given (and so what a recording
    /// converted by its `videoconvert` gets): BT.709 above 576 rows, BT.601 up to there.
    pub fn default_for(height: u32) -> Self {
        if height > 576 {
            YuvMatrix::Bt709
        } else {
            YuvMatrix::Bt601
        }
    }

    /// The luma weights of red and blue (Kr, Kb).
    pub fn weights(self) -> (f32, f32) {
        match self {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
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
            write!(f, "{:.3}", self.fps())
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
