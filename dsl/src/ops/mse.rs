//! `mse`: PyTorch's `nn.MSELoss()`, the mean over every element of the
//! squared difference between the output and the targets (float target
//! columns; with class labels, their one-hot encoding).

use nnspec_runtime::plan::LossKind;

use super::loss::{LossProblem, LossRules, flat_output};
use crate::ir::{Loss, Value};
use crate::signature::{Bound, Signature};

pub(super) const SIGNATURE: Signature = Signature {
    name: "mse",
    args: &[],
};

pub(super) struct Mse;

impl LossRules for Mse {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }

    fn with_arguments(&self, _: &Bound) -> Loss {
        Loss::Mse
    }

    fn check_output(&self, _: &Loss, output: &Value) -> Result<(), LossProblem> {
        flat_output(
            output,
            "k target values per sample (the CSV columns `--target` picks)",
        )
    }

    fn lower(&self, _: &Loss, elements: usize) -> (LossKind, Option<Vec<f32>>) {
        (LossKind::Mse { len: elements }, None)
    }
}
