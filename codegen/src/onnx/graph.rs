//! The checked IR as an ONNX graph: one node per layer, or a short chain
//! of them (as its `LayerRules::onnx` says), initializers for the parameters the nodes
//! read, and a type for every input, output and intermediate value.
//!
//! Tensor names: an input keeps its name (`x`), an output's value takes
//! the output's name (`logits`), every other value its layer's (`fc1`,
//! `relu_1`); parameters keep their checkpoint names (`fc1.weight`). Where
//! an output's value already has a name (an input, a second output of the
//! same value, a dropout's input), an `Identity` node gives it the
//! output's name, since graph outputs must be distinct tensors.

use std::collections::BTreeSet;

use nnspec_dsl::ir::{self, ValueId};
use nnspec_dsl::ops::{OnnxAttr, OnnxInput, OnnxNode, OnnxRule, OnnxShape};
use nnspec_runtime::safetensors_file::{Checkpoint, CheckpointError};

use super::ExportError;
use super::proto::{AttributeProto, AttributeType, GraphProto, NodeProto};
use super::tensors::{
    batched_at, batched_bool, batched_value, fixed_value, float_scalar, float_tensor, initializer,
    ints,
};

/// The graph of `model` with the parameters in `weights`.
pub fn graph(model: &ir::Model, weights: &Checkpoint) -> Result<GraphProto, ExportError> {
    let mut builder = Builder::new(model);
    builder.inputs();
    for index in 0..model.values.len() {
        builder.value(ValueId(index as u32), weights)?;
    }
    builder.outputs();
    Ok(builder.graph)
}

pub(super) struct Builder<'m> {
    model: &'m ir::Model,
    pub(super) graph: GraphProto,
    /// Every tensor name given out so far, and those reserved from the
    /// start: the parameters' and the outputs'.
    taken: BTreeSet<String>,
    /// The tensor holding each value (`None` until it is built).
    pub(super) tensor: Vec<Option<String>>,
    /// Whether output `i` already names its value's tensor.
    pub(super) output_named: Vec<bool>,
}

impl<'m> Builder<'m> {
    pub(super) fn new(model: &'m ir::Model) -> Self {
        let params = model.params.iter().map(|p| p.name.clone());
        let outputs = model.outputs.iter().map(|o| o.name.clone());
        Builder {
            model,
            graph: GraphProto {
                name: model.name.clone(),
                ..GraphProto::default()
            },
            taken: params.chain(outputs).collect(),
            tensor: vec![None; model.values.len()],
            output_named: vec![false; model.outputs.len()],
        }
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

    fn tensor_of(&self, id: ValueId) -> String {
        self.tensor[id.index()]
            .clone()
            .expect("values come in topological order")
    }

    pub(super) fn value(&mut self, id: ValueId, weights: &Checkpoint) -> Result<(), ExportError> {
        let value = &self.model.values[id.index()];
        let Some(rules) = value.op.rules() else {
            // A model input, named already.
            return Ok(());
        };
        let input_shapes: Vec<&ir::Shape> = value
            .inputs
            .iter()
            .map(|&i| &self.model.value(i).shape)
            .collect();
        let nodes = match rules.onnx(&input_shapes, &value.shape) {
            OnnxRule::Identity => {
                self.tensor[id.index()] = Some(self.tensor_of(value.inputs[0]));
                return Ok(());
            }
            OnnxRule::Node(node) => vec![node],
            OnnxRule::Nodes(nodes) => nodes,
            OnnxRule::Unsupported(reason) => {
                let layer = value.layer.clone();
                return Err(ExportError::Unsupported { layer, reason });
            }
        };
        let output = self.result_name(id);
        let is_graph_output = self.model.outputs.iter().any(|o| o.name == output);
        let mut outputs: Vec<String> = Vec::with_capacity(nodes.len());
        for (k, node) in nodes.iter().enumerate() {
            let mut inputs = Vec::with_capacity(node.inputs.len());
            for input in &node.inputs {
                inputs.push(self.node_input(id, input, &outputs, weights)?);
            }
            let last = k + 1 == nodes.len();
            // Inner nodes of a chain are named `{layer}.{k}`; the last
            // gives the layer's result its name.
            let (tensor, name) = if last {
                (output.clone(), value.layer.clone())
            } else {
                let name = self.unique(&format!("{}.{k}", value.layer));
                (name.clone(), name)
            };
            if !(last && is_graph_output) {
                let info = match &node.shape {
                    OnnxShape::Layer if node.bool_output => batched_bool(&tensor, &value.shape),
                    OnnxShape::Layer => batched_value(&tensor, value.dtype, &value.shape),
                    OnnxShape::Batched { axis, dims } => {
                        batched_at(&tensor, value.dtype, *axis, dims)
                    }
                    OnnxShape::Fixed(dims) => fixed_value(&tensor, value.dtype, dims),
                };
                self.graph.value_info.push(info);
            }
            self.graph
                .node
                .push(node_proto(node, inputs, tensor.clone(), &name));
            outputs.push(tensor);
        }
        self.tensor[id.index()] = Some(output);
        Ok(())
    }

    /// The graph inputs, in the model's order, named by their bindings.
    pub(super) fn inputs(&mut self) {
        for &input in &self.model.inputs {
            let value = self.model.value(input);
            let wanted = value.binding.as_ref().unwrap_or(&value.layer);
            let name = self.unique(wanted);
            let info = batched_value(&name, value.dtype, &value.shape);
            self.graph.input.push(info);
            self.tensor[input.index()] = Some(name);
        }
    }

    /// The first output of this value gives its name; otherwise the layer's.
    fn result_name(&mut self, id: ValueId) -> String {
        let first = self
            .model
            .outputs
            .iter()
            .position(|o| o.value == id)
            .filter(|&i| !self.output_named[i]);
        match first {
            Some(i) => {
                self.output_named[i] = true;
                self.model.outputs[i].name.clone()
            }
            None => {
                let layer = self.model.value(id).layer.clone();
                self.unique(&layer)
            }
        }
    }

    fn node_input(
        &mut self,
        id: ValueId,
        input: &OnnxInput,
        earlier: &[String],
        weights: &Checkpoint,
    ) -> Result<String, CheckpointError> {
        let value = self.model.value(id);
        Ok(match input {
            OnnxInput::Value(i) => self.tensor_of(value.inputs[*i]),
            OnnxInput::Param(position) => {
                let param = self.model.param(value.params[*position]);
                let tensor = initializer(weights, &param.name, param.dtype, &param.shape)?;
                self.graph.initializer.push(tensor);
                param.name.clone()
            }
            OnnxInput::Ints { suffix, values } => {
                let name = self.unique(&format!("{}.{suffix}", value.layer));
                self.graph.initializer.push(ints(&name, values));
                name
            }
            OnnxInput::Node(k) => earlier[*k].clone(),
            OnnxInput::Gathered { name, dims, runs } => {
                let name = self.unique(&format!("{}.{name}", value.layer));
                let mut data = Vec::new();
                for (position, run) in runs {
                    let param = self.model.param(value.params[*position]);
                    let all = weights.f32(&param.name, param.shape.dims())?;
                    data.extend_from_slice(&all[run.clone()]);
                }
                self.graph
                    .initializer
                    .push(float_tensor(&name, dims, &data));
                name
            }
            OnnxInput::Float { suffix, value: v } => {
                let name = self.unique(&format!("{}.{suffix}", value.layer));
                self.graph.initializer.push(float_scalar(&name, *v));
                name
            }
            OnnxInput::Floats {
                suffix,
                dims,
                values,
            } => {
                let name = self.unique(&format!("{}.{suffix}", value.layer));
                self.graph
                    .initializer
                    .push(float_tensor(&name, dims, values));
                name
            }
        })
    }

    /// The graph outputs, each a distinct tensor named as the output.
    pub(super) fn outputs(&mut self) {
        for (i, output) in self.model.outputs.iter().enumerate() {
            let value = self.model.value(output.value);
            if !self.output_named[i] {
                let node = NodeProto {
                    input: vec![self.tensor_of(output.value)],
                    output: vec![output.name.clone()],
                    name: format!("{}.identity", output.name),
                    op_type: "Identity".to_string(),
                    ..NodeProto::default()
                };
                self.graph.node.push(node);
            }
            let info = batched_value(&output.name, value.dtype, &value.shape);
            self.graph.output.push(info);
        }
    }
}

pub(super) fn node_proto(
    node: &OnnxNode,
    input: Vec<String>,
    output: String,
    layer: &str,
) -> NodeProto {
    NodeProto {
        input,
        output: vec![output],
        name: layer.to_string(),
        op_type: node.op_type.to_string(),
        attribute: node
            .attributes
            .iter()
            .map(|(name, value)| attribute(name, value))
            .collect(),
        ..NodeProto::default()
    }
}

fn attribute(name: &str, value: &OnnxAttr) -> AttributeProto {
    let mut attribute = AttributeProto {
        name: name.to_string(),
        ..AttributeProto::default()
    };
    match value {
        OnnxAttr::Int(i) => {
            attribute.set_type(AttributeType::Int);
            attribute.i = *i;
        }
        OnnxAttr::Float(f) => {
            attribute.set_type(AttributeType::Float);
            attribute.f = *f;
        }
        OnnxAttr::Ints(ints) => {
            attribute.set_type(AttributeType::Ints);
            attribute.ints = ints.clone();
        }
    }
    attribute
}
