//! What `dslc train --resume` reads back: the weights and optimizer state,
//! the records, the model selection, and the settings a resumed run must
//! keep.

use std::path::Path;

use nnspec_runtime::checkpoint;
use nnspec_runtime::exec::Executor;
use nnspec_runtime::metrics::EpochRecord;
use nnspec_runtime::train::Selection;

use super::Args;
use crate::errln;
use crate::run_info::{self, Saved};

/// The optimizer's kind as a state records it (its state's layout).
pub(super) fn optimizer_kind(optimizer: &nnspec_dsl::ir::Optimizer) -> &'static str {
    match optimizer {
        nnspec_dsl::ir::Optimizer::Sgd { momentum, .. } if *momentum != 0.0 => "sgd with momentum",
        nnspec_dsl::ir::Optimizer::Sgd { .. } => "sgd",
        nnspec_dsl::ir::Optimizer::Adam { .. } => "adam",
        nnspec_dsl::ir::Optimizer::AdamW { .. } => "adamw",
    }
}

/// Restores the run saved in `state`: weights, optimizer state, the epochs
/// done and their records.
pub(super) fn resume(
    exec: &mut Executor,
    state: &nnspec_runtime::safetensors_file::Checkpoint,
    optimizer_kind: &str,
) -> Result<(usize, Vec<EpochRecord>), String> {
    let saved_kind = state
        .metadata()
        .get("optimizer")
        .map(String::as_str)
        .unwrap_or("unknown");
    if saved_kind != optimizer_kind {
        return Err(format!(
            "{} holds the state of {saved_kind}, but the train block now says {optimizer_kind}; resume with the same optimizer, or train afresh in another --out",
            state.origin()
        ));
    }
    let epochs = checkpoint::load_training_state(exec, state).map_err(|e| e.to_string())?;
    let history = state
        .metadata()
        .get("history")
        .and_then(|h| serde_json::from_str::<Vec<EpochRecord>>(h).ok())
        .unwrap_or_default();
    Ok((epochs, history))
}

/// The validation fraction: `--val-split`, else the train block's; on
/// resume, the checkpoint's, which a flag must agree with.
pub(super) fn validation_fraction(
    args: &Args,
    block: Option<f64>,
    saved: &Saved,
    from: &Path,
) -> Result<Option<f64>, String> {
    let Some(recorded) = saved.validation.filter(|_| args.resume) else {
        return Ok(args.val_split.or(block));
    };
    let show = |v: Option<f64>| run_info::Validation(v).to_string();
    if args.val_split.is_some() && args.val_split != recorded {
        return Err(format!(
            "--val-split {} differs from the checkpoint's {} ({}): {}; leave --val-split out to use the checkpoint's, or train afresh",
            show(args.val_split),
            show(recorded),
            from.display(),
            run_info::VALIDATION_WHY
        ));
    }
    if args.val_split.is_none() && block != recorded {
        errln!(
            "warning: the train block now says validation {}; the resumed run keeps its {}",
            show(block),
            show(recorded)
        );
    }
    Ok(recorded)
}

/// The model selection saved with a training state, if it has one.
pub(super) fn saved_selection(
    state: &nnspec_runtime::safetensors_file::Checkpoint,
) -> Result<Option<Selection>, String> {
    state
        .metadata()
        .get("selection")
        .map(|text| {
            serde_json::from_str(text).map_err(|e| {
                format!(
                    "{}: the saved model selection is not readable ({e}); train afresh",
                    state.origin()
                )
            })
        })
        .transpose()
}
