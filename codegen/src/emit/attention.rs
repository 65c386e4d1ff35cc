//! Self-attention's steps as Rust, forward and backward, as the runtime's
//! dispatch calls them.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{AttentionShape, BufferId, ParamId, Plan};

use super::memory::Access;
use super::steps::{Names, StepCode};

/// The kernels' attention geometry for a batch named `batch`.
fn geometry(s: &AttentionShape) -> TokenStream {
    let n = |v: usize| Literal::usize_unsuffixed(v);
    let (len, dim, heads, causal) = (n(s.len), n(s.dim), n(s.heads), s.causal);
    quote!(kernels::attention::AttentionGeometry {
        batch,
        len: #len,
        dim: #dim,
        heads: #heads,
        causal: #causal,
    })
}

/// `params::NAME` of each of the layer's four parameters.
fn param_ranges(names: &dyn Names, params: &[ParamId; 4]) -> [TokenStream; 4] {
    params.map(|id| {
        let c = names.param(id);
        quote!(params::#c)
    })
}

/// `x` and the forward's saved `[heads, probs, ctx]` buffers.
pub(super) struct Saved {
    pub x: BufferId,
    pub heads: BufferId,
    pub probs: BufferId,
    pub ctx: BufferId,
}

pub(super) fn forward(
    plan: &Plan,
    names: &dyn Names,
    saved: Saved,
    y: BufferId,
    params: &[ParamId; 4],
    shape: &AttentionShape,
) -> StepCode {
    let root = |id: BufferId| plan.root(id);
    let Saved {
        x,
        heads,
        probs,
        ctx,
    } = saved;
    let [xi, hi, pi, ci, yi] = [x, heads, probs, ctx, y].map(|id| names.buffer(root(id)));
    let [p0, p1, p2, p3] = param_ranges(names, params);
    let g = geometry(shape);
    StepCode {
        comment: format!(
            "{} = {} -> attention({}{}) on [{}, {}]",
            plan.buffer(root(y)).name,
            plan.buffer(root(x)).name,
            shape.heads,
            if shape.causal { ", causal" } else { "" },
            shape.len,
            shape.dim
        ),
        access: Access {
            reads: vec![root(x)],
            writes: [heads, probs, ctx, y].iter().map(|&b| root(b)).collect(),
        },
        call: quote!(kernels::attention::forward(&#g, #xi, [&w[#p0], &w[#p1], &w[#p2], &w[#p3]], #hi, #pi, #ci, #yi, scratch, par);),
        scratch: Some(quote!(kernels::attention::forward_scratch_len(&#g))),
    }
}

pub(super) fn backward(
    plan: &Plan,
    names: &dyn Names,
    saved: Saved,
    (dy, dx): (BufferId, Option<BufferId>),
    params: &[ParamId; 4],
    shape: &AttentionShape,
) -> StepCode {
    let root = |id: BufferId| plan.root(id);
    let name = |id: BufferId| plan.buffer(root(id)).name.clone();
    let Saved {
        x,
        heads,
        probs,
        ctx,
    } = saved;
    let [xi, hi, pi, ci, dyi] = [x, heads, probs, ctx, dy].map(|id| names.buffer(root(id)));
    let dxi = match dx {
        Some(dx) => {
            let d = names.buffer(root(dx));
            quote!(Some(#d))
        }
        None => quote!(None),
    };
    let [p0, p1, p2, p3] = param_ranges(names, params);
    let g = geometry(shape);
    StepCode {
        comment: format!(
            "{}{}'s gradients: backward of attention({}) on {}, from {}",
            dx.map_or(String::new(), |dx| format!("{} and ", name(dx))),
            plan.param(params[0])
                .name
                .trim_end_matches(".in_proj_weight"),
            shape.heads,
            name(x),
            name(dy)
        ),
        access: Access {
            reads: [x, heads, probs, ctx, dy]
                .iter()
                .map(|&b| root(b))
                .collect(),
            writes: dx.iter().map(|&b| root(b)).collect(),
        },
        call: quote!(
            let ([], attention_grads) = views(grads, [], [#p0, #p1, #p2, #p3]);
            kernels::attention::backward(&#g, #xi, [&w[#p0], &w[#p1], &w[#p2], &w[#p3]], [#hi, #pi, #ci], #dyi, #dxi, attention_grads, scratch, par);
        ),
        scratch: Some(quote!(kernels::attention::backward_scratch_len(&#g))),
    }
}
