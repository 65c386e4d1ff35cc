//! `hardswish`: `x · relu6(x + 3) / 6`, PyTorch's `nn.Hardswish`.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule, TfliteUnary};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, emit, same_shape,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "hardswish",
        args: &[],
    },
    summary: "x * min(max(x + 3, 0), 6) / 6",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Hardswish;

fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    Ok((Op::Hardswish(Hardswish), same_shape(inputs)))
}

impl LayerRules for Hardswish {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        String::new()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `HardSwish` (opset 14): `x · max(0, min(1, x/6 + 1/2))`, the same
    /// function (rounded differently).
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        OnnxRule::Node(OnnxNode::over_inputs("HardSwish", 1))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("F.hardswish({0})")
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Unary(TfliteUnary::HardSwish);
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Hardswish {
            x: cx.input(0),
            y: cx.output(),
        })
    }

    /// From the input: `y` does not give back `x` below 0.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let (x, dy) = (cx.input(0), cx.dy());
            emit(cx, GradStep::Hardswish { x, dy, dx }, accumulate);
        }
    }
}
