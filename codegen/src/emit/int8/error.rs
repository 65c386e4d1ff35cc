//! Why [`super::int8_module`] refuses, and the checks of a [`QPlan`]
//! that make it refuse rather than print code that cannot compile or run.
//! A QPlan may come from a file (an int8 checkpoint read back), so every
//! index and length the printer relies on is checked here first.

use nnspec_runtime::plan::{BufferId, BufferType, Size};
use nnspec_runtime_core::quant::kernels::packed_len;
use nnspec_runtime_core::quant::plan::{QPlan, QStep, QTensorId};

/// Why [`super::int8_module`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Int8EmitError {
    /// The runtime path of the options is not a Rust path.
    BadPath { path: String },
    /// An option the int8 module does not offer was set (`what`: nalgebra
    /// methods, safetensors loading: the weights are static data).
    Unsupported { what: &'static str },
    /// The float plan trains: an int8 plan is quantized from an inference plan.
    TrainingPlan,
    /// Input `input` is token ids (an embedding reads it); int8 modules take
    /// f32 inputs.
    TokenInput { input: String },
    /// The plan is inconsistent: `what` says where (a step, layer or
    /// tensor index out of range, a length that does not match).
    Malformed { what: String },
    /// A number that must be printed as a literal is NaN or infinite.
    NotFinite { what: String },
    /// A value of the model is named like one of the int8 module's own
    /// locals (`u8_values`, `u8_scratch`, `float_arena`).
    ReservedName { name: String },
}

impl std::fmt::Display for Int8EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Int8EmitError::BadPath { path } => write!(
                f,
                "the runtime path `{path}` is not a Rust path (such as nnspec_runtime_core or nnspec::runtime)"
            ),
            Int8EmitError::Unsupported { what } => write!(
                f,
                "int8 modules embed their weights as static data and do not offer {what}"
            ),
            Int8EmitError::TrainingPlan => write!(
                f,
                "the int8 plan's float plan trains: quantize the plan from lower_inference"
            ),
            Int8EmitError::TokenInput { input } => write!(
                f,
                "input `{input}` is token ids; int8 modules take f32 inputs only"
            ),
            Int8EmitError::Malformed { what } => write!(f, "malformed int8 plan: {what}"),
            Int8EmitError::ReservedName { name } => write!(
                f,
                "the value `{name}` is named like a local of the generated int8 code: rename it"
            ),
            Int8EmitError::NotFinite { what } => {
                write!(
                    f,
                    "{what} is not a finite number, so it cannot be compiled in"
                )
            }
        }
    }
}

impl std::error::Error for Int8EmitError {}

fn malformed(what: String) -> Int8EmitError {
    Int8EmitError::Malformed { what }
}

fn finite(v: f32, what: impl FnOnce() -> String) -> Result<(), Int8EmitError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Int8EmitError::NotFinite { what: what() })
    }
}

/// Checks everything the printer indexes or prints.
pub(super) fn check(q: &QPlan) -> Result<(), Int8EmitError> {
    let plan = &q.float;
    if plan.trains() {
        return Err(Int8EmitError::TrainingPlan);
    }
    if plan.inputs.is_empty() || plan.outputs.is_empty() {
        return Err(malformed("the plan has no input or no output".into()));
    }
    let buffer_ok = |b: BufferId| b.index() < plan.buffers.len();
    for (i, &b) in plan.inputs.iter().enumerate() {
        if !buffer_ok(b) || plan.input_shapes.len() != plan.inputs.len() {
            return Err(malformed(format!("input {i} is not a buffer of the plan")));
        }
        if plan.token_bound(i).is_some() || plan.buffer(b).ty != BufferType::F32 {
            return Err(Int8EmitError::TokenInput {
                input: plan.buffer(b).name.clone(),
            });
        }
    }
    if let Some((name, _, _)) = plan.outputs.iter().find(|(_, b, _)| !buffer_ok(*b)) {
        return Err(malformed(format!(
            "output `{name}` is not a buffer of the plan"
        )));
    }
    for (i, t) in q.tensors.iter().enumerate() {
        finite(t.q.scale, || {
            format!("the scale of tensor {i} (`{}`)", t.name)
        })?;
    }
    for (i, l) in q.layers.iter().enumerate() {
        let n = l.n;
        let lens = [
            ("packed weight", l.packed.len(), packed_len(l.n, l.k)),
            ("weight sums", l.weight_sums.len(), n),
            ("bias", l.bias.len(), n),
            ("requantization", l.requant.len(), n),
        ];
        for (what, got, want) in lens {
            if got != want {
                return Err(malformed(format!(
                    "layer {i} (`{}`): {what} has {got} values, {want} expected for {n} outputs of {} inputs",
                    l.name, l.k
                )));
            }
        }
    }
    let params_len = nnspec_runtime::infer::params_len(plan);
    if q.float_params.len() != params_len {
        return Err(malformed(format!(
            "{} float parameters, the float plan has {params_len}",
            q.float_params.len()
        )));
    }
    if let Some(at) = q.float_params.iter().position(|v| !v.is_finite()) {
        return Err(Int8EmitError::NotFinite {
            what: format!("float parameter value {at}"),
        });
    }
    let tensor = |t: QTensorId, step: usize| {
        q.tensors.get(t.index()).ok_or_else(|| {
            malformed(format!(
                "step {step} reads tensor {} of {}",
                t.0,
                q.tensors.len()
            ))
        })
    };
    let buffer = |b: BufferId, step: usize| {
        if buffer_ok(b) {
            Ok(())
        } else {
            Err(malformed(format!(
                "step {step} uses buffer {} of {}",
                b.0,
                plan.buffers.len()
            )))
        }
    };
    for (i, step) in q.steps.iter().enumerate() {
        match step {
            QStep::Quantize { x: b, y: t } | QStep::Dequantize { x: t, y: b } => {
                buffer(*b, i)?;
                let t = tensor(*t, i)?;
                let floats = match plan.buffer(*b).size {
                    Size::PerSample(n) => n,
                    Size::Fixed(_) => usize::MAX,
                };
                if floats != t.per_sample {
                    return Err(malformed(format!(
                        "step {i} converts `{}` ({} values per sample) and `{}` ({} per sample)",
                        plan.buffer(*b).name,
                        floats,
                        t.name,
                        t.per_sample
                    )));
                }
            }
            QStep::Dense { x, layer, y, .. } | QStep::Conv2d { x, layer, y, .. } => {
                let (xt, _) = (tensor(*x, i)?, tensor(*y, i)?);
                let l = q.layers.get(*layer).ok_or_else(|| {
                    malformed(format!("step {i} uses layer {layer} of {}", q.layers.len()))
                })?;
                if let QStep::Dense { .. } = step
                    && (l.k == 0 || xt.per_sample % l.k != 0)
                {
                    return Err(malformed(format!(
                        "step {i}: `{}` has {} values per sample, not rows of layer `{}`'s {} inputs",
                        xt.name, xt.per_sample, l.name, l.k
                    )));
                }
            }
            QStep::MaxPool2d { x, y, .. } => {
                tensor(*x, i)?;
                tensor(*y, i)?;
            }
            QStep::Float(_) => {}
        }
    }
    Ok(())
}
