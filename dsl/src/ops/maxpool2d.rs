//! `maxpool2d`: PyTorch's `nn.MaxPool2d` (pads with -inf; floor mode).

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::{BufferType, GradStep, Size, Step};

use super::pool_window::{self, PoolWindow};
use super::tflite::{PoolKind, TfliteNode, TfliteOp, TfliteRule, TfliteWindow};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxRule, Op, OpError, ParamDecl, emit,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "maxpool2d",
        args: pool_window::ARGS,
    },
    summary: "2-D max pooling (nn.MaxPool2d)",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct MaxPool2d {
    pub window: PoolWindow,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let window = PoolWindow::bind(args);
    let shape = window.output_shape(inputs[0])?;
    Ok((Op::MaxPool2d(MaxPool2d { window }), shape))
}

impl LayerRules for MaxPool2d {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        self.window.attributes()
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `MaxPool`, whose padding never wins a window (as PyTorch's -inf).
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        OnnxRule::Node(self.window.onnx_node("MaxPool"))
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!(
            "F.max_pool2d({{0}}, {})",
            self.window.pytorch_args()
        ))
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let w = &self.window;
        let window = TfliteWindow::pool(w.kernel, w.stride, w.padding);
        let kind = PoolKind::Max;
        TfliteRule::Node(TfliteNode::over_inputs(TfliteOp::Pool { kind, window }, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let elements = cx.output_shape().iter().product();
        let indices = cx.saved("argmax", Size::PerSample(elements), BufferType::U32);
        Some(Step::MaxPool2d {
            x: cx.input(0),
            y: cx.output(),
            indices,
            shape: self.window.plan_shape(cx.input_shape(0)),
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::MaxPool2d { indices, shape, .. } = cx.forward_step() else {
            unreachable!("maxpool values have a maxpool step")
        };
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let dy = cx.dy();
            let step = GradStep::MaxPool2d {
                dy,
                indices,
                dx,
                shape,
            };
            emit(cx, step, accumulate);
        }
    }
}
