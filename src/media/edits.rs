//! MP4/MOV files whose tracks start through an edit list (read whole on GStreamer 1.22), or that
//! hold a track shorter than a fifth of the movie.
//!
//! qtdemux before 1.24 ends a track early when its edit list starts inside the track's media
//! (an edit whose media time is above 0: any MP4 cut with `ffmpeg -ss X -c copy`, Apple's
//! lossless trims, and the AAC priming of ordinary encodes). Its loop compares the movie's stop
//! (the movie header's duration, in movie time) with a track position that it shifts into the
//! track's media time, so a track loses as much of its end as its edit skips of its start: a
//! cut 0.7 s into a 2 s clip keeps 0.6 of its 1.3 s of sound; cut past its middle, nothing
//! decodes. GStreamer 1.24 compares movie time with movie time (its commit "qtdemux: Determine
//! EOS based on the stream segment").
//!
//! qtdemux has no stop while the movie header declares no duration (0: "unknown"); the edit
//! lists still bound every track (each stream's segment stops where its edits end). So such a
//! file is read through [`EditSrc`], a file source that reads the file as it is except the movie
//! header's duration, which it reads as 0. Nothing is written: the person's file is untouched.
//! [`uri`](super::uri) gives these files a URI of the source's own scheme; every other file is
//! read by GStreamer's `filesrc` as before.
//!
//! On every GStreamer version, qtdemux also leaves out a track shorter than a fifth of the movie
//! while it knows the movie's duration (taking it for a trailer's preview picture): a short
//! sound, or a short video beside a long sound. Those files are read the same way, unless the
//! short track is a video beside a long one (a real preview, still left out).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer::subclass::prelude::*;
use gstreamer_base as gst_base;
use gstreamer_base::prelude::*;
use gstreamer_base::subclass::prelude::*;

/// The URI scheme [`EditSrc`] reads: a `file://` URI with this scheme instead.
pub const SCHEME: &str = "emojicam-mp4";

/// The largest movie header (`moov`) read to look for edit lists. Ten hours of video at 60
/// fps take about 20 MiB of sample tables; a larger one is read by `filesrc` as it is.
const MOOV_LIMIT: u64 = 256 << 20;

/// Bytes of the file read as zeros: the movie header's duration field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    offset: u64,
    len: u64,
}

impl Patch {
    /// Zeroes the part of `bytes` (the file's bytes from `at`) that this patch covers.
    fn apply(&self, at: u64, bytes: &mut [u8]) {
        let end = at + bytes.len() as u64;
        let (from, to) = (self.offset.max(at), (self.offset + self.len).min(end));
        if from < to {
            bytes[(from - at) as usize..(to - at) as usize].fill(0);
        }
    }
}

/// Whether this GStreamer's qtdemux stops edit-listed tracks early (before 1.24).
fn affected() -> bool {
    let (major, minor, _, _) = gst::version();
    (major, minor) < (1, 24)
}

/// The patch `path` needs to be read whole, if it is an MP4/MOV file whose tracks start inside
/// their media and this GStreamer is affected, or that holds a track qtdemux would leave out as
/// a preview. Reads the top-level box headers and the `moov` box, once for a file: a render asks
/// for its input several times (the picture, the sound, the sound's probe, this source's
/// start), and the answer for the file last asked about is kept while it is unchanged.
pub fn patch_for(path: &Path) -> Option<Patch> {
    use std::os::unix::fs::MetadataExt;
    static LAST: Mutex<Option<(FileKey, Option<Patch>)>> = Mutex::new(None);
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let key = (meta.dev(), meta.ino(), meta.len(), meta.modified().ok());
    if let Ok(last) = LAST.lock() {
        if let Some((_, patch)) = last.as_ref().filter(|(k, _)| *k == key) {
            return *patch;
        }
    }
    let patch = read_patch(&file, meta.len());
    if let Ok(mut last) = LAST.lock() {
        *last = Some((key, patch));
    }
    patch
}

/// What tells one file's contents from another's: its device and inode, length and
/// modification time.
type FileKey = (u64, u64, u64, Option<std::time::SystemTime>);

/// [`patch_for`] of the open `file`, `len` bytes long.
fn read_patch(file: &File, len: u64) -> Option<Patch> {
    let (body, end) = find_moov(file, len)?;
    if end - body > MOOV_LIMIT {
        return None;
    }
    let mut moov = vec![0; usize::try_from(end - body).ok()?];
    file.read_exact_at(&mut moov, body).ok()?;
    let (offset, field) = movie_duration_field(&moov)?;
    let duration = be_uint(moov.get(offset..offset + field)?);
    let scale = be_uint(moov.get(offset.checked_sub(4)?..offset)?);
    let tracks = tracks(&moov, scale, duration);
    let long_video = tracks.iter().any(|&(kind, short)| &kind == b"vide" && !short);
    let preview = long_video && tracks.iter().any(|&(kind, short)| &kind == b"vide" && short);
    // A short track that is no other video's preview (a sound shorter than a fifth of its
    // video, the only video beside a long sound) would be left out: read it as a stream.
    let left_out = tracks.iter().any(|&(_, short)| short) && !preview;
    if duration == 0 || preview || !(left_out || (affected() && starts_inside_media(&moov))) {
        return None;
    }
    Some(Patch {
        offset: body + offset as u64,
        len: field as u64,
    })
}

/// Where a box's body starts and where it ends: (type, body, end), from a header at `at`
/// whose first 16 bytes (or fewer, at the end) are `header`; `limit` is where its parent ends
/// (a box of size 0 runs to it). The end may lie past `limit`: a box cut short.
fn parse_header(header: &[u8], at: u64, limit: u64) -> Option<([u8; 4], u64, u64)> {
    let size = u64::from(u32::from_be_bytes(header.get(0..4)?.try_into().ok()?));
    let kind: [u8; 4] = header.get(4..8)?.try_into().ok()?;
    let (size, skip) = match size {
        0 => (limit.checked_sub(at)?, 8),
        1 => (u64::from_be_bytes(header.get(8..16)?.try_into().ok()?), 16),
        n => (n, 8),
    };
    let end = at.checked_add(size)?;
    (size >= skip).then_some((kind, at + skip, end))
}

/// The top-level boxes of an ISO media file of `len` bytes, in order: (type, body, end). The
/// last one's end may lie past `len` (a file cut short).
fn top_level(file: &File, len: u64) -> impl Iterator<Item = ([u8; 4], u64, u64)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at + 8 > len {
            return None;
        }
        let mut header = [0; 16];
        let n = (len - at).min(16) as usize;
        file.read_exact_at(&mut header[..n], at).ok()?;
        let found = parse_header(&header[..n], at, len)?;
        at = found.2;
        Some(found)
    })
}

/// The top-level `moov` box of an ISO media file, whole: (body, end). Files that do not start
/// with a box such files start with are not walked.
fn find_moov(file: &File, len: u64) -> Option<(u64, u64)> {
    const FIRST: [&[u8; 4]; 6] = [b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"];
    let mut boxes = top_level(file, len);
    let first = boxes.next().filter(|b| FIRST.contains(&&b.0))?;
    std::iter::once(first)
        .chain(boxes)
        .find(|b| &b.0 == b"moov")
        .filter(|b| b.2 <= len)
        .map(|(_, body, end)| (body, end))
}

/// Whether `path` is an MP4/MOV file without its index: it starts with `ftyp` and no top-level
/// `moov` box comes before its end (a recording cut short: recorders write it last) or before
/// a box that runs past its end.
pub fn index_missing(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    let mut boxes = top_level(&file, len);
    boxes.next().is_some_and(|b| &b.0 == b"ftyp") && boxes.all(|b| &b.0 != b"moov")
}

/// The boxes inside `data[body..end]`: (type, body, end), offsets into `data`.
fn children(data: &[u8], body: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut found = Vec::new();
    let mut at = body;
    while at + 8 <= end {
        let header = &data[at..end.min(at + 16)];
        let Some((kind, b, e)) = parse_header(header, at as u64, end as u64).filter(|h| h.2 <= end as u64) else {
            break;
        };
        found.push((kind, b as usize, e as usize));
        at = e as usize;
    }
    found
}

/// The boxes of type `kind` among `data[body..end]`'s children: (body, end).
fn boxes_of<'a>(
    data: &'a [u8],
    body: usize,
    end: usize,
    kind: &'a [u8; 4],
) -> impl Iterator<Item = (usize, usize)> + 'a {
    children(data, body, end)
        .into_iter()
        .filter(move |(k, _, _)| k == kind)
        .map(|(_, b, e)| (b, e))
}

/// The movie header's duration field in a `moov` body: (offset, length). None for a fragmented
/// file (`mvex`: qtdemux reads its fragments' durations another way).
fn movie_duration_field(moov: &[u8]) -> Option<(usize, usize)> {
    if boxes_of(moov, 0, moov.len(), b"mvex").next().is_some() {
        return None;
    }
    let (body, end) = boxes_of(moov, 0, moov.len(), b"mvhd").next()?;
    // version and flags, then creation and modification times and the timescale.
    let (offset, field) = match *moov.get(body)? {
        1 => (body + 4 + 8 + 8 + 4, 8),
        _ => (body + 4 + 4 + 4 + 4, 4),
    };
    (offset + field <= end).then_some((offset, field))
}

/// A big-endian unsigned number of 4 or 8 bytes.
fn be_uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, &b| (n << 8) | u64::from(b))
}

/// Each track's handler (`vide`, `soun`, ...) and whether its media lasts less than a fifth of
/// the movie (`duration` in units of `scale`, the movie header's). qtdemux leaves such a track
/// out when it knows the movie's duration, taking it for a trailer's preview picture: a short
/// sound, or a short video beside a long sound, was lost (no sound; "no video track"). With the
/// movie's duration read as 0 every track is a stream.
fn tracks(moov: &[u8], scale: u64, duration: u64) -> Vec<([u8; 4], bool)> {
    let field = |body: usize, at: usize, len: usize| moov.get(body + at..body + at + len).map(be_uint);
    boxes_of(moov, 0, moov.len(), b"trak")
        .flat_map(|(b, e)| boxes_of(moov, b, e, b"mdia"))
        .map(|(b, e)| {
            // hdlr: version and flags, pre-defined, then the handler type.
            let kind = boxes_of(moov, b, e, b"hdlr")
                .next()
                .and_then(|(body, _)| moov.get(body + 8..body + 12)?.try_into().ok())
                .unwrap_or(*b"    ");
            // mdhd: version and flags, creation and modification times, timescale, duration;
            // qtdemux's test, in integers as it does it.
            let short = boxes_of(moov, b, e, b"mdhd").next().is_some_and(|(body, _)| {
                let media = match moov.get(body) {
                    Some(1) => field(body, 20, 4).zip(field(body, 24, 8)),
                    _ => field(body, 12, 4).zip(field(body, 16, 4)),
                };
                media.is_some_and(|(track_scale, track)| {
                    let whole = u128::from(track_scale) * u128::from(duration);
                    let part = u128::from(scale) * u128::from(track);
                    whole != 0 && part * 10 / whole < 2
                })
            });
            (kind, short)
        })
        .collect()
}

/// Whether a track's edit list has an edit whose media time is above 0 (-1: an empty edit).
fn starts_inside_media(moov: &[u8]) -> bool {
    let mut lists = boxes_of(moov, 0, moov.len(), b"trak")
        .flat_map(|(b, e)| boxes_of(moov, b, e, b"edts"))
        .flat_map(|(b, e)| boxes_of(moov, b, e, b"elst"));
    lists.any(|(body, end)| {
        let Some(list) = moov.get(body..end) else {
            return false;
        };
        let wide = list.first() == Some(&1);
        let (entry, time_at) = if wide { (20, 8) } else { (12, 4) };
        let count = list
            .get(4..8)
            .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize);
        (0..count)
            .map_while(|i| list.get(8 + i * entry + time_at..8 + i * entry + time_at * 2))
            .any(|t| {
                if wide {
                    t.try_into().map(i64::from_be_bytes).is_ok_and(|v| v > 0)
                } else {
                    t.try_into().map(i32::from_be_bytes).is_ok_and(|v| v > 0)
                }
            })
    })
}

/// The file a URI of [`SCHEME`] names.
fn path_of(uri: &str) -> Result<PathBuf, glib::Error> {
    let rest = uri
        .strip_prefix(SCHEME)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(|| {
            glib::Error::new(
                gst::URIError::UnsupportedProtocol,
                &format!("not a {SCHEME} URI: {uri}"),
            )
        })?;
    glib::filename_from_uri(&format!("file:{rest}")).map(|(path, _)| path)
}

/// Makes [`EditSrc`] known to GStreamer (once per process, after `gst::init`), so that
/// `uridecodebin` and the Discoverer read URIs of [`SCHEME`] through it.
pub fn register() -> Result<(), glib::BoolError> {
    gst::Element::register(None, FACTORY, gst::Rank::MARGINAL, EditSrc::static_type())
}

/// [`EditSrc`]'s factory name.
const FACTORY: &str = "emojicameditsrc";

/// Whether [`register`] made [`EditSrc`] known.
pub fn registered() -> bool {
    gst::ElementFactory::find(FACTORY).is_some()
}

glib::wrapper! {
    /// A file source that reads an edit-listed MP4/MOV file with its movie duration read as 0
    /// (see the module's text).
    pub struct EditSrc(ObjectSubclass<imp::EditSrc>) @extends gst_base::BaseSrc, gst::Element, gst::Object, @implements gst::URIHandler;
}

mod imp {
    use super::*;

    /// The open file: its length and what is read as zeros.
    struct Open {
        file: File,
        len: u64,
        patch: Option<Patch>,
    }

    #[derive(Default)]
    pub struct EditSrc {
        uri: Mutex<Option<(String, PathBuf)>>,
        open: Mutex<Option<Open>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for EditSrc {
        const NAME: &'static str = "EmojicamEditSrc";
        type Type = super::EditSrc;
        type ParentType = gst_base::BaseSrc;
        type Interfaces = (gst::URIHandler,);
    }

    impl ObjectImpl for EditSrc {
        fn constructed(&self) {
            self.parent_constructed();
            self.obj().set_format(gst::Format::Bytes);
        }
    }

    impl GstObjectImpl for EditSrc {}

    impl ElementImpl for EditSrc {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: std::sync::OnceLock<gst::subclass::ElementMetadata> = std::sync::OnceLock::new();
            Some(META.get_or_init(|| {
                gst::subclass::ElementMetadata::new(
                    "Edit-listed MP4 file source",
                    "Source/File",
                    "Reads an MP4/MOV file with its movie duration as unknown, so GStreamer 1.22's qtdemux reads edit-listed tracks whole",
                    "emojicam",
                )
            }))
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: std::sync::OnceLock<Vec<gst::PadTemplate>> = std::sync::OnceLock::new();
            TEMPLATES.get_or_init(|| {
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &gst::Caps::new_any(),
                )
                .map(|t| vec![t])
                .unwrap_or_default()
            })
        }
    }

    impl BaseSrcImpl for EditSrc {
        fn start(&self) -> Result<(), gst::ErrorMessage> {
            let path = self
                .uri
                .lock()
                .map_err(|_| poisoned())?
                .as_ref()
                .map(|(_, p)| p.clone());
            let path = path.ok_or_else(|| gst::error_msg!(gst::ResourceError::NotFound, ["no file given"]))?;
            let cannot = |e: std::io::Error| {
                gst::error_msg!(gst::ResourceError::OpenRead, ["cannot read {}: {e}", path.display()])
            };
            let file = File::open(&path).map_err(cannot)?;
            let len = file.metadata().map_err(cannot)?.len();
            let patch = patch_for(&path);
            *self.open.lock().map_err(|_| poisoned())? = Some(Open { file, len, patch });
            Ok(())
        }

        fn stop(&self) -> Result<(), gst::ErrorMessage> {
            *self.open.lock().map_err(|_| poisoned())? = None;
            Ok(())
        }

        fn is_seekable(&self) -> bool {
            true
        }

        fn size(&self) -> Option<u64> {
            self.open.lock().ok()?.as_ref().map(|o| o.len)
        }

        fn fill(
            &self,
            offset: u64,
            length: u32,
            buffer: &mut gst::BufferRef,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            let open = self.open.lock().map_err(|_| gst::FlowError::Error)?;
            let open = open.as_ref().ok_or(gst::FlowError::Flushing)?;
            if offset >= open.len {
                return Err(gst::FlowError::Eos);
            }
            let n = (open.len - offset).min(u64::from(length)) as usize;
            {
                let mut map = buffer.map_writable().map_err(|_| gst::FlowError::Error)?;
                let bytes = map.get_mut(..n).ok_or(gst::FlowError::Error)?;
                if let Err(e) = open.file.read_exact_at(bytes, offset) {
                    gst::element_imp_error!(self, gst::ResourceError::Read, ["read at {offset}: {e}"]);
                    return Err(gst::FlowError::Error);
                }
                if let Some(patch) = open.patch {
                    patch.apply(offset, bytes);
                }
            }
            buffer.set_size(n);
            Ok(gst::FlowSuccess::Ok)
        }
    }

    impl URIHandlerImpl for EditSrc {
        const URI_TYPE: gst::URIType = gst::URIType::Src;

        fn protocols() -> &'static [&'static str] {
            &[SCHEME]
        }

        fn uri(&self) -> Option<String> {
            self.uri.lock().ok()?.as_ref().map(|(u, _)| u.clone())
        }

        fn set_uri(&self, uri: &str) -> Result<(), glib::Error> {
            let path = path_of(uri)?;
            let mut stored = self
                .uri
                .lock()
                .map_err(|_| glib::Error::new(gst::URIError::BadState, "poisoned"))?;
            *stored = Some((uri.to_string(), path));
            Ok(())
        }
    }

    fn poisoned() -> gst::ErrorMessage {
        gst::error_msg!(gst::CoreError::Failed, ["a lock was poisoned"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box of `kind` around `body`.
    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    /// A version 0 movie header with `duration`, and a version 0 edit list with `times`.
    fn moov(duration: u32, times: &[i32]) -> Vec<u8> {
        let mut mvhd = vec![0; 12];
        mvhd.extend_from_slice(&1000u32.to_be_bytes());
        mvhd.extend_from_slice(&duration.to_be_bytes());
        mvhd.extend_from_slice(&[0; 80]);
        let mut elst = vec![0, 0, 0, 0];
        elst.extend_from_slice(&(times.len() as u32).to_be_bytes());
        for t in times {
            elst.extend_from_slice(&1000u32.to_be_bytes());
            elst.extend_from_slice(&t.to_be_bytes());
            elst.extend_from_slice(&[0, 1, 0, 0]);
        }
        let trak = boxed(b"trak", &boxed(b"edts", &boxed(b"elst", &elst)));
        [boxed(b"mvhd", &mvhd), trak].concat()
    }

    /// A version 0 track of `kind` whose media lasts `duration` (in thousandths).
    fn track(kind: &[u8; 4], duration: u32) -> Vec<u8> {
        let mut hdlr = vec![0; 8];
        hdlr.extend_from_slice(kind);
        hdlr.extend_from_slice(&[0; 13]);
        let mut mdhd = vec![0; 12];
        mdhd.extend_from_slice(&1000u32.to_be_bytes());
        mdhd.extend_from_slice(&duration.to_be_bytes());
        mdhd.extend_from_slice(&[0; 4]);
        let mdia = [boxed(b"hdlr", &hdlr), boxed(b"mdhd", &mdhd)].concat();
        boxed(b"trak", &boxed(b"mdia", &mdia))
    }

    /// A preview picture (a short video beside a long one) stays left out, as qtdemux leaves
    /// it; a short sound, or a short video beside a long sound, is read (duration as 0).
    #[test]
    fn short_tracks_are_read_unless_they_are_a_preview() {
        let body = moov(1000, &[0]);
        let found = tracks(
            &[body.clone(), track(b"vide", 1000), track(b"soun", 150)].concat(),
            1000,
            1000,
        );
        assert_eq!(found, [(*b"vide", false), (*b"soun", true)]);
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, tracks: &[Vec<u8>]| {
            let path = dir.path().join(name);
            let moov = [&[body.clone()][..], tracks].concat().concat();
            std::fs::write(&path, [boxed(b"ftyp", b"isom\0\0\0\0"), boxed(b"moov", &moov)].concat()).expect("write");
            path
        };
        let preview = write("preview.mov", &[track(b"vide", 1000), track(b"vide", 100)]);
        assert_eq!(patch_for(&preview), None);
        let short_sound = write("short-sound.mp4", &[track(b"vide", 1000), track(b"soun", 100)]);
        assert!(patch_for(&short_sound).is_some());
        let short_video = write("short-video.mp4", &[track(b"vide", 100), track(b"soun", 1000)]);
        assert!(patch_for(&short_video).is_some());
        let whole = write("whole.mp4", &[track(b"vide", 1000), track(b"soun", 900)]);
        assert_eq!(patch_for(&whole), None);
        // Asked again, the same answer; the file rewritten, the new file's.
        assert_eq!(patch_for(&whole), None);
        let whole = write(
            "whole.mp4",
            &[track(b"vide", 1000), track(b"soun", 900), track(b"soun", 100)],
        );
        assert!(patch_for(&whole).is_some());
    }

    #[test]
    fn the_duration_field_is_found_and_edits_into_the_media_are_seen() {
        let body = moov(1281, &[-1, 720]);
        let (offset, len) = movie_duration_field(&body).expect("mvhd");
        assert_eq!((offset, len), (8 + 16, 4));
        assert_eq!(body[offset..offset + len], 1281u32.to_be_bytes());
        assert!(starts_inside_media(&body));
        assert!(!starts_inside_media(&moov(1281, &[0])));
        assert!(!starts_inside_media(&moov(1281, &[-1, 0])));
    }

    #[test]
    fn a_file_is_read_with_its_movie_duration_as_zero_only_where_it_needs_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, times: &[i32]| {
            let path = dir.path().join(name);
            let file = [boxed(b"ftyp", b"isom\0\0\0\0"), boxed(b"moov", &moov(1281, times))].concat();
            std::fs::write(&path, file).expect("write");
            path
        };
        let cut = write("cut.mp4", &[720]);
        if affected() {
            let patch = patch_for(&cut).expect("an edit into the media");
            assert_eq!(
                patch,
                Patch {
                    offset: 16 + 8 + 24,
                    len: 4
                }
            );
            let mut bytes = std::fs::read(&cut).expect("read");
            patch.apply(0, &mut bytes);
            assert_eq!(bytes[48..52], [0, 0, 0, 0]);
            // A read that ends inside the field zeroes only what it holds.
            let mut part = std::fs::read(&cut).expect("read")[40..50].to_vec();
            patch.apply(40, &mut part);
            assert_eq!(part[8..], [0, 0]);
        }
        assert_eq!(patch_for(&write("whole.mp4", &[0])), None);
        std::fs::write(dir.path().join("not.mp4"), b"\x1aE\xdf\xa3 matroska").expect("write");
        assert_eq!(patch_for(&dir.path().join("not.mp4")), None);
    }

    #[test]
    fn a_file_cut_before_its_index_is_told_from_others() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ftyp = boxed(b"ftyp", b"isom\0\0\0\0");
        let mdat = boxed(b"mdat", &[7; 100]);
        let cases: [(&str, Vec<u8>, bool); 4] = [
            ("cut.mp4", [ftyp.clone(), mdat[..60].to_vec()].concat(), true),
            ("no-moov.mp4", [ftyp.clone(), mdat.clone()].concat(), true),
            (
                "whole.mp4",
                [ftyp.clone(), mdat, boxed(b"moov", &moov(1, &[0]))].concat(),
                false,
            ),
            ("other.mkv", b"\x1aE\xdf\xa3 matroska".to_vec(), false),
        ];
        for (name, bytes, missing) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            assert_eq!(index_missing(&path), missing, "{name}");
        }
    }

    #[test]
    fn uris_of_the_scheme_name_their_file() {
        let path = path_of("emojicam-mp4:///tmp/a%20b.mp4").expect("a path");
        assert_eq!(path, PathBuf::from("/tmp/a b.mp4"));
        assert!(path_of("file:///tmp/a.mp4").is_err());
    }
}
