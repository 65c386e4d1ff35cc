//! Atomic file writes: a file is replaced by a complete new one or not at
//! all, never left torn. Checkpoints, metrics and plots are all written this
//! way, so the helpers live here rather than in any one of them.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A temporary sibling of `path` for [`write_atomically`]: same directory,
/// hidden, unique per process and call, ending in `.tmp{ext}` (plotters
/// picks the image format from the extension, so plots keep `.png`).
pub(crate) fn temp_sibling(path: &Path, ext: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp{ext}", std::process::id()))
}

/// Syncs the finished temporary file `tmp` and renames it to `path`, then
/// syncs the directory (best effort) so the rename itself is durable.
/// Removes `tmp` on failure.
pub(crate) fn commit_temp(tmp: &Path, path: &Path) -> io::Result<()> {
    let result = File::open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| fs::rename(tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(tmp);
        return result;
    }
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        // Directories cannot be opened for syncing everywhere (Windows).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes a file so that readers see either the old contents or the
/// complete new ones, never a torn file: `write` fills a temporary file in
/// the same directory, which is then flushed, fsynced and renamed over
/// `path`. If `write` (or anything else) fails, the temporary file is
/// removed and `path` is untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_sibling(path, "");
    // Never touch a file this call did not create.
    let file = File::create_new(&tmp)?;
    let result = (|| {
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    commit_temp(&tmp, path)
}
