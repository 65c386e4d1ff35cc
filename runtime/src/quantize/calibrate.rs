//! Calibration: the range of every buffer of the float plan over N
//! samples, run in inference mode, from which each `u8` tensor takes its
//! scale and zero point.
//!
//! `MinMax` takes the observed minimum and maximum. `Percentile(p)` clips
//! the rare large magnitudes that would otherwise spend most of the 7-bit
//! range on a few values, as onnxruntime's `Percentile` calibrator does: a
//! 2048-bin histogram of `|value|` over `[0, max |value|]`, whose bin where
//! the cumulative share first reaches `p`% gives the threshold `t`; the
//! range is the observed one clipped to `[-t, t]`.

use std::str::FromStr;

use super::error::CalibrationError;
use crate::forward::Layout;
use crate::infer;
use crate::plan::{BufferId, BufferType, Plan, Size};
use crate::threads::Serial;
use nnspec_runtime_core::quant::run::FloatLayout;

/// How a range is taken from the observed values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CalibrationMethod {
    MinMax,
    /// The magnitude below which this percentage of values lies (99.99).
    Percentile(f64),
}

impl FromStr for CalibrationMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "minmax" {
            return Ok(CalibrationMethod::MinMax);
        }
        let Some(p) = s.strip_prefix("percentile:") else {
            return Err(format!(
                "`{s}` is not a calibration method: use `minmax` or `percentile:P` (P in (0, 100], e.g. percentile:99.99)"
            ));
        };
        match p.parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Ok(CalibrationMethod::Percentile(p)),
            _ => Err(format!(
                "`{p}` is not a percentile: give a number in (0, 100], e.g. percentile:99.99"
            )),
        }
    }
}

impl std::fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalibrationMethod::MinMax => f.write_str("minmax"),
            CalibrationMethod::Percentile(p) => write!(f, "percentile:{p}"),
        }
    }
}

/// The observed range of every buffer of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    pub model: String,
    pub samples: usize,
    pub method: CalibrationMethod,
    /// By buffer index: `(min, max)` for every per-sample f32 buffer that
    /// owns its storage; `None` for the others (a view reads its root's).
    pub ranges: Vec<Option<(f32, f32)>>,
}

impl Calibration {
    /// The range of buffer `id` (a view's is its root's).
    pub fn range(&self, plan: &Plan, id: BufferId) -> Option<(f32, f32)> {
        self.ranges.get(plan.root(id).index()).copied().flatten()
    }
}

/// `plan` without what training needs (loss, backward steps, optimizer):
/// what inference and an int8 plan run.
pub fn inference_plan(plan: &Plan) -> Plan {
    Plan {
        loss: None,
        backward: Vec::new(),
        optimizer: None,
        clip: None,
        ..plan.clone()
    }
}

/// Samples per calibration forward pass.
const BATCH: usize = 64;
/// Histogram bins of the percentile method (onnxruntime's default).
const BINS: usize = 2048;

/// Runs `plan` (inference mode, `params` in [`infer::param_range`]'s
/// layout) over the first `samples` samples of `inputs` (row-major, the
/// model's input width each) and records every buffer's range.
pub fn calibrate(
    plan: &Plan,
    params: &[f32],
    inputs: &[f32],
    samples: usize,
    method: CalibrationMethod,
) -> Result<Calibration, CalibrationError> {
    let plan = inference_plan(plan);
    if plan.inputs.len() != 1 {
        return Err(CalibrationError::Inputs {
            model: plan.model.clone(),
            inputs: plan.inputs.len(),
        });
    }
    if params.len() != infer::params_len(&plan) {
        return Err(CalibrationError::Params {
            model: plan.model.clone(),
            want: infer::params_len(&plan),
            got: params.len(),
        });
    }
    if let CalibrationMethod::Percentile(p) = method
        && !(p > 0.0 && p <= 100.0)
    {
        return Err(CalibrationError::Percentile(p));
    }
    let width: usize = plan.input_shapes[0].iter().product();
    if inputs.is_empty() {
        return Err(CalibrationError::Empty);
    }
    if samples == 0 {
        return Err(CalibrationError::ZeroSamples);
    }
    if width == 0 || !inputs.len().is_multiple_of(width) {
        return Err(CalibrationError::Width {
            len: inputs.len(),
            width,
        });
    }
    let have = inputs.len() / width;
    if have < samples {
        return Err(CalibrationError::TooFewSamples {
            wanted: samples,
            have,
        });
    }
    let inputs = &inputs[..samples * width];
    if let Some(i) = inputs.iter().position(|v| !v.is_finite()) {
        return Err(CalibrationError::NotFinite {
            sample: i / width,
            index: i % width,
            value: inputs[i],
        });
    }
    let tracked: Vec<BufferId> = plan
        .buffers
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            b.alias_of.is_none() && b.ty == BufferType::F32 && matches!(b.size, Size::PerSample(_))
        })
        .map(|(i, _)| BufferId(i as u32))
        .collect();
    let mut lo = vec![f32::INFINITY; tracked.len()];
    let mut hi = vec![f32::NEG_INFINITY; tracked.len()];
    let mut bad: Option<(usize, usize)> = None;
    each_batch(
        &plan,
        params,
        inputs,
        width,
        &tracked,
        |first, t, values| {
            for &v in values {
                if !v.is_finite() {
                    bad.get_or_insert((t, first));
                }
                lo[t] = lo[t].min(v);
                hi[t] = hi[t].max(v);
            }
        },
    );
    if let Some((t, first_sample)) = bad {
        return Err(CalibrationError::NotFiniteBuffer {
            model: plan.model.clone(),
            buffer: plan.buffer(tracked[t]).name.clone(),
            first_sample,
        });
    }
    if let CalibrationMethod::Percentile(p) = method {
        let top: Vec<f32> = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| l.abs().max(h.abs()))
            .collect();
        let mut hist = vec![vec![0u64; BINS]; tracked.len()];
        each_batch(&plan, params, inputs, width, &tracked, |_, t, values| {
            if top[t] > 0.0 {
                for &v in values {
                    let bin = ((v.abs() / top[t]) * BINS as f32) as usize;
                    hist[t][bin.min(BINS - 1)] += 1;
                }
            }
        });
        for t in 0..tracked.len() {
            let total: u64 = hist[t].iter().sum();
            if total == 0 {
                continue;
            }
            let mut seen = 0u64;
            let bin = hist[t]
                .iter()
                .position(|&n| {
                    seen += n;
                    seen as f64 / total as f64 >= p / 100.0
                })
                .unwrap_or(BINS - 1);
            let threshold = top[t] * (bin + 1) as f32 / BINS as f32;
            lo[t] = lo[t].max(-threshold);
            hi[t] = hi[t].min(threshold);
        }
    }
    let mut ranges = vec![None; plan.buffers.len()];
    for (t, id) in tracked.iter().enumerate() {
        ranges[id.index()] = Some((lo[t], hi[t]));
    }
    Ok(Calibration {
        model: plan.model.clone(),
        samples,
        method,
        ranges,
    })
}

/// Runs the plan over `inputs` in batches and shows `visit` each tracked
/// buffer's values: `(first sample of the batch, tracked index, values)`.
fn each_batch(
    plan: &Plan,
    params: &[f32],
    inputs: &[f32],
    width: usize,
    tracked: &[BufferId],
    mut visit: impl FnMut(usize, usize, &[f32]),
) {
    let samples = inputs.len() / width;
    let capacity = samples.min(BATCH);
    let len = infer::arena_len(plan, capacity, 1).expect("calibration arena size");
    let mut arena = vec![0.0f32; len];
    for first in (0..samples).step_by(capacity) {
        let batch = capacity.min(samples - first);
        arena[infer::input_range(plan, batch)]
            .copy_from_slice(&inputs[first * width..(first + batch) * width]);
        infer::run(plan, params, &mut arena, batch, &Serial);
        let layout = FloatLayout { plan, batch };
        for (t, &id) in tracked.iter().enumerate() {
            visit(first, t, &arena[layout.buffer(id, batch)]);
        }
    }
}
