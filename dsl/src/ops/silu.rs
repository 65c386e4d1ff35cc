//! `silu`: `x · sigmoid(x)`, PyTorch's `nn.SiLU`.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite::{TfliteBinary, TfliteInput, TfliteNode, TfliteOp, TfliteRule, TfliteUnary};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxInput, OnnxNode, OnnxRule, Op,
    OpError, ParamDecl, emit, same_shape,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "silu",
        args: &[],
    },
    summary: "x * sigmoid(x)",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Silu;

fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    Ok((Op::Silu(Silu), same_shape(inputs)))
}

impl LayerRules for Silu {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        String::new()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `x · Sigmoid(x)`: opset 17 has no SiLU operator.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        use OnnxInput::{Node, Value};
        OnnxRule::Nodes(vec![
            OnnxNode::new("Sigmoid", vec![Value(0)]),
            OnnxNode::new("Mul", vec![Value(0), Node(0)]),
        ])
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("F.silu({0})")
    }

    /// `x · LOGISTIC(x)`: TFLite has no SiLU.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        use TfliteInput::{Node, Value};
        let sigmoid = TfliteOp::Unary(TfliteUnary::Logistic);
        TfliteRule::Nodes(vec![
            TfliteNode::new(sigmoid, vec![Value(0)]),
            TfliteNode::new(TfliteOp::Binary(TfliteBinary::Mul), vec![Value(0), Node(0)]),
        ])
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Silu {
            x: cx.input(0),
            y: cx.output(),
        })
    }

    /// From the input: `y` does not give back `x` (silu is not monotonic).
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let (x, dy) = (cx.input(0), cx.dy());
            emit(cx, GradStep::Silu { x, dy, dx }, accumulate);
        }
    }
}
