//! Typed values and constants as ONNX messages: the batched shape of a
//! value (a named, dynamic batch axis before the IR's per-sample dims),
//! and initializers from a checkpoint's tensors.

use nnspec_dsl::ir::{Dtype, Shape};
use nnspec_dsl::ops::onnx::int;
use nnspec_runtime::safetensors_file::{Checkpoint, CheckpointError};

use super::proto::{
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, data_type, tensor_shape_proto,
    type_proto,
};

/// The name of the batch axis in every input, output and value's type:
/// the graph runs on any batch size.
pub const BATCH: &str = "batch";

/// The ONNX element type of an IR dtype.
pub fn elem_type(dtype: Dtype) -> i32 {
    match dtype {
        Dtype::F32 => data_type::FLOAT,
        Dtype::I64 => data_type::INT64,
    }
}

/// `name: dtype[batch, ...shape]`.
pub fn batched_value(name: &str, dtype: Dtype, shape: &Shape) -> ValueInfoProto {
    value_info(name, elem_type(dtype), Some(0), shape.dims())
}

/// `name: bool[batch, ...shape]` (a comparison's result).
pub fn batched_bool(name: &str, shape: &Shape) -> ValueInfoProto {
    value_info(name, data_type::BOOL, Some(0), shape.dims())
}

/// `name: dtype[...dims]` with the batch axis inserted at `axis` (a
/// time-major sequence inside a layer's chain of nodes has it second).
pub fn batched_at(name: &str, dtype: Dtype, axis: usize, dims: &[usize]) -> ValueInfoProto {
    value_info(name, elem_type(dtype), Some(axis), dims)
}

/// `name: dtype[...dims]`, with no batch axis (a chain's transposed weight).
pub fn fixed_value(name: &str, dtype: Dtype, dims: &[usize]) -> ValueInfoProto {
    value_info(name, elem_type(dtype), None, dims)
}

/// `name: elem_type[...dims]`, with the dynamic batch axis inserted at
/// `batch_axis` when there is one.
pub(super) fn value_info(
    name: &str,
    elem_type: i32,
    batch_axis: Option<usize>,
    dims: &[usize],
) -> ValueInfoProto {
    use tensor_shape_proto::Dimension;
    use tensor_shape_proto::dimension::Value;
    let mut dim: Vec<Dimension> = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(Value::DimValue(int(d))),
            denotation: String::new(),
        })
        .collect();
    if let Some(axis) = batch_axis {
        let batch = Dimension {
            value: Some(Value::DimParam(BATCH.to_string())),
            denotation: String::new(),
        };
        dim.insert(axis.min(dim.len()), batch);
    }
    let tensor = type_proto::Tensor {
        elem_type,
        shape: Some(TensorShapeProto { dim }),
    };
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

/// The checkpoint's tensor `name` as an initializer, after checking its
/// dtype and shape against the model's (the error names the tensor).
pub fn initializer(
    weights: &Checkpoint,
    name: &str,
    dtype: Dtype,
    shape: &Shape,
) -> Result<TensorProto, CheckpointError> {
    let raw_data = match dtype {
        Dtype::F32 => weights
            .f32(name, shape.dims())?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        Dtype::I64 => weights
            .i64(name, shape.dims())?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    };
    Ok(TensorProto {
        dims: shape.dims().iter().map(|&d| int(d)).collect(),
        data_type: elem_type(dtype),
        name: name.to_string(),
        raw_data,
        ..TensorProto::default()
    })
}

/// A constant 1-D int64 tensor (Reshape's target shape).
pub fn ints(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        dims: vec![int(values.len())],
        data_type: data_type::INT64,
        name: name.to_string(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

/// A constant f32 tensor of shape `dims` (attention's causal mask).
pub fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| int(d)).collect(),
        data_type: data_type::FLOAT,
        name: name.to_string(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

/// A constant f32 scalar (a rank-0 tensor), which ONNX's arithmetic
/// operators broadcast.
pub fn float_scalar(name: &str, value: f32) -> TensorProto {
    TensorProto {
        dims: Vec::new(),
        data_type: data_type::FLOAT,
        name: name.to_string(),
        raw_data: value.to_le_bytes().to_vec(),
        ..TensorProto::default()
    }
}
