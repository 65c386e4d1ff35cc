//! `concat`: joins values along a per-sample axis, `torch.cat`; the other
//! dims must agree.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, onnx,
};
use crate::ir::Shape;
use crate::shape::{self, ShapeError, checked_shape};
use crate::signature::{AxisArg, Bound, Default, Key, Signature};

const AXIS: Key<AxisArg> = Key::axis(0, "axis", Default::Int(0), "per-sample axis to join along");

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::Many,
    signature: Signature {
        name: "concat",
        args: &[AXIS.spec],
    },
    summary: "joins values along an axis; the other dims must agree",
    build,
};

/// Along the per-sample axis `axis` (resolved: never negative).
#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    pub axis: usize,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let rank = inputs[0].rank();
    let mismatch = |axis| OpError::Mismatch { op: "concat", axis };
    if inputs.iter().any(|s| s.rank() != rank) {
        return Err(mismatch(None));
    }
    let AxisArg(axis) = args.get(&AXIS);
    let axis = shape::axis(axis, rank)?;
    let agrees = |s: &&Shape| (0..rank).all(|d| d == axis || s.0[d] == inputs[0].0[d]);
    if !inputs.iter().all(agrees) {
        return Err(mismatch(Some(axis)));
    }
    let mut dims: Vec<u128> = inputs[0].0.iter().map(|&d| d as u128).collect();
    dims[axis] = inputs.iter().map(|s| s.0[axis] as u128).sum();
    let shape = checked_shape("output", &dims).map_err(OpError::Joined)?;
    Ok((Op::Concat(Concat { axis }), shape))
}

impl LayerRules for Concat {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("axis: {}", self.axis)
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `Concat` of every input, along the axis after the batch axis.
    fn onnx(&self, inputs: &[&Shape], _: &Shape) -> OnnxRule {
        let axis = onnx::batched_axis(self.axis);
        OnnxRule::Node(OnnxNode::over_inputs("Concat", inputs.len()).attribute("axis", axis))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!("torch.cat([{{*}}], dim={})", self.axis + 1))
    }

    fn tflite(&self, inputs: &[&Shape], _: &Shape) -> TfliteRule {
        let op = TfliteOp::Concat { axis: self.axis };
        TfliteRule::Node(TfliteNode::over_inputs(op, inputs.len()))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let (outer, _, inner) = shape::split_at_axis(cx.input_shape(0), self.axis);
        let count = cx.input_count();
        Some(Step::Concat {
            inputs: (0..count).map(|i| cx.input(i)).collect(),
            lens: (0..count).map(|i| cx.input_shape(i)[self.axis]).collect(),
            outer,
            inner,
            y: cx.output(),
        })
    }

    /// One step splits the gradient among every input that needs one.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::Concat {
            lens, outer, inner, ..
        } = cx.forward_step()
        else {
            unreachable!("concat values have a concat step")
        };
        let mut dxs = Vec::new();
        let mut accumulates = Vec::new();
        for i in 0..cx.input_count() {
            match cx.contribution(i) {
                Some((dx, accumulate)) => {
                    dxs.push(Some(dx));
                    accumulates.extend(accumulate);
                }
                None => dxs.push(None),
            }
        }
        let dy = cx.dy();
        cx.emit(GradStep::Concat {
            dy,
            dxs,
            lens,
            outer,
            inner,
        });
        for accumulate in accumulates {
            cx.emit(accumulate);
        }
    }
}
