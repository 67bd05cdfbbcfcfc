//! MP4 files with an H.264 video track, decoded in-process with openh264.
//!
//! Samples are read with the `mp4` crate, their AVCC length-prefixed NAL units rewritten as
//! Annex B, and fed to openh264 without per-sample flushing: with B-frames the decoder holds
//! pictures back until their display turn, and `flush_remaining` hands out the rest at the
//! end, so frames come out in display order and every sample yields one frame. Audio tracks
//! are ignored.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use ::mp4::{Mp4Reader, TrackType};
use openh264::decoder::{DecodeOptions, DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use openh264::OpenH264API;

use super::{guard, Source};
use crate::error::{Error, Result};
use crate::frame::{Frame, Rate, StreamInfo, StreamKind};

pub struct Mp4Source {
    path: PathBuf,
    reader: Mp4Reader<BufReader<File>>,
    track_id: u32,
    length_size: usize,
    /// SPS and PPS from avcC, in Annex B, prepended to the first sample.
    parameter_sets: Vec<u8>,
    next_sample: u32,
    sample_count: u32,
    decoder: Decoder,
    pending: VecDeque<Frame>,
    flushed: bool,
    annexb: Vec<u8>,
    info: StreamInfo,
}

// SAFETY-free: openh264's Decoder is Send; Mp4Reader<BufReader<File>> is Send.

impl Mp4Source {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let size = file
            .metadata()
            .map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let reader = guard(path, "MP4 parsing", || {
            Mp4Reader::read_header(BufReader::new(file), size)
                .map_err(|e| Error::decode(path, format!("not a readable MP4 file (corrupt or truncated?): {e}")))
        })?;

        let mut video_codecs = Vec::new();
        let mut chosen = None;
        let mut track_ids: Vec<u32> = reader.tracks().keys().copied().collect();
        track_ids.sort_unstable();
        for id in track_ids {
            let track = &reader.tracks()[&id];
            let stsd = &track.trak.mdia.minf.stbl.stsd;
            if stsd.avc1.is_some() {
                chosen = Some(id);
                break;
            }
            if matches!(track.track_type(), Ok(TrackType::Video)) {
                video_codecs.push(if stsd.hev1.is_some() {
                    "H.265/HEVC (hev1)".to_string()
                } else if stsd.vp09.is_some() {
                    "VP9".to_string()
                } else {
                    sample_entry_fourcc(path)
                        .map(|f| format!("'{f}'"))
                        .unwrap_or_else(|| "an unknown codec".into())
                });
            }
        }
        let Some(track_id) = chosen else {
            let what = if video_codecs.is_empty() {
                "has no video track (audio only?)".to_string()
            } else {
                format!("has video in {}, not H.264", video_codecs.join(", "))
            };
            return Err(Error::usage(format!(
                "{}: this MP4 {what}: emojicam decodes H.264 MP4 only (convert with: ffmpeg -i IN -c:v libx264 OUT.mp4)",
                path.display()
            )));
        };

        let track = &reader.tracks()[&track_id];
        let Some(avc1) = track.trak.mdia.minf.stbl.stsd.avc1.as_ref() else {
            return Err(Error::decode(path, "H.264 track without avcC"));
        };
        let mut parameter_sets = Vec::new();
        for nal in avc1
            .avcc
            .sequence_parameter_sets
            .iter()
            .chain(&avc1.avcc.picture_parameter_sets)
        {
            parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
            parameter_sets.extend_from_slice(&nal.bytes);
        }
        let length_size = avc1.avcc.length_size_minus_one as usize % 4 + 1;
        let (width, height) = (avc1.width as u32, avc1.height as u32);
        if width == 0 || height == 0 {
            return Err(Error::decode(path, "the H.264 track has a 0x0 frame size"));
        }
        let sample_count = track.sample_count();
        let timescale = track.timescale();
        let duration = track.trak.mdia.mdhd.duration;
        let rate = if sample_count > 0 && duration > 0 && timescale > 0 {
            reduce(timescale as u64 * sample_count as u64, duration)
        } else {
            Rate::new(25, 1)
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let info = StreamInfo {
            kind: StreamKind::Video,
            width,
            height,
            rate: Some(rate),
            frames: Some(sample_count as u64),
            description: format!("{name}: H.264 {width}x{height} {rate} fps"),
        };
        let decoder = Decoder::with_api_config(
            OpenH264API::from_source(),
            DecoderConfig::new().flush_after_decode(Flush::NoFlush),
        )
        .map_err(|e| Error::decode(path, format!("cannot start the H.264 decoder: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            track_id,
            length_size,
            parameter_sets,
            next_sample: 1,
            sample_count,
            decoder,
            pending: VecDeque::new(),
            flushed: false,
            annexb: Vec::new(),
            info,
        })
    }

    fn feed_sample(&mut self) -> Result<()> {
        let (path, track_id, id) = (self.path.clone(), self.track_id, self.next_sample);
        self.next_sample += 1;
        let reader = &mut self.reader;
        let sample = guard(&path, "MP4 sample reading", || {
            reader
                .read_sample(track_id, id)
                .map_err(|e| Error::decode(&path, format!("cannot read video sample {id}: {e} (truncated file?)")))
        })?
        .ok_or_else(|| Error::decode(&path, format!("video sample {id} is missing (truncated file?)")))?;

        self.annexb.clear();
        if id == 1 {
            self.annexb.extend_from_slice(&self.parameter_sets);
        }
        avcc_to_annexb(&sample.bytes, self.length_size, &mut self.annexb)
            .map_err(|m| Error::decode(&path, format!("video sample {id}: {m}")))?;

        let decoder = &mut self.decoder;
        let annexb = &self.annexb;
        let pending = &mut self.pending;
        guard(&path, "H.264 decoding", || {
            let out = decoder
                .decode_with_options(annexb, DecodeOptions::new().flush_after_decode(Flush::NoFlush))
                .map_err(|e| Error::decode(&path, format!("H.264 decoding failed at sample {id}: {e}")))?;
            if let Some(yuv) = out {
                pending.push_back(to_frame(&yuv));
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> Result<()> {
        self.flushed = true;
        let decoder = &mut self.decoder;
        let pending = &mut self.pending;
        let path = self.path.clone();
        guard(&path, "H.264 decoding", || {
            let rest = decoder
                .flush_remaining()
                .map_err(|e| Error::decode(&path, format!("H.264 decoding failed at the end: {e}")))?;
            for yuv in &rest {
                pending.push_back(to_frame(yuv));
            }
            Ok(())
        })
    }
}

impl Source for Mp4Source {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(Some(frame));
            }
            if self.next_sample <= self.sample_count {
                self.feed_sample()?;
            } else if !self.flushed {
                self.flush()?;
            } else {
                return Ok(None);
            }
        }
    }
}

fn to_frame(yuv: &DecodedYUV<'_>) -> Frame {
    let (w, h) = yuv.dimensions();
    let mut rgba = vec![0u8; w * h * 4];
    crate::yuv::i420_to_rgba(yuv.y(), yuv.u(), yuv.v(), yuv.strides(), w, h, &mut rgba);
    Frame::new(w as u32, h as u32, rgba)
}

fn reduce(num: u64, den: u64) -> Rate {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(num, den).max(1);
    let (mut n, mut d) = (num / g, den / g);
    while n > u32::MAX as u64 || d > u32::MAX as u64 {
        n /= 2;
        d = (d / 2).max(1);
    }
    Rate::new(n as u32, d as u32)
}

/// Rewrites length-prefixed NAL units (as stored in MP4) as start-code-prefixed Annex B.
pub fn avcc_to_annexb(sample: &[u8], length_size: usize, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let mut rest = sample;
    while !rest.is_empty() {
        if rest.len() < length_size {
            return Err("truncated NAL length".into());
        }
        let len = rest[..length_size]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        rest = &rest[length_size..];
        if len > rest.len() {
            return Err(format!("NAL unit of {len} bytes but only {} left", rest.len()));
        }
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&rest[..len]);
        rest = &rest[len..];
    }
    Ok(())
}

/// The first sample entry's fourcc of the first `stsd` box, to name an unsupported codec.
fn sample_entry_fourcc(path: &Path) -> Option<String> {
    let mut bytes = Vec::new();
    File::open(path).ok()?.read_to_end(&mut bytes).ok()?;
    let at = bytes.windows(4).position(|w| w == b"stsd")?;
    let fourcc = bytes.get(at + 16..at + 20)?;
    Some(String::from_utf8_lossy(fourcc).into_owned())
}
