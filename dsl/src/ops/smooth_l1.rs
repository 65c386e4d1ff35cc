//! `smooth_l1(beta: 1.0)`: PyTorch's `nn.SmoothL1Loss(beta)`, per element
//! `0.5 d² / beta` where `|d| < beta` and `|d| - 0.5 beta` elsewhere
//! (`beta: 0` is `l1`), averaged over every element.

use nnspec_runtime::plan::LossKind;

use super::loss::{LossProblem, LossRules, flat_output};
use crate::ir::{Loss, Value};
use crate::signature::{Bound, Default, Key, Range, Signature};

const BETA: Key<f64> = Key::float(
    0,
    "beta",
    Range::NonNegative,
    Default::Float(1.0),
    "where the loss turns from quadratic to linear",
);

pub(super) const SIGNATURE: Signature = Signature {
    name: "smooth_l1",
    args: &[BETA.spec],
};

pub(super) struct SmoothL1;

impl LossRules for SmoothL1 {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }

    fn with_arguments(&self, bound: &Bound) -> Loss {
        Loss::SmoothL1 {
            beta: bound.get(&BETA),
        }
    }

    fn check_output(&self, _: &Loss, output: &Value) -> Result<(), LossProblem> {
        flat_output(
            output,
            "k target values per sample (the CSV columns `--target` picks)",
        )
    }

    fn lower(&self, loss: &Loss, elements: usize) -> (LossKind, Option<Vec<f32>>) {
        let beta = match loss {
            Loss::SmoothL1 { beta } => *beta as f32,
            // `Loss::rules` sends only smooth_l1 here.
            Loss::CrossEntropy { .. } | Loss::Mse | Loss::L1 | Loss::BceWithLogits => 1.0,
        };
        (
            LossKind::SmoothL1 {
                len: elements,
                beta,
            },
            None,
        )
    }
}
