//! `last`: the last step of a `[len, features]` sequence, `x[:, -1, :]`
//! in PyTorch's batch-first terms: `[features]`.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxInput, OnnxNode, OnnxRule,
    Op, OpError, ParamDecl, emit, lstm::SEQUENCE,
};
use crate::ir::Shape;
use crate::shape::{ShapeError, expect_rank};
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "last",
        args: &[],
    },
    summary: "the last step of [len, features]: [features]",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Last;

fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    expect_rank(inputs[0], 2, SEQUENCE)?;
    Ok((Op::Last(Last), Shape(vec![inputs[0].0[1]])))
}

impl LayerRules for Last {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        String::new()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `Gather` of index -1 along the sequence axis; a scalar index would
    /// drop the axis itself, but index tensors here are 1-D, so `Squeeze`.
    fn onnx(&self, _: &[&Shape], output: &Shape) -> OnnxRule {
        use OnnxInput::{Ints, Node, Value};
        let index = Ints {
            suffix: "index",
            values: vec![-1],
        };
        let axes = Ints {
            suffix: "axes",
            values: vec![1],
        };
        OnnxRule::Nodes(vec![
            OnnxNode::new("Gather", vec![Value(0), index])
                .attribute("axis", OnnxAttr::Int(1))
                .shaped(0, vec![1, output.0[0]]),
            OnnxNode::new("Squeeze", vec![Node(0), axes]),
        ])
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("{0}[:, -1]")
    }

    /// A `STRIDED_SLICE` of the last step, its axis shrunk.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        TfliteRule::Node(TfliteNode::over_inputs(TfliteOp::Last, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let shape = cx.input_shape(0);
        let (len, features) = (shape[0], shape[1]);
        Some(Step::Last {
            x: cx.input(0),
            y: cx.output(),
            len,
            features,
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::Last { len, features, .. } = cx.forward_step() else {
            unreachable!("last lowers to a last step")
        };
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let step = GradStep::Last {
                dy: cx.dy(),
                dx,
                len,
                features,
            };
            emit(cx, step, accumulate);
        }
    }
}
