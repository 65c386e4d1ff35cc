//! An int8 [`QPlan`] as a standard ONNX QDQ graph: the format
//! onnxruntime's static quantization writes and fuses into its integer
//! kernels (`QLinearConv`, `QLinearMatMul`, `QGemm`, u8 `MaxPool`).
//!
//! The graph follows the QPlan step by step:
//! - `Quantize` is a `QuantizeLinear` to `uint8` with the tensor's scale
//!   and zero point (after a `Clip`, below); `Dequantize` a
//!   `DequantizeLinear`;
//! - an int8 dense layer or convolution ([`layers`]) reads its input
//!   through `DequantizeLinear`, its `int8` weight through a per-channel
//!   `DequantizeLinear` (axis 0, zero points 0) and its `int32` bias
//!   through one at scale `x_scale · w_scale[c]`, runs the float operator
//!   (`Gemm`, `MatMul` + `Add` over positions, `Conv`), a `Relu` when one
//!   was fused, and quantizes its result with the output tensor's
//!   parameters;
//! - max pooling runs on the dequantized values and quantizes again with
//!   the same parameters (exact: quantization keeps order);
//! - a `Float` step is exported by its layer's own ONNX rule, the float
//!   export's (the layer is found by the buffer the step writes).
//!
//! Views between steps (`flatten`, `reshape`) become `Reshape` nodes
//! where a tensor's shape differs from what its reader expects.
//!
//! Activations in nnspec use `0..=127` (7 bits, see
//! `nnspec_runtime_core::quant`), while `QuantizeLinear` to `uint8`
//! saturates at 255. Where f32 values are quantized (the input, the
//! results of float steps), a `Clip` to the range `0..=127` stands for
//! comes first, so those saturate as in nnspec. An int8 layer's result
//! gets none: a `Clip` between its operator and its `QuantizeLinear` would
//! keep onnxruntime from fusing the layer. What still differs from
//! nnspec's int8 executor, then: an int8 layer's result above its
//! calibrated range is clamped to 127 by nnspec and kept (up to 255) by
//! ONNX; and nnspec requantizes with a fixed-point multiplier (rounding
//! half away from zero) where ONNX computes in float and rounds half to
//! even, so a result can differ by one step. Both are rare and small; the
//! test holds the argmax of the two to at least 99% agreement
//! (tests/onnx_int8.rs).
// Steps are matched exhaustively: a new step must choose its export.
#![deny(clippy::wildcard_enum_match_arm)]

mod layers;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use nnspec_dsl::ir;
use nnspec_dsl::ops::OnnxAttr;
use nnspec_dsl::ops::OnnxNode;
use nnspec_runtime::plan::{BufferId, Step};
use nnspec_runtime::safetensors_file::Checkpoint;
use nnspec_runtime_core::quant::ACT_MAX;
use nnspec_runtime_core::quant::plan::{QPlan, QStep, QTensorId};

use super::ExportError;
use super::graph::{Builder, node_proto};
use super::proto::{GraphProto, TensorProto, data_type};
use super::tensors::{ints, value_info};
use crate::quant_map::{self as map, PlanMap};

/// The QDQ graph of `qplan`, which must have been quantized from `model`.
pub(super) fn graph(model: &ir::Model, qplan: &QPlan) -> Result<GraphProto, ExportError> {
    let (map, weights) = map::prepare(model, qplan).map_err(ExportError::Mismatch)?;
    let mut qdq = Qdq {
        model,
        qplan,
        map,
        weights,
        builder: Builder::new(model),
        float: HashMap::new(),
        quantized: vec![None; qplan.tensors.len()],
        params: vec![None; qplan.tensors.len()],
    };
    qdq.inputs();
    for step in &qplan.steps {
        qdq.step(step)?;
    }
    qdq.outputs()?;
    Ok(qdq.builder.graph)
}

/// A tensor of the graph and its per-sample dims (the batch axis first).
#[derive(Clone, Debug)]
struct Tensor {
    name: String,
    dims: Vec<usize>,
}

/// Where a new tensor's batch axis is.
#[derive(Clone, Copy)]
enum Batch {
    /// First, before the per-sample dims.
    Leading,
    /// None: a constant's result (a dequantized weight).
    None,
}

struct Qdq<'m> {
    model: &'m ir::Model,
    qplan: &'m QPlan,
    map: PlanMap,
    /// The float parameters `Float` steps' layers read.
    weights: Checkpoint,
    /// The float export's builder: names, initializers, nodes, and the
    /// tensor of each IR value its rules read.
    builder: Builder<'m>,
    /// The f32 tensor holding each buffer's contents so far, by the buffer
    /// views resolve to.
    float: HashMap<BufferId, Tensor>,
    /// The `uint8` tensor of each quantized tensor, once written.
    quantized: Vec<Option<Tensor>>,
    /// Each quantized tensor's scale and zero-point initializers.
    params: Vec<Option<(String, String)>>,
}

impl<'m> Qdq<'m> {
    fn inputs(&mut self) {
        self.builder.inputs();
        for &input in &self.model.inputs {
            let name = self.builder.tensor[input.index()]
                .clone()
                .expect("inputs are named");
            let dims = self.model.value(input).shape.dims().to_vec();
            let buffer = map::root(&self.qplan.float, self.map.buffer_of(input));
            self.float.insert(buffer, Tensor { name, dims });
        }
    }

    fn step(&mut self, step: &QStep) -> Result<(), ExportError> {
        match step {
            QStep::Quantize { x, y } => {
                let dims = self.buffer_dims(*x)?;
                let input = self.read_float(*x, &dims)?;
                let input = self.clip_to_activation_range(&input, &dims, *y);
                let quantized = self.quantize(&input, &dims, *y);
                self.quantized[y.index()] = Some(quantized);
            }
            QStep::Dequantize { x, y } => {
                let input = self.read_quantized(*x, None)?;
                let name = self.dequantize(&input, *x);
                let buffer = map::root(&self.qplan.float, *y);
                let dims = input.dims;
                self.float.insert(buffer, Tensor { name, dims });
            }
            QStep::Dense { x, layer, y, relu } => self.dense(*x, *layer, *y, *relu)?,
            QStep::Conv2d {
                x,
                layer,
                y,
                shape,
                relu,
            } => self.conv2d(*x, *layer, *y, shape, *relu)?,
            QStep::MaxPool2d { x, y, shape } => self.maxpool2d(*x, *y, shape)?,
            QStep::Float(step) => self.float_step(step)?,
        }
        Ok(())
    }

    /// A float step, through the float export's rules of the layer (or
    /// the layer and its fused relu) whose result the step writes.
    fn float_step(&mut self, step: &Step) -> Result<(), ExportError> {
        let y = nnspec_runtime::quantize::steps::output(step);
        let values = self.map.layer_values(self.model, y);
        let Some(&last) = values.last() else {
            return Err(self.mismatch(format!(
                "a float step writes buffer `{}`, which no layer's result is",
                self.buffer_name(y)
            )));
        };
        for &value in &values {
            for &input in &self.model.value(value).inputs {
                if values.contains(&input) {
                    continue;
                }
                let dims = self.model.value(input).shape.dims().to_vec();
                let tensor = self.read_float(self.map.buffer_of(input), &dims)?;
                self.builder.tensor[input.index()] = Some(tensor);
            }
            self.builder.value(value, &self.weights)?;
        }
        let name = self.builder.tensor[last.index()]
            .clone()
            .expect("the builder names every value it builds");
        let dims = self.model.value(last).shape.dims().to_vec();
        let buffer = map::root(&self.qplan.float, y);
        self.float.insert(buffer, Tensor { name, dims });
        Ok(())
    }

    /// Every output, named as the model names it, from its buffer's
    /// final contents.
    fn outputs(&mut self) -> Result<(), ExportError> {
        for (i, output) in self.model.outputs.iter().enumerate() {
            if self.builder.output_named[i] {
                continue;
            }
            let dims = self.model.value(output.value).shape.dims().to_vec();
            let tensor = self.read_float(self.map.buffer_of(output.value), &dims)?;
            self.builder.tensor[output.value.index()] = Some(tensor);
        }
        self.builder.outputs();
        Ok(())
    }

    /// The f32 tensor of `buffer`, shaped `dims` per sample.
    fn read_float(&mut self, buffer: BufferId, dims: &[usize]) -> Result<String, ExportError> {
        let root = map::root(&self.qplan.float, buffer);
        let Some(tensor) = self.float.get(&root).cloned() else {
            // A layer inference leaves out (dropout) has no step: its
            // result is its input's.
            if let Some(&value) = self.map.values_of(buffer).last()
                && map::passes_through(self.model, value)
            {
                let input = self.model.value(value).inputs[0];
                return self.read_float(self.map.buffer_of(input), dims);
            }
            return Err(self.mismatch(format!(
                "buffer `{}` is read before any step writes it",
                self.buffer_name(buffer)
            )));
        };
        Ok(self.reshaped(&tensor, dims, data_type::FLOAT))
    }

    /// The `uint8` tensor of `id`, reshaped to `dims` per sample if given.
    fn read_quantized(
        &mut self,
        id: QTensorId,
        dims: Option<&[usize]>,
    ) -> Result<Tensor, ExportError> {
        let Some(tensor) = self.quantized.get(id.index()).cloned().flatten() else {
            let name = self.qplan.tensors.get(id.index()).map(|t| t.name.clone());
            return Err(self.mismatch(format!(
                "quantized tensor {} (`{}`) is read before any step writes it",
                id.0,
                name.unwrap_or_default()
            )));
        };
        let Some(dims) = dims else {
            return Ok(tensor);
        };
        let elements: usize = dims.iter().product();
        if elements != tensor.dims.iter().product::<usize>() {
            return Err(self.mismatch(format!(
                "quantized tensor `{}` holds {:?} per sample where {dims:?} is read",
                tensor.name, tensor.dims
            )));
        }
        let name = self.reshaped(&tensor, dims, data_type::UINT8);
        Ok(Tensor {
            name,
            dims: dims.to_vec(),
        })
    }

    /// `tensor` with per-sample dims `dims` (a `Reshape` when they differ).
    fn reshaped(&mut self, tensor: &Tensor, dims: &[usize], elem_type: i32) -> String {
        if tensor.dims == dims {
            return tensor.name.clone();
        }
        let shape = self.builder.unique(&format!("{}.shape", tensor.name));
        let mut target = vec![0i64];
        target.extend(dims.iter().map(|&d| d as i64));
        self.initializer(ints(&shape, &target));
        let node = OnnxNode::new("Reshape", Vec::new());
        let wanted = format!("{}.reshaped", tensor.name);
        let inputs = vec![tensor.name.clone(), shape];
        self.node(&node, inputs, &wanted, elem_type, Batch::Leading, dims)
    }

    /// The per-sample dims of a float buffer.
    fn buffer_dims(&self, buffer: BufferId) -> Result<Vec<usize>, ExportError> {
        self.map.dims(self.model, buffer).ok_or_else(|| {
            self.mismatch(format!(
                "buffer `{}` holds no layer's result",
                self.buffer_name(buffer)
            ))
        })
    }

    /// The scale and zero-point initializers of quantized tensor `id`.
    fn activation_params(&mut self, id: QTensorId) -> (String, String) {
        if let Some(names) = &self.params[id.index()] {
            return names.clone();
        }
        let tensor = self.qplan.tensor(id);
        let (base, q) = (tensor.name.clone(), tensor.q);
        let scale = self.builder.unique(&format!("{base}.scale"));
        let zero_point = self.builder.unique(&format!("{base}.zero_point"));
        self.initializer(scalar(&scale, data_type::FLOAT, &q.scale.to_le_bytes()));
        self.initializer(scalar(&zero_point, data_type::UINT8, &[q.zero_point]));
        self.params[id.index()] = Some((scale.clone(), zero_point.clone()));
        (scale, zero_point)
    }

    /// `Clip(input)` to the reals `0..=ACT_MAX` stand for with `id`'s
    /// parameters, so that the `QuantizeLinear` after it saturates where
    /// nnspec's 7-bit quantization does (it would at 255 instead). Only
    /// where f32 values enter the integer part: after an int8 layer's
    /// float operator a `Clip` would stop onnxruntime fusing the layer.
    fn clip_to_activation_range(&mut self, input: &str, dims: &[usize], id: QTensorId) -> String {
        let tensor = self.qplan.tensor(id);
        let (base, q) = (tensor.name.clone(), tensor.q);
        let bound = |level: u8| (level as i32 - q.zero_point as i32) as f32 * q.scale;
        let min = self.builder.unique(&format!("{base}.clip_min"));
        let max = self.builder.unique(&format!("{base}.clip_max"));
        self.initializer(scalar(&min, data_type::FLOAT, &bound(0).to_le_bytes()));
        self.initializer(scalar(
            &max,
            data_type::FLOAT,
            &bound(ACT_MAX).to_le_bytes(),
        ));
        let node = OnnxNode::new("Clip", Vec::new());
        let inputs = vec![input.to_string(), min, max];
        let wanted = format!("{base}.clipped");
        self.node(
            &node,
            inputs,
            &wanted,
            data_type::FLOAT,
            Batch::Leading,
            dims,
        )
    }

    /// `QuantizeLinear(input)` with `id`'s parameters.
    fn quantize(&mut self, input: &str, dims: &[usize], id: QTensorId) -> Tensor {
        let (scale, zero_point) = self.activation_params(id);
        let wanted = format!("{}.quantized", self.qplan.tensor(id).name);
        let node = OnnxNode::new("QuantizeLinear", Vec::new());
        let inputs = vec![input.to_string(), scale, zero_point];
        let name = self.node(
            &node,
            inputs,
            &wanted,
            data_type::UINT8,
            Batch::Leading,
            dims,
        );
        Tensor {
            name,
            dims: dims.to_vec(),
        }
    }

    /// `DequantizeLinear(input)` with `id`'s parameters.
    fn dequantize(&mut self, input: &Tensor, id: QTensorId) -> String {
        let (scale, zero_point) = self.activation_params(id);
        let wanted = format!("{}.dequantized", self.qplan.tensor(id).name);
        let node = OnnxNode::new("DequantizeLinear", Vec::new());
        let inputs = vec![input.name.clone(), scale, zero_point];
        let dims = input.dims.clone();
        self.node(
            &node,
            inputs,
            &wanted,
            data_type::FLOAT,
            Batch::Leading,
            &dims,
        )
    }

    /// Adds `node` over `inputs`, its output a new tensor named after
    /// `wanted` with a declared type; returns the output's name.
    fn node(
        &mut self,
        node: &OnnxNode,
        inputs: Vec<String>,
        wanted: &str,
        elem_type: i32,
        batch: Batch,
        dims: &[usize],
    ) -> String {
        let output = self.builder.unique(wanted);
        let batch_axis = match batch {
            Batch::Leading => Some(0),
            Batch::None => None,
        };
        let info = value_info(&output, elem_type, batch_axis, dims);
        self.builder.graph.value_info.push(info);
        let proto = node_proto(node, inputs, output.clone(), &output);
        self.builder.graph.node.push(proto);
        output
    }

    fn initializer(&mut self, tensor: TensorProto) {
        self.builder.graph.initializer.push(tensor);
    }

    fn buffer_name(&self, buffer: BufferId) -> String {
        self.qplan
            .float
            .buffers
            .get(buffer.index())
            .map_or_else(|| format!("#{}", buffer.0), |b| b.name.clone())
    }

    fn mismatch(&self, reason: String) -> ExportError {
        ExportError::Mismatch(format!(
            "the int8 plan of model `{}` cannot be exported: {reason}",
            self.model.name
        ))
    }
}

/// A constant of element type `elem_type` and shape `dims` from its
/// little-endian bytes.
fn constant(name: &str, elem_type: i32, dims: &[usize], raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: elem_type,
        name: name.to_string(),
        raw_data,
        ..TensorProto::default()
    }
}

/// A rank-0 constant (a per-tensor scale or zero point).
fn scalar(name: &str, elem_type: i32, bytes: &[u8]) -> TensorProto {
    constant(name, elem_type, &[], bytes.to_vec())
}

/// The attribute list of a node whose inputs are given by name.
fn op(op_type: &'static str, attributes: Vec<(&'static str, OnnxAttr)>) -> OnnxNode {
    let mut node = OnnxNode::new(op_type, Vec::new());
    node.attributes = attributes;
    node
}
