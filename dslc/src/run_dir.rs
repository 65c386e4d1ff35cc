//! The `--out` directory of `train`: checked before any training, cleaned
//! of what killed runs left behind, and protected from being overwritten.

use std::path::{Path, PathBuf};

use crate::errln;

/// The weights, as PyTorch's `state_dict` (for `eval` and other tools).
pub const MODEL: &str = "model.safetensors";
/// Everything a run needs to resume, in one file saved atomically: the
/// weights, the optimizer state, the epochs done and their records.
pub const STATE: &str = "train_state.safetensors";
/// What earlier versions wrote beside the weights (the optimizer state
/// alone); such runs cannot be resumed.
const OLD_OPTIMIZER: &str = "optimizer.safetensors";
/// The weights of the epoch that did best on the validation split.
pub const BEST: &str = "best.safetensors";
/// Every file a run writes.
const RUN_FILES: [&str; 8] = [
    MODEL,
    STATE,
    BEST,
    OLD_OPTIMIZER,
    "metrics.json",
    "curves.png",
    "confusion.png",
    "scatter.png",
];

/// Creates `out` and makes sure files can be written there, before any
/// training; removes temporaries of killed runs; refuses to overwrite a
/// run without `--resume` unless `force` (which removes the old run's
/// files).
pub fn prepare(out: &Path, resume: bool, force: bool) -> Result<(), String> {
    std::fs::create_dir_all(out)
        .map_err(|e| format!("cannot create --out {}: {e}", out.display()))?;
    // Named like a temporary, so that a kill right here leaves nothing
    // the next run does not remove.
    let probe = out.join(format!(".write-check.{}.0.tmp", std::process::id()));
    std::fs::File::create_new(&probe)
        .map_err(|e| format!("cannot write into --out {}: {e}", out.display()))?;
    let _ = std::fs::remove_file(&probe);
    match nnspec_runtime::atomic_write::remove_stale_temporaries(out) {
        Ok(removed) if !removed.is_empty() => errln!(
            "note: removed {} temporary file(s) left in {} by a run that was killed",
            removed.len(),
            out.display()
        ),
        _ => {}
    }
    let existing: Vec<PathBuf> = [MODEL, STATE, OLD_OPTIMIZER]
        .iter()
        .map(|name| out.join(name))
        .filter(|path| path.exists())
        .collect();
    if resume {
        if !out.join(STATE).exists() {
            let why = if out.join(OLD_OPTIMIZER).exists() {
                format!(
                    "{} was written by an earlier dslc, which kept no resumable state",
                    out.join(OLD_OPTIMIZER).display()
                )
            } else {
                "no run was checkpointed there".to_string()
            };
            return Err(format!(
                "nothing to resume: {} does not exist ({why}); train without --resume",
                out.join(STATE).display()
            ));
        }
    } else if let Some(first) = existing.first() {
        if !force {
            return Err(format!(
                "{} already holds a run ({}); continue it with --resume, overwrite it with --force, or choose another --out",
                out.display(),
                first.display()
            ));
        }
        for name in RUN_FILES {
            let path = out.join(name);
            if path.exists() {
                std::fs::remove_file(&path)
                    .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            }
        }
    }
    Ok(())
}
