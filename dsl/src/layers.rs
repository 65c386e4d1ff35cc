//! The catalogue of layers: names, how many inputs each takes, and the
//! arguments each accepts with their defaults (PyTorch's).
//!
//! docs/language.md documents the same table; a test checks that every
//! layer here appears there.

use crate::signature::{ArgSpec, ArgType, Default, Range, Signature};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    Dense,
    Conv2d,
    MaxPool2d,
    AvgPool2d,
    Flatten,
    Reshape,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
    Softmax,
    Dropout,
    BatchNorm,
    Add,
    Concat,
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

#[derive(Clone, Copy, Debug)]
pub struct LayerSpec {
    pub kind: LayerKind,
    pub arity: Arity,
    pub signature: Signature,
    /// One line for the reference and for `dslc` help.
    pub summary: &'static str,
}

impl LayerSpec {
    pub fn name(&self) -> &'static str {
        self.signature.name
    }
}

const fn arg(name: &'static str, ty: ArgType, default: Default, doc: &'static str) -> ArgSpec {
    ArgSpec::new(name, ty, default, doc)
}

const fn layer(
    kind: LayerKind,
    name: &'static str,
    arity: Arity,
    args: &'static [ArgSpec],
    summary: &'static str,
) -> LayerSpec {
    LayerSpec {
        kind,
        arity,
        signature: Signature { name, args },
        summary,
    }
}

const POOL_ARGS: &[ArgSpec] = &[
    arg("kernel", ArgType::Pair, Default::Required, "window size"),
    arg(
        "stride",
        ArgType::Pair,
        Default::SameAs("kernel"),
        "step between windows; defaults to the kernel",
    ),
    arg(
        "padding",
        ArgType::NaturalPair,
        Default::Int(0),
        "implicit padding on each side, at most half the kernel",
    ),
];

/// Every layer of the language.
pub const LAYERS: &[LayerSpec] = &[
    layer(
        LayerKind::Dense,
        "dense",
        Arity::One,
        &[
            arg(
                "out_features",
                ArgType::Count,
                Default::Required,
                "output size",
            ),
            arg(
                "bias",
                ArgType::Bool,
                Default::Bool(true),
                "whether to add a learned bias",
            ),
        ],
        "fully connected layer (nn.Linear) on [in_features]",
    ),
    layer(
        LayerKind::Conv2d,
        "conv2d",
        Arity::One,
        &[
            arg(
                "out_channels",
                ArgType::Count,
                Default::Required,
                "number of filters",
            ),
            arg("kernel", ArgType::Pair, Default::Required, "filter size"),
            arg(
                "stride",
                ArgType::Pair,
                Default::Int(1),
                "step between filter positions",
            ),
            arg(
                "padding",
                ArgType::NaturalPair,
                Default::Int(0),
                "zero padding on each side",
            ),
            arg(
                "dilation",
                ArgType::Pair,
                Default::Int(1),
                "spacing between filter taps",
            ),
            arg(
                "bias",
                ArgType::Bool,
                Default::Bool(true),
                "whether to add a learned bias",
            ),
        ],
        "2-D convolution (nn.Conv2d) on [channels, height, width]",
    ),
    layer(
        LayerKind::MaxPool2d,
        "maxpool2d",
        Arity::One,
        POOL_ARGS,
        "2-D max pooling (nn.MaxPool2d)",
    ),
    layer(
        LayerKind::AvgPool2d,
        "avgpool2d",
        Arity::One,
        POOL_ARGS,
        "2-D average pooling (nn.AvgPool2d)",
    ),
    layer(
        LayerKind::Flatten,
        "flatten",
        Arity::One,
        &[],
        "all per-sample dims into one (nn.Flatten)",
    ),
    layer(
        LayerKind::Reshape,
        "reshape",
        Arity::One,
        &[arg(
            "shape",
            ArgType::Shape,
            Default::Required,
            "new per-sample shape; one dim may be -1",
        )],
        "same elements, new per-sample shape",
    ),
    layer(LayerKind::Relu, "relu", Arity::One, &[], "max(x, 0)"),
    layer(
        LayerKind::LeakyRelu,
        "leaky_relu",
        Arity::One,
        &[arg(
            "negative_slope",
            ArgType::Float(Range::Any),
            Default::Float(0.01),
            "slope for negative inputs",
        )],
        "x if x > 0 else negative_slope * x",
    ),
    layer(
        LayerKind::Sigmoid,
        "sigmoid",
        Arity::One,
        &[],
        "1 / (1 + exp(-x))",
    ),
    layer(
        LayerKind::Tanh,
        "tanh",
        Arity::One,
        &[],
        "hyperbolic tangent",
    ),
    layer(
        LayerKind::Softmax,
        "softmax",
        Arity::One,
        &[arg(
            "axis",
            ArgType::Axis,
            Default::Int(-1),
            "per-sample axis; negative counts from the end",
        )],
        "exp(x) normalized to sum to 1 along an axis",
    ),
    layer(
        LayerKind::Dropout,
        "dropout",
        Arity::One,
        &[arg(
            "p",
            ArgType::Float(Range::UnitHalfOpen),
            Default::Float(0.5),
            "probability of zeroing an element in training",
        )],
        "inverted dropout in training, identity in evaluation",
    ),
    layer(
        LayerKind::BatchNorm,
        "batchnorm",
        Arity::One,
        &[
            arg(
                "eps",
                ArgType::Float(Range::Positive),
                Default::Float(1e-5),
                "added to the variance",
            ),
            arg(
                "momentum",
                ArgType::Float(Range::Unit),
                Default::Float(0.1),
                "weight of the new batch in the running statistics",
            ),
        ],
        "batch normalization (nn.BatchNorm1d on [features], nn.BatchNorm2d on [C, H, W])",
    ),
    layer(
        LayerKind::Add,
        "add",
        Arity::Two,
        &[],
        "elementwise sum of two values of one shape (also `a + b`)",
    ),
    layer(
        LayerKind::Concat,
        "concat",
        Arity::Many,
        &[arg(
            "axis",
            ArgType::Axis,
            Default::Int(0),
            "per-sample axis to join along",
        )],
        "joins values along an axis; the other dims must agree",
    ),
];

pub fn lookup(name: &str) -> Option<&'static LayerSpec> {
    LAYERS.iter().find(|spec| spec.name() == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    LAYERS.iter().map(LayerSpec::name)
}
