//! `cross_entropy(label_smoothing: 0.0, weight: [...])`: PyTorch's
//! `nn.CrossEntropyLoss(weight, label_smoothing)` (log-softmax and
//! negative log-likelihood, weighted mean over the batch) on class scores;
//! labels are class indices.

use nnspec_runtime::plan::LossKind;

use super::Op;
use super::loss::{LossProblem, LossRules};
use crate::ir::{Loss, Value};
use crate::signature::{Bound, Default, Key, Range, Signature};

const LABEL_SMOOTHING: Key<f64> = Key::float(
    0,
    "label_smoothing",
    Range::Unit,
    Default::Float(0.0),
    "share of the target spread evenly over the classes",
);
const WEIGHT: Key<Vec<f64>> = Key::float_list(
    1,
    "weight",
    Range::NonNegative,
    Default::Empty,
    "one weight per class (none: all 1)",
);

pub(super) const SIGNATURE: Signature = Signature {
    name: "cross_entropy",
    args: &[LABEL_SMOOTHING.spec, WEIGHT.spec],
};

pub(super) struct CrossEntropy;

impl LossRules for CrossEntropy {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }

    fn with_arguments(&self, bound: &Bound) -> Loss {
        Loss::CrossEntropy {
            label_smoothing: bound.get(&LABEL_SMOOTHING),
            weight: bound.get(&WEIGHT),
        }
    }

    fn check_output(&self, loss: &Loss, output: &Value) -> Result<(), LossProblem> {
        if output.shape.rank() != 1 {
            return Err(LossProblem::Mismatch {
                reason: format!(
                    "it needs class scores of shape [classes], the output is {}",
                    output.shape
                ),
                help: Some("end the model with `-> flatten -> dense(CLASSES)`".into()),
            });
        }
        let classes = output.shape.0[0];
        if classes < 2 {
            return Err(LossProblem::Mismatch {
                reason: format!(
                    "it needs at least 2 classes, the output is {}",
                    output.shape
                ),
                help: Some(
                    "give the output one score per class, e.g. `-> dense(CLASSES)`; \
                     for one yes/no logit use `bce_with_logits`"
                        .into(),
                ),
            });
        }
        if let Loss::CrossEntropy { weight, .. } = loss
            && !weight.is_empty()
            && weight.len() != classes
        {
            return Err(LossProblem::Mismatch {
                reason: format!(
                    "`weight` has {} entries, but the output has {classes} classes",
                    weight.len()
                ),
                help: Some(format!("give one weight per class: {classes} numbers")),
            });
        }
        // The loss applies its own softmax: a second one squashes the scores.
        if matches!(output.op, Op::Softmax(_)) {
            return Err(LossProblem::SoftmaxBefore);
        }
        Ok(())
    }

    fn lower(&self, loss: &Loss, elements: usize) -> (LossKind, Option<Vec<f32>>) {
        let (label_smoothing, weight) = match loss {
            Loss::CrossEntropy {
                label_smoothing,
                weight,
            } => (*label_smoothing as f32, weight),
            // `Loss::rules` sends only cross-entropy here.
            Loss::Mse | Loss::L1 | Loss::SmoothL1 { .. } | Loss::BceWithLogits => {
                return (
                    LossKind::CrossEntropy {
                        classes: elements,
                        label_smoothing: 0.0,
                    },
                    None,
                );
            }
        };
        (
            LossKind::CrossEntropy {
                classes: elements,
                label_smoothing,
            },
            (!weight.is_empty()).then(|| weight.iter().map(|&w| w as f32).collect()),
        )
    }
}
