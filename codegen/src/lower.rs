//! Lowering: the typed IR to a [`Plan`], with its backward pass.
//!
//! Forward: one step per op, in the IR's topological order; `flatten` and
//! `reshape` become views (no step, no copy); a dense layer whose only
//! consumer is a relu absorbs it.
//!
//! Backward (when training): reverse-mode differentiation over the same
//! values in reverse order. A value needs a gradient if it depends on a
//! trainable parameter; inputs never do, so the first layer computes no
//! input gradient. A value's first gradient contribution is written in
//! place; where it feeds several consumers (residuals, concat of one value
//! twice), later contributions go to their own buffers followed by an
//! `Accumulate`. Gradients that pass through unchanged (`+`, views) share
//! storage instead of being copied.

use nnspec_dsl::ir::{self, Op, ParamRole, ValueId};
use nnspec_runtime::plan::*;

/// Lowers a checked model for inference (no loss, no backward).
pub fn lower_inference(model: &ir::Model) -> Plan {
    Lowering::new(model, false).finish(None)
}

/// Lowers a checked model for training with `config` (which the checker
/// has matched to the model: one output, a loss that fits it).
pub fn lower_training(model: &ir::Model, config: &ir::TrainConfig) -> Plan {
    Lowering::new(model, true).finish(Some(config))
}

struct Lowering<'m> {
    model: &'m ir::Model,
    buffers: Vec<Buffer>,
    /// The buffer holding each value's result.
    value_buffer: Vec<Option<BufferId>>,
    /// Dense values fused into their relu consumer: relu value -> dense value.
    fused_into: Vec<Option<ValueId>>,
    /// Whether a value is a dense layer fused into its relu.
    is_fused_dense: Vec<bool>,
    /// The forward step computing each value (views and inputs have none).
    step_of: Vec<Option<usize>>,
    forward: Vec<Step>,
    training: bool,
}

impl<'m> Lowering<'m> {
    fn new(model: &'m ir::Model, training: bool) -> Self {
        let count = model.values.len();
        let mut lowering = Lowering {
            model,
            buffers: Vec::new(),
            value_buffer: vec![None; count],
            fused_into: vec![None; count],
            is_fused_dense: vec![false; count],
            step_of: vec![None; count],
            forward: Vec::new(),
            training,
        };
        lowering.plan_fusions();
        for index in 0..count {
            lowering.lower_value(ValueId(index as u32));
        }
        lowering
    }

    /// Marks `dense -> relu` pairs where the dense result has no other use.
    fn plan_fusions(&mut self) {
        let consumers = consumers(self.model);
        let is_output = |id: ValueId| self.model.outputs.iter().any(|o| o.value == id);
        for (index, value) in self.model.values.iter().enumerate() {
            if value.op != Op::Relu {
                continue;
            }
            let input = value.inputs[0];
            let producer = self.model.value(input);
            if matches!(producer.op, Op::Dense { .. })
                && consumers[input.index()].len() == 1
                && !is_output(input)
            {
                self.fused_into[index] = Some(input);
                self.is_fused_dense[input.index()] = true;
            }
        }
    }

    fn new_buffer(
        &mut self,
        name: String,
        size: Size,
        ty: BufferType,
        alias_of: Option<BufferId>,
    ) -> BufferId {
        let id = BufferId(self.buffers.len() as u32);
        self.buffers.push(Buffer {
            name,
            size,
            ty,
            alias_of,
        });
        id
    }

    fn value_name(&self, id: ValueId) -> String {
        let value = self.model.value(id);
        value.binding.clone().unwrap_or_else(|| value.layer.clone())
    }

    fn elements(&self, id: ValueId) -> usize {
        self.model.value(id).shape.elements()
    }

    fn buffer_of(&self, id: ValueId) -> BufferId {
        self.value_buffer[id.index()].expect("inputs are lowered before their consumers")
    }

    fn param(&self, value: ValueId, position: usize) -> ParamId {
        ParamId(self.model.value(value).params[position].0)
    }

    fn lower_value(&mut self, id: ValueId) {
        let value = self.model.value(id);
        let name = self.value_name(id);
        let per_sample = Size::PerSample(value.shape.elements());
        // A dense fused into its relu writes the relu's buffer; nothing to do here.
        if self.is_fused_dense[id.index()] {
            return;
        }
        let step = match &value.op {
            Op::Input => {
                let buffer = self.new_buffer(name, per_sample, BufferType::F32, None);
                self.value_buffer[id.index()] = Some(buffer);
                return;
            }
            Op::Flatten | Op::Reshape => {
                let x = self.buffer_of(value.inputs[0]);
                let buffer = self.new_buffer(name, per_sample, BufferType::F32, Some(x));
                self.value_buffer[id.index()] = Some(buffer);
                return;
            }
            Op::Relu if self.fused_into[id.index()].is_some() => {
                let dense = self.fused_into[id.index()].expect("checked");
                let dense_value = self.model.value(dense);
                let Op::Dense { out_features, bias } = dense_value.op else {
                    unreachable!("only dense layers are fused")
                };
                let x = self.buffer_of(dense_value.inputs[0]);
                let y = self.new_buffer(name, per_sample, BufferType::F32, None);
                self.value_buffer[id.index()] = Some(y);
                self.value_buffer[dense.index()] = Some(y);
                Step::Dense {
                    x,
                    weight: self.param(dense, 0),
                    bias: bias.then(|| self.param(dense, 1)),
                    y,
                    in_features: self.elements(dense_value.inputs[0]),
                    out_features,
                    relu: true,
                }
            }
            _ => {
                let y = self.new_buffer(name.clone(), per_sample, BufferType::F32, None);
                self.value_buffer[id.index()] = Some(y);
                self.forward_step(id, &name, y)
            }
        };
        self.step_of[id.index()] = Some(self.forward.len());
        if let Some(dense) = self.fused_into[id.index()] {
            self.step_of[dense.index()] = Some(self.forward.len());
        }
        self.forward.push(step);
    }

    /// The forward step computing value `id` into `y` (not input, view or fused relu).
    fn forward_step(&mut self, id: ValueId, name: &str, y: BufferId) -> Step {
        let value = self.model.value(id);
        let x = self.buffer_of(value.inputs[0]);
        let in_shape = self.model.value(value.inputs[0]).shape.0.clone();
        match &value.op {
            Op::Dense { out_features, bias } => Step::Dense {
                x,
                weight: self.param(id, 0),
                bias: bias.then(|| self.param(id, 1)),
                y,
                in_features: in_shape[0],
                out_features: *out_features,
                relu: false,
            },
            Op::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                dilation,
                bias,
            } => Step::Conv2d {
                x,
                weight: self.param(id, 0),
                bias: bias.then(|| self.param(id, 1)),
                y,
                shape: ConvShape {
                    in_channels: in_shape[0],
                    in_h: in_shape[1],
                    in_w: in_shape[2],
                    out_channels: *out_channels,
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                    dilation: *dilation,
                },
            },
            Op::MaxPool2d {
                kernel,
                stride,
                padding,
            } => {
                let indices = self.new_buffer(
                    format!("{name}.argmax"),
                    Size::PerSample(value.shape.elements()),
                    BufferType::U32,
                    None,
                );
                Step::MaxPool2d {
                    x,
                    y,
                    indices,
                    shape: pool_shape(&in_shape, *kernel, *stride, *padding),
                }
            }
            Op::AvgPool2d {
                kernel,
                stride,
                padding,
            } => Step::AvgPool2d {
                x,
                y,
                shape: pool_shape(&in_shape, *kernel, *stride, *padding),
            },
            Op::Relu => Step::Relu { x, y },
            Op::LeakyRelu { negative_slope } => Step::LeakyRelu {
                x,
                y,
                negative_slope: *negative_slope as f32,
            },
            Op::Sigmoid => Step::Sigmoid { x, y },
            Op::Tanh => Step::Tanh { x, y },
            Op::Softmax { axis } => {
                let (outer, axis_len, inner) = split_at_axis(&in_shape, *axis);
                Step::Softmax {
                    x,
                    y,
                    outer,
                    axis_len,
                    inner,
                }
            }
            Op::Dropout { p } => {
                let mask = self.new_buffer(
                    format!("{name}.mask"),
                    Size::PerSample(value.shape.elements()),
                    BufferType::F32,
                    None,
                );
                Step::Dropout {
                    x,
                    y,
                    mask,
                    p: *p as f32,
                }
            }
            Op::BatchNorm { eps, momentum } => {
                let channels = in_shape[0];
                let spatial = in_shape[1..].iter().product();
                let save_mean = self.new_buffer(
                    format!("{name}.mean"),
                    Size::Fixed(channels),
                    BufferType::F32,
                    None,
                );
                let save_invstd = self.new_buffer(
                    format!("{name}.invstd"),
                    Size::Fixed(channels),
                    BufferType::F32,
                    None,
                );
                Step::BatchNorm {
                    x,
                    y,
                    weight: self.param(id, 0),
                    bias: self.param(id, 1),
                    running_mean: self.param(id, 2),
                    running_var: self.param(id, 3),
                    num_batches_tracked: self.param(id, 4),
                    save_mean,
                    save_invstd,
                    channels,
                    spatial,
                    eps: *eps as f32,
                    momentum: *momentum as f32,
                }
            }
            Op::Add => Step::Add {
                a: x,
                b: self.buffer_of(value.inputs[1]),
                y,
            },
            Op::Concat { axis } => {
                let (outer, _, inner) = split_at_axis(&in_shape, *axis);
                let inputs: Vec<BufferId> =
                    value.inputs.iter().map(|&i| self.buffer_of(i)).collect();
                let lens = value
                    .inputs
                    .iter()
                    .map(|&i| self.model.value(i).shape.0[*axis])
                    .collect();
                Step::Concat {
                    inputs,
                    lens,
                    outer,
                    inner,
                    y,
                }
            }
            Op::Input | Op::Flatten | Op::Reshape => unreachable!("handled by lower_value"),
        }
    }

    fn finish(mut self, config: Option<&ir::TrainConfig>) -> Plan {
        let params = self
            .model
            .params
            .iter()
            .map(|param| Param {
                name: param.name.clone(),
                shape: param.shape.0.clone(),
                init: match param.role {
                    ParamRole::Weight { fan_in } | ParamRole::Bias { fan_in } => Init::Uniform {
                        bound: 1.0 / (fan_in as f32).sqrt(),
                    },
                    ParamRole::Scale | ParamRole::RunningVar => Init::Constant(1.0),
                    ParamRole::Shift | ParamRole::RunningMean | ParamRole::NumBatchesTracked => {
                        Init::Constant(0.0)
                    }
                },
                kind: match param.role {
                    ParamRole::Weight { .. }
                    | ParamRole::Bias { .. }
                    | ParamRole::Scale
                    | ParamRole::Shift => ParamKind::Trainable,
                    ParamRole::RunningMean | ParamRole::RunningVar => ParamKind::State,
                    ParamRole::NumBatchesTracked => ParamKind::Counter,
                },
            })
            .collect();
        let inputs = self
            .model
            .inputs
            .iter()
            .map(|&i| self.buffer_of(i))
            .collect();
        let input_shapes = self
            .model
            .inputs
            .iter()
            .map(|&i| self.model.value(i).shape.0.clone())
            .collect();
        let outputs = self
            .model
            .outputs
            .iter()
            .map(|o| {
                (
                    o.name.clone(),
                    self.buffer_of(o.value),
                    self.model.value(o.value).shape.0.clone(),
                )
            })
            .collect();
        let (loss, backward, optimizer) = match config.filter(|_| self.training) {
            Some(config) => {
                let (loss, backward) = Backward::run(&mut self, config);
                (Some(loss), backward, Some(optimizer(&config.optimizer)))
            }
            None => (None, Vec::new(), None),
        };
        Plan {
            model: self.model.name.clone(),
            buffers: self.buffers,
            params,
            inputs,
            input_shapes,
            outputs,
            forward: self.forward,
            loss,
            backward,
            optimizer,
        }
    }
}

/// The reverse pass.
///
/// Gradient storage is copy-on-write: a gradient passed through unchanged
/// shares its storage, and before any step writes into a shared gradient
/// in place (an `Accumulate`, the fused relu's mask), the writer gets a
/// private copy if another value whose backward has not run yet still
/// reads that storage.
struct Backward<'l, 'm> {
    lowering: &'l mut Lowering<'m>,
    /// Whether each value depends on a trainable parameter.
    needs_grad: Vec<bool>,
    /// The buffer holding each value's gradient, once one has arrived.
    grad: Vec<Option<BufferId>>,
    /// The storage (root buffer) of every buffer created so far.
    root: Vec<BufferId>,
    /// For each root, how many values whose backward has not run yet keep
    /// their gradient there.
    readers: std::collections::HashMap<BufferId, usize>,
    steps: Vec<GradStep>,
}

impl<'l, 'm> Backward<'l, 'm> {
    fn run(lowering: &'l mut Lowering<'m>, config: &ir::TrainConfig) -> (Loss, Vec<GradStep>) {
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
            readers: std::collections::HashMap::new(),
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
        let kind = match config.loss {
            ir::Loss::CrossEntropy => LossKind::CrossEntropy { classes: elements },
            ir::Loss::Mse => LossKind::Mse { len: elements },
        };
        let loss = Loss {
            kind,
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

    fn emit(&mut self, step: GradStep, accumulate: Option<GradStep>) {
        self.steps.push(step);
        self.steps.extend(accumulate);
    }

    /// The backward step of value `id`, whose gradient is complete.
    fn value(&mut self, id: ValueId) {
        let model = self.lowering.model;
        let value = model.value(id);
        let dy = self.grad[id.index()].expect("called with a gradient");
        let y = self.lowering.buffer_of(id);
        let first = value.inputs.first().copied();
        let x = first.map(|i| self.lowering.buffer_of(i));
        match &value.op {
            Op::Input => {}
            Op::Flatten | Op::Reshape => self.pass_through(value.inputs[0], dy),
            Op::Relu if self.lowering.fused_into[id.index()].is_some() => {
                let dense = self.lowering.fused_into[id.index()].expect("checked");
                // The fused backward masks `dy` in place.
                let dy = self.writable(id, None, false);
                self.dense(dense, dy, Some(y));
            }
            Op::Dense { .. } => self.dense(id, dy, None),
            Op::Conv2d { .. } => {
                let Some(Step::Conv2d {
                    shape,
                    bias,
                    weight,
                    ..
                }) = self.forward_step_of(id)
                else {
                    unreachable!("conv2d values have a conv2d step")
                };
                let (dx, accumulate) = self.contribution(value.inputs[0]).unzip();
                self.emit(
                    GradStep::Conv2d {
                        x: x.expect("one input"),
                        weight,
                        bias,
                        dy,
                        dx,
                        shape,
                    },
                    accumulate.flatten(),
                );
            }
            Op::MaxPool2d { .. } => {
                let Some(Step::MaxPool2d { indices, shape, .. }) = self.forward_step_of(id) else {
                    unreachable!("maxpool values have a maxpool step")
                };
                if let Some((dx, accumulate)) = self.contribution(value.inputs[0]) {
                    self.emit(
                        GradStep::MaxPool2d {
                            dy,
                            indices,
                            dx,
                            shape,
                        },
                        accumulate,
                    );
                }
            }
            Op::AvgPool2d { .. } => {
                let Some(Step::AvgPool2d { shape, .. }) = self.forward_step_of(id) else {
                    unreachable!("avgpool values have an avgpool step")
                };
                if let Some((dx, accumulate)) = self.contribution(value.inputs[0]) {
                    self.emit(GradStep::AvgPool2d { dy, dx, shape }, accumulate);
                }
            }
            Op::Relu => {
                if let Some((dx, accumulate)) = self.contribution(value.inputs[0]) {
                    self.emit(GradStep::Relu { y, dy, dx }, accumulate);
                }
            }
            Op::LeakyRelu { negative_slope } => {
                if let Some((dx, accumulate)) = self.contribution(value.inputs[0]) {
                    let step = GradStep::LeakyRelu {
                        x: x.expect("one input"),
                        dy,
                        dx,
                        negative_slope: *negative_slope as f32,
                    };
                    self.emit(step, accumulate);
                }
            }
            Op::Sigmoid => {
                if let Some((dx, accumulate)) = self.contribution(value.inputs[0]) {
                    self.emit(GradStep::Sigmoid { y, dy, dx }, accumulate);
                }
            }
            Op::Tanh => {
                if let Some((dx, accumulate)) = self.contribution(value.inputs[0]) {
                    self.emit(GradStep::Tanh { y, dy, dx }, accumulate);
                }
            }
            Op::Softmax { .. } => {
                let Some(Step::Softmax {
                    outer,
                    axis_len,
                    inner,
                    ..
                }) = self.forward_step_of(id)
                else {
                    unreachable!("softmax values have a softmax step")
                };
                if let Some((dx, accumulate)) = self.contribution(value.inputs[0]) {
                    let step = GradStep::Softmax {
                        y,
                        dy,
                        dx,
                        outer,
                        axis_len,
                        inner,
                    };
                    self.emit(step, accumulate);
                }
            }
            Op::Dropout { .. } => {
                let Some(Step::Dropout { mask, .. }) = self.forward_step_of(id) else {
                    unreachable!("dropout values have a dropout step")
                };
                if let Some((dx, accumulate)) = self.contribution(value.inputs[0]) {
                    self.emit(GradStep::Dropout { mask, dy, dx }, accumulate);
                }
            }
            Op::BatchNorm { .. } => {
                let Some(Step::BatchNorm {
                    weight,
                    bias,
                    save_mean,
                    save_invstd,
                    channels,
                    spatial,
                    ..
                }) = self.forward_step_of(id)
                else {
                    unreachable!("batchnorm values have a batchnorm step")
                };
                let (dx, accumulate) = self.contribution(value.inputs[0]).unzip();
                let step = GradStep::BatchNorm {
                    x: x.expect("one input"),
                    dy,
                    dx,
                    weight,
                    bias,
                    save_mean,
                    save_invstd,
                    channels,
                    spatial,
                };
                self.emit(step, accumulate.flatten());
            }
            Op::Add => {
                self.pass_through(value.inputs[0], dy);
                self.pass_through(value.inputs[1], dy);
            }
            Op::Concat { .. } => {
                let Some(Step::Concat {
                    lens, outer, inner, ..
                }) = self.forward_step_of(id)
                else {
                    unreachable!("concat values have a concat step")
                };
                let mut dxs = Vec::new();
                let mut accumulates = Vec::new();
                for &input in &value.inputs {
                    match self.contribution(input) {
                        Some((dx, accumulate)) => {
                            dxs.push(Some(dx));
                            accumulates.extend(accumulate);
                        }
                        None => dxs.push(None),
                    }
                }
                self.steps.push(GradStep::Concat {
                    dy,
                    dxs,
                    lens,
                    outer,
                    inner,
                });
                self.steps.extend(accumulates);
            }
        }
    }

    fn dense(&mut self, dense: ValueId, dy: BufferId, relu_y: Option<BufferId>) {
        let model = self.lowering.model;
        let value = model.value(dense);
        let Op::Dense { out_features, bias } = value.op else {
            unreachable!("a dense value")
        };
        let input = value.inputs[0];
        let (dx, accumulate) = self.contribution(input).unzip();
        let step = GradStep::Dense {
            x: self.lowering.buffer_of(input),
            weight: self.lowering.param(dense, 0),
            bias: bias.then(|| self.lowering.param(dense, 1)),
            dy,
            dx,
            relu_y,
            in_features: self.lowering.elements(input),
            out_features,
        };
        self.emit(step, accumulate.flatten());
    }

    /// The forward step that computed value `id`.
    fn forward_step_of(&self, id: ValueId) -> Option<Step> {
        self.lowering.step_of[id.index()].map(|i| self.lowering.forward[i].clone())
    }
}

/// For each value, the values that consume it.
fn consumers(model: &ir::Model) -> Vec<Vec<ValueId>> {
    let mut consumers = vec![Vec::new(); model.values.len()];
    for (index, value) in model.values.iter().enumerate() {
        for input in &value.inputs {
            consumers[input.index()].push(ValueId(index as u32));
        }
    }
    consumers
}

fn pool_shape(
    input: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> PoolShape {
    PoolShape {
        channels: input[0],
        in_h: input[1],
        in_w: input[2],
        kernel,
        stride,
        padding,
    }
}

/// `[outer, axis_len, inner]` of a per-sample shape split at `axis`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

fn optimizer(optimizer: &ir::Optimizer) -> Optimizer {
    match *optimizer {
        ir::Optimizer::Sgd {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay,
        } => Optimizer::Sgd {
            lr: lr as f32,
            momentum: momentum as f32,
            dampening: dampening as f32,
            nesterov,
            weight_decay: weight_decay as f32,
        },
        ir::Optimizer::Adam {
            lr,
            betas,
            eps,
            weight_decay,
        } => Optimizer::Adam {
            lr: lr as f32,
            beta1: betas[0] as f32,
            beta2: betas[1] as f32,
            eps: eps as f32,
            weight_decay: weight_decay as f32,
        },
        ir::Optimizer::AdamW {
            lr,
            betas,
            eps,
            weight_decay,
        } => Optimizer::AdamW {
            lr: lr as f32,
            beta1: betas[0] as f32,
            beta2: betas[1] as f32,
            eps: eps as f32,
            weight_decay: weight_decay as f32,
        },
    }
}
