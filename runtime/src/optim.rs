//! Optimizers: PyTorch's update rules, operation for operation.
//!
//! Each follows the single-tensor path of `torch.optim` (the one PyTorch
//! takes for CPU tensors), in f32 with the scalar factors computed in f64
//! as Python does, so the updates match PyTorch's to rounding. State is kept
//! per parameter, as PyTorch's `optimizer.state[p]`; a parameter that never
//! receives a gradient is never touched, as PyTorch skips `p.grad is None`.

use crate::optim_rules::update_par;
use crate::parallel::Parallel;
use crate::plan::Optimizer;

/// The optimizer's state for every parameter of a model.
#[derive(Clone, Debug)]
pub struct OptimizerState {
    optimizer: Optimizer,
    /// Momentum buffer (SGD) or first moment `exp_avg` (Adam), laid out like the parameters.
    first: Vec<f32>,
    /// Second moment `exp_avg_sq` (Adam), laid out like the parameters.
    second: Vec<f32>,
    /// Steps taken per parameter (PyTorch's `state['step']`; for SGD, 0
    /// means the momentum buffer does not exist yet).
    steps: Vec<u64>,
}

impl OptimizerState {
    /// State for `params` parameters holding `len` values in all; `None`
    /// if the memory for it is not there.
    pub fn new(optimizer: Optimizer, len: usize, params: usize) -> Option<Self> {
        let needs_first = match optimizer {
            Optimizer::Sgd { momentum, .. } => momentum != 0.0,
            Optimizer::Adam { .. } | Optimizer::AdamW { .. } => true,
        };
        let needs_second = matches!(optimizer, Optimizer::Adam { .. } | Optimizer::AdamW { .. });
        let zeros = |n: usize| {
            let mut v = Vec::new();
            v.try_reserve_exact(n).ok()?;
            v.resize(n, 0.0f32);
            Some(v)
        };
        Some(OptimizerState {
            optimizer,
            first: zeros(if needs_first { len } else { 0 })?,
            second: zeros(if needs_second { len } else { 0 })?,
            steps: vec![0; params],
        })
    }

    pub fn optimizer(&self) -> Optimizer {
        self.optimizer
    }

    /// Changes the learning rate (other hyperparameters stay).
    pub fn set_lr(&mut self, lr: f32) {
        self.optimizer = self.optimizer.with_lr(lr);
    }

    /// Steps taken for parameter `param`.
    pub fn steps(&self, param: usize) -> u64 {
        self.steps[param]
    }

    /// The state buffers, for checkpoints: (first moment or momentum, second moment).
    pub fn buffers(&self) -> (&[f32], &[f32]) {
        (&self.first, &self.second)
    }

    /// Restores state saved with [`OptimizerState::buffers`] and [`OptimizerState::steps`].
    pub fn restore(&mut self, first: &[f32], second: &[f32], steps: &[u64]) -> Result<(), String> {
        if first.len() != self.first.len()
            || second.len() != self.second.len()
            || steps.len() != self.steps.len()
        {
            return Err(format!(
                "optimizer state sizes differ: expected {}/{}/{} values, found {}/{}/{}",
                self.first.len(),
                self.second.len(),
                self.steps.len(),
                first.len(),
                second.len(),
                steps.len()
            ));
        }
        self.first.copy_from_slice(first);
        self.second.copy_from_slice(second);
        self.steps.copy_from_slice(steps);
        Ok(())
    }

    /// One step for parameter number `param`, whose values are
    /// `params[offset..offset + grad.len()]`, with gradient `grad`. Large
    /// parameters are updated in slices on the threads of `par` (every
    /// element's arithmetic is the same either way).
    pub fn step(
        &mut self,
        param: usize,
        offset: usize,
        params: &mut [f32],
        grad: &[f32],
        par: &Parallel,
    ) {
        self.steps[param] += 1;
        let step = self.steps[param];
        let range = offset..offset + grad.len();
        let optimizer = self.optimizer;
        let p = &mut params[range.clone()];
        let first = (!self.first.is_empty()).then(|| &mut self.first[range.clone()]);
        let second = (!self.second.is_empty()).then(|| &mut self.second[range]);
        update_par(optimizer, step, p, grad, first, second, par);
    }
}

#[cfg(test)]
mod tests;
