//! `flatten`: every per-sample dim into one, PyTorch's `nn.Flatten()`. A
//! view: no step, no copy, and its gradient passes through unchanged.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::Step;

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "flatten",
        args: &[],
    },
    summary: "all per-sample dims into one (nn.Flatten)",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Flatten;

/// `[d0, d1, ...] -> [d0·d1·...]`.
fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    Ok((Op::Flatten(Flatten), Shape(vec![inputs[0].elements()])))
}

impl LayerRules for Flatten {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        String::new()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `Flatten` after the batch axis: `[batch, ...] -> [batch, n]`.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let node = OnnxNode::over_inputs("Flatten", 1).attribute("axis", OnnxAttr::Int(1));
        OnnxRule::Node(node)
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("torch.flatten({0}, 1)")
    }

    /// A `RESHAPE`; from an NHWC image, the export folds the order of the
    /// elements into the dense layer reading them.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        TfliteRule::Node(TfliteNode::over_inputs(TfliteOp::Reshape, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        cx.view_input();
        None
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        cx.pass_through(0);
    }
}
