//! The int8 variant a firmware runs beside the f32 model: the checkpoint
//! quantized by post-training calibration ([`nnspec_runtime::quantize`]:
//! min/max ranges over calibration samples, per-channel int8 weights), or
//! read from `dslc quantize`'s int8 checkpoint, and printed as a no_std
//! module by [`nnspec_codegen::int8_module`].

use std::path::Path;

use nnspec_codegen::RustOptions;
use nnspec_dsl::ir;
use nnspec_runtime::quantize::{self, CalibrationMethod, QPlan};
use nnspec_runtime::safetensors_file::Checkpoint;

use super::samples::Inputs;

/// Calibration takes at most this many samples of its source.
pub const CALIBRATION_SAMPLES: usize = 1000;

/// The int8 plan of `model` with the checkpoint's weights, calibrated
/// (min/max) on `calibration`.
pub fn quantize(
    model: &ir::Model,
    checkpoint: &Checkpoint,
    calibration: &Inputs,
) -> Result<QPlan, String> {
    let plan = nnspec_codegen::lower_inference(model);
    let params = quantize::params_from_checkpoint(&plan, checkpoint).map_err(|e| e.to_string())?;
    let ranges = quantize::calibrate(
        &plan,
        &params,
        &calibration.features,
        calibration.count,
        CalibrationMethod::MinMax,
    )
    .map_err(|e| format!("calibrating model `{}`: {e}", model.name))?;
    quantize::build(&plan, &params, &ranges)
        .map_err(|e| format!("quantizing model `{}`: {e}", model.name))
}

/// The int8 plan of `model` in an int8 checkpoint (`dslc quantize`'s
/// `model.int8.safetensors`), checked against the model.
pub fn load(model: &ir::Model, path: &Path) -> Result<QPlan, String> {
    let plan = nnspec_codegen::lower_inference(model);
    let checkpoint = Checkpoint::load(path).map_err(|e| e.to_string())?;
    quantize::load(&plan, &checkpoint).map_err(|e| e.to_string())
}

/// The int8 module's Rust (`src/model_int8.rs`).
pub fn module(q: &QPlan, source: &str) -> Result<String, String> {
    let options = RustOptions {
        source: source.to_string(),
        ..RustOptions::default()
    };
    nnspec_codegen::int8_module(q, &options).map_err(|e| {
        format!(
            "cannot generate the int8 module of `{}`: {e}",
            q.float.model
        )
    })
}
