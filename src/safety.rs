//! Keeping people's files safe: which paths a run may read and write, the input file types it
//! accepts, cleanup of unfinished outputs on a signal, and messages that never panic.
//!
//! The checks run before anything is opened for writing:
//! - an output that is the same file as an input (same device and inode after following
//!   symlinks, so hard links and symlinks count) or as another output of the same run is
//!   refused with one line and exit code 2;
//! - inputs are regular files or FIFOs; a FIFO is read once, through one open, into a private
//!   spool file (bounded by [`MAX_FIFO_BYTES`]) that the decoders then read like any file;
//!   directories, devices and sockets are refused (exit code 1, "cannot read").
//!
//! Outputs themselves are written through [`crate::sink::AtomicFile`].

use std::fmt;
use std::fs::Metadata;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::error::{Error, Result};

/// The most a FIFO input may deliver (it is spooled to a temporary file first).
pub const MAX_FIFO_BYTES: u64 = 4 << 30;

static QUIET: AtomicBool = AtomicBool::new(false);

/// `-q`: silence everything but errors and warnings about damaged input.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Writes one line to stderr. A failing stderr (closed, or a full disk) is ignored rather than
/// a panic: the work and its exit status matter more than the message.
/// Control characters are escaped (see [`one_line`]): an error is one line.
pub fn say(args: fmt::Arguments<'_>) {
    write_err(&one_line(&args.to_string()));
}

/// [`say`] for informational notes, which may have lines of their own (the live summary):
/// control characters other than line breaks are escaped.
pub fn say_note(args: fmt::Arguments<'_>) {
    let text = args.to_string();
    let lines: Vec<String> = text.split('\n').map(one_line).collect();
    write_err(&lines.join("\n"));
}

fn write_err(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
}

/// `text` with its control characters escaped (`\n`, `\t`, `\u{1b}`): a message stays one
/// line even when a file name has a newline in it, and a name cannot drive the terminal.
pub fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether `e` is a write to standard output whose reader went away (`| head -c 100`): not a
/// failure to report, the reader has what it wanted.
pub fn is_broken_stdout(e: &Error) -> bool {
    match e {
        Error::Write { path, source } => path.as_os_str() == "-" && source.kind() == std::io::ErrorKind::BrokenPipe,
        _ => false,
    }
}

/// Whether files can be made in directory `dir` (made first if missing and `create`, as the
/// program that uses it would): tried, since permission bits say nothing about a read-only mount or /proc,
/// and nothing to root.
fn dir_usable(dir: &Path, create: bool) -> bool {
    let there = if create {
        std::fs::create_dir_all(dir).is_ok()
    } else {
        dir.is_dir()
    };
    if !there {
        return false;
    }
    let probe = dir.join(format!(".emojicam-probe-{}", std::process::id()));
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .is_ok();
    if made {
        let _ = std::fs::remove_file(&probe);
    }
    made
}

/// Makes a hostile environment harmless before any thread starts: a `TMPDIR` that is not a
/// writable directory (temporary files, an FIFO input's copy and the MP4 muxer's own would fail,
/// the muxer's only after a long wait) is dropped for the system's default, and a shader cache
/// directory that cannot be made (XDG_CACHE_HOME or HOME unwritable) is switched off, as Mesa
/// would do anyway, without Mesa's two lines of complaint on stderr. Returns what to tell the
/// user (a note, silenced by `-q`).
pub fn tidy_environment() -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(tmp) = std::env::var_os("TMPDIR") {
        let tmp = PathBuf::from(tmp);
        if !dir_usable(&tmp, false) {
            notes.push(format!(
                "emojicam: TMPDIR={} is not a writable directory: using /tmp",
                tmp.display()
            ));
            std::env::remove_var("TMPDIR");
        }
    }
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if var("MESA_SHADER_CACHE_DISABLE").is_none() {
        let cache = var("MESA_SHADER_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME"))
            .or_else(|| var("HOME").map(|h| h.join(".cache")));
        if cache.is_some_and(|c| !dir_usable(&c, true)) {
            std::env::set_var("MESA_SHADER_CACHE_DISABLE", "true");
        }
    }
    notes
}

/// `-` as an input means standard input.
pub fn input_path(path: &Path) -> &Path {
    if path.as_os_str() == "-" {
        Path::new("/dev/stdin")
    } else {
        path
    }
}

/// Writes one line to stdout, ignoring a closed or full stdout.
pub fn print_line(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// An informational line on stderr (silenced by `-q`); never panics.
#[macro_export]
macro_rules! note {
    ($($t:tt)*) => {
        if !$crate::safety::quiet() {
            $crate::safety::say_note(format_args!($($t)*))
        }
    };
}

/// A line on stderr that `-q` does not silence (errors, damaged input); never panics.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {
        $crate::safety::say(format_args!($($t)*))
    };
}

/// A line on stdout (listings, bench tables); a closed pipe (`emojicam sets | head -1`) or a
/// full disk is ignored instead of panicking.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::safety::print_line(format_args!(""))
    };
    ($($t:tt)*) => {
        $crate::safety::print_line(format_args!($($t)*))
    };
}

/// A file's identity: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(m: &Metadata) -> Self {
        Self {
            dev: m.dev(),
            ino: m.ino(),
        }
    }

    /// The identity of the file `path` names, following symlinks; `None` if there is none.
    pub fn of_path(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|m| Self::of(&m))
    }
}

/// Follows symlinks in `path` as far as they go, even when the last one dangles (it then names
/// the file to create), and makes the directory part canonical, so two spellings of one path
/// compare equal. Writing to the result writes "through" the symlink instead of replacing it.
pub fn resolve(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(&p) {
                Ok(t) if t.is_absolute() => p = t,
                Ok(t) => p = p.parent().map_or_else(|| t.clone(), |d| d.join(&t)),
                Err(_) => break,
            },
            _ => break,
        }
    }
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::canonicalize(dir).map_or(p.clone(), |d| d.join(name))
        }
        _ => p,
    }
}

fn kind_name(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_fifo() {
        "a FIFO"
    } else {
        "not a regular file"
    }
}

/// The hidden name beside `real` that an output of it is written under (`.NAME.partial`,
/// `.NAME.recording`).
pub(crate) fn hidden_name(real: &Path, suffix: &str) -> Result<PathBuf> {
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Write {
            path: real.to_path_buf(),
            source: std::io::Error::other("not a file name"),
        })?;
    // Names near the file system's 255-byte limit get a shorter, still unique, hidden name.
    if name.len() > 200 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut h);
        let mut cut = 100;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        return Ok(real.with_file_name(format!(".{}-{:016x}.{suffix}", &name[..cut], h.finish())));
    }
    Ok(real.with_file_name(format!(".{name}.{suffix}")))
}

/// Refuses a stream to standard output when the process started with it closed (`>&-`).
fn stdout_open() -> Result<()> {
    if !stdout_was_closed() {
        return Ok(());
    }
    Err(Error::Write {
        path: PathBuf::from("-"),
        source: std::io::Error::other(
            "standard output is closed, so the stream would go nowhere: redirect it (> FILE.y4m, | PROGRAM) or give a file name",
        ),
    })
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// The binary records here whether the process started with standard output closed (`>&-`),
/// looked at before Rust's runtime points a closed descriptor at /dev/null: after that a closed
/// stdout and a /dev/null opened on purpose (a shell's `>/dev/null`, Python's `DEVNULL`) look
/// the same, and only the first means the stream would go nowhere unasked.
pub fn set_stdout_closed_at_start(closed: bool) {
    STDOUT_CLOSED.store(closed, Ordering::Relaxed);
}

fn stdout_was_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// The metadata of the file that output `out` (`real` once resolved) names; `None` when there is
/// none yet. An output that can name no file is refused: a name ending in `/` (a directory to
/// the system, a file to [`Path`], which drops the slash: `out.png/` became `out.png`), and
/// symlinks that lead back to themselves (writing "through" them would replace the link).
fn output_metadata(what: &str, out: &Path, real: &Path) -> Result<Option<Metadata>> {
    if std::os::unix::ffi::OsStrExt::as_bytes(out.as_os_str()).ends_with(b"/") {
        return Err(Error::usage(format!(
            "{what} {} ends in '/', which names a directory: give a file name",
            out.display()
        )));
    }
    match std::fs::metadata(real) {
        Ok(m) => Ok(Some(m)),
        Err(source) if source.raw_os_error() == Some(libc::ELOOP) => Err(Error::Write {
            path: out.to_path_buf(),
            source,
        }),
        Err(_) => Ok(None),
    }
}

/// Refuses (exit code 2) a run whose outputs would overwrite one of its inputs or each other.
/// `inputs` and `outputs` pair the option that named a path with the path; `-` (stdout) is
/// never a file. Call it before anything is opened for writing.
pub fn check_paths(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<()> {
    let ins: Vec<(&str, &Path, Option<FileId>)> = inputs
        .iter()
        .map(|&(what, p)| (what, p, FileId::of_path(input_path(p))))
        .collect();
    let mut seen: Vec<(&str, &Path, PathBuf, Option<FileId>)> = Vec::new();
    for &(what, out) in outputs {
        if out.as_os_str() == "-" {
            stdout_open()?;
            // Standard output redirected onto an input (`>> input.y4m`).
            let stdout = std::fs::metadata("/dev/stdout").ok().filter(|m| m.is_file());
            let id = stdout.as_ref().map(FileId::of);
            if let Some(&(iwhat, input, _)) = ins.iter().find(|i| id.is_some() && i.2 == id) {
                return Err(Error::usage(format!(
                    "{what} - writes to standard output, which is {iwhat} {}: emojicam never overwrites its input",
                    input.display()
                )));
            }
            continue;
        }
        let real = resolve(out);
        let meta = output_metadata(what, out, &real)?;
        if let Some(m) = &meta {
            if m.is_dir() {
                return Err(Error::usage(format!(
                    "{what} {}: is a directory: give a file name",
                    out.display()
                )));
            }
        }
        if meta.as_ref().is_some_and(|m| m.file_type().is_fifo()) && needs_a_file(out) {
            return Err(Error::usage(format!(
                "{what} {} is a FIFO, and a video file cannot be streamed there (its index is written last): send Y4M to a FIFO (a .y4m name, or - for stdout)",
                out.display()
            )));
        }
        let id = meta.as_ref().map(FileId::of);
        // The hidden files an output is written through are outputs too: an input under
        // such a name (`-i .out.png.partial -o out.png`) would be truncated.
        let scratch: Vec<FileId> = ["partial", "recording"]
            .iter()
            .filter_map(|suffix| hidden_name(&real, suffix).ok())
            .filter_map(|h| std::fs::symlink_metadata(h).ok())
            .map(|m| FileId::of(&m))
            .collect();
        for &(iwhat, input, iid) in &ins {
            if iid.is_some_and(|i| scratch.contains(&i)) {
                return Err(Error::usage(format!(
                    "{iwhat} {} has the name of the hidden file that {what} {} is written through: rename it first",
                    input.display(),
                    out.display()
                )));
            }
            if id.is_some() && id == iid {
                return Err(Error::usage(format!(
                    "{what} {} is the same file as {iwhat} {}: emojicam never overwrites its input; choose another output name",
                    out.display(),
                    input.display()
                )));
            }
        }
        for (owhat, other, oreal, oid) in &seen {
            if *oreal == real || (id.is_some() && id == *oid) {
                return Err(Error::usage(format!(
                    "{what} {} and {owhat} {} are the same file: give each output its own name",
                    out.display(),
                    other.display()
                )));
            }
        }
        seen.push((what, out, real, id));
    }
    Ok(())
}

/// Whether the format `path` names is written by an encoder that opens the file itself and
/// needs to seek in it (MP4, MOV, MKV, WebM).
fn needs_a_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["mp4", "m4v", "mov", "mkv", "webm"].contains(&e.to_ascii_lowercase().as_str()))
}

/// An input file checked for its type; a FIFO has been read into a spool file.
#[derive(Debug)]
pub struct Input {
    original: PathBuf,
    path: PathBuf,
    spool: Option<PathBuf>,
}

impl Input {
    /// Checks that `path` is a regular file or a FIFO (a directory, device or socket is refused:
    /// exit code 1, as for a file that cannot be read). A FIFO is read to its end now, through one open.
    pub fn open(named: &Path) -> Result<Self> {
        let read_err = |source| Error::Read {
            path: named.to_path_buf(),
            source,
        };
        let path = input_path(named);
        let meta = std::fs::metadata(path).map_err(read_err)?;
        let t = meta.file_type();
        if t.is_file() {
            return Ok(Self {
                original: named.to_path_buf(),
                path: path.to_path_buf(),
                spool: None,
            });
        }
        if !t.is_fifo() {
            return Err(read_err(std::io::Error::other(format!(
                "it is {}: emojicam reads regular files and FIFOs only",
                kind_name(&meta)
            ))));
        }
        let dir = private_dir("input")?;
        let name = named
            .file_name()
            .filter(|_| named == path)
            .map_or_else(|| "stdin".into(), |n| n.to_os_string());
        let spooled = dir.join(name);
        register(Cleanup::Dir(dir.clone()));
        let input = Self {
            original: named.to_path_buf(),
            path: spooled.clone(),
            spool: Some(dir),
        };
        crate::note!("emojicam: reading {} (a FIFO) to its end first", named.display());
        let fifo = std::fs::File::open(path).map_err(read_err)?;
        let out = std::fs::File::create(&spooled).map_err(|source| Error::Write {
            path: spooled.clone(),
            source,
        })?;
        let copied = spool(fifo, out, named, &spooled)?;
        if copied > MAX_FIFO_BYTES {
            return Err(Error::decode(
                named,
                format!(
                    "the FIFO delivered more than {} GiB: save it to a file first",
                    MAX_FIFO_BYTES >> 30
                ),
            ));
        }
        Ok(input)
    }

    /// The path the decoders read: the input itself (`/dev/stdin` for `-`), or the spool file
    /// of a FIFO.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about [`Self::path`] told about the input as the user named it.
    pub fn explain(&self, e: Error) -> Error {
        if self.path == self.original {
            return e;
        }
        let spooled = self.path.display().to_string();
        let named = self.original.display().to_string();
        match e {
            Error::Read { path, source } if path == self.path => Error::Read {
                path: self.original.clone(),
                source,
            },
            Error::Decode { path, message } if path == self.path => Error::Decode {
                path: self.original.clone(),
                message: message.replace(&spooled, &named),
            },
            Error::Usage(m) => Error::Usage(m.replace(&spooled, &named)),
            Error::Media(mut m) => {
                if let Some(path) = m.path_mut().filter(|p| **p == self.path) {
                    *path = self.original.clone();
                }
                Error::Media(m)
            }
            other => other,
        }
    }
}

/// Copies a FIFO into its spool file, at most [`MAX_FIFO_BYTES`] + 1 bytes; a failure says
/// which side failed (a full temporary directory is not an unreadable input).
fn spool(mut from: std::fs::File, mut to: std::fs::File, named: &Path, spooled: &Path) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut copied = 0u64;
    while copied <= MAX_FIFO_BYTES {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Read {
                    path: named.to_path_buf(),
                    source,
                })
            }
        };
        to.write_all(&buf[..n]).map_err(|e| Error::Write {
            path: spooled.to_path_buf(),
            source: std::io::Error::new(
                e.kind(),
                format!(
                    "keeping a copy of {} there (set TMPDIR to a roomier place): {e}",
                    named.display()
                ),
            ),
        })?;
        copied += n as u64;
    }
    Ok(copied)
}

impl Drop for Input {
    fn drop(&mut self) {
        if let Some(dir) = self.spool.take() {
            let _ = std::fs::remove_dir_all(&dir);
            unregister(&Cleanup::Dir(dir));
        }
    }
}

/// A new private (0700) directory under the system's temporary directory.
fn private_dir(what: &str) -> Result<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    loop {
        let dir = base.join(format!(
            "emojicam-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut b = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        match b.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(Error::Write { path: dir, source }),
        }
    }
}

/// What a signal's cleanup removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cleanup {
    /// An unfinished output file.
    File(PathBuf),
    /// A private temporary directory.
    Dir(PathBuf),
}

fn cleanups() -> MutexGuard<'static, Vec<Cleanup>> {
    static LIST: OnceLock<Mutex<Vec<Cleanup>>> = OnceLock::new();
    LIST.get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn register(c: Cleanup) {
    cleanups().push(c);
}

pub(crate) fn unregister(c: &Cleanup) {
    cleanups().retain(|x| x != c);
}

/// Runs `f` while no signal cleanup can run (so a rename and its unregistering are one step).
pub(crate) fn without_cleanup<T>(f: impl FnOnce(&mut Vec<Cleanup>) -> T) -> T {
    f(&mut cleanups())
}

/// A file size limit (`ulimit -f`) makes an over-long write fail with "File too large" (an
/// error, reported in one line, the partial file removed) instead of killing the process with
/// SIGXFSZ and leaving the partial file behind.
pub fn fail_writes_over_the_size_limit() {
    // SAFETY: `signal` is unsafe because a handler it installs runs in the middle of whatever
    // the process was doing; SIG_IGN installs none (no code of ours ever runs on the signal),
    // and `main` calls this before any thread starts. No safe call does the same: a handler
    // (signal-hook's safe `flag::register`) also makes the write fail with EFBIG here, but exec
    // resets a handler to the default while an ignored signal is inherited, so only SIG_IGN
    // also covers the programs emojicam starts (the builds `bench` runs, GStreamer's plugin
    // scanner).
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}

/// On SIGINT, SIGTERM or SIGHUP (and SIGUSR1, SIGUSR2, SIGALRM, which would otherwise kill the
/// process as they are sent): removes every unfinished output and spool file, then exits with
/// 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM). For `render` and `demo`; the
/// live preview handles Ctrl-C itself (it finishes the recording).
pub fn exit_cleanly_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGALRM, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM])
        .map_err(|e| Error::Other(format!("cannot install the signal handler: {e}")))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let list = cleanups();
                let mut removed = Vec::new();
                for c in list.iter() {
                    match c {
                        Cleanup::File(p) => {
                            if std::fs::remove_file(p).is_ok() {
                                removed.push(p.clone());
                            }
                        }
                        Cleanup::Dir(p) => {
                            let _ = std::fs::remove_dir_all(p);
                        }
                    }
                }
                let name = match sig {
                    SIGINT => "interrupted",
                    SIGTERM => "terminated",
                    SIGHUP => "hung up",
                    _ => "stopped by a signal",
                };
                if removed.is_empty() {
                    say(format_args!("emojicam: {name}"));
                } else {
                    let names: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
                    say(format_args!(
                        "emojicam: {name}: removed the unfinished output ({})",
                        names.join(", ")
                    ));
                }
                // Exit while holding the list, so no output is committed after its removal.
                std::process::exit(128 + sig);
            }
        })
        .map_err(|e| Error::Other(format!("cannot start the signal thread: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_that_is_an_input_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in.png");
        std::fs::write(&input, b"x").expect("write");
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&input, &link).expect("symlink");
        let hard = dir.path().join("hard.png");
        std::fs::hard_link(&input, &hard).expect("hard link");
        for out in [&input, &link, &hard] {
            let e = check_paths(&[("--input", &input)], &[("--output", out)]).expect_err("refused");
            assert_eq!(e.exit_code(), 2);
        }
        let other = dir.path().join("out.png");
        check_paths(&[("--input", &input)], &[("--output", &other)]).expect("a new file is fine");
        let e = check_paths(
            &[("--input", &input)],
            &[
                ("--record", &other),
                ("--output", &dir.path().join(".").join("out.png")),
            ],
        )
        .expect_err("two outputs, one file");
        assert!(e.to_string().contains("same file"), "{e}");
        check_paths(&[("--input", &input)], &[("--output", Path::new("-"))]).expect("stdout");
    }

    #[test]
    fn a_dangling_symlink_resolves_to_its_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("link.mp4");
        std::os::unix::fs::symlink("real.mp4", &link).expect("symlink");
        let real = std::fs::canonicalize(dir.path()).expect("canon").join("real.mp4");
        assert_eq!(resolve(&link), real);
    }

    #[test]
    fn devices_and_directories_are_not_inputs() {
        for p in ["/dev/zero", "/tmp"] {
            let e = Input::open(Path::new(p)).expect_err("refused");
            assert_eq!(e.exit_code(), 1, "{e}");
            assert!(e.to_string().contains("cannot read"), "{e}");
        }
    }
}
