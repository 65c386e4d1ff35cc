//! Step dispatch, forward: each forward step of the plan to its kernel
//! call, and the loss of a batch.
//!
//! Separate from the layout (which says where buffers are) and the
//! training state (which owns parameters): this is the one place that
//! knows which kernel runs each step and with what arguments.

use std::ops::Range;

use super::layout::{buffer_range, param_range};
use super::views::{views, views_dyn};
use super::{Executor, StepStats};
use crate::kernels::{self, batchnorm, conv2d, pool};
use crate::plan::*;

impl Executor {
    /// Runs the forward steps on the batch in the input buffer.
    pub fn forward(&mut self, batch: usize, training: bool) {
        assert!(
            batch <= self.capacity,
            "batch {batch} exceeds the executor's capacity {}",
            self.capacity
        );
        for index in 0..self.plan.forward.len() {
            self.forward_step(index, batch, training);
        }
    }

    /// Loss of the last forward pass against the labels in the label slots,
    /// and the loss gradient (when `with_grad`); `None` for plans without a loss.
    pub fn loss(&mut self, batch: usize, with_grad: bool) -> Option<StepStats> {
        let loss = self.plan.loss?;
        let output = self.range(loss.output, batch);
        let grad = self.range(loss.grad, batch);
        let labels = &self.labels[..batch];
        let ([logits], [dlogits]) = views(&mut self.arena, [output], [grad]);
        let (value, correct) = match loss.kind {
            LossKind::CrossEntropy { classes } => {
                let value = kernels::loss::softmax_cross_entropy(
                    logits,
                    labels,
                    batch,
                    classes,
                    with_grad.then_some(dlogits),
                );
                (
                    value,
                    kernels::loss::count_correct(logits, labels, batch, classes),
                )
            }
            LossKind::Mse { len } => {
                self.targets.clear();
                self.targets.resize(batch * len, 0.0);
                for (row, &label) in self.targets.chunks_exact_mut(len).zip(labels) {
                    row[label as usize] = 1.0;
                }
                let value = kernels::loss::mse(logits, &self.targets, with_grad.then_some(dlogits));
                (
                    value,
                    kernels::loss::count_correct(logits, labels, batch, len),
                )
            }
        };
        Some(StepStats {
            loss: value,
            correct,
        })
    }

    fn forward_step(&mut self, index: usize, batch: usize, training: bool) {
        let par = &self.par;
        // Resolve buffer ranges first; then borrow the arena once.
        let (plan, start, offsets) = (&self.plan, &self.start, &self.param_offset);
        let r = |id: BufferId| buffer_range(plan, start, id, batch);
        let p = |id: ParamId| param_range(plan, offsets, id);
        match &self.plan.forward[index] {
            Step::Dense {
                x,
                weight,
                bias,
                y,
                in_features,
                out_features,
                relu,
            } => {
                let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                let weight = &self.values[p(*weight)];
                let bias = bias.map(|b| &self.values[p(b)]);
                if *relu {
                    kernels::dense::forward_relu(
                        x,
                        weight,
                        bias,
                        y,
                        batch,
                        *in_features,
                        *out_features,
                        par,
                    );
                } else {
                    kernels::dense::forward(
                        x,
                        weight,
                        bias,
                        y,
                        batch,
                        *in_features,
                        *out_features,
                        par,
                    );
                }
            }
            Step::Conv2d {
                x,
                weight,
                bias,
                y,
                shape,
            } => {
                let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                let geometry = conv_geometry(shape, batch);
                let weight = &self.values[p(*weight)];
                let bias = bias.map(|b| &self.values[p(b)]);
                conv2d::conv2d_forward(
                    &geometry,
                    x,
                    weight,
                    bias,
                    y,
                    &mut self.forward_scratch[index],
                    par,
                );
            }
            Step::MaxPool2d {
                x,
                y,
                indices,
                shape,
            } => {
                let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                let geometry = pool_geometry(shape, batch);
                let indices = training.then(|| &mut self.indices[r(*indices)]);
                pool::max_pool2d_forward(&geometry, x, y, indices, par);
            }
            Step::AvgPool2d { x, y, shape } => {
                let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                pool::avg_pool2d_forward(&pool_geometry(shape, batch), true, x, y, par);
            }
            Step::Relu { x, y } => {
                let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                kernels::activation::relu::forward(x, y);
            }
            Step::LeakyRelu {
                x,
                y,
                negative_slope,
            } => {
                let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                kernels::activation::leaky_relu::forward(x, y, *negative_slope);
            }
            Step::Sigmoid { x, y } => {
                let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                kernels::activation::sigmoid::forward(x, y);
            }
            Step::Tanh { x, y } => {
                let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                kernels::activation::tanh::forward(x, y);
            }
            Step::Softmax {
                x,
                y,
                outer,
                axis_len,
                inner,
            } => {
                let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                kernels::softmax::forward(x, y, outer * batch, *axis_len, *inner);
            }
            Step::Dropout {
                x,
                y,
                mask,
                p: rate,
            } => {
                if training {
                    let ([x], [y, mask]) = views(&mut self.arena, [r(*x)], [r(*y), r(*mask)]);
                    kernels::dropout::forward(x, y, mask, *rate, &mut self.dropout_rng);
                } else {
                    let ([x], [y]) = views(&mut self.arena, [r(*x)], [r(*y)]);
                    y.copy_from_slice(x);
                }
            }
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
                let ([x], [y, save_mean, save_invstd]) = views(
                    &mut self.arena,
                    [r(*x)],
                    [r(*y), r(*save_mean), r(*save_invstd)],
                );
                let ([gamma, beta], [mean, var]) = views(
                    &mut self.values,
                    [p(*weight), p(*bias)],
                    [p(*running_mean), p(*running_var)],
                );
                if training {
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
                    let counter = self.param_offset[num_batches_tracked.index()];
                    self.counters[counter] += 1;
                } else {
                    batchnorm::batch_norm_forward_eval(
                        &geometry, x, gamma, beta, mean, var, *eps, y, par,
                    );
                }
            }
            Step::Add { a, b, y } => {
                let ([a, b], [y]) = views(&mut self.arena, [r(*a), r(*b)], [r(*y)]);
                kernels::elementwise::add(a, b, y);
            }
            Step::Concat {
                inputs,
                lens,
                outer,
                inner,
                y,
            } => {
                let reads: Vec<Range<usize>> = inputs.iter().map(|&i| r(i)).collect();
                let (xs, mut ys) = views_dyn(&mut self.arena, &reads, &[r(*y)]);
                kernels::concat::forward(&xs, lens, outer * batch, *inner, ys[0]);
            }
        }
    }
}

pub(super) fn conv_geometry(shape: &ConvShape, batch: usize) -> conv2d::Conv2dGeometry {
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

pub(super) fn pool_geometry(shape: &PoolShape, batch: usize) -> pool::Pool2dGeometry {
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
