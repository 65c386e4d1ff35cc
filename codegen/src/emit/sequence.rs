//! The sequence layers' steps as Rust (`lstm`, `last`), forward and
//! backward, as the runtime's dispatch calls them.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{BufferId, LstmShape, ParamId, Plan};

use super::memory::Access;
use super::steps::{Names, StepCode};

/// The kernels' LSTM geometry for a batch named `batch`.
fn geometry(s: &LstmShape) -> TokenStream {
    let n = |v: usize| Literal::usize_unsuffixed(v);
    let (len, input, hidden, layers) = (n(s.len), n(s.input), n(s.hidden), n(s.layers));
    quote!(kernels::lstm::LstmGeometry {
        batch,
        len: #len,
        input: #input,
        hidden: #hidden,
        layers: #layers,
    })
}

/// `&|i| [params::A, ...][i]`: where parameter `i` of the step lives.
fn param_at(names: &dyn Names, params: &[ParamId]) -> TokenStream {
    let ranges = params.iter().map(|&id| {
        let c = names.param(id);
        quote!(params::#c)
    });
    quote!(&|i: usize| [#(#ranges),*][i].clone())
}

fn describe(plan: &Plan, y: BufferId, x: BufferId, s: &LstmShape) -> String {
    let name = |id: BufferId| plan.buffer(plan.root(id)).name.clone();
    format!(
        "{} = {} -> lstm({}, layers: {}): [{}, {}] -> [{}, {}]",
        name(y),
        name(x),
        s.hidden,
        s.layers,
        s.len,
        s.input,
        s.len,
        s.hidden
    )
}

pub(super) fn lstm_forward(
    plan: &Plan,
    names: &dyn Names,
    (x, y): (BufferId, BufferId),
    params: &[ParamId],
    saved: &[BufferId; 4],
    shape: &LstmShape,
) -> StepCode {
    let buf = |id: BufferId| names.buffer(plan.root(id));
    let (xi, yi) = (buf(x), buf(y));
    let [input, gates, cells, hidden] = saved.map(buf);
    let (g, at) = (geometry(shape), param_at(names, params));
    let writes = [y, saved[0], saved[1], saved[2], saved[3]];
    StepCode {
        comment: describe(plan, y, x, shape),
        access: Access {
            reads: vec![plan.root(x)],
            writes: writes.iter().map(|&b| plan.root(b)).collect(),
        },
        scratch: None,
        call: quote!(
            let state = kernels::lstm::LstmState { input: #input, gates: #gates, cells: #cells, hidden: #hidden };
            kernels::lstm::forward(&#g, #xi, w, #at, #yi, state, par);
        ),
    }
}

pub(super) fn lstm_backward(
    plan: &Plan,
    names: &dyn Names,
    (dy, dx): (BufferId, Option<BufferId>),
    params: &[ParamId],
    saved: &[BufferId; 4],
    shape: &LstmShape,
) -> StepCode {
    let root = |id: BufferId| plan.root(id);
    let buf = |id: BufferId| names.buffer(root(id));
    let [input, gates, cells, hidden] = saved.map(buf);
    let (dyi, g, at) = (buf(dy), geometry(shape), param_at(names, params));
    let dxi = match dx {
        Some(dx) => {
            let d = buf(dx);
            quote!(Some(#d))
        }
        None => quote!(None),
    };
    let layer = plan.param(params[0]).name.trim_end_matches(".weight_ih_l0");
    let mut writes = vec![root(saved[1])];
    writes.extend(dx.map(root));
    StepCode {
        comment: format!(
            "{}{layer}'s gradients: backward of lstm, from {}",
            dx.map_or(String::new(), |d| format!(
                "{} and ",
                plan.buffer(root(d)).name
            )),
            plan.buffer(root(dy)).name
        ),
        access: Access {
            reads: vec![root(dy), root(saved[0]), root(saved[2]), root(saved[3])],
            writes,
        },
        scratch: Some(quote!(kernels::lstm::backward_scratch_len(&#g))),
        call: quote!(
            let saved = kernels::lstm::LstmSaved { input: #input, cells: #cells, hidden: #hidden };
            kernels::lstm::backward(&#g, w, #at, #dyi, #dxi, grads, saved, #gates, scratch, par);
        ),
    }
}

pub(super) fn last(
    plan: &Plan,
    names: &dyn Names,
    (from, to): (BufferId, BufferId),
    (len, features): (usize, usize),
    backward: bool,
) -> StepCode {
    let root = |id: BufferId| plan.root(id);
    let (fi, ti) = (names.buffer(root(from)), names.buffer(root(to)));
    let (l, f) = (
        Literal::usize_unsuffixed(len),
        Literal::usize_unsuffixed(features),
    );
    let (kernel, comment) = if backward {
        (quote!(backward), "gradient of last, from")
    } else {
        (quote!(forward), "last of")
    };
    StepCode {
        comment: format!(
            "{} = {comment} {}",
            plan.buffer(root(to)).name,
            plan.buffer(root(from)).name
        ),
        access: Access {
            reads: vec![root(from)],
            writes: vec![root(to)],
        },
        scratch: None,
        call: quote!(kernels::last::#kernel(#fi, #ti, #l, #f);),
    }
}
