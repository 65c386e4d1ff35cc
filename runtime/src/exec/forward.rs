//! Step dispatch, forward: each forward step of the plan to its kernel
//! call, and the loss of a batch.
//!
//! Which kernel runs each forward step, and with what arguments, is the
//! core's (`nnspec_runtime_core::forward`), shared with no_std inference;
//! this file hands it the executor's storage and layout.

use std::ops::Range;

use nnspec_runtime_core::forward::{self, Layout, Memory, Params, Training};
use nnspec_runtime_core::training;

use super::layout::{buffer_range, param_range};
use super::views::views;
use super::{Executor, StepStats};
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
        let loss = self.plan.loss.as_ref()?;
        let output = self.range(loss.output, batch);
        let grad = self.range(loss.grad, batch);
        let targets = if self.float_targets {
            training::Targets::Values(&self.batch_targets[..batch * loss.kind.width()])
        } else {
            training::Targets::Labels(&self.labels[..batch])
        };
        let ([output], [grad]) = views(&mut self.arena, [output], [grad]);
        self.targets
            .resize(training::loss_scratch_len(loss.kind, batch), 0.0);
        Some(training::loss_of(
            loss.kind,
            loss.weight.as_deref(),
            output,
            targets,
            with_grad.then_some(grad),
            &mut self.targets,
        ))
    }

    fn forward_step(&mut self, index: usize, batch: usize, training: bool) {
        let step = &self.plan.forward[index];
        let layout = ExecLayout {
            plan: &self.plan,
            start: &self.start,
            param_offset: &self.param_offset,
        };
        let scratch = &mut self.forward_scratch[index];
        let need = forward::scratch_len(step, batch, self.par.threads());
        if scratch.len() < need {
            scratch.resize(need, 0.0);
        }
        let (params, training) = if training {
            (
                Params::Write(&mut self.values),
                Some(Training {
                    dropout_rng: &mut self.dropout_rng,
                    counters: &mut self.counters,
                }),
            )
        } else {
            (Params::Read(&self.values), None)
        };
        let mem = Memory {
            arena: &mut self.arena,
            indices: &mut self.indices,
            params,
            scratch,
        };
        forward::forward_step(step, &layout, batch, mem, training, &self.par);
    }
}

/// The executor's layout as the core's step dispatch asks for it.
pub(super) struct ExecLayout<'a> {
    pub plan: &'a Plan,
    pub start: &'a [usize],
    pub param_offset: &'a [usize],
}

impl Layout for ExecLayout<'_> {
    fn buffer(&self, id: BufferId, batch: usize) -> Range<usize> {
        buffer_range(self.plan, self.start, id, batch)
    }

    fn param(&self, id: ParamId) -> Range<usize> {
        param_range(self.plan, self.param_offset, id)
    }
}
