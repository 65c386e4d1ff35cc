//! ONNX export: a checked model and its weights as an ONNX `ModelProto`,
//! for inference in any ONNX runtime.
//!
//! - [`proto`]: the messages, prost structs written from the spec;
//! - [`graph`]: the IR as a graph, one node per layer from each op's
//!   `LayerRules::onnx` rule (dsl/src/ops/<op>.rs);
//! - [`tensors`]: typed values (a dynamic `batch` axis first) and
//!   initializers from the weights;
//! - [`weights`]: the weights of a seed's initialization, for an export
//!   without a checkpoint;
//! - [`qdq`]: an int8 plan as a QDQ graph (`QuantizeLinear` and
//!   `DequantizeLinear` around float operators), [`qdq_model`].
//!
//! The model imports the standard domain alone, at [`OPSET`]; parameters
//! are initializers named as in the checkpoint (`fc1.weight`), so a
//! PyTorch user finds the same names; dropout is left out (inference);
//! batch normalization is ONNX's, over the running statistics. The
//! producer, the model's name and the source file's SHA-256 are in the
//! model's metadata.
// Every op and dtype is mapped explicitly: no catch-all arm may hide one.
#![deny(clippy::wildcard_enum_match_arm)]

mod graph;
mod half;
pub mod proto;
mod qdq;
mod tensors;
mod weights;

use std::fmt;

use nnspec_dsl::ir;
use nnspec_runtime::safetensors_file::{Checkpoint, CheckpointError};
use nnspec_runtime_core::quant::plan::QPlan;
use prost::Message;
use sha2::{Digest, Sha256};

pub use half::with_half_weights;
pub use tensors::BATCH;
pub use weights::initial_weights;

use proto::{ModelProto, OperatorSetIdProto, StringStringEntryProto};

/// The standard-domain operator set the graphs use: 17 is the first with
/// every operator nnspec needs in its current form (Softmax along one axis
/// since 13) and is read by every maintained runtime.
pub const OPSET: i64 = 17;

/// The IR version that goes with opset 17 (ONNX 1.12).
pub const IR_VERSION: i64 = 8;

/// Protobuf messages over 2 GiB cannot be parsed by the reference
/// implementation; such models need external data, which nnspec does not
/// write.
const MAX_BYTES: usize = (1 << 31) - 1;

/// Where an export came from, for the model's metadata.
#[derive(Clone, Debug)]
pub struct Provenance<'a> {
    /// The model file's name as given (`mnist_mlp.nn`).
    pub source_file: &'a str,
    /// The model file's bytes, hashed into `source_sha256`.
    pub source: &'a [u8],
    /// Where the weights came from (`model.safetensors`, `seed 0`).
    pub weights: String,
}

/// Why a model cannot be exported.
#[derive(Debug)]
pub enum ExportError {
    /// The weights lack a tensor, or one has the wrong shape or dtype.
    Weights(CheckpointError),
    /// The model is too large for one protobuf message.
    TooLarge { bytes: usize },
    /// A layer ONNX cannot express with its shapes.
    Unsupported { layer: String, reason: String },
    /// An int8 plan that does not fit the model it is exported with.
    Mismatch(String),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Weights(error) => write!(f, "{error}"),
            ExportError::TooLarge { bytes } => write!(
                f,
                "the ONNX model would be {bytes} bytes; protobuf messages are limited to 2 GiB \
                 and nnspec does not write external data"
            ),
            ExportError::Unsupported { layer, reason } => {
                write!(f, "layer `{layer}` cannot be exported: {reason}")
            }
            ExportError::Mismatch(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Weights(error) => Some(error),
            ExportError::TooLarge { .. }
            | ExportError::Unsupported { .. }
            | ExportError::Mismatch(_) => None,
        }
    }
}

impl From<CheckpointError> for ExportError {
    fn from(error: CheckpointError) -> Self {
        ExportError::Weights(error)
    }
}

/// `model` with the parameters in `weights` (a `state_dict`: each tensor
/// the graph reads must be there with the model's shape and dtype).
pub fn export(
    model: &ir::Model,
    weights: &Checkpoint,
    provenance: &Provenance<'_>,
) -> Result<ModelProto, ExportError> {
    let graph = graph::graph(model, weights)?;
    model_proto(model, graph, provenance, Vec::new())
}

/// The int8 `qplan`, quantized from `model`, as a standard QDQ model
/// (see [`qdq`]): the same inputs and outputs as [`export`]'s, f32, with
/// `QuantizeLinear` and `DequantizeLinear` around the float operators of
/// the int8 layers, which onnxruntime fuses into its integer kernels. The
/// metadata says `quantization: int8 QDQ`.
pub fn qdq_model(
    model: &ir::Model,
    qplan: &QPlan,
    provenance: &Provenance<'_>,
) -> Result<ModelProto, ExportError> {
    let graph = qdq::graph(model, qplan)?;
    let quantization = StringStringEntryProto {
        key: "quantization".to_string(),
        value: "int8 QDQ: u8 activations (nnspec uses 0..=127), per-channel i8 weights, \
                i32 biases"
            .to_string(),
    };
    model_proto(model, graph, provenance, vec![quantization])
}

/// The model around `graph`, with its provenance (and `extra`) as metadata.
fn model_proto(
    model: &ir::Model,
    graph: proto::GraphProto,
    provenance: &Provenance<'_>,
    extra: Vec<StringStringEntryProto>,
) -> Result<ModelProto, ExportError> {
    let entry = |key: &str, value: String| StringStringEntryProto {
        key: key.to_string(),
        value,
    };
    let proto = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "nnspec".to_string(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        doc_string: format!(
            "model `{}` from {}, exported by nnspec for inference",
            model.name, provenance.source_file
        ),
        graph: Some(graph),
        metadata_props: [
            entry("model", model.name.clone()),
            entry("source_file", provenance.source_file.to_string()),
            entry("source_sha256", sha256_hex(provenance.source)),
            entry("weights", provenance.weights.clone()),
        ]
        .into_iter()
        .chain(extra)
        .collect(),
        ..ModelProto::default()
    };
    let bytes = proto.encoded_len();
    if bytes > MAX_BYTES {
        return Err(ExportError::TooLarge { bytes });
    }
    Ok(proto)
}

/// The model's bytes, as an `.onnx` file holds them.
pub fn to_bytes(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Lowercase hex SHA-256, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
