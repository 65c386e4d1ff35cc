//! `bce_with_logits`: PyTorch's `nn.BCEWithLogitsLoss()`, a sigmoid and
//! the binary cross-entropy of each output element against a 0/1 target,
//! averaged over every element: one logit for a binary label, or one per
//! label for multi-label targets.

use nnspec_runtime::plan::LossKind;

use super::loss::{LossProblem, LossRules, flat_output, no_sigmoid_before};
use crate::ir::{Loss, Value};
use crate::signature::{Bound, Signature};

pub(super) const SIGNATURE: Signature = Signature {
    name: "bce_with_logits",
    args: &[],
};

pub(super) struct BceWithLogits;

impl LossRules for BceWithLogits {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }

    fn with_arguments(&self, _: &Bound) -> Loss {
        Loss::BceWithLogits
    }

    fn check_output(&self, _: &Loss, output: &Value) -> Result<(), LossProblem> {
        flat_output(output, "k targets of 0 or 1 per sample")?;
        no_sigmoid_before(output)
    }

    fn lower(&self, _: &Loss, elements: usize) -> (LossKind, Option<Vec<f32>>) {
        (LossKind::BceWithLogits { len: elements }, None)
    }
}
