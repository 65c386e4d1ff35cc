//! The executor: runs a [`Plan`] batch by batch, for inference and training.
//!
//! It owns the storage the plan describes: one f32 arena holding every
//! buffer at a fixed offset (sized for the largest batch it will see), a
//! u32 arena for pooling indices, the parameters, their gradients and the
//! optimizer state. A step borrows disjoint parts of the arena; the
//! disjointness the plan promises is checked on every borrow.

use std::ops::Range;

use crate::kernels::{self, batchnorm, conv2d, pool};
use crate::optim::OptimizerState;
use crate::parallel::Parallel;
use crate::plan::*;
use crate::rng::Rng;

/// Why an executor cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(
        "the buffers of model `{model}` for batches of {capacity} samples do not fit in memory; use a smaller batch"
    )]
    TooLarge { model: String, capacity: usize },
}

/// `len` zeros, or `None` if the memory is not there (instead of aborting).
fn zeroed<T: Clone + Default>(len: usize) -> Option<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).ok()?;
    v.resize(len, T::default());
    Some(v)
}

/// What one training step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Samples whose highest score was their label.
    pub correct: usize,
}

pub struct Executor {
    plan: Plan,
    capacity: usize,
    /// Start of each buffer's storage in its arena (aliases share their root's).
    start: Vec<usize>,
    arena: Vec<f32>,
    indices: Vec<u32>,
    /// Offset of each parameter in `values` (f32) or `counters` (i64).
    param_offset: Vec<usize>,
    values: Vec<f32>,
    grads: Vec<f32>,
    counters: Vec<i64>,
    /// Parameters the backward pass writes a gradient for.
    has_grad: Vec<bool>,
    optimizer: Option<OptimizerState>,
    par: Parallel,
    /// Per-step scratch (im2col) for forward and backward steps.
    forward_scratch: Vec<Vec<f32>>,
    backward_scratch: Vec<Vec<f32>>,
    /// Labels of the current batch, and one-hot targets for `mse`.
    labels: Vec<u32>,
    targets: Vec<f32>,
    dropout_rng: Rng,
}

impl Executor {
    /// An executor for batches of up to `capacity` samples on `threads`
    /// threads. Parameters start at zero: call [`Executor::init_params`] or
    /// load them. Fails, rather than aborting, when the buffers for
    /// `capacity` samples do not fit in memory.
    pub fn new(plan: Plan, capacity: usize, threads: usize) -> Result<Self, ExecError> {
        let capacity = capacity.max(1);
        let too_large = || ExecError::TooLarge {
            model: plan.model.clone(),
            capacity,
        };
        let mut start = vec![0; plan.buffers.len()];
        let (mut f32_len, mut u32_len) = (0usize, 0usize);
        for (i, buffer) in plan.buffers.iter().enumerate() {
            if buffer.alias_of.is_some() {
                continue;
            }
            let len = match buffer.size {
                Size::PerSample(n) => n.checked_mul(capacity).ok_or_else(too_large)?,
                Size::Fixed(n) => n,
            };
            let total = match buffer.ty {
                BufferType::F32 => &mut f32_len,
                BufferType::U32 => &mut u32_len,
            };
            start[i] = *total;
            *total = total.checked_add(len).ok_or_else(too_large)?;
        }
        for i in 0..plan.buffers.len() {
            start[i] = start[plan.root(BufferId(i as u32)).index()];
        }
        let arena = zeroed(f32_len).ok_or_else(too_large)?;
        let indices = zeroed(u32_len).ok_or_else(too_large)?;
        let mut param_offset = Vec::with_capacity(plan.params.len());
        let (mut values_len, mut counters_len) = (0usize, 0usize);
        for param in &plan.params {
            match param.kind {
                ParamKind::Counter => {
                    param_offset.push(counters_len);
                    counters_len += param.len();
                }
                ParamKind::Trainable | ParamKind::State => {
                    param_offset.push(values_len);
                    values_len += param.len();
                }
            }
        }
        let mut has_grad = vec![false; plan.params.len()];
        for step in &plan.backward {
            let touched: Vec<ParamId> = match step {
                GradStep::Dense { weight, bias, .. } | GradStep::Conv2d { weight, bias, .. } => {
                    std::iter::once(*weight).chain(*bias).collect()
                }
                GradStep::BatchNorm { weight, bias, .. } => vec![*weight, *bias],
                _ => Vec::new(),
            };
            for param in touched {
                has_grad[param.index()] = true;
            }
        }
        let optimizer = match plan.optimizer {
            Some(o) => {
                Some(OptimizerState::new(o, values_len, plan.params.len()).ok_or_else(too_large)?)
            }
            None => None,
        };
        Ok(Executor {
            capacity,
            start,
            arena,
            indices,
            param_offset,
            values: zeroed(values_len).ok_or_else(too_large)?,
            grads: zeroed(values_len).ok_or_else(too_large)?,
            counters: zeroed(counters_len).ok_or_else(too_large)?,
            has_grad,
            optimizer,
            par: Parallel::new(threads),
            forward_scratch: vec![Vec::new(); plan.forward.len()],
            backward_scratch: vec![Vec::new(); plan.backward.len()],
            labels: vec![0; capacity],
            targets: Vec::new(),
            dropout_rng: Rng::new(0),
            plan,
        })
    }

    /// Bytes an executor for `plan` and batches of `capacity` samples
    /// allocates (buffers, parameters, gradients, optimizer state); `None`
    /// if the count overflows. Lets a caller refuse a model that would not
    /// fit before the operating system kills the process for it.
    pub fn memory_needed(plan: &Plan, capacity: usize) -> Option<usize> {
        let mut elements = 0usize;
        for buffer in plan.buffers.iter().filter(|b| b.alias_of.is_none()) {
            let len = match buffer.size {
                Size::PerSample(n) => n.checked_mul(capacity.max(1))?,
                Size::Fixed(n) => n,
            };
            elements = elements.checked_add(len)?;
        }
        let params: usize = plan.params.iter().map(Param::len).sum();
        // Values and gradients; Adam keeps two more copies, momentum one.
        let copies = 2 + match plan.optimizer {
            Some(Optimizer::Adam { .. } | Optimizer::AdamW { .. }) => 2,
            Some(Optimizer::Sgd { momentum, .. }) if momentum != 0.0 => 1,
            _ => 0,
        };
        elements = elements.checked_add(params.checked_mul(copies)?)?;
        elements.checked_mul(4)
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn threads(&self) -> usize {
        self.par.threads()
    }

    /// PyTorch's default initialization, reproducible from `seed`: each
    /// parameter draws from its own stream, derived from the seed and its
    /// name, so adding a layer leaves the others' values unchanged.
    pub fn init_params(&mut self, seed: u64) {
        for (i, param) in self.plan.params.iter().enumerate() {
            let offset = self.param_offset[i];
            match param.kind {
                ParamKind::Counter => self.counters[offset..offset + param.len()].fill(0),
                ParamKind::Trainable | ParamKind::State => {
                    let values = &mut self.values[offset..offset + param.len()];
                    match param.init {
                        Init::Constant(c) => values.fill(c),
                        Init::Uniform { bound } => {
                            let mut rng = Rng::new(seed ^ name_hash(&param.name));
                            values
                                .iter_mut()
                                .for_each(|v| *v = rng.uniform(-bound, bound));
                        }
                    }
                }
            }
        }
        self.dropout_rng = Rng::new(seed ^ 0xD0D0_D0D0_D0D0_D0D0);
    }

    /// Restarts the dropout stream (each epoch of training restarts it from
    /// the seed and the epoch, so a resumed run draws the same masks).
    pub fn seed_dropout(&mut self, seed: u64) {
        self.dropout_rng = Rng::new(seed ^ 0xD0D0_D0D0_D0D0_D0D0);
    }

    /// A parameter's values (f32 parameters and state).
    pub fn param(&self, id: ParamId) -> &[f32] {
        &self.values[param_range(&self.plan, &self.param_offset, id)]
    }

    pub fn param_mut(&mut self, id: ParamId) -> &mut [f32] {
        let range = param_range(&self.plan, &self.param_offset, id);
        &mut self.values[range]
    }

    /// A counter parameter (BatchNorm's `num_batches_tracked`).
    pub fn counter(&self, id: ParamId) -> &[i64] {
        &self.counters[param_range(&self.plan, &self.param_offset, id)]
    }

    pub fn counter_mut(&mut self, id: ParamId) -> &mut [i64] {
        let range = param_range(&self.plan, &self.param_offset, id);
        &mut self.counters[range]
    }

    /// The gradient of a trainable parameter after the last backward pass.
    pub fn grad(&self, id: ParamId) -> &[f32] {
        &self.grads[param_range(&self.plan, &self.param_offset, id)]
    }

    pub fn optimizer_state(&self) -> Option<&OptimizerState> {
        self.optimizer.as_ref()
    }

    pub fn optimizer_state_mut(&mut self) -> Option<&mut OptimizerState> {
        self.optimizer.as_mut()
    }

    /// Offsets of each parameter in the flat parameter array (for checkpoints of optimizer state).
    pub fn param_offsets(&self) -> &[usize] {
        &self.param_offset
    }

    fn range(&self, id: BufferId, batch: usize) -> Range<usize> {
        buffer_range(&self.plan, &self.start, id, batch)
    }

    /// The storage of buffer `id` for a batch of `batch` samples.
    pub fn buffer(&self, id: BufferId, batch: usize) -> &[f32] {
        &self.arena[self.range(id, batch)]
    }

    pub fn buffer_mut(&mut self, id: BufferId, batch: usize) -> &mut [f32] {
        let range = self.range(id, batch);
        &mut self.arena[range]
    }

    /// Where the model's (first) input goes: `batch × input elements`.
    pub fn input_mut(&mut self, batch: usize) -> &mut [f32] {
        let input = self.plan.inputs[0];
        self.buffer_mut(input, batch)
    }

    /// The input buffer and the label slots of a batch, to fill together.
    pub fn batch_slots(&mut self, batch: usize) -> (&mut [f32], &mut [u32]) {
        let range = self.range(self.plan.inputs[0], batch);
        (&mut self.arena[range], &mut self.labels[..batch])
    }

    /// Copies samples `indices` of `data` (and their labels) into the input
    /// and label slots, split over the threads: the copy reads scattered
    /// rows from memory and is bound by latency more than bandwidth.
    pub fn load_batch(&mut self, data: &crate::data::Dataset, indices: &[usize]) {
        let batch = indices.len();
        let sample = data.sample_len();
        let range = self.range(self.plan.inputs[0], batch);
        let x = &mut self.arena[range];
        assert_eq!(
            x.len(),
            batch * sample,
            "load_batch: the data's samples do not fit the model's input"
        );
        // Below this a parallel call costs about what it saves.
        const MIN_PARALLEL: usize = 64 * 1024;
        if self.par.threads() == 1 || x.len() < MIN_PARALLEL {
            data.gather_batch(indices, x, &mut self.labels[..batch]);
            return;
        }
        self.par.for_each_chunk_mut(x, sample, &|first, rows| {
            for (row, &i) in rows.chunks_exact_mut(sample).zip(&indices[first..]) {
                row.copy_from_slice(data.sample(i));
            }
        });
        for (label, &i) in self.labels[..batch].iter_mut().zip(indices) {
            *label = data.labels[i];
        }
    }

    /// Output `index` after the last forward pass.
    pub fn output(&self, index: usize, batch: usize) -> &[f32] {
        self.buffer(self.plan.outputs[index].1, batch)
    }

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

    /// Runs the backward steps (after [`Executor::loss`] with a gradient).
    pub fn backward(&mut self, batch: usize) {
        for index in 0..self.plan.backward.len() {
            self.backward_step(index, batch);
        }
    }

    /// One optimizer step on every parameter that received a gradient.
    pub fn update(&mut self) {
        let Some(optimizer) = self.optimizer.as_mut() else {
            return;
        };
        for (i, param) in self.plan.params.iter().enumerate() {
            if param.kind != ParamKind::Trainable || !self.has_grad[i] {
                continue;
            }
            let offset = self.param_offset[i];
            let grad = &self.grads[offset..offset + param.len()];
            optimizer.step(i, offset, &mut self.values, grad, &self.par);
        }
    }

    /// Forward, loss, backward and update on the batch in the input and
    /// label slots.
    pub fn train_step(&mut self, batch: usize) -> StepStats {
        self.forward(batch, true);
        let stats = self
            .loss(batch, true)
            .expect("train_step needs a training plan");
        self.backward(batch);
        self.update();
        stats
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

    fn backward_step(&mut self, index: usize, batch: usize) {
        let par = &self.par;
        let (plan, start, offsets) = (&self.plan, &self.start, &self.param_offset);
        let r = |id: BufferId| buffer_range(plan, start, id, batch);
        let p = |id: ParamId| param_range(plan, offsets, id);
        match &self.plan.backward[index] {
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
                let weight_values = &self.values[p(*weight)];
                let ([dweight], [dbias]) = match bias {
                    Some(b) => {
                        let [dw, db] = views_mut2(&mut self.grads, p(*weight), p(*b));
                        ([dw], [Some(db)])
                    }
                    None => ([&mut self.grads[p(*weight)]], [None]),
                };
                match (relu_y, dx) {
                    (Some(y), Some(dx)) => {
                        let ([x, y], [dy, dx]) =
                            views(&mut self.arena, [r(*x), r(*y)], [r(*dy), r(*dx)]);
                        kernels::dense::backward_relu(
                            x,
                            weight_values,
                            y,
                            dy,
                            Some(dx),
                            dweight,
                            dbias,
                            batch,
                            *in_features,
                            *out_features,
                            par,
                        );
                    }
                    (Some(y), None) => {
                        let ([x, y], [dy]) = views(&mut self.arena, [r(*x), r(*y)], [r(*dy)]);
                        kernels::dense::backward_relu(
                            x,
                            weight_values,
                            y,
                            dy,
                            None,
                            dweight,
                            dbias,
                            batch,
                            *in_features,
                            *out_features,
                            par,
                        );
                    }
                    (None, Some(dx)) => {
                        let ([x, dy], [dx]) = views(&mut self.arena, [r(*x), r(*dy)], [r(*dx)]);
                        kernels::dense::backward(
                            x,
                            weight_values,
                            dy,
                            Some(dx),
                            dweight,
                            dbias,
                            batch,
                            *in_features,
                            *out_features,
                            par,
                        );
                    }
                    (None, None) => {
                        let ([x, dy], []) = views(&mut self.arena, [r(*x), r(*dy)], []);
                        kernels::dense::backward(
                            x,
                            weight_values,
                            dy,
                            None,
                            dweight,
                            dbias,
                            batch,
                            *in_features,
                            *out_features,
                            par,
                        );
                    }
                }
            }
            GradStep::Conv2d {
                x,
                weight,
                bias,
                dy,
                dx,
                shape,
            } => {
                let geometry = conv_geometry(shape, batch);
                let weight_values = &self.values[p(*weight)];
                let (dweight, dbias) = match bias {
                    Some(b) => {
                        let [dw, db] = views_mut2(&mut self.grads, p(*weight), p(*b));
                        (dw, Some(db))
                    }
                    None => (&mut self.grads[p(*weight)], None),
                };
                let scratch = &mut self.backward_scratch[index];
                match dx {
                    Some(dx) => {
                        let ([x, dy], [dx]) = views(&mut self.arena, [r(*x), r(*dy)], [r(*dx)]);
                        conv2d::conv2d_backward(
                            &geometry,
                            x,
                            weight_values,
                            dy,
                            Some(dx),
                            dweight,
                            dbias,
                            scratch,
                            par,
                        );
                    }
                    None => {
                        let ([x, dy], []) = views(&mut self.arena, [r(*x), r(*dy)], []);
                        conv2d::conv2d_backward(
                            &geometry,
                            x,
                            weight_values,
                            dy,
                            None,
                            dweight,
                            dbias,
                            scratch,
                            par,
                        );
                    }
                }
            }
            GradStep::MaxPool2d {
                dy,
                indices,
                dx,
                shape,
            } => {
                let ([dy], [dx]) = views(&mut self.arena, [r(*dy)], [r(*dx)]);
                pool::max_pool2d_backward(
                    &pool_geometry(shape, batch),
                    dy,
                    &self.indices[r(*indices)],
                    dx,
                    par,
                );
            }
            GradStep::AvgPool2d { dy, dx, shape } => {
                let ([dy], [dx]) = views(&mut self.arena, [r(*dy)], [r(*dx)]);
                pool::avg_pool2d_backward(&pool_geometry(shape, batch), true, dy, dx, par);
            }
            GradStep::Relu { y, dy, dx } => {
                let ([y, dy], [dx]) = views(&mut self.arena, [r(*y), r(*dy)], [r(*dx)]);
                kernels::activation::relu::backward(y, dy, dx);
            }
            GradStep::LeakyRelu {
                x,
                dy,
                dx,
                negative_slope,
            } => {
                let ([x, dy], [dx]) = views(&mut self.arena, [r(*x), r(*dy)], [r(*dx)]);
                kernels::activation::leaky_relu::backward(x, dy, dx, *negative_slope);
            }
            GradStep::Sigmoid { y, dy, dx } => {
                let ([y, dy], [dx]) = views(&mut self.arena, [r(*y), r(*dy)], [r(*dx)]);
                kernels::activation::sigmoid::backward(y, dy, dx);
            }
            GradStep::Tanh { y, dy, dx } => {
                let ([y, dy], [dx]) = views(&mut self.arena, [r(*y), r(*dy)], [r(*dx)]);
                kernels::activation::tanh::backward(y, dy, dx);
            }
            GradStep::Softmax {
                y,
                dy,
                dx,
                outer,
                axis_len,
                inner,
            } => {
                let ([y, dy], [dx]) = views(&mut self.arena, [r(*y), r(*dy)], [r(*dx)]);
                kernels::softmax::backward(y, dy, dx, outer * batch, *axis_len, *inner);
            }
            GradStep::Dropout { mask, dy, dx } => {
                let ([mask, dy], [dx]) = views(&mut self.arena, [r(*mask), r(*dy)], [r(*dx)]);
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
                let gamma = &self.values[p(*weight)];
                let [dgamma, dbeta] = views_mut2(&mut self.grads, p(*weight), p(*bias));
                let reads = [r(*x), r(*dy), r(*save_mean), r(*save_invstd)];
                match dx {
                    Some(dx) => {
                        let ([x, dy, mean, invstd], [dx]) = views(&mut self.arena, reads, [r(*dx)]);
                        batchnorm::batch_norm_backward(
                            &geometry, x, dy, gamma, mean, invstd, dx, dgamma, dbeta, par,
                        );
                    }
                    None => {
                        // The kernel always produces dx; give it scratch.
                        let scratch = &mut self.backward_scratch[index];
                        scratch.resize(geometry.len(), 0.0);
                        let ([x, dy, mean, invstd], []) = views(&mut self.arena, reads, []);
                        batchnorm::batch_norm_backward(
                            &geometry, x, dy, gamma, mean, invstd, scratch, dgamma, dbeta, par,
                        );
                    }
                }
            }
            GradStep::Concat {
                dy,
                dxs,
                lens,
                outer,
                inner,
            } => {
                let scratch = &mut self.backward_scratch[index];
                let wanted: Vec<Range<usize>> = dxs.iter().flatten().map(|&d| r(d)).collect();
                let (reads, mut writes) = views_dyn(&mut self.arena, &[r(*dy)], &wanted);
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
                            let (head, tail) = std::mem::take(&mut spare)
                                .split_at_mut(len * outer * inner * batch);
                            outs.push(head);
                            spare = tail;
                        }
                    }
                }
                kernels::concat::backward(reads[0], lens, outer * batch, *inner, &mut outs);
            }
            GradStep::Copy { from, to } => {
                let ([from], [to]) = views(&mut self.arena, [r(*from)], [r(*to)]);
                to.copy_from_slice(from);
            }
            GradStep::Accumulate { into, from } => {
                let ([from], [into]) = views(&mut self.arena, [r(*from)], [r(*into)]);
                kernels::elementwise::add_assign(into, from);
            }
        }
    }
}

/// Where buffer `id` lives in its arena for a batch of `batch` samples.
/// A free function over the layout, so a step can compute ranges while the
/// arena itself is borrowed.
fn buffer_range(plan: &Plan, start: &[usize], id: BufferId, batch: usize) -> Range<usize> {
    let first = start[id.index()];
    first..first + size_for(plan.buffer(id).size, batch)
}

/// Where parameter `id` lives in the parameter (or counter) array.
fn param_range(plan: &Plan, offsets: &[usize], id: ParamId) -> Range<usize> {
    let first = offsets[id.index()];
    first..first + plan.param(id).len()
}

fn size_for(size: Size, batch: usize) -> usize {
    match size {
        Size::PerSample(n) => n * batch,
        Size::Fixed(n) => n,
    }
}

fn conv_geometry(shape: &ConvShape, batch: usize) -> conv2d::Conv2dGeometry {
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

fn pool_geometry(shape: &PoolShape, batch: usize) -> pool::Pool2dGeometry {
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

/// FNV-1a: a stable hash of a parameter name, to seed its stream.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Checks that every write range is in bounds and disjoint from every other range.
fn check_disjoint(len: usize, reads: &[Range<usize>], writes: &[Range<usize>]) {
    for (i, w) in writes.iter().enumerate() {
        assert!(w.end <= len, "buffer {w:?} out of the arena's {len}");
        for other in reads.iter().chain(&writes[i + 1..]) {
            assert!(
                !overlaps(w, other),
                "plan error: buffer {w:?} written while {other:?} is in use"
            );
        }
    }
    for r in reads {
        assert!(r.end <= len, "buffer {r:?} out of the arena's {len}");
    }
}

/// Shared views of `reads` and exclusive views of `writes`, all parts of `data`.
/// Panics (a plan bug, never user input) if a write overlaps anything.
fn views<const R: usize, const W: usize>(
    data: &mut [f32],
    reads: [Range<usize>; R],
    writes: [Range<usize>; W],
) -> ([&[f32]; R], [&mut [f32]; W]) {
    check_disjoint(data.len(), &reads, &writes);
    let base = data.as_mut_ptr();
    // SAFETY: every range is in bounds of `data`, and no write range
    // overlaps another range, so the exclusive views alias nothing; all
    // views live no longer than the borrow of `data`.
    unsafe {
        (
            std::array::from_fn(|i| {
                std::slice::from_raw_parts(base.add(reads[i].start), reads[i].len())
            }),
            std::array::from_fn(|i| {
                std::slice::from_raw_parts_mut(base.add(writes[i].start), writes[i].len())
            }),
        )
    }
}

/// [`views`] for a number of ranges known only at run time.
fn views_dyn<'a>(
    data: &'a mut [f32],
    reads: &[Range<usize>],
    writes: &[Range<usize>],
) -> (Vec<&'a [f32]>, Vec<&'a mut [f32]>) {
    check_disjoint(data.len(), reads, writes);
    let base = data.as_mut_ptr();
    // SAFETY: as in `views`.
    unsafe {
        (
            reads
                .iter()
                .map(|r| std::slice::from_raw_parts(base.add(r.start), r.len()))
                .collect(),
            writes
                .iter()
                .map(|w| std::slice::from_raw_parts_mut(base.add(w.start), w.len()))
                .collect(),
        )
    }
}

/// Two exclusive views of disjoint parts of `data`.
fn views_mut2(data: &mut [f32], a: Range<usize>, b: Range<usize>) -> [&mut [f32]; 2] {
    let ([], [a, b]) = views(data, [], [a, b]);
    [a, b]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::single_range_in_vec_init)] // arrays of ranges are the API

    use super::*;

    #[test]
    #[should_panic(expected = "plan error")]
    fn overlapping_writes_are_refused() {
        let mut data = vec![0.0; 10];
        let _ = views(&mut data, [0..4], [3..6]);
    }

    #[test]
    fn disjoint_views_work() {
        let mut data: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let ([a, b], [c]) = views(&mut data, [0..2, 1..3], [5..7]);
        c[0] = a[0] + b[1];
        assert_eq!(data[5], 2.0);
    }
}
