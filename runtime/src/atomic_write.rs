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

/// Removes the temporary files that [`write_atomically`] (or a checkpoint
/// save) left in `dir` when its process was killed: hidden files named
/// `.<name>.<pid>.<n>.tmp<ext>` whose process no longer runs. Files of
/// running processes, and every other file, are left alone. Where running
/// processes cannot be listed (no `/proc`), nothing is removed. Returns the
/// files removed.
pub fn remove_stale_temporaries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return Ok(Vec::new());
    }
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_pid) else {
            continue;
        };
        if pid == own || proc.join(pid.to_string()).exists() {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

/// The process id in a name made by [`temp_sibling`], or `None` when the
/// name is not one.
fn temporary_pid(name: &str) -> Option<u32> {
    let stem = &name.strip_prefix('.')?[..name.rfind(".tmp")?.checked_sub(1)?];
    let mut parts = stem.rsplitn(3, '.');
    let n = parts.next()?;
    let pid = parts.next()?;
    let original = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(n) && digits(pid) && !original.is_empty())
        .then(|| pid.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::temporary_pid;

    #[test]
    fn temporary_names_are_recognized() {
        assert_eq!(temporary_pid(".model.safetensors.123.4.tmp"), Some(123));
        assert_eq!(temporary_pid(".curves.png.77.0.tmp.png"), Some(77));
        assert_eq!(temporary_pid("model.safetensors"), None);
        assert_eq!(temporary_pid(".model.safetensors.x.4.tmp"), None);
        assert_eq!(temporary_pid(".tmp"), None);
        assert_eq!(temporary_pid("..tmp"), None);
    }
}
