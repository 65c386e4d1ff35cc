//! Parameters as TFLite's operators want them: dense weights with their
//! columns in the order the input is stored (a flattened NHWC image needs
//! no transpose at run time), convolution filters OHWI or depthwise
//! `[1, H, W, C·multiplier]`, and a BatchNorm that only reads the layer
//! before it folded into that layer's weight and bias.

use nnspec_dsl::ir::ValueId;
use nnspec_runtime::safetensors_file::Checkpoint;

use super::layout::{Layout, transpose};
use super::ops::LayerCx;
use super::{Builder, Stored};
use crate::tflite::ExportError;
use crate::tflite::model::{Op, TensorId};

/// A BatchNorm's running statistics as `y = x · scale + shift` per channel.
pub(super) struct Affine {
    pub(super) scale: Vec<f32>,
    pub(super) shift: Vec<f32>,
}

/// A layer's weight and bias after folding, ready to be constants.
pub(super) struct Weighted {
    /// The value the layer's operator computes: its own, or the folded
    /// BatchNorm's after it.
    pub(super) tail: ValueId,
    /// Row-major, output channel first.
    pub(super) weight: Vec<f32>,
    pub(super) bias: Option<Vec<f32>>,
}

impl Builder<'_> {
    /// BatchNorm value `id`'s per-channel scale and shift, computed in f64
    /// from its running statistics.
    pub(super) fn batchnorm_affine(
        &self,
        id: ValueId,
        eps: f32,
        weights: &Checkpoint,
    ) -> Result<Affine, ExportError> {
        let value = self.model.value(id);
        let read = |position: usize| -> Result<&[f32], ExportError> {
            let param = self.model.param(value.params[position]);
            Ok(weights.f32(&param.name, param.shape.dims())?)
        };
        let (gamma, beta, mean, var) = (read(0)?, read(1)?, read(2)?, read(3)?);
        let mut affine = Affine {
            scale: Vec::with_capacity(gamma.len()),
            shift: Vec::with_capacity(gamma.len()),
        };
        for c in 0..gamma.len() {
            let scale = f64::from(gamma[c]) / (f64::from(var[c]) + f64::from(eps)).sqrt();
            affine.scale.push(scale as f32);
            affine
                .shift
                .push((f64::from(beta[c]) - f64::from(mean[c]) * scale) as f32);
        }
        Ok(affine)
    }

    /// Layer `id`'s weight (output channel first) and bias, with the
    /// BatchNorm that alone reads `id` folded in (then marked folded).
    pub(super) fn weighted(
        &mut self,
        cx: &LayerCx,
        bias: bool,
        foldable: bool,
    ) -> Result<Weighted, ExportError> {
        let value = self.model.value(cx.id);
        let param = self.model.param(value.params[0]);
        let mut weight = cx.weights.f32(&param.name, param.shape.dims())?.to_vec();
        let mut bias = match bias {
            true => {
                let param = self.model.param(value.params[1]);
                Some(cx.weights.f32(&param.name, param.shape.dims())?.to_vec())
            }
            false => None,
        };
        let foldable = foldable && cx.last;
        let Some((bn, eps)) = self.sole_batchnorm_reader(cx.id).filter(|_| foldable) else {
            return Ok(Weighted {
                tail: cx.id,
                weight,
                bias,
            });
        };
        let affine = self.batchnorm_affine(bn, eps, cx.weights)?;
        let channels = affine.scale.len();
        let per_channel = weight.len() / channels.max(1);
        for (c, row) in weight.chunks_mut(per_channel.max(1)).enumerate() {
            row.iter_mut().for_each(|w| *w *= affine.scale[c]);
        }
        let folded_bias = (0..channels)
            .map(|c| bias.as_ref().map_or(0.0, |b| b[c]) * affine.scale[c] + affine.shift[c])
            .collect();
        bias = Some(folded_bias);
        self.mark_folded(bn);
        Ok(Weighted {
            tail: bn,
            weight,
            bias,
        })
    }

    /// A parameter constant named after layer `id`'s parameter `position`
    /// and `suffix` (a part of it: `.g0`), or `{layer}.weight` / `.bias`
    /// for one the layer does not have (a folded BatchNorm's bias).
    pub(super) fn param_constant(
        &mut self,
        cx: &LayerCx,
        position: usize,
        suffix: &str,
        dims: &[usize],
        values: &[f32],
    ) -> TensorId {
        let value = self.model.value(cx.id);
        let name = match value.params.get(position) {
            Some(&param) => format!("{}{suffix}", self.model.param(param).name),
            None => format!(
                "{}.{}{suffix}",
                value.layer,
                ["weight", "bias"][position.min(1)]
            ),
        };
        self.f32_constant(&name, dims, values)
    }

    /// `FULLY_CONNECTED` over the last axis. A rank-1 input stored in any
    /// order is read as it is, the weight's columns taken in that order;
    /// a `[len, in]` input is moved to nnspec's order and keeps its dims.
    pub(super) fn dense(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        bias: bool,
    ) -> Result<Stored, ExportError> {
        let rank = shape.len();
        let features = shape.iter().product::<usize>();
        let output = self.model.value(cx.id).shape.dims().to_vec();
        let out_features = output[rank - 1];
        // A batchnorm normalizes axis 0: the features only when rank 1.
        let mut weighted = self.weighted(cx, bias, rank == 1)?;
        let (input, in_features) = if rank == 1 {
            if !x.layout.is_natural() {
                let sources = x.layout.sources(shape);
                let columns = weighted.weight.chunks(features.max(1));
                weighted.weight = columns
                    .flat_map(|row| sources.iter().map(|&s| row[s]).collect::<Vec<_>>())
                    .collect();
            }
            (x.tensor, features)
        } else {
            let natural = Layout::natural(rank);
            (self.convert(x, shape, &natural, &cx.name), shape[rank - 1])
        };
        let weight = self.param_constant(cx, 0, "", &[out_features, in_features], &weighted.weight);
        let bias = weighted
            .bias
            .as_ref()
            .map(|values| self.param_constant(cx, 1, "", &[out_features], values));
        let op = Op::FullyConnected {
            activation: self.fused_relu(cx, weighted.tail),
            keep_num_dims: rank > 1,
        };
        let tensor = self.push(op, vec![Some(input), Some(weight), bias], &cx.name, &output);
        Ok(Stored {
            tensor,
            layout: Layout::natural(output.len()),
        })
    }
}

/// A convolution weight `[out, in, kh, kw]` as TFLite's OHWI filter.
pub(super) fn ohwi(weight: &[f32], dims: [usize; 4]) -> Vec<f32> {
    transpose(weight, &dims, &[0, 2, 3, 1])
}

/// A depthwise weight `[out, 1, kh, kw]` as `[1, kh, kw, out]`: TFLite's
/// output channel `c · multiplier + m` is PyTorch's too.
pub(super) fn depthwise(weight: &[f32], [out, _, kh, kw]: [usize; 4]) -> Vec<f32> {
    transpose(weight, &[out, kh, kw], &[1, 2, 0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_move_the_input_channels_last() {
        // [O=1, I=2, 1, 2]: i0 = (0, 1), i1 = (2, 3) -> OHWI 0 2 1 3.
        let weight = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(ohwi(&weight, [1, 2, 1, 2]), vec![0.0, 2.0, 1.0, 3.0]);
        // [O=2, 1, 1, 2]: o0 = (0, 1), o1 = (2, 3) -> [1, 1, 2, O] 0 2 1 3.
        assert_eq!(depthwise(&weight, [2, 1, 1, 2]), vec![0.0, 2.0, 1.0, 3.0]);
    }
}
