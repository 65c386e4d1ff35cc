//! `softmax`: `exp(x)` normalized to sum to 1 along a per-sample axis,
//! PyTorch's `nn.Softmax(dim)`.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, emit, onnx, same_shape,
};
use crate::ir::Shape;
use crate::shape::{self, ShapeError};
use crate::signature::{AxisArg, Bound, Default, Key, Signature};

const AXIS: Key<AxisArg> = Key::axis(
    0,
    "axis",
    Default::Int(-1),
    "per-sample axis; negative counts from the end",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "softmax",
        args: &[AXIS.spec],
    },
    summary: "exp(x) normalized to sum to 1 along an axis",
    build,
};

/// Over the per-sample axis `axis` (resolved: never negative).
#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    pub axis: usize,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let AxisArg(axis) = args.get(&AXIS);
    let axis = shape::axis(axis, inputs[0].rank())?;
    Ok((Op::Softmax(Softmax { axis }), same_shape(inputs)))
}

impl LayerRules for Softmax {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("axis: {}", self.axis)
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `Softmax` (opset 13 and later: along one axis) after the batch axis.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let axis = onnx::batched_axis(self.axis);
        OnnxRule::Node(OnnxNode::over_inputs("Softmax", 1).attribute("axis", axis))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!("torch.softmax({{0}}, dim={})", self.axis + 1))
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Softmax { axis: self.axis };
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let (outer, axis_len, inner) = shape::split_at_axis(cx.input_shape(0), self.axis);
        Some(Step::Softmax {
            x: cx.input(0),
            y: cx.output(),
            outer,
            axis_len,
            inner,
        })
    }

    /// `dx = y · (dy - Σ dy·y)` along the axis, from the saved result.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::Softmax {
            outer,
            axis_len,
            inner,
            ..
        } = cx.forward_step()
        else {
            unreachable!("softmax values have a softmax step")
        };
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let step = GradStep::Softmax {
                y: cx.output(),
                dy: cx.dy(),
                dx,
                outer,
                axis_len,
                inner,
            };
            emit(cx, step, accumulate);
        }
    }
}
