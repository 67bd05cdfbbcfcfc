//! Write-then-rename files, so a failed run never leaves a half-written output that looks valid.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A temporary file beside `target`, renamed onto it by [`AtomicFile::commit`]; removed on
/// drop otherwise.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    done: bool,
}

impl AtomicFile {
    /// Creates the temporary file now: a missing directory or an unwritable path fails here,
    /// before any processing.
    pub fn create(target: &Path) -> Result<(Self, BufWriter<File>)> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Write {
                path: target.to_path_buf(),
                source: std::io::Error::other("not a file name"),
            })?;
        let temp = target.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let file = File::create(&temp).map_err(|source| Error::Write {
            path: target.to_path_buf(),
            source,
        })?;
        Ok((
            Self {
                target: target.to_path_buf(),
                temp,
                done: false,
            },
            BufWriter::new(file),
        ))
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Flushes `writer` and renames the temporary file onto the target.
    pub fn commit(&mut self, mut writer: BufWriter<File>) -> Result<()> {
        let err = |source| Error::Write {
            path: self.target.clone(),
            source,
        };
        writer.flush().map_err(err)?;
        let file = writer.into_inner().map_err(|e| err(e.into_error()))?;
        file.sync_all().map_err(err)?;
        drop(file);
        std::fs::rename(&self.temp, &self.target).map_err(err)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
