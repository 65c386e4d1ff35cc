//! Reductions: `torch.mean` over one axis of a tensor viewed as
//! `[outer, axis_len, inner]`, and the lane sum other kernels share.

use super::elementwise::multiversion;

/// Accumulators of a contiguous sum: a 512-bit vector of f32.
pub(crate) const LANES: usize = 16;

/// `Σ f(a[i], b[i])` in [`LANES`] accumulators, then the tail: the order
/// is fixed, so the sum vectorizes yet is the same on every tier.
#[inline(always)]
pub(crate) fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (a16, a_rest) = a.as_chunks::<LANES>();
    let (b16, b_rest) = b.as_chunks::<LANES>();
    for (ca, cb) in a16.iter().zip(b16) {
        for l in 0..LANES {
            acc[l] += f(ca[l], cb[l]);
        }
    }
    let mut total = 0.0;
    for v in acc {
        total += v;
    }
    for (&x, &y) in a_rest.iter().zip(b_rest) {
        total += f(x, y);
    }
    total
}

/// `Σ f(a[i], b[i])` in f64, in eight accumulators (a 512-bit vector),
/// then the tail: for statistics where an f32 sum would lose digits (a
/// row's mean far from zero).
#[inline(always)]
pub(crate) fn lane_sum64(a: &[f32], b: &[f32], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    for (ca, cb) in a8.iter().zip(b8) {
        for l in 0..8 {
            acc[l] += f(ca[l] as f64, cb[l] as f64);
        }
    }
    let mut total = 0.0;
    for v in acc {
        total += v;
    }
    for (&x, &y) in a_rest.iter().zip(b_rest) {
        total += f(x as f64, y as f64);
    }
    total
}

pub mod mean {
    use super::{lane_sum, multiversion};

    multiversion! {
        /// `y [outer, inner] = Σ_k x [outer, k, inner] / axis_len`.
        pub fn forward(x: &[f32], y: &mut [f32], outer: usize, axis_len: usize, inner: usize) {
            assert!(
                x.len() == outer * axis_len * inner && y.len() == outer * inner,
                "mean::forward: lengths"
            );
            let n = axis_len as f32;
            if inner == 1 {
                for (y, x) in y.iter_mut().zip(x.chunks_exact(axis_len.max(1))) {
                    *y = lane_sum(x, x, |a, _| a) / n;
                }
                return;
            }
            // Row by row along the axis: contiguous adds over `inner`.
            for (y, x) in y.chunks_exact_mut(inner).zip(x.chunks_exact(axis_len * inner)) {
                y.fill(0.0);
                for row in x.chunks_exact(inner) {
                    for (y, &v) in y.iter_mut().zip(row) {
                        *y += v;
                    }
                }
                for y in y.iter_mut() {
                    *y /= n;
                }
            }
        }
    }

    multiversion! {
        /// `dx [outer, k, inner] = dy [outer, inner] / axis_len`.
        pub fn backward(dy: &[f32], dx: &mut [f32], outer: usize, axis_len: usize, inner: usize) {
            assert!(
                dx.len() == outer * axis_len * inner && dy.len() == outer * inner,
                "mean::backward: lengths"
            );
            let n = axis_len as f32;
            for (dy, dx) in dy.chunks_exact(inner.max(1)).zip(dx.chunks_exact_mut((axis_len * inner).max(1))) {
                for row in dx.chunks_exact_mut(inner) {
                    for (d, &g) in row.iter_mut().zip(dy) {
                        *d = g / n;
                    }
                }
            }
        }
    }
}
