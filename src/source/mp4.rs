//! MP4 files with an H.264 video track, decoded in-process with openh264.
//!
//! Samples are read with the `mp4` crate, their AVCC length-prefixed NAL units rewritten as
//! Annex B, and fed to openh264 without per-sample flushing: with B-frames the decoder holds
//! pictures back until their display turn, and `flush_remaining` hands out the rest at the
//! end, so frames come out in display order and every sample yields one frame. Audio tracks
//! are ignored.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
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
    /// Fragmented files (our own recordings among them): the `mp4` crate cannot locate their
    /// samples, so they are read from this table of (offset, size), built from the `moof`s.
    fragments: Option<(File, Vec<(u64, u32)>)>,
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
        let boxes = top_level_boxes(path, size)?;
        // Parse only whole boxes: a recording cut off mid-fragment is still readable.
        let complete = boxes.last().map(|b| b.offset + b.size).unwrap_or(0);
        if !boxes.iter().any(|b| &b.kind == b"moov") {
            return Err(Error::decode(
                path,
                "not a readable MP4 file: no 'moov' box (corrupt or truncated?)",
            ));
        }
        let reader = guard(path, "MP4 parsing", || {
            Mp4Reader::read_header(BufReader::new(file), complete)
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
        let timescale = track.timescale();
        let (sample_count, duration, fragments) = if boxes.iter().any(|b| &b.kind == b"moof") {
            let (samples, duration) = fragment_samples(path, &boxes, track_id, size)?;
            let file = File::open(path).map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?;
            (samples.len() as u32, duration, Some((file, samples)))
        } else {
            (track.sample_count(), track.trak.mdia.mdhd.duration, None)
        };
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
            fragments,
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
        let bytes = if let Some((file, table)) = self.fragments.as_mut() {
            let &(offset, len) = table
                .get(id as usize - 1)
                .ok_or_else(|| Error::decode(&path, format!("video sample {id} is missing")))?;
            let mut buf = vec![0u8; len as usize];
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut buf))
                .map_err(|e| Error::decode(&path, format!("cannot read video sample {id}: {e} (truncated file?)")))?;
            buf
        } else {
            let reader = &mut self.reader;
            guard(&path, "MP4 sample reading", || {
                reader
                    .read_sample(track_id, id)
                    .map_err(|e| Error::decode(&path, format!("cannot read video sample {id}: {e} (truncated file?)")))
            })?
            .ok_or_else(|| Error::decode(&path, format!("video sample {id} is missing (truncated file?)")))?
            .bytes
            .to_vec()
        };
        let sample = bytes.as_slice();

        self.annexb.clear();
        if id == 1 {
            self.annexb.extend_from_slice(&self.parameter_sets);
        }
        avcc_to_annexb(sample, self.length_size, &mut self.annexb)
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

struct TopBox {
    kind: [u8; 4],
    offset: u64,
    size: u64,
}

/// The file's complete top-level boxes; a box cut off by the end of the file ends the list.
fn top_level_boxes(path: &Path, file_len: u64) -> Result<Vec<TopBox>> {
    let err = |e: std::io::Error| Error::Read {
        path: path.to_path_buf(),
        source: e,
    };
    let mut file = File::open(path).map_err(err)?;
    let mut boxes = Vec::new();
    let mut offset = 0u64;
    while offset + 8 <= file_len {
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(offset)).map_err(err)?;
        let n = file.read(&mut header).map_err(err)?;
        if n < 8 {
            break;
        }
        let mut size = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as u64;
        let kind = [header[4], header[5], header[6], header[7]];
        if size == 1 {
            if n < 16 {
                break;
            }
            size = u64::from_be_bytes([
                header[8], header[9], header[10], header[11], header[12], header[13], header[14], header[15],
            ]);
        } else if size == 0 {
            size = file_len - offset;
        }
        if size < 8 || offset + size > file_len {
            break;
        }
        boxes.push(TopBox { kind, offset, size });
        offset += size;
    }
    if boxes.is_empty() {
        return Err(Error::decode(path, "not a readable MP4 file (no complete box)"));
    }
    Ok(boxes)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Child boxes of a box body: (kind, body).
fn children(mut body: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while body.len() >= 8 {
        let size = be32(body, 0).unwrap_or(0) as usize;
        if size < 8 || size > body.len() {
            break;
        }
        let kind = [body[4], body[5], body[6], body[7]];
        out.push((kind, &body[8..size]));
        body = &body[size..];
    }
    out
}

/// (file offset, size) of every sample of `track_id` in the `moof` boxes, and the summed
/// sample durations. Samples whose bytes lie past the end of the file are left out.
fn fragment_samples(path: &Path, boxes: &[TopBox], track_id: u32, file_len: u64) -> Result<(Vec<(u64, u32)>, u64)> {
    let err = |e: std::io::Error| Error::Read {
        path: path.to_path_buf(),
        source: e,
    };
    let bad = |what: &str| Error::decode(path, format!("malformed fragment: {what}"));
    let mut file = File::open(path).map_err(err)?;
    let (mut samples, mut duration) = (Vec::new(), 0u64);
    for moof in boxes.iter().filter(|b| &b.kind == b"moof") {
        if moof.size > 64 << 20 {
            return Err(bad("moof box too large"));
        }
        let mut body = vec![0u8; moof.size as usize - 8];
        file.seek(SeekFrom::Start(moof.offset + 8)).map_err(err)?;
        file.read_exact(&mut body).map_err(err)?;
        for (kind, traf) in children(&body) {
            if &kind != b"traf" {
                continue;
            }
            let parts = children(traf);
            let Some((_, tfhd)) = parts.iter().find(|(k, _)| k == b"tfhd") else {
                return Err(bad("traf without tfhd"));
            };
            let flags = be32(tfhd, 0).ok_or_else(|| bad("short tfhd"))? & 0xff_ffff;
            if be32(tfhd, 4) != Some(track_id) {
                continue;
            }
            let mut at = 8;
            let mut base = moof.offset;
            if flags & 0x1 != 0 {
                base = be64(tfhd, at).ok_or_else(|| bad("short tfhd"))?;
                at += 8;
            }
            if flags & 0x2 != 0 {
                at += 4;
            }
            let mut default_duration = 0;
            if flags & 0x8 != 0 {
                default_duration = be32(tfhd, at).ok_or_else(|| bad("short tfhd"))?;
                at += 4;
            }
            let default_size = if flags & 0x10 != 0 { be32(tfhd, at) } else { None };
            for (_, trun) in parts.iter().filter(|(k, _)| k == b"trun") {
                let tflags = be32(trun, 0).ok_or_else(|| bad("short trun"))? & 0xff_ffff;
                let count = be32(trun, 4).ok_or_else(|| bad("short trun"))?;
                let mut at = 8;
                let mut offset = base;
                if tflags & 0x1 != 0 {
                    let data_offset = be32(trun, at).ok_or_else(|| bad("short trun"))? as i32;
                    offset = base.wrapping_add_signed(data_offset as i64);
                    at += 4;
                }
                if tflags & 0x4 != 0 {
                    at += 4;
                }
                for _ in 0..count {
                    let mut sample_duration = default_duration;
                    if tflags & 0x100 != 0 {
                        sample_duration = be32(trun, at).ok_or_else(|| bad("short trun"))?;
                        at += 4;
                    }
                    let size = if tflags & 0x200 != 0 {
                        let size = be32(trun, at).ok_or_else(|| bad("short trun"))?;
                        at += 4;
                        size
                    } else {
                        default_size.ok_or_else(|| bad("no sample size"))?
                    };
                    if tflags & 0x400 != 0 {
                        at += 4;
                    }
                    if tflags & 0x800 != 0 {
                        at += 4;
                    }
                    if offset + size as u64 <= file_len {
                        samples.push((offset, size));
                        duration += sample_duration as u64;
                    }
                    offset += size as u64;
                }
            }
        }
    }
    Ok((samples, duration))
}
