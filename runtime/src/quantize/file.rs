//! The int8 checkpoint: a safetensors file holding what an int8 plan
//! cannot recompute from the float plan.
//!
//! * per int8 layer: `<layer>.weight` I8 `[n, k]` (a convolution's weight
//!   flattened, PyTorch's order), `<layer>.weight_scale` F32 `[n]`,
//!   `<layer>.bias` I32 `[n]` (at scale `x_scale · weight_scale`);
//! * per `u8` tensor: `act.<name>.scale` F32 `[]` and
//!   `act.<name>.zero_point` U8 `[]` (a max pool's output has its input's,
//!   and is not stored);
//! * the float parameters the f32 steps read, under their own names;
//! * metadata: `format` = `nnspec-int8`, `scheme` = [`SCHEME_VERSION`],
//!   `model`.
//!
//! The requantization multipliers, packed weights and weight sums follow
//! from these and are recomputed on loading, as are the plan's steps
//! (from the float plan, re-lowered from the model file): [`load`] gives
//! the very plan [`save`] wrote.

use std::path::Path;

use super::build::{finish_layer, kept_params};
use super::calibrate::inference_plan;
use super::error::QuantizeError;
use super::skeleton::{Skeleton, TensorSource, skeleton};
use crate::infer;
use crate::plan::{ParamId, Plan};
use crate::safetensors_file::{Checkpoint, Tensor, TensorData as Data};
use nnspec_runtime_core::quant::plan::QPlan;
use nnspec_runtime_core::quant::scheme::{ACT_MAX, QuantParams};

/// The version of the int8 scheme and file layout (metadata `scheme`).
pub const SCHEME_VERSION: &str = "1";
const FORMAT: &str = "nnspec-int8";

fn scale_name(tensor: &str) -> String {
    format!("act.{tensor}.scale")
}

fn zero_point_name(tensor: &str) -> String {
    format!("act.{tensor}.zero_point")
}

/// The int8 checkpoint of `q`.
pub fn to_checkpoint(q: &QPlan) -> Result<Checkpoint, QuantizeError> {
    let Skeleton {
        tensors,
        float_params,
        ..
    } = skeleton(&q.float)?;
    let mut ck = Checkpoint::new();
    for layer in &q.layers {
        ck.insert(
            format!("{}.weight", layer.name),
            tensor(vec![layer.n, layer.k], Data::I8(layer.weight.clone())),
        )?;
        ck.insert_f32(
            format!("{}.weight_scale", layer.name),
            &[layer.n],
            &layer.weight_scale,
        )?;
        ck.insert(
            format!("{}.bias", layer.name),
            tensor(vec![layer.n], Data::I32(layer.bias.clone())),
        )?;
    }
    for (t, source) in q.tensors.iter().zip(&tensors) {
        if let TensorSource::Range(_) = source {
            ck.insert_f32(scale_name(&t.name), &[], &[t.q.scale])?;
            ck.insert(
                zero_point_name(&t.name),
                tensor(vec![], Data::U8(vec![t.q.zero_point])),
            )?;
        }
    }
    for (i, param) in q.float.params.iter().enumerate() {
        if float_params[i] {
            let range = infer::param_range(&q.float, ParamId(i as u32));
            ck.insert_f32(&param.name, &param.shape, &q.float_params[range])?;
        }
    }
    ck.set_metadata("format", FORMAT);
    ck.set_metadata("scheme", SCHEME_VERSION);
    ck.set_metadata("model", q.float.model.clone());
    Ok(ck)
}

/// Writes `q`'s int8 checkpoint to `path` (a temporary file renamed into
/// place).
pub fn save(q: &QPlan, path: &Path) -> Result<(), QuantizeError> {
    Ok(to_checkpoint(q)?.save(path)?)
}

fn tensor(shape: Vec<usize>, data: Data) -> Tensor {
    Tensor { shape, data }
}

/// The int8 plan of `plan` (the float model, re-lowered) stored in
/// `checkpoint`; refuses a file of another model, scheme or shape.
pub fn load(plan: &Plan, checkpoint: &Checkpoint) -> Result<QPlan, QuantizeError> {
    let plan = inference_plan(plan);
    let file = checkpoint.origin().to_string();
    let mismatch = |what: String| QuantizeError::Mismatch {
        file: file.clone(),
        what,
    };
    let meta = |key: &str| checkpoint.metadata().get(key).map(String::as_str);
    if meta("format") != Some(FORMAT) {
        return Err(mismatch(format!(
            "not an int8 checkpoint (its metadata `format` is {:?}, not {FORMAT:?}); make one with `dslc quantize`",
            meta("format").unwrap_or("missing")
        )));
    }
    if meta("scheme") != Some(SCHEME_VERSION) {
        return Err(mismatch(format!(
            "int8 scheme version {:?}; this nnspec reads version {SCHEME_VERSION}: quantize the model again",
            meta("scheme").unwrap_or("missing")
        )));
    }
    if meta("model") != Some(plan.model.as_str()) {
        return Err(mismatch(format!(
            "holds model `{}`, not `{}`",
            meta("model").unwrap_or("?"),
            plan.model
        )));
    }
    let Skeleton {
        mut qplan,
        tensors,
        layers: sources,
        float_params,
    } = skeleton(&plan)?;
    let mut names: Vec<String> = Vec::new();
    for layer in &qplan.layers {
        for suffix in ["weight", "weight_scale", "bias"] {
            names.push(format!("{}.{suffix}", layer.name));
        }
    }
    for (t, source) in qplan.tensors.iter().zip(&tensors) {
        if let TensorSource::Range(_) = source {
            names.push(scale_name(&t.name));
            names.push(zero_point_name(&t.name));
        }
    }
    for (i, param) in plan.params.iter().enumerate() {
        if float_params[i] {
            names.push(param.name.clone());
        }
    }
    checkpoint.require_names(names.iter().map(String::as_str))?;
    for (t, source) in tensors.iter().enumerate() {
        qplan.tensors[t].q = match *source {
            TensorSource::Range(_) => {
                let name = &qplan.tensors[t].name;
                let scale = checkpoint.f32(&scale_name(name), &[])?[0];
                let zero_point = checkpoint.u8(&zero_point_name(name), &[])?[0];
                if !(scale.is_finite() && scale > 0.0) || zero_point > ACT_MAX {
                    return Err(mismatch(format!(
                        "tensor `{name}` has scale {scale} and zero point {zero_point}; a scale is finite and positive, a zero point at most {ACT_MAX}"
                    )));
                }
                QuantParams { scale, zero_point }
            }
            TensorSource::SameAs(other) => qplan.tensors[other.index()].q,
        };
    }
    for (layer, source) in qplan.layers.iter_mut().zip(&sources) {
        let (n, k) = (layer.n, layer.k);
        let name = &layer.name;
        layer.weight = checkpoint.i8(&format!("{name}.weight"), &[n, k])?.to_vec();
        if let Some(i) = layer.weight.iter().position(|&w| w == i8::MIN) {
            return Err(mismatch(format!(
                "`{name}.weight` holds -128 at {i}; int8 weights are in -127..=127"
            )));
        }
        layer.weight_scale = checkpoint
            .f32(&format!("{name}.weight_scale"), &[n])?
            .to_vec();
        if let Some(i) = layer
            .weight_scale
            .iter()
            .position(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(mismatch(format!(
                "`{name}.weight_scale` holds {} at {i}; scales are finite and positive",
                layer.weight_scale[i]
            )));
        }
        layer.bias = checkpoint.i32(&format!("{name}.bias"), &[n])?.to_vec();
        let x_scale = qplan.tensors[source.x.index()].q.scale;
        let y_scale = qplan.tensors[source.y.index()].q.scale;
        finish_layer(layer, x_scale, y_scale);
    }
    let mut values = vec![0.0f32; infer::params_len(&plan)];
    for (i, param) in plan.params.iter().enumerate() {
        if float_params[i] {
            let range = infer::param_range(&plan, ParamId(i as u32));
            values[range].copy_from_slice(checkpoint.f32(&param.name, &param.shape)?);
        }
    }
    qplan.float_params = kept_params(&plan, &values, &float_params);
    Ok(qplan)
}
