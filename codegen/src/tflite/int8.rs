//! Placeholder: the int8 export is being built (issue 13).
use nnspec_dsl::ir;
use nnspec_runtime_core::quant::plan::QPlan;

use super::{ExportError, TfModel};

pub(super) fn model(_model: &ir::Model, _qplan: &QPlan) -> Result<TfModel, ExportError> {
    Err(ExportError::Mismatch(
        "the TFLite int8 export is not built yet".into(),
    ))
}
