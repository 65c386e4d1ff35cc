//! What a layer is in a TensorFlow Lite model, as plain data: each
//! layer's `LayerRules::tflite` answers with a [`TfliteRule`], and
//! nnspec-codegen's `tflite` module turns the answers into builtin
//! operators. As for ONNX ([`super::onnx`]), the rule stays in the op's
//! own file and this crate stays free of any flatbuffers library.
//!
//! Axes and layout. A rule speaks of the layer's values in nnspec's own
//! terms: per-sample axes in nnspec's order (`[C, H, W]`), parameters in
//! their checkpoint layout (`[out, in/groups, kh, kw]`). Where the values
//! live channels-last (TFLite's NHWC) is the export's business: it remaps
//! axes, rearranges weights and inserts the few transposes no weight can
//! absorb, so no rule needs to know how its inputs are stored.

/// How a layer appears in a TFLite model.
#[derive(Clone, Debug, PartialEq)]
pub enum TfliteRule {
    /// One operation over the layer's inputs (in order) and parameters.
    Node(TfliteNode),
    /// Operations in order, for a layer TFLite has no builtin for
    /// (`silu`, `softplus`): each may read an earlier one's result
    /// ([`TfliteInput::Node`]); the last one's result is the layer's. Every
    /// result has the layer's output shape.
    Nodes(Vec<TfliteNode>),
    /// No operator: in inference the layer passes its input on unchanged
    /// (dropout).
    Identity,
    /// The layer cannot be written with TFLite's builtin operators (with
    /// these shapes or settings); the export fails with this reason.
    Unsupported(String),
}

/// One operation and what it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct TfliteNode {
    pub op: TfliteOp,
    pub inputs: Vec<TfliteInput>,
}

impl TfliteNode {
    /// `op` over the layer's first `count` inputs.
    pub fn over_inputs(op: TfliteOp, count: usize) -> Self {
        TfliteNode {
            op,
            inputs: (0..count).map(TfliteInput::Value).collect(),
        }
    }

    pub fn new(op: TfliteOp, inputs: Vec<TfliteInput>) -> Self {
        TfliteNode { op, inputs }
    }
}

/// What an operation reads.
#[derive(Clone, Debug, PartialEq)]
pub enum TfliteInput {
    /// The layer's input `i`.
    Value(usize),
    /// The result of operation `k` of the layer's [`TfliteRule::Nodes`].
    Node(usize),
    /// An f32 scalar constant, broadcast by the arithmetic operators.
    Float(f32),
}

/// A window over the spatial axes: `[h, w]` pairs, PyTorch's meaning
/// (symmetric zero padding of `padding` on each side, floor mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TfliteWindow {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    /// A 1-D layer on `[C, L]` seen as a one-row image (`[C, 1, L]`):
    /// the `h` entries are then 1, 1, 0 and 1.
    pub one_row: bool,
}

impl TfliteWindow {
    /// A 2-D window without dilation (the pools).
    pub fn pool(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Self {
        TfliteWindow {
            kernel,
            stride,
            padding,
            dilation: [1, 1],
            one_row: false,
        }
    }

    /// A 1-D window along the length of `[C, L]`.
    pub fn one_row(kernel: usize, stride: usize, padding: usize, dilation: usize) -> Self {
        TfliteWindow {
            kernel: [1, kernel],
            stride: [1, stride],
            padding: [0, padding],
            dilation: [1, dilation],
            one_row: true,
        }
    }
}

/// How a pool combines its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    /// Padding counts as zeros in the average (`count_include_pad`).
    Average,
}

/// Elementwise functions of one value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TfliteUnary {
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Logistic,
    Tanh,
    HardSwish,
    /// `x` above 0, `exp(x) - 1` below (alpha 1: TFLite's `ELU` has no
    /// parameter).
    Elu,
    Gelu {
        approximate: bool,
    },
    Exp,
    Log,
    Abs,
    Neg,
}

/// Elementwise functions of two values of one shape (or a value and a
/// [`TfliteInput::Float`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TfliteBinary {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
}

/// The operations a rule is made of, in nnspec's terms.
#[derive(Clone, Debug, PartialEq)]
pub enum TfliteOp {
    /// `x · weightᵀ + bias` over the last axis; parameters `weight [out,
    /// in]` and, with `bias`, `bias [out]`.
    Dense {
        bias: bool,
    },
    /// A convolution on `[C, H, W]` (or `[C, L]` with a one-row window);
    /// parameters `weight [out, in/groups, kh, kw]` (`[out, in, k]`) and,
    /// with `bias`, `bias [out]`.
    Conv {
        window: TfliteWindow,
        groups: usize,
        bias: bool,
    },
    Pool {
        kind: PoolKind,
        window: TfliteWindow,
    },
    /// The mean over each channel's plane, `[C, H, W] -> [C, 1, 1]`.
    GlobalAveragePool,
    /// PyTorch's adaptive average pool to `[out_h, out_w]` where its
    /// windows differ in size (output `o` of `n` inputs averages inputs
    /// `floor(o·n/out)` up to `ceil((o+1)·n/out)`): no TFLite pool has
    /// such windows; the export averages each window's rows, then columns.
    AdaptiveAveragePool {
        out: [usize; 2],
    },
    /// Inference batch normalization over axis 0 from the running
    /// statistics; parameters `weight`, `bias`, `running_mean`,
    /// `running_var`.
    BatchNorm {
        eps: f32,
    },
    /// Normalization over the last axis; parameters `weight` and `bias`
    /// when `affine`.
    LayerNorm {
        eps: f32,
        affine: bool,
    },
    /// Rows of parameter `weight [num, dim]` picked by the token ids.
    Embedding,
    /// The last step of a `[len, features]` sequence.
    Last,
    /// Multi-head self-attention on `[len, dim]`, PyTorch's
    /// `nn.MultiheadAttention` with `x` as query, key and value; parameters
    /// `in_proj_weight [3·dim, dim]`, `in_proj_bias`, `out_proj.weight`,
    /// `out_proj.bias`. TFLite has no attention operator: the export writes
    /// `FULLY_CONNECTED`, `BATCH_MATMUL`, `SOFTMAX` and the reshapes
    /// between them.
    Attention {
        heads: usize,
        causal: bool,
    },
    /// A stacked LSTM over `[len, features]`, PyTorch's gate order and
    /// zero initial state; per layer `k` the parameters `weight_ih_l{k}`,
    /// `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`. The export unrolls
    /// the recurrence over the fixed length.
    Lstm {
        hidden: usize,
        layers: usize,
    },
    /// The same elements in the layer's output shape, row-major.
    Reshape,
    Softmax {
        axis: usize,
    },
    Concat {
        axis: usize,
    },
    /// The mean along `axis`, which is removed.
    Mean {
        axis: usize,
    },
    Unary(TfliteUnary),
    Binary(TfliteBinary),
}

/// `f` as the f32 a TFLite option or constant holds.
pub fn float(f: f64) -> f32 {
    f as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Shape;
    use crate::ops::{Dropout, LayerRules, Silu};

    #[test]
    fn silu_is_a_chain_and_dropout_is_left_out() {
        let shape = Shape(vec![4]);
        let rule = Silu.tflite(&[&shape], &shape);
        let TfliteRule::Nodes(nodes) = rule else {
            panic!("silu is a chain")
        };
        assert_eq!(nodes[0].op, TfliteOp::Unary(TfliteUnary::Logistic));
        assert_eq!(
            nodes[1].inputs,
            vec![TfliteInput::Value(0), TfliteInput::Node(0)]
        );
        let dropout = Dropout { p: 0.5 };
        assert_eq!(dropout.tflite(&[&shape], &shape), TfliteRule::Identity);
    }
}
