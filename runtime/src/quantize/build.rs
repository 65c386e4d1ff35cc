//! The numbers of an int8 plan from a calibration and the float weights:
//! activation parameters from the calibrated ranges, per-channel weight
//! scales, integer weights and biases (a folded BatchNorm's scale and
//! shift included), and the requantization multipliers.

use super::calibrate::{Calibration, inference_plan};
use super::error::QuantizeError;
use super::skeleton::{Fold, LayerSource, Skeleton, TensorSource, skeleton};
use crate::infer;
use crate::plan::{ParamId, Plan};
use nnspec_runtime_core::quant::kernels;
use nnspec_runtime_core::quant::plan::{QLayer, QPlan, QStep};
use nnspec_runtime_core::quant::scheme::{QuantParams, Requant, WEIGHT_MAX, round_half_even};

/// The int8 plan of `plan` with weights `params` ([`infer::param_range`]'s
/// layout) and activation ranges `cal` (a [`super::calibrate`] of the same
/// plan).
pub fn build(plan: &Plan, params: &[f32], cal: &Calibration) -> Result<QPlan, QuantizeError> {
    let plan = inference_plan(plan);
    if cal.model != plan.model || cal.ranges.len() != plan.buffers.len() {
        return Err(QuantizeError::WrongCalibration {
            model: plan.model.clone(),
            calibrated: cal.model.clone(),
            buffers: cal.ranges.len(),
        });
    }
    if params.len() != infer::params_len(&plan) {
        return Err(super::CalibrationError::Params {
            model: plan.model.clone(),
            want: infer::params_len(&plan),
            got: params.len(),
        }
        .into());
    }
    for (i, param) in plan.params.iter().enumerate() {
        let range = infer::param_range(&plan, ParamId(i as u32));
        if let Some(bad) = params[range.clone()].iter().position(|v| !v.is_finite())
            && !matches!(param.kind, crate::plan::ParamKind::Counter)
        {
            return Err(QuantizeError::NotFiniteParam {
                model: plan.model.clone(),
                name: param.name.clone(),
                index: bad,
            });
        }
    }
    let Skeleton {
        mut qplan,
        tensors,
        layers,
        float_params,
    } = skeleton(&plan)?;
    for (t, source) in tensors.iter().enumerate() {
        qplan.tensors[t].q = match *source {
            TensorSource::Range(buffer) => {
                let (lo, hi) = cal
                    .range(&plan, buffer)
                    .ok_or_else(|| QuantizeError::NoRange {
                        model: plan.model.clone(),
                        buffer: plan.buffer(buffer).name.clone(),
                    })?;
                QuantParams::from_range(lo, hi)
            }
            TensorSource::SameAs(other) => qplan.tensors[other.index()].q,
        };
    }
    for (l, source) in layers.iter().enumerate() {
        let x_scale = qplan.tensor(source.x).q.scale;
        let y_scale = qplan.tensor(source.y).q.scale;
        let (weight, bias) = float_layer(&plan, params, source, qplan.layers[l].n);
        let layer = &mut qplan.layers[l];
        let (n, k) = (layer.n, layer.k);
        layer.weight = Vec::with_capacity(n * k);
        for c in 0..n {
            let row = &weight[c * k..(c + 1) * k];
            let top = row.iter().fold(0.0f64, |m, w| m.max(w.abs()));
            // An all-zero channel gets the scale of weights in [-1, 1]:
            // any scale quantizes zeros exactly, and this one keeps its
            // bias as precise as an ordinary channel's.
            let scale = if top > 0.0 {
                (top / WEIGHT_MAX as f64) as f32
            } else {
                1.0 / WEIGHT_MAX as f32
            };
            layer.weight_scale.push(scale);
            layer.weight.extend(row.iter().map(|&w| {
                let q = round_half_even((w / scale as f64) as f32);
                q.clamp(-(WEIGHT_MAX as f32), WEIGHT_MAX as f32) as i8
            }));
            let bias_scale = x_scale as f64 * scale as f64;
            // Half the i32 range: the sum of products keeps the other half.
            let limit = (i32::MAX / 2) as f64;
            layer.bias.push(
                (bias[c] / bias_scale)
                    .round_ties_even()
                    .clamp(-limit, limit) as i32,
            );
        }
        finish_layer(layer, x_scale, y_scale);
    }
    qplan.float_params = kept_params(&plan, params, &float_params);
    Ok(qplan)
}

/// Fills what follows from the integers and the scales: requantization
/// multipliers, the packed weight and its per-channel sums.
pub(super) fn finish_layer(layer: &mut QLayer, x_scale: f32, y_scale: f32) {
    layer.requant = layer
        .weight_scale
        .iter()
        .map(|&w| Requant::from_real(x_scale as f64 * w as f64 / y_scale as f64))
        .collect();
    layer.packed = kernels::pack_weights(&layer.weight, layer.n, layer.k);
    layer.weight_sums = kernels::weight_sums(&layer.weight, layer.n, layer.k);
}

/// `params` with only what float steps read: the rest is zero, so that an
/// int8 plan holds no float copy of what it quantized (and its checkpoint
/// rebuilds it exactly).
pub(super) fn kept_params(plan: &Plan, params: &[f32], keep: &[bool]) -> Vec<f32> {
    let mut kept = vec![0.0f32; params.len()];
    for (i, &k) in keep.iter().enumerate() {
        if k {
            let range = infer::param_range(plan, ParamId(i as u32));
            kept[range.clone()].copy_from_slice(&params[range]);
        }
    }
    kept
}

/// The layer's float weight `[n, k]` and bias `[n]` in f64, a folded
/// BatchNorm applied: `w·γ/√(var+ε)` and `(b − mean)·γ/√(var+ε) + β`.
fn float_layer(
    plan: &Plan,
    params: &[f32],
    source: &LayerSource,
    n: usize,
) -> (Vec<f64>, Vec<f64>) {
    let read = |id: ParamId| &params[infer::param_range(plan, id)];
    let mut weight: Vec<f64> = read(source.weight).iter().map(|&w| w as f64).collect();
    let mut bias: Vec<f64> = match source.bias {
        Some(b) => read(b).iter().map(|&v| v as f64).collect(),
        None => vec![0.0; n],
    };
    if let Some(Fold {
        weight: gamma,
        bias: beta,
        running_mean,
        running_var,
        eps,
    }) = source.fold
    {
        let k = weight.len() / n.max(1);
        let (gamma, beta) = (read(gamma), read(beta));
        let (mean, var) = (read(running_mean), read(running_var));
        for c in 0..n {
            let s = gamma[c] as f64 / (var[c] as f64 + eps as f64).sqrt();
            for w in &mut weight[c * k..(c + 1) * k] {
                *w *= s;
            }
            bias[c] = (bias[c] - mean[c] as f64) * s + beta[c] as f64;
        }
    }
    (weight, bias)
}

/// The float plan's steps that run in f32, by kind and output name
/// (`Sigmoid → h`): what the quantize report lists.
pub fn float_step_names(q: &QPlan) -> Vec<String> {
    q.steps
        .iter()
        .filter_map(|s| match s {
            QStep::Float(step) => {
                let debug = format!("{step:?}");
                let kind = debug.split([' ', '{']).next().unwrap_or("").to_string();
                let out = super::steps::writes(step)
                    .first()
                    .map(|&b| q.float.buffer(b).name.clone())
                    .unwrap_or_default();
                Some(format!("{kind} → {out}"))
            }
            QStep::Quantize { .. }
            | QStep::Dequantize { .. }
            | QStep::Dense { .. }
            | QStep::Conv2d { .. }
            | QStep::MaxPool2d { .. } => None,
        })
        .collect()
}
