//! Turns one image into an emoji mosaic with the emojicam library, as another program would.
//!
//! ```text
//! cargo run --release --example mosaic -- INPUT OUTPUT.png [TILE] [onnx|nearest]
//! ```
//!
//! INPUT is any image (or video: its first frame) emojicam reads; OUTPUT must not exist yet.
//! The default classifier is the ONNX model (it needs ONNX Runtime, as the emojicam binary
//! does); `nearest` runs on the GPU alone.

// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

use std::path::Path;
use std::process::ExitCode;

use emojicam::sink::{ImageSink, Sink};
use emojicam::{ClassifierKind, Pipeline, Settings, Stamp};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=4).contains(&args.len()) {
        eprintln!("usage: mosaic INPUT OUTPUT.png [TILE] [onnx|nearest]");
        return ExitCode::from(2);
    }
    let tile = match args.get(2).map(|t| t.parse::<u32>()) {
        None => 10,
        Some(Ok(t)) => t,
        Some(Err(_)) => {
            eprintln!("mosaic: TILE must be a whole number of pixels, not '{}'", args[2]);
            return ExitCode::from(2);
        }
    };
    let classifier = match args.get(3).map(String::as_str) {
        None | Some("onnx") => ClassifierKind::Onnx,
        Some("nearest") => ClassifierKind::Nearest,
        Some(other) => {
            eprintln!("mosaic: unknown classifier '{other}': use onnx or nearest");
            return ExitCode::from(2);
        }
    };
    match run(Path::new(&args[0]), Path::new(&args[1]), tile, classifier) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mosaic: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(input: &Path, output: &Path, tile: u32, classifier: ClassifierKind) -> emojicam::Result<String> {
    if output.exists() {
        return Err(emojicam::Error::usage(format!(
            "{} exists: choose a new output path",
            output.display()
        )));
    }
    // Created (and locked) before any work, written beside the target and renamed into place
    // by `finish`: a failed run leaves nothing that looks like a result.
    let mut sink = ImageSink::create(output)?;
    let mut source = emojicam::source::open(input)?;
    let frame = source
        .next_frame()?
        .ok_or_else(|| emojicam::Error::decode(input, "has no frames"))?;
    let settings = Settings {
        tile,
        classifier,
        ..Settings::default()
    };
    let mut pipeline = Pipeline::new(settings)?;
    let mosaic = pipeline.classify(&frame, Stamp::default())?;
    let image = pipeline.render(&mosaic, None)?;
    let grid = mosaic.grid;
    sink.write(&mosaic, Some(&image))?;
    sink.finish()?;
    let distinct = {
        let mut e = mosaic.emoji.clone();
        e.sort_unstable();
        e.dedup();
        e.len()
    };
    Ok(format!(
        "{}: {}x{} tiles of {} px, {} distinct emoji, classifier {}",
        output.display(),
        grid.cols,
        grid.rows,
        grid.tile,
        distinct,
        classifier
    ))
}
