//! Provisions ONNX Runtime, the one shared library emojicam loads at run time.
//!
//! ONNX Runtime's own download (ort's default) is not reachable everywhere, but the
//! `onnxruntime` wheel on the Python package index carries the same library. This script
//! fetches that wheel once with pip, extracts the library into a per-user cache and bakes its
//! path into the binary (`EMOJICAM_ORT_DYLIB`), so `cargo run` and `cargo install` need no
//! manual step. `ORT_DYLIB_PATH` still overrides at run time. If provisioning fails the build
//! still succeeds (with a warning): the `nearest` classifier needs no ONNX Runtime.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const ORT_VERSION: &str = "1.31.1";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=EMOJICAM_ORT_CACHE");
    println!("cargo:rerun-if-env-changed=EMOJICAM_SKIP_ORT_DOWNLOAD");
    for f in [
        "models/atlas.png",
        "models/emoji.json",
        "models/emojinet.onnx",
        "models/emojinet-tables.onnx",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rustc-env=EMOJICAM_ORT_VERSION={ORT_VERSION}");

    let dir = cache_dir().join(format!("onnxruntime-{ORT_VERSION}"));
    let baked = match find_library(&dir) {
        Some(lib) => Some(lib),
        None if env::var_os("EMOJICAM_SKIP_ORT_DOWNLOAD").is_some() => None,
        None => match provision(&dir) {
            Ok(lib) => Some(lib),
            Err(e) => {
                println!(
                    "cargo:warning=could not provision ONNX Runtime {ORT_VERSION} ({e}); \
                     set ORT_DYLIB_PATH at run time or use --classifier nearest"
                );
                None
            }
        },
    };
    let baked = baked.map(|p| p.display().to_string()).unwrap_or_default();
    println!("cargo:rustc-env=EMOJICAM_ORT_DYLIB={baked}");
}

fn cache_dir() -> PathBuf {
    if let Some(d) = env::var_os("EMOJICAM_ORT_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("emojicam");
    }
    if let Some(h) = env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("emojicam");
    }
    PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("emojicam-cache")
}

fn is_library(name: &str) -> bool {
    (name.starts_with("libonnxruntime.so") || name.starts_with("libonnxruntime.") && name.ends_with(".dylib"))
        && !name.contains("providers")
        || name == "onnxruntime.dll"
}

fn find_library(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_library))
        .collect();
    // Prefer the fully versioned name (libonnxruntime.so.1.31.1).
    found.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    found.into_iter().next()
}

fn provision(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let wheels = dir.join("wheel");
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or("python3 with pip is needed to fetch the onnxruntime wheel")?;
    let status = Command::new(python)
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"])
        .arg(format!("onnxruntime=={ORT_VERSION}"))
        .arg("-d")
        .arg(&wheels)
        .status()
        .map_err(|e| format!("running pip: {e}"))?;
    if !status.success() {
        return Err(format!("pip download onnxruntime=={ORT_VERSION} failed"));
    }
    // Unzip only the library, with Python's zipfile (no extra build dependency).
    let script = r#"
import sys, zipfile, glob, os
dest = sys.argv[1]
for whl in glob.glob(os.path.join(sys.argv[2], 'onnxruntime-*.whl')):
    with zipfile.ZipFile(whl) as z:
        for n in z.namelist():
            base = os.path.basename(n)
            if '/capi/' in n and (base.startswith('libonnxruntime.so') or base.endswith('.dylib') or base == 'onnxruntime.dll') and 'providers' not in base:
                with z.open(n) as src, open(os.path.join(dest, base), 'wb') as out:
                    out.write(src.read())
"#;
    let status = Command::new(python)
        .args(["-c", script])
        .arg(dir)
        .arg(&wheels)
        .status()
        .map_err(|e| format!("extracting the wheel: {e}"))?;
    if !status.success() {
        return Err("extracting the library from the wheel failed".into());
    }
    let _ = std::fs::remove_dir_all(&wheels);
    find_library(dir).ok_or_else(|| {
        format!(
            "no ONNX Runtime library found in the wheel for this platform ({})",
            dir.display()
        )
    })
}
