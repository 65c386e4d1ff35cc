//! `l1`: PyTorch's `nn.L1Loss()`, the mean over every element of the
//! absolute difference between the output and the targets.

use nnspec_runtime::plan::LossKind;

use super::loss::{LossProblem, LossRules, flat_output};
use crate::ir::{Loss, Value};
use crate::signature::{Bound, Signature};

pub(super) const SIGNATURE: Signature = Signature {
    name: "l1",
    args: &[],
};

pub(super) struct L1;

impl LossRules for L1 {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }

    fn with_arguments(&self, _: &Bound) -> Loss {
        Loss::L1
    }

    fn check_output(&self, _: &Loss, output: &Value) -> Result<(), LossProblem> {
        flat_output(
            output,
            "k target values per sample (the CSV columns `--target` picks)",
        )
    }

    fn lower(&self, _: &Loss, elements: usize) -> (LossKind, Option<Vec<f32>>) {
        (LossKind::L1 { len: elements }, None)
    }
}
