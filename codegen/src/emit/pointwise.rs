//! The activations' steps as Rust, forward and backward: one kernel call
//! of `kernels::activation` over a whole buffer, element by element.

use proc_macro2::TokenStream;
use quote::quote;

use nnspec_runtime::plan::{BufferId, Plan};

use super::memory::Access;
use super::steps::{Names, StepCode};

/// An activation applied element by element.
pub(super) fn unary(
    plan: &Plan,
    names: &dyn Names,
    op: &str,
    x: BufferId,
    y: BufferId,
    kernel: TokenStream,
) -> StepCode {
    unary_with(plan, names, op, x, y, kernel, quote!())
}

/// [`unary`] with `extra` arguments after the buffers (`, alpha`).
pub(super) fn unary_with(
    plan: &Plan,
    names: &dyn Names,
    op: &str,
    x: BufferId,
    y: BufferId,
    kernel: TokenStream,
    extra: TokenStream,
) -> StepCode {
    let (xi, yi) = (names.buffer(plan.root(x)), names.buffer(plan.root(y)));
    StepCode {
        comment: format!(
            "{} = {op}({})",
            plan.buffer(plan.root(y)).name,
            plan.buffer(plan.root(x)).name
        ),
        access: Access {
            reads: vec![plan.root(x)],
            writes: vec![plan.root(y)],
        },
        scratch: None,
        call: quote!(kernels::activation::#kernel(#xi, #yi #extra);),
    }
}

/// An activation's gradient, element by element: `dx` from `inputs`
/// (its output or input, and `dy`).
pub(super) fn elementwise(
    plan: &Plan,
    names: &dyn Names,
    op: &str,
    inputs: [BufferId; 2],
    dx: BufferId,
    kernel: TokenStream,
    extra: TokenStream,
) -> StepCode {
    let [a, dy] = inputs.map(|b| plan.root(b));
    let dx = plan.root(dx);
    let (ai, dyi, dxi) = (names.buffer(a), names.buffer(dy), names.buffer(dx));
    StepCode {
        comment: format!(
            "{} = gradient of {op}, from {}",
            plan.buffer(dx).name,
            plan.buffer(dy).name
        ),
        access: Access {
            reads: vec![a, dy],
            writes: vec![dx],
        },
        scratch: None,
        call: quote!(kernels::activation::#kernel(#ai, #dyi, #dxi #extra);),
    }
}
