//! From an int8 plan back to the model, for the exports that follow a
//! QPlan step by step (ONNX QDQ, TFLite full-integer): which IR values
//! each buffer of the QPlan's float plan holds (so a [`QStep::Float`] step
//! exports through its layer's float rule), and the float parameters as a
//! checkpoint those rules read.
//!
//! Errors are plain sentences: each export wraps them in its own error
//! type (both call it a mismatch between the plan and the model).
//!
//! [`QStep::Float`]: nnspec_runtime_core::quant::plan::QStep::Float

use nnspec_dsl::ir::{self, ValueId};
use nnspec_dsl::ops::OnnxRule;
use nnspec_runtime::infer::param_range;
use nnspec_runtime::plan::{BufferId, ParamId, ParamKind, Plan};
use nnspec_runtime::safetensors_file::Checkpoint;
use nnspec_runtime_core::quant::plan::{QLayer, QPlan, QStep, QTensorId};

/// The model's values against the buffers of the plan it lowers to.
pub(crate) struct PlanMap {
    /// The buffer holding each value's result.
    value_buffer: Vec<Option<BufferId>>,
    /// Per buffer, the values whose result it holds, in the IR's order (a
    /// dense layer and the relu fused into it share one).
    buffer_values: Vec<Vec<ValueId>>,
}

impl PlanMap {
    /// Lowers `model` again and checks that `qplan` was quantized from
    /// that plan: same steps, buffers, parameters, inputs and outputs.
    pub(crate) fn new(model: &ir::Model, qplan: &QPlan) -> Result<PlanMap, String> {
        let (plan, value_buffer) = crate::lower::lower_inference_with_values(model);
        let float = &qplan.float;
        let mismatch = |what: &str| {
            Err(format!(
                "the int8 plan was not quantized from model `{}`: its {what} differ from the \
                 model's",
                model.name
            ))
        };
        if float.forward != plan.forward {
            return mismatch("forward steps");
        }
        // The QPlan's float plan may keep buffers past the inference ones
        // (a training plan's gradients); the forward ones must be these.
        if float.buffers.get(..plan.buffers.len()) != Some(&plan.buffers[..]) {
            return mismatch("buffers");
        }
        if float.params != plan.params {
            return mismatch("parameters");
        }
        if float.inputs != plan.inputs || float.outputs != plan.outputs {
            return mismatch("inputs or outputs");
        }
        let mut buffer_values = vec![Vec::new(); plan.buffers.len()];
        for (index, buffer) in value_buffer.iter().enumerate() {
            if let Some(buffer) = buffer {
                buffer_values[buffer.index()].push(ValueId(index as u32));
            }
        }
        Ok(PlanMap {
            value_buffer,
            buffer_values,
        })
    }

    pub(crate) fn buffer_of(&self, value: ValueId) -> BufferId {
        self.value_buffer[value.index()].expect("lowering gives every value a buffer")
    }

    /// The values whose result `buffer` holds (empty for a saved buffer).
    pub(crate) fn values_of(&self, buffer: BufferId) -> &[ValueId] {
        self.buffer_values
            .get(buffer.index())
            .map_or(&[], |values| values.as_slice())
    }

    /// The layers' values whose result `buffer` holds, in the IR's order
    /// (a layer and the relu fused into it): what a float step writing
    /// `buffer` computes, for an export to write with the float rules.
    pub(crate) fn layer_values(&self, model: &ir::Model, buffer: BufferId) -> Vec<ValueId> {
        self.values_of(buffer)
            .iter()
            .copied()
            .filter(|&v| model.value(v).op.rules().is_some())
            .collect()
    }

    /// The per-sample dims of `buffer`: its (last) value's shape.
    pub(crate) fn dims(&self, model: &ir::Model, buffer: BufferId) -> Option<Vec<usize>> {
        let value = *self.values_of(buffer).last()?;
        Some(model.value(value).shape.dims().to_vec())
    }
}

/// The buffer `buffer` is a view of, or itself.
pub(crate) fn root(plan: &Plan, buffer: BufferId) -> BufferId {
    let mut buffer = buffer;
    while let Some(of) = plan.buffers[buffer.index()].alias_of {
        buffer = of;
    }
    buffer
}

/// Whether `value` passes its input through at inference (dropout): its
/// ONNX rule is `Identity`.
pub(crate) fn passes_through(model: &ir::Model, value: ValueId) -> bool {
    let value = model.value(value);
    let Some(rules) = value.op.rules() else {
        return false;
    };
    let inputs: Vec<&ir::Shape> = value
        .inputs
        .iter()
        .map(|&i| &model.value(i).shape)
        .collect();
    matches!(rules.onnx(&inputs, &value.shape), OnnxRule::Identity)
}

/// The QPlan's float parameters as the checkpoint the float export reads
/// (counters, which inference never reads, are left out).
pub(crate) fn float_weights(qplan: &QPlan) -> Result<Checkpoint, String> {
    let plan = &qplan.float;
    let mut checkpoint = Checkpoint::new();
    for (index, param) in plan.params.iter().enumerate() {
        match param.kind {
            ParamKind::Counter => continue,
            ParamKind::Trainable | ParamKind::State => {}
        }
        let range = param_range(plan, ParamId(index as u32));
        let Some(values) = qplan.float_params.get(range.clone()) else {
            return Err(format!(
                "the int8 plan holds {} float parameters; `{}` needs {}..{}",
                qplan.float_params.len(),
                param.name,
                range.start,
                range.end
            ));
        };
        checkpoint
            .insert_f32(&param.name, &param.shape, values)
            .map_err(|error| format!("the int8 plan's float parameters: {error}"))?;
    }
    Ok(checkpoint)
}

/// Checks that every step names tensors, layers and buffers the QPlan has
/// (a plan read from a file could name others), so the export indexes
/// nothing out of range.
pub(crate) fn check_ids(model: &ir::Model, qplan: &QPlan) -> Result<(), String> {
    let tensor = |id: &QTensorId| id.index() < qplan.tensors.len();
    let buffer = |id: &BufferId| id.index() < qplan.float.buffers.len();
    let layer = |index: &usize| *index < qplan.layers.len();
    for (index, step) in qplan.steps.iter().enumerate() {
        let fits = match step {
            QStep::Quantize { x, y } => buffer(x) && tensor(y),
            QStep::Dequantize { x, y } => tensor(x) && buffer(y),
            QStep::Dense { x, layer: l, y, .. } | QStep::Conv2d { x, layer: l, y, .. } => {
                tensor(x) && layer(l) && tensor(y)
            }
            QStep::MaxPool2d { x, y, .. } => tensor(x) && tensor(y),
            // The float plan's own steps were compared with the model's.
            QStep::Float(_) => true,
        };
        if !fits {
            return Err(format!(
                "the int8 plan of model `{}` cannot be exported: step {index} ({step:?}) names a \
                 tensor, layer or buffer the plan does not have",
                model.name
            ));
        }
    }
    Ok(())
}

/// What an int8 export starts from: the plan checked against `model`
/// (its steps, and every id they name) and mapped back to it, and the
/// float parameters its `Float` steps' layers read.
pub(crate) fn prepare(model: &ir::Model, qplan: &QPlan) -> Result<(PlanMap, Checkpoint), String> {
    let map = PlanMap::new(model, qplan)?;
    check_ids(model, qplan)?;
    Ok((map, float_weights(qplan)?))
}

/// How many rows of `layer.k` inputs a dense step over tensor `x`
/// multiplies: one per sample, or one per position of a `[rows, k]` input.
pub(crate) fn dense_rows(qplan: &QPlan, x: QTensorId, layer: &QLayer) -> Result<usize, String> {
    let per_sample = qplan.tensor(x).per_sample;
    if layer.k == 0 || !per_sample.is_multiple_of(layer.k) {
        return Err(format!(
            "dense layer `{}` reads {} inputs per row from a tensor of {per_sample}",
            layer.name, layer.k
        ));
    }
    Ok(per_sample / layer.k)
}
