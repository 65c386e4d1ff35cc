//! The executor: runs a [`Plan`] batch by batch, for inference and training.
//!
//! It owns the storage the plan describes: one f32 arena holding every
//! buffer at a fixed offset (sized for the largest batch it will see), a
//! u32 arena for pooling indices, the parameters, their gradients and the
//! optimizer state. A step borrows disjoint parts of the arena; the
//! disjointness the plan promises is checked on every borrow.
//!
//! [`Executor`] is one type; its methods are kept in files by job:
//!
//! - `layout`: where every buffer and parameter lives (offsets, sizes, the
//!   capacity, [`Executor::memory_needed`]) and access to buffers;
//! - `forward` and `backward`: step dispatch, over the executor's storage,
//!   by the core's `nnspec_runtime_core::{forward, backward}` (which say
//!   which kernel runs each step; no_std inference uses the same forward
//!   dispatch), and the loss; the disjointness-checked borrows of parts of
//!   an arena are the core's `views`;
//! - `training_state`: parameters, gradients, counters, the optimizer state
//!   and its update, initialization and the dropout stream.
//!
//! This file holds the type, its construction, and feeding a batch in.
// A new op must be handled explicitly wherever ops (or their steps) are
// matched: no catch-all arm may swallow it (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

mod aligned;
mod backward;
mod forward;
mod layout;
mod training_state;

use nnspec_runtime_core::views;

use aligned::AlignedF32;

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

/// What one training step measured (the core's, shared with generated
/// `train_step` functions).
pub use nnspec_runtime_core::training::StepStats;

/// Runs one plan; see the module documentation.
pub struct Executor {
    plan: Plan,
    // Memory layout (`layout.rs`).
    capacity: usize,
    /// Start of each buffer's storage in its arena (aliases share their root's).
    start: Vec<usize>,
    arena: AlignedF32,
    indices: Vec<u32>,
    // Training state (`training_state.rs`).
    /// Offset of each parameter in `values` (f32) or `counters` (i64).
    param_offset: Vec<usize>,
    values: AlignedF32,
    grads: AlignedF32,
    counters: Vec<i64>,
    /// Parameters the backward pass writes a gradient for.
    has_grad: Vec<bool>,
    optimizer: Option<OptimizerState>,
    // Step dispatch (`forward.rs`, `backward.rs`).
    par: Parallel,
    /// Per-step scratch (im2col) for forward and backward steps.
    forward_scratch: Vec<Vec<f32>>,
    backward_scratch: Vec<Vec<f32>>,
    /// Labels of the current batch, and the targets the element-wise
    /// losses make from them.
    labels: Vec<u32>,
    targets: Vec<f32>,
    /// Float targets of the current batch, used instead of the labels when
    /// `float_targets` (the batch came from a data set with targets).
    batch_targets: Vec<f32>,
    float_targets: bool,
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
        let (start, f32_len, u32_len) =
            layout::buffer_layout(&plan, capacity).ok_or_else(too_large)?;
        let arena = AlignedF32::zeroed(f32_len).ok_or_else(too_large)?;
        let indices = zeroed(u32_len).ok_or_else(too_large)?;
        let (param_offset, values_len, counters_len) = layout::param_layout(&plan);
        let has_grad = training_state::params_with_grad(&plan);
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
            values: AlignedF32::zeroed(values_len).ok_or_else(too_large)?,
            grads: AlignedF32::zeroed(values_len).ok_or_else(too_large)?,
            counters: zeroed(counters_len).ok_or_else(too_large)?,
            has_grad,
            optimizer,
            par: Parallel::new(threads),
            forward_scratch: vec![Vec::new(); plan.forward.len()],
            backward_scratch: vec![Vec::new(); plan.backward.len()],
            labels: vec![0; capacity],
            targets: Vec::new(),
            batch_targets: Vec::new(),
            float_targets: false,
            dropout_rng: Rng::new(0),
            plan,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn threads(&self) -> usize {
        self.par.threads()
    }

    /// The input buffer and the label slots of a batch, to fill together.
    pub fn batch_slots(&mut self, batch: usize) -> (&mut [f32], &mut [u32]) {
        self.float_targets = false;
        let range = self.range(self.plan.inputs[0], batch);
        (&mut self.arena[range], &mut self.labels[..batch])
    }

    /// The float target slots of a batch (`width` per sample); the next
    /// loss is taken against them instead of the labels.
    pub fn target_slots(&mut self, batch: usize, width: usize) -> &mut [f32] {
        self.float_targets = true;
        self.batch_targets.resize(batch * width, 0.0);
        &mut self.batch_targets
    }

    /// Copies samples `indices` of `data` (and their labels, or float
    /// targets if it has them) into the input and label slots, split over
    /// the threads: the copy reads scattered rows from memory and is bound
    /// by latency more than bandwidth.
    pub fn load_batch(&mut self, data: &crate::data::Dataset, indices: &[usize]) {
        let batch = indices.len();
        self.float_targets = data.targets.is_some();
        if self.float_targets {
            self.batch_targets.resize(batch * data.target_width(), 0.0);
            data.gather_targets(indices, &mut self.batch_targets);
        }
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
        // Runs of 8 rows from a shared queue rather than one half per
        // thread: a worker late to the step no longer leaves the caller
        // copying its half too (with halves the caller did 69% of the
        // copying in a `perf` of the tutorial MLP, AVX2; the MLP trained
        // 5% faster with runs, median of 6 paired `dslc train` runs).
        const ROWS_PER_ITEM: usize = 8;
        let items = x
            .chunks_mut(ROWS_PER_ITEM * sample)
            .zip(indices.chunks(ROWS_PER_ITEM));
        nnspec_runtime_core::threads::run_items(&self.par, items, |(rows, indices)| {
            for (row, &i) in rows.chunks_exact_mut(sample).zip(indices) {
                row.copy_from_slice(data.sample(i));
            }
        });
        for (label, &i) in self.labels[..batch].iter_mut().zip(indices) {
            *label = data.labels[i];
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
}
