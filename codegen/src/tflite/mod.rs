//! TensorFlow Lite (LiteRT) export: a checked model and its weights, or
//! its int8 plan, as a `.tflite` flatbuffer for phones and for TFLite
//! Micro.
//!
//! - [`model`]: the model as plain data (tensors, builtin operators,
//!   metadata), which both exports build;
//! - [`schema`]: that data written as the flatbuffer, through the
//!   `flatbuffers` crate with the tables of TFLite's schema (field ids and
//!   enum values are facts of the format);
//! - [`float`]: the IR as f32 operators, one layer at a time from each
//!   op's TFLite rule, NHWC, transposes folded into the weights;
//! - [`int8`]: an int8 plan in TFLite's full-integer scheme.
// Every op, step and tensor type is mapped explicitly.
#![deny(clippy::wildcard_enum_match_arm)]

mod float;
mod int8;
pub mod metadata;
pub mod model;
mod schema;

use std::fmt;

use nnspec_dsl::ir;
use nnspec_runtime::safetensors_file::{Checkpoint, CheckpointError};
use nnspec_runtime_core::quant::plan::QPlan;

pub use model::TfModel;

/// Flatbuffers address with 32-bit offsets: a file of 2 GiB or more
/// cannot be written (TFLite's own converter then stores buffers outside
/// the flatbuffer, which nnspec does not).
pub const MAX_BYTES: usize = (1 << 31) - 1;

/// Why a model cannot be exported to TFLite.
#[derive(Debug)]
pub enum ExportError {
    /// The weights lack a tensor, or one has the wrong shape or dtype.
    Weights(CheckpointError),
    /// A layer TFLite's builtin operators cannot express (with these
    /// shapes); `op` is the language's name for it (`lstm`).
    Unsupported {
        layer: String,
        op: String,
        reason: String,
    },
    /// The file would exceed [`MAX_BYTES`].
    TooLarge { bytes: usize },
    /// An int8 plan that does not fit the model it is exported with.
    Mismatch(String),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Weights(error) => write!(f, "{error}"),
            ExportError::Unsupported { layer, op, reason } => write!(
                f,
                "layer `{layer}` ({op}) cannot be exported to TFLite: {reason}"
            ),
            ExportError::TooLarge { bytes } => write!(
                f,
                "the TFLite model would be {bytes} bytes; flatbuffers are limited to 2 GiB"
            ),
            ExportError::Mismatch(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Weights(error) => Some(error),
            ExportError::Unsupported { .. }
            | ExportError::TooLarge { .. }
            | ExportError::Mismatch(_) => None,
        }
    }
}

impl From<CheckpointError> for ExportError {
    fn from(error: CheckpointError) -> Self {
        ExportError::Weights(error)
    }
}

/// `model` with the parameters in `weights` as f32 TFLite operators
/// (inference: dropout left out, batchnorm over its running statistics).
pub fn export(model: &ir::Model, weights: &Checkpoint) -> Result<TfModel, ExportError> {
    float::model(model, weights)
}

/// The int8 `qplan`, quantized from `model`, in TFLite's full-integer
/// scheme: f32 input and output around `QUANTIZE` and `DEQUANTIZE`, int8
/// activations with zero points, per-channel symmetric int8 weights, int32
/// biases (see [`int8`] for where it differs from nnspec's int8 plan).
pub fn export_int8(model: &ir::Model, qplan: &QPlan) -> Result<TfModel, ExportError> {
    int8::model(model, qplan)
}

/// The `.tflite` file's bytes (file identifier `TFL3`, schema version 3).
pub fn to_bytes(model: &TfModel) -> Result<Vec<u8>, ExportError> {
    schema::write(model)
}
