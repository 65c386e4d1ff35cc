//! What can go wrong quantizing: bad calibration data, a model the int8
//! scheme cannot hold, an int8 checkpoint that does not fit the model.

use crate::safetensors_file::CheckpointError;

/// Calibration data that cannot calibrate the model.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrationError {
    #[error("no calibration samples: the calibration data is empty")]
    Empty,
    #[error("calibration asks for 0 samples; give at least 1")]
    ZeroSamples,
    #[error(
        "calibration data of {len} values is not a whole number of samples of {width} values each (the model's input)"
    )]
    Width { len: usize, width: usize },
    #[error("calibration asks for {wanted} samples but the data has only {have}")]
    TooFewSamples { wanted: usize, have: usize },
    #[error("calibration sample {sample}, value {index}, is {value}: inputs must be finite")]
    NotFinite {
        sample: usize,
        index: usize,
        value: f32,
    },
    #[error(
        "model `{model}`'s buffer `{buffer}` holds a non-finite value on the calibration data (from sample {first_sample} on); its weights cannot be quantized"
    )]
    NotFiniteBuffer {
        model: String,
        buffer: String,
        first_sample: usize,
    },
    #[error("percentile {0} is not in (0, 100]")]
    Percentile(f64),
    #[error("model `{model}` has {inputs} inputs; quantization calibrates models of one input")]
    Inputs { model: String, inputs: usize },
    #[error("model `{model}` reads {want} parameter values, {got} were given")]
    Params {
        model: String,
        want: usize,
        got: usize,
    },
}

/// A model, weights or file that cannot become an int8 plan.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error(transparent)]
    Calibration(#[from] CalibrationError),
    #[error(
        "layer `{layer}` sums {k} products per output; 127·127·{k} can overflow the i32 accumulator (at most {max} inputs per output)"
    )]
    TooManyInputs { layer: String, k: usize, max: usize },
    #[error(
        "the calibration is of model `{calibrated}` ({buffers} buffers), not of `{model}`: calibrate the model being quantized"
    )]
    WrongCalibration {
        model: String,
        calibrated: String,
        buffers: usize,
    },
    #[error("buffer `{buffer}` of model `{model}` has no calibrated range")]
    NoRange { model: String, buffer: String },
    #[error("parameter `{name}` of model `{model}` holds a non-finite value at {index}")]
    NotFiniteParam {
        model: String,
        name: String,
        index: usize,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{file}: {what}")]
    Mismatch { file: String, what: String },
    #[error(
        "model `{model}`: the value `{buffer}` is read before any step computes it; it cannot be quantized"
    )]
    Unreachable { model: String, buffer: String },
}
