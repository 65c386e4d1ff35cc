//! The int8 plans this crate checks, built the same way by the build
//! script (which prints them as Rust) and by the tests (which run them on
//! the int8 executor): each model's inference plan, deterministic seeded
//! weights (the f32 module's `new(seed)`), and min/max calibration on
//! deterministic inputs.

use nnspec_runtime::plan::{ParamKind, Plan};
use nnspec_runtime::quantize::{CalibrationMethod, build, calibrate};
use nnspec_runtime::rng::Rng;
use nnspec_runtime_core::quant::plan::QPlan;

/// (file under this crate's directory, model, generated module's file
/// stem) of every checked model.
pub const MODELS: [(&str, &str, &str); 4] = [
    ("../../examples/digits_mlp.nn", "DigitsMlp", "DigitsMlp"),
    ("../../examples/lenet.nn", "LeNet", "LeNet"),
    ("../../examples/mnist_mlp.nn", "MnistMlp", "MnistMlp"),
    ("models/float_steps.nn", "FloatSteps", "FloatSteps"),
];

/// The seed of every model's weights.
pub const WEIGHT_SEED: u64 = 17;
/// Calibration samples.
pub const CALIBRATION_SAMPLES: usize = 32;

/// The inference plan of `model` in `file` (relative to `dir`, this
/// crate's directory).
pub fn float_plan(dir: &str, file: &str, model: &str) -> Plan {
    let path = format!("{dir}/{file}");
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let compiled = nnspec_dsl::compile(&source);
    assert!(!compiled.has_errors(), "{}", compiled.render(&path));
    let model = compiled
        .model(model)
        .unwrap_or_else(|| panic!("{path} has no model {model}"));
    nnspec_codegen::lower_inference(model)
}

/// The weights `dslc train --seed` starts from, in the inference layout
/// (`nnspec_runtime::infer::param_range`; the f32 module's `params`).
pub fn seeded_params(plan: &Plan, seed: u64) -> Vec<f32> {
    let mut params = vec![0.0f32; nnspec_runtime::infer::params_len(plan)];
    for (i, p) in plan.params.iter().enumerate() {
        if matches!(p.kind, ParamKind::Counter) {
            continue;
        }
        let range =
            nnspec_runtime::infer::param_range(plan, nnspec_runtime::plan::ParamId(i as u32));
        nnspec_runtime::init::fill(&mut params[range], p.init, &p.name, seed);
    }
    params
}

/// `samples` inputs of `plan`, uniform in `[lo, hi)`, from `seed`.
pub fn inputs(plan: &Plan, samples: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let width: usize = plan.input_shapes[0].iter().product();
    let mut rng = Rng::new(seed);
    (0..samples * width).map(|_| rng.uniform(lo, hi)).collect()
}

/// `plan` with seeded weights, calibrated on deterministic inputs in
/// `[0, 1)` and quantized.
pub fn quantized(plan: &Plan) -> QPlan {
    let params = seeded_params(plan, WEIGHT_SEED);
    let calibration = inputs(plan, CALIBRATION_SAMPLES, 3, 0.0, 1.0);
    let cal = calibrate(
        plan,
        &params,
        &calibration,
        CALIBRATION_SAMPLES,
        CalibrationMethod::MinMax,
    )
    .unwrap_or_else(|e| panic!("calibrating {}: {e}", plan.model));
    build(plan, &params, &cal).unwrap_or_else(|e| panic!("quantizing {}: {e}", plan.model))
}
