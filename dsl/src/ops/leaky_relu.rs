//! `leaky_relu`: `x` if `x > 0` else `negative_slope · x`, PyTorch's `nn.LeakyReLU`.

use super::pytorch::{PytorchRule, py_float};
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite;
use super::tflite::{TfliteNode, TfliteOp, TfliteRule, TfliteUnary};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, emit, same_shape,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Default, Key, Range, Signature};

const NEGATIVE_SLOPE: Key<f64> = Key::float(
    0,
    "negative_slope",
    Range::Any,
    Default::Float(0.01),
    "slope for negative inputs",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "leaky_relu",
        args: &[NEGATIVE_SLOPE.spec],
    },
    summary: "x if x > 0 else negative_slope * x",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct LeakyRelu {
    pub negative_slope: f64,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = LeakyRelu {
        negative_slope: args.get(&NEGATIVE_SLOPE),
    };
    Ok((Op::LeakyRelu(op), same_shape(inputs)))
}

impl LayerRules for LeakyRelu {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("negative_slope: {:?}", self.negative_slope)
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `LeakyRelu` with `alpha`, the slope the kernel uses (as f32).
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let alpha = OnnxAttr::Float(self.negative_slope as f32);
        OnnxRule::Node(OnnxNode::over_inputs("LeakyRelu", 1).attribute("alpha", alpha))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!(
            "F.leaky_relu({{0}}, {})",
            py_float(self.negative_slope)
        ))
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let alpha = tflite::float(self.negative_slope);
        let op = TfliteOp::Unary(TfliteUnary::LeakyRelu { alpha });
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::LeakyRelu {
            x: cx.input(0),
            y: cx.output(),
            negative_slope: self.negative_slope as f32,
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let step = GradStep::LeakyRelu {
                x: cx.input(0),
                dy: cx.dy(),
                dx,
                negative_slope: self.negative_slope as f32,
            };
            emit(cx, step, accumulate);
        }
    }
}
