//! Lowering: the typed IR to a [`Plan`], with its backward pass.
//!
//! Forward: one step per op, in the IR's topological order; `flatten` and
//! `reshape` become views (no step, no copy); a dense or conv2d layer whose
//! only consumer is a relu absorbs it.
//!
//! Backward (when training): reverse-mode differentiation over the same
//! values in reverse order. A value needs a gradient if it depends on a
//! trainable parameter; inputs never do, so the first layer computes no
//! input gradient. A value's first gradient contribution is written in
//! place; where it feeds several consumers (residuals, concat of one value
//! twice), later contributions go to their own buffers followed by an
//! `Accumulate`. Gradients that pass through unchanged (`+`, views) share
//! storage instead of being copied.
// A new op must be handled explicitly wherever ops (or their steps) are
// matched: no catch-all arm may swallow it (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use nnspec_dsl::ir::{self, Op, ParamRole, ValueId};
use nnspec_runtime::plan::*;

mod backward;
mod forward;
mod run;
mod schedule;

pub use run::{early_stopping, fit_options};

use backward::Backward;
use forward::ForwardLowering;
pub use schedule::lr_schedule;

/// Lowers a checked model for inference (no loss, no backward).
pub fn lower_inference(model: &ir::Model) -> Plan {
    Lowering::new(model, false).finish(None)
}

/// [`lower_inference`]'s plan and the buffer holding each value's result
/// (a layer fused into its relu: the relu's), for exports that start from
/// a plan and need each step's layer (the int8 ONNX export).
pub fn lower_inference_with_values(model: &ir::Model) -> (Plan, Vec<Option<BufferId>>) {
    let lowering = Lowering::new(model, false);
    let values = lowering.value_buffer.clone();
    (lowering.finish(None), values)
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
    /// Layers fused into their relu consumer: relu value -> layer value.
    fused_into: Vec<Option<ValueId>>,
    /// Whether a value is a layer fused into its relu.
    is_fused_producer: Vec<bool>,
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
            is_fused_producer: vec![false; count],
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

    /// Marks `layer -> relu` pairs where the layer absorbs relus
    /// (`LayerRules::absorbs_relu`) and its result has no other use.
    fn plan_fusions(&mut self) {
        let consumers = consumers(self.model);
        let is_output = |id: ValueId| self.model.outputs.iter().any(|o| o.value == id);
        for (index, value) in self.model.values.iter().enumerate() {
            if !matches!(value.op, Op::Relu(_)) {
                continue;
            }
            let input = value.inputs[0];
            let producer = self.model.value(input);
            if producer.op.rules().is_some_and(|r| r.absorbs_relu())
                && consumers[input.index()].len() == 1
                && !is_output(input)
            {
                self.fused_into[index] = Some(input);
                self.is_fused_producer[input.index()] = true;
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
        // A layer fused into its relu writes the relu's buffer when the
        // relu is lowered; nothing to do here.
        if self.is_fused_producer[id.index()] {
            return;
        }
        let name = self.value_name(id);
        let per_sample = Size::PerSample(value.shape.elements());
        let Some(rules) = value.op.rules() else {
            // A model input: a buffer the caller fills.
            let buffer = self.new_buffer(name, per_sample, BufferType::F32, None);
            self.value_buffer[id.index()] = Some(buffer);
            return;
        };
        let y = self.new_buffer(name, per_sample, BufferType::F32, None);
        self.value_buffer[id.index()] = Some(y);
        // A relu fused into the step feeding it: that layer's op lowers
        // for both, writing the relu's buffer.
        let (op_value, rules, fused) = match self.fused_into[id.index()] {
            Some(layer) => {
                self.value_buffer[layer.index()] = Some(y);
                let layer_rules = self.model.value(layer).op.rules().expect("a layer");
                (layer, layer_rules, true)
            }
            None => (id, rules, false),
        };
        let mut cx = ForwardLowering {
            lowering: self,
            value: op_value,
            output_value: id,
            y,
            fused,
        };
        let Some(step) = rules.lower(&mut cx) else {
            return;
        };
        self.step_of[id.index()] = Some(self.forward.len());
        if let Some(layer) = self.fused_into[id.index()] {
            self.step_of[layer.index()] = Some(self.forward.len());
        }
        self.forward.push(step);
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
                    ParamRole::Xavier { fan_in, fan_out } => Init::Uniform {
                        bound: (6.0 / (fan_in + fan_out) as f64).sqrt() as f32,
                    },
                    ParamRole::Scale | ParamRole::RunningVar => Init::Constant(1.0),
                    ParamRole::Embedding => Init::Normal { std: 1.0 },
                    ParamRole::Shift | ParamRole::RunningMean | ParamRole::NumBatchesTracked => {
                        Init::Constant(0.0)
                    }
                },
                kind: match param.role {
                    ParamRole::Weight { .. }
                    | ParamRole::Bias { .. }
                    | ParamRole::Xavier { .. }
                    | ParamRole::Scale
                    | ParamRole::Shift
                    | ParamRole::Embedding => ParamKind::Trainable,
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
        let (loss, backward, optimizer, clip) = match config.filter(|_| self.training) {
            Some(config) => {
                let (loss, backward) = Backward::run(&mut self, config);
                let clip = config.clip.map(|clip| match clip {
                    ir::Clip::Norm { max_norm } => Clip::Norm {
                        max_norm: max_norm as f32,
                    },
                    ir::Clip::Value { clip_value } => Clip::Value {
                        clip_value: clip_value as f32,
                    },
                });
                (
                    Some(loss),
                    backward,
                    Some(optimizer(&config.optimizer)),
                    clip,
                )
            }
            None => (None, Vec::new(), None, None),
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
            clip,
        }
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
