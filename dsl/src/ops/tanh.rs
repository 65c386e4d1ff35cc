//! `tanh`: the hyperbolic tangent, PyTorch's `nn.Tanh`.

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
        name: "tanh",
        args: &[],
    },
    summary: "hyperbolic tangent",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Tanh;

fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    Ok((Op::Tanh(Tanh), same_shape(inputs)))
}

impl LayerRules for Tanh {
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
        OnnxRule::Node(OnnxNode::over_inputs("Tanh", 1))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("torch.tanh({0})")
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Unary(TfliteUnary::Tanh);
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Tanh {
            x: cx.input(0),
            y: cx.output(),
        })
    }

    /// `dx = dy · (1 - y²)`, from the saved result.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let (y, dy) = (cx.output(), cx.dy());
            emit(cx, GradStep::Tanh { y, dy, dx }, accumulate);
        }
    }
}
