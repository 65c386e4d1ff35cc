//! Placeholder: the flatbuffer writer is being built (issue 13).
use super::{ExportError, TfModel};

pub(super) fn write(_model: &TfModel) -> Result<Vec<u8>, ExportError> {
    Err(ExportError::Mismatch(
        "the TFLite writer is not built yet".into(),
    ))
}
