//! Inference over a caller-provided arena: a plan's forward steps with no
//! allocation, no `std` and no storage of its own.
//!
//! The caller sizes one f32 slice with [`arena_len`], writes the batch into
//! [`input_range`] of it, calls [`run`], and reads [`output_range`]. The
//! parameters are one f32 slice laid out as [`param_range`] says (the
//! layout of the training executor and of checkpoints: trainable
//! parameters and BatchNorm statistics in plan order). Buffers sit in the
//! arena at the same relative places as in the executor, and the steps are
//! dispatched by the same code ([`crate::forward`]), so the outputs are
//! bit for bit the executor's (in inference mode).

use core::ops::Range;

use crate::forward::{self, Layout, Memory, Params};
use crate::plan::*;
use crate::threads::Threads;

/// Where an arena of [`arena_len`] floats keeps everything: buffers for
/// batches of `batch` samples, then the steps' shared scratch.
#[derive(Clone, Copy, Debug)]
struct ArenaLayout<'p> {
    plan: &'p Plan,
    batch: usize,
}

impl Layout for ArenaLayout<'_> {
    fn buffer(&self, id: BufferId, batch: usize) -> Range<usize> {
        let first = buffer_start(self.plan, self.plan.root(id), self.batch);
        first..first + size_for(self.plan.buffer(id).size, batch)
    }

    fn param(&self, id: ParamId) -> Range<usize> {
        param_range(self.plan, id)
    }
}

fn size_for(size: Size, batch: usize) -> usize {
    match size {
        Size::PerSample(n) => n * batch,
        Size::Fixed(n) => n,
    }
}

/// The start of root buffer `root` among the buffers of its type.
fn buffer_start(plan: &Plan, root: BufferId, batch: usize) -> usize {
    let ty = plan.buffer(root).ty;
    plan.buffers[..root.index()]
        .iter()
        .filter(|b| b.alias_of.is_none() && b.ty == ty)
        .map(|b| size_for(b.size, batch))
        .sum()
}

/// Floats of all f32 buffers for `batch` samples; `None` on overflow.
fn buffers_len(plan: &Plan, batch: usize) -> Option<usize> {
    plan.buffers
        .iter()
        .filter(|b| b.alias_of.is_none() && b.ty == BufferType::F32)
        .try_fold(0usize, |total, b| {
            let len = match b.size {
                Size::PerSample(n) => n.checked_mul(batch)?,
                Size::Fixed(n) => n,
            };
            total.checked_add(len)
        })
}

/// Scratch floats the largest step needs.
fn scratch_len(plan: &Plan, batch: usize, threads: usize) -> usize {
    plan.forward
        .iter()
        .map(|s| forward::scratch_len(s, batch, threads))
        .max()
        .unwrap_or(0)
}

/// Floats [`run`] needs for batches of `batch` samples on `threads`
/// threads (the buffers and the convolutions' im2col scratch); `None` if
/// the count overflows.
pub fn arena_len(plan: &Plan, batch: usize, threads: usize) -> Option<usize> {
    buffers_len(plan, batch)?.checked_add(scratch_len(plan, batch, threads.max(1)))
}

/// Floats of the parameter slice [`run`] reads: every trainable parameter
/// and every BatchNorm statistic, in plan order.
pub fn params_len(plan: &Plan) -> usize {
    plan.params
        .iter()
        .filter(|p| !matches!(p.kind, ParamKind::Counter))
        .map(Param::len)
        .sum()
}

/// Where parameter `id` sits in the parameter slice (for a counter, in
/// the counters, which inference does not read).
pub fn param_range(plan: &Plan, id: ParamId) -> Range<usize> {
    let counter = matches!(plan.param(id).kind, ParamKind::Counter);
    let first: usize = plan.params[..id.index()]
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Counter) == counter)
        .map(Param::len)
        .sum();
    first..first + plan.param(id).len()
}

/// Where the model's (first) input goes in the arena: `batch × input
/// elements`.
pub fn input_range(plan: &Plan, batch: usize) -> Range<usize> {
    ArenaLayout { plan, batch }.buffer(plan.inputs[0], batch)
}

/// Where output `index` is in the arena after [`run`].
pub fn output_range(plan: &Plan, batch: usize, index: usize) -> Range<usize> {
    ArenaLayout { plan, batch }.buffer(plan.outputs[index].1, batch)
}

/// Runs the forward steps of `plan` in inference mode on the batch of
/// `batch` samples in [`input_range`] of `arena`, with parameters
/// `params` (laid out as [`param_range`] says), on the threads of `par`.
/// `arena` must hold at least [`arena_len`]`(plan, batch, par.threads())`
/// floats. Allocates nothing.
pub fn run(plan: &Plan, params: &[f32], arena: &mut [f32], batch: usize, par: &dyn Threads) {
    let buffers = buffers_len(plan, batch).expect("infer::run: buffer sizes overflow");
    let need = scratch_len(plan, batch, par.threads());
    assert!(
        arena.len() >= buffers + need,
        "infer::run: an arena of {} floats, {} needed",
        arena.len(),
        buffers + need
    );
    assert_eq!(
        params.len(),
        params_len(plan),
        "infer::run: parameter slice length"
    );
    let layout = ArenaLayout { plan, batch };
    let (buffers, scratch) = arena.split_at_mut(buffers);
    for step in &plan.forward {
        let mem = Memory {
            arena: &mut *buffers,
            indices: &mut [],
            params: Params::Read(params),
            scratch: &mut *scratch,
        };
        forward::forward_step(step, &layout, batch, mem, None, par);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::Serial;
    use alloc::string::ToString;
    use alloc::vec;

    fn buffer(name: &str, n: usize) -> Buffer {
        Buffer {
            name: name.to_string(),
            size: Size::PerSample(n),
            ty: BufferType::F32,
            alias_of: None,
        }
    }

    fn param(name: &str, shape: &[usize]) -> Param {
        Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            init: Init::Constant(0.0),
            kind: ParamKind::Trainable,
        }
    }

    /// A plan built by hand, so the test runs in the crate's own build
    /// (without `std` unless another package asks for it): libm's tanh.
    #[test]
    fn dense_relu_tanh_matches_f64() {
        let plan = Plan {
            model: "Tiny".to_string(),
            buffers: vec![buffer("x", 3), buffer("h", 2), buffer("y", 2)],
            params: vec![param("fc.weight", &[2, 3]), param("fc.bias", &[2])],
            inputs: vec![BufferId(0)],
            input_shapes: vec![vec![3]],
            outputs: vec![("y".to_string(), BufferId(2), vec![2])],
            forward: vec![
                Step::Dense {
                    x: BufferId(0),
                    weight: ParamId(0),
                    bias: Some(ParamId(1)),
                    y: BufferId(1),
                    in_features: 3,
                    out_features: 2,
                    relu: true,
                },
                Step::Tanh {
                    x: BufferId(1),
                    y: BufferId(2),
                },
            ],
            loss: None,
            backward: vec![],
            optimizer: None,
            clip: None,
        };
        let params = [0.5f32, -1.0, 0.25, 0.375, 0.125, -0.5, 0.1, -0.2];
        assert_eq!(params.len(), params_len(&plan));
        let batch = 2;
        let mut arena = vec![f32::NAN; arena_len(&plan, batch, 1).unwrap()];
        let x = [1.0f32, 2.0, 3.0, -1.0, 0.5, 2.0];
        arena[input_range(&plan, batch)].copy_from_slice(&x);
        run(&plan, &params, &mut arena, batch, &Serial);
        let y = &arena[output_range(&plan, batch, 0)];
        for s in 0..batch {
            for o in 0..2 {
                let mut h = params[6 + o] as f64;
                for i in 0..3 {
                    h += params[o * 3 + i] as f64 * x[s * 3 + i] as f64;
                }
                let want = libm::tanh(h.max(0.0));
                let got = y[s * 2 + o] as f64;
                assert!(
                    (got - want).abs() < 1e-5,
                    "sample {s} output {o}: {got} vs {want}"
                );
            }
        }
    }
}
