//! How a rank mismatch reads (E0302): a layer given a value of the wrong
//! rank, with help that says how to reshape it into the rank the layer
//! takes.

use super::Operand;
use super::wording::{OptionalNote, derivation_note};
use crate::ast::Span;
use crate::diagnostic::Diagnostic;
use crate::ir::Shape;

pub(super) fn rank_mismatch(
    span: Span,
    layer: &str,
    expected: &str,
    input: &Operand,
) -> Diagnostic {
    Diagnostic::error(
        "E0302",
        format!(
            "`{layer}` expects input of shape {expected}, found {}",
            input.shape
        ),
        span,
        format!("needs {expected}"),
    )
    .with_label(input.span, format!("this is {}", input.shape))
    .with_note_opt(derivation_note(input))
    .with_help_opt(rank_help(layer, &input.shape))
}

/// How to reshape a value of `found`'s rank into one `layer` takes, for
/// the layers where the fix is known.
fn rank_help(layer: &str, found: &Shape) -> Option<String> {
    match (layer, found.rank()) {
        ("dense", r) if r > 2 => Some("add `-> flatten` before `dense`".into()),
        ("attention", _) => Some(
            "attention relates the positions of a sequence, one row of features each: \
             reshape the value to [len, features] first"
                .into(),
        ),
        // A sequence has one row of features per step.
        ("lstm" | "last", 1) => Some(format!(
            "one feature per step is `-> reshape([{}, 1])`",
            found.0[0]
        )),
        ("lstm" | "last", 3) => Some(format!(
            "an image read row by row is `-> reshape([{}, {}])`",
            found.0[1],
            found.0[0] * found.0[2]
        )),
        ("conv2d" | "maxpool2d" | "avgpool2d" | "global_avgpool2d" | "adaptive_avgpool2d", 1) => {
            let n = found.0[0];
            let side = (n as f64).sqrt().round() as usize;
            Some(if side * side == n {
                format!(
                    "reshape the features into an image first: `-> reshape([1, {side}, {side}])`"
                )
            } else {
                "reshape the features into [channels, height, width] first: `-> reshape([C, H, W])`"
                    .to_string()
            })
        }
        ("conv1d" | "maxpool1d" | "avgpool1d", 3) => Some(format!(
            "`{layer}` takes a sequence [channels, len]; for an image use `{}`",
            layer.replace("1d", "2d")
        )),
        ("conv1d" | "maxpool1d" | "avgpool1d", 1) => Some(format!(
            "make the features a one-channel sequence first: `-> reshape([1, {}])`",
            found.0[0]
        )),
        _ => None,
    }
}
