//! `mse`: PyTorch's `nn.MSELoss()`, the mean over every element of the
//! squared difference between the output and the one-hot encoding of the
//! label (our loaders give class labels; regression targets are future work).

use nnspec_runtime::plan::LossKind;

use super::loss::{LossProblem, LossRules};
use crate::ir::Value;
use crate::signature::Signature;

pub(super) const SIGNATURE: Signature = Signature {
    name: "mse",
    args: &[],
};

pub(super) struct Mse;

impl LossRules for Mse {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }

    /// Any output shape: the target is the output's shape.
    fn check_output(&self, _: &Value) -> Result<(), LossProblem> {
        Ok(())
    }

    fn lower(&self, elements: usize) -> LossKind {
        LossKind::Mse { len: elements }
    }
}
