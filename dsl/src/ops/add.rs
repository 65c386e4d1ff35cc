//! `add`: the elementwise sum of two values of one shape (also written
//! `a + b`). Its gradient passes through to both inputs unchanged.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::Step;

use super::tflite::{TfliteBinary, TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxNode, OnnxRule, Op, OpError, ParamDecl,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::Two,
    signature: Signature {
        name: "add",
        args: &[],
    },
    summary: "elementwise sum of two values of one shape (also `a + b`)",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Add;

/// Same shapes only: no broadcasting, so a mistake is not silently widened.
fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    if inputs[0] != inputs[1] {
        return Err(OpError::Mismatch {
            op: "+",
            axis: None,
        });
    }
    Ok((Op::Add(Add), inputs[0].clone()))
}

impl LayerRules for Add {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        String::new()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `Add` of two equal shapes (no broadcasting is ever needed).
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        OnnxRule::Node(OnnxNode::over_inputs("Add", 2))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("{0} + {1}")
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Binary(TfliteBinary::Add);
        TfliteRule::Node(TfliteNode::over_inputs(op, 2))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Add {
            a: cx.input(0),
            b: cx.input(1),
            y: cx.output(),
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        cx.pass_through(0);
        cx.pass_through(1);
    }
}
