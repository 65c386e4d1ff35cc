//! The window `maxpool1d` and `avgpool1d` share: arguments, shape rule,
//! ONNX attributes, and the one-row 2-D window they lower to.

use super::one_row::{self, widthwise};
use super::onnx::{OnnxAttr, OnnxNode};
use super::pool_window::PoolWindow;
use crate::ir::Shape;
use crate::shape::{ShapeError, checked_shape, expect_rank};
use crate::signature::{ArgSpec, Bound, Default, Key};

const KERNEL: Key<usize> = Key::count(0, "kernel", Default::Required, "window length");
const STRIDE: Key<usize> = Key::count(
    1,
    "stride",
    Default::SameAs("kernel"),
    "step between windows; defaults to the kernel",
);
const PADDING: Key<usize> = Key::natural(
    2,
    "padding",
    Default::Int(0),
    "implicit padding on each end, at most half the kernel",
);

pub(super) const ARGS: &[ArgSpec] = &[KERNEL.spec, STRIDE.spec, PADDING.spec];

/// A 1-D pooling window. Dilation 1, floor mode, as the 2-D pools.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool1dWindow {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Pool1dWindow {
    /// The window as F.max_pool1d / F.avg_pool1d arguments after the
    /// input (PyTorch's stride defaults to the kernel).
    pub(super) fn pytorch_args(&self) -> String {
        let mut args = format!("kernel_size={}", self.kernel);
        if self.stride != self.kernel {
            args.push_str(&format!(", stride={}", self.stride));
        }
        if self.padding != 0 {
            args.push_str(&format!(", padding={}", self.padding));
        }
        args
    }

    pub(super) fn bind(args: &Bound) -> Self {
        Pool1dWindow {
            kernel: args.get(&KERNEL),
            stride: args.get(&STRIDE),
            padding: args.get(&PADDING),
        }
    }

    pub(super) fn attributes(&self) -> String {
        format!(
            "kernel: {}, stride: {}, padding: {}",
            self.kernel, self.stride, self.padding
        )
    }

    /// `[C, L] -> [C, L']`; PyTorch refuses padding over half the kernel.
    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, ShapeError> {
        expect_rank(input, 2, one_row::SEQUENCE)?;
        if self.padding > self.kernel / 2 {
            return Err(ShapeError::PaddingTooLarge {
                padding: self.padding,
                kernel: self.kernel,
            });
        }
        let len = one_row::output_len(input, self.kernel, self.stride, self.padding, 1)?;
        checked_shape("output", &[input.0[0] as u128, len])
    }

    /// A pooling node over this window with one spatial axis.
    pub(super) fn onnx_node(&self, op_type: &'static str) -> OnnxNode {
        OnnxNode::over_inputs(op_type, 1)
            .attribute("kernel_shape", OnnxAttr::single(self.kernel))
            .attribute("strides", OnnxAttr::single(self.stride))
            .attribute("pads", OnnxAttr::pads_1d(self.padding))
            .attribute("ceil_mode", OnnxAttr::Int(0))
    }

    /// The same window over a one-row image.
    pub(super) fn as_image(&self) -> PoolWindow {
        PoolWindow {
            kernel: widthwise(self.kernel, 1),
            stride: widthwise(self.stride, 1),
            padding: widthwise(self.padding, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_arithmetic_matches_pytorch() {
        let window = |kernel, stride, padding| Pool1dWindow {
            kernel,
            stride,
            padding,
        };
        let input = Shape(vec![6, 28]);
        assert_eq!(window(2, 2, 0).output_shape(&input), Ok(Shape(vec![6, 14])));
        // floor((28 + 2 - 3)/2) + 1 = 14
        assert_eq!(window(3, 2, 1).output_shape(&input), Ok(Shape(vec![6, 14])));
        assert!(matches!(
            window(2, 2, 2).output_shape(&input),
            Err(ShapeError::PaddingTooLarge { .. })
        ));
        assert!(matches!(
            window(30, 1, 0).output_shape(&input),
            Err(ShapeError::Empty { .. })
        ));
        assert!(matches!(
            window(2, 2, 0).output_shape(&Shape(vec![1, 28, 28])),
            Err(ShapeError::Rank { .. })
        ));
    }
}
