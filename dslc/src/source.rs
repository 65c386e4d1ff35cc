//! Reading model files.

use std::path::Path;

/// The bytes of a model file, or a message naming the file and the problem.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
