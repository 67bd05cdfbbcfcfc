//! Write-then-rename files, so a failed or interrupted run never truncates or replaces an
//! existing file and never leaves a half-written output that looks valid.
//!
//! - The data goes to `.NAME.partial` beside the target (after following symlinks, so a
//!   symlinked output is written through, not replaced) and is renamed onto the target only
//!   when complete ([`AtomicFile::commit`]). Dropped uncommitted, the partial file is removed;
//!   on SIGINT/SIGTERM it is removed too (see [`crate::safety::exit_cleanly_on_signals`]).
//! - The partial file is locked while it is written: a second run writing the same target at
//!   the same time is refused. The name does not depend on the process, so a partial file
//!   left by a killed run is found, and reused, by the next run to that target.
//! - A FIFO or character device target is written to as such (opened, never replaced).
//! - Recordings ([`AtomicFile::create_recording`]) go straight to the target when no file is
//!   there yet, so a killed recording is playable under its own name up to what it last wrote.
//!   One that replaces an existing file goes to `.NAME.recording` and is renamed onto it when
//!   finished; if it fails or is killed half-way, what it recorded is kept as
//!   `STEM-interrupted.EXT` (by the drop, or by the next run to that target).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::Sink;
use crate::domain::MosaicFrame;
use crate::error::{Error, Result};
use crate::frame::{Frame, I420Frame};
use crate::safety::{self, hidden_name, Cleanup};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Written to the partial file, renamed onto the target by `commit`.
    Temp,
    /// A FIFO or character device, written in place.
    Device,
    /// A new recording written in place (and locked there).
    InPlace,
}

/// A temporary file beside `target`, renamed onto it by [`AtomicFile::commit`]; removed on
/// drop otherwise.
pub struct AtomicFile {
    /// As the user gave it (for messages).
    target: PathBuf,
    /// After following symlinks: the file that is replaced.
    real: PathBuf,
    /// `.NAME.partial`: holds the lock in `Temp` mode, and the data unless this is a recording.
    temp: PathBuf,
    /// Where an existing file's replacement recording goes (`.NAME.recording`), if this is one.
    recording: Option<PathBuf>,
    mode: Mode,
    /// Holds the lock (on the partial file, or on the target written in place) for as long as
    /// this value lives.
    lock: Option<File>,
    done: bool,
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// A recording that replaced an existing file and was killed before it finished is in
/// `.NAME.recording`: it is kept, under a visible name beside the target, never thrown away.
fn recover_recording(real: &Path, stale: &Path) {
    if !std::fs::metadata(stale).is_ok_and(|m| m.len() > 0) {
        let _ = std::fs::remove_file(stale);
        return;
    }
    let stem = real
        .file_stem()
        .map_or_else(|| "recording".into(), |s| s.to_string_lossy().into_owned());
    let ext = real
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    for n in 1..1000 {
        let suffix = if n == 1 { String::new() } else { format!("-{n}") };
        let to = real.with_file_name(format!("{stem}-interrupted{suffix}{ext}"));
        if std::fs::symlink_metadata(&to).is_err() && std::fs::rename(stale, &to).is_ok() {
            crate::say!(
                "emojicam: an interrupted recording of {} was found and kept as {}",
                real.display(),
                to.display()
            );
            return;
        }
    }
}

/// An existing file that this user may not write (`chmod a-w`, or someone else's) is not
/// replaced: the rename would go round its permissions, as `cp` or a shell's `>` would not.
fn refuse_read_only(target: &Path, real: &Path) -> Result<()> {
    use rustix::fs::{accessat, Access, AtFlags, CWD};
    // With the effective user and group, as the write itself would be checked.
    if accessat(CWD, real, Access::WRITE_OK, AtFlags::EACCESS).is_ok() {
        return Ok(());
    }
    Err(Error::Write {
        path: target.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the file is read-only for you, so emojicam leaves it as it is (make it writable, or choose another name)",
        ),
    })
}

fn busy(target: &Path) -> Error {
    Error::Write {
        path: target.to_path_buf(),
        source: std::io::Error::other(
            "another emojicam run is writing this file right now (wait for it, or choose another name)",
        ),
    }
}

/// The kind of `flock(2)` lock [`try_lock`] takes.
#[derive(Clone, Copy, Debug)]
enum Lock {
    Shared,
    Exclusive,
}

/// A `flock(2)` lock without waiting (std's `File::try_lock`, which is `flock` on Linux):
/// `Ok(false)` when another open file holds a conflicting lock. The lock is released when
/// `file` is closed.
fn try_lock(file: &File, lock: Lock) -> std::io::Result<bool> {
    let taken = match lock {
        Lock::Shared => file.try_lock_shared(),
        Lock::Exclusive => file.try_lock(),
    };
    match taken {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Opens (creating if needed) and exclusively locks the partial file of `target`, retrying if
/// another run renamed it away meanwhile. Truncates what a killed run left there.
fn lock_partial(target: &Path, temp: &Path) -> Result<File> {
    let err = write_err(target);
    for _ in 0..10 {
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .custom_flags(libc::O_NOFOLLOW)
            .open(temp);
        let file = match opened {
            Ok(file) => file,
            // A symlink under the partial file's name is no partial file: truncating through
            // it would empty whatever it points at. The name goes, the target stays.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                std::fs::remove_file(temp).map_err(&err)?;
                continue;
            }
            Err(e) => return Err(err(e)),
        };
        let meta = file.metadata().map_err(&err)?;
        if !meta.is_file() || meta.nlink() > 1 {
            // Another name of someone's file (a hard link), or a FIFO: never truncated; only
            // the name is removed, and a fresh partial file made.
            drop(file);
            std::fs::remove_file(temp).map_err(&err)?;
            continue;
        }
        if !try_lock(&file, Lock::Exclusive).map_err(&err)? {
            return Err(busy(target));
        }
        // The lock holds the file under this name only if the name still points at it.
        let ours = file.metadata().map_err(&err)?;
        match std::fs::symlink_metadata(temp) {
            Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {
                file.set_len(0).map_err(&err)?;
                return Ok(file);
            }
            _ => continue,
        }
    }
    Err(err(std::io::Error::other("the partial file keeps changing under us")))
}

impl AtomicFile {
    /// Creates and locks the temporary file now: a missing directory, an unwritable path or a
    /// concurrent run fails here, before any processing.
    pub fn create(target: &Path) -> Result<(Self, BufWriter<File>)> {
        let f = Self::open(target, false)?;
        let file = match f.mode {
            Mode::Device => OpenOptions::new()
                .write(true)
                .open(&f.real)
                .map_err(write_err(target))?,
            _ => match &f.lock {
                Some(lock) => lock.try_clone().map_err(write_err(target))?,
                None => return Err(Error::Other("internal: no partial file".into())),
            },
        };
        f.register();
        Ok((f, BufWriter::new(file)))
    }

    /// For a writer that opens the file itself (an encoder given a path): the target is
    /// checked and locked as for [`Self::create`], and [`Self::temp_path`] is where to write.
    /// A new file (none at the target yet) is written in place, so an interrupted recording
    /// keeps what it recorded under its own name; an existing file is replaced only by
    /// [`Self::commit_path`]. A FIFO or device is written in place.
    pub fn create_recording(target: &Path) -> Result<Self> {
        let f = Self::open(target, true)?;
        f.register();
        Ok(f)
    }

    fn open(target: &Path, recording: bool) -> Result<Self> {
        let real = safety::resolve(target);
        let temp = hidden_name(&real, "partial")?;
        let stale_recording = hidden_name(&real, "recording")?;
        let meta = std::fs::metadata(&real).ok();
        let mode = match &meta {
            Some(m) if m.is_dir() => {
                return Err(Error::Write {
                    path: target.to_path_buf(),
                    source: std::io::Error::other("is a directory"),
                })
            }
            Some(m) if m.file_type().is_fifo() || m.file_type().is_char_device() => Mode::Device,
            Some(m) if !m.is_file() => {
                return Err(Error::Write {
                    path: target.to_path_buf(),
                    source: std::io::Error::other("not a regular file, FIFO or character device"),
                })
            }
            Some(_) => {
                refuse_read_only(target, &real)?;
                Mode::Temp
            }
            None if recording => Mode::InPlace,
            None => Mode::Temp,
        };
        let lock = match mode {
            Mode::Device => None,
            Mode::Temp => {
                // A recording written in place holds a lock on the target itself.
                if let Ok(existing) = File::open(&real) {
                    if !try_lock(&existing, Lock::Shared).map_err(write_err(target))? {
                        return Err(busy(target));
                    }
                }
                Some(lock_partial(target, &temp)?)
            }
            Mode::InPlace => {
                // Created here, exclusively (nobody else's file is ever written in place), and
                // locked for as long as it is recorded.
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&real)
                    .map_err(write_err(target))?;
                if !try_lock(&file, Lock::Exclusive).map_err(write_err(target))? {
                    return Err(busy(target));
                }
                Some(file)
            }
        };
        if lock.is_some() && std::fs::symlink_metadata(&stale_recording).is_ok() {
            recover_recording(&real, &stale_recording);
        }
        let recording = (recording && mode == Mode::Temp).then(|| {
            // Made afresh (never through a symlink or a hard link left under its name).
            let _ = std::fs::remove_file(&stale_recording);
            let _ = OpenOptions::new().write(true).create_new(true).open(&stale_recording);
            stale_recording
        });
        Ok(Self {
            target: target.to_path_buf(),
            real,
            temp,
            recording,
            mode,
            lock,
            done: false,
        })
    }

    fn register(&self) {
        if self.mode == Mode::Temp {
            safety::register(Cleanup::File(self.temp.clone()));
        }
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Where the data goes: the partial file, or the target itself when it is written in place
    /// (a FIFO, a device, a new recording).
    pub fn temp_path(&self) -> &Path {
        match (self.mode, &self.recording) {
            (Mode::Temp, Some(recording)) => recording,
            (Mode::Temp, None) => &self.temp,
            (Mode::Device | Mode::InPlace, _) => &self.real,
        }
    }

    /// Flushes `writer` and renames the temporary file onto the target.
    pub fn commit(&mut self, mut writer: BufWriter<File>) -> Result<()> {
        let target = self.target.clone();
        let err = write_err(&target);
        writer.flush().map_err(&err)?;
        let file = writer.into_inner().map_err(|e| err(e.into_error()))?;
        if self.mode != Mode::Device {
            file.sync_all().map_err(&err)?;
        }
        drop(file);
        self.commit_path()
    }

    /// Completes a file written through [`Self::temp_path`] (by a writer that opened it
    /// itself and has closed it): renames it onto the target.
    pub fn commit_path(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        let target = self.target.clone();
        let err = write_err(&target);
        match self.mode {
            Mode::Device | Mode::InPlace => {}
            Mode::Temp => {
                let data = self.temp_path().to_path_buf();
                let old = std::fs::metadata(&self.real).ok();
                if let Some(old) = old {
                    // The new file takes the place of the old one: keep its permissions, and
                    // its owner where we may (root replacing a user's file).
                    let _ = std::fs::set_permissions(&data, old.permissions());
                    if std::fs::metadata(&data).is_ok_and(|m| m.uid() != old.uid() || m.gid() != old.gid()) {
                        let _ = std::os::unix::fs::chown(&data, Some(old.uid()), Some(old.gid()));
                    }
                }
                safety::without_cleanup(|list| {
                    std::fs::rename(&data, &self.real).map_err(&err)?;
                    list.retain(|c| *c != Cleanup::File(self.temp.clone()));
                    if data != self.temp {
                        let _ = std::fs::remove_file(&self.temp);
                    }
                    Ok::<(), Error>(())
                })?;
                if let Some(dir) = self.real.parent() {
                    if let Ok(d) = File::open(dir) {
                        let _ = d.sync_all();
                    }
                }
            }
        }
        self.done = true;
        self.lock = None;
        Ok(())
    }

    /// Gives the file up: what was written goes (the partial file, or a recording made in
    /// place, which was created by this run), an existing target stays as it was. For an
    /// output that received nothing: no empty file that looks like a result.
    pub fn discard(&mut self) {
        if self.done {
            return;
        }
        self.give_up(false);
        self.done = true;
        self.lock = None;
    }

    /// Removes what an unfinished file left; with `keep_recorded`, what a recording recorded is
    /// kept (never lose a recorded frame): beside the file it was to replace, or under its own
    /// name when made in place (an empty one is removed).
    fn give_up(&mut self, keep_recorded: bool) {
        match self.mode {
            Mode::Device => {}
            Mode::Temp => {
                if let Some(recording) = &self.recording {
                    if keep_recorded {
                        recover_recording(&self.real, recording);
                    } else {
                        let _ = std::fs::remove_file(recording);
                    }
                }
                let _ = std::fs::remove_file(&self.temp);
            }
            Mode::InPlace => {
                if !keep_recorded || std::fs::metadata(&self.real).is_ok_and(|m| m.len() == 0) {
                    let _ = std::fs::remove_file(&self.real);
                }
            }
        }
        safety::unregister(&Cleanup::File(self.temp.clone()));
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            self.give_up(true);
        }
    }
}

/// A sink writing to an [`AtomicFile`]'s path (an encoder that opens the file itself): its
/// `finish` completes the file (renames it onto the target); dropped unfinished, the file is
/// handled as [`AtomicFile`]'s drop says.
pub struct CommitOnFinish {
    inner: Box<dyn Sink>,
    file: AtomicFile,
    /// Frames handed to `inner`: a finish with none gives the file up ([`AtomicFile::discard`]).
    frames: u64,
}

impl CommitOnFinish {
    pub fn new(inner: Box<dyn Sink>, file: AtomicFile) -> Self {
        Self { inner, file, frames: 0 }
    }
}

impl Sink for CommitOnFinish {
    fn write(&mut self, mosaic: &MosaicFrame, image: Option<&Frame>) -> Result<()> {
        self.frames += 1;
        self.inner.write(mosaic, image)
    }

    fn write_owned(&mut self, mosaic: &MosaicFrame, image: Option<Frame>) -> Result<()> {
        self.frames += 1;
        self.inner.write_owned(mosaic, image)
    }

    fn finish(&mut self) -> Result<()> {
        let finished = self.inner.finish();
        if self.frames == 0 {
            // A container of no frames (a run that failed on its first) is no recording.
            self.file.discard();
            return finished;
        }
        finished?;
        self.file.commit_path()
    }

    fn end_at(&mut self, end: std::time::Duration) {
        self.inner.end_at(end);
    }

    fn needs_image(&self) -> bool {
        self.inner.needs_image()
    }

    fn takes_i420(&self) -> bool {
        self.inner.takes_i420()
    }

    fn write_i420(&mut self, mosaic: &MosaicFrame, image: &I420Frame) -> Result<()> {
        self.frames += 1;
        self.inner.write_i420(mosaic, image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncommitted_file_leaves_the_old_one_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.txt");
        std::fs::write(&target, b"old").expect("write");
        {
            let (_f, mut w) = AtomicFile::create(&target).expect("create");
            w.write_all(b"new, unfinished").expect("write");
        }
        assert_eq!(std::fs::read(&target).expect("read"), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
        let (mut f, mut w) = AtomicFile::create(&target).expect("create");
        w.write_all(b"new").expect("write");
        f.commit(w).expect("commit");
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    /// A sink that writes a header of its own as it starts, as a muxer does.
    struct HeaderFirst(PathBuf);

    impl Sink for HeaderFirst {
        fn write(&mut self, _mosaic: &MosaicFrame, _image: Option<&Frame>) -> Result<()> {
            Ok(())
        }

        fn finish(&mut self) -> Result<()> {
            std::fs::write(&self.0, b"ftyp, no frames").map_err(|source| Error::Write {
                path: self.0.clone(),
                source,
            })
        }
    }

    #[test]
    fn a_recording_finished_with_no_frame_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (new, old) = (dir.path().join("new.mp4"), dir.path().join("old.mp4"));
        std::fs::write(&old, b"someone's recording").expect("write");
        for target in [&new, &old] {
            let file = AtomicFile::create_recording(target).expect("create");
            let inner = Box::new(HeaderFirst(file.temp_path().to_path_buf()));
            CommitOnFinish::new(inner, file).finish().expect("finish");
        }
        assert!(!new.exists(), "an empty recording was left");
        assert_eq!(std::fs::read(&old).expect("read"), b"someone's recording");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "partial files left"
        );
    }

    #[test]
    fn a_name_at_the_length_limit_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join(format!("{}.txt", "é".repeat(125)));
        let (mut f, mut w) = AtomicFile::create(&target).expect("create");
        w.write_all(b"data").expect("write");
        f.commit(w).expect("commit");
        assert_eq!(std::fs::read(&target).expect("read"), b"data");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn a_second_writer_of_one_target_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.txt");
        let (mut first, w) = AtomicFile::create(&target).expect("first");
        assert!(AtomicFile::create(&target).is_err(), "second writer refused");
        first.commit(w).expect("commit");
        let (_again, _w) = AtomicFile::create(&target).expect("free again after commit");
    }

    #[test]
    fn a_stale_partial_is_reused_and_a_symlink_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.txt");
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).expect("symlink");
        std::fs::write(dir.path().join(".real.txt.partial"), vec![7u8; 1000]).expect("stale");
        let (mut f, mut w) = AtomicFile::create(&link).expect("create");
        w.write_all(b"data").expect("write");
        f.commit(w).expect("commit");
        assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink());
        assert_eq!(std::fs::read(&real).expect("read"), b"data");
        assert!(!dir.path().join(".real.txt.partial").exists());
    }

    #[test]
    fn a_recording_that_failed_empty_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("rec.mp4");
        drop(AtomicFile::create_recording(&target).expect("create"));
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
        std::fs::write(&target, b"old").expect("old");
        drop(AtomicFile::create_recording(&target).expect("create"));
        assert_eq!(std::fs::read(&target).expect("read"), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn a_recording_in_place_is_locked_and_leaves_no_lock_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("rec.mp4");
        let mut f = AtomicFile::create_recording(&target).expect("create");
        assert_eq!(f.temp_path(), safety::resolve(&target));
        std::fs::write(f.temp_path(), b"frames").expect("write");
        assert!(
            AtomicFile::create_recording(&target).is_err(),
            "a second recorder is refused"
        );
        assert!(AtomicFile::create(&target).is_err(), "a second writer is refused");
        assert_eq!(std::fs::read(&target).expect("read"), b"frames");
        f.commit_path().expect("commit");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn a_recording_over_an_existing_file_replaces_it_only_when_finished() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("rec.mp4");
        std::fs::write(&target, b"old").expect("old");
        let mut f = AtomicFile::create_recording(&target).expect("create");
        std::fs::write(f.temp_path(), b"new").expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"old");
        f.commit_path().expect("commit");
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
        // Failed (or killed) half-way: the old file stays, what was recorded is kept beside it.
        let f = AtomicFile::create_recording(&target).expect("create");
        std::fs::write(f.temp_path(), b"half").expect("write");
        drop(f);
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        let kept = dir.path().join("rec-interrupted.mp4");
        assert_eq!(std::fs::read(&kept).expect("kept"), b"half");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 2);
    }
}
