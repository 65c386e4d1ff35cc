//! What a layer is in ONNX, as plain data: each layer's
//! `LayerRules::onnx` answers with an [`OnnxRule`], and nnspec-codegen's
//! `onnx` module turns the answers into protobuf messages. The rule stays
//! in the op's own file beside its shape rule and lowering, and this crate
//! stays free of any protobuf library.
//!
//! Tensors at run time lead with the batch axis, which the IR leaves
//! implicit; a rule that names an axis (softmax, concat) or a shape
//! (reshape) adds it.

/// How a layer appears in an ONNX graph.
#[derive(Clone, Debug, PartialEq)]
pub enum OnnxRule {
    /// One node of the standard (`ai.onnx`) domain.
    Node(OnnxNode),
    /// Standard-domain nodes in order, for a layer opset 17 has no
    /// operator for (`gelu`, `silu`, `softplus` with `beta`): each may
    /// read an earlier one's output ([`OnnxInput::Node`]), and the last
    /// one's output is the layer's result.
    Nodes(Vec<OnnxNode>),
    /// No node: in inference the layer passes its input on unchanged
    /// (dropout), so its result is its input's tensor.
    Identity,
    /// The layer cannot be written in ONNX with these shapes; the export
    /// fails with this reason (`adaptive_avgpool2d`'s windows of several
    /// sizes).
    Unsupported(String),
}

/// One standard-domain node: its operator, inputs in the operator's
/// order, and attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxNode {
    pub op_type: &'static str,
    pub inputs: Vec<OnnxInput>,
    pub attributes: Vec<(&'static str, OnnxAttr)>,
    /// Whether the output is a bool tensor (a comparison's) rather than
    /// of the layer's dtype; it types the intermediate tensor.
    pub bool_output: bool,
    /// The output's shape, for an inner node of a chain whose tensors are
    /// not shaped like the layer's result (attention's).
    pub shape: OnnxShape,
}

/// The shape an inner node's output is declared with.
#[derive(Clone, Debug, PartialEq)]
pub enum OnnxShape {
    /// The layer's result's.
    Layer,
    /// These dims with the batch axis inserted at `axis` (0: the
    /// per-sample dims after it; a time-major sequence has it second).
    Batched { axis: usize, dims: Vec<usize> },
    /// These dims and no batch axis (a transposed weight).
    Fixed(Vec<usize>),
}

impl OnnxNode {
    /// A node over the layer's inputs, in order, and nothing else.
    pub fn over_inputs(op_type: &'static str, count: usize) -> Self {
        OnnxNode {
            op_type,
            inputs: (0..count).map(OnnxInput::Value).collect(),
            attributes: Vec::new(),
            bool_output: false,
            shape: OnnxShape::Layer,
        }
    }

    /// A node over `inputs`, for one of a [`OnnxRule::Nodes`] chain.
    pub fn new(op_type: &'static str, inputs: Vec<OnnxInput>) -> Self {
        OnnxNode {
            op_type,
            inputs,
            attributes: Vec::new(),
            bool_output: false,
            shape: OnnxShape::Layer,
        }
    }

    /// Marks the output as bool (`Greater`'s).
    pub fn bool_output(mut self) -> Self {
        self.bool_output = true;
        self
    }

    /// Declares the output `[batch, ...dims]`.
    pub fn batched(self, dims: &[usize]) -> Self {
        self.shaped(0, dims.to_vec())
    }

    /// Declares the output `dims` with the batch axis at `batch_axis`.
    pub fn shaped(mut self, batch_axis: usize, dims: Vec<usize>) -> Self {
        self.shape = OnnxShape::Batched {
            axis: batch_axis,
            dims,
        };
        self
    }

    /// Declares the output `dims`, with no batch axis.
    pub fn fixed(mut self, dims: &[usize]) -> Self {
        self.shape = OnnxShape::Fixed(dims.to_vec());
        self
    }

    /// Adds the layer's parameters at `positions` (declaration order) as
    /// the next inputs.
    pub fn params(mut self, positions: impl IntoIterator<Item = usize>) -> Self {
        self.inputs
            .extend(positions.into_iter().map(OnnxInput::Param));
        self
    }

    pub fn attribute(mut self, name: &'static str, value: OnnxAttr) -> Self {
        self.attributes.push((name, value));
        self
    }
}

/// A node input.
#[derive(Clone, Debug, PartialEq)]
pub enum OnnxInput {
    /// The layer's input `i`.
    Value(usize),
    /// The layer's parameter at this position in its declaration order:
    /// an initializer named as in the checkpoint (`fc1.weight`).
    Param(usize),
    /// A constant 1-D int64 tensor the operator takes as an input rather
    /// than an attribute (Reshape's shape), named `{layer}.{suffix}`.
    Ints {
        suffix: &'static str,
        values: Vec<i64>,
    },
    /// The output of node `k` of the layer's [`OnnxRule::Nodes`].
    Node(usize),
    /// A constant f32 scalar (broadcast by the arithmetic operators),
    /// named `{layer}.{suffix}`.
    Float { suffix: &'static str, value: f32 },
    /// A constant f32 tensor of shape `dims`, row-major `values` (the
    /// causal mask), named `{layer}.{suffix}`.
    Floats {
        suffix: &'static str,
        dims: Vec<usize>,
        values: Vec<f32>,
    },
    /// A constant f32 tensor of shape `dims` whose elements are the
    /// listed runs of the layer's parameters (each flattened: position,
    /// element range), in order: weights an operator wants rearranged
    /// (LSTM's gates in another order, an extra axis). Named
    /// `{layer}.{name}`.
    Gathered {
        name: String,
        dims: Vec<usize>,
        runs: Vec<(usize, std::ops::Range<usize>)>,
    },
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum OnnxAttr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
}

impl OnnxAttr {
    /// An `[h, w]` pair as ONNX's per-axis list.
    pub fn pair(p: [usize; 2]) -> Self {
        OnnxAttr::Ints(vec![int(p[0]), int(p[1])])
    }

    /// Symmetric padding `[h, w]` as ONNX's `pads`: every axis's start,
    /// then every axis's end.
    pub fn pads(p: [usize; 2]) -> Self {
        OnnxAttr::Ints(vec![int(p[0]), int(p[1]), int(p[0]), int(p[1])])
    }

    /// One spatial axis's setting as ONNX's per-axis list (the 1-D layers).
    pub fn single(v: usize) -> Self {
        OnnxAttr::Ints(vec![int(v)])
    }

    /// Symmetric padding of one spatial axis as ONNX's `pads`: start, end.
    pub fn pads_1d(p: usize) -> Self {
        OnnxAttr::Ints(vec![int(p), int(p)])
    }
}

/// `n` as ONNX's int64. Shapes and attributes are bounded by the checker
/// (element counts fit in memory), so saturating never happens in practice;
/// it keeps the conversion total.
pub fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A per-sample axis as an axis of the batched tensor.
pub fn batched_axis(axis: usize) -> OnnxAttr {
    OnnxAttr::Int(int(axis).saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Shape;
    use crate::ops::{Flatten, LayerRules, Reshape};

    #[test]
    fn pads_list_every_start_then_every_end() {
        assert_eq!(OnnxAttr::pads([1, 2]), OnnxAttr::Ints(vec![1, 2, 1, 2]));
        assert_eq!(batched_axis(0), OnnxAttr::Int(1));
    }

    #[test]
    fn reshape_keeps_the_batch_and_spells_out_the_shape() {
        let input = Shape(vec![16]);
        let rule = Reshape.onnx(&[&input], &Shape(vec![2, 8]));
        let OnnxRule::Node(node) = rule else {
            panic!("reshape is a node")
        };
        assert_eq!(node.op_type, "Reshape");
        assert_eq!(
            node.inputs[1],
            OnnxInput::Ints {
                suffix: "shape",
                values: vec![0, 2, 8]
            }
        );
        let OnnxRule::Node(flatten) = Flatten.onnx(&[&input], &input) else {
            panic!("flatten is a node")
        };
        assert_eq!(flatten.attributes, vec![("axis", OnnxAttr::Int(1))]);
    }
}
