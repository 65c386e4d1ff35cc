//! `maxpool1d`: PyTorch's `nn.MaxPool1d` (pads with -inf; floor mode),
//! computed as `maxpool2d` over a one-row image.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::Step;

use super::one_row;
use super::pool1d_window::{self, Pool1dWindow};
use super::tflite::{PoolKind, TfliteNode, TfliteOp, TfliteRule, TfliteWindow};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, MaxPool2d, OnnxRule, Op, OpError,
    ParamDecl,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "maxpool1d",
        args: pool1d_window::ARGS,
    },
    summary: "1-D max pooling (nn.MaxPool1d) on [channels, len]",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct MaxPool1d {
    pub window: Pool1dWindow,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let window = Pool1dWindow::bind(args);
    let shape = window.output_shape(inputs[0])?;
    Ok((Op::MaxPool1d(MaxPool1d { window }), shape))
}

impl MaxPool1d {
    fn as_image(&self) -> MaxPool2d {
        MaxPool2d {
            window: self.window.as_image(),
        }
    }
}

impl LayerRules for MaxPool1d {
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
            "F.max_pool1d({{0}}, {})",
            self.window.pytorch_args()
        ))
    }

    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let w = &self.window;
        let window = TfliteWindow::one_row(w.kernel, w.stride, w.padding, 1);
        let kind = PoolKind::Max;
        TfliteRule::Node(TfliteNode::over_inputs(TfliteOp::Pool { kind, window }, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let image = self.as_image();
        one_row::lower_as_image(cx, |cx| image.lower(cx))
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        self.as_image().differentiate(cx);
    }
}
