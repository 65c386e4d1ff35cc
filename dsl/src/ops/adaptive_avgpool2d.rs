//! `adaptive_avgpool2d(out)`: average pooling to an output of a given size,
//! PyTorch's `nn.AdaptiveAvgPool2d(out)`. Output `o` of an axis of `n`
//! inputs averages inputs `floor(o·n/out) .. ceil((o+1)·n/out)`, so the
//! windows may differ in size and overlap when `out` does not divide `n`.

use super::pytorch::{PytorchRule, py_pair};
use nnspec_runtime::plan::{GradStep, Step};

use super::tflite::{PoolKind, TfliteNode, TfliteOp, TfliteRule, TfliteWindow};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, emit, pair_text,
};
use crate::ir::Shape;
use crate::shape::{ShapeError, expect_rank};
use crate::signature::{Bound, Default, Key, Signature};

const OUT: Key<[usize; 2]> = Key::pair(0, "out", Default::Required, "output height and width");

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "adaptive_avgpool2d",
        args: &[OUT.spec],
    },
    summary: "average pooling to a given output size (nn.AdaptiveAvgPool2d)",
    build,
};

/// `out` is `[h, w]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveAvgPool2d {
    pub out: [usize; 2],
}

/// `[C, H, W] -> [C, out_h, out_w]`; any positive size, smaller or larger
/// than the input, as PyTorch allows.
fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    expect_rank(inputs[0], 3, "[channels, height, width]")?;
    let op = AdaptiveAvgPool2d {
        out: args.get(&OUT),
    };
    let shape = Shape(vec![inputs[0].0[0], op.out[0], op.out[1]]);
    Ok((Op::AdaptiveAvgPool2d(op), shape))
}

impl LayerRules for AdaptiveAvgPool2d {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn attributes(&self) -> String {
        format!("out: {}", pair_text(self.out))
    }

    fn params(&self, _: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        Ok(Vec::new())
    }

    /// `AveragePool` when every window has one size (`out` divides the
    /// input on both axes), `GlobalAveragePool` for a 1×1 output; ONNX
    /// has no operator for windows of several sizes, and the export says
    /// so rather than writing a graph that computes something else.
    fn onnx(&self, inputs: &[&Shape], _: &Shape) -> OnnxRule {
        let [h, w] = [inputs[0].0[1], inputs[0].0[2]];
        if self.out == [1, 1] {
            return OnnxRule::Node(OnnxNode::over_inputs("GlobalAveragePool", 1));
        }
        let [oh, ow] = self.out;
        if !(h.is_multiple_of(oh) && w.is_multiple_of(ow)) {
            return OnnxRule::Unsupported(format!(
                "adaptive_avgpool2d from {h}x{w} to {oh}x{ow} has windows of several sizes, \
                 which no ONNX operator computes; choose an output size that divides the input's"
            ));
        }
        let kernel = [h / oh, w / ow];
        let node = OnnxNode::over_inputs("AveragePool", 1)
            .attribute("kernel_shape", OnnxAttr::pair(kernel))
            .attribute("strides", OnnxAttr::pair(kernel));
        OnnxRule::Node(node)
    }

    fn pytorch(&self, _: &[&Shape], _: &Shape) -> PytorchRule {
        PytorchRule::expr(format!(
            "F.adaptive_avg_pool2d({{0}}, {})",
            py_pair(self.out)
        ))
    }

    /// `AVERAGE_POOL_2D` with the window equal to its stride where the
    /// output size divides the input's; windows of several sizes otherwise.
    fn tflite(&self, inputs: &[&Shape], _: &Shape) -> TfliteRule {
        let [h, w] = [inputs[0].0[1], inputs[0].0[2]];
        let [oh, ow] = self.out;
        let op = if h.is_multiple_of(oh) && w.is_multiple_of(ow) {
            let kernel = [h / oh, w / ow];
            let window = TfliteWindow::pool(kernel, kernel, [0, 0]);
            let kind = PoolKind::Average;
            TfliteOp::Pool { kind, window }
        } else {
            TfliteOp::AdaptiveAveragePool { out: self.out }
        };
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let input = cx.input_shape(0);
        Some(Step::AdaptiveAvgPool2d {
            x: cx.input(0),
            y: cx.output(),
            channels: input[0],
            in_hw: [input[1], input[2]],
            out_hw: self.out,
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let Step::AdaptiveAvgPool2d {
            channels,
            in_hw,
            out_hw,
            ..
        } = cx.forward_step()
        else {
            unreachable!("adaptive_avgpool2d values have an adaptive pooling step")
        };
        if let Some((dx, accumulate)) = cx.contribution(0) {
            let dy = cx.dy();
            let step = GradStep::AdaptiveAvgPool2d {
                dy,
                dx,
                channels,
                in_hw,
                out_hw,
            };
            emit(cx, step, accumulate);
        }
    }
}
