//! Emoji as text: `.txt` (one line per tile row; frames separated by a blank line), `.json`
//! (the last frame: `{"tile","cols","rows","emoji":[codepoints, row-major]}`) and `.jsonl`
//! (one such object per frame, plus `"frame": n`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use super::{AtomicFile, Sink};
use crate::domain::MosaicFrame;
use crate::error::{Error, Result};
use crate::frame::Frame;

fn lookup<'a>(table: &'a [String], index: u32, path: &Path) -> Result<&'a str> {
    table.get(index as usize).map(|s| s.as_str()).ok_or_else(|| {
        Error::encode(
            path,
            format!("emoji index {index} is outside the atlas ({} entries)", table.len()),
        )
    })
}

fn check_grid(mosaic: &MosaicFrame, path: &Path) -> Result<()> {
    let grid = mosaic.grid;
    if mosaic.emoji.len() != grid.cols as usize * grid.rows as usize {
        return Err(Error::encode(
            path,
            format!(
                "internal: {} emoji for a {}x{} grid",
                mosaic.emoji.len(),
                grid.cols,
                grid.rows
            ),
        ));
    }
    Ok(())
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// The open writer of a text sink, once: a second `finish` is an error, not a panic.
fn take_writer(file: &AtomicFile, writer: &mut Option<BufWriter<File>>) -> Result<BufWriter<File>> {
    writer
        .take()
        .ok_or_else(|| Error::encode(file.target(), "finished twice"))
}

pub struct TxtSink {
    file: AtomicFile,
    writer: Option<BufWriter<File>>,
    text: Arc<[String]>,
    frames: u64,
}

impl TxtSink {
    pub fn create(path: &Path, emoji_text: Arc<[String]>) -> Result<Self> {
        let (file, writer) = AtomicFile::create(path)?;
        Ok(Self {
            file,
            writer: Some(writer),
            text: emoji_text,
            frames: 0,
        })
    }
}

impl Sink for TxtSink {
    fn write(&mut self, mosaic: &MosaicFrame, _image: Option<&Frame>) -> Result<()> {
        let path = self.file.target().to_path_buf();
        check_grid(mosaic, &path)?;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::encode(&path, "write after finish"))?;
        let mut out = String::new();
        if self.frames > 0 {
            out.push('\n');
        }
        for row in mosaic.emoji.chunks(mosaic.grid.cols.max(1) as usize) {
            for &i in row {
                out.push_str(lookup(&self.text, i, &path)?);
            }
            out.push('\n');
        }
        writer.write_all(out.as_bytes()).map_err(write_err(&path))?;
        self.frames += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let writer = take_writer(&self.file, &mut self.writer)?;
        self.file.commit(writer)
    }

    fn needs_image(&self) -> bool {
        false
    }
}

fn grid_json(mosaic: &MosaicFrame, codes: &[String], path: &Path, frame: bool) -> Result<String> {
    check_grid(mosaic, path)?;
    let emoji = mosaic
        .emoji
        .iter()
        .map(|&i| lookup(codes, i, path))
        .collect::<Result<Vec<&str>>>()?;
    #[derive(serde::Serialize)]
    struct Grid<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        frame: Option<u64>,
        tile: u32,
        cols: u32,
        rows: u32,
        emoji: Vec<&'a str>,
    }
    let object = Grid {
        frame: frame.then_some(mosaic.stamp.seq),
        tile: mosaic.grid.tile,
        cols: mosaic.grid.cols,
        rows: mosaic.grid.rows,
        emoji,
    };
    serde_json::to_string(&object).map_err(|e| Error::encode(path, e.to_string()))
}

/// `.json`: the grid of the last frame written.
pub struct JsonSink {
    file: AtomicFile,
    writer: Option<BufWriter<File>>,
    codes: Arc<[String]>,
    last: Option<String>,
}

impl JsonSink {
    pub fn create(path: &Path, emoji_codes: Arc<[String]>) -> Result<Self> {
        let (file, writer) = AtomicFile::create(path)?;
        Ok(Self {
            file,
            writer: Some(writer),
            codes: emoji_codes,
            last: None,
        })
    }
}

impl Sink for JsonSink {
    fn write(&mut self, mosaic: &MosaicFrame, _image: Option<&Frame>) -> Result<()> {
        self.last = Some(grid_json(mosaic, &self.codes, self.file.target(), false)?);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let path = self.file.target().to_path_buf();
        let json = self
            .last
            .take()
            .ok_or_else(|| Error::encode(&path, "no frame was produced"))?;
        let mut writer = take_writer(&self.file, &mut self.writer)?;
        writer
            .write_all(json.as_bytes())
            .and_then(|_| writer.write_all(b"\n"))
            .map_err(write_err(&path))?;
        self.file.commit(writer)
    }

    fn needs_image(&self) -> bool {
        false
    }
}

/// `.jsonl`: one grid object per frame and line.
pub struct JsonlSink {
    file: AtomicFile,
    writer: Option<BufWriter<File>>,
    codes: Arc<[String]>,
}

impl JsonlSink {
    pub fn create(path: &Path, emoji_codes: Arc<[String]>) -> Result<Self> {
        let (file, writer) = AtomicFile::create(path)?;
        Ok(Self {
            file,
            writer: Some(writer),
            codes: emoji_codes,
        })
    }
}

impl Sink for JsonlSink {
    fn write(&mut self, mosaic: &MosaicFrame, _image: Option<&Frame>) -> Result<()> {
        let path = self.file.target().to_path_buf();
        let line = grid_json(mosaic, &self.codes, &path, true)?;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::encode(&path, "write after finish"))?;
        writer
            .write_all(line.as_bytes())
            .and_then(|_| writer.write_all(b"\n"))
            .map_err(write_err(&path))
    }

    fn finish(&mut self) -> Result<()> {
        let writer = take_writer(&self.file, &mut self.writer)?;
        self.file.commit(writer)
    }

    fn needs_image(&self) -> bool {
        false
    }
}
