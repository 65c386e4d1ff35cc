//! Depthwise convolution (`groups == in_channels`): every input channel is
//! its own group and gives `multiplier = out_channels / in_channels`
//! output channels, output channel `c·multiplier + j` reading input channel
//! `c` only.
//!
//! A group's matrix product would have `K = kh·kw` (9 for a 3×3 kernel):
//! far too short for a gemm to pay its packing, so this module computes
//! the convolution directly. Each input plane is padded once into scratch;
//! an output row is then `Σ taps w·(a shifted row of the padded plane)`,
//! a contiguous multiply-add over the row for stride 1, which the compiler
//! vectorizes (the loops are compiled per kernel tier with
//! `multiversion!`; Rust neither reassociates nor fuses the multiply-adds,
//! so every tier gives the same bits).
//!
//! Work is split over planes (forward, input gradient: each output plane
//! is written by one thread) and over channels (weight and bias gradients:
//! each channel sums its whole batch in a fixed order), so results do not
//! depend on the thread count.

use super::Conv2dGeometry;
use super::backward::{optional_chunks, sum_f64};
use crate::kernels::elementwise::multiversion;
use crate::threads::{Threads, run_items_with};

/// Items per thread: more than one, so a slowed thread leaves its
/// remaining items to the others (as the im2col path's batch split does).
const ITEMS_PER_WORKER: usize = 4;

/// The depthwise view of `g` (whose `in_channels` groups each have one
/// input channel).
#[derive(Clone, Copy)]
struct Depthwise {
    /// Output channels per input channel.
    multiplier: usize,
    /// Padded plane height and width.
    hp: usize,
    wp: usize,
    oh: usize,
    ow: usize,
    /// Taps per output channel: `kh·kw`.
    taps: usize,
}

impl Depthwise {
    fn of(g: &Conv2dGeometry) -> Self {
        Depthwise {
            multiplier: g.out_channels / g.in_channels,
            hp: g.in_h + 2 * g.padding[0],
            wp: g.in_w + 2 * g.padding[1],
            oh: g.out_h(),
            ow: g.out_w(),
            taps: g.kernel[0] * g.kernel[1],
        }
    }

    fn padded_len(&self) -> usize {
        self.hp * self.wp
    }

    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

fn workers(items: usize, threads: usize) -> usize {
    threads.clamp(1, items.max(1))
}

/// Floats of scratch [`forward`] needs: a padded plane per worker.
pub(super) fn forward_scratch_len(g: &Conv2dGeometry, threads: usize) -> usize {
    let d = Depthwise::of(g);
    workers(g.batch * g.in_channels, threads) * d.padded_len()
}

/// Floats of scratch [`backward`] needs: per worker, a padded plane and
/// the weight gradient's row sums (`multiplier·kh·kw` rows of `out_w`).
pub(super) fn backward_scratch_len(g: &Conv2dGeometry, threads: usize) -> usize {
    let d = Depthwise::of(g);
    let planes = g.batch * g.in_channels;
    workers(planes.max(g.in_channels), threads) * per_worker_backward(&d)
}

fn per_worker_backward(d: &Depthwise) -> usize {
    d.padded_len() + d.multiplier * d.taps * d.ow
}

/// `y = conv(x, weight) + bias`, then a relu when `relu`; shapes as
/// [`super::conv2d_forward`] with a weight of `[out_channels, 1, kh, kw]`.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    let d = Depthwise::of(g);
    let planes = g.batch * g.in_channels;
    if planes == 0 {
        return;
    }
    let in_plane = g.in_h * g.in_w;
    let out_planes = d.multiplier * d.out_plane();
    let workers = workers(planes, par.threads());
    let per = planes.div_ceil(workers * ITEMS_PER_WORKER).max(1);
    assert!(
        scratch.len() >= workers * d.padded_len(),
        "depthwise conv2d: scratch shorter than forward_scratch_len"
    );
    let items = x
        .chunks(per * in_plane)
        .zip(y.chunks_mut(per * out_planes))
        .enumerate();
    let buffers = scratch.chunks_mut(d.padded_len()).take(workers);
    run_items_with(par, items, buffers, |(item, (xs, ys)), padded| {
        let planes = xs
            .chunks_exact(in_plane)
            .zip(ys.chunks_exact_mut(out_planes));
        for (k, (xn, yn)) in planes.enumerate() {
            let c = (item * per + k) % g.in_channels;
            pad(g, &d, xn, padded);
            for (j, out) in yn.chunks_exact_mut(d.out_plane()).enumerate() {
                let co = c * d.multiplier + j;
                let taps = &weight[co * d.taps..][..d.taps];
                let b = bias.map_or(0.0, |b| b[co]);
                let shape = PlaneShape::of(g, &d);
                plane_forward(padded, taps, shape, b, relu, out);
            }
        }
    });
}

/// The gradients of [`forward`] (without its relu, which the caller
/// applied to `dy`): `dx` when given, `dweight`, `dbias` when given, all
/// overwritten.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    let d = Depthwise::of(g);
    let shape = PlaneShape::of(g, &d);
    let in_plane = g.in_h * g.in_w;
    let out_planes = d.multiplier * d.out_plane();
    let per_worker = per_worker_backward(&d);
    let planes = g.batch * g.in_channels;
    assert!(
        scratch.len() >= workers(planes.max(g.in_channels), par.threads()) * per_worker,
        "depthwise conv2d: scratch shorter than backward_scratch_len"
    );

    // The input gradient, plane by plane: scatter every output plane of
    // the channel into a padded plane, then crop it.
    if let Some(dx) = dx
        && planes > 0
    {
        let workers = workers(planes, par.threads());
        let per = planes.div_ceil(workers * ITEMS_PER_WORKER).max(1);
        let items = dx
            .chunks_mut(per * in_plane)
            .zip(dy.chunks(per * out_planes))
            .enumerate();
        let buffers = scratch.chunks_mut(per_worker).take(workers);
        run_items_with(par, items, buffers, |(item, (dxs, dys)), buf| {
            let padded = &mut buf[..d.padded_len()];
            let planes = dxs
                .chunks_exact_mut(in_plane)
                .zip(dys.chunks_exact(out_planes));
            for (k, (dxn, dyn_)) in planes.enumerate() {
                let c = (item * per + k) % g.in_channels;
                padded.fill(0.0);
                for (j, dyp) in dyn_.chunks_exact(d.out_plane()).enumerate() {
                    let taps = &weight[(c * d.multiplier + j) * d.taps..][..d.taps];
                    plane_backward_input(dyp, taps, shape, padded);
                }
                crop(g, &d, padded, dxn);
            }
        });
    }

    // The weight and bias gradients, channel by channel over the batch.
    let channels = g.in_channels;
    let workers = workers(channels, par.threads());
    let w_per_channel = d.multiplier * d.taps;
    let bias_chunks = optional_chunks(dbias, d.multiplier);
    let items = dweight
        .chunks_mut(w_per_channel)
        .zip(bias_chunks)
        .enumerate();
    let buffers = scratch.chunks_mut(per_worker).take(workers);
    run_items_with(par, items, buffers, |(c, (dw, db)), buf| {
        let (padded, sums) = buf.split_at_mut(d.padded_len());
        let sums = &mut sums[..w_per_channel * d.ow];
        sums.fill(0.0);
        for n in 0..g.batch {
            let plane = n * channels + c;
            pad(g, &d, &x[plane * in_plane..][..in_plane], padded);
            let dyn_ = &dy[plane * out_planes..][..out_planes];
            for (j, dyp) in dyn_.chunks_exact(d.out_plane()).enumerate() {
                let rows = &mut sums[j * d.taps * d.ow..][..d.taps * d.ow];
                plane_backward_weight(dyp, padded, shape, rows);
            }
        }
        for (w, row) in dw.iter_mut().zip(sums.chunks_exact(d.ow)) {
            *w = row.iter().map(|&v| v as f64).sum::<f64>() as f32;
        }
        if let Some(db) = db {
            for (j, b) in db.iter_mut().enumerate() {
                let plane = |n: usize| (n * channels + c) * d.multiplier + j;
                let planes = (0..g.batch).map(|n| &dy[plane(n) * d.out_plane()..][..d.out_plane()]);
                *b = planes.map(sum_f64).sum::<f64>() as f32;
            }
        }
    });
}

/// What the per-plane loops need of the geometry.
#[derive(Clone, Copy)]
struct PlaneShape {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    wp: usize,
    ow: usize,
}

impl PlaneShape {
    fn of(g: &Conv2dGeometry, d: &Depthwise) -> Self {
        PlaneShape {
            kernel: g.kernel,
            stride: g.stride,
            dilation: g.dilation,
            wp: d.wp,
            ow: d.ow,
        }
    }
}

/// Copies plane `x` `[in_h, in_w]` into `padded` `[hp, wp]`, zeros around.
fn pad(g: &Conv2dGeometry, d: &Depthwise, x: &[f32], padded: &mut [f32]) {
    let [ph, pw] = g.padding;
    let padded = &mut padded[..d.padded_len()];
    padded[..ph * d.wp].fill(0.0);
    padded[(ph + g.in_h) * d.wp..].fill(0.0);
    let rows = padded[ph * d.wp..(ph + g.in_h) * d.wp].chunks_exact_mut(d.wp);
    for (row, src) in rows.zip(x.chunks_exact(g.in_w)) {
        row[..pw].fill(0.0);
        row[pw..pw + g.in_w].copy_from_slice(src);
        row[pw + g.in_w..].fill(0.0);
    }
}

/// The inner part of `padded` into plane `dx` `[in_h, in_w]`.
fn crop(g: &Conv2dGeometry, d: &Depthwise, padded: &[f32], dx: &mut [f32]) {
    let [ph, pw] = g.padding;
    let rows = padded[ph * d.wp..].chunks_exact(d.wp);
    for (dst, row) in dx.chunks_exact_mut(g.in_w).zip(rows) {
        dst.copy_from_slice(&row[pw..pw + g.in_w]);
    }
}

multiversion! {
    /// One output plane: `out[oy][ox] = bias + Σ_(i,j) taps[i][j] ·
    /// padded[oy·sh + i·dh][ox·sw + j·dw]`, taps in row-major order, then
    /// `max(·, 0)` when `relu` (negatives to 0, NaN kept, as `relu::forward`).
    fn plane_forward(padded: &[f32], taps: &[f32], s: PlaneShape, bias: f32, relu: bool, out: &mut [f32]) {
        let ([kh, kw], [sh, sw], [dh, dw]) = (s.kernel, s.stride, s.dilation);
        for (oy, row) in out.chunks_exact_mut(s.ow).enumerate() {
            row.fill(bias);
            for i in 0..kh {
                let src = &padded[(oy * sh + i * dh) * s.wp..][..s.wp];
                for j in 0..kw {
                    let t = taps[i * kw + j];
                    let src = &src[j * dw..];
                    if sw == 1 {
                        for (o, &v) in row.iter_mut().zip(&src[..s.ow]) {
                            *o += t * v;
                        }
                    } else {
                        for (o, &v) in row.iter_mut().zip(src.iter().step_by(sw)) {
                            *o += t * v;
                        }
                    }
                }
            }
            if relu {
                for o in row.iter_mut() {
                    *o = if *o < 0.0 { 0.0 } else { *o };
                }
            }
        }
    }
}

multiversion! {
    /// The adjoint of [`plane_forward`] for one output plane's gradient
    /// `dy`: `padded[oy·sh + i·dh][ox·sw + j·dw] += taps[i][j] · dy[oy][ox]`.
    fn plane_backward_input(dy: &[f32], taps: &[f32], s: PlaneShape, padded: &mut [f32]) {
        let ([kh, kw], [sh, sw], [dh, dw]) = (s.kernel, s.stride, s.dilation);
        for (oy, row) in dy.chunks_exact(s.ow).enumerate() {
            for i in 0..kh {
                let dst = &mut padded[(oy * sh + i * dh) * s.wp..][..s.wp];
                for j in 0..kw {
                    let t = taps[i * kw + j];
                    let dst = &mut dst[j * dw..];
                    if sw == 1 {
                        for (o, &g) in dst[..s.ow].iter_mut().zip(row) {
                            *o += t * g;
                        }
                    } else {
                        for (o, &g) in dst.iter_mut().step_by(sw).zip(row) {
                            *o += t * g;
                        }
                    }
                }
            }
        }
    }
}

multiversion! {
    /// Adds one image's weight-gradient terms for one output channel to
    /// `rows` (`kh·kw` rows of `out_w` partial sums, one lane per output
    /// column, so the loop vectorizes without reassociating a sum):
    /// `rows[i·kw + j][ox] += Σ_oy dy[oy][ox] · padded[oy·sh + i·dh][ox·sw + j·dw]`.
    fn plane_backward_weight(dy: &[f32], padded: &[f32], s: PlaneShape, rows: &mut [f32]) {
        let ([kh, kw], [sh, sw], [dh, dw]) = (s.kernel, s.stride, s.dilation);
        for (oy, g) in dy.chunks_exact(s.ow).enumerate() {
            for i in 0..kh {
                let src = &padded[(oy * sh + i * dh) * s.wp..][..s.wp];
                for j in 0..kw {
                    let acc = &mut rows[(i * kw + j) * s.ow..][..s.ow];
                    let src = &src[j * dw..];
                    if sw == 1 {
                        for ((a, &g), &v) in acc.iter_mut().zip(g).zip(&src[..s.ow]) {
                            *a += g * v;
                        }
                    } else {
                        for ((a, &g), &v) in acc.iter_mut().zip(g).zip(src.iter().step_by(sw)) {
                            *a += g * v;
                        }
                    }
                }
            }
        }
    }
}
