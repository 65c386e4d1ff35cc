//! The Python interpreter with onnx, onnxruntime and numpy that the ONNX
//! tests hold exports to, named by `NNSPEC_PYTHON` (.ci/run makes a
//! virtual environment and sets it).

use std::path::PathBuf;
use std::process::Command;

#[path = "python.rs"]
mod python;

/// The interpreter with onnx and onnxruntime, or `None` (with a note)
/// when there is none and `CI` is unset; under CI its absence fails the
/// test.
pub fn python_or_skip(what: &str) -> Option<PathBuf> {
    python::or_skip("onnx, onnxruntime, numpy", "onnxruntime", what)
}

/// Writes `manifest` as `dir/manifest.json`, runs `script` on `dir` and
/// returns its report (stdout, then stderr, also printed); fails the test,
/// keeping `dir`, when the script reports that onnxruntime disagrees with
/// `what`.
#[allow(dead_code)]
pub fn run_manifest(
    python: &std::path::Path,
    script: &std::path::Path,
    dir: &std::path::Path,
    manifest: &serde_json::Value,
    what: &str,
) -> String {
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("write");
    let output = Command::new(python)
        .arg(script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    assert!(
        output.status.success(),
        "onnxruntime disagrees with {what} (files kept in {}):\n{report}",
        dir.display()
    );
    report
}
