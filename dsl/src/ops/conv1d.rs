//! `conv1d`: 1-D convolution, PyTorch's `nn.Conv1d`, on `[channels, len]`.
//!
//! It is computed as `conv2d` over a one-row image with a `1 × kernel`
//! filter (`one_row`): the weight `[out, in, k]` holds the same floats as
//! `[out, in, 1, k]`, so the 2-D steps run it unchanged.

use super::pytorch::{PytorchRule, py_bool};
use nnspec_runtime::plan::Step;

use super::one_row::{self, widthwise};
use super::tflite::{TfliteNode, TfliteOp, TfliteRule, TfliteWindow};
use super::{
    Arity, BackwardCx, Conv2d, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxNode, OnnxRule, Op,
    OpError, ParamDecl,
};
use crate::ir::{ParamRole, Shape};
use crate::shape::{ShapeError, checked_shape};
use crate::signature::{Bound, Default, Key, Signature};

const OUT_CHANNELS: Key<usize> =
    Key::count(0, "out_channels", Default::Required, "number of filters");
const KERNEL: Key<usize> = Key::count(1, "kernel", Default::Required, "filter length");
const STRIDE: Key<usize> = Key::count(
    2,
    "stride",
    Default::Int(1),
    "step between filter positions",
);
const PADDING: Key<usize> = Key::natural(3, "padding", Default::Int(0), "zero padding on each end");
const DILATION: Key<usize> = Key::count(
    4,
    "dilation",
    Default::Int(1),
    "spacing between filter taps",
);
const BIAS: Key<bool> = Key::bool(
    5,
    "bias",
    Default::Bool(true),
    "whether to add a learned bias",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "conv1d",
        args: &[
            OUT_CHANNELS.spec,
            KERNEL.spec,
            STRIDE.spec,
            PADDING.spec,
            DILATION.spec,
            BIAS.spec,
        ],
    },
    summary: "1-D convolution (nn.Conv1d) on [channels, len]",
    build,
};

/// Weight `[out, in, kernel]`, bias `[out]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1d {
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub bias: bool,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = Conv1d {
        out_channels: args.get(&OUT_CHANNELS),
        kernel: args.get(&KERNEL),
        stride: args.get(&STRIDE),
        padding: args.get(&PADDING),
        dilation: args.get(&DILATION),
        bias: args.get(&BIAS),
    };
    let shape = op.output_shape(inputs[0])?;
    Ok((Op::Conv1d(op), shape))
}

impl Conv1d {
    /// `[C, L] -> [out, L']` by PyTorch's window formula.
    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, ShapeError> {
        let len =
            one_row::output_len(input, self.kernel, self.stride, self.padding, self.dilation)?;
        checked_shape("output", &[self.out_channels as u128, len])
    }

    /// The same convolution over a one-row image.
    fn as_image(&self) -> Conv2d {
        Conv2d {
            out_channels: self.out_channels,
            kernel: widthwise(self.kernel, 1),
            stride: widthwise(self.stride, 1),
            padding: widthwise(self.padding, 0),
            dilation: widthwise(self.dilation, 1),
            // conv1d takes no `groups` yet (issue 11 lists it for conv2d).
            groups: 1,
            bias: self.bias,
        }
    }
}

impl LayerRules for Conv1d {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn absorbs_relu(&self) -> bool {
        true
    }

    fn attributes(&self) -> String {
        format!(
            "out_channels: {}, kernel: {}, stride: {}, padding: {}, dilation: {}, bias: {}",
            self.out_channels, self.kernel, self.stride, self.padding, self.dilation, self.bias
        )
    }

    fn params(&self, inputs: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        let in_channels = inputs[0].0[0];
        let dims = [
            self.out_channels as u128,
            in_channels as u128,
            self.kernel as u128,
        ];
        let weight = checked_shape("weight", &dims)?;
        let fan_in = in_channels * self.kernel;
        let mut params = vec![ParamDecl::f32(
            "weight",
            weight,
            ParamRole::Weight { fan_in },
        )];
        if self.bias {
            let bias = Shape(vec![self.out_channels]);
            params.push(ParamDecl::f32("bias", bias, ParamRole::Bias { fan_in }));
        }
        Ok(params)
    }

    /// `Conv(x, weight, bias)` with one spatial axis; the weight is
    /// `[out, in, k]` in both.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let params = if self.bias { 0..2 } else { 0..1 };
        let node = OnnxNode::over_inputs("Conv", 1)
            .params(params)
            .attribute("kernel_shape", OnnxAttr::single(self.kernel))
            .attribute("strides", OnnxAttr::single(self.stride))
            .attribute("pads", OnnxAttr::pads_1d(self.padding))
            .attribute("dilations", OnnxAttr::single(self.dilation))
            .attribute("group", OnnxAttr::Int(1));
        OnnxRule::Node(node)
    }

    fn pytorch(&self, inputs: &[&Shape], _: &Shape) -> PytorchRule {
        let mut args = format!(
            "nn.Conv1d({}, {}, kernel_size={}",
            inputs[0].0[0], self.out_channels, self.kernel
        );
        for (name, value, default) in [
            ("stride", self.stride, 1),
            ("padding", self.padding, 0),
            ("dilation", self.dilation, 1),
        ] {
            if value != default {
                args.push_str(&format!(", {name}={value}"));
            }
        }
        if !self.bias {
            args.push_str(&format!(", bias={}", py_bool(false)));
        }
        PytorchRule::module(args + ")")
    }

    /// `CONV_2D` on the one-row image.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let window = TfliteWindow::one_row(self.kernel, self.stride, self.padding, self.dilation);
        let op = TfliteOp::Conv {
            window,
            groups: 1,
            bias: self.bias,
        };
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let image = self.as_image();
        one_row::lower_as_image(cx, |cx| image.lower(cx))
    }

    /// The 2-D rule reads only the forward step and buffers, which are
    /// the same for a one-row image.
    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        self.as_image().differentiate(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(kernel: usize, stride: usize, padding: usize, dilation: usize) -> Conv1d {
        Conv1d {
            out_channels: 4,
            kernel,
            stride,
            padding,
            dilation,
            bias: true,
        }
    }

    #[test]
    fn window_arithmetic_matches_pytorch() {
        // nn.Conv1d(3, 4, 3, stride=2, padding=1, dilation=2) on length 10:
        // floor((10 + 2 - 2·2 - 1)/2) + 1 = 4
        assert_eq!(
            conv(3, 2, 1, 2).output_shape(&Shape(vec![3, 10])),
            Ok(Shape(vec![4, 4]))
        );
        assert!(matches!(
            conv(5, 1, 0, 1).output_shape(&Shape(vec![3, 4])),
            Err(ShapeError::Empty { .. })
        ));
        assert!(matches!(
            conv(1, 1, 0, 1).output_shape(&Shape(vec![3, 4, 4])),
            Err(ShapeError::Rank { .. })
        ));
    }

    #[test]
    fn parameters_are_conv1d_state_dict_with_its_fan_in() {
        let params = conv(5, 1, 0, 1).params(&[&Shape(vec![3, 20])]).unwrap();
        assert_eq!(params[0].shape, Shape(vec![4, 3, 5]));
        assert_eq!(params[0].role, ParamRole::Weight { fan_in: 15 });
        assert_eq!(params[1].shape, Shape(vec![4]));
        assert_eq!(params[1].role, ParamRole::Bias { fan_in: 15 });
    }

    #[test]
    fn huge_inputs_are_errors_not_overflows() {
        let big = usize::MAX / 2;
        assert!(
            conv(1, 1, big, 1)
                .output_shape(&Shape(vec![1, big]))
                .is_err()
        );
    }
}
