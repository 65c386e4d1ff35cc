//! What the 1-D layers (`conv1d`, `maxpool1d`, `avgpool1d`) share: a
//! `[channels, len]` value is a `[channels, 1, len]` image, and a 1-D
//! window of `k` is a `1 × k` window. They lower onto the 2-D layers'
//! steps through that view, so they run the same kernels (the im2col-free
//! and windowed conv paths included) and need no steps of their own; the
//! buffers hold the same floats in the same order either way.

use nnspec_runtime::plan::{BufferId, BufferType, ParamId, Size, Step};

use super::ForwardCx;
use crate::ir::Shape;
use crate::shape::{ShapeError, expect_rank, window_out};

/// What the 1-D layers' rank error says they take.
pub(super) const SEQUENCE: &str = "[channels, len]";

/// A length-axis setting as the 2-D pair `[h, w]` it lowers to: `along`
/// on the width, `across` (1 for sizes, 0 for padding) on the height.
pub(super) fn widthwise(along: usize, across: usize) -> [usize; 2] {
    [across, along]
}

/// `len' = floor((len + 2·padding - dilation·(kernel - 1) - 1) / stride) + 1`
/// of a `[channels, len]` input, or why there is none.
pub(super) fn output_len(
    input: &Shape,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Result<u128, ShapeError> {
    expect_rank(input, 2, SEQUENCE)?;
    window_out("length", input.0[1], kernel, stride, padding, dilation)
}

/// `[d0, d1]` as the image `[d0, 1, d1]`.
fn as_image(shape: &[usize]) -> [usize; 3] {
    [shape[0], 1, shape[1]]
}

/// A forward context whose input and output shapes read as one-row images;
/// everything else passes through.
pub(super) struct OneRow<'a> {
    cx: &'a mut dyn ForwardCx,
    input: [usize; 3],
    output: [usize; 3],
}

impl<'a> OneRow<'a> {
    pub(super) fn new(cx: &'a mut dyn ForwardCx) -> Self {
        let input = as_image(cx.input_shape(0));
        let output = as_image(cx.output_shape());
        OneRow { cx, input, output }
    }
}

impl ForwardCx for OneRow<'_> {
    fn input(&self, i: usize) -> BufferId {
        self.cx.input(i)
    }

    fn input_shape(&self, i: usize) -> &[usize] {
        assert_eq!(i, 0, "the 1-D layers take one input");
        &self.input
    }

    fn input_count(&self) -> usize {
        self.cx.input_count()
    }

    fn output_shape(&self) -> &[usize] {
        &self.output
    }

    fn output(&self) -> BufferId {
        self.cx.output()
    }

    fn view_input(&mut self) {
        self.cx.view_input();
    }

    fn param(&self, position: usize) -> ParamId {
        self.cx.param(position)
    }

    fn saved(&mut self, suffix: &str, size: Size, ty: BufferType) -> BufferId {
        self.cx.saved(suffix, size, ty)
    }

    fn fused_relu(&self) -> bool {
        self.cx.fused_relu()
    }
}

/// The 2-D layer's forward step, lowered with `cx` seen as one-row images.
pub(super) fn lower_as_image(
    cx: &mut dyn ForwardCx,
    lower: impl FnOnce(&mut dyn ForwardCx) -> Option<Step>,
) -> Option<Step> {
    lower(&mut OneRow::new(cx))
}
