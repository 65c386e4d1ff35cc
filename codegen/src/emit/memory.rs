//! Where generated inference code keeps its intermediate values: one arena,
//! buffers placed by liveness so that values that are never alive at the
//! same time share memory.
//!
//! Sizes are per sample; a batch of `n` scales every offset by `n` (all
//! inference buffers are per-sample), so one layout serves every batch.
//! Buffers are placed in the order they are first written, each at the
//! lowest offset where it overlaps no buffer still alive at that step
//! (first fit). A buffer is alive from the step that writes it to the last
//! step that reads it, both included, so a step's inputs and outputs never
//! share memory.

use nnspec_runtime::plan::{BufferId, BufferType, Plan, Size};

/// The f32 buffers a step reads and writes (roots, not views).
#[derive(Clone, Debug, Default)]
pub(super) struct Access {
    pub reads: Vec<BufferId>,
    pub writes: Vec<BufferId>,
}

/// The arena layout of an inference plan.
#[derive(Debug)]
pub(super) struct ArenaLayout {
    /// Per-sample offset of each root buffer placed in the arena (indexed
    /// by buffer; `None` for views, external and unused buffers).
    pub offset: Vec<Option<usize>>,
    /// Floats per sample of all placed buffers.
    pub per_sample: usize,
    /// The step at which the most per-sample floats are alive.
    pub peak_step: usize,
}

/// Places every per-sample f32 root buffer that `steps` touch, except
/// `external` ones (the caller's input and output slices). Buffers of a
/// fixed size and index buffers are placed by [`packed`].
pub(super) fn layout(plan: &Plan, steps: &[Access], external: &[BufferId]) -> ArenaLayout {
    let count = plan.buffers.len();
    let mut first = vec![usize::MAX; count];
    let mut last = vec![0usize; count];
    for (i, access) in steps.iter().enumerate() {
        for &b in access.reads.iter().chain(&access.writes) {
            let b = b.index();
            first[b] = first[b].min(i);
            last[b] = last[b].max(i);
        }
    }
    let len = |b: usize| match plan.buffers[b].size {
        Size::PerSample(n) | Size::Fixed(n) => n,
    };
    let mut order: Vec<usize> = (0..count)
        .filter(|&b| {
            first[b] != usize::MAX
                && plan.buffers[b].alias_of.is_none()
                && plan.buffers[b].ty == BufferType::F32
                && matches!(plan.buffers[b].size, Size::PerSample(_))
                && !external.contains(&BufferId(b as u32))
        })
        .collect();
    order.sort_by_key(|&b| (first[b], b));
    let mut offset = vec![None; count];
    // Placed buffers: (offset, len, last step alive).
    let mut placed: Vec<(usize, usize, usize)> = Vec::new();
    for &b in &order {
        let alive: Vec<(usize, usize)> = placed
            .iter()
            .filter(|p| p.2 >= first[b])
            .map(|p| (p.0, p.0 + p.1))
            .collect();
        let mut at = 0;
        // First fit: step past every live buffer this one would overlap.
        while let Some(&(_, end)) = alive
            .iter()
            .find(|&&(start, end)| at < end && start < at + len(b))
        {
            at = end;
        }
        offset[b] = Some(at);
        placed.push((at, len(b), last[b]));
    }
    let per_sample = placed.iter().map(|p| p.0 + p.1).max().unwrap_or(0);
    let live_at = |i: usize| -> usize {
        order
            .iter()
            .filter(|&&b| first[b] <= i && i <= last[b])
            .map(|&b| len(b))
            .sum()
    };
    let peak_step = (0..steps.len())
        .max_by_key(|&i| (live_at(i), usize::MAX - i))
        .unwrap_or(0);
    ArenaLayout {
        offset,
        per_sample,
        peak_step,
    }
}

/// Buffers laid end to end without reuse: the root buffers that `steps`
/// touch and `select` picks (training's fixed-size BatchNorm statistics,
/// a few floats per channel, and max pooling's per-sample u32 indices).
/// The offset of each (indexed by buffer) and the total length.
pub(super) fn packed(
    plan: &Plan,
    steps: &[Access],
    select: impl Fn(&nnspec_runtime::plan::Buffer) -> bool,
) -> (Vec<Option<usize>>, usize) {
    let mut offset = vec![None; plan.buffers.len()];
    let mut end = 0;
    for access in steps {
        for &b in access.reads.iter().chain(&access.writes) {
            let buffer = plan.buffer(b);
            if offset[b.index()].is_some() || buffer.alias_of.is_some() || !select(buffer) {
                continue;
            }
            offset[b.index()] = Some(end);
            end += match buffer.size {
                Size::PerSample(n) | Size::Fixed(n) => n,
            };
        }
    }
    (offset, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnspec_runtime::plan::{Buffer, Plan};

    fn plan_of(sizes: &[usize]) -> Plan {
        Plan {
            model: "T".into(),
            buffers: sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| Buffer {
                    name: format!("b{i}"),
                    size: Size::PerSample(n),
                    ty: BufferType::F32,
                    alias_of: None,
                })
                .collect(),
            params: vec![],
            inputs: vec![BufferId(0)],
            input_shapes: vec![vec![sizes[0]]],
            outputs: vec![],
            forward: vec![],
            loss: None,
            backward: vec![],
            optimizer: None,
            clip: None,
        }
    }

    fn step(reads: &[u32], writes: &[u32]) -> Access {
        Access {
            reads: reads.iter().map(|&b| BufferId(b)).collect(),
            writes: writes.iter().map(|&b| BufferId(b)).collect(),
        }
    }

    #[test]
    fn a_chain_reuses_memory_two_buffers_deep() {
        // b0 (external) -> b1 -> b2 -> b3 -> b4 (external)
        let plan = plan_of(&[8, 100, 50, 100, 10]);
        let steps = [
            step(&[0], &[1]),
            step(&[1], &[2]),
            step(&[2], &[3]),
            step(&[3], &[4]),
        ];
        let l = layout(&plan, &steps, &[BufferId(0), BufferId(4)]);
        assert_eq!(l.offset[1], Some(0));
        assert_eq!(
            l.offset[2],
            Some(100),
            "b1 is still read while b2 is written"
        );
        assert_eq!(l.offset[3], Some(0), "b1 is dead by then");
        assert_eq!(l.per_sample, 150);
        assert_eq!(l.offset[0], None);
        assert_eq!(l.offset[4], None);
        assert_eq!(l.peak_step, 1);
    }

    #[test]
    fn a_value_read_later_stays_alive() {
        // A residual: b1 is read again by the last step.
        let plan = plan_of(&[4, 10, 10, 10, 10]);
        let steps = [
            step(&[0], &[1]),
            step(&[1], &[2]),
            step(&[2], &[3]),
            step(&[3, 1], &[4]),
        ];
        let l = layout(&plan, &steps, &[BufferId(0), BufferId(4)]);
        let at = |b: usize| l.offset[b].unwrap();
        assert_eq!((at(1), at(2)), (0, 10));
        assert_eq!(
            at(3),
            20,
            "b1 (to the end) and b2 (read by b3's step) are alive"
        );
        assert_eq!(l.per_sample, 30);
    }
}
