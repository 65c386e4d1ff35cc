//! How an element-type mismatch reads (E0310): token ids where floats
//! are computed with, or floats where token ids index a table.

use super::Operand;
use super::wording::OptionalNote;
use crate::ast::Span;
use crate::diagnostic::Diagnostic;
use crate::ir::Dtype;

pub(super) fn dtype_mismatch(
    span: Span,
    layer: &str,
    expected: Dtype,
    found: Dtype,
    input: &Operand,
) -> Diagnostic {
    let this = format!("this is {found}{}", input.shape);
    let note = super::wording::derivation_note(input);
    let diagnostic = match expected {
        Dtype::I64 => Diagnostic::error(
            "E0310",
            format!("`{layer}` takes token ids (i64), found an {found} value"),
            span,
            "expects i64 token ids",
        )
        .with_help("token ids come from an input declared i64: `input tokens: i64[16];`"),
        Dtype::F32 => {
            let (message, label) = if layer == "add" {
                (
                    format!("cannot add {found} token ids to f32 values"),
                    "`+` adds f32 values",
                )
            } else {
                (
                    format!("`{layer}` takes f32 values, found {found} token ids"),
                    "expects f32 values",
                )
            };
            Diagnostic::error("E0310", message, span, label).with_help(
                    "token ids are indices, not numbers: map them to vectors first, e.g. `tokens -> embedding(1000, 64)`",
                )
        }
    };
    // An output statement's value is its own operand: one label says it.
    if input.span == span {
        diagnostic
    } else {
        diagnostic.with_label(input.span, this)
    }
    .with_note_opt(note)
}
