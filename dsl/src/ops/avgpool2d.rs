//! `avgpool2d`: PyTorch's `nn.AvgPool2d` (zero padding, counted in the
//! divisor; floor mode).

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{GradStep, Step};

use super::pool_window::{self, PoolWindow};
use super::tflite::{PoolKind, TfliteNode, TfliteOp, TfliteRule, TfliteWindow};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxRule, Op, OpError,
    ParamDecl, emit,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "avgpool2d",
        args: pool_window::ARGS,
    },
    summary: "2-D average pooling (nn.AvgPool2d)",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct AvgPool2d {
    pub window: PoolWindow,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let window = PoolWindow::bind(args);
    let shape = window.output_shape(inputs[0])?;
    Ok((Op::AvgPool2d(AvgPool2d { window }), shape))
}

impl LayerRules for AvgPool2d {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        self.window.attributes()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `AveragePool` counting the zero padding in the divisor, as
    /// PyTorch's `count_include_pad=True` (ONNX's default is not to).
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let node = self
            .window
            .onnx_node("AveragePool")
            .attribute("count_include_pad", OnnxAttr::Int(1));
        OnnxRule::Node(node)
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!(
            "F.avg_pool2d({{0}}, {})",
            self.window.pytorch_args()
        ))
    }

    /// `AVERAGE_POOL_2D`, padding counted in the mean.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let w = &self.window;
        let window = TfliteWindow::pool(w.kernel, w.stride, w.padding);
        let kind = PoolKind::Average;
        TfliteRule::Node(TfliteNode::over_inputs(TfliteOp::Pool { kind, window }, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        Some(Step::AvgPool2d {
            x: cx.input(0),
            y: cx.output(),
            shape: self.window.plan_shape(cx.input_shape(0)),
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::AvgPool2d { shape, .. } = cx.forward_step() else {
            unreachable!("avgpool values have an avgpool step")
        };
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let dy = cx.dy();
            emit(cx, GradStep::AvgPool2d { dy, dx, shape }, accumulate);
        }
    }
}
