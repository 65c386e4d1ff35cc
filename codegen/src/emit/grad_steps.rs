//! Each backward step of a training plan as Rust: the kernel call the
//! runtime's dispatch (`nnspec_runtime_core::backward`) makes for it, with
//! every size a literal. Parameter gradients are views of `grads`, laid out
//! like the weights; the scratch some steps need is the arena's `scratch`.
// Every step must be emitted: no catch-all arm (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use nnspec_runtime::plan::{BufferId, GeluApproximate, GradStep, ParamId, Plan};

use super::geometry::{
    adaptive_geometry, conv_geometry, dense_rows, grouped_geometry, pool_geometry, times_batch,
};
use super::memory::Access;
use super::pointwise::elementwise;
use super::steps::{Names, StepCode};

/// `step` of `plan` as kernel calls.
pub(super) fn backward_step(plan: &Plan, step: &GradStep, names: &dyn Names) -> StepCode {
    let root = |id: BufferId| plan.root(id);
    let buf = |id: BufferId| names.buffer(root(id));
    let name = |id: BufferId| plan.buffer(root(id)).name.clone();
    let param = |id: ParamId| {
        let c = names.param(id);
        quote!(params::#c)
    };
    let weight = |id: ParamId| {
        let p = param(id);
        quote!(&w[#p])
    };
    // `grad_w` (and `grad_b`): the parameter gradients, views of `grads`.
    let grad_views = |weight: ParamId, bias: Option<ParamId>| -> (TokenStream, TokenStream) {
        let wp = param(weight);
        match bias {
            Some(b) => {
                let bp = param(b);
                (
                    quote!(let ([], [grad_w, grad_b]) = views(grads, [], [#wp, #bp]);),
                    quote!(Some(grad_b)),
                )
            }
            None => (quote!(let grad_w = &mut grads[#wp];), quote!(None)),
        }
    };
    let optional = |id: Option<BufferId>| match id {
        Some(id) => {
            let d = buf(id);
            quote!(Some(#d))
        }
        None => quote!(None),
    };
    let n = |v: usize| Literal::usize_unsuffixed(v);
    let f = |v: f32| Literal::f32_unsuffixed(v);
    let access = |reads: &[BufferId], writes: &[Option<BufferId>]| Access {
        reads: reads.iter().map(|&b| root(b)).collect(),
        writes: writes.iter().flatten().map(|&b| root(b)).collect(),
    };
    // What a layer's backward step writes, for its comment: the input's
    // gradient (if wanted) and the layer's parameter gradients.
    let outputs = |dx: Option<BufferId>, weight: ParamId| {
        let layer = plan
            .param(weight)
            .name
            .trim_end_matches(".weight")
            .to_string();
        match dx {
            Some(dx) => format!("{} and {layer}'s gradients", name(dx)),
            None => format!("{layer}'s gradients"),
        }
    };
    match step {
        GradStep::Dense {
            x,
            weight: w,
            bias,
            dy,
            dx,
            relu_y,
            in_features,
            out_features,
        } => {
            let (xi, dyi, dxi) = (buf(*x), buf(*dy), optional(*dx));
            let wt = weight(*w);
            let (grads, db) = grad_views(*w, *bias);
            let (i, o) = (n(*in_features), n(*out_features));
            let rows = times_batch(dense_rows(plan, *x, *in_features));
            // The fused relu's backward multiplies `dy` by `[y > 0]` in place.
            let (call, reads, writes, through) = match relu_y {
                Some(y) => {
                    let yi = buf(*y);
                    (
                        quote!(kernels::dense::backward_relu(#xi, #wt, #yi, #dyi, #dxi, grad_w, #db, #rows, #i, #o, par);),
                        vec![*x, *y],
                        vec![Some(*dy), *dx],
                        " -> relu",
                    )
                }
                None => (
                    quote!(kernels::dense::backward(#xi, #wt, #dyi, #dxi, grad_w, #db, #rows, #i, #o, par);),
                    vec![*x, *dy],
                    vec![*dx],
                    "",
                ),
            };
            StepCode {
                comment: format!(
                    "{}: backward of dense({out_features}){through} on {}, from {}",
                    outputs(*dx, *w),
                    name(*x),
                    name(*dy)
                ),
                access: access(&reads, &writes),
                scratch: None,
                call: quote!(#grads #call),
            }
        }
        GradStep::Conv2d {
            x,
            weight: w,
            bias,
            dy,
            dx,
            relu_y,
            shape,
        } => {
            let (xi, dyi, dxi) = (buf(*x), buf(*dy), optional(*dx));
            let wt = weight(*w);
            let g = conv_geometry(shape);
            let (grads, db) = grad_views(*w, *bias);
            let (relu, reads, writes) = match relu_y {
                // The fused relu's backward: `dy · [y > 0]`, in place.
                Some(y) => {
                    let yi = buf(*y);
                    (
                        quote!(kernels::activation::relu::backward_inplace_par(#yi, #dyi, par);),
                        vec![*x, *y],
                        vec![Some(*dy), *dx],
                    )
                }
                None => (quote!(), vec![*x, *dy], vec![*dx]),
            };
            let has_bias = bias.is_some();
            StepCode {
                comment: format!(
                    "{}: backward of conv2d({}){} on {}, from {}",
                    outputs(*dx, *w),
                    shape.out_channels,
                    if relu_y.is_some() { " -> relu" } else { "" },
                    name(*x),
                    name(*dy)
                ),
                access: access(&reads, &writes),
                call: quote!(
                    #relu
                    #grads
                    kernels::conv2d::conv2d_backward_in(&#g, #xi, #wt, #dyi, #dxi, grad_w, #db, scratch, par);
                ),
                scratch: Some(
                    quote!(kernels::conv2d::backward_scratch_len(&#g, #has_bias, threads)),
                ),
            }
        }
        GradStep::GroupedConv2d {
            x,
            weight: w,
            bias,
            dy,
            dx,
            relu_y,
            shape,
            groups,
        } => {
            let (xi, dyi, dxi) = (buf(*x), buf(*dy), optional(*dx));
            let wt = weight(*w);
            let g = grouped_geometry(shape, *groups);
            let (grads, db) = grad_views(*w, *bias);
            let (relu, reads, writes) = match relu_y {
                // The fused relu's backward: `dy · [y > 0]`, in place.
                Some(y) => {
                    let yi = buf(*y);
                    (
                        quote!(kernels::activation::relu::backward_inplace_par(#yi, #dyi, par);),
                        vec![*x, *y],
                        vec![Some(*dy), *dx],
                    )
                }
                None => (quote!(), vec![*x, *dy], vec![*dx]),
            };
            let has_bias = bias.is_some();
            StepCode {
                comment: format!(
                    "{}: backward of conv2d({}, groups: {groups}){} on {}, from {}",
                    outputs(*dx, *w),
                    shape.out_channels,
                    if relu_y.is_some() { " -> relu" } else { "" },
                    name(*x),
                    name(*dy)
                ),
                access: access(&reads, &writes),
                call: quote!(
                    #relu
                    #grads
                    kernels::conv2d::grouped_conv2d_backward_in(&#g, #xi, #wt, #dyi, #dxi, grad_w, #db, scratch, par);
                ),
                scratch: Some(
                    quote!(kernels::conv2d::grouped_backward_scratch_len(&#g, #has_bias, threads)),
                ),
            }
        }
        GradStep::MaxPool2d {
            dy,
            indices,
            dx,
            shape,
        } => {
            let (dyi, dxi) = (buf(*dy), buf(*dx));
            let g = pool_geometry(shape);
            let slot = names.slot(root(*indices));
            StepCode {
                comment: format!(
                    "{} = gradient of maxpool2d, from {} and the argmax `{}`",
                    name(*dx),
                    name(*dy),
                    name(*indices)
                ),
                access: access(&[*dy, *indices], &[Some(*dx)]),
                scratch: None,
                call: quote!(kernels::pool::max_pool2d_backward(&#g, #dyi, &indices[at(layout::#slot)], #dxi, par);),
            }
        }
        GradStep::AvgPool2d { dy, dx, shape } => {
            let (dyi, dxi) = (buf(*dy), buf(*dx));
            let g = pool_geometry(shape);
            StepCode {
                comment: format!("{} = gradient of avgpool2d, from {}", name(*dx), name(*dy)),
                access: access(&[*dy], &[Some(*dx)]),
                scratch: None,
                call: quote!(kernels::pool::avg_pool2d_backward(&#g, true, #dyi, #dxi, par);),
            }
        }
        GradStep::AdaptiveAvgPool2d {
            dy,
            dx,
            channels,
            in_hw,
            out_hw,
        } => {
            let (dyi, dxi) = (buf(*dy), buf(*dx));
            let g = adaptive_geometry(*channels, *in_hw, *out_hw);
            StepCode {
                comment: format!(
                    "{} = gradient of adaptive_avgpool2d, from {}",
                    name(*dx),
                    name(*dy)
                ),
                access: access(&[*dy], &[Some(*dx)]),
                scratch: None,
                call: quote!(kernels::pool::adaptive_avg_pool2d_backward(&#g, #dyi, #dxi, par);),
            }
        }
        GradStep::Relu { y, dy, dx } => {
            let kernel = quote!(relu::backward);
            elementwise(plan, names, "relu", [*y, *dy], *dx, kernel, quote!())
        }
        GradStep::Sigmoid { y, dy, dx } => {
            let kernel = quote!(sigmoid::backward);
            elementwise(plan, names, "sigmoid", [*y, *dy], *dx, kernel, quote!())
        }
        GradStep::Gelu {
            x,
            dy,
            dx,
            approximate,
        } => {
            let (op, kernel) = match approximate {
                GeluApproximate::None => ("gelu", quote!(gelu::backward)),
                GeluApproximate::Tanh => ("gelu (tanh)", quote!(gelu_tanh::backward)),
            };
            elementwise(plan, names, op, [*x, *dy], *dx, kernel, quote!())
        }
        GradStep::Silu { x, dy, dx } => {
            let kernel = quote!(silu::backward);
            elementwise(plan, names, "silu", [*x, *dy], *dx, kernel, quote!())
        }
        GradStep::Hardswish { x, dy, dx } => {
            let kernel = quote!(hardswish::backward);
            elementwise(plan, names, "hardswish", [*x, *dy], *dx, kernel, quote!())
        }
        GradStep::Elu { x, dy, dx, alpha } => {
            let (kernel, a) = (quote!(elu::backward), f(*alpha));
            elementwise(plan, names, "elu", [*x, *dy], *dx, kernel, quote!(, #a))
        }
        GradStep::Softplus {
            x,
            dy,
            dx,
            beta,
            threshold,
        } => {
            let (kernel, b, t) = (quote!(softplus::backward), f(*beta), f(*threshold));
            let args = quote!(, #b, #t);
            elementwise(plan, names, "softplus", [*x, *dy], *dx, kernel, args)
        }
        GradStep::Tanh { y, dy, dx } => {
            let kernel = quote!(tanh::backward);
            elementwise(plan, names, "tanh", [*y, *dy], *dx, kernel, quote!())
        }
        GradStep::LeakyRelu {
            x,
            dy,
            dx,
            negative_slope,
        } => {
            let slope = f(*negative_slope);
            elementwise(
                plan,
                names,
                "leaky_relu",
                [*x, *dy],
                *dx,
                quote!(leaky_relu::backward),
                quote!(, #slope),
            )
        }
        GradStep::Softmax {
            y,
            dy,
            dx,
            outer,
            axis_len,
            inner,
        } => {
            let (yi, dyi, dxi) = (buf(*y), buf(*dy), buf(*dx));
            let (o, a, i) = (times_batch(*outer), n(*axis_len), n(*inner));
            StepCode {
                comment: format!("{} = gradient of softmax, from {}", name(*dx), name(*dy)),
                access: access(&[*y, *dy], &[Some(*dx)]),
                scratch: None,
                call: quote!(kernels::softmax::backward(#yi, #dyi, #dxi, #o, #a, #i);),
            }
        }
        GradStep::Dropout { mask, dy, dx } => {
            let (mi, dyi, dxi) = (buf(*mask), buf(*dy), buf(*dx));
            StepCode {
                comment: format!(
                    "{} = gradient of dropout: {} through the mask",
                    name(*dx),
                    name(*dy)
                ),
                access: access(&[*mask, *dy], &[Some(*dx)]),
                scratch: None,
                call: quote!(kernels::dropout::backward(#mi, #dyi, #dxi);),
            }
        }
        GradStep::Attention {
            x,
            params,
            heads,
            probs,
            ctx,
            dy,
            dx,
            shape,
        } => {
            let saved = super::attention::Saved {
                x: *x,
                heads: *heads,
                probs: *probs,
                ctx: *ctx,
            };
            super::attention::backward(plan, names, saved, (*dy, *dx), params, shape)
        }
        GradStep::BatchNorm {
            x,
            dy,
            dx,
            weight: gamma,
            bias: beta,
            save_mean,
            save_invstd,
            channels,
            spatial,
        } => {
            let (xi, dyi, smi, sii) = (buf(*x), buf(*dy), buf(*save_mean), buf(*save_invstd));
            let gw = weight(*gamma);
            let (grads, _) = grad_views(*gamma, Some(*beta));
            let (c, s) = (n(*channels), n(*spatial));
            // The kernel always produces dx: without one wanted, scratch.
            let (target, scratch) = match dx {
                Some(dx) => {
                    let d = buf(*dx);
                    (quote!(#d), None)
                }
                None => (
                    quote!(&mut scratch[..batch * #c * #s]),
                    Some(quote!(batch * #c * #s)),
                ),
            };
            StepCode {
                comment: format!(
                    "{}: backward of batchnorm on {}, from {}",
                    outputs(*dx, *gamma),
                    name(*x),
                    name(*dy)
                ),
                access: access(&[*x, *dy, *save_mean, *save_invstd], &[*dx]),
                scratch,
                call: quote!(
                    #grads
                    kernels::batchnorm::batch_norm_backward(
                        &kernels::batchnorm::BatchNormGeometry { batch, channels: #c, spatial: #s },
                        #xi, #dyi, #gw, #smi, #sii, #target, grad_w, grad_b, par,
                    );
                ),
            }
        }
        GradStep::Mul { a, b, dy, da, db } => {
            super::seq_steps::mul_backward(plan, names, [*a, *b, *dy], [*da, *db])
        }
        GradStep::LayerNorm {
            x,
            dy,
            dx,
            weight,
            bias,
            save_mean,
            save_rstd,
            width,
        } => {
            let buffers = [*x, *dy, *save_mean, *save_rstd];
            super::seq_steps::layer_norm_backward(plan, names, buffers, *dx, *weight, *bias, *width)
        }
        GradStep::Mean {
            dy,
            dx,
            outer,
            axis_len,
            inner,
        } => super::seq_steps::mean(plan, names, true, [*dy, *dx], [*outer, *axis_len, *inner]),
        GradStep::Concat {
            dy,
            dxs,
            lens,
            outer,
            inner,
        } => super::concat::backward(plan, names, *dy, dxs, lens, (*outer, *inner)),
        GradStep::Copy { from, to } => {
            let (fi, ti) = (buf(*from), buf(*to));
            StepCode {
                comment: format!("{} = {}", name(*to), name(*from)),
                access: access(&[*from], &[Some(*to)]),
                scratch: None,
                call: quote!(#ti.copy_from_slice(#fi);),
            }
        }
        GradStep::Accumulate { into: sum, from } => {
            let (si, fi) = (buf(*sum), buf(*from));
            StepCode {
                comment: format!("{} += {}", name(*sum), name(*from)),
                // Read and written: the sum so far stays alive until here.
                access: access(&[*from], &[Some(*sum)]),
                scratch: None,
                call: quote!(kernels::elementwise::add_assign(#si, #fi);),
            }
        }
        GradStep::Lstm {
            dy,
            dx,
            params,
            saved,
            shape,
        } => super::sequence::lstm_backward(plan, names, (*dy, *dx), params, saved, shape),
        GradStep::Last {
            dy,
            dx,
            len,
            features,
        } => super::sequence::last(plan, names, (*dy, *dx), (*len, *features), true),
        GradStep::Embedding {
            ids,
            dy,
            weight: w,
            num,
            dim,
            ..
        } => {
            let (ii, dyi, wp) = (buf(*ids), buf(*dy), param(*w));
            let (nm, dm) = (n(*num), n(*dim));
            StepCode {
                comment: format!(
                    "{}: backward of embedding({num}, {dim}) on {}, from {}",
                    outputs(None, *w),
                    name(*ids),
                    name(*dy)
                ),
                access: access(&[*ids, *dy], &[]),
                scratch: None,
                call: quote!(kernels::embedding::backward(#ii, #dyi, &mut grads[#wp], #nm, #dm, par);),
            }
        }
    }
}
