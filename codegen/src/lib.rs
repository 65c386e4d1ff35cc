//! From the checked IR to something that runs.
//!
//! - [`lower`]: IR to a [`nnspec_runtime::plan::Plan`]: forward steps, the
//!   backward pass by reverse-mode differentiation, the loss, parameter
//!   initialization and the buffer layout. The runtime's executor runs it.
//! - [`emit`]: a Plan printed as a Rust module that runs it with the same
//!   kernels and no interpreter; [`build`] does it from a build script.
//! - [`onnx`]: a checked model and its weights as an ONNX model, for other
//!   runtimes; [`tflite`]: the same as a TensorFlow Lite flatbuffer, for
//!   phones and TFLite Micro; [`dot`]: its graph as a Graphviz picture.
//! - [`pytorch`]: a checked model as a `torch.nn.Module` with its train
//!   block, for training beyond one machine under `torchrun`.

pub mod build;
pub mod dot;
pub mod emit;
pub mod lower;
pub mod onnx;
pub mod pytorch;
mod quant_map;
pub mod tflite;

pub use emit::int8::{Int8EmitError, int8_module};
pub use emit::{EmitError, RustOptions, Training, golden_test, rust_module};
pub use lower::{early_stopping, fit_options, lower_inference, lower_training, lr_schedule};

/// The Rust module of a checked model: inference, and a `training` module
/// when the model has a `train` block (`train`, as the checker matched it).
pub fn model_module(
    model: &nnspec_dsl::ir::Model,
    train: Option<&nnspec_dsl::ir::TrainConfig>,
    options: &RustOptions,
) -> Result<String, EmitError> {
    let inference = lower_inference(model);
    let training_plan = train.map(|config| lower_training(model, config));
    let training = train
        .zip(training_plan.as_ref())
        .map(|(config, plan)| Training {
            plan,
            batch: config.batch,
            epochs: config.epochs,
            seed: config.seed,
            validation: config.validation,
            early_stopping: early_stopping(config),
            schedule: lr_schedule(config),
            warmup: config.warmup,
            base_lr: config.optimizer.lr(),
        });
    rust_module(&inference, training.as_ref(), options)
}
