//! `sigmoid`: `1 / (1 + exp(-x))`, PyTorch's `nn.Sigmoid`.

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
        name: "sigmoid",
        args: &[],
    },
    summary: "1 / (1 + exp(-x))",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Sigmoid;

fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    Ok((Op::Sigmoid(Sigmoid), same_shape(inputs)))
}

impl LayerRules for Sigmoid {
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
        OnnxRule::Node(OnnxNode::over_inputs("Sigmoid", 1))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("torch.sigmoid({0})")
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Unary(TfliteUnary::Logistic);
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Sigmoid {
            x: cx.input(0),
            y: cx.output(),
        })
    }

    /// `dx = dy · y · (1 - y)`, from the saved result.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let (y, dy) = (cx.output(), cx.dy());
            emit(cx, GradStep::Sigmoid { y, dy, dx }, accumulate);
        }
    }
}
