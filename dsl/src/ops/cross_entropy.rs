//! `cross_entropy`: PyTorch's `nn.CrossEntropyLoss()` (log-softmax and
//! negative log-likelihood, mean over the batch) on class scores; labels
//! are class indices.

use nnspec_runtime::plan::LossKind;

use super::Op;
use super::loss::{LossProblem, LossRules};
use crate::ir::Value;
use crate::signature::Signature;

pub(super) const SIGNATURE: Signature = Signature {
    name: "cross_entropy",
    args: &[],
};

pub(super) struct CrossEntropy;

impl LossRules for CrossEntropy {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }

    fn check_output(&self, output: &Value) -> Result<(), LossProblem> {
        if output.shape.rank() != 1 {
            return Err(LossProblem::Mismatch {
                reason: format!(
                    "it needs class scores of shape [classes], the output is {}",
                    output.shape
                ),
                help: Some("end the model with `-> flatten -> dense(CLASSES)`".into()),
            });
        }
        if output.shape.0[0] < 2 {
            return Err(LossProblem::Mismatch {
                reason: format!(
                    "it needs at least 2 classes, the output is {}",
                    output.shape
                ),
                help: Some("give the output one score per class, e.g. `-> dense(CLASSES)`".into()),
            });
        }
        // The loss applies its own softmax: a second one squashes the scores.
        if matches!(output.op, Op::Softmax(_)) {
            return Err(LossProblem::SoftmaxBefore);
        }
        Ok(())
    }

    fn lower(&self, elements: usize) -> LossKind {
        LossKind::CrossEntropy { classes: elements }
    }
}
