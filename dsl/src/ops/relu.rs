//! `relu`: `max(x, 0)`, PyTorch's `nn.ReLU`. A relu that is a dense layer's only
//! consumer is computed by the dense step (see `lower` in nnspec-codegen).

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
        name: "relu",
        args: &[],
    },
    summary: "max(x, 0)",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Relu;

fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    Ok((Op::Relu(Relu), same_shape(inputs)))
}

impl LayerRules for Relu {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        String::new()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        OnnxRule::Node(OnnxNode::over_inputs("Relu", 1))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("F.relu({0})")
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Unary(TfliteUnary::Relu);
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Relu {
            x: cx.input(0),
            y: cx.output(),
        })
    }

    /// `dx = dy` where `y > 0`, else 0 (PyTorch's choice at 0).
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let (y, dy) = (cx.output(), cx.dy());
            emit(cx, GradStep::Relu { y, dy, dx }, accumulate);
        }
    }
}
