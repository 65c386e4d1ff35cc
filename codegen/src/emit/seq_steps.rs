//! The steps of the sequence building blocks (layernorm, mean, elementwise
//! `*`) as Rust, forward and backward: the calls the runtime's dispatch
//! makes, in a module of their own so the step emitters stay short.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{BufferId, ParamId, Plan};

use super::geometry::times_batch;
use super::memory::Access;
use super::steps::{Mode, Names, StepCode};

fn access(plan: &Plan, reads: &[BufferId], writes: &[Option<BufferId>]) -> Access {
    Access {
        reads: reads.iter().map(|&b| plan.root(b)).collect(),
        writes: writes.iter().flatten().map(|&b| plan.root(b)).collect(),
    }
}

fn buffer_name(plan: &Plan, id: BufferId) -> String {
    plan.buffer(plan.root(id)).name.clone()
}

/// `Some(&w[params::P])` or `None`.
fn optional_param(names: &dyn Names, id: Option<ParamId>) -> TokenStream {
    match id {
        Some(id) => {
            let c = names.param(id);
            quote!(Some(&w[params::#c]))
        }
        None => quote!(None),
    }
}

/// The forward `Step::LayerNorm`: training saves the row statistics.
#[allow(clippy::too_many_arguments)]
pub(super) fn layer_norm(
    plan: &Plan,
    names: &dyn Names,
    mode: Mode,
    [x, y, save_mean, save_rstd]: [BufferId; 4],
    weight: Option<ParamId>,
    bias: Option<ParamId>,
    width: usize,
    eps: f32,
) -> StepCode {
    let buf = |id: BufferId| names.buffer(plan.root(id));
    let (xi, yi) = (buf(x), buf(y));
    let (wt, bs) = (optional_param(names, weight), optional_param(names, bias));
    let (stats, writes) = match mode {
        Mode::Inference => (quote!(None), vec![Some(y)]),
        Mode::Training => {
            let (m, s) = (buf(save_mean), buf(save_rstd));
            (
                quote!(Some((#m, #s))),
                vec![Some(y), Some(save_mean), Some(save_rstd)],
            )
        }
    };
    let (wd, e) = (
        Literal::usize_unsuffixed(width),
        Literal::f32_unsuffixed(eps),
    );
    StepCode {
        comment: format!(
            "{} = layernorm({}) over {width}, eps {eps}",
            buffer_name(plan, y),
            buffer_name(plan, x)
        ),
        access: access(plan, &[x], &writes),
        scratch: None,
        call: quote!(kernels::layernorm::forward(#xi, #wt, #bs, #yi, #stats, #wd, #e, par);),
    }
}

/// The backward `GradStep::LayerNorm`.
#[allow(clippy::too_many_arguments)]
pub(super) fn layer_norm_backward(
    plan: &Plan,
    names: &dyn Names,
    [x, dy, save_mean, save_rstd]: [BufferId; 4],
    dx: Option<BufferId>,
    weight: Option<ParamId>,
    bias: Option<ParamId>,
    width: usize,
) -> StepCode {
    let buf = |id: BufferId| names.buffer(plan.root(id));
    let (xi, dyi, mi, si) = (buf(x), buf(dy), buf(save_mean), buf(save_rstd));
    let dxi = match dx {
        Some(dx) => {
            let d = buf(dx);
            quote!(Some(#d))
        }
        None => quote!(None),
    };
    let wt = optional_param(names, weight);
    let param = |id: ParamId| {
        let c = names.param(id);
        quote!(params::#c)
    };
    let (views, grads) = match (weight, bias) {
        (Some(w), Some(b)) => {
            let (wp, bp) = (param(w), param(b));
            (
                quote!(let ([], [grad_w, grad_b]) = views(grads, [], [#wp, #bp]);),
                quote!(Some((grad_w, Some(grad_b)))),
            )
        }
        (Some(w), None) => {
            let wp = param(w);
            (quote!(), quote!(Some((&mut grads[#wp], None))))
        }
        (None, _) => (quote!(), quote!(None)),
    };
    let wd = Literal::usize_unsuffixed(width);
    let what = match (dx, weight) {
        (Some(dx), Some(w)) => format!(
            "{} and {}'s gradients",
            buffer_name(plan, dx),
            plan.param(w).name.trim_end_matches(".weight")
        ),
        (Some(dx), None) => buffer_name(plan, dx),
        (None, Some(w)) => format!(
            "{}'s gradients",
            plan.param(w).name.trim_end_matches(".weight")
        ),
        (None, None) => "nothing".to_string(),
    };
    StepCode {
        comment: format!(
            "{what}: backward of layernorm on {}, from {}",
            buffer_name(plan, x),
            buffer_name(plan, dy)
        ),
        access: access(plan, &[x, dy, save_mean, save_rstd], &[dx]),
        scratch: None,
        call: quote!(
            #views
            kernels::layernorm::backward(#xi, #wt, #dyi, #mi, #si, #dxi, #grads, #wd, par);
        ),
    }
}

/// `Step::Mean` (forward) or `GradStep::Mean` (backward, `from` is `dy`).
pub(super) fn mean(
    plan: &Plan,
    names: &dyn Names,
    backward: bool,
    [from, to]: [BufferId; 2],
    [outer, axis_len, inner]: [usize; 3],
) -> StepCode {
    let buf = |id: BufferId| names.buffer(plan.root(id));
    let (fi, ti) = (buf(from), buf(to));
    let o = times_batch(outer);
    let (a, i) = (
        Literal::usize_unsuffixed(axis_len),
        Literal::usize_unsuffixed(inner),
    );
    let (comment, kernel) = if backward {
        ("gradient of mean, from", quote!(backward))
    } else {
        ("mean over an axis of", quote!(forward))
    };
    StepCode {
        comment: format!(
            "{} = {comment} {} [{outer}×{axis_len}×{inner}]",
            buffer_name(plan, to),
            buffer_name(plan, from)
        ),
        access: access(plan, &[from], &[Some(to)]),
        scratch: None,
        call: quote!(kernels::reduce::mean::#kernel(#fi, #ti, #o, #a, #i);),
    }
}

/// `Step::Mul`: `y = a · b`.
pub(super) fn mul(plan: &Plan, names: &dyn Names, [a, b]: [BufferId; 2], y: BufferId) -> StepCode {
    let buf = |id: BufferId| names.buffer(plan.root(id));
    let (ai, bi, yi) = (buf(a), buf(b), buf(y));
    StepCode {
        comment: format!(
            "{} = {} * {}",
            buffer_name(plan, y),
            buffer_name(plan, a),
            buffer_name(plan, b)
        ),
        access: access(plan, &[a, b], &[Some(y)]),
        scratch: None,
        call: quote!(kernels::elementwise::mul(#ai, #bi, #yi);),
    }
}

/// `GradStep::Mul`: each wanted gradient is `dy` times the other factor.
pub(super) fn mul_backward(
    plan: &Plan,
    names: &dyn Names,
    [a, b, dy]: [BufferId; 3],
    [da, db]: [Option<BufferId>; 2],
) -> StepCode {
    let buf = |id: BufferId| names.buffer(plan.root(id));
    let dyi = buf(dy);
    let mut calls = TokenStream::new();
    let mut written = Vec::new();
    for (d, other) in [(da, b), (db, a)] {
        if let Some(d) = d {
            let (di, oi) = (buf(d), buf(other));
            calls.extend(quote!(kernels::elementwise::mul(#dyi, #oi, #di);));
            written.push(buffer_name(plan, d));
        }
    }
    StepCode {
        comment: format!(
            "{} = gradient of {} * {}, from {}",
            written.join(", "),
            buffer_name(plan, a),
            buffer_name(plan, b),
            buffer_name(plan, dy)
        ),
        access: access(plan, &[a, b, dy], &[da, db]),
        scratch: None,
        call: calls,
    }
}
