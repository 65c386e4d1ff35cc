//! The kernels' geometry as generated code: their geometry structs with
//! every size a literal, and row counts as expressions of the generated
//! function's `batch`.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{BufferId, ConvShape, Plan, PoolShape, Size};

/// The kernels' convolution geometry for a batch named `batch`.
pub(super) fn conv_geometry(s: &ConvShape) -> TokenStream {
    let n = |v: usize| Literal::usize_unsuffixed(v);
    let pair = |p: [usize; 2]| {
        let (a, b) = (n(p[0]), n(p[1]));
        quote!([#a, #b])
    };
    let (ci, h, wd, co) = (n(s.in_channels), n(s.in_h), n(s.in_w), n(s.out_channels));
    let (k, st, p, d) = (
        pair(s.kernel),
        pair(s.stride),
        pair(s.padding),
        pair(s.dilation),
    );
    quote!(kernels::conv2d::Conv2dGeometry {
        batch,
        in_channels: #ci,
        in_h: #h,
        in_w: #wd,
        out_channels: #co,
        kernel: #k,
        stride: #st,
        padding: #p,
        dilation: #d,
    })
}

/// [`conv_geometry`] in `groups` groups.
pub(super) fn grouped_geometry(s: &ConvShape, groups: usize) -> TokenStream {
    let (conv, groups) = (conv_geometry(s), Literal::usize_unsuffixed(groups));
    quote!(kernels::conv2d::GroupedConv2dGeometry { conv: #conv, groups: #groups })
}

/// The kernels' adaptive pooling geometry for a batch named `batch`.
pub(super) fn adaptive_geometry(
    channels: usize,
    in_hw: [usize; 2],
    out_hw: [usize; 2],
) -> TokenStream {
    let n = |v: usize| Literal::usize_unsuffixed(v);
    let (c, ih, iw, oh, ow) = (
        n(channels),
        n(in_hw[0]),
        n(in_hw[1]),
        n(out_hw[0]),
        n(out_hw[1]),
    );
    quote!(kernels::pool::AdaptivePool2dGeometry {
        batch,
        channels: #c,
        in_hw: [#ih, #iw],
        out_hw: [#oh, #ow],
    })
}

pub(super) fn pool_geometry(s: &PoolShape) -> TokenStream {
    let n = |v: usize| Literal::usize_unsuffixed(v);
    let pair = |p: [usize; 2]| {
        let (a, b) = (n(p[0]), n(p[1]));
        quote!([#a, #b])
    };
    let (c, h, wd) = (n(s.channels), n(s.in_h), n(s.in_w));
    let (k, st, p) = (pair(s.kernel), pair(s.stride), pair(s.padding));
    quote!(kernels::pool::Pool2dGeometry {
        batch,
        channels: #c,
        in_h: #h,
        in_w: #wd,
        kernel: #k,
        stride: #st,
        padding: #p,
        ceil_mode: false,
    })
}

/// The rows a dense step multiplies per sample: one for `[in]`, `len` for
/// `[len, in]` (as the runtime's dispatch reads them off `x`).
pub(super) fn dense_rows(plan: &Plan, x: BufferId, in_features: usize) -> usize {
    match plan.buffer(plan.root(x)).size {
        Size::PerSample(n) | Size::Fixed(n) => n / in_features.max(1),
    }
}

/// `count · batch` as an expression (`batch` alone for 1).
pub(super) fn times_batch(count: usize) -> TokenStream {
    if count == 1 {
        quote!(batch)
    } else {
        let count = Literal::usize_unsuffixed(count);
        quote!(#count * batch)
    }
}
