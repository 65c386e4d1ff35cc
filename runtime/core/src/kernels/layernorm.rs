//! Layer normalization, `nn.LayerNorm`: each row of `width` values (the
//! normalized trailing dims) is shifted by its mean and scaled by
//! `1/sqrt(var + eps)` (biased variance, as PyTorch), then, with an affine
//! part, multiplied by `weight` and shifted by `bias`, both `[width]`.
//!
//! Each row is finished while it is in cache (its sums, then its outputs);
//! the sums run in `LANES` accumulators so they vectorize in a fixed
//! order, which keeps the result the same on every tier and thread count.
//! Rows are split over threads; the parameter gradients, sums over rows,
//! are split over columns instead, so no thread needs partial sums.

use super::elementwise::multiversion;
use super::reduce::{LANES, lane_sum64};
use crate::threads::{Threads, run_items, split_range};

/// Below this many elements one thread is faster than waking others (as
/// for BatchNorm).
const MIN_PARALLEL: usize = 1 << 16;

multiversion! {
    /// Normalizes the rows of `x` (`rows · width` values) into `y`; with
    /// `stats`, saves each row's mean and `1/sqrt(var + eps)` (training).
    fn forward_rows(
        x: &[f32],
        affine: (Option<&[f32]>, Option<&[f32]>),
        y: &mut [f32],
        stats: Option<(&mut [f32], &mut [f32])>,
        width: usize,
        eps: f32,
    ) {
        let (weight, bias) = affine;
        let n = width as f64;
        let mut stats = stats;
        let rows = x.chunks_exact(width).zip(y.chunks_exact_mut(width));
        for (r, (x, y)) in rows.enumerate() {
            // In f64: a row far from zero keeps its digits.
            let mean64 = lane_sum64(x, x, |a, _| a) / n;
            let var = lane_sum64(x, x, |a, _| (a - mean64) * (a - mean64)) / n;
            let rstd = (1.0 / libm::sqrt(var + eps as f64)) as f32;
            let mean = mean64 as f32;
            if let Some((means, rstds)) = &mut stats {
                means[r] = mean;
                rstds[r] = rstd;
            }
            for (y, &x) in y.iter_mut().zip(x) {
                *y = (x - mean) * rstd;
            }
            if let Some(w) = weight {
                for (y, &w) in y.iter_mut().zip(w) {
                    *y *= w;
                }
            }
            if let Some(b) = bias {
                for (y, &b) in y.iter_mut().zip(b) {
                    *y += b;
                }
            }
        }
    }
}

/// Forward over `x` and `y` of `rows · width` values; `weight` and `bias`
/// are `[width]` when the layer has them; `stats` (training) receives each
/// row's mean and `1/sqrt(var + eps)`, `rows` values each.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    x: &[f32],
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    y: &mut [f32],
    stats: Option<(&mut [f32], &mut [f32])>,
    width: usize,
    eps: f32,
    par: &dyn Threads,
) {
    assert!(
        width > 0 && x.len() == y.len() && x.len().is_multiple_of(width),
        "layernorm: lengths"
    );
    let rows = x.len() / width;
    for p in [weight, bias].into_iter().flatten() {
        assert_eq!(p.len(), width, "layernorm: weight and bias are [width]");
    }
    if let Some((m, s)) = &stats {
        assert!(
            m.len() == rows && s.len() == rows,
            "layernorm: saved statistics"
        );
    }
    let parts = parts(x.len(), rows, par);
    if parts == 1 {
        return forward_rows(x, (weight, bias), y, stats, width, eps);
    }
    // Consecutive row ranges, one per part, each with its slices.
    let (mut y_rest, mut stats_rest) = (y, stats);
    let mut part = 0;
    let chunks = core::iter::from_fn(move || {
        if part == parts {
            return None;
        }
        let range = split_range(rows, parts, part);
        part += 1;
        let (y, tail) = core::mem::take(&mut y_rest).split_at_mut(range.len() * width);
        y_rest = tail;
        let stats = stats_rest.take().map(|(m, s)| {
            let (m, m_tail) = m.split_at_mut(range.len());
            let (s, s_tail) = s.split_at_mut(range.len());
            stats_rest = Some((m_tail, s_tail));
            (m, s)
        });
        Some((range, y, stats))
    });
    run_items(par, chunks, |(range, y, stats)| {
        let x = &x[range.start * width..range.end * width];
        forward_rows(x, (weight, bias), y, stats, width, eps);
    });
}

multiversion! {
    /// `dx` of the rows: with `g = dy · weight` and `x̂ = (x - mean) · rstd`,
    /// `dx = rstd · (g - mean(g) - x̂ · mean(g · x̂))`.
    fn backward_rows(
        x: &[f32],
        weight: Option<&[f32]>,
        dy: &[f32],
        stats: (&[f32], &[f32]),
        dx: &mut [f32],
        width: usize,
    ) {
        let (mean, rstd) = stats;
        let n = width as f64;
        let rows = x.chunks_exact(width).zip(dy.chunks_exact(width));
        for (r, ((x, dy), dx)) in rows.zip(dx.chunks_exact_mut(width)).enumerate() {
            let (m, s) = (mean[r], rstd[r]);
            // `dx` holds `g` first.
            match weight {
                Some(w) => {
                    for ((g, &d), &w) in dx.iter_mut().zip(dy).zip(w) {
                        *g = d * w;
                    }
                }
                None => dx.copy_from_slice(dy),
            }
            let (m64, s64) = (m as f64, s as f64);
            let g_mean = (lane_sum64(dx, dx, |g, _| g) / n) as f32;
            let gx_mean = (lane_sum64(dx, x, |g, x| g * ((x - m64) * s64)) / n) as f32;
            for (g, &x) in dx.iter_mut().zip(x) {
                *g = s * (*g - g_mean - (x - m) * s * gx_mean);
            }
        }
    }
}

multiversion! {
    /// The parameter gradients over the columns `c0..c0 + dweight.len()`:
    /// `dweight = Σ_rows dy · x̂`, `dbias = Σ_rows dy`, rows in order.
    fn param_grads_columns(
        x: &[f32],
        dy: &[f32],
        stats: (&[f32], &[f32]),
        grads: (&mut [f32], Option<&mut [f32]>),
        width: usize,
        c0: usize,
    ) {
        let ((mean, rstd), (dweight, dbias)) = (stats, grads);
        let cols = c0..c0 + dweight.len();
        dweight.fill(0.0);
        let rows = x.chunks_exact(width).zip(dy.chunks_exact(width));
        for (r, (x, dy)) in rows.enumerate() {
            let (m, s) = (mean[r], rstd[r]);
            let (x, dy) = (&x[cols.clone()], &dy[cols.clone()]);
            for ((dw, &x), &d) in dweight.iter_mut().zip(x).zip(dy) {
                *dw += d * ((x - m) * s);
            }
        }
        if let Some(dbias) = dbias {
            dbias.fill(0.0);
            for dy in dy.chunks_exact(width) {
                for (db, &d) in dbias.iter_mut().zip(&dy[cols.clone()]) {
                    *db += d;
                }
            }
        }
    }
}

/// Backward of [`forward`] from the saved statistics, overwriting its
/// outputs: `dx` when wanted, and `(dweight, dbias)` when the layer has
/// them (`dbias` too only with a bias).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    weight: Option<&[f32]>,
    dy: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dx: Option<&mut [f32]>,
    grads: Option<(&mut [f32], Option<&mut [f32]>)>,
    width: usize,
    par: &dyn Threads,
) {
    assert!(
        width > 0 && x.len() == dy.len() && x.len().is_multiple_of(width),
        "layernorm: lengths"
    );
    let rows = x.len() / width;
    assert!(
        mean.len() == rows && rstd.len() == rows,
        "layernorm: saved statistics"
    );
    let parts = parts(x.len(), rows, par);
    if let Some(dx) = dx {
        assert_eq!(dx.len(), x.len(), "layernorm: dx length");
        if parts == 1 {
            backward_rows(x, weight, dy, (mean, rstd), dx, width);
        } else {
            let mut rest = dx;
            let mut part = 0;
            let chunks = core::iter::from_fn(move || {
                if part == parts {
                    return None;
                }
                let range = split_range(rows, parts, part);
                part += 1;
                let (dx, tail) = core::mem::take(&mut rest).split_at_mut(range.len() * width);
                rest = tail;
                Some((range, dx))
            });
            run_items(par, chunks, |(range, dx)| {
                let (x, dy) = (&x[range.start * width..], &dy[range.start * width..]);
                let (m, s) = (&mean[range.clone()], &rstd[range.clone()]);
                backward_rows(x, weight, dy, (m, s), dx, width);
            });
        }
    }
    let Some((dweight, dbias)) = grads else {
        return;
    };
    assert_eq!(dweight.len(), width, "layernorm: dweight length");
    // Column blocks of whole cache lines, one per thread.
    let col_parts = if parts == 1 {
        1
    } else {
        parts.min(width.div_ceil(LANES))
    };
    if col_parts == 1 {
        return param_grads_columns(x, dy, (mean, rstd), (dweight, dbias), width, 0);
    }
    let (mut w_rest, mut b_rest) = (dweight, dbias);
    let mut part = 0;
    let chunks = core::iter::from_fn(move || {
        if part == col_parts {
            return None;
        }
        let r = crate::threads::split_range_aligned(width, col_parts, part, LANES);
        part += 1;
        let (w, tail) = core::mem::take(&mut w_rest).split_at_mut(r.len());
        w_rest = tail;
        let b = b_rest.take().map(|b| {
            let (b, tail) = b.split_at_mut(r.len());
            b_rest = Some(tail);
            b
        });
        Some((r.start, w, b))
    });
    run_items(par, chunks, |(c0, w, b)| {
        param_grads_columns(x, dy, (mean, rstd), (w, b), width, c0);
    });
}

/// How many parts to split `rows` into: one per thread for large inputs.
fn parts(len: usize, rows: usize, par: &dyn Threads) -> usize {
    if len >= MIN_PARALLEL {
        par.threads().min(rows).max(1)
    } else {
        1
    }
}
