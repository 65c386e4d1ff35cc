//! The checked IR as f32 TFLite operators: one layer at a time, each from
//! its `LayerRules::tflite` rule, in the layout model.rs fixes for the
//! model's inputs and outputs (images NHWC) and whatever layout suits the
//! operators inside ([`layout`]).
//!
//! - [`layout`]: how a value is stored in its tensor;
//! - `attention` and `lstm`: self-attention and the LSTM in builtins;
//! - `adaptive`: adaptive average pooling with windows of several sizes;
//! - `ops`: the operators of each rule's operation (`window` the
//!   convolutions and pools, `norm` the normalizations, `weights` the
//!   parameters rearranged for TFLite: OHWI filters, dense columns in the
//!   order of a flattened NHWC image, batchnorm folded into the layer
//!   before it).
//!
//! Tensor names: an input keeps its binding (`x`), an output takes its
//! name (`logits`), every other result its layer's (`fc1`), a parameter
//! its checkpoint name (`fc1.weight`, also once rearranged or folded), and
//! helper tensors (transposes, paddings, constants) `{layer}.{what}`.
//!
//! [`Builder`] is the per-layer building block, shared with the int8
//! export for the layers it runs in f32.

mod adaptive;
mod attention;
pub(crate) mod layout;
mod lstm;
mod norm;
mod ops;
mod weights;
mod window;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use nnspec_dsl::ir::{self, Dtype, ValueId};
use nnspec_dsl::ops::{TfliteInput, TfliteNode, TfliteOp, TfliteRule, TfliteUnary};
use nnspec_runtime::safetensors_file::Checkpoint;

pub(crate) use layout::Layout;

use super::model::{Activation, Op, Tensor, TensorId, TensorType};
use super::{ExportError, TfModel};

/// `model` with the parameters in `weights` as f32 TFLite operators.
pub(super) fn model(model: &ir::Model, weights: &Checkpoint) -> Result<TfModel, ExportError> {
    let mut builder = Builder::new(model);
    builder.inputs();
    for index in 0..model.values.len() {
        builder.value(ValueId(index as u32), weights)?;
    }
    builder.outputs();
    Ok(builder.finish())
}

/// A value as the export holds it: its tensor, and how the tensor stores
/// the value's elements.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Stored {
    pub(super) tensor: TensorId,
    pub(super) layout: Layout,
}

/// Builds a [`TfModel`] value by value.
pub(super) struct Builder<'m> {
    pub(super) model: &'m ir::Model,
    pub(super) tf: TfModel,
    /// Every tensor name given out, and the outputs' from the start.
    taken: BTreeSet<String>,
    /// The tensor each value is read from (`None` until it is built).
    stored: Vec<Option<Stored>>,
    /// How many layers read each value (a value read twice by one layer
    /// counts twice).
    readers: Vec<usize>,
    /// Layers absorbed by the layer before them (a BatchNorm, a ReLU).
    folded: Vec<bool>,
    /// Whether a layer may absorb the BatchNorm or ReLU after it.
    fuse: bool,
}

impl<'m> Builder<'m> {
    pub(super) fn new(model: &'m ir::Model) -> Self {
        let mut readers = vec![0; model.values.len()];
        for value in &model.values {
            for input in &value.inputs {
                readers[input.index()] += 1;
            }
        }
        Builder {
            model,
            tf: TfModel {
                description: format!("nnspec {}", env!("CARGO_PKG_VERSION")),
                name: model.name.clone(),
                ..TfModel::default()
            },
            taken: model.outputs.iter().map(|o| o.name.clone()).collect(),
            stored: vec![None; model.values.len()],
            readers,
            folded: vec![false; model.values.len()],
            fuse: true,
        }
    }

    /// The model being built.
    pub(super) fn finish(self) -> TfModel {
        self.tf
    }

    /// Reads value `id` from `tensor`, stored as `layout` (for a caller
    /// that builds some values itself: the int8 export's dequantized
    /// tensors).
    pub(super) fn set_value(&mut self, id: ValueId, tensor: TensorId, layout: Layout) {
        self.stored[id.index()] = Some(Stored { tensor, layout });
    }

    /// Where value `id` is, once built.
    pub(super) fn stored(&self, id: ValueId) -> Option<&Stored> {
        self.stored[id.index()].as_ref()
    }

    /// `wanted`, or `wanted_2`, `wanted_3`, ... if it is taken.
    pub(super) fn unique(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{wanted}_{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// A new f32 activation tensor of per-sample dims `dims`.
    pub(super) fn activation(&mut self, name: &str, dims: &[usize]) -> TensorId {
        let name = self.unique(name);
        self.tf.push_tensor(Tensor::activation(name, dims))
    }

    pub(super) fn f32_constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> TensorId {
        let name = self.unique(name);
        self.tf
            .push_tensor(Tensor::f32_constant(name, dims, values))
    }

    pub(super) fn i32_constant(&mut self, name: &str, values: &[i32]) -> TensorId {
        let name = self.unique(name);
        self.tf
            .push_tensor(Tensor::i32_constant(name, &[values.len()], values))
    }

    /// Appends `op` reading `inputs` and writing a new activation of
    /// per-sample dims `dims`, named `name`; returns it.
    pub(super) fn push(
        &mut self,
        op: Op,
        inputs: Vec<Option<TensorId>>,
        name: &str,
        dims: &[usize],
    ) -> TensorId {
        let output = self.activation(name, dims);
        self.tf.push_operator(op, inputs, vec![output]);
        output
    }

    /// The model inputs in the model's order, named by their bindings,
    /// in the boundary layout (images NHWC).
    pub(super) fn inputs(&mut self) {
        for &input in &self.model.inputs {
            let value = self.model.value(input);
            let wanted = value.binding.as_ref().unwrap_or(&value.layer);
            let layout = match value.dtype {
                Dtype::F32 => Layout::boundary(value.shape.rank()),
                // Token ids index rows; they are never images.
                Dtype::I64 => Layout::natural(value.shape.rank()),
            };
            let dims = layout.tensor_dims(value.shape.dims());
            let name = self.unique(wanted);
            let mut tensor = Tensor::activation(name, &dims);
            tensor.dtype = match value.dtype {
                Dtype::F32 => TensorType::Float32,
                // Token ids as int32, the index type every TFLite GATHER
                // kernel reads (TFLite Micro's no other).
                Dtype::I64 => TensorType::Int32,
            };
            let id = self.tf.push_tensor(tensor);
            self.tf.inputs.push(id);
            self.set_value(input, id, layout);
        }
    }

    /// Appends value `id`'s operators (its layer's rule) and records its
    /// tensor. Values come in topological order: every input of `id` is
    /// built (or set) already.
    pub(super) fn value(&mut self, id: ValueId, weights: &Checkpoint) -> Result<(), ExportError> {
        let value = &self.model.values[id.index()];
        let Some(rules) = value.op.rules() else {
            // A model input, built by `inputs` (or set by the caller).
            return Ok(());
        };
        if self.folded[id.index()] {
            let input = self.stored_input(id, 0).clone();
            self.stored[id.index()] = Some(input);
            return Ok(());
        }
        let input_shapes: Vec<&ir::Shape> = value
            .inputs
            .iter()
            .map(|&i| &self.model.value(i).shape)
            .collect();
        let nodes = match rules.tflite(&input_shapes, &value.shape) {
            TfliteRule::Identity => {
                let input = self.stored_input(id, 0).clone();
                self.stored[id.index()] = Some(input);
                return Ok(());
            }
            TfliteRule::Node(node) => vec![node],
            TfliteRule::Nodes(nodes) => nodes,
            TfliteRule::Unsupported(reason) => return Err(self.unsupported(id, reason)),
        };
        let mut results: Vec<Stored> = Vec::with_capacity(nodes.len());
        for (k, node) in nodes.iter().enumerate() {
            let mut operands = Vec::with_capacity(node.inputs.len());
            for input in &node.inputs {
                operands.push(match input {
                    TfliteInput::Value(i) => ops::Operand::Value {
                        stored: self.stored_input(id, *i).clone(),
                        shape: self.model.value(value.inputs[*i]).shape.dims().to_vec(),
                    },
                    // Every result of a chain has the layer's shape.
                    TfliteInput::Node(j) => ops::Operand::Value {
                        stored: results.get(*j).cloned().ok_or_else(|| {
                            let why =
                                format!("operation {k} reads operation {j}, not an earlier one");
                            self.unsupported(id, why)
                        })?,
                        shape: value.shape.dims().to_vec(),
                    },
                    TfliteInput::Float(v) => ops::Operand::Float(*v),
                });
            }
            // Inner results of a chain are `{layer}.{k}`; the last is the
            // layer's.
            let last = k + 1 == nodes.len();
            let name = if last {
                value.layer.clone()
            } else {
                format!("{}.{k}", value.layer)
            };
            let cx = ops::LayerCx {
                id,
                name,
                last,
                weights,
            };
            let result = self.operation(&cx, &node.op, operands)?;
            results.push(result);
        }
        self.stored[id.index()] = results.pop();
        Ok(())
    }

    /// Where input `i` of value `id` is.
    fn stored_input(&self, id: ValueId, i: usize) -> &Stored {
        let input = self.model.value(id).inputs[i];
        self.stored[input.index()]
            .as_ref()
            .expect("values come in topological order")
    }

    /// The export's refusal of value `id`'s layer.
    pub(super) fn unsupported(&self, id: ValueId, reason: String) -> ExportError {
        let value = self.model.value(id);
        ExportError::Unsupported {
            layer: value.layer.clone(),
            op: value.op.name().to_string(),
            reason,
        }
    }

    /// The layer reading value `id` and its TFLite rule, when it is the
    /// only reader of `id` and `id` is no model output: an operator
    /// making `id` can then absorb that layer (a BatchNorm into its
    /// weights, a ReLU as its fused activation) if fusion is on.
    fn sole_reader(&self, id: ValueId) -> Option<(ValueId, TfliteRule)> {
        if !self.fuse
            || self.readers[id.index()] != 1
            || self.model.outputs.iter().any(|o| o.value == id)
        {
            return None;
        }
        let reader = self
            .model
            .values
            .iter()
            .position(|v| v.inputs.contains(&id))?;
        let value = &self.model.values[reader];
        let shapes: Vec<&ir::Shape> = value
            .inputs
            .iter()
            .map(|&i| &self.model.value(i).shape)
            .collect();
        let rule = value.op.rules()?.tflite(&shapes, &value.shape);
        Some((ValueId(reader as u32), rule))
    }

    /// The BatchNorm (with its epsilon) that alone reads `id`.
    pub(super) fn sole_batchnorm_reader(&self, id: ValueId) -> Option<(ValueId, f32)> {
        let (reader, rule) = self.sole_reader(id)?;
        if let TfliteRule::Node(TfliteNode {
            op: TfliteOp::BatchNorm { eps },
            ..
        }) = rule
        {
            return Some((reader, eps));
        }
        None
    }

    /// `Relu` when a ReLU alone reads `id`, which is then absorbed (the
    /// operator making `id` applies it); `None` otherwise.
    pub(super) fn absorb_relu(&mut self, id: ValueId) -> Activation {
        if let Some((reader, TfliteRule::Node(node))) = self.sole_reader(id)
            && node.op == TfliteOp::Unary(TfliteUnary::Relu)
        {
            self.mark_folded(reader);
            return Activation::Relu;
        }
        Activation::None
    }

    /// [`Builder::absorb_relu`] of value `id` for an operation whose
    /// result is its layer's; `None` inside a chain.
    fn fused_relu(&mut self, cx: &ops::LayerCx, id: ValueId) -> Activation {
        if cx.last {
            self.absorb_relu(id)
        } else {
            Activation::None
        }
    }

    /// Turns off folding a BatchNorm or a ReLU into the layer before it
    /// (for a caller that builds the layers after it itself: the int8
    /// export, whose plan fuses on its own terms).
    #[allow(dead_code)]
    pub(super) fn without_fusion(mut self) -> Self {
        self.fuse = false;
        self
    }

    /// Marks layer `id` as absorbed by the layer before it: it reads as
    /// its input.
    pub(super) fn mark_folded(&mut self, id: ValueId) {
        self.folded[id.index()] = true;
    }

    /// The model outputs, in the boundary layout, each a distinct tensor
    /// named as the output.
    pub(super) fn outputs(&mut self) {
        let mut used: BTreeSet<TensorId> = self.tf.inputs.iter().copied().collect();
        for output in &self.model.outputs {
            let value = self.model.value(output.value);
            let shape = value.shape.dims().to_vec();
            let stored = self
                .stored(output.value)
                .cloned()
                .expect("every value is built before the outputs");
            let boundary = Layout::boundary(shape.len());
            let mut tensor = self.convert(&stored, &shape, &boundary, &output.name);
            let is_constant = self.tf.tensor(tensor).data.is_some();
            if used.contains(&tensor) || is_constant {
                // Graph outputs must be distinct activations: a copy.
                let dims = boundary.tensor_dims(&shape);
                let new_shape = self.shape_constant(&output.name, &dims);
                tensor = self.push(
                    Op::Reshape,
                    vec![Some(tensor), Some(new_shape)],
                    &output.name,
                    &dims,
                );
            }
            used.insert(tensor);
            self.taken.remove(&output.name);
            let name = self.unique(&output.name);
            self.tf.tensors[tensor.index()].name = name;
            self.tf.outputs.push(tensor);
        }
    }

    /// A `RESHAPE`'s new shape: the batch (-1) and `dims`.
    pub(super) fn shape_constant(&mut self, layer: &str, dims: &[usize]) -> TensorId {
        let mut shape = vec![-1];
        shape.extend(dims.iter().map(|&d| dim(d)));
        self.i32_constant(&format!("{layer}.shape"), &shape)
    }
}

/// A dim or index as TFLite's int32. Shapes are bounded by the checker
/// (element counts fit in memory); the saturation keeps this total.
pub(super) fn dim(d: usize) -> i32 {
    i32::try_from(d).unwrap_or(i32::MAX)
}
