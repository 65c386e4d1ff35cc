//! Post-training int8 quantization: from a trained float Plan and its
//! weights to an int8 [`QPlan`] (the scheme: [`nnspec_runtime_core::quant`]).
//!
//! 1. [`calibrate`] runs the float plan in inference mode over calibration
//!    samples and records every buffer's range (min/max or a percentile).
//! 2. [`build`] turns dense layers and convolutions into int8 steps
//!    (BatchNorm folded first, ReLU fused), keeps max pooling, views and
//!    inference dropout on `u8`, and runs every other step in f32 between
//!    dequantize and quantize steps.
//! 3. [`save`] / [`load`] write and read the int8 checkpoint; [`report`]
//!    measures each quantized layer against the float plan.
//!
//! The executor is the no_std [`nnspec_runtime_core::quant::run`].

mod build;
mod calibrate;
mod error;
mod file;
mod report;
mod skeleton;
pub mod steps;

pub use build::{build, float_step_names};
pub use calibrate::{Calibration, CalibrationMethod, calibrate, inference_plan};
pub use error::{CalibrationError, QuantizeError};
pub use file::{SCHEME_VERSION, load, save, to_checkpoint};
pub use nnspec_runtime_core::quant::plan::{QLayer, QPlan, QStep, QTensor, QTensorId};
pub use report::{ErrorReport, LayerError, argmax, report, run_float, run_int8};

/// Every parameter of `plan` that inference reads, from a checkpoint, in
/// [`crate::infer::param_range`]'s layout (what [`calibrate`] and
/// [`build`] take).
pub fn params_from_checkpoint(
    plan: &crate::plan::Plan,
    checkpoint: &crate::safetensors_file::Checkpoint,
) -> Result<Vec<f32>, crate::safetensors_file::CheckpointError> {
    let mut values = vec![0.0f32; crate::infer::params_len(plan)];
    for (i, param) in plan.params.iter().enumerate() {
        match param.kind {
            crate::plan::ParamKind::Counter => {}
            crate::plan::ParamKind::Trainable | crate::plan::ParamKind::State => {
                let range = crate::infer::param_range(plan, crate::plan::ParamId(i as u32));
                values[range].copy_from_slice(checkpoint.f32(&param.name, &param.shape)?);
            }
        }
    }
    Ok(values)
}
