//! What [`rust_module`](super::rust_module) is asked for: the options of
//! the output, and the training a `training` module and `fit` follow.

use nnspec_runtime::plan::Plan;

use super::Nalgebra;

/// Options of [`rust_module`].
#[derive(Clone, Debug)]
pub struct RustOptions {
    /// The path generated code names the runtime core by:
    /// `nnspec_runtime_core` for a crate that depends on it directly.
    pub runtime_path: String,
    /// Where the model came from, for the header (a file name, say).
    pub source: String,
    /// Also emit methods taking and returning nalgebra types.
    pub nalgebra: Option<Nalgebra>,
    /// The path of a `std` runtime (`nnspec_runtime`, `::nnspec::runtime`):
    /// when given, also emit safetensors loading and saving.
    pub std_runtime: Option<String>,
}

impl Default for RustOptions {
    fn default() -> Self {
        RustOptions {
            runtime_path: "nnspec_runtime_core".to_string(),
            source: String::new(),
            nalgebra: None,
            std_runtime: None,
        }
    }
}

/// A model's training, for the generated `training` module: the plan
/// from `lower_training` and the rest of its `train` block.
#[derive(Clone, Debug)]
pub struct Training<'a> {
    pub plan: &'a Plan,
    pub batch: usize,
    pub epochs: usize,
    pub seed: u64,
    /// `validation: 0.1`: the share of `fit`'s training set held out.
    pub validation: Option<f64>,
    pub early_stopping: Option<nnspec_runtime::train::EarlyStopping>,
    /// The learning-rate schedule, its warmup epochs and the optimizer's
    /// lr as written (f64, as the schedules compute).
    pub schedule: Option<nnspec_runtime::schedule::Schedule>,
    pub warmup: usize,
    pub base_lr: f64,
}
