//! `layernorm`: layer normalization, PyTorch's `nn.LayerNorm` over the last
//! dim: each row is shifted by its mean and scaled by `1/sqrt(var + eps)`
//! (biased variance), then by a learned `weight` and `bias` of the row's
//! size unless `elementwise_affine` is false. Unlike batchnorm, training
//! and evaluation compute the same thing.

use super::pytorch::{PytorchRule, py_float};
use nnspec_runtime::plan::{BufferType, GradStep, Size, Step};

use super::tflite;
use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxInput, OnnxNode, OnnxRule,
    Op, OpError, ParamDecl, emit, onnx, same_shape,
};
use crate::ir::{ParamRole, Shape};
use crate::shape::ShapeError;
use crate::signature::{Bound, Default, Key, Range, Signature};

const EPS: Key<f64> = Key::float(
    0,
    "eps",
    Range::Positive,
    Default::Float(1e-5),
    "added to the variance",
);
const ELEMENTWISE_AFFINE: Key<bool> = Key::bool(
    1,
    "elementwise_affine",
    Default::Bool(true),
    "whether to learn a weight and bias of the normalized size",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "layernorm",
        args: &[EPS.spec, ELEMENTWISE_AFFINE.spec],
    },
    summary: "layer normalization (nn.LayerNorm) over the last dim",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    pub eps: f64,
    pub elementwise_affine: bool,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = LayerNorm {
        eps: args.get(&EPS),
        elementwise_affine: args.get(&ELEMENTWISE_AFFINE),
    };
    Ok((Op::LayerNorm(op), same_shape(inputs)))
}

/// The normalized size: the last dim.
fn width(shape: &[usize]) -> usize {
    shape.last().copied().unwrap_or(1)
}

impl LayerRules for LayerNorm {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!(
            "eps: {:?}, elementwise_affine: {}",
            self.eps, self.elementwise_affine
        )
    }

    /// `weight` (ones) and `bias` (zeros) of the normalized shape, as
    /// PyTorch's; none without the affine part.
    fn params(&self, inputs: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        if !self.elementwise_affine {
            return Ok(Vec::new());
        }
        let normalized = Shape(vec![width(&inputs[0].0)]);
        Ok(vec![
            ParamDecl::f32("weight", normalized.clone(), ParamRole::Scale),
            ParamDecl::f32("bias", normalized, ParamRole::Shift),
        ])
    }

    /// `LayerNormalization` (opset 17) over the last axis. Its scale is
    /// required: without the affine part, a constant of ones made from
    /// the normalized shape (`ConstantOfShape` gives zeros, plus one).
    fn onnx(&self, inputs: &[&Shape], _: &Shape) -> OnnxRule {
        let layer_norm = |scale: OnnxInput| {
            OnnxNode::new("LayerNormalization", vec![OnnxInput::Value(0), scale])
                .attribute("axis", OnnxAttr::Int(-1))
                .attribute("epsilon", OnnxAttr::Float(self.eps as f32))
        };
        if self.elementwise_affine {
            return OnnxRule::Node(layer_norm(OnnxInput::Param(0)).params(1..2));
        }
        let width = width(&inputs[0].0);
        let zeros = OnnxNode::new(
            "ConstantOfShape",
            vec![OnnxInput::Ints {
                suffix: "shape",
                values: vec![onnx::int(width)],
            }],
        )
        .fixed(&[width]);
        let one = OnnxInput::Float {
            suffix: "one",
            value: 1.0,
        };
        let ones = OnnxNode::new("Add", vec![OnnxInput::Node(0), one]).fixed(&[width]);
        OnnxRule::Nodes(vec![zeros, ones, layer_norm(OnnxInput::Node(1))])
    }

    fn pytorch(&self, inputs: &[&Shape], _: &Shape) -> PytorchRule {
        let width = width(&inputs[0].0);
        if self.elementwise_affine {
            PytorchRule::module(format!("nn.LayerNorm({width}, eps={})", py_float(self.eps)))
        } else {
            // No parameters, so no submodule (and no state_dict entries).
            PytorchRule::expr(format!(
                "F.layer_norm({{0}}, ({width},), eps={})",
                py_float(self.eps)
            ))
        }
    }

    /// TFLite has no layer normalization: `MEAN`, `SUB`, `MUL`, `MEAN`,
    /// `ADD`, `RSQRT`, `MUL` (and the affine `MUL`, `ADD`).
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::LayerNorm {
            eps: tflite::float(self.eps),
            affine: self.elementwise_affine,
        };
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    /// The training pass saves each row's mean and `1/sqrt(var + eps)`.
    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let shape = cx.input_shape(0);
        let width = width(shape);
        let rows = shape.iter().product::<usize>() / width.max(1);
        let save_mean = cx.saved("mean", Size::PerSample(rows), BufferType::F32);
        let save_rstd = cx.saved("rstd", Size::PerSample(rows), BufferType::F32);
        Some(Step::LayerNorm {
            x: cx.input(0),
            y: cx.output(),
            weight: self.elementwise_affine.then(|| cx.param(0)),
            bias: self.elementwise_affine.then(|| cx.param(1)),
            save_mean,
            save_rstd,
            width,
            eps: self.eps as f32,
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::LayerNorm {
            weight,
            bias,
            save_mean,
            save_rstd,
            width,
            ..
        } = cx.forward_step()
        else {
            unreachable!("layernorm values have a layernorm step")
        };
        let (dx, accumulate) = cx.contribution(0).unzip();
        let step = GradStep::LayerNorm {
            x: cx.input(0),
            dy: cx.dy(),
            dx,
            weight,
            bias,
            save_mean,
            save_rstd,
            width,
        };
        emit(cx, step, accumulate.flatten());
    }
}
