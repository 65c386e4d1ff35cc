//! Step dispatch, backward: each gradient step of a plan to its kernel
//! call, writing the gradients of buffers and parameters.
//!
//! The counterpart of [`crate::forward`], in a file of its own because the
//! backward steps have more cases (optional input gradients, scratch for
//! gradients nobody needs). The training executor of `nnspec-runtime` runs
//! it over its own storage. Unlike inference, a backward step may grow its
//! scratch (training allocates; deploy builds never run backward steps).
//! The layers that multiply by a weight (`dense` and the convolutions)
//! have theirs in [`weighted`].
// A new op must be handled explicitly wherever ops (or their steps) are
// matched: no catch-all arm may swallow it (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use alloc::vec::Vec;
use core::ops::Range;

use crate::forward::{
    Layout, adaptive_geometry, attention_geometry, conv_geometry, grouped_geometry, lstm_geometry,
    pool_geometry,
};
use crate::kernels::{self, batchnorm, pool};
use crate::plan::*;
use crate::threads::Threads;
use crate::views::{views, views_dyn, views_mut2};

mod weighted;

/// The memory a backward step works in.
pub struct GradMemory<'a> {
    /// Every f32 buffer (activations and their gradients), where the
    /// [`Layout`] says.
    pub arena: &'a mut [f32],
    /// Every u32 buffer (max-pooling argmax indices, written by the
    /// training forward pass).
    pub indices: &'a [u32],
    /// The parameters.
    pub values: &'a [f32],
    /// The parameters' gradients, laid out like `values`.
    pub grads: &'a mut [f32],
    /// This step's scratch, kept by the caller between calls; it grows to
    /// the largest size needed.
    pub scratch: &'a mut Vec<f32>,
}

/// Where a backward step's buffers and parameters are, for a batch of
/// `batch` samples, and the threads it runs on.
struct Place<'a, L> {
    layout: &'a L,
    batch: usize,
    par: &'a dyn Threads,
}

impl<L> Clone for Place<'_, L> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<L> Copy for Place<'_, L> {}

impl<L: Layout> Place<'_, L> {
    fn buffer(&self, id: BufferId) -> Range<usize> {
        self.layout.buffer(id, self.batch)
    }

    fn param(&self, id: ParamId) -> Range<usize> {
        self.layout.param(id)
    }
}

/// Runs gradient step `step` on a batch of `batch` samples.
pub fn backward_step(
    step: &GradStep,
    layout: &impl Layout,
    batch: usize,
    mem: GradMemory<'_>,
    par: &dyn Threads,
) {
    let place = Place { layout, batch, par };
    let r = |id: BufferId| place.buffer(id);
    let p = |id: ParamId| place.param(id);
    let GradMemory {
        arena,
        indices,
        values,
        grads,
        scratch: step_scratch,
    } = mem;
    match step {
        GradStep::Dense {
            x,
            weight,
            bias,
            dy,
            dx,
            relu_y,
            in_features,
            out_features,
        } => {
            let mem = GradMemory {
                arena,
                indices,
                values,
                grads,
                scratch: step_scratch,
            };
            let (buffers, params) = ((*x, *dy, *dx), (*weight, *bias));
            let features = (*in_features, *out_features);
            weighted::dense(place, mem, buffers, params, *relu_y, features);
        }
        GradStep::Conv2d {
            x,
            weight,
            bias,
            dy,
            dx,
            relu_y,
            shape,
        } => {
            let mem = GradMemory {
                arena,
                indices,
                values,
                grads,
                scratch: step_scratch,
            };
            let (buffers, params) = ((*x, *dy, *dx), (*weight, *bias));
            let geometry = conv_geometry(shape, batch);
            weighted::conv2d(place, mem, buffers, params, *relu_y, &geometry);
        }
        GradStep::GroupedConv2d {
            x,
            weight,
            bias,
            dy,
            dx,
            relu_y,
            shape,
            groups,
        } => {
            let mem = GradMemory {
                arena,
                indices,
                values,
                grads,
                scratch: step_scratch,
            };
            let (buffers, params) = ((*x, *dy, *dx), (*weight, *bias));
            let geometry = grouped_geometry(shape, *groups, batch);
            weighted::grouped_conv2d(place, mem, buffers, params, *relu_y, &geometry);
        }
        GradStep::MaxPool2d {
            dy,
            indices: index_buffer,
            dx,
            shape,
        } => {
            let ([dy], [dx]) = views(&mut *arena, [r(*dy)], [r(*dx)]);
            pool::max_pool2d_backward(
                &pool_geometry(shape, batch),
                dy,
                &indices[r(*index_buffer)],
                dx,
                par,
            );
        }
        GradStep::AdaptiveAvgPool2d {
            dy,
            dx,
            channels,
            in_hw,
            out_hw,
        } => {
            let ([dy], [dx]) = views(&mut *arena, [r(*dy)], [r(*dx)]);
            let geometry = adaptive_geometry(*channels, *in_hw, *out_hw, batch);
            pool::adaptive_avg_pool2d_backward(&geometry, dy, dx, par);
        }
        GradStep::AvgPool2d { dy, dx, shape } => {
            let ([dy], [dx]) = views(&mut *arena, [r(*dy)], [r(*dx)]);
            pool::avg_pool2d_backward(&pool_geometry(shape, batch), true, dy, dx, par);
        }
        GradStep::Relu { y, dy, dx } => {
            let ([y, dy], [dx]) = views(&mut *arena, [r(*y), r(*dy)], [r(*dx)]);
            kernels::activation::relu::backward(y, dy, dx);
        }
        GradStep::LeakyRelu {
            x,
            dy,
            dx,
            negative_slope,
        } => {
            let ([x, dy], [dx]) = views(&mut *arena, [r(*x), r(*dy)], [r(*dx)]);
            kernels::activation::leaky_relu::backward(x, dy, dx, *negative_slope);
        }
        GradStep::Sigmoid { y, dy, dx } => {
            let ([y, dy], [dx]) = views(&mut *arena, [r(*y), r(*dy)], [r(*dx)]);
            kernels::activation::sigmoid::backward(y, dy, dx);
        }
        GradStep::Tanh { y, dy, dx } => {
            let ([y, dy], [dx]) = views(&mut *arena, [r(*y), r(*dy)], [r(*dx)]);
            kernels::activation::tanh::backward(y, dy, dx);
        }
        GradStep::Gelu {
            x,
            dy,
            dx,
            approximate,
        } => {
            let ([x, dy], [dx]) = views(&mut *arena, [r(*x), r(*dy)], [r(*dx)]);
            match approximate {
                GeluApproximate::None => kernels::activation::gelu::backward(x, dy, dx),
                GeluApproximate::Tanh => kernels::activation::gelu_tanh::backward(x, dy, dx),
            }
        }
        GradStep::Silu { x, dy, dx } => {
            let ([x, dy], [dx]) = views(&mut *arena, [r(*x), r(*dy)], [r(*dx)]);
            kernels::activation::silu::backward(x, dy, dx);
        }
        GradStep::Hardswish { x, dy, dx } => {
            let ([x, dy], [dx]) = views(&mut *arena, [r(*x), r(*dy)], [r(*dx)]);
            kernels::activation::hardswish::backward(x, dy, dx);
        }
        GradStep::Elu { x, dy, dx, alpha } => {
            let ([x, dy], [dx]) = views(&mut *arena, [r(*x), r(*dy)], [r(*dx)]);
            kernels::activation::elu::backward(x, dy, dx, *alpha);
        }
        GradStep::Softplus {
            x,
            dy,
            dx,
            beta,
            threshold,
        } => {
            let ([x, dy], [dx]) = views(&mut *arena, [r(*x), r(*dy)], [r(*dx)]);
            kernels::activation::softplus::backward(x, dy, dx, *beta, *threshold);
        }
        GradStep::Softmax {
            y,
            dy,
            dx,
            outer,
            axis_len,
            inner,
        } => {
            let ([y, dy], [dx]) = views(&mut *arena, [r(*y), r(*dy)], [r(*dx)]);
            kernels::softmax::backward(y, dy, dx, outer * batch, *axis_len, *inner);
        }
        GradStep::Dropout { mask, dy, dx } => {
            let ([mask, dy], [dx]) = views(&mut *arena, [r(*mask), r(*dy)], [r(*dx)]);
            kernels::dropout::backward(mask, dy, dx);
        }
        GradStep::BatchNorm {
            x,
            dy,
            dx,
            weight,
            bias,
            save_mean,
            save_invstd,
            channels,
            spatial,
        } => {
            let geometry = batchnorm::BatchNormGeometry {
                batch,
                channels: *channels,
                spatial: *spatial,
            };
            let gamma = &values[p(*weight)];
            let [dgamma, dbeta] = views_mut2(&mut *grads, p(*weight), p(*bias));
            let reads = [r(*x), r(*dy), r(*save_mean), r(*save_invstd)];
            match dx {
                Some(dx) => {
                    let ([x, dy, mean, invstd], [dx]) = views(&mut *arena, reads, [r(*dx)]);
                    batchnorm::batch_norm_backward(
                        &geometry, x, dy, gamma, mean, invstd, dx, dgamma, dbeta, par,
                    );
                }
                None => {
                    // The kernel always produces dx; give it scratch.
                    let scratch = &mut *step_scratch;
                    scratch.resize(geometry.len(), 0.0);
                    let ([x, dy, mean, invstd], []) = views(&mut *arena, reads, []);
                    batchnorm::batch_norm_backward(
                        &geometry, x, dy, gamma, mean, invstd, scratch, dgamma, dbeta, par,
                    );
                }
            }
        }
        GradStep::LayerNorm {
            x,
            dy,
            dx,
            weight,
            bias,
            save_mean,
            save_rstd,
            width,
        } => {
            let weight_values = weight.map(|w| &values[p(w)]);
            let param_grads = match (weight, bias) {
                (Some(w), Some(b)) => {
                    let [dw, db] = views_mut2(&mut *grads, p(*w), p(*b));
                    Some((dw, Some(db)))
                }
                (Some(w), None) => Some((&mut grads[p(*w)], None)),
                (None, _) => None,
            };
            let reads = [r(*x), r(*dy), r(*save_mean), r(*save_rstd)];
            let ([x, dy, mean, rstd], dx) = match dx {
                Some(dx) => {
                    let (reads, [dx]) = views(&mut *arena, reads, [r(*dx)]);
                    (reads, Some(dx))
                }
                None => (views(&mut *arena, reads, []).0, None),
            };
            let (w, grads) = (weight_values, param_grads);
            kernels::layernorm::backward(x, w, dy, mean, rstd, dx, grads, *width, par);
        }
        GradStep::Mul { a, b, dy, da, db } => {
            // Each gradient is the other factor times `dy`.
            for (d, other) in [(da, b), (db, a)] {
                if let Some(d) = d {
                    let ([dy, other], [d]) = views(&mut *arena, [r(*dy), r(*other)], [r(*d)]);
                    kernels::elementwise::mul(dy, other, d);
                }
            }
        }
        GradStep::Mean {
            dy,
            dx,
            outer,
            axis_len,
            inner,
        } => {
            let ([dy], [dx]) = views(&mut *arena, [r(*dy)], [r(*dx)]);
            kernels::reduce::mean::backward(dy, dx, outer * batch, *axis_len, *inner);
        }
        GradStep::Concat {
            dy,
            dxs,
            lens,
            outer,
            inner,
        } => {
            let scratch = &mut *step_scratch;
            let wanted: Vec<Range<usize>> = dxs.iter().flatten().map(|&d| r(d)).collect();
            let (reads, mut writes) = views_dyn(&mut *arena, &[r(*dy)], &wanted);
            // Inputs that need no gradient get a slice of scratch.
            let missing: usize = dxs
                .iter()
                .zip(lens)
                .filter(|(d, _)| d.is_none())
                .map(|(_, len)| len * outer * inner * batch)
                .sum();
            scratch.resize(missing, 0.0);
            let mut spare: &mut [f32] = scratch;
            let mut given = writes.drain(..);
            let mut outs: Vec<&mut [f32]> = Vec::with_capacity(dxs.len());
            for (d, len) in dxs.iter().zip(lens) {
                match d {
                    Some(_) => outs.push(given.next().expect("one view per wanted gradient")),
                    None => {
                        let (head, tail) =
                            core::mem::take(&mut spare).split_at_mut(len * outer * inner * batch);
                        outs.push(head);
                        spare = tail;
                    }
                }
            }
            kernels::concat::backward(reads[0], lens, outer * batch, *inner, &mut outs);
        }
        GradStep::Attention {
            x,
            params: ids,
            heads,
            probs,
            ctx,
            dy,
            dx,
            shape,
        } => {
            let g = attention_geometry(shape, batch);
            step_scratch.resize(kernels::attention::backward_scratch_len(&g), 0.0);
            let weights = ids.map(|id| &values[p(id)]);
            let ([], grads) = views(&mut *grads, [], ids.map(p));
            let reads = [r(*x), r(*dy), r(*heads), r(*probs), r(*ctx)];
            let run = |[x, dy, heads, probs, ctx]: [&[f32]; 5], dx| {
                kernels::attention::backward(
                    &g,
                    x,
                    weights,
                    [heads, probs, ctx],
                    dy,
                    dx,
                    grads,
                    step_scratch,
                    par,
                );
            };
            match dx {
                Some(dx) => {
                    let (reads, [dx]) = views(&mut *arena, reads, [r(*dx)]);
                    run(reads, Some(dx));
                }
                None => run(views(&mut *arena, reads, []).0, None),
            }
        }
        GradStep::Lstm {
            dy,
            dx,
            params: ids,
            saved,
            shape,
        } => {
            let g = lstm_geometry(shape, batch);
            let scratch = &mut *step_scratch;
            scratch.resize(kernels::lstm::backward_scratch_len(&g), 0.0);
            let [input, gates, cells, hidden] = saved.map(r);
            let reads = [r(*dy), input, cells, hidden];
            let (dy, saved, gates, dx) = match dx {
                Some(dx) => {
                    let ([dy, input, cells, hidden], [gates, dx]) =
                        views(&mut *arena, reads, [gates, r(*dx)]);
                    (dy, [input, cells, hidden], gates, Some(dx))
                }
                None => {
                    let ([dy, input, cells, hidden], [gates]) = views(&mut *arena, reads, [gates]);
                    (dy, [input, cells, hidden], gates, None)
                }
            };
            let [input, cells, hidden] = saved;
            let saved = kernels::lstm::LstmSaved {
                input,
                cells,
                hidden,
            };
            let at = |i: usize| p(ids[i]);
            kernels::lstm::backward(&g, values, &at, dy, dx, grads, saved, gates, scratch, par);
        }
        GradStep::Last {
            dy,
            dx,
            len,
            features,
        } => {
            let ([dy], [dx]) = views(&mut *arena, [r(*dy)], [r(*dx)]);
            kernels::last::backward(dy, dx, *len, *features);
        }
        GradStep::Copy { from, to } => {
            let ([from], [to]) = views(&mut *arena, [r(*from)], [r(*to)]);
            to.copy_from_slice(from);
        }
        GradStep::Accumulate { into, from } => {
            let ([from], [into]) = views(&mut *arena, [r(*from)], [r(*into)]);
            kernels::elementwise::add_assign(into, from);
        }
        GradStep::Embedding {
            ids,
            dy,
            weight,
            num,
            dim,
            ..
        } => {
            let ([ids, dy], []) = views(&mut *arena, [r(*ids), r(*dy)], []);
            kernels::embedding::backward(ids, dy, &mut grads[p(*weight)], *num, *dim, par);
        }
    }
}
