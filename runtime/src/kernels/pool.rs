//! 2-D max and average pooling with PyTorch `nn.MaxPool2d` /
//! `nn.AvgPool2d` semantics (dilation 1, no `divisor_override`).
//!
//! Every (image, channel) plane is pooled independently, so the work is
//! split over planes.

use crate::kernels::conv2d::run_items;
use crate::parallel::Parallel;

/// Shapes and hyper-parameters of one pooling.
///
/// Pairs are `[height, width]`. PyTorch's `stride=None` means
/// `stride = kernel`; the caller resolves that. Padding is implicit: `-inf`
/// for max pooling, zeros for average pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dGeometry {
    pub batch: usize,
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    /// PyTorch's `ceil_mode`: round the output size up, dropping a last
    /// window that would start in the right/bottom padding.
    pub ceil_mode: bool,
}

impl Pool2dGeometry {
    /// `floor((in_h + 2·pad - k) / stride) + 1` (with `ceil_mode`, rounded up
    /// and then reduced by one if the last window starts past the input and
    /// its left padding), as PyTorch's `pooling_output_shape`.
    pub fn out_h(&self) -> usize {
        self.validate();
        out_len(
            self.in_h,
            self.kernel[0],
            self.stride[0],
            self.padding[0],
            self.ceil_mode,
        )
    }

    /// Like [`Self::out_h`] along the width.
    pub fn out_w(&self) -> usize {
        self.validate();
        out_len(
            self.in_w,
            self.kernel[1],
            self.stride[1],
            self.padding[1],
            self.ceil_mode,
        )
    }

    /// Elements of `x` / `dx`: `batch·channels·in_h·in_w`.
    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.in_h * self.in_w
    }

    /// Elements of `y` / `dy` / indices: `batch·channels·out_h·out_w`.
    pub fn output_len(&self) -> usize {
        self.batch * self.channels * self.out_h() * self.out_w()
    }

    /// Panics unless the geometry is one PyTorch accepts: positive sizes
    /// (the batch may be 0), padding at most half the kernel (so every
    /// window overlaps the input) and an output of at least 1×1.
    pub fn validate(&self) {
        assert!(
            self.channels > 0 && self.in_h > 0 && self.in_w > 0,
            "pool2d: channels and input size must be positive: {self:?}"
        );
        assert!(
            self.kernel.iter().chain(&self.stride).all(|&v| v > 0),
            "pool2d: kernel and stride must be positive: {self:?}"
        );
        assert!(
            self.padding[0] <= self.kernel[0] / 2 && self.padding[1] <= self.kernel[1] / 2,
            "pool2d: padding must be at most half the kernel: {self:?}"
        );
        assert!(
            self.in_h + 2 * self.padding[0] >= self.kernel[0]
                && self.in_w + 2 * self.padding[1] >= self.kernel[1],
            "pool2d: kernel larger than the padded input: {self:?}"
        );
    }
}

fn out_len(input: usize, kernel: usize, stride: usize, pad: usize, ceil_mode: bool) -> usize {
    let span = input + 2 * pad - kernel;
    let mut out = if ceil_mode {
        span.div_ceil(stride)
    } else {
        span / stride
    } + 1;
    if ceil_mode && (out - 1) * stride >= input + pad {
        out -= 1;
    }
    out
}

/// One output's window along one axis: `[start, end)` clipped to the input,
/// and the unclipped size PyTorch divides by with `count_include_pad`.
fn window(
    o: usize,
    input: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
) -> (usize, usize, usize) {
    // Shifted by `pad` to stay unsigned: `start + pad`, `end + pad`.
    let start = o * stride;
    let end = (start + kernel).min(input + 2 * pad);
    let lo = start.max(pad) - pad;
    let hi = end.min(input + pad) - pad;
    (lo, hi, end - start)
}

/// Planes per work item: about one item per thread, and one item in all
/// when the work is too small to pay for waking threads.
fn planes_per_item(g: &Pool2dGeometry, planes: usize, par: &Parallel) -> usize {
    // Measured with the kernels' benches: below ~64K input elements the
    // threads cost more than they save.
    const MIN_PARALLEL: usize = 1 << 16;
    if par.threads() == 1 || g.input_len() < MIN_PARALLEL {
        planes.max(1)
    } else {
        planes.div_ceil(par.threads()).max(1)
    }
}

/// Max pooling: `y` gets each window's maximum and `indices` (when given)
/// the position of that maximum within its input plane (`iy·in_w + ix`, as
/// PyTorch's `return_indices`).
///
/// Shapes: `x` `[batch, channels, in_h, in_w]`; `y` and `indices`
/// `[batch, channels, out_h, out_w]` (overwritten). Ties go to the first
/// maximum in row-major scan order; a NaN wins over numbers, as in PyTorch.
pub fn max_pool2d_forward(
    g: &Pool2dGeometry,
    x: &[f32],
    y: &mut [f32],
    indices: Option<&mut [u32]>,
    par: &Parallel,
) {
    g.validate();
    assert_eq!(x.len(), g.input_len(), "max_pool2d_forward: x length");
    assert_eq!(y.len(), g.output_len(), "max_pool2d_forward: y length");
    assert!(
        u32::try_from(g.in_h * g.in_w).is_ok(),
        "max_pool2d_forward: plane too large for u32 indices"
    );
    let (oh, ow) = (g.out_h(), g.out_w());
    let (in_plane, out_plane) = (g.in_h * g.in_w, oh * ow);
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let mut index_chunks = indices.map(|idx| {
        assert_eq!(idx.len(), y.len(), "max_pool2d_forward: indices length");
        idx.chunks_mut(per * out_plane)
    });
    let index_chunks = std::iter::from_fn(move || match &mut index_chunks {
        Some(it) => it.next().map(Some),
        None => Some(None),
    });
    let items = x
        .chunks(per * in_plane)
        .zip(y.chunks_mut(per * out_plane))
        .zip(index_chunks);
    run_items(par, items, |((xs, ys), mut idxs)| {
        for (p, (plane, out)) in xs
            .chunks_exact(in_plane)
            .zip(ys.chunks_exact_mut(out_plane))
            .enumerate()
        {
            let mut idx_out = idxs
                .as_deref_mut()
                .map(|i| &mut i[p * out_plane..][..out_plane]);
            for oy in 0..oh {
                let (y0, y1, _) = window(oy, g.in_h, g.kernel[0], g.stride[0], g.padding[0]);
                for ox in 0..ow {
                    let (x0, x1, _) = window(ox, g.in_w, g.kernel[1], g.stride[1], g.padding[1]);
                    // PyTorch starts from -inf at the window's first valid
                    // element, so an all -inf window points there.
                    let mut best = f32::NEG_INFINITY;
                    let mut best_at = y0 * g.in_w + x0;
                    for iy in y0..y1 {
                        let row = &plane[iy * g.in_w..][..g.in_w];
                        for (ix, &v) in row.iter().enumerate().take(x1).skip(x0) {
                            if v > best || v.is_nan() {
                                best = v;
                                best_at = iy * g.in_w + ix;
                            }
                        }
                    }
                    out[oy * ow + ox] = best;
                    if let Some(idx) = idx_out.as_deref_mut() {
                        idx[oy * ow + ox] = best_at as u32;
                    }
                }
            }
        }
    });
}

/// Gradient of [`max_pool2d_forward`]: each `dy` element flows to the input
/// position its `indices` entry names; overlapping windows add up.
///
/// Shapes: `dy` and `indices` `[batch, channels, out_h, out_w]`; `dx`
/// `[batch, channels, in_h, in_w]` (overwritten).
pub fn max_pool2d_backward(
    g: &Pool2dGeometry,
    dy: &[f32],
    indices: &[u32],
    dx: &mut [f32],
    par: &Parallel,
) {
    g.validate();
    assert_eq!(dy.len(), g.output_len(), "max_pool2d_backward: dy length");
    assert_eq!(
        indices.len(),
        g.output_len(),
        "max_pool2d_backward: indices length"
    );
    assert_eq!(dx.len(), g.input_len(), "max_pool2d_backward: dx length");
    let (in_plane, out_plane) = (g.in_h * g.in_w, g.out_h() * g.out_w());
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let items = dy
        .chunks(per * out_plane)
        .zip(indices.chunks(per * out_plane))
        .zip(dx.chunks_mut(per * in_plane));
    run_items(par, items, |((dys, idxs), dxs)| {
        dxs.fill(0.0);
        let planes = dys
            .chunks_exact(out_plane)
            .zip(idxs.chunks_exact(out_plane));
        for ((d_out, idx), d_in) in planes.zip(dxs.chunks_exact_mut(in_plane)) {
            for (&d, &i) in d_out.iter().zip(idx) {
                d_in[i as usize] += d;
            }
        }
    });
}

/// Average pooling: `y` gets each window's mean.
///
/// With `count_include_pad` (PyTorch's default) the divisor is the window
/// size including zero padding (still clipped by `ceil_mode`'s overhang, as
/// PyTorch); without it, only the input elements in the window count.
///
/// Shapes: `x` `[batch, channels, in_h, in_w]`; `y`
/// `[batch, channels, out_h, out_w]` (overwritten).
pub fn avg_pool2d_forward(
    g: &Pool2dGeometry,
    count_include_pad: bool,
    x: &[f32],
    y: &mut [f32],
    par: &Parallel,
) {
    g.validate();
    assert_eq!(x.len(), g.input_len(), "avg_pool2d_forward: x length");
    assert_eq!(y.len(), g.output_len(), "avg_pool2d_forward: y length");
    let (oh, ow) = (g.out_h(), g.out_w());
    let (in_plane, out_plane) = (g.in_h * g.in_w, oh * ow);
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let items = x.chunks(per * in_plane).zip(y.chunks_mut(per * out_plane));
    run_items(par, items, |(xs, ys)| {
        for (plane, out) in xs
            .chunks_exact(in_plane)
            .zip(ys.chunks_exact_mut(out_plane))
        {
            for oy in 0..oh {
                let (y0, y1, hsize) = window(oy, g.in_h, g.kernel[0], g.stride[0], g.padding[0]);
                for ox in 0..ow {
                    let (x0, x1, wsize) =
                        window(ox, g.in_w, g.kernel[1], g.stride[1], g.padding[1]);
                    let count = if count_include_pad {
                        hsize * wsize
                    } else {
                        (y1 - y0) * (x1 - x0)
                    };
                    let mut sum = 0.0f32;
                    for iy in y0..y1 {
                        sum += plane[iy * g.in_w + x0..iy * g.in_w + x1]
                            .iter()
                            .sum::<f32>();
                    }
                    out[oy * ow + ox] = sum / count as f32;
                }
            }
        }
    });
}

/// Gradient of [`avg_pool2d_forward`] (same `count_include_pad`).
///
/// Shapes: `dy` `[batch, channels, out_h, out_w]`; `dx`
/// `[batch, channels, in_h, in_w]` (overwritten).
pub fn avg_pool2d_backward(
    g: &Pool2dGeometry,
    count_include_pad: bool,
    dy: &[f32],
    dx: &mut [f32],
    par: &Parallel,
) {
    g.validate();
    assert_eq!(dy.len(), g.output_len(), "avg_pool2d_backward: dy length");
    assert_eq!(dx.len(), g.input_len(), "avg_pool2d_backward: dx length");
    let (oh, ow) = (g.out_h(), g.out_w());
    let (in_plane, out_plane) = (g.in_h * g.in_w, oh * ow);
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let items = dy
        .chunks(per * out_plane)
        .zip(dx.chunks_mut(per * in_plane));
    run_items(par, items, |(dys, dxs)| {
        dxs.fill(0.0);
        for (d_out, d_in) in dys
            .chunks_exact(out_plane)
            .zip(dxs.chunks_exact_mut(in_plane))
        {
            for oy in 0..oh {
                let (y0, y1, hsize) = window(oy, g.in_h, g.kernel[0], g.stride[0], g.padding[0]);
                for ox in 0..ow {
                    let (x0, x1, wsize) =
                        window(ox, g.in_w, g.kernel[1], g.stride[1], g.padding[1]);
                    let count = if count_include_pad {
                        hsize * wsize
                    } else {
                        (y1 - y0) * (x1 - x0)
                    };
                    let share = d_out[oy * ow + ox] / count as f32;
                    for iy in y0..y1 {
                        for d in &mut d_in[iy * g.in_w + x0..iy * g.in_w + x1] {
                            *d += share;
                        }
                    }
                }
            }
        }
    });
}
