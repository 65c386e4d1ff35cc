//! Placeholder: the float export is being built (issue 13).
use nnspec_dsl::ir;
use nnspec_runtime::safetensors_file::Checkpoint;

use super::{ExportError, TfModel};

pub(super) fn model(_model: &ir::Model, _weights: &Checkpoint) -> Result<TfModel, ExportError> {
    Err(ExportError::Mismatch(
        "the TFLite float export is not built yet".into(),
    ))
}
