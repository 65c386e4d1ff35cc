//! The reverse pass: which values need gradients, where each gradient
//! lives, and the copy-on-write rule for gradients in shared storage. Each
//! op's own backward steps come from its `differentiate` rule, through
//! [`BackwardCx`].

use std::collections::HashMap;

use nnspec_dsl::ir::{self, ValueId};
use nnspec_dsl::ops::BackwardCx;
use nnspec_runtime::plan::{BufferId, BufferType, GradStep, Loss, ParamId, Size, Step};

use super::Lowering;

/// The reverse pass.
///
/// Gradient storage is copy-on-write: a gradient passed through unchanged
/// shares its storage, and before any step writes into a shared gradient
/// in place (an `Accumulate`, the fused relu's mask), the writer gets a
/// private copy if another value whose backward has not run yet still
/// reads that storage.
pub(super) struct Backward<'l, 'm> {
    lowering: &'l mut Lowering<'m>,
    /// Whether each value depends on a trainable parameter.
    needs_grad: Vec<bool>,
    /// The buffer holding each value's gradient, once one has arrived.
    grad: Vec<Option<BufferId>>,
    /// The storage (root buffer) of every buffer created so far.
    root: Vec<BufferId>,
    /// For each root, how many values whose backward has not run yet keep
    /// their gradient there.
    readers: HashMap<BufferId, usize>,
    steps: Vec<GradStep>,
}

impl<'l, 'm> Backward<'l, 'm> {
    pub(super) fn run(
        lowering: &'l mut Lowering<'m>,
        config: &ir::TrainConfig,
    ) -> (Loss, Vec<GradStep>) {
        let model = lowering.model;
        let mut needs_grad = vec![false; model.values.len()];
        for (index, value) in model.values.iter().enumerate() {
            let owns_trainable = value
                .params
                .iter()
                .any(|&p| model.param(p).role.trainable());
            needs_grad[index] =
                owns_trainable || value.inputs.iter().any(|i| needs_grad[i.index()]);
        }
        let output = model.outputs[0].value;
        let output_buffer = lowering.buffer_of(output);
        let grad_name = format!("d.{}", lowering.value_name(output));
        let elements = lowering.elements(output);
        let loss_grad =
            lowering.new_buffer(grad_name, Size::PerSample(elements), BufferType::F32, None);
        let mut backward = Backward {
            lowering,
            needs_grad,
            grad: vec![None; model.values.len()],
            root: Vec::new(),
            readers: HashMap::new(),
            steps: Vec::new(),
        };
        backward.set_grad(output, loss_grad);
        for index in (0..model.values.len()).rev() {
            let id = ValueId(index as u32);
            if let Some(grad) = backward.grad[index] {
                // From here on this value's backward is running: it reads
                // its gradient only in the steps emitted now.
                let root = backward.root_of(grad);
                *backward.readers.get_mut(&root).expect("counted when set") -= 1;
                if backward.needs_grad[index] {
                    backward.value(id);
                }
            }
        }
        let (kind, weight) = config.loss.rules().lower(&config.loss, elements);
        let loss = Loss {
            kind,
            weight,
            output: output_buffer,
            grad: loss_grad,
        };
        (loss, backward.steps)
    }

    /// The storage buffer `id` is a view of (itself if it is not a view).
    fn root_of(&mut self, id: BufferId) -> BufferId {
        let buffers = &self.lowering.buffers;
        while self.root.len() < buffers.len() {
            let index = self.root.len();
            let root = match buffers[index].alias_of {
                Some(of) => self.root[of.index()],
                None => BufferId(index as u32),
            };
            self.root.push(root);
        }
        self.root[id.index()]
    }

    /// Records `buffer` as the gradient of `value`.
    fn set_grad(&mut self, value: ValueId, buffer: BufferId) {
        if let Some(old) = self.grad[value.index()] {
            let root = self.root_of(old);
            *self.readers.get_mut(&root).expect("counted when set") -= 1;
        }
        self.grad[value.index()] = Some(buffer);
        let root = self.root_of(buffer);
        *self.readers.entry(root).or_insert(0) += 1;
    }

    fn grad_buffer(
        &mut self,
        value: ValueId,
        name_suffix: &str,
        alias_of: Option<BufferId>,
    ) -> BufferId {
        let name = format!("d.{}{name_suffix}", self.lowering.value_name(value));
        let size = Size::PerSample(self.lowering.elements(value));
        self.lowering
            .new_buffer(name, size, BufferType::F32, alias_of)
    }

    /// Makes the gradient of `value` safe to write in place: if another
    /// value still to be processed keeps its gradient in the same storage,
    /// or `reading` (another operand of the write) lives there, `value`
    /// gets a private copy first. `pending_self` says whether `value`'s own
    /// backward is still to run (then it counts among the readers).
    fn writable(
        &mut self,
        value: ValueId,
        reading: Option<BufferId>,
        pending_self: bool,
    ) -> BufferId {
        let current = self.grad[value.index()].expect("has a gradient");
        let root = self.root_of(current);
        let others = self.readers[&root] - usize::from(pending_self);
        let reads_it = reading.is_some_and(|r| self.root_of(r) == root);
        if others == 0 && !reads_it {
            return current;
        }
        let private = self.grad_buffer(value, "'", None);
        self.steps.push(GradStep::Copy {
            from: current,
            to: private,
        });
        if pending_self {
            self.set_grad(value, private);
        } else {
            // Its backward is running: it no longer counts as a reader anywhere.
            self.grad[value.index()] = Some(private);
        }
        private
    }

    /// Where the gradient contribution for `input` goes. The first one is
    /// written to the value's own gradient buffer; later ones to a fresh
    /// buffer, added in by the returned `Accumulate` (emit it after the step).
    fn contribution(&mut self, input: ValueId) -> Option<(BufferId, Option<GradStep>)> {
        if !self.needs_grad[input.index()] {
            return None;
        }
        match self.grad[input.index()] {
            None => {
                let buffer = self.grad_buffer(input, "", None);
                self.set_grad(input, buffer);
                Some((buffer, None))
            }
            Some(_) => {
                let extra = self.grad_buffer(input, "+", None);
                let into = self.writable(input, None, true);
                Some((extra, Some(GradStep::Accumulate { into, from: extra })))
            }
        }
    }

    /// Passes `dy` on to `input` unchanged: shared storage for a first
    /// contribution, otherwise added in.
    fn pass_through(&mut self, input: ValueId, dy: BufferId) {
        if !self.needs_grad[input.index()] {
            return;
        }
        match self.grad[input.index()] {
            None => {
                let view = self.grad_buffer(input, "", Some(dy));
                self.set_grad(input, view);
            }
            Some(_) => {
                // `x + x` reads `dy` while writing it: `writable` copies first.
                let into = self.writable(input, Some(dy), true);
                self.steps.push(GradStep::Accumulate { into, from: dy });
            }
        }
    }

    /// The backward steps of value `id`, whose gradient is complete.
    fn value(&mut self, id: ValueId) {
        let model = self.lowering.model;
        let value = model.value(id);
        let Some(rules) = value.op.rules() else {
            return; // A model input: nothing to propagate to.
        };
        let mut dy = self.grad[id.index()].expect("called with a gradient");
        // A relu fused into its producer: the producing op differentiates
        // both, masking `dy` in place with the relu's result.
        let (op_value, rules, relu_y) = match self.lowering.fused_into[id.index()] {
            Some(layer) => {
                dy = self.writable(id, None, false);
                let layer_rules = model.value(layer).op.rules().expect("a layer");
                (layer, layer_rules, Some(self.lowering.buffer_of(id)))
            }
            None => (id, rules, None),
        };
        let mut cx = BackwardLowering {
            backward: self,
            value: op_value,
            step_value: id,
            dy,
            relu_y,
        };
        rules.differentiate(&mut cx);
    }

    /// The forward step that computed value `id`.
    fn forward_step_of(&self, id: ValueId) -> Option<Step> {
        self.lowering.step_of[id.index()].map(|i| self.lowering.forward[i].clone())
    }
}

/// The backward lowering of one value.
struct BackwardLowering<'b, 'l, 'm> {
    backward: &'b mut Backward<'l, 'm>,
    /// The value whose op is differentiated (the layer of a fused pair).
    value: ValueId,
    /// The value whose forward step is differentiated (the relu of a fused pair).
    step_value: ValueId,
    dy: BufferId,
    relu_y: Option<BufferId>,
}

impl BackwardLowering<'_, '_, '_> {
    fn input_value(&self, i: usize) -> ValueId {
        self.backward.lowering.model.value(self.value).inputs[i]
    }
}

impl BackwardCx for BackwardLowering<'_, '_, '_> {
    fn dy(&self) -> BufferId {
        self.dy
    }

    fn output(&self) -> BufferId {
        self.backward.lowering.buffer_of(self.step_value)
    }

    fn input(&self, i: usize) -> BufferId {
        self.backward.lowering.buffer_of(self.input_value(i))
    }

    fn input_elements(&self, i: usize) -> usize {
        self.backward.lowering.elements(self.input_value(i))
    }

    fn input_count(&self) -> usize {
        self.backward.lowering.model.value(self.value).inputs.len()
    }

    fn param(&self, position: usize) -> ParamId {
        self.backward.lowering.param(self.value, position)
    }

    fn forward_step(&self) -> Step {
        self.backward
            .forward_step_of(self.step_value)
            .expect("a layer with a backward rule has a forward step")
    }

    fn contribution(&mut self, i: usize) -> Option<(BufferId, Option<GradStep>)> {
        let input = self.input_value(i);
        self.backward.contribution(input)
    }

    fn pass_through(&mut self, i: usize) {
        let input = self.input_value(i);
        self.backward.pass_through(input, self.dy);
    }

    fn fused_relu_output(&self) -> Option<BufferId> {
        self.relu_y
    }

    fn emit(&mut self, step: GradStep) {
        self.backward.steps.push(step);
    }
}
