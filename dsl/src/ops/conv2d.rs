//! `conv2d`: 2-D convolution, PyTorch's `nn.Conv2d`, on `[channels, height, width]`,
//! grouped (`groups`, depthwise when it equals the input's channels) or not.

use super::pytorch::{PytorchRule, py_bool, py_pair};
use nnspec_runtime::plan::{ConvShape, GradStep, Step};

use super::tflite::{TfliteNode, TfliteOp, TfliteRule, TfliteWindow};
use super::{
    Arity, BackwardCx, ForwardCx, LayerRules, LayerSpec, OnnxAttr, OnnxNode, OnnxRule, Op, OpError,
    ParamDecl, emit, pair_text,
};
use crate::ir::{ParamRole, Shape};
use crate::shape::{ShapeError, checked_shape, expect_rank, window_out};
use crate::signature::{Bound, Default, Key, Signature};

const OUT_CHANNELS: Key<usize> =
    Key::count(0, "out_channels", Default::Required, "number of filters");
const KERNEL: Key<[usize; 2]> = Key::pair(1, "kernel", Default::Required, "filter size");
const STRIDE: Key<[usize; 2]> = Key::pair(
    2,
    "stride",
    Default::Int(1),
    "step between filter positions",
);
const PADDING: Key<[usize; 2]> =
    Key::natural_pair(3, "padding", Default::Int(0), "zero padding on each side");
const DILATION: Key<[usize; 2]> = Key::pair(
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
// After `bias` (PyTorch has it before): positional calls written before
// groups existed keep their meaning.
const GROUPS: Key<usize> = Key::count(
    6,
    "groups",
    Default::Int(1),
    "channel groups, each convolved on its own",
);

pub(super) const SPEC: LayerSpec = LayerSpec {
    arity: Arity::One,
    signature: Signature {
        name: "conv2d",
        args: &[
            OUT_CHANNELS.spec,
            KERNEL.spec,
            STRIDE.spec,
            PADDING.spec,
            DILATION.spec,
            BIAS.spec,
            GROUPS.spec,
        ],
    },
    summary: "2-D convolution (nn.Conv2d) on [channels, height, width]",
    build,
};

/// Weight `[out, in/groups, kh, kw]`, bias `[out]`. Pairs are `[h, w]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub bias: bool,
    pub groups: usize,
}

fn build(args: &Bound, inputs: &[&Shape]) -> Result<(Op, Shape), OpError> {
    let op = Conv2d {
        out_channels: args.get(&OUT_CHANNELS),
        kernel: args.get(&KERNEL),
        stride: args.get(&STRIDE),
        padding: args.get(&PADDING),
        dilation: args.get(&DILATION),
        bias: args.get(&BIAS),
        groups: args.get(&GROUPS),
    };
    let shape = op.output_shape(inputs[0])?;
    Ok((Op::Conv2d(op), shape))
}

impl Conv2d {
    /// `[C, H, W] -> [out, H', W']`, each spatial axis by PyTorch's window formula.
    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, ShapeError> {
        expect_rank(input, 3, "[channels, height, width]")?;
        for (what, channels) in [
            ("input channels", input.0[0]),
            ("out_channels", self.out_channels),
        ] {
            if !channels.is_multiple_of(self.groups) {
                return Err(ShapeError::NotDivisible {
                    what,
                    value: channels,
                    arg: "groups",
                    divisor: self.groups,
                });
            }
        }
        let axis = |name, a: usize| {
            let (k, s, p, d) = (
                self.kernel[a],
                self.stride[a],
                self.padding[a],
                self.dilation[a],
            );
            window_out(name, input.0[1 + a], k, s, p, d)
        };
        let (h, w) = (axis("height", 0)?, axis("width", 1)?);
        checked_shape("output", &[self.out_channels as u128, h, w])
    }
}

impl LayerRules for Conv2d {
    fn spec(&self) -> &'static LayerSpec {
        &SPEC
    }

    fn absorbs_relu(&self) -> bool {
        true
    }

    fn attributes(&self) -> String {
        format!(
            "out_channels: {}, kernel: {}, stride: {}, padding: {}, dilation: {}, groups: {}, bias: {}",
            self.out_channels,
            pair_text(self.kernel),
            pair_text(self.stride),
            pair_text(self.padding),
            pair_text(self.dilation),
            self.groups,
            self.bias
        )
    }

    /// As `nn.Conv2d`: each output channel sees `in/groups` input
    /// channels, which is also the fan-in of its initialization.
    fn params(&self, inputs: &[&Shape]) -> Result<Vec<ParamDecl>, ShapeError> {
        let in_channels = inputs[0].0[0] / self.groups;
        let [kh, kw] = self.kernel;
        let weight = checked_shape(
            "weight",
            &[
                self.out_channels as u128,
                in_channels as u128,
                kh as u128,
                kw as u128,
            ],
        )?;
        let fan_in = in_channels * kh * kw;
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

    /// `Conv(x, weight, bias)`; the weight is `[out, in/groups, kh, kw]` in both.
    fn onnx(&self, _: &[&Shape], _: &Shape) -> OnnxRule {
        let params = if self.bias { 0..2 } else { 0..1 };
        let node = OnnxNode::over_inputs("Conv", 1)
            .params(params)
            .attribute("kernel_shape", OnnxAttr::pair(self.kernel))
            .attribute("strides", OnnxAttr::pair(self.stride))
            .attribute("pads", OnnxAttr::pads(self.padding))
            .attribute("dilations", OnnxAttr::pair(self.dilation))
            .attribute("group", OnnxAttr::Int(self.groups as i64));
        OnnxRule::Node(node)
    }

    fn pytorch(&self, inputs: &[&Shape], _: &Shape) -> PytorchRule {
        let mut args = format!(
            "nn.Conv2d({}, {}, kernel_size={}",
            inputs[0].0[0],
            self.out_channels,
            py_pair(self.kernel)
        );
        for (name, value, default) in [
            ("stride", self.stride, [1, 1]),
            ("padding", self.padding, [0, 0]),
            ("dilation", self.dilation, [1, 1]),
        ] {
            if value != default {
                args.push_str(&format!(", {name}={}", py_pair(value)));
            }
        }
        if self.groups != 1 {
            args.push_str(&format!(", groups={}", self.groups));
        }
        if !self.bias {
            args.push_str(&format!(", bias={}", py_bool(false)));
        }
        PytorchRule::module(args + ")")
    }

    /// `CONV_2D`, or `DEPTHWISE_CONV_2D` when each group is one input
    /// channel.
    fn tflite(&self, _: &[&Shape], _: &Shape) -> TfliteRule {
        let window = TfliteWindow {
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            one_row: false,
        };
        let op = TfliteOp::Conv {
            window,
            groups: self.groups,
            bias: self.bias,
        };
        TfliteRule::Node(TfliteNode::over_inputs(op, 1))
    }

    fn lower(&self, cx: &mut dyn ForwardCx) -> Option<Step> {
        let input = cx.input_shape(0);
        let shape = ConvShape {
            in_channels: input[0],
            in_h: input[1],
            in_w: input[2],
            out_channels: self.out_channels,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
        };
        let (x, weight, y) = (cx.input(0), cx.param(0), cx.output());
        let (bias, relu) = (self.bias.then(|| cx.param(1)), cx.fused_relu());
        Some(match self.groups {
            1 => Step::Conv2d {
                x,
                weight,
                bias,
                y,
                shape,
                relu,
            },
            groups => Step::GroupedConv2d {
                x,
                weight,
                bias,
                y,
                shape,
                groups,
                relu,
            },
        })
    }

    fn differentiate(&self, cx: &mut dyn BackwardCx) {
        let step = cx.forward_step();
        let (shape, weight, bias, groups) = if let Step::Conv2d {
            shape,
            bias,
            weight,
            ..
        } = step
        {
            (shape, weight, bias, 1)
        } else if let Step::GroupedConv2d {
            shape,
            bias,
            weight,
            groups,
            ..
        } = step
        {
            (shape, weight, bias, groups)
        } else {
            unreachable!("conv2d values have a conv2d step")
        };
        let (dx, accumulate) = cx.contribution(0).unzip();
        let (x, dy, relu_y) = (cx.input(0), cx.dy(), cx.fused_relu_output());
        let step = match groups {
            1 => GradStep::Conv2d {
                x,
                weight,
                bias,
                dy,
                dx,
                relu_y,
                shape,
            },
            groups => GradStep::GroupedConv2d {
                x,
                weight,
                bias,
                dy,
                dx,
                relu_y,
                shape,
                groups,
            },
        };
        emit(cx, step, accumulate.flatten());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(kernel: usize, stride: usize, padding: usize, dilation: usize) -> Conv2d {
        Conv2d {
            out_channels: 4,
            kernel: [kernel; 2],
            stride: [stride; 2],
            padding: [padding; 2],
            dilation: [dilation; 2],
            bias: true,
            groups: 1,
        }
    }

    #[test]
    fn window_arithmetic_matches_pytorch() {
        // nn.Conv2d(1, 6, 5, padding=2) on 28x28 keeps 28x28.
        let lenet = Conv2d {
            out_channels: 6,
            ..conv(5, 1, 2, 1)
        };
        assert_eq!(
            lenet.output_shape(&Shape(vec![1, 28, 28])),
            Ok(Shape(vec![6, 28, 28]))
        );
        // floor((7 + 2 - 2·2 - 1)/2) + 1 = 3
        assert_eq!(
            conv(3, 2, 1, 2).output_shape(&Shape(vec![3, 7, 7])),
            Ok(Shape(vec![4, 3, 3]))
        );
        assert!(matches!(
            conv(5, 1, 0, 1).output_shape(&Shape(vec![3, 4, 4])),
            Err(ShapeError::Empty { .. })
        ));
    }

    #[test]
    fn groups_split_the_weight_and_its_fan_in_as_pytorch_does() {
        // nn.Conv2d(32, 64, 3, groups=32): weight [64, 1, 3, 3], fan_in 9.
        let depthwise = Conv2d {
            out_channels: 64,
            groups: 32,
            ..conv(3, 1, 1, 1)
        };
        let input = Shape(vec![32, 14, 14]);
        let params = depthwise.params(&[&input]).unwrap();
        assert_eq!(params[0].shape, Shape(vec![64, 1, 3, 3]));
        assert_eq!(params[0].role, ParamRole::Weight { fan_in: 9 });
        assert_eq!(params[1].role, ParamRole::Bias { fan_in: 9 });
        assert_eq!(depthwise.output_shape(&input), Ok(Shape(vec![64, 14, 14])));
        let refused = |in_channels: usize, what| {
            let input = Shape(vec![in_channels, 8, 8]);
            matches!(depthwise.output_shape(&input),
                Err(ShapeError::NotDivisible { what: w, divisor: 32, .. }) if w == what)
        };
        assert!(refused(48, "input channels"));
        let odd_out = Conv2d {
            out_channels: 48,
            ..depthwise.clone()
        };
        assert!(matches!(
            odd_out.output_shape(&input),
            Err(ShapeError::NotDivisible {
                what: "out_channels",
                value: 48,
                ..
            })
        ));
    }

    #[test]
    fn huge_inputs_are_errors_not_overflows() {
        let big = usize::MAX / 2;
        assert!(
            conv(1, 1, big, 1)
                .output_shape(&Shape(vec![1, big, big]))
                .is_err()
        );
    }
}
