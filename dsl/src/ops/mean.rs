//! `mean`: the mean over one per-sample axis, which is dropped,
//! `torch.mean(x, dim)` (keepdim false): `[len, features] -> [features]`
//! pools a sequence.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, emit, onnx,
};
use crate::ir::Shape;
use crate::shape::{self, ShapeError};
use crate::signature::{AxisArg, Bound, Default, Key, Signature};

const AXIS: Key<AxisArg> = Key::axis(
    0,
    "axis",
    Default::Required,
    "per-sample axis to average over; negative counts from the end",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "mean",
        args: &[AXIS.spec],
    },
    summary: "mean over an axis, which is dropped ([len, f] -> [f])",
    build,
};

/// Over the per-sample axis `axis` (resolved: never negative).
#[derive(Clone, Debug, PartialEq)]
pub struct Mean {
    pub axis: usize,
}

/// At least one dim must remain: a value always has one.
fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let input = inputs[0];
    if input.rank() < 2 {
        return Err(OpError::Shape(ShapeError::Rank {
            expected: "[len, features, ...]",
            found: input.clone(),
        }));
    }
    let AxisArg(axis) = args.get(&AXIS);
    let axis = shape::axis(axis, input.rank())?;
    let mut dims = input.0.clone();
    dims.remove(axis);
    Ok((Op::Mean(Mean { axis }), Shape(dims)))
}

impl LayerRules for Mean {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("axis: {}", self.axis)
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `ReduceMean` over the axis after the batch axis, not kept (opset
    /// 17 takes `axes` as an attribute).
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let axis = onnx::int(self.axis).saturating_add(1);
        let node = OnnxNode::over_inputs("ReduceMean", 1)
            .attribute("axes", OnnxAttr::Ints(vec![axis]))
            .attribute("keepdims", OnnxAttr::Int(0));
        OnnxRule::Node(node)
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!("{{0}}.mean(dim={})", self.axis + 1))
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Mean { axis: self.axis };
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let (outer, axis_len, inner) = shape::split_at_axis(cx.input_shape(0), self.axis);
        Some(Step::Mean {
            x: cx.input(0),
            y: cx.output(),
            outer,
            axis_len,
            inner,
        })
    }

    /// `dx = dy / axis_len` at every position along the axis.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::Mean {
            outer,
            axis_len,
            inner,
            ..
        } = cx.forward_step()
        else {
            unreachable!("mean values have a mean step")
        };
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let step = GradStep::Mean {
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
