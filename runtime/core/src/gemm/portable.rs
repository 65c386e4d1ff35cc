//! The portable tier's matrix products: the `gemm` crate.
//!
//! Chosen over plain Rust loops by measurement (bench/README.md, "Matrix
//! multiply"): the crate has its own SIMD kernels and picks them at run time
//! (NEON on aarch64; on x86-64 it picks AVX2 or AVX-512 by itself, so this
//! tier's products are not limited to SSE2 there), while loops that LLVM
//! vectorizes for the baseline target reach a fraction of that. It builds on
//! every architecture, with no intrinsics of ours.
//!
//! Without the `std` feature (a deploy build; the `gemm` crate needs `std`
//! and rayon) the tier runs [`plain`]: loops in plain Rust that LLVM
//! vectorizes for the target's baseline.

use super::Problem;

#[cfg(feature = "std")]
/// `threads > 1` lets the crate split the product over its own rayon pool
/// (only the benchmark's comparison does that).
///
/// # Safety
/// `p` must describe in-bounds, valid A, B and C (C not aliased by A or B).
pub(super) unsafe fn gemm(p: &Problem, threads: usize) {
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the caller guarantees the strides stay inside the buffers.
    unsafe {
        gemm::gemm(
            p.m,
            p.n,
            p.k,
            p.c,
            1,
            p.ldc as isize,
            p.accumulate,
            p.a,
            p.a_cs as isize,
            p.a_rs as isize,
            p.b,
            p.b_cs as isize,
            p.b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Without the `gemm` crate: [`plain`] (`threads` is ignored).
///
/// # Safety
/// As for [`plain`].
#[cfg(not(feature = "std"))]
pub(super) unsafe fn gemm(p: &Problem, _threads: usize) {
    // SAFETY: forwarded.
    unsafe { plain(p) };
}

/// Rows of C computed together by [`plain`]: each value of B read feeds
/// this many rows.
const PLAIN_MR: usize = 4;

/// `C = op(A)·op(B)` (or `C +=`) in plain loops. When op(b) has contiguous
/// rows, rows of C are updated by `c[i, :] += a[i, kk] · b[kk, :]`, four
/// rows at a time, which LLVM vectorizes along the row; otherwise each
/// element is a dot product along `k`.
///
/// # Safety
/// `p` must describe in-bounds, valid A, B and C (C not aliased by A or B).
pub(super) unsafe fn plain(p: &Problem) {
    let (m, n, k) = (p.m, p.n, p.k);
    // SAFETY (every block below): element (i, j) of op(x) is at
    // `x + i·rs + j·cs`, inside the buffers the caller vouches for, and the
    // rows of C are disjoint from A and B.
    let a = |i: usize, kk: usize| unsafe { *p.a.add(i * p.a_rs + kk * p.a_cs) };
    if !p.accumulate {
        for i in 0..m {
            unsafe { core::slice::from_raw_parts_mut(p.c.add(i * p.ldc), n) }.fill(0.0);
        }
    }
    if p.b_cs == 1 {
        let mut i0 = 0;
        while i0 < m {
            let rows = PLAIN_MR.min(m - i0);
            if rows == PLAIN_MR {
                let [c0, c1, c2, c3] = core::array::from_fn(|r| unsafe {
                    core::slice::from_raw_parts_mut(p.c.add((i0 + r) * p.ldc), n)
                });
                for kk in 0..k {
                    let b = unsafe { core::slice::from_raw_parts(p.b.add(kk * p.b_rs), n) };
                    let (a0, a1, a2, a3) = (a(i0, kk), a(i0 + 1, kk), a(i0 + 2, kk), a(i0 + 3, kk));
                    for ((((&b, c0), c1), c2), c3) in b
                        .iter()
                        .zip(c0.iter_mut())
                        .zip(c1.iter_mut())
                        .zip(c2.iter_mut())
                        .zip(c3.iter_mut())
                    {
                        *c0 += a0 * b;
                        *c1 += a1 * b;
                        *c2 += a2 * b;
                        *c3 += a3 * b;
                    }
                }
            } else {
                for i in i0..i0 + rows {
                    let c = unsafe { core::slice::from_raw_parts_mut(p.c.add(i * p.ldc), n) };
                    for kk in 0..k {
                        let b = unsafe { core::slice::from_raw_parts(p.b.add(kk * p.b_rs), n) };
                        let ai = a(i, kk);
                        for (c, &b) in c.iter_mut().zip(b) {
                            *c += ai * b;
                        }
                    }
                }
            }
            i0 += rows;
        }
        return;
    }
    if p.a_cs == 1 && p.b_rs == 1 {
        // Both contiguous along `k`: dot products in eight lanes.
        for i in 0..m {
            let ai = unsafe { core::slice::from_raw_parts(p.a.add(i * p.a_rs), k) };
            for j in 0..n {
                let bj = unsafe { core::slice::from_raw_parts(p.b.add(j * p.b_cs), k) };
                let mut lanes = [0.0f32; 8];
                let (a8, a_tail) = ai.split_at(k - k % 8);
                let (b8, b_tail) = bj.split_at(k - k % 8);
                for (a, b) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
                    for l in 0..8 {
                        lanes[l] += a[l] * b[l];
                    }
                }
                let mut s = lanes.iter().sum::<f32>();
                for (&a, &b) in a_tail.iter().zip(b_tail) {
                    s += a * b;
                }
                unsafe { *p.c.add(i * p.ldc + j) += s };
            }
        }
        return;
    }
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for kk in 0..k {
                s += a(i, kk) * unsafe { *p.b.add(kk * p.b_rs + j * p.b_cs) };
            }
            unsafe { *p.c.add(i * p.ldc + j) += s };
        }
    }
}
