//! Why [`super::rust_module`] refuses.

/// Why [`super::rust_module`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// A path of [`super::RustOptions`] (`what`: the runtime, the std runtime,
    /// nalgebra) is not a Rust path.
    BadPath { what: &'static str, path: String },
    /// The plan given for inference trains (has a loss).
    TrainingPlan,
    /// The plan given for training does not train, or has other
    /// parameters than the inference plan.
    NotTheTrainingPlan,
    /// A golden test needs a model of one input and one output.
    GoldenShape,
    /// The generated `train_step` takes class labels (`&[u32]`); this
    /// loss (`loss`) learns float targets or class weights it cannot take.
    UnsupportedTrainingLoss { loss: String },
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::BadPath { what, path } => write!(
                f,
                "the {what} path `{path}` is not a Rust path (such as nnspec_runtime_core or nnspec::runtime)"
            ),
            EmitError::TrainingPlan => {
                write!(
                    f,
                    "the inference plan trains: give the plan from lower_inference"
                )
            }
            EmitError::NotTheTrainingPlan => write!(
                f,
                "the training plan must come from lower_training of the same model"
            ),
            EmitError::UnsupportedTrainingLoss { loss } => write!(
                f,
                "generated training code takes class labels (`labels: &[u32]`) and supports \
                 cross_entropy without weights, and mse against one-hot labels; {loss} is not \
                 supported there: train it with `dslc train`, and generate the inference module \
                 only (without the train block)"
            ),
            EmitError::GoldenShape => write!(
                f,
                "--with-test supports models of one input and one output (this one has more)"
            ),
        }
    }
}

impl std::error::Error for EmitError {}

impl EmitError {
    pub(super) fn bad_path(what: &'static str, path: &str) -> EmitError {
        EmitError::BadPath {
            what,
            path: path.to_string(),
        }
    }
}
