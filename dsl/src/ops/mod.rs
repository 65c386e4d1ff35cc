//! The ops of the language, one module each, and the registry that lists
//! them once.
//!
//! A layer's module owns its compile-time story: its signature (arguments,
//! defaults and ranges, read through typed [`Key`]s), its shape rule, its
//! parameters (PyTorch names, shapes, initialization, whether they train),
//! the text of its attributes, its lowering to the runtime's kernel
//! steps, forward and backward, and its ONNX operator ([`OnnxRule`]). Its
//! run-time story (the kernels, and how a step calls them) is in
//! `nnspec-runtime`'s `kernels/` module of the same name: the deploy
//! boundary keeps compiler code out of deployed binaries.
//!
//! Every backend reaches an op through [`LayerRules`], a trait with required
//! methods only, via [`Op::rules`], the one match over ops outside the op
//! modules; a backend rule missing for one op is a compile error. No match
//! over [`Op`] in this crate or in codegen has a wildcard arm (a test
//! checks the sources).
//!
//! [`Key`]: crate::signature::Key
// A new op must be handled explicitly wherever ops (or their steps) are
// matched: no catch-all arm may swallow it (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use std::borrow::Cow;
use std::fmt;

use nnspec_runtime::plan::{GradStep, Step};

use crate::ir::{Dtype, ParamRole, Shape};
use crate::shape::ShapeError;
use crate::signature::{ArgSpec, Bound, Signature};

mod adaptive_avgpool2d;
mod add;
mod attention;
mod avgpool1d;
mod avgpool2d;
mod batchnorm;
mod bce_with_logits;
mod concat;
mod conv1d;
mod conv2d;
mod cross_entropy;
mod dense;
mod dropout;
mod elu;
mod embedding;
mod flatten;
mod gelu;
mod global_avgpool2d;
mod hardswish;
mod l1;
mod last;
mod layernorm;
mod leaky_relu;
pub mod loss;
pub mod lowering;
mod lstm;
mod maxpool1d;
mod maxpool2d;
mod mean;
mod mse;
mod mul;
mod one_row;
pub mod onnx;
mod pool1d_window;
mod pool_window;
pub mod pytorch;
mod relu;
mod reshape;
mod sigmoid;
mod silu;
mod smooth_l1;
mod softmax;
mod softplus;
mod tanh;
pub mod tflite;

pub use adaptive_avgpool2d::AdaptiveAvgPool2d;
pub use add::Add;
pub use attention::Attention;
pub use avgpool1d::AvgPool1d;
pub use avgpool2d::AvgPool2d;
pub use batchnorm::BatchNorm;
pub use concat::Concat;
pub use conv1d::Conv1d;
pub use conv2d::Conv2d;
pub use dense::Dense;
pub use dropout::Dropout;
pub use elu::Elu;
pub use embedding::{Embedding, MAX_NUM_EMBEDDINGS};
pub use flatten::Flatten;
pub use gelu::Gelu;
pub use global_avgpool2d::GlobalAvgPool2d;
pub use hardswish::Hardswish;
pub use last::Last;
pub use layernorm::LayerNorm;
pub use leaky_relu::LeakyRelu;
pub use loss::{LOSS_NAMES, LossProblem, LossRules, rules_named};
pub use lowering::{BackwardCx, ForwardCx};
pub use lstm::Lstm;
pub use maxpool1d::MaxPool1d;
pub use maxpool2d::MaxPool2d;
pub use mean::Mean;
pub use mul::Mul;
pub use onnx::{OnnxAttr, OnnxInput, OnnxNode, OnnxRule, OnnxShape};
pub use pool_window::PoolWindow;
pub use pool1d_window::Pool1dWindow;
pub use pytorch::PytorchRule;
pub use relu::Relu;
pub use reshape::Reshape;
pub use sigmoid::Sigmoid;
pub use silu::Silu;
pub use softmax::Softmax;
pub use softplus::Softplus;
pub use tanh::Tanh;
pub use tflite::{
    PoolKind, TfliteBinary, TfliteInput, TfliteNode, TfliteOp, TfliteRule, TfliteUnary,
    TfliteWindow,
};

/// Every layer of the language, in the order the reference lists them.
pub const LAYERS: &[LayerSpec] = &[
    dense::SPEC,
    conv2d::SPEC,
    maxpool2d::SPEC,
    avgpool2d::SPEC,
    conv1d::SPEC,
    maxpool1d::SPEC,
    avgpool1d::SPEC,
    global_avgpool2d::SPEC,
    adaptive_avgpool2d::SPEC,
    flatten::SPEC,
    reshape::SPEC,
    relu::SPEC,
    leaky_relu::SPEC,
    sigmoid::SPEC,
    tanh::SPEC,
    gelu::SPEC,
    silu::SPEC,
    hardswish::SPEC,
    elu::SPEC,
    softplus::SPEC,
    softmax::SPEC,
    mean::SPEC,
    dropout::SPEC,
    batchnorm::SPEC,
    layernorm::SPEC,
    add::SPEC,
    mul::SPEC,
    concat::SPEC,
    attention::SPEC,
    lstm::SPEC,
    last::SPEC,
    embedding::SPEC,
];

/// The operation that computes a value: a model input, or one layer with
/// its resolved attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A model input (`input x: f32[...]`).
    Input,
    Dense(Dense),
    Conv2d(Conv2d),
    MaxPool2d(MaxPool2d),
    AvgPool2d(AvgPool2d),
    Conv1d(Conv1d),
    MaxPool1d(MaxPool1d),
    AvgPool1d(AvgPool1d),
    GlobalAvgPool2d(GlobalAvgPool2d),
    AdaptiveAvgPool2d(AdaptiveAvgPool2d),
    Flatten(Flatten),
    Reshape(Reshape),
    Relu(Relu),
    LeakyRelu(LeakyRelu),
    Sigmoid(Sigmoid),
    Tanh(Tanh),
    Gelu(Gelu),
    Silu(Silu),
    Hardswish(Hardswish),
    Elu(Elu),
    Softplus(Softplus),
    Softmax(Softmax),
    Mean(Mean),
    Dropout(Dropout),
    BatchNorm(BatchNorm),
    LayerNorm(LayerNorm),
    Add(Add),
    Mul(Mul),
    Concat(Concat),
    Attention(Attention),
    Lstm(Lstm),
    Last(Last),
    Embedding(Embedding),
}

impl Op {
    /// The layer's rules; `None` for a model input, which no backend lowers
    /// as an op.
    pub fn rules(&self) -> Option<&dyn LayerRules> {
        Some(match self {
            Op::Input => return None,
            Op::Dense(op) => op,
            Op::Conv2d(op) => op,
            Op::MaxPool2d(op) => op,
            Op::AvgPool2d(op) => op,
            Op::Conv1d(op) => op,
            Op::MaxPool1d(op) => op,
            Op::AvgPool1d(op) => op,
            Op::GlobalAvgPool2d(op) => op,
            Op::AdaptiveAvgPool2d(op) => op,
            Op::Flatten(op) => op,
            Op::Reshape(op) => op,
            Op::Relu(op) => op,
            Op::LeakyRelu(op) => op,
            Op::Sigmoid(op) => op,
            Op::Tanh(op) => op,
            Op::Gelu(op) => op,
            Op::Silu(op) => op,
            Op::Hardswish(op) => op,
            Op::Elu(op) => op,
            Op::Softplus(op) => op,
            Op::Softmax(op) => op,
            Op::Mean(op) => op,
            Op::Dropout(op) => op,
            Op::BatchNorm(op) => op,
            Op::LayerNorm(op) => op,
            Op::Add(op) => op,
            Op::Mul(op) => op,
            Op::Concat(op) => op,
            Op::Attention(op) => op,
            Op::Lstm(op) => op,
            Op::Last(op) => op,
            Op::Embedding(op) => op,
        })
    }

    /// The layer name as written in the language (`input` for inputs).
    pub fn name(&self) -> &'static str {
        self.rules().map_or("input", |rules| rules.spec().name())
    }

    /// The op's attributes in the language's named-argument syntax, all of
    /// them (defaults included), for the IR text and the summary.
    pub fn attributes(&self) -> String {
        self.rules()
            .map_or_else(String::new, |rules| rules.attributes())
    }
}

/// How many values a layer consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    One,
    Two,
    /// Two or more (concat).
    Many,
}

impl Arity {
    /// The fewest inputs the layer takes.
    pub fn minimum(self) -> usize {
        match self {
            Arity::One => 1,
            Arity::Two | Arity::Many => 2,
        }
    }

    pub fn accepts(self, inputs: usize) -> bool {
        match self {
            Arity::One => inputs == 1,
            Arity::Two => inputs == 2,
            Arity::Many => inputs >= 2,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Arity::One => "1 input",
            Arity::Two => "2 inputs",
            Arity::Many => "2 or more inputs",
        }
    }
}

/// A layer's shape rule and constructor: from its bound arguments and its
/// inputs' shapes to the op and its output shape.
pub type BuildFn = fn(&Bound, &[&Shape]) -> Result<(Op, Shape), OpError>;

/// What the checker needs to know of a layer before it has one: its name,
/// inputs and arguments, and how to build it.
#[derive(Clone, Copy, Debug)]
pub struct LayerSpec {
    pub arity: Arity,
    pub signature: Signature,
    /// One line for the reference and for `dslc` help.
    pub summary: &'static str,
    /// Builds the op from its bound arguments and its inputs' shapes, with
    /// its output shape (the layer's shape rule).
    pub build: BuildFn,
}

impl LayerSpec {
    pub fn name(&self) -> &'static str {
        self.signature.name
    }

    pub fn args(&self) -> &'static [ArgSpec] {
        self.signature.args
    }
}

/// The layers that read token ids (i64 values); every other layer
/// computes with f32 values.
const TOKEN_LAYERS: &[&LayerSpec] = &[&embedding::SPEC];

/// The element type a layer's inputs must have.
pub fn input_dtype(spec: &LayerSpec) -> Dtype {
    if TOKEN_LAYERS.iter().any(|t| t.name() == spec.name()) {
        Dtype::I64
    } else {
        Dtype::F32
    }
}

pub fn lookup(name: &str) -> Option<&'static LayerSpec> {
    LAYERS.iter().find(|spec| spec.name() == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    LAYERS.iter().map(LayerSpec::name)
}

/// Why a layer cannot be applied to its inputs. The checker adds where.
#[derive(Clone, Debug, PartialEq)]
pub enum OpError {
    /// A shape rule failed on the layer's (first) input: reported at the
    /// layer, with how that input got its shape.
    Shape(ShapeError),
    /// The inputs disagree with each other: reported over the whole call,
    /// showing every operand; `axis` is the one they are joined along.
    Mismatch {
        op: &'static str,
        axis: Option<usize>,
    },
    /// A rule over all the inputs together failed: reported over the whole
    /// call.
    Joined(ShapeError),
    /// An argument's value is out of the layer's range (reported at it).
    Argument { name: &'static str, reason: String },
}

impl From<ShapeError> for OpError {
    fn from(error: ShapeError) -> Self {
        OpError::Shape(error)
    }
}

/// One parameter (or buffer) a layer declares, in `state_dict` order.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamDecl {
    /// After the layer's name: `weight` makes `fc1.weight` (owned where
    /// it is numbered: `weight_ih_l0`).
    pub suffix: Cow<'static, str>,
    pub shape: Shape,
    /// Its initialization and whether the optimizer trains it.
    pub role: ParamRole,
    pub dtype: Dtype,
}

impl ParamDecl {
    pub fn f32(suffix: impl Into<Cow<'static, str>>, shape: Shape, role: ParamRole) -> Self {
        ParamDecl {
            suffix: suffix.into(),
            shape,
            role,
            dtype: Dtype::F32,
        }
    }
}

/// Everything a backend asks of a layer. Every method is required, so a
/// backend that adds one cannot forget an op.
pub trait LayerRules: fmt::Debug {
    fn spec(&self) -> &'static LayerSpec;

    /// The attributes as named arguments, defaults included (`out_features: 128, bias: true`).
    fn attributes(&self) -> String;

    /// The parameters the layer owns given its inputs' shapes.
    fn params(&self, inputs: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError>;

    /// The forward step computing the layer (`None` for a view, which
    /// only aliases its input's buffer).
    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step>;

    /// The backward steps: the gradients of the layer's inputs and
    /// parameters from the (complete) gradient of its result.
    fn differentiate(&self, cx: &mut dyn BackwardCx);

    /// The layer in an ONNX graph for inference, given its inputs' and its
    /// result's per-sample shapes.
    fn onnx(&self, inputs: &[&Shape], output: &Shape) -> OnnxRule;

    /// The layer as TFLite builtin operators for inference, given its
    /// inputs' and its result's per-sample shapes (in nnspec's axis order:
    /// the export handles TFLite's channels-last layout).
    fn tflite(&self, inputs: &[&Shape], output: &Shape) -> TfliteRule;

    /// The layer in the emitted PyTorch module, given its inputs' and its
    /// result's per-sample shapes.
    fn pytorch(&self, inputs: &[&Shape], output: &Shape) -> PytorchRule;

    /// Whether the layer's step can apply a relu that follows it (then
    /// `ForwardCx::fused_relu` and `BackwardCx::fused_relu_output` tell
    /// its rules when it does). An optimization, not a rule of meaning,
    /// so the one method with a default: a layer that says no is merely
    /// not fused.
    fn absorbs_relu(&self) -> bool {
        false
    }
}

/// `[h, w]` as written: `3` when both are equal, `[3, 5]` otherwise.
pub(crate) fn pair_text(p: [usize; 2]) -> String {
    if p[0] == p[1] {
        format!("{}", p[0])
    } else {
        format!("[{}, {}]", p[0], p[1])
    }
}

/// The shape rule of the layers that keep their input's shape.
pub(crate) fn same_shape(inputs: &[&Shape]) -> Shape {
    inputs[0].clone()
}

/// Emits a gradient step followed by the accumulation it needs, if any.
pub(crate) fn emit(cx: &mut dyn BackwardCx, step: GradStep, accumulate: Option<GradStep>) {
    cx.emit(step);
    if let Some(accumulate) = accumulate {
        cx.emit(accumulate);
    }
}
