//! How far the int8 plan is from the float plan: per quantized layer
//! output, the largest absolute error and the SQNR of the dequantized
//! integers against the float plan's value; and how often the final
//! outputs' argmax agree.

use super::calibrate::inference_plan;
use super::error::{CalibrationError, QuantizeError};
use super::skeleton::{TensorSource, skeleton};
use crate::forward::Layout;
use crate::infer;
use crate::plan::Plan;
use crate::threads::Serial;
use nnspec_runtime_core::quant::plan::{QPlan, QStep};
use nnspec_runtime_core::quant::run::{self, FloatLayout};

/// One int8 layer's output against the float plan's.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerError {
    /// The layer (`fc1`).
    pub layer: String,
    /// The value it computes (`fc1`, or a folded BatchNorm's or fused
    /// ReLU's output).
    pub value: String,
    pub max_abs_error: f64,
    /// `10·log10(Σ f² / Σ (f − q)²)`, dB; infinite when exact.
    pub sqnr_db: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ErrorReport {
    pub samples: usize,
    pub layers: Vec<LayerError>,
    /// Share of samples whose first output has the same argmax in both.
    pub argmax_agreement: f64,
    /// The steps that run in f32 ([`super::float_step_names`]).
    pub float_steps: Vec<String>,
}

const BATCH: usize = 64;

/// The int8 plan's f32 outputs (output 0) for every sample of `inputs`.
pub fn run_int8(q: &QPlan, inputs: &[f32]) -> Result<Vec<f32>, CalibrationError> {
    let width = check_inputs(&q.float, inputs)?;
    let samples = inputs.len() / width;
    let mut out = Vec::new();
    let mut arenas = Arenas::new(q, samples.min(BATCH));
    for first in (0..samples).step_by(BATCH) {
        let batch = BATCH.min(samples - first);
        arenas.run(q, &inputs[first * width..(first + batch) * width], batch);
        out.extend_from_slice(&arenas.f32[run::output_range(q, batch, 0)]);
    }
    Ok(out)
}

/// The float plan's outputs (output 0) for every sample of `inputs`, in
/// inference mode, batched as [`run_int8`] batches.
pub fn run_float(plan: &Plan, params: &[f32], inputs: &[f32]) -> Result<Vec<f32>, QuantizeError> {
    let plan = inference_plan(plan);
    let width = check_inputs(&plan, inputs)?;
    if params.len() != infer::params_len(&plan) {
        return Err(CalibrationError::Params {
            model: plan.model.clone(),
            want: infer::params_len(&plan),
            got: params.len(),
        }
        .into());
    }
    let samples = inputs.len() / width;
    let capacity = samples.min(BATCH);
    let mut arena = vec![0.0f32; infer::arena_len(&plan, capacity, 1).expect("arena size")];
    let mut out = Vec::new();
    for first in (0..samples).step_by(capacity) {
        let batch = capacity.min(samples - first);
        arena[infer::input_range(&plan, batch)]
            .copy_from_slice(&inputs[first * width..(first + batch) * width]);
        infer::run(&plan, params, &mut arena, batch, &Serial);
        out.extend_from_slice(&arena[infer::output_range(&plan, batch, 0)]);
    }
    Ok(out)
}

struct Arenas {
    f32: Vec<f32>,
    u8: Vec<u8>,
    scratch: Vec<u8>,
}

impl Arenas {
    fn new(q: &QPlan, batch: usize) -> Arenas {
        let sizes = run::arena_sizes(q, batch.max(1), 1).expect("int8 arena sizes");
        Arenas {
            f32: vec![0.0; sizes.f32_len],
            u8: vec![0; sizes.u8_len],
            scratch: vec![0; sizes.scratch_len],
        }
    }

    fn run(&mut self, q: &QPlan, inputs: &[f32], batch: usize) {
        self.f32[run::input_range(q, batch)].copy_from_slice(inputs);
        run::run(
            q,
            &mut self.f32,
            &mut self.u8,
            &mut self.scratch,
            batch,
            &Serial,
        );
    }
}

fn check_inputs(plan: &Plan, inputs: &[f32]) -> Result<usize, CalibrationError> {
    let width: usize = plan.input_shapes[0].iter().product();
    if inputs.is_empty() {
        return Err(CalibrationError::Empty);
    }
    if width == 0 || !inputs.len().is_multiple_of(width) {
        return Err(CalibrationError::Width {
            len: inputs.len(),
            width,
        });
    }
    if let Some(i) = inputs.iter().position(|v| !v.is_finite()) {
        return Err(CalibrationError::NotFinite {
            sample: i / width,
            index: i % width,
            value: inputs[i],
        });
    }
    Ok(width)
}

/// The index of the largest value (the first of equals).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Compares `q` with the float `plan` (weights `params`) on every sample
/// of `inputs`.
pub fn report(
    plan: &Plan,
    params: &[f32],
    q: &QPlan,
    inputs: &[f32],
) -> Result<ErrorReport, QuantizeError> {
    let plan = inference_plan(plan);
    let width = check_inputs(&plan, inputs)?;
    let samples = inputs.len() / width;
    if params.len() != infer::params_len(&plan) {
        return Err(CalibrationError::Params {
            model: plan.model.clone(),
            want: infer::params_len(&plan),
            got: params.len(),
        }
        .into());
    }
    let sources = skeleton(&plan)?.tensors;
    // (layer name, its output tensor, the float buffer it stands for)
    let compared: Vec<_> = q
        .steps
        .iter()
        .filter_map(|s| match s {
            QStep::Dense { layer, y, .. } | QStep::Conv2d { layer, y, .. } => {
                match sources[y.index()] {
                    TensorSource::Range(buffer) => Some((&q.layers[*layer].name, *y, buffer)),
                    TensorSource::SameAs(_) => None,
                }
            }
            QStep::Quantize { .. }
            | QStep::Dequantize { .. }
            | QStep::MaxPool2d { .. }
            | QStep::Float(_) => None,
        })
        .collect();
    let mut signal = vec![0.0f64; compared.len()];
    let mut noise = vec![0.0f64; compared.len()];
    let mut max_abs = vec![0.0f64; compared.len()];
    let mut agree = 0usize;
    let capacity = samples.min(BATCH);
    let mut float_arena = vec![0.0f32; infer::arena_len(&plan, capacity, 1).expect("arena size")];
    let mut arenas = Arenas::new(q, capacity);
    let out_width: usize = plan.outputs[0].2.iter().product::<usize>().max(1);
    for first in (0..samples).step_by(capacity) {
        let batch = capacity.min(samples - first);
        let x = &inputs[first * width..(first + batch) * width];
        float_arena[infer::input_range(&plan, batch)].copy_from_slice(x);
        infer::run(&plan, params, &mut float_arena, batch, &Serial);
        arenas.run(q, x, batch);
        let layout = FloatLayout { plan: &plan, batch };
        for (i, (_, t, buffer)) in compared.iter().enumerate() {
            let want = &float_arena[layout.buffer(*buffer, batch)];
            let got = &arenas.u8[run::tensor_range(q, *t, batch)];
            let params = q.tensor(*t).q;
            for (&f, &g) in want.iter().zip(got) {
                let (f, g) = (f as f64, params.dequantize(g) as f64);
                signal[i] += f * f;
                noise[i] += (f - g) * (f - g);
                max_abs[i] = max_abs[i].max((f - g).abs());
            }
        }
        let want = &float_arena[infer::output_range(&plan, batch, 0)];
        let got = &arenas.f32[run::output_range(q, batch, 0)];
        agree += want
            .chunks(out_width)
            .zip(got.chunks(out_width))
            .filter(|(a, b)| argmax(a) == argmax(b))
            .count();
    }
    let layers = compared
        .iter()
        .enumerate()
        .map(|(i, (layer, t, _))| LayerError {
            layer: layer.to_string(),
            value: q.tensor(*t).name.clone(),
            max_abs_error: max_abs[i],
            sqnr_db: if noise[i] == 0.0 {
                f64::INFINITY
            } else {
                10.0 * (signal[i] / noise[i]).log10()
            },
        })
        .collect();
    Ok(ErrorReport {
        samples,
        layers,
        argmax_agreement: agree as f64 / samples as f64,
        float_steps: super::float_step_names(q),
    })
}
