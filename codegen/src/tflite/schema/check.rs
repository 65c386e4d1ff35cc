//! The model checked before a byte is written: a `TfModel` is built by
//! code, and a wrong one would give a file LiteRT refuses with a message
//! far from the cause (or one that reads out of bounds on a device), so
//! each inconsistency is an [`ExportError::Mismatch`] naming the tensor
//! or operator.

use super::options;
use crate::tflite::ExportError;
use crate::tflite::model::{
    Activation, Op, Operator, Quantization, Tensor, TensorId, TensorType, TfModel,
};

fn mismatch(reason: String) -> ExportError {
    ExportError::Mismatch(reason)
}

/// Bytes per element of `dtype`.
pub(super) fn element_size(dtype: TensorType) -> usize {
    match dtype {
        TensorType::Float32 | TensorType::Int32 => 4,
        TensorType::Int8 => 1,
        TensorType::Int64 => 8,
    }
}

pub(super) fn model(model: &TfModel) -> Result<(), ExportError> {
    for (index, tensor) in model.tensors.iter().enumerate() {
        self::tensor(index, tensor)?;
    }
    let in_range = |id: TensorId, what: &dyn Fn() -> String| {
        if id.index() < model.tensors.len() {
            Ok(())
        } else {
            Err(mismatch(format!(
                "{} names tensor {}, but the model has {} tensors",
                what(),
                id.0,
                model.tensors.len()
            )))
        }
    };
    // Which tensors hold a value so far: constants, then the inputs, then
    // each operator's outputs in turn.
    let mut defined: Vec<bool> = model.tensors.iter().map(|t| t.data.is_some()).collect();
    for (i, &id) in model.inputs.iter().enumerate() {
        in_range(id, &|| format!("model input {i}"))?;
        let tensor = model.tensor(id);
        if tensor.data.is_some() {
            return Err(mismatch(format!(
                "model input {i} (`{}`) is a constant",
                tensor.name
            )));
        }
        defined[id.index()] = true;
    }
    for (position, operator) in model.operators.iter().enumerate() {
        let what = || format!("operator {position} ({})", options::name(&operator.op));
        self::operator(operator, &what)?;
        for (slot, input) in operator.inputs.iter().enumerate() {
            let Some(id) = *input else { continue };
            in_range(id, &|| format!("{}, input {slot},", what()))?;
            if !defined[id.index()] {
                return Err(mismatch(format!(
                    "{} reads tensor {} (`{}`) before any input, constant or earlier operator defines it",
                    what(),
                    id.0,
                    model.tensor(id).name
                )));
            }
        }
        for (slot, &id) in operator.outputs.iter().enumerate() {
            in_range(id, &|| format!("{}, output {slot},", what()))?;
            if defined[id.index()] {
                return Err(mismatch(format!(
                    "{} writes tensor {} (`{}`), which already holds a constant, an input or an earlier result",
                    what(),
                    id.0,
                    model.tensor(id).name
                )));
            }
            defined[id.index()] = true;
        }
    }
    for (i, &id) in model.outputs.iter().enumerate() {
        in_range(id, &|| format!("model output {i}"))?;
        if !defined[id.index()] {
            return Err(mismatch(format!(
                "model output {i} (`{}`) is computed by no operator",
                model.tensor(id).name
            )));
        }
    }
    Ok(())
}

fn tensor(index: usize, tensor: &Tensor) -> Result<(), ExportError> {
    let what = || format!("tensor {index} (`{}`)", tensor.name);
    if let Some(bad) = tensor.shape.iter().find(|&&d| d < 0) {
        return Err(mismatch(format!(
            "{} has dimension {bad} in its shape {:?}",
            what(),
            tensor.shape
        )));
    }
    if tensor.batched && tensor.shape.is_empty() {
        return Err(mismatch(format!("{} is batched but is a scalar", what())));
    }
    if let Some(data) = &tensor.data {
        if tensor.batched {
            return Err(mismatch(format!(
                "{} is a constant with a batch axis (constants have none)",
                what()
            )));
        }
        let elements = tensor
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d as usize));
        let expected = elements.and_then(|n| n.checked_mul(element_size(tensor.dtype)));
        if expected != Some(data.len()) {
            return Err(mismatch(format!(
                "{} holds {} bytes, but shape {:?} of {:?} takes {}",
                what(),
                data.len(),
                tensor.shape,
                tensor.dtype,
                expected.map_or("more than fits in memory".to_string(), |n| n.to_string())
            )));
        }
    }
    if let Some(q) = &tensor.quantization {
        quantization(q, &tensor.shape, &what)?;
    }
    Ok(())
}

fn quantization(
    q: &Quantization,
    shape: &[i32],
    what: &dyn Fn() -> String,
) -> Result<(), ExportError> {
    if q.scale.len() != q.zero_point.len() {
        return Err(mismatch(format!(
            "{} has {} quantization scales but {} zero points",
            what(),
            q.scale.len(),
            q.zero_point.len()
        )));
    }
    if q.scale.is_empty() {
        return Err(mismatch(format!("{} has no quantization scale", what())));
    }
    if let Some(bad) = q.scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(mismatch(format!(
            "{} has quantization scale {bad}; scales are finite and positive",
            what()
        )));
    }
    let dimension = usize::try_from(q.quantized_dimension)
        .ok()
        .filter(|&d| d < shape.len().max(1));
    let Some(dimension) = dimension else {
        return Err(mismatch(format!(
            "{} is quantized along dimension {}, but has rank {}",
            what(),
            q.quantized_dimension,
            shape.len()
        )));
    };
    if q.scale.len() > 1 && shape.get(dimension).map(|&d| d as usize) != Some(q.scale.len()) {
        return Err(mismatch(format!(
            "{} has {} quantization scales along dimension {dimension}, which has size {}",
            what(),
            q.scale.len(),
            shape.get(dimension).copied().unwrap_or(0)
        )));
    }
    Ok(())
}

/// How many inputs `op` takes (fewest, most) and which of them may be
/// omitted; every operator here has one output.
fn operands(op: &Op) -> (usize, usize, &'static [usize]) {
    match op {
        // The bias is optional: left out, or listed as omitted.
        Op::FullyConnected { .. } => (2, 3, &[2]),
        // LiteRT 2.3 requires the bias: CONV_2D without one fails to
        // prepare, DEPTHWISE_CONV_2D crashes when invoked.
        Op::Conv2d { .. } | Op::DepthwiseConv2d { .. } => (3, 3, &[]),
        Op::Reshape
        | Op::Transpose
        | Op::Pad
        | Op::Add { .. }
        | Op::Sub { .. }
        | Op::Mul { .. }
        | Op::Div { .. }
        | Op::Maximum
        | Op::Minimum
        | Op::Mean { .. }
        | Op::Sum { .. }
        | Op::Gather { .. }
        | Op::BatchMatMul { .. } => (2, 2, &[]),
        Op::PadV2 => (3, 3, &[]),
        Op::StridedSlice { .. } => (4, 4, &[]),
        Op::Concatenation { .. } => (1, usize::MAX, &[]),
        Op::MaxPool2d { .. }
        | Op::AveragePool2d { .. }
        | Op::Softmax { .. }
        | Op::LogSoftmax
        | Op::Relu
        | Op::Relu6
        | Op::Logistic
        | Op::Tanh
        | Op::HardSwish
        | Op::Elu
        | Op::Gelu { .. }
        | Op::LeakyRelu { .. }
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Rsqrt
        | Op::Square
        | Op::Abs
        | Op::Neg
        | Op::Quantize
        | Op::Dequantize => (1, 1, &[]),
    }
}

fn operator(operator: &Operator, what: &dyn Fn() -> String) -> Result<(), ExportError> {
    if let Op::Concatenation { activation, .. } = operator.op
        && activation != Activation::None
    {
        return Err(mismatch(format!(
            "{} fuses {activation:?}, which LiteRT's kernel refuses (and its XNNPACK delegate ignores); \
             follow it with a {activation:?} operator instead",
            what()
        )));
    }
    let (fewest, most, optional) = operands(&operator.op);
    let count = operator.inputs.len();
    if count < fewest || count > most {
        let expected = if most == usize::MAX {
            format!("at least {fewest}")
        } else if fewest == most {
            fewest.to_string()
        } else {
            format!("{fewest} to {most}")
        };
        return Err(mismatch(format!(
            "{} has {count} inputs; it takes {expected}",
            what()
        )));
    }
    if let Some(slot) = (0..count).find(|i| operator.inputs[*i].is_none() && !optional.contains(i))
    {
        return Err(mismatch(format!(
            "{} omits input {slot}, which is not optional",
            what()
        )));
    }
    if operator.outputs.len() != 1 {
        return Err(mismatch(format!(
            "{} has {} outputs; it has one",
            what(),
            operator.outputs.len()
        )));
    }
    Ok(())
}
