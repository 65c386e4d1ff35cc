//! What a training step needs besides the kernels, without `std`: the
//! loss of a batch, and the state training keeps between steps.
//!
//! The executor (`nnspec_runtime::exec`) and generated `train_step`
//! functions both use these, so the two agree bit for bit: the same loss
//! code, the same dropout stream for a seed, the same optimizer rules.

use core::ops::Range;

use crate::kernels;
use crate::optim_rules::update_par;
use crate::plan::{Clip, LossKind, Optimizer};
use crate::rng::Rng;
use crate::threads::Threads;

/// What one training step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Samples whose highest score was their label.
    pub correct: usize,
}

/// The dropout masks' stream for a training seed (each epoch of `dslc
/// train` restarts it from the seed and the epoch).
pub fn dropout_stream(seed: u64) -> Rng {
    Rng::new(seed ^ 0xD0D0_D0D0_D0D0_D0D0)
}

/// Floats of scratch [`loss`] needs for a batch: the targets the
/// element-wise losses make from class labels, nothing for cross-entropy.
pub fn loss_scratch_len(kind: LossKind, batch: usize) -> usize {
    match kind {
        LossKind::CrossEntropy { .. } => 0,
        LossKind::Mse { len }
        | LossKind::L1 { len }
        | LossKind::SmoothL1 { len, .. }
        | LossKind::BceWithLogits { len } => batch * len,
    }
}

/// What a batch is scored against.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One class index per sample. The element-wise losses take a label
    /// as its one-hot encoding, or over a single output as the value 0 or 1.
    Labels(&'a [u32]),
    /// The loss's `len` float targets per sample (regression, multi-label).
    Values(&'a [f32]),
}

/// The loss of `output` (a batch of `labels.len()` samples) against class
/// labels, with its gradient written to `grad` when given. `scratch` holds
/// at least [`loss_scratch_len`] floats.
pub fn loss(
    kind: LossKind,
    output: &[f32],
    labels: &[u32],
    grad: Option<&mut [f32]>,
    scratch: &mut [f32],
) -> StepStats {
    loss_of(kind, None, output, Targets::Labels(labels), grad, scratch)
}

/// [`loss`] against labels or float targets, with cross-entropy's class
/// weights (`weight`, one per class) if any.
///
/// Panics if cross-entropy is given float targets (callers pair a data
/// set with a loss before training).
pub fn loss_of(
    kind: LossKind,
    weight: Option<&[f32]>,
    output: &[f32],
    targets: Targets<'_>,
    grad: Option<&mut [f32]>,
    scratch: &mut [f32],
) -> StepStats {
    use kernels::{loss as plain, loss_targets as more};
    let len = kind.width();
    if let LossKind::CrossEntropy {
        classes,
        label_smoothing,
    } = kind
    {
        let Targets::Labels(labels) = targets else {
            panic!("cross-entropy needs class labels, not float targets");
        };
        let batch = labels.len();
        let loss = if label_smoothing == 0.0 && weight.is_none() {
            plain::softmax_cross_entropy(output, labels, batch, classes, grad)
        } else {
            more::cross_entropy(output, labels, classes, label_smoothing, weight, grad)
        };
        return StepStats {
            loss,
            correct: plain::count_correct(output, labels, batch, classes),
        };
    }
    let (values, correct): (&[f32], usize) = match targets {
        Targets::Labels(labels) => {
            let batch = labels.len();
            let values = &mut scratch[..batch * len];
            values.fill(0.0);
            for (row, &label) in values.chunks_exact_mut(len).zip(labels) {
                if len == 1 {
                    row[0] = label as f32;
                } else {
                    row[label as usize] = 1.0;
                }
            }
            let correct = match kind {
                // A logit above 0 is a probability above one half.
                LossKind::BceWithLogits { .. } if len == 1 => output
                    .iter()
                    .zip(labels)
                    .filter(|&(&y, &l)| (y > 0.0) == (l == 1))
                    .count(),
                _ if len == 1 => output
                    .iter()
                    .zip(labels)
                    .filter(|&(&y, &l)| (y >= 0.5) == (l == 1))
                    .count(),
                _ => plain::count_correct(output, labels, batch, len),
            };
            (values, correct)
        }
        Targets::Values(values) => {
            // Multi-label: a sample is right when every label is.
            let correct = match kind {
                LossKind::BceWithLogits { .. } => output
                    .chunks_exact(len)
                    .zip(values.chunks_exact(len))
                    .filter(|(y, t)| y.iter().zip(*t).all(|(&y, &t)| (y > 0.0) == (t > 0.5)))
                    .count(),
                _ => 0,
            };
            (values, correct)
        }
    };
    let loss = match kind {
        LossKind::Mse { .. } => plain::mse(output, values, grad),
        LossKind::L1 { .. } => more::l1(output, values, grad),
        LossKind::SmoothL1 { beta, .. } => more::smooth_l1(output, values, beta, grad),
        LossKind::BceWithLogits { .. } => more::bce_with_logits(output, values, grad),
        LossKind::CrossEntropy { .. } => unreachable!("handled above"),
    };
    StepStats { loss, correct }
}

/// Clips the gradients of the parameters at `trained` (places in `grads`)
/// as PyTorch's `torch.nn.utils` does before an optimizer step:
/// `clip_grad_norm_` scales every gradient by `max_norm / (norm + 1e-6)`
/// when that is below 1, where `norm` is the L2 norm of the parameters'
/// own L2 norms; `clip_grad_value_` clamps every element.
pub fn clip_gradients(clip: Clip, grads: &mut [f32], trained: &[(usize, Range<usize>)]) {
    match clip {
        Clip::Norm { max_norm } => {
            // Each parameter's norm in f32 from an f64 sum, then the norm
            // of those norms, as PyTorch's foreach path takes them.
            let squares: f64 = trained
                .iter()
                .map(|(_, r)| {
                    let sum: f64 = grads[r.clone()].iter().map(|&g| g as f64 * g as f64).sum();
                    let norm = crate::math::sqrt(sum) as f32;
                    norm as f64 * norm as f64
                })
                .sum();
            let total = crate::math::sqrt(squares) as f32;
            let coef = (max_norm / (total + 1e-6)).min(1.0);
            for (_, r) in trained {
                for g in &mut grads[r.clone()] {
                    *g *= coef;
                }
            }
        }
        Clip::Value { clip_value } => {
            for (_, r) in trained {
                for g in &mut grads[r.clone()] {
                    *g = g.clamp(-clip_value, clip_value);
                }
            }
        }
    }
}

/// How many moment buffers (each as long as the weights) `optimizer`
/// keeps: SGD's momentum, Adam's first and second moments.
pub const fn moments(optimizer: &Optimizer) -> usize {
    match optimizer {
        Optimizer::Sgd { momentum, .. } => {
            if *momentum != 0.0 {
                1
            } else {
                0
            }
        }
        Optimizer::Adam { .. } | Optimizer::AdamW { .. } => 2,
    }
}

/// Floats of the memory a [`TrainState`] works in: the gradients, then
/// the optimizer's moments, each laid out like the weights.
pub const fn state_len(optimizer: &Optimizer, weights_len: usize) -> usize {
    (1 + moments(optimizer)) * weights_len
}

/// What training keeps between steps besides the weights: their
/// gradients, the optimizer's moments and step counts, the counters of
/// BatchNorm (`num_batches_tracked`) and the dropout stream.
///
/// `PARAMS` is the number of parameters (step counts are per parameter,
/// as PyTorch's `optimizer.state[p]['step']`), `COUNTERS` the number of
/// counters; the floats live in caller-provided memory `S` of
/// [`state_len`] floats, so a device can train without allocating.
#[derive(Clone, Debug)]
pub struct TrainState<S, const PARAMS: usize, const COUNTERS: usize> {
    optimizer: Optimizer,
    weights_len: usize,
    memory: S,
    steps: [u64; PARAMS],
    counters: [i64; COUNTERS],
    dropout: Rng,
}

/// The parts of a [`TrainState`] a step works with.
pub struct StepParts<'a> {
    pub grads: &'a mut [f32],
    pub counters: &'a mut [i64],
    pub dropout: &'a mut Rng,
}

impl<S: AsRef<[f32]> + AsMut<[f32]>, const PARAMS: usize, const COUNTERS: usize>
    TrainState<S, PARAMS, COUNTERS>
{
    /// Fresh state (zero moments, no steps taken, counters at zero, the
    /// dropout stream of `seed`) in `memory`, which must hold
    /// [`state_len`]`(optimizer, weights_len)` floats; `None` otherwise.
    pub fn new(optimizer: Optimizer, weights_len: usize, mut memory: S, seed: u64) -> Option<Self> {
        if memory.as_ref().len() != state_len(&optimizer, weights_len) {
            return None;
        }
        memory.as_mut().fill(0.0);
        Some(TrainState {
            optimizer,
            weights_len,
            memory,
            steps: [0; PARAMS],
            counters: [0; COUNTERS],
            dropout: dropout_stream(seed),
        })
    }

    pub fn optimizer(&self) -> Optimizer {
        self.optimizer
    }

    /// Changes the learning rate (other hyperparameters stay).
    pub fn set_lr(&mut self, lr: f32) {
        self.optimizer = self.optimizer.with_lr(lr);
    }

    /// Restarts the dropout stream from `seed`.
    pub fn seed_dropout(&mut self, seed: u64) {
        self.dropout = dropout_stream(seed);
    }

    /// The gradients of the last step, laid out like the weights.
    pub fn grads(&self) -> &[f32] {
        &self.memory.as_ref()[..self.weights_len]
    }

    /// The optimizer's moments (SGD's momentum buffer, Adam's `exp_avg`
    /// then `exp_avg_sq`), each laid out like the weights.
    pub fn moments(&self) -> &[f32] {
        &self.memory.as_ref()[self.weights_len..]
    }

    /// Steps taken by parameter `param`.
    pub fn steps(&self, param: usize) -> u64 {
        self.steps[param]
    }

    /// The counters (BatchNorm's `num_batches_tracked`), in parameter order.
    pub fn counters(&self) -> &[i64; COUNTERS] {
        &self.counters
    }

    /// Gradients, counters and the dropout stream, for a step's kernels.
    pub fn parts(&mut self) -> StepParts<'_> {
        StepParts {
            grads: &mut self.memory.as_mut()[..self.weights_len],
            counters: &mut self.counters,
            dropout: &mut self.dropout,
        }
    }

    /// One optimizer step on `weights` for the parameters `trained`
    /// (parameter number, place in the weights): those with a gradient.
    pub fn update(
        &mut self,
        weights: &mut [f32],
        trained: &[(usize, Range<usize>)],
        par: &dyn Threads,
    ) {
        assert_eq!(weights.len(), self.weights_len, "update: weights length");
        let len = self.weights_len;
        let (grads, rest) = self.memory.as_mut().split_at_mut(len);
        let (mut first, mut second) = match moments(&self.optimizer) {
            0 => (None, None),
            1 => (Some(rest), None),
            _ => {
                let (a, b) = rest.split_at_mut(len);
                (Some(a), Some(b))
            }
        };
        for (param, range) in trained {
            self.steps[*param] += 1;
            update_par(
                self.optimizer,
                self.steps[*param],
                &mut weights[range.clone()],
                &grads[range.clone()],
                first.as_deref_mut().map(|f| &mut f[range.clone()]),
                second.as_deref_mut().map(|s| &mut s[range.clone()]),
                par,
            );
        }
    }
}
