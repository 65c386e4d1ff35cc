//! An int8 [`QPlan`] in TFLite's full-integer scheme, following the plan
//! step by step (as the ONNX QDQ export does, `crate::onnx::qdq`):
//!
//! - `Quantize` is `QUANTIZE` (f32 in, int8 out) after a `MINIMUM` that
//!   caps the values at the top of nnspec's range (below), and
//!   `Dequantize` is `DEQUANTIZE`: the model keeps f32 inputs and outputs;
//! - an int8 dense layer is `FULLY_CONNECTED` and a convolution `CONV_2D`
//!   ([`layers`]), with per-channel symmetric int8 weights (zero points 0,
//!   `quantized_dimension` 0: the filter's output channels), an int32
//!   bias at scale `x_scale · w_scale[c]`, and a fused ReLU as the
//!   operator's activation (LiteRT 2.3 runs per-channel
//!   `FULLY_CONNECTED`, with XNNPACK and with its own kernels, so a dense
//!   layer needs no detour through `CONV_2D`). Grouped and depthwise
//!   convolutions run in f32 in nnspec's int8 plan, and so here;
//! - max pooling is int8 `MAX_POOL_2D`, same quantization in and out;
//! - a `Float` step is the float export's operators for its layer, between
//!   the `DEQUANTIZE` and `QUANTIZE` steps the plan puts around it;
//!   operators whose results nothing reads (the plan quantizes every
//!   output, even one it returns in f32) are left out.
//!
//! # Activations: nnspec's `u8`, TFLite's `int8`
//!
//! nnspec keeps activations as `u8` in `0..=127` with zero point `z`;
//! TFLite's are `int8`. The export shifts every level by 128: `q_tflite =
//! q − 128`, zero point `z − 128`, the same scale, so each level stands for
//! the same real number. Weights (`-127..=127`, zero point 0) and biases
//! are nnspec's integers unchanged; LiteRT derives each channel's
//! requantization multiplier from the same f32 scales nnspec does
//! (`x_scale · w_scale[c] / y_scale` in f64, rounded to a Q31 multiplier
//! and a shift), so the i32 sums and multipliers are equal.
//!
//! # Where the integers differ
//!
//! Measured against LiteRT 2.3 on x86-64 (tests/tflite_int8.rs; the
//! layout is held to nnspec bit for bit by a naive interpreter of the
//! operators, int8/reference.rs):
//!
//! 1. **Range.** nnspec clamps every activation to `0..=127`, i.e. int8
//!    `-128..=-1`; TFLite's int8 goes on to 127. Where f32 values are
//!    quantized (the input, the results of float steps) a `MINIMUM` caps
//!    them at level 127's value first, so `QUANTIZE` saturates where
//!    nnspec does; this matters inside the calibrated range too, whose top
//!    often rounds to level 128 (the zero point is rounded to an integer,
//!    the scale is not: the digits in `[-1, 1]` get scale 2/127 and zero
//!    point 64, and a pixel at 1.0 is level 127.5). An int8 layer's
//!    result gets no cap (it would cost an int8 operator per layer): above
//!    its calibrated range it saturates at `(127 − z) · scale` in nnspec
//!    and at `(255 − z) · scale` in TFLite. Below the range both clamp at
//!    level 0 (int8 -128), and a fused ReLU clamps at the zero point in
//!    both.
//! 2. **Requantization rounding.** nnspec rounds `acc · M · 2^(shift−31)`
//!    twice, as gemmlowp and TFLite's classic reference kernels do
//!    (`SaturatingRoundingDoublingHighMul`, then `RoundingDivideByPOT`, both
//!    half away from zero). LiteRT's XNNPACK delegate (what `Interpreter`
//!    applies by default, and what a phone runs) rounds once: the sum as
//!    f32 times the f32 scale `x_scale · w_scale[c] / y_scale`, to nearest
//!    (on the digits MLP, level for level the exact product rounded once,
//!    half up); so does its reference `FULLY_CONNECTED`; its
//!    optimized builtin kernels (ruy) round the shift half up after the
//!    doubling multiply; only its reference `CONV_2D` rounds as nnspec
//!    does. The results differ by one step where the first rounding
//!    carries the product across a half-way point of the second: on the
//!    digits MLP, 9 of 5400 output levels with XNNPACK, 6 with LiteRT's
//!    builtin kernels.
//! 3. **`QUANTIZE`'s rounding.** nnspec multiplies by the scale's f32
//!    reciprocal and rounds half to even, as XNNPACK's conversion does (so
//!    the delegate agrees exactly); TFLite's builtin kernel divides by the
//!    scale and rounds half away from zero, which differs by one step where
//!    `x / scale` lies within a rounding of a half-way point.
//!
//! Everything else is equal: the integer weights and biases, the i32
//! sums, the multipliers (LiteRT derives them from the same f32 scales in
//! f64, as nnspec does), `DEQUANTIZE` (`(q − z) · scale` in f32), max
//! pooling. With XNNPACK, LiteRT's digits-MLP levels equal nnspec's
//! arithmetic with (2)'s single rounding and (1)'s wider range bit for
//! bit.
// Steps are matched exhaustively: a new step must choose its export.
#![deny(clippy::wildcard_enum_match_arm)]

mod layers;
mod layout;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use nnspec_dsl::ir;
use nnspec_runtime::plan::{BufferId, Step};
use nnspec_runtime::safetensors_file::Checkpoint;
use nnspec_runtime_core::quant::plan::{QPlan, QStep, QTensorId};
use nnspec_runtime_core::quant::{ACT_MAX, QuantParams};

use super::float::{Builder, Layout};
use super::model::{Op, Operator, Quantization, Tensor, TensorId, TensorType};
use super::{ExportError, TfModel};
use crate::quant_map::{self as map, PlanMap};
use layout::stored_dims;

/// The int8 TFLite model of `qplan`, which must have been quantized from
/// `model`.
pub(super) fn model(model: &ir::Model, qplan: &QPlan) -> Result<TfModel, ExportError> {
    let (map, weights) = map::prepare(model, qplan).map_err(ExportError::Mismatch)?;
    let mut export = Int8 {
        model,
        qplan,
        map,
        weights,
        // The builder folds a BatchNorm or fuses a ReLU only into the
        // layer it alone reads, so no int8 step reads the unfused value
        // (quantizing it would need a second reader): both stay on.
        builder: Builder::new(model),
        float: HashMap::new(),
        quantized: vec![None; qplan.tensors.len()],
    };
    export.inputs();
    for step in &qplan.steps {
        export.step(step)?;
    }
    export.outputs()?;
    Ok(without_unused(export.builder.finish()))
}

/// `tf` without the operators whose results nothing reads (the plan
/// quantizes every output even when it is read in f32) and the tensors
/// only they used.
fn without_unused(mut tf: TfModel) -> TfModel {
    let mut needed = vec![false; tf.tensors.len()];
    for id in tf.outputs.iter().chain(&tf.inputs) {
        needed[id.index()] = true;
    }
    let mut kept = vec![false; tf.operators.len()];
    for (index, operator) in tf.operators.iter().enumerate().rev() {
        if operator.outputs.iter().any(|o| needed[o.index()]) {
            kept[index] = true;
            for input in operator.inputs.iter().flatten() {
                needed[input.index()] = true;
            }
            for output in &operator.outputs {
                needed[output.index()] = true;
            }
        }
    }
    let mut renumbered = vec![None; tf.tensors.len()];
    let mut tensors = Vec::new();
    for (index, tensor) in tf.tensors.drain(..).enumerate() {
        if needed[index] {
            renumbered[index] = Some(TensorId(tensors.len() as u32));
            tensors.push(tensor);
        }
    }
    let new = |id: &TensorId| renumbered[id.index()].expect("a needed tensor");
    tf.tensors = tensors;
    let mut operators = Vec::new();
    for (operator, keep) in tf.operators.drain(..).zip(kept) {
        if keep {
            operators.push(Operator {
                op: operator.op,
                inputs: operator
                    .inputs
                    .iter()
                    .map(|i| i.as_ref().map(new))
                    .collect(),
                outputs: operator.outputs.iter().map(new).collect(),
            });
        }
    }
    tf.operators = operators;
    tf.inputs = tf.inputs.iter().map(new).collect();
    tf.outputs = tf.outputs.iter().map(new).collect();
    tf
}

/// A tensor of the TFLite model holding an nnspec value, stored in the
/// layout [`super::model`] fixes for its per-sample `dims`.
#[derive(Clone, Debug)]
struct Held {
    id: TensorId,
    /// nnspec's per-sample dims of the value (`[C, H, W]`, not NHWC).
    dims: Vec<usize>,
}

struct Int8<'m> {
    model: &'m ir::Model,
    qplan: &'m QPlan,
    map: PlanMap,
    /// The float parameters `Float` steps' layers read.
    weights: Checkpoint,
    /// The float export's builder: the model being built, unique names,
    /// and the tensor of each IR value its rules read.
    builder: Builder<'m>,
    /// The f32 tensor holding each buffer's contents so far, by the buffer
    /// views resolve to.
    float: HashMap<BufferId, Held>,
    /// The int8 tensor of each quantized tensor, once written.
    quantized: Vec<Option<Held>>,
}

impl<'m> Int8<'m> {
    /// The model's inputs, as the float export writes them. f32 inputs
    /// are stored as [`layout::stored_dims`] says; token ids, which only
    /// float steps read, stay with the builder.
    fn inputs(&mut self) {
        self.builder.inputs();
        for &input in &self.model.inputs {
            let value = self.model.value(input);
            let Some(stored) = self.builder.stored(input) else {
                continue;
            };
            let dims = value.shape.dims().to_vec();
            if value.dtype != ir::Dtype::F32 || stored.layout != Layout::boundary(dims.len()) {
                continue;
            }
            let id = stored.tensor;
            let buffer = map::root(&self.qplan.float, self.map.buffer_of(input));
            self.float.insert(buffer, Held { id, dims });
        }
    }

    fn step(&mut self, step: &QStep) -> Result<(), ExportError> {
        match step {
            QStep::Quantize { x, y } => {
                let dims = self.buffer_dims(*x)?;
                let input = self.read_float(*x, &dims)?;
                let input = self.clip_to_activation_range(input, &dims, *y);
                let name = format!("{}.quantized", self.qplan.tensor(*y).name);
                let q = self.activation_quantization(*y);
                let id = self.activation(&name, &dims, TensorType::Int8, Some(q));
                self.builder
                    .tf
                    .push_operator(Op::Quantize, vec![Some(input)], vec![id]);
                self.quantized[y.index()] = Some(Held { id, dims });
            }
            QStep::Dequantize { x, y } => {
                let input = self.held_quantized(*x)?;
                let name = format!("{}.dequantized", self.qplan.tensor(*x).name);
                let id = self.activation(&name, &input.dims, TensorType::Float32, None);
                self.builder
                    .tf
                    .push_operator(Op::Dequantize, vec![Some(input.id)], vec![id]);
                let buffer = map::root(&self.qplan.float, *y);
                let dims = input.dims;
                self.float.insert(buffer, Held { id, dims });
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

    /// A step that runs in f32: the float export's operators for the
    /// layer (or the layer and its fused relu) whose result the step
    /// writes, reading the f32 tensors the plan's steps left.
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
                let token_ids = self.model.value(input).dtype != ir::Dtype::F32;
                if values.contains(&input) || (token_ids && self.model.inputs.contains(&input)) {
                    continue;
                }
                let dims = self.model.value(input).shape.dims().to_vec();
                let tensor = self.read_float(self.map.buffer_of(input), &dims)?;
                self.builder
                    .set_value(input, tensor, Layout::boundary(dims.len()));
            }
            self.builder.value(value, &self.weights)?;
        }
        let stored = self
            .builder
            .stored(last)
            .cloned()
            .expect("the builder stores every value it builds");
        let result = self.model.value(last);
        let dims = result.shape.dims().to_vec();
        let name = result.layer.clone();
        let id = self.at_boundary(stored.tensor, &stored.layout, &dims, &name);
        let buffer = map::root(&self.qplan.float, y);
        self.float.insert(buffer, Held { id, dims });
        Ok(())
    }

    /// Every output, named as the model names it, from its buffer's final
    /// contents.
    fn outputs(&mut self) -> Result<(), ExportError> {
        for output in &self.model.outputs {
            let dims = self.model.value(output.value).shape.dims().to_vec();
            let id = self.read_float(self.map.buffer_of(output.value), &dims)?;
            self.builder
                .set_value(output.value, id, Layout::boundary(dims.len()));
        }
        // The builder names them (the DEQUANTIZE's result takes the
        // output's name) and copies one that is an input or another output.
        self.builder.outputs();
        Ok(())
    }

    /// The f32 tensor of `buffer`, as per-sample `dims`.
    fn read_float(&mut self, buffer: BufferId, dims: &[usize]) -> Result<TensorId, ExportError> {
        let root = map::root(&self.qplan.float, buffer);
        let Some(held) = self.float.get(&root).cloned() else {
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
        self.check_elements(&held, dims)?;
        Ok(self.relayout(&held, dims))
    }

    /// The int8 tensor of `id` as written.
    fn held_quantized(&self, id: QTensorId) -> Result<Held, ExportError> {
        self.quantized
            .get(id.index())
            .cloned()
            .flatten()
            .ok_or_else(|| {
                let name = self.qplan.tensors.get(id.index()).map(|t| t.name.clone());
                self.mismatch(format!(
                    "quantized tensor {} (`{}`) is read before any step writes it",
                    id.0,
                    name.unwrap_or_default()
                ))
            })
    }

    /// The int8 tensor of `id` as per-sample `dims`.
    fn read_quantized(&mut self, id: QTensorId, dims: &[usize]) -> Result<TensorId, ExportError> {
        let held = self.held_quantized(id)?;
        self.check_elements(&held, dims)?;
        Ok(self.relayout(&held, dims))
    }

    fn check_elements(&self, held: &Held, dims: &[usize]) -> Result<(), ExportError> {
        if held.dims.iter().product::<usize>() != dims.iter().product::<usize>() {
            return Err(self.mismatch(format!(
                "tensor `{}` holds {:?} per sample where {dims:?} is read",
                self.builder.tf.tensor(held.id).name,
                held.dims
            )));
        }
        Ok(())
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

    /// `MINIMUM(input, (127 − z) · scale)`: the f32 values `QUANTIZE`
    /// turns into `id`'s levels capped where nnspec's `0..=127` caps them
    /// (TFLite's int8 would go on to level 255, and the top of a
    /// calibrated range often rounds to level 128: the zero point is
    /// rounded, the range's width is not). Below the range both saturate
    /// at level 0 already.
    fn clip_to_activation_range(
        &mut self,
        input: TensorId,
        dims: &[usize],
        id: QTensorId,
    ) -> TensorId {
        let tensor = self.qplan.tensor(id);
        let top = (ACT_MAX as i32 - tensor.q.zero_point as i32) as f32 * tensor.q.scale;
        let name = format!("{}.clip", tensor.name);
        let bound = self.constant(Tensor::f32_constant(format!("{name}_max"), &[], &[top]));
        let output = self.activation(&name, dims, TensorType::Float32, None);
        self.builder
            .tf
            .push_operator(Op::Minimum, vec![Some(input), Some(bound)], vec![output]);
        output
    }

    /// TFLite's parameters for quantized tensor `id`: nnspec's scale, the
    /// zero point shifted to int8.
    fn activation_quantization(&self, id: QTensorId) -> Quantization {
        int8_quantization(self.qplan.tensor(id).q)
    }

    /// A new batched tensor with per-sample `dims` (nnspec's order; stored
    /// channels-last as [`super::model`] says).
    fn activation(
        &mut self,
        name: &str,
        dims: &[usize],
        dtype: TensorType,
        quantization: Option<Quantization>,
    ) -> TensorId {
        self.batched(name, &stored_dims(dims), dtype, quantization)
    }

    /// A new batched tensor of per-sample shape `shape` as stored.
    fn batched(
        &mut self,
        name: &str,
        shape: &[usize],
        dtype: TensorType,
        quantization: Option<Quantization>,
    ) -> TensorId {
        let mut full = vec![1];
        full.extend(shape.iter().map(|&d| d as i32));
        let name = self.builder.unique(name);
        self.builder.tf.push_tensor(Tensor {
            name,
            shape: full,
            batched: true,
            dtype,
            data: None,
            quantization,
        })
    }

    /// A constant tensor.
    fn constant(&mut self, mut tensor: Tensor) -> TensorId {
        tensor.name = self.builder.unique(&tensor.name);
        self.builder.tf.push_tensor(tensor)
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
            "the int8 plan of model `{}` cannot be exported to TFLite: {reason}",
            self.model.name
        ))
    }
}

/// nnspec's `u8` parameters as TFLite's `int8` ones: the same scale, the
/// zero point 128 lower.
fn int8_quantization(q: QuantParams) -> Quantization {
    Quantization {
        scale: vec![q.scale],
        zero_point: vec![q.zero_point as i64 - 128],
        quantized_dimension: 0,
    }
}
