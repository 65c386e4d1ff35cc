//! `mul`: the elementwise product of two values of one shape (also written
//! `a * b`), for gating as in GLU. `da = dy · b`, `db = dy · a`.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

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
        name: "mul",
        args: &[],
    },
    summary: "elementwise product of two values of one shape (also `a * b`)",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Mul;

/// Same shapes only, as `+`: no broadcasting.
fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    if inputs[0] != inputs[1] {
        return Err(OpError::Mismatch {
            op: "*",
            axis: None,
        });
    }
    Ok((Op::Mul(Mul), inputs[0].clone()))
}

impl LayerRules for Mul {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        String::new()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `Mul` of two equal shapes.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        OnnxRule::Node(OnnxNode::over_inputs("Mul", 2))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("{0} * {1}")
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Binary(TfliteBinary::Mul);
        TfliteRule::Node(TfliteNode::over_inputs(op, 2))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::Mul {
            a: cx.input(0),
            b: cx.input(1),
            y: cx.output(),
        })
    }

    /// One step writes both gradients (either may be unwanted); `x * x`
    /// gets its second one added to its first.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let (da, accumulate_a) = cx.contribution(0).unzip();
        let (db, accumulate_b) = cx.contribution(1).unzip();
        if da.is_none() && db.is_none() {
            return;
        }
        let step = GradStep::Mul {
            a: cx.input(0),
            b: cx.input(1),
            dy: cx.dy(),
            da,
            db,
        };
        cx.emit(step);
        for accumulate in [accumulate_a, accumulate_b].into_iter().flatten().flatten() {
            cx.emit(accumulate);
        }
    }
}
