//! 2-D max and average pooling with PyTorch `nn.MaxPool2d` /
//! `nn.AvgPool2d` semantics (dilation 1, no `divisor_override`).
//!
//! Every (image, channel) plane is pooled independently, so the work is
//! split over planes.
//!
//! Two loop orders. With a narrow kernel and a wide output (the common 2×2
//! or 3×3 pooling of a feature map) the window positions are the outer
//! loops and a row of outputs the inner one, which vectorizes and has no
//! data-dependent branches; with few outputs per row (global pooling) each
//! output scans its own window.

use crate::kernels::conv2d::run_items;
use crate::kernels::elementwise::multiversion;
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
    // Below this many input elements a whole pooling takes a few tens of
    // microseconds at most (a 2×2 max pool of 64K elements about 10-20),
    // too little to gain from a second thread.
    const MIN_PARALLEL: usize = 1 << 16;
    if par.threads() == 1 || g.input_len() < MIN_PARALLEL {
        planes.max(1)
    } else {
        planes.div_ceil(par.threads()).max(1)
    }
}

/// Kernel columns up to this width get their output spans precomputed and
/// use the row-wise loop order.
const MAX_SPANS: usize = 16;

/// Rows narrower than these use the per-output loop order (measured on
/// 2×2 stride-2 pooling: the row order wins from 8 outputs for max, 16 for
/// the average's forward and 4 for its backward).
const MIN_ROW_MAX: usize = 8;
const MIN_ROW_AVG: usize = 16;
const MIN_ROW_AVG_BACKWARD: usize = 4;

/// Outputs handled per inner-loop block (the gather buffer's size).
const ROW_BLOCK: usize = 64;

/// Rows wider than this use the per-output loop order (so a row's
/// divisors and gradient shares fit a stack buffer).
const MAX_ROW: usize = 1024;

/// For each kernel column `kx`, the outputs of a row whose input column
/// `ox·stride + kx - pad` lies inside the input, as a half-open range.
/// `None` when the per-output loop order suits the geometry better: rows
/// shorter than `min_row` or wider than [`MAX_ROW`], wide kernels.
fn column_spans(g: &Pool2dGeometry, min_row: usize) -> Option<[(usize, usize); MAX_SPANS]> {
    let ow = g.out_w();
    if g.kernel[1] > MAX_SPANS || !(min_row..=MAX_ROW).contains(&ow) {
        return None;
    }
    let mut spans = [(0, 0); MAX_SPANS];
    for (kx, span) in spans.iter_mut().enumerate().take(g.kernel[1]) {
        *span = valid_outputs(ow, g.in_w, g.stride[1], g.padding[1], kx);
    }
    Some(spans)
}

/// The outputs `o` in `0..out` whose input coordinate `o·stride + offset - pad`
/// lies in `0..input`, as a half-open range.
fn valid_outputs(
    out: usize,
    input: usize,
    stride: usize,
    pad: usize,
    offset: usize,
) -> (usize, usize) {
    let lo = pad.saturating_sub(offset).div_ceil(stride).min(out);
    let hi = (input + pad)
        .saturating_sub(offset)
        .div_ceil(stride)
        .clamp(lo, out);
    (lo, hi)
}

/// The values `row[j·stride]` for `j` in `0..n` (`n <= ROW_BLOCK`) as a
/// contiguous slice: the row itself for stride 1, else copied into `buf`,
/// so the loops over them have no strided loads and vectorize.
#[inline(always)]
fn gather<'a>(row: &'a [f32], n: usize, stride: usize, buf: &'a mut [f32; ROW_BLOCK]) -> &'a [f32] {
    if stride == 1 {
        return &row[..n];
    }
    for (d, &v) in buf.iter_mut().zip(row.iter().step_by(stride)).take(n) {
        *d = v;
    }
    &buf[..n]
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
    let (in_plane, out_plane) = (g.in_h * g.in_w, g.out_h() * g.out_w());
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
    let spans = column_spans(g, MIN_ROW_MAX);
    // The most common pooling of all gets its own loop.
    let halving = g.kernel == [2, 2]
        && g.stride == [2, 2]
        && g.padding == [0, 0]
        && 2 * g.out_h() <= g.in_h
        && 2 * g.out_w() <= g.in_w;
    run_items(par, items, |((xs, ys), mut idxs)| {
        let planes = xs
            .chunks_exact(in_plane)
            .zip(ys.chunks_exact_mut(out_plane));
        for (p, (plane, out)) in planes.enumerate() {
            let idx = idxs
                .as_deref_mut()
                .map(|i| &mut i[p * out_plane..][..out_plane]);
            match &spans {
                _ if halving => max_pool_2x2(g, plane, out, idx),
                Some(spans) => max_pool_rows(g, spans, plane, out, idx),
                None => max_pool_windows(g, plane, out, idx),
            }
        }
    });
}

/// Max pooling of one plane, one output at a time.
fn max_pool_windows(
    g: &Pool2dGeometry,
    plane: &[f32],
    out: &mut [f32],
    mut idx: Option<&mut [u32]>,
) {
    let (w, ow) = (g.in_w, g.out_w());
    for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
        let (y0, y1, _) = window(oy, g.in_h, g.kernel[0], g.stride[0], g.padding[0]);
        for (ox, o) in out_row.iter_mut().enumerate() {
            let (x0, x1, _) = window(ox, w, g.kernel[1], g.stride[1], g.padding[1]);
            // PyTorch starts from -inf at the window's first valid element,
            // so an all -inf window points there.
            let mut best = f32::NEG_INFINITY;
            let mut best_at = y0 * w + x0;
            for iy in y0..y1 {
                for (ix, &v) in plane[iy * w + x0..iy * w + x1].iter().enumerate() {
                    if v > best || v.is_nan() {
                        best = v;
                        best_at = iy * w + x0 + ix;
                    }
                }
            }
            *o = best;
            if let Some(idx) = idx.as_deref_mut() {
                idx[oy * ow + ox] = best_at as u32;
            }
        }
    }
}

multiversion! {
    /// Max pooling of one plane, window positions outside and a row of
    /// outputs inside: each output still sees its window in row-major order
    /// (so ties resolve as in PyTorch), and the compare-and-select over a
    /// row vectorizes (as scalar code the selects became mispredicted
    /// branches). Compiled for AVX-512 too, where they become masked
    /// vector operations.
    fn max_pool_rows(
        g: &Pool2dGeometry,
        spans: &[(usize, usize); MAX_SPANS],
        plane: &[f32],
        out: &mut [f32],
        idx: Option<&mut [u32]>,
    ) {
        let mut idx = idx;
        let (w, ow) = (g.in_w, g.out_w());
        let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel, g.stride, g.padding);
        let mut buf = [0.0f32; ROW_BLOCK];
        for (oy, best_row) in out.chunks_exact_mut(ow).enumerate() {
            let (y0, y1, _) = window(oy, g.in_h, kh, sh, ph);
            best_row.fill(f32::NEG_INFINITY);
            let mut at_row = idx.as_deref_mut().map(|i| &mut i[oy * ow..][..ow]);
            if let Some(at) = at_row.as_deref_mut() {
                // The window's first valid element, as in the per-output order.
                for (ox, a) in at.iter_mut().enumerate() {
                    *a = (y0 * w + window(ox, w, kw, sw, pw).0) as u32;
                }
            }
            for iy in y0..y1 {
                let row = &plane[iy * w..][..w];
                for (kx, &(lo, hi)) in spans.iter().enumerate().take(kw) {
                    for start in (lo..hi).step_by(ROW_BLOCK) {
                        let n = ROW_BLOCK.min(hi - start);
                        let ix0 = start * sw + kx - pw;
                        let values = gather(&row[ix0..], n, sw, &mut buf);
                        let best = &mut best_row[start..start + n];
                        match at_row.as_deref_mut() {
                            Some(at) => {
                                let at = &mut at[start..start + n];
                                let first = (iy * w + ix0) as u32;
                                let lanes = best.iter_mut().zip(at.iter_mut()).zip(values);
                                for (j, ((b, a), &v)) in lanes.enumerate() {
                                    let take = (v > *b) | v.is_nan();
                                    *b = if take { v } else { *b };
                                    *a = if take { first + (j * sw) as u32 } else { *a };
                                }
                            }
                            None => {
                                for (b, &v) in best.iter_mut().zip(values) {
                                    let take = (v > *b) | v.is_nan();
                                    *b = if take { v } else { *b };
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

multiversion! {
    /// Max pooling of one plane with 2×2 windows, stride 2, no padding and
    /// no partial windows: each output reads two pairs, so the loop needs no
    /// gathers and vectorizes. Starting from the first element equals
    /// PyTorch's start from -inf at the first element's index.
    fn max_pool_2x2(g: &Pool2dGeometry, plane: &[f32], out: &mut [f32], idx: Option<&mut [u32]>) {
        let mut idx = idx;
        let (w, ow) = (g.in_w, g.out_w());
        for (oy, best_row) in out.chunks_exact_mut(ow).enumerate() {
            let top = plane[2 * oy * w..][..2 * ow].as_chunks::<2>().0;
            let bottom = plane[(2 * oy + 1) * w..][..2 * ow].as_chunks::<2>().0;
            let windows = best_row.iter_mut().zip(top.iter().zip(bottom));
            match idx.as_deref_mut() {
                Some(idx) => {
                    let at_row = &mut idx[oy * ow..][..ow];
                    let first = (2 * oy * w) as u32;
                    let w = w as u32;
                    for (ox, ((b, a), (t, u))) in windows.zip(at_row).map(|((b, q), a)| ((b, a), q)).enumerate() {
                        let base = first + 2 * ox as u32;
                        let (mut m, mut i) = (t[0], base);
                        for (v, at) in [(t[1], base + 1), (u[0], base + w), (u[1], base + w + 1)] {
                            let take = (v > m) | v.is_nan();
                            m = if take { v } else { m };
                            i = if take { at } else { i };
                        }
                        *b = m;
                        *a = i;
                    }
                }
                None => {
                    for (b, (t, u)) in windows {
                        let mut m = t[0];
                        for v in [t[1], u[0], u[1]] {
                            let take = (v > m) | v.is_nan();
                            m = if take { v } else { m };
                        }
                        *b = m;
                    }
                }
            }
        }
    }
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

/// The divisor of output `(oy, ox)`'s mean given its row window
/// `(y0, y1, hsize)` from [`window`].
#[inline(always)]
fn divisor(
    g: &Pool2dGeometry,
    count_include_pad: bool,
    rows: (usize, usize, usize),
    ox: usize,
) -> f32 {
    let (x0, x1, wsize) = window(ox, g.in_w, g.kernel[1], g.stride[1], g.padding[1]);
    let (y0, y1, hsize) = rows;
    let count = if count_include_pad {
        hsize * wsize
    } else {
        (y1 - y0) * (x1 - x0)
    };
    count as f32
}

/// The outputs of a row whose window lies wholly inside the input columns,
/// where the divisor is the same for all: only the few border outputs need
/// [`divisor`] (whose integer arithmetic dominated a vectorized row).
fn interior_columns(g: &Pool2dGeometry) -> (usize, usize) {
    let (ow, [_, k], [_, s], [_, p]) = (g.out_w(), g.kernel, g.stride, g.padding);
    let lo = p.div_ceil(s).min(ow);
    let hi = if g.in_w + p >= k {
        (g.in_w + p - k) / s + 1
    } else {
        0
    };
    (lo, hi.clamp(lo, ow))
}

/// `f(ox, divisor)` for every output of a row, cheaply in the interior.
#[inline(always)]
fn for_each_divisor(
    g: &Pool2dGeometry,
    count_include_pad: bool,
    rows: (usize, usize, usize),
    interior: (usize, usize),
    mut f: impl FnMut(usize, f32),
) {
    let ow = g.out_w();
    let inside = if count_include_pad {
        rows.2
    } else {
        rows.1 - rows.0
    };
    let inside = (inside * g.kernel[1]) as f32;
    for ox in (0..interior.0).chain(interior.1..ow) {
        f(ox, divisor(g, count_include_pad, rows, ox));
    }
    for ox in interior.0..interior.1 {
        f(ox, inside);
    }
}

/// Average pooling: `y` gets each window's mean.
///
/// With `count_include_pad` (PyTorch's default) the divisor is the window
/// size including zero padding (still clipped by `ceil_mode`'s overhang, as
/// PyTorch); without it, only the input elements in the window count.
/// Each window is summed in row-major order, as PyTorch's CPU kernel.
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
    let (ow, w) = (g.out_w(), g.in_w);
    let (in_plane, out_plane) = (g.in_h * w, g.out_h() * ow);
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let items = x.chunks(per * in_plane).zip(y.chunks_mut(per * out_plane));
    let spans = column_spans(g, MIN_ROW_AVG);
    let interior = interior_columns(g);
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel, g.stride, g.padding);
    run_items(par, items, |(xs, ys)| {
        let mut buf = [0.0f32; ROW_BLOCK];
        for (plane, out) in xs
            .chunks_exact(in_plane)
            .zip(ys.chunks_exact_mut(out_plane))
        {
            for (oy, sums) in out.chunks_exact_mut(ow).enumerate() {
                let rows = window(oy, g.in_h, kh, sh, ph);
                let Some(spans) = &spans else {
                    for (ox, s) in sums.iter_mut().enumerate() {
                        let (x0, x1, _) = window(ox, w, kw, sw, pw);
                        let mut sum = 0.0f32;
                        for iy in rows.0..rows.1 {
                            for &v in &plane[iy * w + x0..iy * w + x1] {
                                sum += v;
                            }
                        }
                        *s = sum / divisor(g, count_include_pad, rows, ox);
                    }
                    continue;
                };
                sums.fill(0.0);
                for iy in rows.0..rows.1 {
                    let row = &plane[iy * w..][..w];
                    for (kx, &(lo, hi)) in spans.iter().enumerate().take(kw) {
                        for start in (lo..hi).step_by(ROW_BLOCK) {
                            let n = ROW_BLOCK.min(hi - start);
                            let values = gather(&row[start * sw + kx - pw..], n, sw, &mut buf);
                            for (s, &v) in sums[start..start + n].iter_mut().zip(values) {
                                *s += v;
                            }
                        }
                    }
                }
                for_each_divisor(g, count_include_pad, rows, interior, |ox, d| sums[ox] /= d);
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
    let (ow, w) = (g.out_w(), g.in_w);
    let (in_plane, out_plane) = (g.in_h * w, g.out_h() * ow);
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let items = dy
        .chunks(per * out_plane)
        .zip(dx.chunks_mut(per * in_plane));
    let spans = column_spans(g, MIN_ROW_AVG_BACKWARD);
    let interior = interior_columns(g);
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel, g.stride, g.padding);
    run_items(par, items, |(dys, dxs)| {
        dxs.fill(0.0);
        // Holds one output row's shares (`column_spans` is `None` for rows
        // wider than MAX_ROW).
        let mut shares = [0.0f32; MAX_ROW];
        for (d_out, d_in) in dys
            .chunks_exact(out_plane)
            .zip(dxs.chunks_exact_mut(in_plane))
        {
            for (oy, d_row) in d_out.chunks_exact(ow).enumerate() {
                let rows = window(oy, g.in_h, kh, sh, ph);
                let Some(spans) = &spans else {
                    for (ox, &d) in d_row.iter().enumerate() {
                        let (x0, x1, _) = window(ox, w, kw, sw, pw);
                        let share = d / divisor(g, count_include_pad, rows, ox);
                        for iy in rows.0..rows.1 {
                            for v in &mut d_in[iy * w + x0..iy * w + x1] {
                                *v += share;
                            }
                        }
                    }
                    continue;
                };
                // Shares for the whole row first, then scattered into the
                // inputs window position by window position.
                for_each_divisor(g, count_include_pad, rows, interior, |ox, d| {
                    shares[ox] = d_row[ox] / d;
                });
                for iy in rows.0..rows.1 {
                    let row = &mut d_in[iy * w..][..w];
                    for (kx, &(lo, hi)) in spans.iter().enumerate().take(kw) {
                        if lo == hi {
                            continue;
                        }
                        let targets = row[lo * sw + kx - pw..].iter_mut().step_by(sw);
                        for (t, &s) in targets.zip(&shares[lo..hi]) {
                            *t += s;
                        }
                    }
                }
            }
        }
    });
}
