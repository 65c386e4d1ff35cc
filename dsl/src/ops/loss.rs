//! The losses a train block can name, one module each, and their registry.
//!
//! A loss module owns its name, whether the model's output suits it (with
//! the wording of why not), and its lowering to the runtime's loss kernel.

use nnspec_runtime::plan::LossKind;

use super::{cross_entropy, mse};
use crate::ir::{Loss, Value};
use crate::signature::Signature;

/// Every loss, by name; the train block's `loss:` takes one of these.
pub const LOSS_NAMES: [&str; 2] = [cross_entropy::SIGNATURE.name, mse::SIGNATURE.name];

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
pub trait LossRules {
    /// Its arguments (none yet: every loss averages over the batch).
    fn signature(&self) -> &'static Signature;
    /// Whether the model's (single) output suits the loss.
    fn check_output(&self, output: &Value) -> Result<(), LossProblem>;
    /// The runtime's loss over an output of `elements` per sample.
    fn lower(&self, elements: usize) -> LossKind;
}

impl Loss {
    /// The loss named in a train block.
    pub fn from_name(name: &str) -> Option<Loss> {
        [Loss::CrossEntropy, Loss::Mse]
            .into_iter()
            .find(|loss| loss.name() == name)
    }

    pub fn rules(self) -> &'static dyn LossRules {
        match self {
            Loss::CrossEntropy => &cross_entropy::CrossEntropy,
            Loss::Mse => &mse::Mse,
        }
    }

    pub fn name(self) -> &'static str {
        self.rules().signature().name
    }
}
