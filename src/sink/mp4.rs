//! H.264 MP4 output: openh264 encodes, muxide muxes.
//!
//! Frames get exact timestamps `n / rate`, so a file encoded from a 25 fps input has the same
//! frame count and a constant 25/1 rate. openh264's frame skipping is off (rate control would
//! otherwise drop frames). H.264 4:2:0 needs even sizes: an odd width or height is padded by
//! one pixel, repeating the last column/row. Video only: audio is dropped.
//!
//! Two modes: [`Mp4Sink::create`] writes a normal (fast-start) MP4 to a temporary file,
//! renamed on `finish`; [`Mp4Sink::create_recording`] writes a fragmented MP4 straight to the
//! target, flushing a fragment about every second, so a recording cut short by a crash or a
//! kill stays playable up to the last fragment.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use muxide::api::{Muxer, MuxerBuilder, VideoCodec};
use muxide::fragmented::{FragmentConfig, FragmentedMuxer};
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, FrameType, UsageType, VuiConfig};
use openh264::formats::YUVSlices;
use openh264::OpenH264API;

use super::{image_of, AtomicFile, Mosaic, Sink};
use crate::error::{Error, Result};
use crate::frame::{Frame, Rate, StreamInfo};

const TIMESCALE: u64 = 90_000;

enum Mode {
    /// Fast-start MP4 in a temporary file; `writer` waits for the first frame's size.
    Whole {
        file: AtomicFile,
        writer: Option<BufWriter<File>>,
        muxer: Option<Box<Muxer<BufWriter<File>>>>,
    },
    /// Fragmented MP4 written directly to the target.
    Recording {
        file: BufWriter<File>,
        muxer: Option<Box<FragmentedMuxer>>,
        since_flush: u64,
    },
}

pub struct Mp4Sink {
    path: PathBuf,
    rate: Rate,
    mode: Mode,
    encoder: Option<Encoder>,
    /// (source size, encoded size) fixed by the first frame.
    sizes: Option<((u32, u32), (u32, u32))>,
    padded: Vec<u8>,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    sample: Vec<u8>,
    frames: u64,
    finished: bool,
}

fn valid_rate(rate: Option<Rate>) -> Rate {
    rate.filter(|r| r.num > 0 && r.den > 0).unwrap_or(Rate::new(25, 1))
}

impl Mp4Sink {
    /// A normal MP4 at the input's rate (25 fps when unknown), committed on `finish`.
    pub fn create(path: &Path, info: &StreamInfo) -> Result<Self> {
        let (file, writer) = AtomicFile::create(path)?;
        Ok(Self::new(
            path,
            valid_rate(info.rate),
            Mode::Whole {
                file,
                writer: Some(writer),
                muxer: None,
            },
        ))
    }

    /// A fragmented MP4 for live recording, written to `path` as it goes. `width`/`height`
    /// are informational: the first frame fixes the size.
    pub fn create_recording(path: &Path, width: u32, height: u32, rate: Rate) -> Result<Self> {
        let _ = (width, height);
        let file = File::create(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::new(
            path,
            valid_rate(Some(rate)),
            Mode::Recording {
                file: BufWriter::new(file),
                muxer: None,
                since_flush: 0,
            },
        ))
    }

    fn new(path: &Path, rate: Rate, mode: Mode) -> Self {
        Self {
            path: path.to_path_buf(),
            rate,
            mode,
            encoder: None,
            sizes: None,
            padded: Vec::new(),
            y: Vec::new(),
            u: Vec::new(),
            v: Vec::new(),
            sample: Vec::new(),
            frames: 0,
            finished: false,
        }
    }

    /// Frames encoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    fn enc_err(&self, msg: impl std::fmt::Display) -> Error {
        Error::encode(&self.path, msg.to_string())
    }

    fn start(&mut self, frame: &Frame) -> Result<()> {
        let src = (frame.width, frame.height);
        let enc = (frame.width.div_ceil(2) * 2, frame.height.div_ceil(2) * 2);
        if enc.0 > 4096 * 4 || enc.1 > 4096 * 4 {
            return Err(self.enc_err(format!("{}x{} is too large for H.264", enc.0, enc.1)));
        }
        let fps = self.rate.fps() as f32;
        // ~0.15 bits per pixel: emoji edges are sharp, a plain video rate smears them.
        let bps = (enc.0 as f64 * enc.1 as f64 * self.rate.fps() * 0.15).clamp(200e3, 40e6);
        let config = EncoderConfig::new()
            .skip_frames(false)
            .bitrate(BitRate::from_bps(bps as u32))
            .max_frame_rate(FrameRate::from_hz(fps))
            .usage_type(UsageType::CameraVideoRealTime)
            .vui(VuiConfig::bt601());
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| self.enc_err(format!("cannot start the H.264 encoder: {e}")))?;
        self.encoder = Some(encoder);
        self.sizes = Some((src, enc));
        let (ylen, clen) = crate::yuv::i420_sizes(enc.0 as usize, enc.1 as usize);
        self.y.resize(ylen, 0);
        self.u.resize(clen, 0);
        self.v.resize(clen, 0);
        if let Mode::Whole { writer, muxer, .. } = &mut self.mode {
            let writer = writer
                .take()
                .ok_or_else(|| Error::encode(&self.path, "internal: no writer"))?;
            let built = MuxerBuilder::new(writer)
                .video(VideoCodec::H264, enc.0, enc.1, self.rate.fps())
                .with_fast_start(true)
                .build()
                .map_err(|e| Error::encode(&self.path, format!("cannot start the MP4 muxer: {e}")))?;
            *muxer = Some(Box::new(built));
        }
        Ok(())
    }

    fn encode(&mut self, frame: &Frame) -> Result<()> {
        if self.finished {
            return Err(self.enc_err("write after finish"));
        }
        if self.sizes.is_none() {
            self.start(frame)?;
        }
        let Some((src, enc)) = self.sizes else {
            return Err(self.enc_err("internal: encoder not started"));
        };
        if src != (frame.width, frame.height) {
            return Err(self.enc_err(format!(
                "frame size changed from {}x{} to {}x{}",
                src.0, src.1, frame.width, frame.height
            )));
        }
        let (ew, eh) = (enc.0 as usize, enc.1 as usize);
        let rgba: &[u8] = if src == enc {
            &frame.rgba
        } else {
            pad_to(frame, ew, eh, &mut self.padded);
            &self.padded
        };
        crate::yuv::rgba_to_i420(rgba, ew, eh, &mut self.y, &mut self.u, &mut self.v);
        let yuv = YUVSlices::new((&self.y, &self.u, &self.v), (ew, eh), (ew, ew / 2, ew / 2));
        let path = self.path.clone();
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(self.enc_err("internal: encoder not started"));
        };
        let bitstream = encoder
            .encode(&yuv)
            .map_err(|e| Error::encode(&path, format!("H.264 encoding failed: {e}")))?;
        let keyframe = matches!(bitstream.frame_type(), FrameType::IDR | FrameType::I);
        self.sample.clear();
        bitstream.write_vec(&mut self.sample);
        if self.sample.is_empty() {
            return Err(self.enc_err(format!("the encoder produced no data for frame {}", self.frames)));
        }
        let n = self.frames;
        let ticks = n * TIMESCALE * self.rate.den as u64 / self.rate.num as u64;
        match &mut self.mode {
            Mode::Whole { muxer, .. } => {
                let muxer = muxer
                    .as_mut()
                    .ok_or_else(|| Error::encode(&path, "internal: no muxer"))?;
                let pts = n as f64 * self.rate.den as f64 / self.rate.num as f64;
                muxer
                    .write_video(pts, &self.sample, keyframe)
                    .map_err(|e| Error::encode(&path, format!("MP4 muxing failed: {e}")))?;
            }
            Mode::Recording {
                file,
                muxer,
                since_flush,
            } => {
                let (sps, pps, avcc) = annexb_to_avcc(&self.sample);
                if muxer.is_none() {
                    let (Some(sps), Some(pps)) = (sps, pps) else {
                        return Err(Error::encode(&path, "first H.264 frame lacks SPS/PPS"));
                    };
                    let mut config = FragmentConfig::new(enc.0, enc.1, TIMESCALE as u32);
                    config.sps = sps;
                    config.pps = pps;
                    let mut m = FragmentedMuxer::new(config)
                        .map_err(|e| Error::encode(&path, format!("cannot start the MP4 muxer: {e}")))?;
                    file.write_all(&m.init_segment())
                        .and_then(|_| file.flush())
                        .map_err(|source| Error::Write {
                            path: path.clone(),
                            source,
                        })?;
                    *muxer = Some(Box::new(m));
                }
                let Some(m) = muxer.as_mut() else {
                    return Err(Error::encode(&path, "internal: no muxer"));
                };
                m.write_video(ticks, ticks, &avcc, keyframe)
                    .map_err(|e| Error::encode(&path, format!("MP4 muxing failed: {e}")))?;
                *since_flush += 1;
                if *since_flush as f64 >= self.rate.fps().max(1.0) {
                    *since_flush = 0;
                    flush_fragment(m, file, &path)?;
                }
            }
        }
        self.frames += 1;
        Ok(())
    }
}

fn flush_fragment(m: &mut FragmentedMuxer, file: &mut BufWriter<File>, path: &Path) -> Result<()> {
    if let Some(segment) = m.flush_segment() {
        file.write_all(&segment)
            .and_then(|_| file.flush())
            .map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(())
}

/// Copies `frame` into `out` at `w`x`h` (>= the frame), repeating the last column and row.
fn pad_to(frame: &Frame, w: usize, h: usize, out: &mut Vec<u8>) {
    let (fw, fh) = (frame.width as usize, frame.height as usize);
    out.resize(w * h * 4, 0);
    for y in 0..h {
        let sy = y.min(fh - 1);
        let src = &frame.rgba[sy * fw * 4..(sy + 1) * fw * 4];
        let dst = &mut out[y * w * 4..(y + 1) * w * 4];
        dst[..fw * 4].copy_from_slice(src);
        for x in fw..w {
            dst[x * 4..x * 4 + 4].copy_from_slice(&src[(fw - 1) * 4..fw * 4]);
        }
    }
}

/// Splits Annex B into (SPS, PPS, the other NAL units length-prefixed as MP4 stores them).
fn annexb_to_avcc(data: &[u8]) -> (Option<Vec<u8>>, Option<Vec<u8>>, Vec<u8>) {
    let (mut sps, mut pps, mut out) = (None, None, Vec::with_capacity(data.len()));
    for nal in split_annexb(data) {
        match nal.first().map(|b| b & 0x1f) {
            Some(7) => sps = Some(nal.to_vec()),
            Some(8) => pps = Some(nal.to_vec()),
            Some(9) | None => {}
            Some(_) => {
                out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                out.extend_from_slice(nal);
            }
        }
    }
    (sps, pps, out)
}

fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map(|&n| n - 3).unwrap_or(data.len());
        while end > s && data[end - 1] == 0 {
            end -= 1;
        }
        nals.push(&data[s..end]);
    }
    nals
}

impl Sink for Mp4Sink {
    fn write(&mut self, mosaic: &Mosaic<'_>) -> Result<()> {
        let frame = image_of(mosaic, &self.path)?;
        self.encode(frame)
    }

    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let path = self.path.clone();
        match &mut self.mode {
            Mode::Whole { file, muxer, .. } => {
                let mut muxer = muxer
                    .take()
                    .ok_or_else(|| Error::encode(&path, "no frame was produced"))?;
                muxer
                    .finish_in_place()
                    .map_err(|e| Error::encode(&path, format!("MP4 muxing failed: {e}")))?;
                file.commit(muxer.into_writer())
            }
            Mode::Recording { file, muxer, .. } => {
                if let Some(m) = muxer.as_mut() {
                    flush_fragment(m, file, &path)?;
                }
                file.flush().map_err(|source| Error::Write { path, source })
            }
        }
    }
}
