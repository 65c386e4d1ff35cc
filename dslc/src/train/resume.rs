//! What `dslc train --resume` reads back: the weights and optimizer state,
//! the records, the model selection, and the settings a resumed run must
//! keep.

use nnspec_runtime::checkpoint;
use nnspec_runtime::exec::Executor;
use nnspec_runtime::metrics::EpochRecord;
use nnspec_runtime::train::Selection;

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
