//! The window the pooling layers share: arguments, shape rule and geometry.

use nnspec_runtime::plan::PoolShape;

use super::onnx::{OnnxAttr, OnnxNode};
use super::pair_text;
use crate::ir::Shape;
use crate::shape::{ShapeError, checked_shape, expect_rank, window_out};
use crate::signature::{ArgSpec, Bound, Default, Key};

const KERNEL: Key<[usize; 2]> = Key::pair(0, "kernel", Default::Required, "window size");
const STRIDE: Key<[usize; 2]> = Key::pair(
    1,
    "stride",
    Default::SameAs("kernel"),
    "step between windows; defaults to the kernel",
);
const PADDING: Key<[usize; 2]> = Key::natural_pair(
    2,
    "padding",
    Default::Int(0),
    "implicit padding on each side, at most half the kernel",
);

pub(super) const ARGS: &[ArgSpec] = &[KERNEL.spec, STRIDE.spec, PADDING.spec];

/// A pooling window; pairs are `[h, w]`. Dilation 1, floor mode.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolWindow {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl PoolWindow {
    /// The window as F.max_pool2d / F.avg_pool2d arguments after the
    /// input (PyTorch's stride defaults to the kernel).
    pub(super) fn pytorch_args(&self) -> String {
        use super::pytorch::py_pair;
        let mut args = format!("kernel_size={}", py_pair(self.kernel));
        if self.stride != self.kernel {
            args.push_str(&format!(", stride={}", py_pair(self.stride)));
        }
        if self.padding != [0, 0] {
            args.push_str(&format!(", padding={}", py_pair(self.padding)));
        }
        args
    }

    pub(super) fn bind(args: &Bound) -> Self {
        PoolWindow {
            kernel: args.get(&KERNEL),
            stride: args.get(&STRIDE),
            padding: args.get(&PADDING),
        }
    }

    pub(super) fn attributes(&self) -> String {
        format!(
            "kernel: {}, stride: {}, padding: {}",
            pair_text(self.kernel),
            pair_text(self.stride),
            pair_text(self.padding)
        )
    }

    /// `[C, H, W] -> [C, H', W']`; PyTorch refuses padding over half the kernel.
    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, ShapeError> {
        expect_rank(input, 3, "[channels, height, width]")?;
        for axis in 0..2 {
            if self.padding[axis] > self.kernel[axis] / 2 {
                return Err(ShapeError::PaddingTooLarge {
                    padding: self.padding[axis],
                    kernel: self.kernel[axis],
                });
            }
        }
        let axis = |name, a: usize| {
            window_out(
                name,
                input.0[1 + a],
                self.kernel[a],
                self.stride[a],
                self.padding[a],
                1,
            )
        };
        let (h, w) = (axis("height", 0)?, axis("width", 1)?);
        checked_shape("output", &[input.0[0] as u128, h, w])
    }

    /// A pooling node over this window. Floor mode and dilation 1 are
    /// ONNX's defaults too; `ceil_mode` is written out because PyTorch
    /// users look for it.
    pub(super) fn onnx_node(&self, op_type: &'static str) -> OnnxNode {
        OnnxNode::over_inputs(op_type, 1)
            .attribute("kernel_shape", OnnxAttr::pair(self.kernel))
            .attribute("strides", OnnxAttr::pair(self.stride))
            .attribute("pads", OnnxAttr::pads(self.padding))
            .attribute("ceil_mode", OnnxAttr::Int(0))
    }

    /// The kernels' view of the window on an input of shape `[C, H, W]`.
    pub(super) fn plan_shape(&self, input: &[usize]) -> PoolShape {
        PoolShape {
            channels: input[0],
            in_h: input[1],
            in_w: input[2],
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_arithmetic_matches_pytorch() {
        let window = |padding| PoolWindow {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [padding; 2],
        };
        let input = Shape(vec![6, 28, 28]);
        assert_eq!(window(0).output_shape(&input), Ok(Shape(vec![6, 14, 14])));
        assert!(matches!(
            window(2).output_shape(&input),
            Err(ShapeError::PaddingTooLarge { .. })
        ));
    }
}
