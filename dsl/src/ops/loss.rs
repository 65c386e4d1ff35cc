//! The losses a train block can name, one module each, and their registry.
//!
//! A loss module owns its name and arguments, whether the model's output
//! suits it (with the wording of why not), and its lowering to the
//! runtime's loss kernel.

use nnspec_runtime::plan::LossKind;

use super::{Op, bce_with_logits, cross_entropy, l1, mse, smooth_l1};
use crate::ir::{Loss, Value};
use crate::signature::{self, Bound, Signature};

/// Every loss, by name; the train block's `loss:` takes one of these.
pub const LOSS_NAMES: [&str; 5] = [
    cross_entropy::SIGNATURE.name,
    mse::SIGNATURE.name,
    l1::SIGNATURE.name,
    smooth_l1::SIGNATURE.name,
    bce_with_logits::SIGNATURE.name,
];

const RULES: [&dyn LossRules; 5] = [
    &cross_entropy::CrossEntropy,
    &mse::Mse,
    &l1::L1,
    &smooth_l1::SmoothL1,
    &bce_with_logits::BceWithLogits,
];

/// Why a model's output does not suit a loss.
#[derive(Clone, Debug, PartialEq)]
pub enum LossProblem {
    /// The output's shape is wrong for the loss; `help` says what to write.
    Mismatch {
        reason: String,
        help: Option<String>,
    },
    /// The output is a softmax and the loss applies its own (cross-entropy).
    SoftmaxBefore,
}

/// Everything a backend asks of a loss; every method is required.
pub trait LossRules: Sync {
    /// Its arguments (the reduction is always the mean).
    fn signature(&self) -> &'static Signature;
    /// The loss with its bound arguments.
    fn with_arguments(&self, bound: &Bound) -> Loss;
    /// Whether the model's (single) output suits the loss (and its
    /// arguments: cross-entropy's weights, one per class).
    fn check_output(&self, loss: &Loss, output: &Value) -> Result<(), LossProblem>;
    /// The runtime's loss over an output of `elements` per sample, and its
    /// class weights if it has any.
    fn lower(&self, loss: &Loss, elements: usize) -> (LossKind, Option<Vec<f32>>);
}

impl Loss {
    /// The loss named in a train block, with its default arguments.
    pub fn from_name(name: &str) -> Option<Loss> {
        let rules = rules_named(name)?;
        let bound = signature::bind(rules.signature(), &[], Default::default(), &mut Vec::new())?;
        Some(rules.with_arguments(&bound))
    }

    pub fn rules(&self) -> &'static dyn LossRules {
        match self {
            Loss::CrossEntropy { .. } => &cross_entropy::CrossEntropy,
            Loss::Mse => &mse::Mse,
            Loss::L1 => &l1::L1,
            Loss::SmoothL1 { .. } => &smooth_l1::SmoothL1,
            Loss::BceWithLogits => &bce_with_logits::BceWithLogits,
        }
    }

    pub fn name(&self) -> &'static str {
        self.rules().signature().name
    }
}

/// The rules of the loss called `name`.
pub fn rules_named(name: &str) -> Option<&'static dyn LossRules> {
    RULES
        .into_iter()
        .find(|rules| rules.signature().name == name)
}

/// The check the element-wise losses share: they compare the output with
/// a flat row of targets (one per CSV target column or label), so the
/// output must be `[k]`; an image-shaped output has no such targets.
pub(super) fn flat_output(output: &Value, targets: &str) -> Result<(), LossProblem> {
    if output.shape.rank() != 1 {
        return Err(LossProblem::Mismatch {
            reason: format!(
                "it compares a flat output [k] with {targets}, the output is {}",
                output.shape
            ),
            help: Some("end the model with `-> flatten -> dense(K)`, one output per target".into()),
        });
    }
    Ok(())
}

/// `bce_with_logits` applies its own sigmoid, as cross-entropy its softmax.
pub(super) fn no_sigmoid_before(output: &Value) -> Result<(), LossProblem> {
    if matches!(output.op, Op::Sigmoid(_)) {
        return Err(LossProblem::Mismatch {
            reason: "the output is already a sigmoid, and the loss applies its own to the \
                     logits (a second one squashes them and slows learning)"
                .into(),
            help: Some(
                "remove the final `-> sigmoid`; apply it to the output when predicting".into(),
            ),
        });
    }
    Ok(())
}
