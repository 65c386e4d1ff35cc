//! Convolutions and pools on NHWC tensors. TFLite pads a window `SAME`
//! or not at all: PyTorch's symmetric padding is `SAME` where both place
//! the same windows, and otherwise an explicit `PAD` (`PADV2` with -inf
//! before a max pool) before a `VALID` operator. A 1-D layer runs as the
//! one-row image `[1, L, C]` between two `RESHAPE`s.

use nnspec_dsl::ops::{PoolKind, TfliteWindow};

use super::layout::Layout;
use super::ops::LayerCx;
use super::weights::{depthwise, ohwi};
use super::{Builder, Stored, dim};
use crate::tflite::ExportError;
use crate::tflite::model::{Activation, Op, Padding, TensorId};

/// How TFLite places a window's padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PadPlan {
    /// The operator's own padding.
    Builtin(Padding),
    /// A `PAD` of `[h, w]` on each side first, then `VALID`.
    Explicit([usize; 2]),
}

/// Where TFLite's `SAME` puts the windows PyTorch's padding does, `SAME`
/// (allowed only where padding reads as a value the operator ignores or
/// adds as zero: not for an average, whose `SAME` leaves padding out of
/// the count); no padding, `VALID`; else an explicit `PAD`.
pub(super) fn pad_plan(window: &TfliteWindow, input: [usize; 2], same_allowed: bool) -> PadPlan {
    if window.padding == [0, 0] {
        return PadPlan::Builtin(Padding::Valid);
    }
    let same = (0..2).all(|a| {
        let (size, stride, pad) = (input[a], window.stride[a], window.padding[a]);
        let extent = window.dilation[a] * (window.kernel[a] - 1) + 1;
        let torch_out = (size + 2 * pad).saturating_sub(extent) / stride + 1;
        let same_out = size.div_ceil(stride);
        let total = ((same_out - 1) * stride + extent).saturating_sub(size);
        torch_out == same_out && total / 2 == pad
    });
    if same && same_allowed {
        PadPlan::Builtin(Padding::Same)
    } else {
        PadPlan::Explicit(window.padding)
    }
}

impl Builder<'_> {
    /// `x` as an NHWC tensor of dims `[h, w, c]` (a `[C, L]` value as
    /// `[1, L, C]`).
    fn image(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        window: &TfliteWindow,
    ) -> (TensorId, [usize; 3]) {
        let layout = Layout::channels_last(shape.len());
        let tensor = self.convert(x, shape, &layout, &cx.name);
        if window.one_row {
            let dims = [1, shape[1], shape[0]];
            (self.reshape(tensor, &dims, &cx.name), dims)
        } else {
            (tensor, [shape[1], shape[2], shape[0]])
        }
    }

    /// Pads `image` when the plan says so; returns what the operator reads
    /// and its padding.
    fn padded(
        &mut self,
        cx: &LayerCx,
        image: TensorId,
        dims: [usize; 3],
        plan: PadPlan,
        fill: f32,
    ) -> (TensorId, Padding) {
        let pads = match plan {
            PadPlan::Builtin(padding) => return (image, padding),
            PadPlan::Explicit(pads) => pads,
        };
        let (ph, pw) = (dim(pads[0]), dim(pads[1]));
        let paddings = [0, 0, ph, ph, pw, pw, 0, 0];
        let name = self.unique(&format!("{}.paddings", cx.name));
        let paddings = self
            .tf
            .push_tensor(crate::tflite::model::Tensor::i32_constant(
                name,
                &[4, 2],
                &paddings,
            ));
        let padded_dims = [dims[0] + 2 * pads[0], dims[1] + 2 * pads[1], dims[2]];
        let name = format!("{}.padded", cx.name);
        let tensor = if fill == 0.0 {
            self.push(
                Op::Pad,
                vec![Some(image), Some(paddings)],
                &name,
                &padded_dims,
            )
        } else {
            let fill = self.f32_constant(&format!("{}.fill", cx.name), &[], &[fill]);
            let inputs = vec![Some(image), Some(paddings), Some(fill)];
            self.push(Op::PadV2, inputs, &name, &padded_dims)
        };
        (tensor, Padding::Valid)
    }

    /// The result of a window operator, which `build` appends given the
    /// name and dims (`[h, w, c]`) of its image: a one-row image reshaped
    /// back to `[L, C]`; channels-last either way.
    fn window_result(
        &mut self,
        cx: &LayerCx,
        window: &TfliteWindow,
        build: impl FnOnce(&mut Self, &str, &[usize]) -> TensorId,
    ) -> Stored {
        let output = self.model.value(cx.id).shape.dims().to_vec();
        let layout = Layout::channels_last(output.len());
        let tensor = if window.one_row {
            let image = build(
                self,
                &format!("{}.image", cx.name),
                &[1, output[1], output[0]],
            );
            let dims = layout.tensor_dims(&output);
            let shape = self.shape_constant(&cx.name, &dims);
            self.push(Op::Reshape, vec![Some(image), Some(shape)], &cx.name, &dims)
        } else {
            build(self, &cx.name, &layout.tensor_dims(&output))
        };
        Stored { tensor, layout }
    }

    /// `CONV_2D` with an OHWI filter, or `DEPTHWISE_CONV_2D` when each
    /// group is one input channel; a BatchNorm reading only the result is
    /// folded in.
    pub(super) fn conv(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        window: &TfliteWindow,
        groups: usize,
        bias: bool,
    ) -> Result<Stored, ExportError> {
        let in_channels = shape[0];
        let out_channels = self.model.value(cx.id).shape.dims()[0];
        let depthwise_conv = groups > 1 && groups == in_channels;
        let weighted = self.weighted(cx, bias, true)?;
        let filter_dims = [
            out_channels,
            in_channels / groups,
            window.kernel[0],
            window.kernel[1],
        ];
        let (image, dims) = self.image(cx, x, shape, window);
        let plan = pad_plan(window, [dims[0], dims[1]], true);
        let (input, padding) = self.padded(cx, image, dims, plan, 0.0);
        let padded_dims = match plan {
            PadPlan::Builtin(_) => dims,
            PadPlan::Explicit([ph, pw]) => [dims[0] + 2 * ph, dims[1] + 2 * pw, dims[2]],
        };
        let [_, _, kh, kw] = filter_dims;
        let stride = window.stride.map(|s| dim(s) as u32);
        let dilation = window.dilation.map(|d| dim(d) as u32);
        let activation = self.fused_relu(cx, weighted.tail);
        // TFLite's float convolutions want a bias: zeros when there is none.
        let bias_values = weighted.bias.unwrap_or_else(|| vec![0.0; out_channels]);
        if depthwise_conv {
            let values = depthwise(&weighted.weight, filter_dims);
            let filter = self.param_constant(cx, 0, "", &[1, kh, kw, out_channels], &values);
            let bias = self.param_constant(cx, 1, "", &[out_channels], &bias_values);
            let op = Op::DepthwiseConv2d {
                padding,
                stride,
                dilation,
                depth_multiplier: dim(out_channels / in_channels) as u32,
                activation,
            };
            let inputs = vec![Some(input), Some(filter), Some(bias)];
            return Ok(
                self.window_result(cx, window, |b, name, dims| b.push(op, inputs, name, dims))
            );
        }
        // Groups of several channels (TFLite has no grouped builtin): one
        // CONV_2D per group on its channels, concatenated.
        let op = Op::Conv2d {
            padding,
            stride,
            dilation,
            activation,
        };
        let (group_out, group_in) = (out_channels / groups, in_channels / groups);
        let group_weights = group_out * group_in * kh * kw;
        let mut convs = Vec::with_capacity(groups);
        for g in 0..groups {
            let suffix = if groups == 1 {
                String::new()
            } else {
                format!(".g{g}")
            };
            let rows = &weighted.weight[g * group_weights..(g + 1) * group_weights];
            let values = ohwi(rows, [group_out, group_in, kh, kw]);
            let filter_dims = [group_out, kh, kw, group_in];
            let filter = self.param_constant(cx, 0, &suffix, &filter_dims, &values);
            let biases = &bias_values[g * group_out..(g + 1) * group_out];
            let bias = self.param_constant(cx, 1, &suffix, &[group_out], biases);
            let channels = if groups == 1 {
                input
            } else {
                let [h, w, _] = padded_dims;
                let name = format!("{}{suffix}.channels", cx.name);
                let range = g * group_in..(g + 1) * group_in;
                self.slice(input, 3, 2, range, false, &name, &[h, w, group_in])
            };
            convs.push((Some(channels), filter, bias, suffix));
        }
        Ok(self.window_result(cx, window, |b, name, dims| {
            if groups == 1 {
                let (channels, filter, bias, _) = convs.remove(0);
                return b.push(op, vec![channels, Some(filter), Some(bias)], name, dims);
            }
            let [h, w, c] = [dims[0], dims[1], dims[2]];
            let parts = convs
                .into_iter()
                .map(|(channels, filter, bias, suffix)| {
                    let inputs = vec![channels, Some(filter), Some(bias)];
                    let part = format!("{name}{suffix}");
                    Some(b.push(op.clone(), inputs, &part, &[h, w, c / groups]))
                })
                .collect();
            let concat = Op::Concatenation {
                axis: 3,
                activation: Activation::None,
            };
            b.push(concat, parts, name, dims)
        }))
    }

    /// `MAX_POOL_2D` (padded with -inf where `SAME` does not fit) or
    /// `AVERAGE_POOL_2D` (padded with zeros, which count in the mean, as
    /// nnspec's and PyTorch's default `count_include_pad`).
    pub(super) fn pool(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        kind: PoolKind,
        window: &TfliteWindow,
    ) -> Stored {
        let (image, dims) = self.image(cx, x, shape, window);
        let (same_allowed, fill) = match kind {
            PoolKind::Max => (true, f32::NEG_INFINITY),
            PoolKind::Average => (false, 0.0),
        };
        let plan = pad_plan(window, [dims[0], dims[1]], same_allowed);
        let (input, padding) = self.padded(cx, image, dims, plan, fill);
        let stride = window.stride.map(|s| dim(s) as u32);
        let filter = window.kernel.map(|k| dim(k) as u32);
        let activation = Activation::None;
        let op = match kind {
            PoolKind::Max => Op::MaxPool2d {
                padding,
                stride,
                filter,
                activation,
            },
            PoolKind::Average => Op::AveragePool2d {
                padding,
                stride,
                filter,
                activation,
            },
        };
        self.window_result(cx, window, |b, name, dims| {
            b.push(op, vec![Some(input)], name, dims)
        })
    }

    /// `MEAN` over the height and width of the NHWC image, kept as 1s.
    pub(super) fn global_average_pool(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
    ) -> Stored {
        let layout = Layout::channels_last(3);
        let input = self.convert(x, shape, &layout, &cx.name);
        let axes = self.i32_constant(&format!("{}.axes", cx.name), &[1, 2]);
        let op = Op::Mean { keep_dims: true };
        let dims = [1, 1, shape[0]];
        let tensor = self.push(op, vec![Some(input), Some(axes)], &cx.name, &dims);
        Stored { tensor, layout }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(kernel: usize, stride: usize, padding: usize) -> TfliteWindow {
        TfliteWindow::pool([kernel; 2], [stride; 2], [padding; 2])
    }

    #[test]
    fn same_padding_only_where_the_windows_agree() {
        // 3x3, stride 1, padding 1: SAME everywhere.
        let plan = pad_plan(&window(3, 1, 1), [28, 28], true);
        assert_eq!(plan, PadPlan::Builtin(Padding::Same));
        // An average's SAME would leave the padding out of the count.
        let plan = pad_plan(&window(3, 1, 1), [28, 28], false);
        assert_eq!(plan, PadPlan::Explicit([1, 1]));
        // Stride 2 on an even size: SAME pads 0 before and 1 after,
        // PyTorch 1 and 1.
        let plan = pad_plan(&window(3, 2, 1), [28, 28], true);
        assert_eq!(plan, PadPlan::Explicit([1, 1]));
        // 5x5 padding 2 is SAME; without padding VALID.
        assert_eq!(
            pad_plan(&window(5, 1, 2), [14, 14], true),
            PadPlan::Builtin(Padding::Same)
        );
        assert_eq!(
            pad_plan(&window(2, 2, 0), [28, 28], true),
            PadPlan::Builtin(Padding::Valid)
        );
    }
}
