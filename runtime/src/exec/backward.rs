//! Step dispatch, backward: the core's (`nnspec_runtime_core::backward`),
//! run over the executor's storage.

use nnspec_runtime_core::backward::{self, GradMemory};

use super::Executor;
use super::forward::ExecLayout;

impl Executor {
    /// Runs the backward steps (after [`Executor::loss`] with a gradient).
    pub fn backward(&mut self, batch: usize) {
        for index in 0..self.plan.backward.len() {
            let layout = ExecLayout {
                plan: &self.plan,
                start: &self.start,
                param_offset: &self.param_offset,
            };
            let mem = GradMemory {
                arena: &mut self.arena,
                indices: &self.indices,
                values: &self.values,
                grads: &mut self.grads,
                scratch: &mut self.backward_scratch[index],
            };
            backward::backward_step(&self.plan.backward[index], &layout, batch, mem, &self.par);
        }
    }
}
