//! The normalizations, which TFLite has no builtin for: a BatchNorm the
//! layer before could not absorb as a per-channel `MUL` and `ADD`, and
//! layer normalization as the arithmetic it is.

use super::layout::Layout;
use super::ops::LayerCx;
use super::{Builder, Stored, dim};
use crate::tflite::ExportError;
use crate::tflite::model::{Activation, Op, TensorId};

impl Builder<'_> {
    /// `x · scale + shift` per channel (axis 0), the constants shaped to
    /// broadcast along wherever the layout stores the channels.
    pub(super) fn batchnorm(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        eps: f32,
    ) -> Result<Stored, ExportError> {
        let affine = self.batchnorm_affine(cx.id, eps, cx.weights)?;
        let tensor_dims = x.layout.tensor_dims(shape);
        let (dims, scale, shift) = match x.layout.tensor_axis(0) {
            // The channel axis last (or alone): `[C]` broadcasts.
            Some(axis) if axis + 1 == tensor_dims.len() => {
                (vec![shape[0]], affine.scale, affine.shift)
            }
            Some(axis) => {
                let mut dims = vec![1; tensor_dims.len()];
                dims[axis] = shape[0];
                (dims, affine.scale, affine.shift)
            }
            // A rank-1 value stored in another order: the constants are
            // stored in that order too.
            None => {
                let sources = x.layout.sources(shape);
                let scale = sources.iter().map(|&s| affine.scale[s]).collect();
                let shift = sources.iter().map(|&s| affine.shift[s]).collect();
                (tensor_dims.clone(), scale, shift)
            }
        };
        let scale = self.f32_constant(&format!("{}.scale", cx.name), &dims, &scale);
        let shift = self.f32_constant(&format!("{}.shift", cx.name), &dims, &shift);
        let activation = Activation::None;
        let scaled = format!("{}.scaled", cx.name);
        let scaled = self.push(
            Op::Mul { activation },
            vec![Some(x.tensor), Some(scale)],
            &scaled,
            &tensor_dims,
        );
        let tensor = self.push(
            Op::Add { activation },
            vec![Some(scaled), Some(shift)],
            &cx.name,
            &tensor_dims,
        );
        Ok(Stored {
            tensor,
            layout: x.layout.clone(),
        })
    }

    /// `(x - mean) · rsqrt(var + eps)` over the last axis (stored last),
    /// then `· weight + bias`.
    pub(super) fn layernorm(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        eps: f32,
        affine: bool,
    ) -> Result<Stored, ExportError> {
        let rank = shape.len();
        let layout = match &x.layout {
            Layout::Permuted(perm) if perm.last() == Some(&(rank - 1)) => x.layout.clone(),
            Layout::Permuted(_) | Layout::Flat { .. } => Layout::natural(rank),
        };
        let input = self.convert(x, shape, &layout, &cx.name);
        let dims = layout.tensor_dims(shape);
        let mut reduced = dims.clone();
        reduced[rank - 1] = 1;
        let activation = Activation::None;
        let name = |what: &str| format!("{}.{what}", cx.name);
        let axes = self.i32_constant(&name("axes"), &[dim(rank)]);
        let mean_op = || Op::Mean { keep_dims: true };
        let mean = self.push(
            mean_op(),
            vec![Some(input), Some(axes)],
            &name("mean"),
            &reduced,
        );
        let centered = self.push(
            Op::Sub { activation },
            vec![Some(input), Some(mean)],
            &name("centered"),
            &dims,
        );
        let squared = self.push(
            Op::Mul { activation },
            vec![Some(centered), Some(centered)],
            &name("squared"),
            &dims,
        );
        let var = self.push(
            mean_op(),
            vec![Some(squared), Some(axes)],
            &name("var"),
            &reduced,
        );
        let eps = self.f32_constant(&name("eps"), &[], &[eps]);
        let var_eps = self.push(
            Op::Add { activation },
            vec![Some(var), Some(eps)],
            &name("var_eps"),
            &reduced,
        );
        let inv_std = self.push(Op::Rsqrt, vec![Some(var_eps)], &name("inv_std"), &reduced);
        let last_name = if affine {
            name("normalized")
        } else {
            cx.name.clone()
        };
        let mut tensor = self.push(
            Op::Mul { activation },
            vec![Some(centered), Some(inv_std)],
            &last_name,
            &dims,
        );
        if affine {
            let width = shape[rank - 1];
            let weight = self.layer_param(cx, 0, width)?;
            let bias = self.layer_param(cx, 1, width)?;
            let scaled = self.push(
                Op::Mul { activation },
                vec![Some(tensor), Some(weight)],
                &name("scaled"),
                &dims,
            );
            tensor = self.push(
                Op::Add { activation },
                vec![Some(scaled), Some(bias)],
                &cx.name,
                &dims,
            );
        }
        Ok(Stored { tensor, layout })
    }

    /// Layer parameter `position`, a vector of `width`, as a constant.
    fn layer_param(
        &mut self,
        cx: &LayerCx,
        position: usize,
        width: usize,
    ) -> Result<TensorId, ExportError> {
        let param = self.model.param(self.model.value(cx.id).params[position]);
        let values = cx.weights.f32(&param.name, &[width])?.to_vec();
        let name = param.name.clone();
        Ok(self.f32_constant(&name, &[width], &values))
    }
}
