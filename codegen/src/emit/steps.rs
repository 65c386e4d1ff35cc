//! Each forward step of a plan as Rust: the kernel call the runtime's
//! dispatch (`nnspec_runtime_core::forward`) makes for it in inference
//! mode, with every size a literal. Calling the same kernels with the same
//! arguments is what makes generated code agree with the executor bit for
//! bit.
// Every step must be emitted: no catch-all arm (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{BufferId, GeluApproximate, ParamId, Plan, PoolShape, Step};

use super::geometry::{
    adaptive_geometry, conv_geometry, dense_rows, grouped_geometry, pool_geometry, times_batch,
};
use super::memory::Access;
use super::pointwise::{unary, unary_with};

/// What the emitter knows of names: a local for each root buffer, a
/// constant (in the generated `params` module) for each parameter, a
/// constant (in the generated `layout` module) for each placed buffer.
pub(super) trait Names {
    fn buffer(&self, id: BufferId) -> Ident;
    fn param(&self, id: ParamId) -> Ident;
    fn slot(&self, id: BufferId) -> Ident;
}

/// Which pass a forward step runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Dropout passes its input through, BatchNorm uses its running
    /// statistics, max pooling records no indices.
    Inference,
    /// Dropout draws masks from `dropout`, BatchNorm normalizes by the
    /// batch and updates its running statistics and counter, max pooling
    /// records its argmax in `indices` for the backward pass.
    Training,
}

/// One step as generated code.
pub(super) struct StepCode {
    /// What the step computes, for the comment above it.
    pub comment: String,
    /// The root buffers it reads and writes.
    pub access: Access,
    /// The kernel call, naming each buffer of `access` by its local and
    /// the weights as `w`.
    pub call: TokenStream,
    /// The scratch floats the call needs for `batch` samples on `threads`
    /// threads, as an expression (convolutions only).
    pub scratch: Option<TokenStream>,
}

/// `step` of `plan` as a kernel call in `mode`.
pub(super) fn forward_step(plan: &Plan, step: &Step, names: &dyn Names, mode: Mode) -> StepCode {
    let root = |id: BufferId| plan.root(id);
    let buf = |id: BufferId| names.buffer(root(id));
    // Comments name what the code's locals hold: root buffers.
    let name = |id: BufferId| plan.buffer(plan.root(id)).name.clone();
    let weight = |id: ParamId| {
        let c = names.param(id);
        quote!(&w[params::#c])
    };
    let bias = |id: Option<ParamId>| match id {
        Some(id) => {
            let b = weight(id);
            quote!(Some(#b))
        }
        None => quote!(None),
    };
    let n = |v: usize| Literal::usize_unsuffixed(v);
    let f = |v: f32| Literal::f32_unsuffixed(v);
    let access = |reads: &[BufferId], writes: &[BufferId]| Access {
        reads: reads.iter().map(|&b| root(b)).collect(),
        writes: writes.iter().map(|&b| root(b)).collect(),
    };
    match step {
        Step::Dense {
            x,
            weight: w,
            bias: b,
            y,
            in_features,
            out_features,
            relu,
        } => {
            let (xi, yi) = (buf(*x), buf(*y));
            let (wt, bs) = (weight(*w), bias(*b));
            let kernel = if *relu {
                quote!(forward_relu)
            } else {
                quote!(forward)
            };
            let (i, o) = (n(*in_features), n(*out_features));
            let rows = times_batch(dense_rows(plan, *x, *in_features));
            StepCode {
                comment: format!(
                    "{} = {} -> dense({out_features}){}: {in_features} -> {out_features}",
                    name(*y),
                    name(*x),
                    if *relu { " -> relu" } else { "" },
                ),
                access: access(&[*x], &[*y]),
                scratch: None,
                call: quote!(kernels::dense::#kernel(#xi, #wt, #bs, #yi, #rows, #i, #o, par);),
            }
        }
        Step::Conv2d {
            x,
            weight: w,
            bias: b,
            y,
            shape,
            relu,
        } => {
            let (xi, yi) = (buf(*x), buf(*y));
            let (wt, bs) = (weight(*w), bias(*b));
            let g = conv_geometry(shape);
            let kernel = if *relu {
                quote!(conv2d_relu_forward_in)
            } else {
                quote!(conv2d_forward_in)
            };
            StepCode {
                comment: format!(
                    "{} = {} -> conv2d{}: [{}, {}, {}] -> {} channels, kernel {:?}, stride {:?}, padding {:?}, dilation {:?}",
                    name(*y),
                    name(*x),
                    if *relu { " -> relu" } else { "" },
                    shape.in_channels,
                    shape.in_h,
                    shape.in_w,
                    shape.out_channels,
                    shape.kernel,
                    shape.stride,
                    shape.padding,
                    shape.dilation
                ),
                access: access(&[*x], &[*y]),
                call: quote!(kernels::conv2d::#kernel(&#g, #xi, #wt, #bs, #yi, scratch, par);),
                scratch: Some(quote!(kernels::conv2d::forward_scratch_len(&#g, threads))),
            }
        }
        Step::GroupedConv2d {
            x,
            weight: w,
            bias: b,
            y,
            shape,
            groups,
            relu,
        } => {
            let (xi, yi) = (buf(*x), buf(*y));
            let (wt, bs) = (weight(*w), bias(*b));
            let g = grouped_geometry(shape, *groups);
            let kernel = if *relu {
                quote!(grouped_conv2d_relu_forward_in)
            } else {
                quote!(grouped_conv2d_forward_in)
            };
            StepCode {
                comment: format!(
                    "{} = {} -> conv2d{}: [{}, {}, {}] -> {} channels in {groups} groups, kernel {:?}, stride {:?}, padding {:?}, dilation {:?}",
                    name(*y),
                    name(*x),
                    if *relu { " -> relu" } else { "" },
                    shape.in_channels,
                    shape.in_h,
                    shape.in_w,
                    shape.out_channels,
                    shape.kernel,
                    shape.stride,
                    shape.padding,
                    shape.dilation
                ),
                access: access(&[*x], &[*y]),
                call: quote!(kernels::conv2d::#kernel(&#g, #xi, #wt, #bs, #yi, scratch, par);),
                scratch: Some(quote!(kernels::conv2d::grouped_forward_scratch_len(&#g, threads))),
            }
        }
        Step::MaxPool2d {
            x,
            y,
            indices,
            shape,
        } => {
            let (xi, yi) = (buf(*x), buf(*y));
            let g = pool_geometry(shape);
            let (argmax, writes) = match mode {
                Mode::Inference => (quote!(None), vec![*y]),
                Mode::Training => {
                    let slot = names.slot(root(*indices));
                    (
                        quote!(Some(&mut indices[at(layout::#slot)])),
                        vec![*y, *indices],
                    )
                }
            };
            StepCode {
                comment: format!("{} = maxpool2d({}){}", name(*y), name(*x), pool_text(shape)),
                access: access(&[*x], &writes),
                scratch: None,
                call: quote!(kernels::pool::max_pool2d_forward(&#g, #xi, #yi, #argmax, par);),
            }
        }
        Step::AvgPool2d { x, y, shape } => {
            let (xi, yi) = (buf(*x), buf(*y));
            let g = pool_geometry(shape);
            StepCode {
                comment: format!("{} = avgpool2d({}){}", name(*y), name(*x), pool_text(shape)),
                access: access(&[*x], &[*y]),
                scratch: None,
                call: quote!(kernels::pool::avg_pool2d_forward(&#g, true, #xi, #yi, par);),
            }
        }
        Step::AdaptiveAvgPool2d {
            x,
            y,
            channels,
            in_hw,
            out_hw,
        } => {
            let (xi, yi) = (buf(*x), buf(*y));
            let g = adaptive_geometry(*channels, *in_hw, *out_hw);
            StepCode {
                comment: format!(
                    "{} = adaptive_avgpool2d({}): [{channels}, {}, {}] -> {:?}",
                    name(*y),
                    name(*x),
                    in_hw[0],
                    in_hw[1],
                    out_hw
                ),
                access: access(&[*x], &[*y]),
                scratch: None,
                call: quote!(kernels::pool::adaptive_avg_pool2d_forward(&#g, #xi, #yi, par);),
            }
        }
        Step::Relu { x, y } => unary(plan, names, "relu", *x, *y, quote!(relu::forward)),
        Step::Sigmoid { x, y } => unary(plan, names, "sigmoid", *x, *y, quote!(sigmoid::forward)),
        Step::Tanh { x, y } => unary(plan, names, "tanh", *x, *y, quote!(tanh::forward)),
        Step::Gelu { x, y, approximate } => match approximate {
            GeluApproximate::None => unary(plan, names, "gelu", *x, *y, quote!(gelu::forward)),
            GeluApproximate::Tanh => unary(
                plan,
                names,
                "gelu (tanh)",
                *x,
                *y,
                quote!(gelu_tanh::forward),
            ),
        },
        Step::Silu { x, y } => unary(plan, names, "silu", *x, *y, quote!(silu::forward)),
        Step::Hardswish { x, y } => {
            unary(plan, names, "hardswish", *x, *y, quote!(hardswish::forward))
        }
        Step::Elu { x, y, alpha } => {
            let a = f(*alpha);
            let kernel = quote!(elu::forward);
            let mut code = unary_with(plan, names, "elu", *x, *y, kernel, quote!(, #a));
            code.comment += &format!(", alpha {alpha}");
            code
        }
        Step::Softplus {
            x,
            y,
            beta,
            threshold,
        } => {
            let (b, t) = (f(*beta), f(*threshold));
            let (kernel, args) = (quote!(softplus::forward), quote!(, #b, #t));
            let mut code = unary_with(plan, names, "softplus", *x, *y, kernel, args);
            code.comment += &format!(", beta {beta}, threshold {threshold}");
            code
        }
        Step::LeakyRelu {
            x,
            y,
            negative_slope,
        } => {
            let (xi, yi) = (buf(*x), buf(*y));
            let slope = f(*negative_slope);
            StepCode {
                comment: format!(
                    "{} = leaky_relu({}), negative slope {negative_slope}",
                    name(*y),
                    name(*x)
                ),
                access: access(&[*x], &[*y]),
                scratch: None,
                call: quote!(kernels::activation::leaky_relu::forward(#xi, #yi, #slope);),
            }
        }
        Step::Softmax {
            x,
            y,
            outer,
            axis_len,
            inner,
        } => {
            let (xi, yi) = (buf(*x), buf(*y));
            let (o, a, i) = (times_batch(*outer), n(*axis_len), n(*inner));
            StepCode {
                comment: format!(
                    "{} = softmax({}) over {axis_len} (per sample [{outer}, {axis_len}, {inner}])",
                    name(*y),
                    name(*x)
                ),
                access: access(&[*x], &[*y]),
                scratch: None,
                call: quote!(kernels::softmax::forward(#xi, #yi, #o, #a, #i);),
            }
        }
        Step::Dropout { x, y, mask, p } => {
            let (xi, yi) = (buf(*x), buf(*y));
            match mode {
                Mode::Inference => StepCode {
                    comment: format!(
                        "{} = dropout({}, p {p}): the identity at inference",
                        name(*y),
                        name(*x)
                    ),
                    access: access(&[*x], &[*y]),
                    scratch: None,
                    call: quote!(#yi.copy_from_slice(#xi);),
                },
                Mode::Training => {
                    let (mi, rate) = (buf(*mask), f(*p));
                    StepCode {
                        comment: format!(
                            "{} = dropout({}, p {p}), keeping its mask `{}`",
                            name(*y),
                            name(*x),
                            name(*mask)
                        ),
                        access: access(&[*x], &[*y, *mask]),
                        scratch: None,
                        call: quote!(kernels::dropout::forward(#xi, #yi, #mi, #rate, dropout);),
                    }
                }
            }
        }
        Step::Attention {
            x,
            params,
            heads,
            probs,
            ctx,
            y,
            shape,
        } => {
            let saved = super::attention::Saved {
                x: *x,
                heads: *heads,
                probs: *probs,
                ctx: *ctx,
            };
            super::attention::forward(plan, names, saved, *y, params, shape)
        }
        Step::BatchNorm {
            x,
            y,
            weight: gamma,
            bias: beta,
            running_mean,
            running_var,
            num_batches_tracked,
            save_mean,
            save_invstd,
            channels,
            spatial,
            eps,
            momentum,
        } if mode == Mode::Training => {
            let (xi, yi) = (buf(*x), buf(*y));
            let (smi, sii) = (buf(*save_mean), buf(*save_invstd));
            let [g, b, m, v] = [gamma, beta, running_mean, running_var].map(|id| names.param(*id));
            let counter = names.param(*num_batches_tracked);
            let (c, s, e, mo) = (n(*channels), n(*spatial), f(*eps), f(*momentum));
            StepCode {
                comment: format!(
                    "{} = batchnorm({}) over {channels} channels, by the batch's statistics (updating the running ones)",
                    name(*y),
                    name(*x)
                ),
                access: access(&[*x], &[*y, *save_mean, *save_invstd]),
                scratch: None,
                call: quote!(
                    let ([bn_gamma, bn_beta], [bn_mean, bn_var]) =
                        views(w, [params::#g, params::#b], [params::#m, params::#v]);
                    kernels::batchnorm::batch_norm_forward_train(
                        &kernels::batchnorm::BatchNormGeometry { batch, channels: #c, spatial: #s },
                        #xi, bn_gamma, bn_beta, #e, #mo, Some((bn_mean, bn_var)), #yi, #smi, #sii, par,
                    );
                    counters[counters::#counter] += 1;
                ),
            }
        }
        Step::BatchNorm {
            x,
            y,
            weight: gamma,
            bias: beta,
            running_mean,
            running_var,
            channels,
            spatial,
            eps,
            ..
        } => {
            let (xi, yi) = (buf(*x), buf(*y));
            let (g, b) = (weight(*gamma), weight(*beta));
            let (m, v) = (weight(*running_mean), weight(*running_var));
            let (c, s, e) = (n(*channels), n(*spatial), f(*eps));
            StepCode {
                comment: format!(
                    "{} = batchnorm({}) over {channels} channels, with the running statistics",
                    name(*y),
                    name(*x)
                ),
                access: access(&[*x], &[*y]),
                scratch: None,
                call: quote!(
                    kernels::batchnorm::batch_norm_forward_eval(
                        &kernels::batchnorm::BatchNormGeometry { batch, channels: #c, spatial: #s },
                        #xi, #g, #b, #m, #v, #e, #yi, par,
                    );
                ),
            }
        }
        Step::Add { a, b, y } => {
            let (ai, bi, yi) = (buf(*a), buf(*b), buf(*y));
            StepCode {
                comment: format!("{} = {} + {}", name(*y), name(*a), name(*b)),
                access: access(&[*a, *b], &[*y]),
                scratch: None,
                call: quote!(kernels::elementwise::add(#ai, #bi, #yi);),
            }
        }
        Step::Mul { a, b, y } => super::seq_steps::mul(plan, names, [*a, *b], *y),
        Step::LayerNorm {
            x,
            y,
            weight,
            bias,
            save_mean,
            save_rstd,
            width,
            eps,
        } => {
            let buffers = [*x, *y, *save_mean, *save_rstd];
            super::seq_steps::layer_norm(plan, names, mode, buffers, *weight, *bias, *width, *eps)
        }
        Step::Mean {
            x,
            y,
            outer,
            axis_len,
            inner,
        } => super::seq_steps::mean(plan, names, false, [*x, *y], [*outer, *axis_len, *inner]),
        Step::Concat {
            inputs,
            lens,
            outer,
            inner,
            y,
        } => super::concat::forward(plan, names, inputs, lens, (*outer, *inner), *y),
        Step::Lstm {
            x,
            y,
            params,
            saved,
            shape,
        } => super::sequence::lstm_forward(plan, names, (*x, *y), params, saved, shape),
        Step::Last {
            x,
            y,
            len,
            features,
        } => super::sequence::last(plan, names, (*x, *y), (*len, *features), false),
        Step::Embedding {
            ids,
            weight: w,
            y,
            num,
            dim,
            ..
        } => {
            let (ii, yi, wt) = (buf(*ids), buf(*y), weight(*w));
            let (nm, dm) = (n(*num), n(*dim));
            StepCode {
                comment: format!("{} = {} -> embedding({num}, {dim})", name(*y), name(*ids)),
                access: access(&[*ids], &[*y]),
                scratch: None,
                call: quote!(kernels::embedding::forward(#ii, #wt, #yi, #nm, #dm, par);),
            }
        }
    }
}

fn pool_text(s: &PoolShape) -> String {
    format!(
        ": [{}, {}, {}], kernel {:?}, stride {:?}, padding {:?}",
        s.channels, s.in_h, s.in_w, s.kernel, s.stride, s.padding
    )
}
