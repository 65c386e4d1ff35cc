//! `global_avgpool2d`: the mean of each channel, `[C, H, W] -> [C, 1, 1]`,
//! PyTorch's `nn.AdaptiveAvgPool2d(1)`. It is average pooling with one
//! window as large as the input, so it lowers to the `avgpool2d` kernels
//! (no padding: the divisor is `H·W`).

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, PoolShape, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, emit,
};
use crate::ir::Shape;
use crate::shape::{ShapeError, expect_rank};
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "global_avgpool2d",
        args: &[],
    },
    summary: "mean over each channel's plane (nn.AdaptiveAvgPool2d(1))",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct GlobalAvgPool2d;

fn build(_: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    expect_rank(inputs[0], 3, "[channels, height, width]")?;
    let shape = Shape(vec![inputs[0].0[0], 1, 1]);
    Ok((Op::GlobalAvgPool2d(GlobalAvgPool2d), shape))
}

/// The input's whole plane as one pooling window.
pub(super) fn whole_plane(input: &[usize]) -> PoolShape {
    PoolShape {
        channels: input[0],
        in_h: input[1],
        in_w: input[2],
        kernel: [input[1], input[2]],
        stride: [input[1], input[2]],
        padding: [0, 0],
    }
}

impl LayerRules for GlobalAvgPool2d {
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
        OnnxRule::Node(OnnxNode::over_inputs("GlobalAveragePool", 1))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr("F.adaptive_avg_pool2d({0}, 1)")
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        TfliteRule::Node(TfliteNode::over_inputs(TfliteOp::GlobalAveragePool, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::AvgPool2d {
            x: cx.input(0),
            y: cx.output(),
            shape: whole_plane(cx.input_shape(0)),
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::AvgPool2d { shape, .. } = cx.forward_step() else {
            unreachable!("global_avgpool2d values have an avgpool step")
        };
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let dy = cx.dy();
            emit(cx, GradStep::AvgPool2d { dy, dx, shape }, accumulate);
        }
    }
}
