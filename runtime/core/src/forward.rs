//! Step dispatch, forward: each forward step of a plan to its kernel call.
//!
//! The one place that knows which kernel runs each forward step and with
//! what arguments. Both runners use it: the training executor of
//! `nnspec-runtime` (which owns its storage) and [`crate::infer`] (which
//! runs over a caller's arena, without `std` and without allocating).
//! Where buffers and parameters live is the caller's business, told
//! through a [`Layout`].
// A new op must be handled explicitly wherever ops (or their steps) are
// matched: no catch-all arm may swallow it (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use core::ops::Range;

use crate::kernels::{self, batchnorm, concat, conv2d, pool};
use crate::plan::*;
use crate::rng::Rng;
use crate::threads::Threads;
use crate::views::views;

/// Where a runner keeps each buffer and parameter.
pub trait Layout {
    /// The storage of buffer `id` for a batch of `batch` samples, in the
    /// f32 or u32 arena (by the buffer's type).
    fn buffer(&self, id: BufferId, batch: usize) -> Range<usize>;

    /// The storage of parameter `id` in the parameter array (or, for a
    /// counter, in the counter array).
    fn param(&self, id: ParamId) -> Range<usize>;
}

/// The parameters as a step sees them: read-only for inference; a training
/// pass also updates BatchNorm's running statistics.
pub enum Params<'a> {
    Read(&'a [f32]),
    Write(&'a mut [f32]),
}

impl Params<'_> {
    fn read(&self) -> &[f32] {
        match self {
            Params::Read(v) => v,
            Params::Write(v) => v,
        }
    }
}

/// The memory a forward step works in.
pub struct Memory<'a> {
    /// Every f32 buffer, where the [`Layout`] says.
    pub arena: &'a mut [f32],
    /// Every u32 buffer (max-pooling argmax indices; only training writes them).
    pub indices: &'a mut [u32],
    pub params: Params<'a>,
    /// At least [`scratch_len`] floats for this step.
    pub scratch: &'a mut [f32],
}

/// What a training pass does on top of inference.
pub struct Training<'a> {
    /// The dropout masks' stream.
    pub dropout_rng: &'a mut Rng,
    /// The counter parameters (BatchNorm's `num_batches_tracked`).
    pub counters: &'a mut [i64],
}

/// Scratch floats `step` needs for a batch of `batch` samples on `threads`
/// threads (the im2col matrices of a convolution; 0 for the others).
pub fn scratch_len(step: &Step, batch: usize, threads: usize) -> usize {
    match step {
        Step::Conv2d { shape, .. } => {
            conv2d::forward_scratch_len(&conv_geometry(shape, batch), threads)
        }
        Step::Attention { shape, .. } => {
            kernels::attention::forward_scratch_len(&attention_geometry(shape, batch))
        }
        Step::GroupedConv2d { shape, groups, .. } => {
            conv2d::grouped_forward_scratch_len(&grouped_geometry(shape, *groups, batch), threads)
        }
        Step::Dense { .. }
        | Step::MaxPool2d { .. }
        | Step::AvgPool2d { .. }
        | Step::AdaptiveAvgPool2d { .. }
        | Step::Relu { .. }
        | Step::LeakyRelu { .. }
        | Step::Sigmoid { .. }
        | Step::Tanh { .. }
        | Step::Gelu { .. }
        | Step::Silu { .. }
        | Step::Hardswish { .. }
        | Step::Elu { .. }
        | Step::Softplus { .. }
        | Step::Softmax { .. }
        | Step::Dropout { .. }
        | Step::BatchNorm { .. }
        | Step::Add { .. }
        | Step::LayerNorm { .. }
        | Step::Mul { .. }
        | Step::Mean { .. }
        | Step::Concat { .. }
        | Step::Lstm { .. }
        | Step::Last { .. }
        | Step::Embedding { .. } => 0,
    }
}

/// Runs one forward step on a batch of `batch` samples: an inference step
/// when `training` is `None` (dropout passes its input through, BatchNorm
/// uses its running statistics, max pooling records no indices).
pub fn forward_step(
    step: &Step,
    layout: &impl Layout,
    batch: usize,
    mem: Memory<'_>,
    training: Option<Training<'_>>,
    par: &dyn Threads,
) {
    let r = |id: BufferId| layout.buffer(id, batch);
    let p = |id: ParamId| layout.param(id);
    let Memory {
        arena,
        indices,
        mut params,
        scratch,
    } = mem;
    match step {
        Step::Dense {
            x,
            weight,
            bias,
            y,
            in_features,
            out_features,
            relu,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            let values = params.read();
            let weight = &values[p(*weight)];
            let bias = bias.map(|b| &values[p(b)]);
            let run = if *relu {
                kernels::dense::forward_relu
            } else {
                kernels::dense::forward
            };
            // A row per sample, or per position of a `[len, in]` input.
            let rows = x.len() / in_features.max(&1);
            run(x, weight, bias, y, rows, *in_features, *out_features, par);
        }
        Step::Conv2d {
            x,
            weight,
            bias,
            y,
            shape,
            relu,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            let geometry = conv_geometry(shape, batch);
            let values = params.read();
            let weight = &values[p(*weight)];
            let bias = bias.map(|b| &values[p(b)]);
            let run = if *relu {
                conv2d::conv2d_relu_forward_in
            } else {
                conv2d::conv2d_forward_in
            };
            run(&geometry, x, weight, bias, y, scratch, par);
        }
        Step::GroupedConv2d {
            x,
            weight,
            bias,
            y,
            shape,
            groups,
            relu,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            let geometry = grouped_geometry(shape, *groups, batch);
            let values = params.read();
            let weight = &values[p(*weight)];
            let bias = bias.map(|b| &values[p(b)]);
            let run = if *relu {
                conv2d::grouped_conv2d_relu_forward_in
            } else {
                conv2d::grouped_conv2d_forward_in
            };
            run(&geometry, x, weight, bias, y, scratch, par);
        }
        Step::MaxPool2d {
            x,
            y,
            indices: index_buffer,
            shape,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            let geometry = pool_geometry(shape, batch);
            let indices = training.is_some().then(|| &mut indices[r(*index_buffer)]);
            pool::max_pool2d_forward(&geometry, x, y, indices, par);
        }
        Step::AvgPool2d { x, y, shape } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            pool::avg_pool2d_forward(&pool_geometry(shape, batch), true, x, y, par);
        }
        Step::AdaptiveAvgPool2d {
            x,
            y,
            channels,
            in_hw,
            out_hw,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            let geometry = adaptive_geometry(*channels, *in_hw, *out_hw, batch);
            pool::adaptive_avg_pool2d_forward(&geometry, x, y, par);
        }
        Step::Relu { x, y } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::activation::relu::forward(x, y);
        }
        Step::LeakyRelu {
            x,
            y,
            negative_slope,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::activation::leaky_relu::forward(x, y, *negative_slope);
        }
        Step::Sigmoid { x, y } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::activation::sigmoid::forward(x, y);
        }
        Step::Tanh { x, y } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::activation::tanh::forward(x, y);
        }
        Step::Gelu { x, y, approximate } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            match approximate {
                GeluApproximate::None => kernels::activation::gelu::forward(x, y),
                GeluApproximate::Tanh => kernels::activation::gelu_tanh::forward(x, y),
            }
        }
        Step::Silu { x, y } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::activation::silu::forward(x, y);
        }
        Step::Hardswish { x, y } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::activation::hardswish::forward(x, y);
        }
        Step::Elu { x, y, alpha } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::activation::elu::forward(x, y, *alpha);
        }
        Step::Softplus {
            x,
            y,
            beta,
            threshold,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::activation::softplus::forward(x, y, *beta, *threshold);
        }
        Step::Softmax {
            x,
            y,
            outer,
            axis_len,
            inner,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::softmax::forward(x, y, outer * batch, *axis_len, *inner);
        }
        Step::Dropout {
            x,
            y,
            mask,
            p: rate,
        } => match training {
            Some(t) => {
                let ([x], [y, mask]) = views(arena, [r(*x)], [r(*y), r(*mask)]);
                kernels::dropout::forward(x, y, mask, *rate, t.dropout_rng);
            }
            None => {
                let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
                y.copy_from_slice(x);
            }
        },
        Step::BatchNorm {
            x,
            y,
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
            save_mean,
            save_invstd,
            channels,
            spatial,
            eps,
            momentum,
        } => {
            let geometry = batchnorm::BatchNormGeometry {
                batch,
                channels: *channels,
                spatial: *spatial,
            };
            let ([x], [y, save_mean, save_invstd]) =
                views(arena, [r(*x)], [r(*y), r(*save_mean), r(*save_invstd)]);
            match (training, &mut params) {
                (Some(t), Params::Write(values)) => {
                    let ([gamma, beta], [mean, var]) = views(
                        values,
                        [p(*weight), p(*bias)],
                        [p(*running_mean), p(*running_var)],
                    );
                    batchnorm::batch_norm_forward_train(
                        &geometry,
                        x,
                        gamma,
                        beta,
                        *eps,
                        *momentum,
                        Some((mean, var)),
                        y,
                        save_mean,
                        save_invstd,
                        par,
                    );
                    t.counters[p(*num_batches_tracked).start] += 1;
                }
                (Some(_), Params::Read(_)) => {
                    panic!("forward_step: a training pass needs writable parameters")
                }
                (None, params) => {
                    let values = params.read();
                    batchnorm::batch_norm_forward_eval(
                        &geometry,
                        x,
                        &values[p(*weight)],
                        &values[p(*bias)],
                        &values[p(*running_mean)],
                        &values[p(*running_var)],
                        *eps,
                        y,
                        par,
                    );
                }
            }
        }
        Step::Add { a, b, y } => {
            let ([a, b], [y]) = views(arena, [r(*a), r(*b)], [r(*y)]);
            kernels::elementwise::add(a, b, y);
        }
        Step::Mul { a, b, y } => {
            let ([a, b], [y]) = views(arena, [r(*a), r(*b)], [r(*y)]);
            kernels::elementwise::mul(a, b, y);
        }
        Step::LayerNorm {
            x,
            y,
            weight,
            bias,
            save_mean,
            save_rstd,
            width,
            eps,
        } => {
            let values = params.read();
            let (weight, bias) = (weight.map(|w| &values[p(w)]), bias.map(|b| &values[p(b)]));
            if training.is_some() {
                let saved = [r(*y), r(*save_mean), r(*save_rstd)];
                let ([x], [y, mean, rstd]) = views(arena, [r(*x)], saved);
                let stats = Some((mean, rstd));
                kernels::layernorm::forward(x, weight, bias, y, stats, *width, *eps, par);
            } else {
                let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
                kernels::layernorm::forward(x, weight, bias, y, None, *width, *eps, par);
            }
        }
        Step::Mean {
            x,
            y,
            outer,
            axis_len,
            inner,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::reduce::mean::forward(x, y, outer * batch, *axis_len, *inner);
        }
        Step::Concat {
            inputs,
            lens,
            outer,
            inner,
            y,
        } => {
            // One input at a time, so no list of views is allocated.
            let total: usize = lens.iter().sum();
            let mut at = 0;
            for (&input, &len) in inputs.iter().zip(lens) {
                let ([x], [y]) = views(arena, [r(input)], [r(*y)]);
                concat::forward_one(x, at, len, total, outer * batch, *inner, y);
                at += len;
            }
        }
        Step::Attention {
            x,
            params: ids,
            heads,
            probs,
            ctx,
            y,
            shape,
        } => {
            let ([x], [heads, probs, ctx, y]) =
                views(arena, [r(*x)], [r(*heads), r(*probs), r(*ctx), r(*y)]);
            let values = params.read();
            let weights = ids.map(|id| &values[p(id)]);
            let g = attention_geometry(shape, batch);
            kernels::attention::forward(&g, x, weights, heads, probs, ctx, y, scratch, par);
        }
        Step::Lstm {
            x,
            y,
            params: ids,
            saved,
            shape,
        } => {
            let [input, gates, cells, hidden] = saved.map(r);
            let writes = [r(*y), input, gates, cells, hidden];
            let ([x], [y, input, gates, cells, hidden]) = views(arena, [r(*x)], writes);
            let state = kernels::lstm::LstmState {
                input,
                gates,
                cells,
                hidden,
            };
            let g = lstm_geometry(shape, batch);
            kernels::lstm::forward(&g, x, params.read(), &|i| p(ids[i]), y, state, par);
        }
        Step::Last {
            x,
            y,
            len,
            features,
        } => {
            let ([x], [y]) = views(arena, [r(*x)], [r(*y)]);
            kernels::last::forward(x, y, *len, *features);
        }
        Step::Embedding {
            ids,
            weight,
            y,
            num,
            dim,
            ..
        } => {
            let ([ids], [y]) = views(arena, [r(*ids)], [r(*y)]);
            let weight = &params.read()[p(*weight)];
            kernels::embedding::forward(ids, weight, y, *num, *dim, par);
        }
    }
}

/// The attention geometry of `shape` for a batch of `batch` samples.
pub fn attention_geometry(
    shape: &AttentionShape,
    batch: usize,
) -> kernels::attention::AttentionGeometry {
    kernels::attention::AttentionGeometry {
        batch,
        len: shape.len,
        dim: shape.dim,
        heads: shape.heads,
        causal: shape.causal,
    }
}

/// The LSTM geometry of `shape` for a batch of `batch` samples.
pub fn lstm_geometry(shape: &LstmShape, batch: usize) -> kernels::lstm::LstmGeometry {
    kernels::lstm::LstmGeometry {
        batch,
        len: shape.len,
        input: shape.input,
        hidden: shape.hidden,
        layers: shape.layers,
    }
}

/// The convolution geometry of `shape` for a batch of `batch` samples.
pub fn conv_geometry(shape: &ConvShape, batch: usize) -> conv2d::Conv2dGeometry {
    conv2d::Conv2dGeometry {
        batch,
        in_channels: shape.in_channels,
        in_h: shape.in_h,
        in_w: shape.in_w,
        out_channels: shape.out_channels,
        kernel: shape.kernel,
        stride: shape.stride,
        padding: shape.padding,
        dilation: shape.dilation,
    }
}

/// The grouped convolution geometry of `shape` for a batch of `batch` samples.
pub fn grouped_geometry(
    shape: &ConvShape,
    groups: usize,
    batch: usize,
) -> conv2d::GroupedConv2dGeometry {
    conv2d::GroupedConv2dGeometry {
        conv: conv_geometry(shape, batch),
        groups,
    }
}

/// The adaptive pooling geometry of one sample's planes for a batch of `batch` samples.
pub fn adaptive_geometry(
    channels: usize,
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    batch: usize,
) -> pool::AdaptivePool2dGeometry {
    pool::AdaptivePool2dGeometry {
        batch,
        channels,
        in_hw,
        out_hw,
    }
}

/// The pooling geometry of `shape` for a batch of `batch` samples.
pub fn pool_geometry(shape: &PoolShape, batch: usize) -> pool::Pool2dGeometry {
    pool::Pool2dGeometry {
        batch,
        channels: shape.channels,
        in_h: shape.in_h,
        in_w: shape.in_w,
        kernel: shape.kernel,
        stride: shape.stride,
        padding: shape.padding,
        ceil_mode: false,
    }
}
