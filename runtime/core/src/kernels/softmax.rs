//! Softmax over one axis of a tensor viewed as `[outer, axis_len, inner]`
//! (`torch.softmax(x, dim)`: `outer` is the product of the dimensions before
//! `dim`, `inner` of those after it).

use super::elementwise::{exp, multiversion};

multiversion! {
    /// `y = exp(x - max) / Σ exp(x - max)` along the axis; `x`, `y` are
    /// `[outer, axis_len, inner]`. Subtracting the maximum keeps `exp` finite.
    pub fn forward(x: &[f32], y: &mut [f32], outer: usize, axis_len: usize, inner: usize) {
        let n = outer * axis_len * inner;
        assert!(x.len() == n && y.len() == n, "softmax::forward: lengths");
        if n == 0 {
            return;
        }
        if inner == 1 {
            for (x, y) in x.chunks_exact(axis_len).zip(y.chunks_exact_mut(axis_len)) {
                softmax_row(x, y);
            }
            return;
        }
        // Strided axis: work on runs of up to COLUMNS of the `inner`
        // columns at a time, so the loops stay contiguous (and vectorize)
        // instead of gathering one column, with per-column state on the
        // stack (inference and training allocate nothing). Each column's
        // arithmetic is the same whatever the runs.
        let block = axis_len * inner;
        for (x, y) in x.chunks_exact(block).zip(y.chunks_exact_mut(block)) {
            for c0 in (0..inner).step_by(COLUMNS) {
                let w = COLUMNS.min(inner - c0);
                let mut state = [0.0f32; COLUMNS];
                let acc = &mut state[..w];
                acc.fill(f32::NEG_INFINITY);
                for row in x.chunks_exact(inner) {
                    for (m, &v) in acc.iter_mut().zip(&row[c0..c0 + w]) {
                        *m = m.max(v);
                    }
                }
                for (xr, yr) in x.chunks_exact(inner).zip(y.chunks_exact_mut(inner)) {
                    for ((y, &v), &m) in yr[c0..c0 + w].iter_mut().zip(&xr[c0..c0 + w]).zip(&*acc) {
                        *y = exp(v - m);
                    }
                }
                acc.fill(0.0);
                for row in y.chunks_exact(inner) {
                    for (s, &v) in acc.iter_mut().zip(&row[c0..c0 + w]) {
                        *s += v;
                    }
                }
                for s in acc.iter_mut() {
                    *s = 1.0 / *s;
                }
                for row in y.chunks_exact_mut(inner) {
                    for (v, &r) in row[c0..c0 + w].iter_mut().zip(&*acc) {
                        *v *= r;
                    }
                }
            }
        }
    }
}

/// Columns of a strided softmax handled together (their running maxima,
/// sums or dot products live in a stack array of this many floats).
const COLUMNS: usize = 64;

#[inline(always)]
fn softmax_row(x: &[f32], y: &mut [f32]) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (y, &v) in y.iter_mut().zip(x) {
        *y = exp(v - m);
    }
    let sum: f32 = y.iter().sum();
    let r = 1.0 / sum;
    for y in y.iter_mut() {
        *y *= r;
    }
}

/// `dx = y · (dy - Σ_axis dy·y)`, from the forward **output** `y`; all
/// `[outer, axis_len, inner]`.
pub fn backward(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    outer: usize,
    axis_len: usize,
    inner: usize,
) {
    let n = outer * axis_len * inner;
    assert!(
        y.len() == n && dy.len() == n && dx.len() == n,
        "softmax::backward: lengths"
    );
    if n == 0 {
        return;
    }
    if inner == 1 {
        let rows = y.chunks_exact(axis_len).zip(dy.chunks_exact(axis_len));
        for ((y, dy), dx) in rows.zip(dx.chunks_exact_mut(axis_len)) {
            let d: f32 = y.iter().zip(dy).map(|(&y, &g)| y * g).sum();
            for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                *dx = y * (g - d);
            }
        }
        return;
    }
    let block = axis_len * inner;
    for ((y, dy), dx) in y
        .chunks_exact(block)
        .zip(dy.chunks_exact(block))
        .zip(dx.chunks_exact_mut(block))
    {
        for c0 in (0..inner).step_by(COLUMNS) {
            let w = COLUMNS.min(inner - c0);
            let mut state = [0.0f32; COLUMNS];
            let dots = &mut state[..w];
            for (yr, gr) in y.chunks_exact(inner).zip(dy.chunks_exact(inner)) {
                for ((d, &y), &g) in dots.iter_mut().zip(&yr[c0..c0 + w]).zip(&gr[c0..c0 + w]) {
                    *d += y * g;
                }
            }
            for ((yr, gr), xr) in y
                .chunks_exact(inner)
                .zip(dy.chunks_exact(inner))
                .zip(dx.chunks_exact_mut(inner))
            {
                let rows = xr[c0..c0 + w].iter_mut().zip(&yr[c0..c0 + w]);
                for ((dx, &y), (&g, &d)) in rows.zip(gr[c0..c0 + w].iter().zip(&*dots)) {
                    *dx = y * (g - d);
                }
            }
        }
    }
}
