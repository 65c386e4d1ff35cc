//! The facts of TFLite's schema that the writer needs: each table's field
//! ids (a field's vtable slot is `4 + 2 * id`, see [`slot`]) and the enum
//! values, taken from tensorflow/compiler/mlir/lite/schema/schema.fbs
//! (schema version 3 with its compatible additions 3a to 3c: `builtin_code`
//! in `OperatorCode`, `shape_signature` and `has_rank` in `Tensor`). A
//! union field takes two ids: its type byte, then its table.

use flatbuffers::VOffsetT;

/// The vtable offset of the field with id `id`.
pub(super) fn slot(id: VOffsetT) -> VOffsetT {
    flatbuffers::field_index_to_field_offset(id)
}

/// `file_identifier "TFL3"` and `Model.version`.
pub(super) const FILE_IDENTIFIER: &str = "TFL3";
pub(super) const SCHEMA_VERSION: u32 = 3;

pub(super) mod model {
    pub const VERSION: u16 = 0;
    pub const OPERATOR_CODES: u16 = 1;
    pub const SUBGRAPHS: u16 = 2;
    pub const DESCRIPTION: u16 = 3;
    pub const BUFFERS: u16 = 4;
    // 5 is the deprecated `metadata_buffer`.
    pub const METADATA: u16 = 6;
    pub const SIGNATURE_DEFS: u16 = 7;
}

pub(super) mod subgraph {
    pub const TENSORS: u16 = 0;
    pub const INPUTS: u16 = 1;
    pub const OUTPUTS: u16 = 2;
    pub const OPERATORS: u16 = 3;
    pub const NAME: u16 = 4;
}

pub(super) mod tensor {
    pub const SHAPE: u16 = 0;
    pub const TYPE: u16 = 1;
    pub const BUFFER: u16 = 2;
    pub const NAME: u16 = 3;
    pub const QUANTIZATION: u16 = 4;
    // 5 is_variable, 6 sparsity: never written.
    pub const SHAPE_SIGNATURE: u16 = 7;
    pub const HAS_RANK: u16 = 8;
}

pub(super) mod quantization {
    // 0 min, 1 max: only for importing back into TensorFlow.
    pub const SCALE: u16 = 2;
    pub const ZERO_POINT: u16 = 3;
    // 4 details_type, 5 details: custom quantization, never written.
    pub const QUANTIZED_DIMENSION: u16 = 6;
}

pub(super) mod buffer {
    /// `data:[ubyte] (force_align: 16)`.
    pub const DATA: u16 = 0;
    pub const DATA_ALIGNMENT: usize = 16;
}

pub(super) mod metadata {
    pub const NAME: u16 = 0;
    pub const BUFFER: u16 = 1;
}

pub(super) mod operator_code {
    /// `byte`: the builtin code when below 127, else 127.
    pub const DEPRECATED_BUILTIN_CODE: u16 = 0;
    // 1 custom_code: builtins only.
    /// `int = 1`.
    pub const VERSION: u16 = 2;
    pub const BUILTIN_CODE: u16 = 3;
    /// `BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES`: the most the
    /// byte field holds.
    pub const PLACEHOLDER_FOR_GREATER_OP_CODES: i32 = 127;
}

pub(super) mod operator {
    pub const OPCODE_INDEX: u16 = 0;
    pub const INPUTS: u16 = 1;
    pub const OUTPUTS: u16 = 2;
    pub const BUILTIN_OPTIONS_TYPE: u16 = 3;
    pub const BUILTIN_OPTIONS: u16 = 4;
    /// An omitted optional input's index.
    pub const OMITTED_INPUT: i32 = -1;
}

pub(super) mod signature_def {
    pub const INPUTS: u16 = 0;
    pub const OUTPUTS: u16 = 1;
    pub const SIGNATURE_KEY: u16 = 2;
    // 3 is the deprecated `deprecated_tag`.
    pub const SUBGRAPH_INDEX: u16 = 4;
}

pub(super) mod tensor_map {
    pub const NAME: u16 = 0;
    pub const TENSOR_INDEX: u16 = 1;
}

/// `enum TensorType : byte`.
pub(super) mod tensor_type {
    pub const FLOAT32: i8 = 0;
    pub const INT32: i8 = 2;
    pub const INT64: i8 = 4;
    pub const INT8: i8 = 9;
}

/// `enum Padding : byte { SAME, VALID }`.
pub(super) mod padding {
    pub const SAME: i8 = 0;
    pub const VALID: i8 = 1;
}

/// `enum ActivationFunctionType : byte`.
pub(super) mod activation {
    pub const NONE: i8 = 0;
    pub const RELU: i8 = 1;
    pub const RELU6: i8 = 3;
}

/// `enum BuiltinOperator : int32`, the operators nnspec writes.
pub(super) mod builtin {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const SOFTMAX: i32 = 25;
    pub const TANH: i32 = 28;
    pub const PAD: i32 = 34;
    pub const GATHER: i32 = 36;
    pub const TRANSPOSE: i32 = 39;
    pub const MEAN: i32 = 40;
    pub const SUB: i32 = 41;
    pub const DIV: i32 = 42;
    pub const STRIDED_SLICE: i32 = 45;
    pub const EXP: i32 = 47;
    pub const LOG_SOFTMAX: i32 = 50;
    pub const MAXIMUM: i32 = 55;
    pub const MINIMUM: i32 = 57;
    pub const NEG: i32 = 59;
    pub const PADV2: i32 = 60;
    pub const LOG: i32 = 73;
    pub const SUM: i32 = 74;
    pub const SQRT: i32 = 75;
    pub const RSQRT: i32 = 76;
    pub const SQUARE: i32 = 92;
    pub const LEAKY_RELU: i32 = 98;
    pub const ABS: i32 = 101;
    pub const ELU: i32 = 111;
    pub const QUANTIZE: i32 = 114;
    pub const HARD_SWISH: i32 = 117;
    pub const BATCH_MATMUL: i32 = 126;
    pub const GELU: i32 = 150;
}

/// `union BuiltinOptions`: a member's type byte is its position in the
/// union, counting from 1 (0 is `NONE`).
pub(super) mod options {
    pub const NONE: u8 = 0;
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const CONCATENATION: u8 = 10;
    pub const ADD: u8 = 11;
    pub const RESHAPE: u8 = 17;
    pub const MUL: u8 = 21;
    pub const PAD: u8 = 22;
    pub const GATHER: u8 = 23;
    pub const TRANSPOSE: u8 = 26;
    pub const REDUCER: u8 = 27;
    pub const SUB: u8 = 28;
    pub const DIV: u8 = 29;
    pub const STRIDED_SLICE: u8 = 32;
    pub const EXP: u8 = 33;
    pub const LOG_SOFTMAX: u8 = 36;
    pub const DEQUANTIZE: u8 = 38;
    pub const MAXIMUM_MINIMUM: u8 = 39;
    pub const NEG: u8 = 42;
    pub const PADV2: u8 = 43;
    pub const SQUARE: u8 = 66;
    pub const LEAKY_RELU: u8 = 75;
    pub const ABS: u8 = 78;
    pub const QUANTIZE: u8 = 89;
    pub const HARD_SWISH: u8 = 91;
    pub const BATCH_MATMUL: u8 = 101;
    pub const GELU: u8 = 116;
}

/// Field ids inside the options tables.
pub(super) mod conv_2d {
    pub const PADDING: u16 = 0;
    pub const STRIDE_W: u16 = 1;
    pub const STRIDE_H: u16 = 2;
    pub const FUSED_ACTIVATION: u16 = 3;
    /// `int = 1`, as is `DILATION_H`.
    pub const DILATION_W: u16 = 4;
    pub const DILATION_H: u16 = 5;
}

pub(super) mod depthwise_conv_2d {
    pub const PADDING: u16 = 0;
    pub const STRIDE_W: u16 = 1;
    pub const STRIDE_H: u16 = 2;
    pub const DEPTH_MULTIPLIER: u16 = 3;
    pub const FUSED_ACTIVATION: u16 = 4;
    pub const DILATION_W: u16 = 5;
    pub const DILATION_H: u16 = 6;
}

pub(super) mod pool_2d {
    pub const PADDING: u16 = 0;
    pub const STRIDE_W: u16 = 1;
    pub const STRIDE_H: u16 = 2;
    pub const FILTER_WIDTH: u16 = 3;
    pub const FILTER_HEIGHT: u16 = 4;
    pub const FUSED_ACTIVATION: u16 = 5;
}

pub(super) mod fully_connected {
    pub const FUSED_ACTIVATION: u16 = 0;
    // 1 weights_format: DEFAULT.
    pub const KEEP_NUM_DIMS: u16 = 2;
}

pub(super) mod softmax {
    pub const BETA: u16 = 0;
}

pub(super) mod concatenation {
    pub const AXIS: u16 = 0;
    pub const FUSED_ACTIVATION: u16 = 1;
}

/// `AddOptions`, `SubOptions`, `MulOptions`, `DivOptions`: the fused
/// activation comes first in each.
pub(super) mod arithmetic {
    pub const FUSED_ACTIVATION: u16 = 0;
}

pub(super) mod reducer {
    pub const KEEP_DIMS: u16 = 0;
}

pub(super) mod strided_slice {
    pub const BEGIN_MASK: u16 = 0;
    pub const END_MASK: u16 = 1;
    // 2 ellipsis_mask, 3 new_axis_mask: always 0 here.
    pub const SHRINK_AXIS_MASK: u16 = 4;
}

pub(super) mod gather {
    pub const AXIS: u16 = 0;
}

pub(super) mod batch_matmul {
    pub const ADJ_X: u16 = 0;
    pub const ADJ_Y: u16 = 1;
}

pub(super) mod leaky_relu {
    pub const ALPHA: u16 = 0;
}

pub(super) mod gelu {
    pub const APPROXIMATE: u16 = 0;
}
