//! `concat`'s steps as Rust, forward and backward, as the runtime's
//! dispatch calls them: the forward pass copies each input into its slice
//! of the output's axis; the backward pass splits the output's gradient
//! back into the inputs', giving inputs that need none scratch to write.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{BufferId, Plan};

use super::geometry::times_batch;
use super::memory::Access;
use super::steps::{Names, StepCode};

fn buffer_name(plan: &Plan, id: BufferId) -> String {
    plan.buffer(plan.root(id)).name.clone()
}

/// `y = concat(inputs)`, the inputs' `lens` along an axis with `outer`
/// rows before it and `inner` elements after it (per sample).
pub(super) fn forward(
    plan: &Plan,
    names: &dyn Names,
    inputs: &[BufferId],
    lens: &[usize],
    (outer, inner): (usize, usize),
    y: BufferId,
) -> StepCode {
    let buf = |id: BufferId| names.buffer(plan.root(id));
    let n = |v: usize| Literal::usize_unsuffixed(v);
    let yi = buf(y);
    let total: usize = lens.iter().sum();
    let mut at = 0;
    let calls: Vec<TokenStream> = inputs
        .iter()
        .zip(lens)
        .map(|(&input, &len)| {
            let xi = buf(input);
            let (a, l, t, o, i) = (n(at), n(len), n(total), times_batch(outer), n(inner));
            at += len;
            quote!(kernels::concat::forward_one(#xi, #a, #l, #t, #o, #i, #yi);)
        })
        .collect();
    let from: Vec<String> = inputs.iter().map(|&i| buffer_name(plan, i)).collect();
    StepCode {
        comment: format!("{} = concat({})", buffer_name(plan, y), from.join(", ")),
        access: Access {
            reads: inputs.iter().map(|&b| plan.root(b)).collect(),
            writes: vec![plan.root(y)],
        },
        scratch: None,
        call: quote!(#(#calls)*),
    }
}

/// The gradients `dxs` of concat's inputs from `dy`, each `None` an input
/// that needs none (its slice of `dy` goes to scratch).
pub(super) fn backward(
    plan: &Plan,
    names: &dyn Names,
    dy: BufferId,
    dxs: &[Option<BufferId>],
    lens: &[usize],
    (outer, inner): (usize, usize),
) -> StepCode {
    let buf = |id: BufferId| names.buffer(plan.root(id));
    let n = |v: usize| Literal::usize_unsuffixed(v);
    let dyi = buf(dy);
    let (o, i) = (times_batch(outer), n(inner));
    let lens_lit: Vec<Literal> = lens.iter().map(|&l| n(l)).collect();
    // Inputs that need no gradient get consecutive slices of scratch.
    let mut spare = 0usize;
    let mut takes = Vec::new();
    let outs: Vec<TokenStream> = dxs
        .iter()
        .zip(lens)
        .map(|(d, &len)| match d {
            Some(d) => {
                let di = buf(*d);
                quote!(#di)
            }
            None => {
                let piece = Ident::new(&format!("spare_{}", takes.len()), Span::call_site());
                let l = n(len * outer * inner);
                takes.push(quote!(let (#piece, scratch) = scratch.split_at_mut(#l * batch);));
                spare += len * outer * inner;
                quote!(#piece)
            }
        })
        .collect();
    let from: Vec<String> = dxs
        .iter()
        .map(|d| d.map_or("_".to_string(), |d| buffer_name(plan, d)))
        .collect();
    StepCode {
        comment: format!(
            "({}) = gradient of concat, {} split",
            from.join(", "),
            buffer_name(plan, dy)
        ),
        access: Access {
            reads: vec![plan.root(dy)],
            writes: dxs.iter().flatten().map(|&b| plan.root(b)).collect(),
        },
        scratch: (spare > 0).then(|| {
            let s = n(spare);
            quote!(#s * batch)
        }),
        call: quote!(
            #(#takes)*
            kernels::concat::backward(#dyi, &[#(#lens_lit),*], #o, #i, &mut [#(#outs),*]);
        ),
    }
}
