//! Grouped convolution, PyTorch's `nn.Conv2d(groups=g)`: the channels
//! split into `g` groups, group `k`'s output channels seeing only group
//! `k`'s input channels, with a weight of `[out_channels, in_channels/g,
//! kh, kw]`.
//!
//! Two ways:
//!
//! * one input channel per group (depthwise, the common case of MobileNet
//!   blocks): the direct kernel of `super::depthwise`;
//! * otherwise the ungrouped convolution ([`super::conv2d_forward_in`] and
//!   its backward, with all their paths) per group, on the group's
//!   channels gathered into contiguous scratch: a copy of the input and the
//!   output per group, small beside the products.

use alloc::vec::Vec;

use super::{Conv2dGeometry, depthwise, grow};
use crate::threads::Threads;

/// A grouped convolution: `conv` counts every channel (`in_channels` and
/// `out_channels` of the whole layer), `groups` divides both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupedConv2dGeometry {
    pub conv: Conv2dGeometry,
    pub groups: usize,
}

impl GroupedConv2dGeometry {
    /// One group's convolution, for the same batch.
    pub fn group(&self) -> Conv2dGeometry {
        Conv2dGeometry {
            in_channels: self.conv.in_channels / self.groups,
            out_channels: self.conv.out_channels / self.groups,
            ..self.conv
        }
    }

    /// One input channel per group.
    pub fn is_depthwise(&self) -> bool {
        self.conv.in_channels == self.groups
    }

    /// Elements of the weight: `out_channels·(in_channels/groups)·kh·kw`.
    pub fn weight_len(&self) -> usize {
        self.groups * self.group().weight_len()
    }

    /// Panics with a message naming the problem unless the convolution is
    /// valid and `groups` divides both channel counts.
    pub fn validate(&self) {
        self.conv.validate();
        let (i, o, g) = (self.conv.in_channels, self.conv.out_channels, self.groups);
        assert!(
            g > 0 && i % g == 0 && o % g == 0,
            "grouped conv2d: groups {g} must divide in_channels {i} and out_channels {o}"
        );
    }

    fn check(&self, x: &[f32], weight: &[f32], bias: Option<&[f32]>, y_len: usize) {
        self.validate();
        assert_eq!(x.len(), self.conv.input_len(), "grouped conv2d: x length");
        assert_eq!(
            weight.len(),
            self.weight_len(),
            "grouped conv2d: weight length"
        );
        assert_eq!(y_len, self.conv.output_len(), "grouped conv2d: y length");
        if let Some(b) = bias {
            assert_eq!(
                b.len(),
                self.conv.out_channels,
                "grouped conv2d: bias length"
            );
        }
    }
}

/// Floats of scratch [`grouped_conv2d_forward_in`] needs on `threads` threads.
pub fn grouped_forward_scratch_len(g: &GroupedConv2dGeometry, threads: usize) -> usize {
    if g.is_depthwise() {
        return depthwise::forward_scratch_len(&g.conv, threads);
    }
    let group = g.group();
    group.input_len() + group.output_len() + super::forward_scratch_len(&group, threads)
}

/// Floats of scratch [`grouped_conv2d_backward_in`] needs on `threads`
/// threads, with or without a bias.
pub fn grouped_backward_scratch_len(
    g: &GroupedConv2dGeometry,
    has_bias: bool,
    threads: usize,
) -> usize {
    if g.is_depthwise() {
        return depthwise::backward_scratch_len(&g.conv, threads);
    }
    let group = g.group();
    2 * group.input_len()
        + group.output_len()
        + super::backward_scratch_len(&group, has_bias, threads)
}

/// `y = conv2d(x, weight, groups) + bias`; `x` `[batch, in_channels, in_h,
/// in_w]`, `weight` `[out_channels, in_channels/groups, kh, kw]`, `bias`
/// `[out_channels]`, `y` `[batch, out_channels, out_h, out_w]`
/// (overwritten). `scratch` grows to what is needed.
pub fn grouped_conv2d_forward(
    g: &GroupedConv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut Vec<f32>,
    par: &dyn Threads,
) {
    grow(scratch, grouped_forward_scratch_len(g, par.threads()));
    grouped_conv2d_forward_in(g, x, weight, bias, y, scratch, par);
}

/// [`grouped_conv2d_forward`] with caller-provided scratch of at least
/// [`grouped_forward_scratch_len`] floats, so it does not allocate.
pub fn grouped_conv2d_forward_in(
    g: &GroupedConv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    forward(g, x, weight, bias, false, y, scratch, par);
}

/// [`grouped_conv2d_forward_in`] followed by a relu (the same values as
/// `relu::forward` after it).
pub fn grouped_conv2d_relu_forward_in(
    g: &GroupedConv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    forward(g, x, weight, bias, true, y, scratch, par);
}

#[allow(clippy::too_many_arguments)]
fn forward(
    g: &GroupedConv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    g.check(x, weight, bias, y.len());
    assert!(
        scratch.len() >= grouped_forward_scratch_len(g, par.threads()),
        "grouped conv2d: scratch shorter than grouped_forward_scratch_len"
    );
    if g.conv.batch == 0 {
        return;
    }
    if g.is_depthwise() {
        return depthwise::forward(&g.conv, x, weight, bias, relu, y, scratch, par);
    }
    let group = g.group();
    let (xg, rest) = scratch.split_at_mut(group.input_len());
    let (yg, rest) = rest.split_at_mut(group.output_len());
    let (x_part, y_part) = (
        group.input_len() / g.conv.batch,
        group.output_len() / g.conv.batch,
    );
    let w_part = group.weight_len();
    let run = if relu {
        super::conv2d_relu_forward_in
    } else {
        super::conv2d_forward_in
    };
    for k in 0..g.groups {
        gather(x, x_part, g.groups, k, xg);
        let w = &weight[k * w_part..][..w_part];
        let b = bias.map(|b| &b[k * group.out_channels..][..group.out_channels]);
        run(&group, xg, w, b, yg, rest, par);
        scatter(yg, y_part, g.groups, k, y);
    }
}

/// Gradients of [`grouped_conv2d_forward`] given `dy`: `dx` (when given),
/// `dweight` and `dbias` (when given), all overwritten. `scratch` grows to
/// what is needed.
#[allow(clippy::too_many_arguments)]
pub fn grouped_conv2d_backward(
    g: &GroupedConv2dGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    scratch: &mut Vec<f32>,
    par: &dyn Threads,
) {
    g.validate();
    let need = grouped_backward_scratch_len(g, dbias.is_some(), par.threads());
    grow(scratch, need);
    grouped_conv2d_backward_in(g, x, weight, dy, dx, dweight, dbias, scratch, par);
}

/// [`grouped_conv2d_backward`] with caller-provided scratch of at least
/// [`grouped_backward_scratch_len`] floats, so it does not allocate.
#[allow(clippy::too_many_arguments)]
pub fn grouped_conv2d_backward_in(
    g: &GroupedConv2dGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    mut dbias: Option<&mut [f32]>,
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    g.check(x, weight, None, dy.len());
    assert_eq!(
        dweight.len(),
        g.weight_len(),
        "grouped conv2d: dweight length"
    );
    if let Some(dx) = &dx {
        assert_eq!(dx.len(), g.conv.input_len(), "grouped conv2d: dx length");
    }
    if let Some(db) = &dbias {
        assert_eq!(
            db.len(),
            g.conv.out_channels,
            "grouped conv2d: dbias length"
        );
    }
    let need = grouped_backward_scratch_len(g, dbias.is_some(), par.threads());
    assert!(
        scratch.len() >= need,
        "grouped conv2d: scratch of {} floats, {need} needed",
        scratch.len()
    );
    if g.is_depthwise() {
        return depthwise::backward(&g.conv, x, weight, dy, dx, dweight, dbias, scratch, par);
    }
    let group = g.group();
    if g.conv.batch == 0 {
        // The ungrouped backward zeroes its outputs for an empty batch.
        dweight.fill(0.0);
        if let Some(db) = dbias {
            db.fill(0.0);
        }
        return;
    }
    let (xg, rest) = scratch.split_at_mut(group.input_len());
    let (dxg, rest) = rest.split_at_mut(group.input_len());
    let (dyg, rest) = rest.split_at_mut(group.output_len());
    let (x_part, y_part) = (
        group.input_len() / g.conv.batch,
        group.output_len() / g.conv.batch,
    );
    let w_part = group.weight_len();
    let co = group.out_channels;
    for k in 0..g.groups {
        gather(x, x_part, g.groups, k, xg);
        gather(dy, y_part, g.groups, k, dyg);
        let w = &weight[k * w_part..][..w_part];
        let dw = &mut dweight[k * w_part..][..w_part];
        let db = dbias.as_deref_mut().map(|b| &mut b[k * co..][..co]);
        let dxg_out = dx.is_some().then_some(&mut *dxg);
        super::conv2d_backward_in(&group, xg, w, dyg, dxg_out, dw, db, rest, par);
        if let Some(dx) = dx.as_deref_mut() {
            scatter(&*dxg, x_part, g.groups, k, dx);
        }
    }
}

/// Group `k`'s part of every image of `all` (images of `groups` parts of
/// `part` floats) into `dst`, image after image.
fn gather(all: &[f32], part: usize, groups: usize, k: usize, dst: &mut [f32]) {
    let images = all.chunks_exact(groups * part);
    for (dst, image) in dst.chunks_exact_mut(part).zip(images) {
        dst.copy_from_slice(&image[k * part..][..part]);
    }
}

/// The inverse of [`gather`]: `src`'s images into group `k`'s parts of `all`.
fn scatter(src: &[f32], part: usize, groups: usize, k: usize, all: &mut [f32]) {
    let images = all.chunks_exact_mut(groups * part);
    for (image, src) in images.zip(src.chunks_exact(part)) {
        image[k * part..][..part].copy_from_slice(src);
    }
}
