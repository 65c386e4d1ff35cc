//! The executor's memory layout: where every buffer lives in its arena and
//! every parameter in the parameter (or counter) array, for batches of up
//! to the executor's capacity, and how many bytes that takes.
//!
//! Separate from step dispatch so that the offsets are computed in one
//! place: the constructor, [`Executor::memory_needed`], the buffer
//! accessors and every step use the same functions.

use std::ops::Range;

use super::Executor;
use super::aligned::LINE_FLOATS;
use crate::plan::*;

/// The start of each buffer in its arena (aliases share their root's), and
/// the lengths of the f32 and u32 arenas, for batches of `capacity`
/// samples; `None` if a size overflows.
pub(super) fn buffer_layout(plan: &Plan, capacity: usize) -> Option<(Vec<usize>, usize, usize)> {
    let mut start = vec![0; plan.buffers.len()];
    let (mut f32_len, mut u32_len) = (0usize, 0usize);
    for (i, buffer) in plan.buffers.iter().enumerate() {
        if buffer.alias_of.is_some() {
            continue;
        }
        let len = match buffer.size {
            Size::PerSample(n) => n.checked_mul(capacity)?,
            Size::Fixed(n) => n,
        };
        let total = match buffer.ty {
            BufferType::F32 => &mut f32_len,
            BufferType::U32 => &mut u32_len,
        };
        // On a cache line, as the storage itself (see `aligned`).
        start[i] = total.checked_next_multiple_of(LINE_FLOATS)?;
        *total = start[i].checked_add(len)?;
    }
    for i in 0..plan.buffers.len() {
        start[i] = start[plan.root(BufferId(i as u32)).index()];
    }
    Some((start, f32_len, u32_len))
}

/// The offset of each parameter in the f32 parameter array (trainable
/// parameters and state) or the i64 counter array, and the two lengths.
pub(super) fn param_layout(plan: &Plan) -> (Vec<usize>, usize, usize) {
    let mut param_offset = Vec::with_capacity(plan.params.len());
    let (mut values_len, mut counters_len) = (0usize, 0usize);
    for param in &plan.params {
        match param.kind {
            ParamKind::Counter => {
                param_offset.push(counters_len);
                counters_len += param.len();
            }
            ParamKind::Trainable | ParamKind::State => {
                // On a cache line, as the storage itself (see `aligned`).
                values_len = values_len.next_multiple_of(LINE_FLOATS);
                param_offset.push(values_len);
                values_len += param.len();
            }
        }
    }
    (param_offset, values_len, counters_len)
}

impl Executor {
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
            // Each buffer starts on a cache line: up to a line of padding.
            elements = elements.checked_add(len)?.checked_add(LINE_FLOATS)?;
        }
        let params: usize = plan.params.iter().map(|p| p.len() + LINE_FLOATS).sum();
        // Values and gradients; Adam keeps two more copies, momentum one.
        let copies = 2 + match plan.optimizer {
            Some(Optimizer::Adam { .. } | Optimizer::AdamW { .. }) => 2,
            Some(Optimizer::Sgd { momentum, .. }) if momentum != 0.0 => 1,
            _ => 0,
        };
        elements = elements.checked_add(params.checked_mul(copies)?)?;
        elements.checked_mul(4)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn range(&self, id: BufferId, batch: usize) -> Range<usize> {
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

    /// Writes a batch of token ids (`batch × input elements`) into the
    /// model's (first) input, which an embedding reads: as the exact f32
    /// integers the arena carries them in, after checking every id is in
    /// its table's `0..num_embeddings`. An input no embedding reads takes
    /// any id below 2^24.
    pub fn set_tokens(
        &mut self,
        batch: usize,
        ids: &[i64],
    ) -> Result<(), nnspec_runtime_core::kernels::embedding::TokenError> {
        let num = self.plan.token_bound(0).unwrap_or(1 << 24);
        let input = self.input_mut(batch);
        assert_eq!(
            ids.len(),
            input.len(),
            "set_tokens: {} ids for a batch of {batch} samples",
            ids.len()
        );
        nnspec_runtime_core::kernels::embedding::ids_to_f32(ids, num, input)
    }

    /// Output `index` after the last forward pass.
    pub fn output(&self, index: usize, batch: usize) -> &[f32] {
        self.buffer(self.plan.outputs[index].1, batch)
    }
}

/// Where buffer `id` lives in its arena for a batch of `batch` samples.
/// A free function over the layout, so a step can compute ranges while the
/// arena itself is borrowed.
pub(super) fn buffer_range(
    plan: &Plan,
    start: &[usize],
    id: BufferId,
    batch: usize,
) -> Range<usize> {
    let first = start[id.index()];
    first..first + size_for(plan.buffer(id).size, batch)
}

/// Where parameter `id` lives in the parameter (or counter) array.
pub(super) fn param_range(plan: &Plan, offsets: &[usize], id: ParamId) -> Range<usize> {
    let first = offsets[id.index()];
    first..first + plan.param(id).len()
}

pub(super) fn size_for(size: Size, batch: usize) -> usize {
    match size {
        Size::PerSample(n) => n * batch,
        Size::Fixed(n) => n,
    }
}
