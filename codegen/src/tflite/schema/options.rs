//! Per operator: its `BuiltinOperator` code, its `BuiltinOptions` table
//! (the union's type byte and the table, written field by field from the
//! schema's ids in [`super::ids`]), and the operator version, chosen as
//! TFLite's converter does (tensorflow/lite/tools/versioning/op_version.cc)
//! from the operand types and options: LiteRT registers each kernel for a
//! range of versions, and an int8 FULLY_CONNECTED, say, is version 4.

use flatbuffers::{FlatBufferBuilder, WIPOffset};

use super::ids::{self, builtin, options, slot};
use crate::tflite::model::{Activation, Op, Padding, Tensor, TensorType};

type Table = WIPOffset<flatbuffers::TableFinishedWIPOffset>;

/// The `BuiltinOperator` code of `op`.
pub(super) fn builtin_code(op: &Op) -> i32 {
    match op {
        Op::FullyConnected { .. } => builtin::FULLY_CONNECTED,
        Op::Conv2d { .. } => builtin::CONV_2D,
        Op::DepthwiseConv2d { .. } => builtin::DEPTHWISE_CONV_2D,
        Op::MaxPool2d { .. } => builtin::MAX_POOL_2D,
        Op::AveragePool2d { .. } => builtin::AVERAGE_POOL_2D,
        Op::Reshape => builtin::RESHAPE,
        Op::Transpose => builtin::TRANSPOSE,
        Op::Pad => builtin::PAD,
        Op::PadV2 => builtin::PADV2,
        Op::Softmax { .. } => builtin::SOFTMAX,
        Op::LogSoftmax => builtin::LOG_SOFTMAX,
        Op::Relu => builtin::RELU,
        Op::Relu6 => builtin::RELU6,
        Op::Logistic => builtin::LOGISTIC,
        Op::Tanh => builtin::TANH,
        Op::HardSwish => builtin::HARD_SWISH,
        Op::Elu => builtin::ELU,
        Op::Gelu { .. } => builtin::GELU,
        Op::LeakyRelu { .. } => builtin::LEAKY_RELU,
        Op::Exp => builtin::EXP,
        Op::Log => builtin::LOG,
        Op::Sqrt => builtin::SQRT,
        Op::Rsqrt => builtin::RSQRT,
        Op::Square => builtin::SQUARE,
        Op::Abs => builtin::ABS,
        Op::Neg => builtin::NEG,
        Op::Add { .. } => builtin::ADD,
        Op::Sub { .. } => builtin::SUB,
        Op::Mul { .. } => builtin::MUL,
        Op::Div { .. } => builtin::DIV,
        Op::Maximum => builtin::MAXIMUM,
        Op::Minimum => builtin::MINIMUM,
        Op::Concatenation { .. } => builtin::CONCATENATION,
        Op::Mean { .. } => builtin::MEAN,
        Op::Sum { .. } => builtin::SUM,
        Op::StridedSlice { .. } => builtin::STRIDED_SLICE,
        Op::Gather { .. } => builtin::GATHER,
        Op::BatchMatMul { .. } => builtin::BATCH_MATMUL,
        Op::Quantize => builtin::QUANTIZE,
        Op::Dequantize => builtin::DEQUANTIZE,
    }
}

/// The schema's name of `op`, for error messages.
pub(super) fn name(op: &Op) -> &'static str {
    match op {
        Op::FullyConnected { .. } => "FULLY_CONNECTED",
        Op::Conv2d { .. } => "CONV_2D",
        Op::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
        Op::MaxPool2d { .. } => "MAX_POOL_2D",
        Op::AveragePool2d { .. } => "AVERAGE_POOL_2D",
        Op::Reshape => "RESHAPE",
        Op::Transpose => "TRANSPOSE",
        Op::Pad => "PAD",
        Op::PadV2 => "PADV2",
        Op::Softmax { .. } => "SOFTMAX",
        Op::LogSoftmax => "LOG_SOFTMAX",
        Op::Relu => "RELU",
        Op::Relu6 => "RELU6",
        Op::Logistic => "LOGISTIC",
        Op::Tanh => "TANH",
        Op::HardSwish => "HARD_SWISH",
        Op::Elu => "ELU",
        Op::Gelu { .. } => "GELU",
        Op::LeakyRelu { .. } => "LEAKY_RELU",
        Op::Exp => "EXP",
        Op::Log => "LOG",
        Op::Sqrt => "SQRT",
        Op::Rsqrt => "RSQRT",
        Op::Square => "SQUARE",
        Op::Abs => "ABS",
        Op::Neg => "NEG",
        Op::Add { .. } => "ADD",
        Op::Sub { .. } => "SUB",
        Op::Mul { .. } => "MUL",
        Op::Div { .. } => "DIV",
        Op::Maximum => "MAXIMUM",
        Op::Minimum => "MINIMUM",
        Op::Concatenation { .. } => "CONCATENATION",
        Op::Mean { .. } => "MEAN",
        Op::Sum { .. } => "SUM",
        Op::StridedSlice { .. } => "STRIDED_SLICE",
        Op::Gather { .. } => "GATHER",
        Op::BatchMatMul { .. } => "BATCH_MATMUL",
        Op::Quantize => "QUANTIZE",
        Op::Dequantize => "DEQUANTIZE",
    }
}

fn activation(activation: Activation) -> i8 {
    match activation {
        Activation::None => ids::activation::NONE,
        Activation::Relu => ids::activation::RELU,
        Activation::Relu6 => ids::activation::RELU6,
    }
}

fn padding(padding: Padding) -> i8 {
    match padding {
        Padding::Same => ids::padding::SAME,
        Padding::Valid => ids::padding::VALID,
    }
}

/// A dimension or factor as the schema's `int` (checked to fit before).
fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// An options table with no fields: the union member still says which
/// operator the options belong to, as TFLite's converter writes it.
fn empty(fbb: &mut FlatBufferBuilder) -> Table {
    let start = fbb.start_table();
    fbb.end_table(start)
}

/// `AddOptions`, `SubOptions`, `MulOptions` or `DivOptions`: the same
/// first field.
fn arithmetic(fbb: &mut FlatBufferBuilder, act: Activation) -> Table {
    let start = fbb.start_table();
    let field = slot(ids::arithmetic::FUSED_ACTIVATION);
    fbb.push_slot::<i8>(field, activation(act), 0);
    fbb.end_table(start)
}

/// The `builtin_options` union of `op`: its type byte and table (`None`
/// for operators whose union has no member, like RELU).
pub(super) fn write(fbb: &mut FlatBufferBuilder, op: &Op) -> Option<(u8, Table)> {
    let (kind, table) = match *op {
        Op::FullyConnected {
            activation: act,
            keep_num_dims,
        } => {
            use ids::fully_connected as f;
            let start = fbb.start_table();
            fbb.push_slot::<i8>(slot(f::FUSED_ACTIVATION), activation(act), 0);
            fbb.push_slot::<bool>(slot(f::KEEP_NUM_DIMS), keep_num_dims, false);
            (options::FULLY_CONNECTED, fbb.end_table(start))
        }
        Op::Conv2d {
            padding: pad,
            stride,
            dilation,
            activation: act,
        } => {
            use ids::conv_2d as f;
            let start = fbb.start_table();
            fbb.push_slot::<i8>(slot(f::PADDING), padding(pad), ids::padding::SAME);
            fbb.push_slot::<i32>(slot(f::STRIDE_W), int(stride[1]), 0);
            fbb.push_slot::<i32>(slot(f::STRIDE_H), int(stride[0]), 0);
            fbb.push_slot::<i8>(slot(f::FUSED_ACTIVATION), activation(act), 0);
            fbb.push_slot::<i32>(slot(f::DILATION_W), int(dilation[1]), 1);
            fbb.push_slot::<i32>(slot(f::DILATION_H), int(dilation[0]), 1);
            (options::CONV_2D, fbb.end_table(start))
        }
        Op::DepthwiseConv2d {
            padding: pad,
            stride,
            dilation,
            depth_multiplier,
            activation: act,
        } => {
            use ids::depthwise_conv_2d as f;
            let start = fbb.start_table();
            fbb.push_slot::<i8>(slot(f::PADDING), padding(pad), ids::padding::SAME);
            fbb.push_slot::<i32>(slot(f::STRIDE_W), int(stride[1]), 0);
            fbb.push_slot::<i32>(slot(f::STRIDE_H), int(stride[0]), 0);
            fbb.push_slot::<i32>(slot(f::DEPTH_MULTIPLIER), int(depth_multiplier), 0);
            fbb.push_slot::<i8>(slot(f::FUSED_ACTIVATION), activation(act), 0);
            fbb.push_slot::<i32>(slot(f::DILATION_W), int(dilation[1]), 1);
            fbb.push_slot::<i32>(slot(f::DILATION_H), int(dilation[0]), 1);
            (options::DEPTHWISE_CONV_2D, fbb.end_table(start))
        }
        Op::MaxPool2d {
            padding: pad,
            stride,
            filter,
            activation: act,
        }
        | Op::AveragePool2d {
            padding: pad,
            stride,
            filter,
            activation: act,
        } => {
            use ids::pool_2d as f;
            let start = fbb.start_table();
            fbb.push_slot::<i8>(slot(f::PADDING), padding(pad), ids::padding::SAME);
            fbb.push_slot::<i32>(slot(f::STRIDE_W), int(stride[1]), 0);
            fbb.push_slot::<i32>(slot(f::STRIDE_H), int(stride[0]), 0);
            fbb.push_slot::<i32>(slot(f::FILTER_WIDTH), int(filter[1]), 0);
            fbb.push_slot::<i32>(slot(f::FILTER_HEIGHT), int(filter[0]), 0);
            fbb.push_slot::<i8>(slot(f::FUSED_ACTIVATION), activation(act), 0);
            (options::POOL_2D, fbb.end_table(start))
        }
        Op::Softmax { beta } => {
            let start = fbb.start_table();
            fbb.push_slot::<f32>(slot(ids::softmax::BETA), beta, 0.0);
            (options::SOFTMAX, fbb.end_table(start))
        }
        Op::Concatenation {
            axis,
            activation: act,
        } => {
            use ids::concatenation as f;
            let start = fbb.start_table();
            fbb.push_slot::<i32>(slot(f::AXIS), axis, 0);
            fbb.push_slot::<i8>(slot(f::FUSED_ACTIVATION), activation(act), 0);
            (options::CONCATENATION, fbb.end_table(start))
        }
        Op::Add { activation: act } => (options::ADD, arithmetic(fbb, act)),
        Op::Sub { activation: act } => (options::SUB, arithmetic(fbb, act)),
        Op::Mul { activation: act } => (options::MUL, arithmetic(fbb, act)),
        Op::Div { activation: act } => (options::DIV, arithmetic(fbb, act)),
        Op::Mean { keep_dims } | Op::Sum { keep_dims } => {
            let start = fbb.start_table();
            fbb.push_slot::<bool>(slot(ids::reducer::KEEP_DIMS), keep_dims, false);
            (options::REDUCER, fbb.end_table(start))
        }
        Op::StridedSlice {
            begin_mask,
            end_mask,
            shrink_axis_mask,
        } => {
            use ids::strided_slice as f;
            let start = fbb.start_table();
            fbb.push_slot::<i32>(slot(f::BEGIN_MASK), begin_mask, 0);
            fbb.push_slot::<i32>(slot(f::END_MASK), end_mask, 0);
            fbb.push_slot::<i32>(slot(f::SHRINK_AXIS_MASK), shrink_axis_mask, 0);
            (options::STRIDED_SLICE, fbb.end_table(start))
        }
        Op::Gather { axis } => {
            let start = fbb.start_table();
            fbb.push_slot::<i32>(slot(ids::gather::AXIS), axis, 0);
            (options::GATHER, fbb.end_table(start))
        }
        Op::BatchMatMul { adj_x, adj_y } => {
            use ids::batch_matmul as f;
            let start = fbb.start_table();
            fbb.push_slot::<bool>(slot(f::ADJ_X), adj_x, false);
            fbb.push_slot::<bool>(slot(f::ADJ_Y), adj_y, false);
            (options::BATCH_MATMUL, fbb.end_table(start))
        }
        Op::LeakyRelu { alpha } => {
            let start = fbb.start_table();
            fbb.push_slot::<f32>(slot(ids::leaky_relu::ALPHA), alpha, 0.0);
            (options::LEAKY_RELU, fbb.end_table(start))
        }
        Op::Gelu { approximate } => {
            let start = fbb.start_table();
            fbb.push_slot::<bool>(slot(ids::gelu::APPROXIMATE), approximate, false);
            (options::GELU, fbb.end_table(start))
        }
        Op::Reshape => (options::RESHAPE, empty(fbb)),
        Op::Transpose => (options::TRANSPOSE, empty(fbb)),
        Op::Pad => (options::PAD, empty(fbb)),
        Op::PadV2 => (options::PADV2, empty(fbb)),
        Op::LogSoftmax => (options::LOG_SOFTMAX, empty(fbb)),
        Op::HardSwish => (options::HARD_SWISH, empty(fbb)),
        Op::Exp => (options::EXP, empty(fbb)),
        Op::Square => (options::SQUARE, empty(fbb)),
        Op::Abs => (options::ABS, empty(fbb)),
        Op::Neg => (options::NEG, empty(fbb)),
        Op::Maximum | Op::Minimum => (options::MAXIMUM_MINIMUM, empty(fbb)),
        Op::Quantize => (options::QUANTIZE, empty(fbb)),
        Op::Dequantize => (options::DEQUANTIZE, empty(fbb)),
        // The union has no member for these.
        Op::Relu
        | Op::Relu6
        | Op::Logistic
        | Op::Tanh
        | Op::Elu
        | Op::Log
        | Op::Sqrt
        | Op::Rsqrt => return None,
    };
    Some((kind, table))
}

/// What the version rules look at: the operands' types and ranks.
pub(super) struct Signature<'a> {
    /// In order; an omitted optional input is `None`.
    pub inputs: Vec<Option<&'a Tensor>>,
    pub outputs: Vec<&'a Tensor>,
}

impl Signature<'_> {
    fn input(&self, i: usize) -> Option<TensorType> {
        self.inputs.get(i).copied().flatten().map(|t| t.dtype)
    }

    fn output(&self, i: usize) -> Option<TensorType> {
        self.outputs.get(i).map(|t| t.dtype)
    }

    fn input_rank(&self, i: usize) -> usize {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .map_or(0, |t| t.shape.len())
    }

    fn per_channel(&self, i: usize) -> bool {
        let tensor = self.inputs.get(i).copied().flatten();
        tensor
            .and_then(|t| t.quantization.as_ref())
            .is_some_and(|q| q.scale.len() > 1)
    }

    /// op_version.cc's `NeedBroadcastForBinaryInputs && GetInputMaxDims > 4`.
    fn broadcasts_above_4d(&self) -> bool {
        let shapes: Vec<&[i32]> = self.inputs.iter().flatten().map(|t| &t.shape[..]).collect();
        shapes.len() >= 2 && shapes[0] != shapes[1] && shapes.iter().any(|s| s.len() > 4)
    }

    fn all_int8(&self) -> bool {
        self.input(0) == Some(TensorType::Int8)
            && self.input(1) == Some(TensorType::Int8)
            && self.output(0) == Some(TensorType::Int8)
    }

    /// An f32 operator with int8 weights (dequantized at run time).
    fn hybrid(&self) -> bool {
        self.input(0) == Some(TensorType::Float32)
            && self.input(1) == Some(TensorType::Int8)
            && self.output(0) == Some(TensorType::Float32)
    }
}

/// `OperatorCode.version` for `op` with these operands.
pub(super) fn version(op: &Op, sig: &Signature) -> i32 {
    let int8 = sig.input(0) == Some(TensorType::Int8);
    let if_int8 = |v: i32| if int8 { v } else { 1 };
    match op {
        Op::FullyConnected { keep_num_dims, .. } => {
            if sig.hybrid() && sig.per_channel(1) {
                12
            } else if sig.inputs.len() == 2 {
                6
            } else if *keep_num_dims {
                5
            } else if sig.all_int8() {
                4
            } else if sig.hybrid() {
                3
            } else {
                1
            }
        }
        Op::Conv2d { .. } => {
            if sig.all_int8() {
                3
            } else if sig.hybrid() {
                if sig.per_channel(1) { 5 } else { 2 }
            } else {
                1
            }
        }
        Op::DepthwiseConv2d { dilation, .. } => {
            if sig.hybrid() {
                if sig.per_channel(1) { 6 } else { 4 }
            } else if sig.all_int8() {
                3
            } else if *dilation != [1, 1] {
                2
            } else {
                1
            }
        }
        Op::Transpose => {
            let rank = sig.input_rank(0);
            if rank > 5 {
                6
            } else if rank > 4 {
                4
            } else {
                if_int8(2)
            }
        }
        Op::Pad | Op::PadV2 => {
            if sig.input_rank(0) > 4 {
                4
            } else {
                if_int8(2)
            }
        }
        Op::StridedSlice { .. } => {
            if sig.input_rank(0) > 4 {
                4
            } else {
                if_int8(2)
            }
        }
        Op::Sub { .. } | Op::Maximum | Op::Minimum => {
            if sig.input(0) == Some(TensorType::Int64) && matches!(op, Op::Sub { .. }) {
                4
            } else if sig.broadcasts_above_4d() {
                3
            } else {
                if_int8(2)
            }
        }
        Op::Add { .. } => {
            if sig.input(0) == Some(TensorType::Int64) {
                4
            } else {
                if_int8(2)
            }
        }
        Op::Mul { .. } => {
            if sig.input(0) == Some(TensorType::Int64) {
                5
            } else if int8 && mul_rescale_at_least_one(sig) {
                3
            } else {
                if_int8(2)
            }
        }
        Op::Div { .. } => {
            if sig.broadcasts_above_4d() {
                2
            } else {
                1
            }
        }
        Op::Abs => {
            if sig.input(0) == Some(TensorType::Int32) {
                5
            } else {
                if_int8(2)
            }
        }
        Op::Dequantize => {
            if int8 && sig.per_channel(0) {
                5
            } else {
                if_int8(2)
            }
        }
        Op::Quantize => {
            let per_channel = sig.outputs.first().and_then(|t| t.quantization.as_ref());
            if per_channel.is_some_and(|q| q.scale.len() > 1) {
                3
            } else {
                1
            }
        }
        Op::MaxPool2d { .. }
        | Op::AveragePool2d { .. }
        | Op::Softmax { .. }
        | Op::LogSoftmax
        | Op::Relu
        | Op::Relu6
        | Op::Logistic
        | Op::Tanh
        | Op::Gelu { .. }
        | Op::Exp
        | Op::Log
        | Op::Rsqrt
        | Op::Concatenation { .. }
        | Op::Mean { .. }
        | Op::Sum { .. }
        | Op::Gather { .. }
        | Op::BatchMatMul { .. } => if_int8(2),
        Op::Reshape
        | Op::HardSwish
        | Op::Elu
        | Op::LeakyRelu { .. }
        | Op::Sqrt
        | Op::Square
        | Op::Neg => 1,
    }
}

/// op_version.cc's MUL version 3: an int8 product whose rescale
/// `s_a * s_b / s_out` is at least 1.
fn mul_rescale_at_least_one(sig: &Signature) -> bool {
    let scale = |t: Option<&Tensor>| {
        t.and_then(|t| t.quantization.as_ref())
            .and_then(|q| q.scale.first().copied())
            .unwrap_or(0.0)
    };
    let input = |i: usize| sig.inputs.get(i).copied().flatten();
    let (a, b) = (scale(input(0)), scale(input(1)));
    let out = scale(sig.outputs.first().copied());
    a != 0.0 && b != 0.0 && out != 0.0 && f64::from(a) * f64::from(b) / f64::from(out) >= 1.0
}
