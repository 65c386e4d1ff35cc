//! `avgpool1d`: PyTorch's `nn.AvgPool1d` (zero padding, counted in the
//! divisor; floor mode), computed as `avgpool2d` over a one-row image.

use super::pytorch::PytorchRule;
use nnspec_runtime::plan::Step;

use super::one_row;
use super::pool1d_window::{self, Pool1dWindow};
use super::tflite::{PoolKind, TfliteNode, TfliteOp, TfliteRule, TfliteWindow};
use super::{
    Arity, AvgPool2d, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxRule, Op,
    OpError, ParamDecl,
};
use crate::ir::Shape;
use crate::shape::ShapeError;
use crate::signature::{Bound, Signature};

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "avgpool1d",
        args: pool1d_window::ARGS,
    },
    summary: "1-D average pooling (nn.AvgPool1d) on [channels, len]",
    build,
};

#[derive(Clone, Debug, PartialEq)]
pub struct AvgPool1d {
    pub window: Pool1dWindow,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let window = Pool1dWindow::bind(args);
    let shape = window.output_shape(inputs[0])?;
    Ok((Op::AvgPool1d(AvgPool1d { window }), shape))
}

impl AvgPool1d {
    fn as_image(&self) -> AvgPool2d {
        AvgPool2d {
            window: self.window.as_image(),
        }
    }
}

impl LayerRules for AvgPool1d {
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
            "F.avg_pool1d({{0}}, {})",
            self.window.pytorch_args()
        ))
    }

    /// `AVERAGE_POOL_2D` on the one-row image, padding counted in the mean.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let w = &self.window;
        let window = TfliteWindow::one_row(w.kernel, w.stride, w.padding, 1);
        let kind = PoolKind::Average;
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
