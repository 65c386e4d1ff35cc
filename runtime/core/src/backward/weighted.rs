//! Step dispatch, backward, for the layers that multiply by a weight:
//! `dense` and the convolutions, grouped or not. Each takes a fused relu's
//! backward first, then writes its weight's (and bias's) gradient, and its
//! input's when one is wanted.
// As in the whole dispatch: no catch-all arm (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use super::{GradMemory, Place};
use crate::forward::Layout;
use crate::kernels::{self, conv2d};
use crate::plan::{BufferId, ParamId};
use crate::views::{views, views_mut2};

/// The layer's input `x`, the gradient `dy` of its output, and the
/// gradient `dx` of its input if one is wanted.
type Buffers = (BufferId, BufferId, Option<BufferId>);

/// The gradients of the layer's weight and bias, views of `grads`.
fn param_grads<'g, L: Layout>(
    place: Place<'_, L>,
    grads: &'g mut [f32],
    (weight, bias): (ParamId, Option<ParamId>),
) -> (&'g mut [f32], Option<&'g mut [f32]>) {
    match bias {
        Some(b) => {
            let [dw, db] = views_mut2(grads, place.param(weight), place.param(b));
            (dw, Some(db))
        }
        None => (&mut grads[place.param(weight)], None),
    }
}

/// The fused relu's backward: `dy · [y > 0]`, in place.
fn relu_backward<L: Layout>(place: Place<'_, L>, arena: &mut [f32], y: BufferId, dy: BufferId) {
    let ([y], [dy]) = views(arena, [place.buffer(y)], [place.buffer(dy)]);
    kernels::activation::relu::backward_inplace_par(y, dy, place.par);
}

/// `dense`'s backward, the relu fused into the kernel when `relu_y` (the
/// relu's output) is given.
pub(super) fn dense<L: Layout>(
    place: Place<'_, L>,
    mem: GradMemory<'_>,
    (x, dy, dx): Buffers,
    params: (ParamId, Option<ParamId>),
    relu_y: Option<BufferId>,
    (in_features, out_features): (usize, usize),
) {
    let r = |id: BufferId| place.buffer(id);
    let (arena, par) = (mem.arena, place.par);
    let weight_values = &mem.values[place.param(params.0)];
    // A row per sample, or per position of a `[len, in]` input.
    let rows = r(x).len() / in_features.max(1);
    let (dweight, dbias) = param_grads(place, mem.grads, params);
    match (relu_y, dx) {
        (Some(y), Some(dx)) => {
            let ([x, y], [dy, dx]) = views(arena, [r(x), r(y)], [r(dy), r(dx)]);
            kernels::dense::backward_relu(
                x,
                weight_values,
                y,
                dy,
                Some(dx),
                dweight,
                dbias,
                rows,
                in_features,
                out_features,
                par,
            );
        }
        (Some(y), None) => {
            let ([x, y], [dy]) = views(arena, [r(x), r(y)], [r(dy)]);
            kernels::dense::backward_relu(
                x,
                weight_values,
                y,
                dy,
                None,
                dweight,
                dbias,
                rows,
                in_features,
                out_features,
                par,
            );
        }
        (None, Some(dx)) => {
            let ([x, dy], [dx]) = views(arena, [r(x), r(dy)], [r(dx)]);
            kernels::dense::backward(
                x,
                weight_values,
                dy,
                Some(dx),
                dweight,
                dbias,
                rows,
                in_features,
                out_features,
                par,
            );
        }
        (None, None) => {
            let ([x, dy], []) = views(arena, [r(x), r(dy)], []);
            kernels::dense::backward(
                x,
                weight_values,
                dy,
                None,
                dweight,
                dbias,
                rows,
                in_features,
                out_features,
                par,
            );
        }
    }
}

/// `conv2d`'s backward (with one group), after the fused relu's when
/// `relu_y` (the relu's output) is given.
pub(super) fn conv2d<L: Layout>(
    place: Place<'_, L>,
    mem: GradMemory<'_>,
    (x, dy, dx): Buffers,
    params: (ParamId, Option<ParamId>),
    relu_y: Option<BufferId>,
    geometry: &conv2d::Conv2dGeometry,
) {
    let r = |id: BufferId| place.buffer(id);
    let (arena, scratch, par) = (mem.arena, mem.scratch, place.par);
    if let Some(y) = relu_y {
        relu_backward(place, &mut *arena, y, dy);
    }
    let weight_values = &mem.values[place.param(params.0)];
    let (dweight, dbias) = param_grads(place, mem.grads, params);
    match dx {
        Some(dx) => {
            let ([x, dy], [dx]) = views(arena, [r(x), r(dy)], [r(dx)]);
            conv2d::conv2d_backward(
                geometry,
                x,
                weight_values,
                dy,
                Some(dx),
                dweight,
                dbias,
                scratch,
                par,
            );
        }
        None => {
            let ([x, dy], []) = views(arena, [r(x), r(dy)], []);
            conv2d::conv2d_backward(
                geometry,
                x,
                weight_values,
                dy,
                None,
                dweight,
                dbias,
                scratch,
                par,
            );
        }
    }
}

/// `conv2d`'s backward with `groups` > 1, after the fused relu's when
/// `relu_y` (the relu's output) is given.
pub(super) fn grouped_conv2d<L: Layout>(
    place: Place<'_, L>,
    mem: GradMemory<'_>,
    (x, dy, dx): Buffers,
    params: (ParamId, Option<ParamId>),
    relu_y: Option<BufferId>,
    geometry: &conv2d::GroupedConv2dGeometry,
) {
    let r = |id: BufferId| place.buffer(id);
    let (arena, scratch, par) = (mem.arena, mem.scratch, place.par);
    if let Some(y) = relu_y {
        relu_backward(place, &mut *arena, y, dy);
    }
    let weight_values = &mem.values[place.param(params.0)];
    let (dweight, dbias) = param_grads(place, mem.grads, params);
    match dx {
        Some(dx) => {
            let ([x, dy], [dx]) = views(arena, [r(x), r(dy)], [r(dx)]);
            let (w, dx) = (weight_values, Some(dx));
            conv2d::grouped_conv2d_backward(geometry, x, w, dy, dx, dweight, dbias, scratch, par);
        }
        None => {
            let ([x, dy], []) = views(arena, [r(x), r(dy)], []);
            let w = weight_values;
            conv2d::grouped_conv2d_backward(geometry, x, w, dy, None, dweight, dbias, scratch, par);
        }
    }
}
