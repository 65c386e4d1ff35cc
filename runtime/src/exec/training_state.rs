//! The executor's training state: parameters (f32 values and i64
//! counters), their gradients, the optimizer state and its update, and the
//! dropout stream; with initialization and access for checkpoints.
//!
//! Separate from the layout and the step dispatch: this is the state a
//! checkpoint saves and restores, and the only part an optimizer touches.

use super::Executor;
use super::layout::param_range;
use crate::optim::OptimizerState;
use crate::plan::*;
use nnspec_runtime_core::training::{clip_gradients, dropout_stream};

/// Parameters the backward pass writes a gradient for (the optimizer
/// updates only these).
pub(super) fn params_with_grad(plan: &Plan) -> Vec<bool> {
    let mut has_grad = vec![false; plan.params.len()];
    for param in plan.backward.iter().flat_map(GradStep::param_grads) {
        has_grad[param.index()] = true;
    }
    has_grad
}

impl Executor {
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
                    nnspec_runtime_core::init::fill(values, param.init, &param.name, seed);
                }
            }
        }
        self.dropout_rng = dropout_stream(seed);
    }

    /// Restarts the dropout stream (each epoch of training restarts it from
    /// the seed and the epoch, so a resumed run draws the same masks).
    pub fn seed_dropout(&mut self, seed: u64) {
        self.dropout_rng = dropout_stream(seed);
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

    /// A copy of every parameter's values and counters.
    pub fn weights_snapshot(&self) -> crate::train::Snapshot {
        crate::train::Snapshot {
            values: self.values.to_vec(),
            counters: self.counters.clone(),
        }
    }

    /// Puts back values and counters taken by [`Executor::weights_snapshot`]
    /// of this executor.
    ///
    /// # Panics
    /// If the snapshot is of another model (its lengths differ).
    pub fn restore_weights(&mut self, snapshot: &crate::train::Snapshot) {
        self.values.copy_from_slice(&snapshot.values);
        self.counters.copy_from_slice(&snapshot.counters);
    }

    /// Offsets of each parameter in the flat parameter array (for checkpoints of optimizer state).
    pub fn param_offsets(&self) -> &[usize] {
        &self.param_offset
    }

    /// One optimizer step on every parameter that received a gradient,
    /// after clipping the gradients if the plan says so.
    pub fn update(&mut self) {
        let Some(optimizer) = self.optimizer.as_mut() else {
            return;
        };
        if let Some(clip) = self.plan.clip {
            let trained: Vec<(usize, std::ops::Range<usize>)> = (0..self.plan.params.len())
                .filter(|&i| self.plan.params[i].kind == ParamKind::Trainable && self.has_grad[i])
                .map(|i| {
                    let offset = self.param_offset[i];
                    (i, offset..offset + self.plan.params[i].len())
                })
                .collect();
            clip_gradients(clip, &mut self.grads, &trained);
        }
        for (i, param) in self.plan.params.iter().enumerate() {
            if param.kind != ParamKind::Trainable || !self.has_grad[i] {
                continue;
            }
            let offset = self.param_offset[i];
            let grad = &self.grads[offset..offset + param.len()];
            optimizer.step(i, offset, &mut self.values, grad, &self.par);
        }
    }
}
