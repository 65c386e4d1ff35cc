//! The Python interpreter the export tests hold files to: `NNSPEC_PYTHON`,
//! the virtual environment .ci/run makes with onnx, onnxruntime and
//! LiteRT (tests/onnx/requirements.txt).

use std::path::PathBuf;
use std::process::Command;

/// The interpreter if it imports `modules` (`"onnx, numpy"`), else `None`
/// with a note naming `runtime` and `what` was not compared; under CI
/// (`CI` set) a missing interpreter or module fails the test instead.
pub fn or_skip(modules: &str, runtime: &str, what: &str) -> Option<PathBuf> {
    match with_modules(modules) {
        Ok(python) => Some(python),
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{why}; CI is set, and CI installs them (.ci/run)"
            );
            eprintln!("{runtime} comparison of {what} skipped: {why}");
            None
        }
    }
}

fn with_modules(modules: &str) -> Result<PathBuf, String> {
    let python = std::env::var_os("NNSPEC_PYTHON")
        .map(PathBuf::from)
        .ok_or("NNSPEC_PYTHON is not set (.ci/run sets it to its virtual environment)")?;
    let probe = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !probe.status.success() {
        return Err(format!(
            "{} cannot import {modules}: {}",
            python.display(),
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    Ok(python)
}
