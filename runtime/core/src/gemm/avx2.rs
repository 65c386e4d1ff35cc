//! Our AVX2 + FMA kernels (tier `avx2`): the AVX-512 kernels' structure
//! with 8-wide vectors and tiles sized for 16 ymm registers.
//!
//! * Outer product (`op(b)` with contiguous rows): 6 rows × 16 columns,
//!   12 accumulators + 2 vectors of B + 1 broadcast of A = 15 registers.
//! * Dot product (`a · bᵀ`, both contiguous along `k`): 3 rows of A × 4 rows
//!   of B, 12 accumulators + 3 vectors of A + 1 of B = 16 registers; each
//!   row's 4 sums come out of one `hadd` tree as one 128-bit vector.
//!
//! Every element of C is summed in the same order wherever it sits in a
//! tile, so (as with AVX-512) results do not depend on the thread split.

use super::{BWindows, OUTER_MR, Problem, Starts, Stride, Table, dispatch, with_b_rows};
use crate::simd::lane_mask;
use core::arch::x86_64::*;

/// 8-lane vectors per outer-product tile row (tile = 6 × 16).
const OUTER_NV: usize = 2;
/// Rows of A and rows of B per dot-product tile (tile = 3 × 4).
const DOT_RA: usize = 3;
const DOT_RB: usize = 4;

/// # Safety
/// AVX2 and FMA must be available; `p` as for `run_block`.
pub(super) unsafe fn gemm(p: &Problem) {
    // SAFETY (every arm): forwarded; the `with_b_rows` copy is alive for
    // the call on it.
    unsafe {
        match p.b_windows {
            BWindows::Rows(t) => outer(p, Table(t)),
            BWindows::Cols(t) => dot(p, Table(t)),
            BWindows::Strided if p.b_cs == 1 => outer(p, Stride(p.b_rs)),
            BWindows::Strided if p.a_cs == 1 && p.b_rs == 1 && p.k >= 8 => dot(p, Stride(p.b_cs)),
            BWindows::Strided => with_b_rows(p, |q| outer(q, Stride(q.b_rs))),
        }
    }
}

/// Column strips outermost, as with AVX-512. For a k-major A (`TN`) this
/// reads A's tiles once per 16-column strip; copying each band of A rows
/// contiguous once and sweeping every strip over it was tried and was
/// slower (dW1 = dYᵀ·X, 128x784x100: 197 against 187 µs; B then streams
/// from L2 once per band).
///
/// # Safety
/// AVX2 and FMA; op(b)'s rows contiguous, row `kk` at `starts.start(kk)`
/// from `p.b`; `p` valid.
#[target_feature(enable = "avx2,fma")]
unsafe fn outer<S: Starts>(p: &Problem, starts: S) {
    let width = 8 * OUTER_NV;
    let mut j0 = 0;
    while j0 < p.n {
        let cols = width.min(p.n - j0);
        let nv = cols.div_ceil(8);
        let last = cols - 8 * (nv - 1);
        let mask = lane_mask(last);
        let mut i0 = 0;
        while i0 < p.m {
            let rows = OUTER_MR.min(p.m - i0);
            let a = p.a.wrapping_add(i0 * p.a_rs);
            let b = p.b.wrapping_add(j0);
            let c = p.c.wrapping_add(i0 * p.ldc + j0);
            let args = (p.k, a, p.a_rs, p.a_cs, b, starts, c, p.ldc, mask);
            // SAFETY: the tile lies inside the problem; the kernel reads `k`
            // steps of A and B and writes a rows × cols block of C. Full
            // tiles get a kernel without masked moves (a masked load in the
            // inner loop costs more than a plain one on some cores).
            unsafe {
                match (last == 8, p.accumulate) {
                    (true, false) => {
                        dispatch!(
                            outer_kernel,
                            [false, false, S],
                            rows,
                            nv,
                            [1, 2, 3, 4, 5, 6],
                            [1, 2],
                            (args)
                        )
                    }
                    (true, true) => {
                        dispatch!(
                            outer_kernel,
                            [false, true, S],
                            rows,
                            nv,
                            [1, 2, 3, 4, 5, 6],
                            [1, 2],
                            (args)
                        )
                    }
                    (false, false) => {
                        dispatch!(
                            outer_kernel,
                            [true, false, S],
                            rows,
                            nv,
                            [1, 2, 3, 4, 5, 6],
                            [1, 2],
                            (args)
                        )
                    }
                    (false, true) => {
                        dispatch!(
                            outer_kernel,
                            [true, true, S],
                            rows,
                            nv,
                            [1, 2, 3, 4, 5, 6],
                            [1, 2],
                            (args)
                        )
                    }
                }
            };
            i0 += OUTER_MR;
        }
        j0 += width;
    }
}

/// `C[MR × 8·NV] (+)= A[MR × k] · B[k × 8·NV]` with A read by scalar
/// broadcasts at any strides and B read as vectors from row `kk` at
/// `b + starts.start(kk)`; when `MASKED`, `mask` selects the valid lanes of
/// the last vector.
///
/// # Safety
/// AVX2 and FMA; every addressed element of A, B, C in bounds.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::type_complexity)]
#[inline(never)]
unsafe fn outer_kernel<
    const MR: usize,
    const NV: usize,
    const MASKED: bool,
    const ACC: bool,
    S: Starts,
>(
    (k, a, a_rs, a_cs, b, starts, c, ldc, mask): (
        usize,
        *const f32,
        usize,
        usize,
        *const f32,
        S,
        *mut f32,
        usize,
        __m256i,
    ),
) {
    let mut acc = [[_mm256_setzero_ps(); NV]; MR];
    let mut ap = a;
    // SAFETY (whole body): in bounds by the caller's contract; masked lanes
    // are neither read nor written.
    unsafe {
        for kk in 0..k {
            let bp = b.add(starts.start(kk));
            let mut bv = [_mm256_setzero_ps(); NV];
            for (v, bv) in bv.iter_mut().enumerate() {
                *bv = if MASKED && v + 1 == NV {
                    _mm256_maskload_ps(bp.add(8 * v), mask)
                } else {
                    _mm256_loadu_ps(bp.add(8 * v))
                };
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*ap.add(i * a_rs));
                for v in 0..NV {
                    acc[v] = _mm256_fmadd_ps(ai, bv[v], acc[v]);
                }
            }
            // Wrapping: after the last step this points past A, which
            // `add` would not allow.
            ap = ap.wrapping_add(a_cs);
        }
        for (i, acc) in acc.iter().enumerate() {
            let row = c.add(i * ldc);
            for (v, &x) in acc.iter().enumerate() {
                let dst = row.add(8 * v);
                if MASKED && v + 1 == NV {
                    let x = if ACC {
                        _mm256_add_ps(x, _mm256_maskload_ps(dst, mask))
                    } else {
                        x
                    };
                    _mm256_maskstore_ps(dst, mask, x);
                } else {
                    let x = if ACC {
                        _mm256_add_ps(x, _mm256_loadu_ps(dst))
                    } else {
                        x
                    };
                    _mm256_storeu_ps(dst, x);
                }
            }
        }
    }
}

/// # Safety
/// AVX2 and FMA; `p.a_cs == 1`, op(b)'s columns contiguous, column `j` at
/// `starts.start(j)` from `p.b`; `p` valid.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot<S: Starts>(p: &Problem, starts: S) {
    // Column blocks outermost: the RB rows of B (the weight rows of a dense
    // layer) stay in L1 while all of A streams past them.
    let mut j0 = 0;
    while j0 < p.n {
        let cols = DOT_RB.min(p.n - j0);
        let mut i0 = 0;
        while i0 < p.m {
            let rows = DOT_RA.min(p.m - i0);
            let a = p.a.wrapping_add(i0 * p.a_rs);
            let c = p.c.wrapping_add(i0 * p.ldc + j0);
            // SAFETY: the tile lies inside the problem (columns past
            // `cols` repeat the first and are not read).
            unsafe {
                let b: [*const f32; DOT_RB] = core::array::from_fn(|j| {
                    p.b.wrapping_add(starts.start(j0 + if j < cols { j } else { 0 }))
                });
                dispatch!(
                    dot_kernel,
                    [],
                    rows,
                    cols,
                    [1, 2, 3],
                    [1, 2, 3, 4],
                    (p.k, a, p.a_rs, b, c, p.ldc, p.accumulate)
                )
            };
            i0 += DOT_RA;
        }
        j0 += DOT_RB;
    }
}

/// `C[RA × RB] (+)= A[RA × k] · Bᵀ` where both A's rows (`lda` apart) and
/// B's rows (starting at `b[j]`) are contiguous along `k`; `k >= 8`.
///
/// # Safety
/// AVX2 and FMA; every addressed element in bounds.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
// Indexing keeps the loop order explicit: one B row is loaded, then used
// against every A row, so only one B register is live at a time.
#[allow(clippy::needless_range_loop)]
#[inline(never)]
unsafe fn dot_kernel<const RA: usize, const RB: usize>(
    k: usize,
    a: *const f32,
    lda: usize,
    b: [*const f32; DOT_RB],
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let mut acc = [[_mm256_setzero_ps(); RB]; RA];
    // SAFETY (whole body): in bounds by the caller's contract; masked lanes
    // are not read.
    unsafe {
        let mut kk = 0;
        while kk + 8 <= k {
            let mut av = [_mm256_setzero_ps(); RA];
            for (i, av) in av.iter_mut().enumerate() {
                *av = _mm256_loadu_ps(a.add(i * lda + kk));
            }
            for j in 0..RB {
                let bj = _mm256_loadu_ps(b[j].add(kk));
                for i in 0..RA {
                    acc[i][j] = _mm256_fmadd_ps(av[i], bj, acc[i][j]);
                }
            }
            kk += 8;
        }
        if kk < k {
            let m = lane_mask(k - kk);
            let mut av = [_mm256_setzero_ps(); RA];
            for (i, av) in av.iter_mut().enumerate() {
                *av = _mm256_maskload_ps(a.add(i * lda + kk), m);
            }
            for j in 0..RB {
                let bj = _mm256_maskload_ps(b[j].add(kk), m);
                for i in 0..RA {
                    acc[i][j] = _mm256_fmadd_ps(av[i], bj, acc[i][j]);
                }
            }
        }
        let zero = _mm256_setzero_ps();
        for i in 0..RA {
            let v = |j: usize| if j < RB { acc[i][j] } else { zero };
            let sums = reduce4(v(0), v(1), v(2), v(3));
            let dst = c.add(i * ldc);
            if RB == 4 {
                let sums = if accumulate {
                    _mm_add_ps(sums, _mm_loadu_ps(dst))
                } else {
                    sums
                };
                _mm_storeu_ps(dst, sums);
            } else {
                let mut s = [0.0f32; 4];
                _mm_storeu_ps(s.as_mut_ptr(), sums);
                for (j, &s) in s.iter().enumerate().take(RB) {
                    let d = dst.add(j);
                    *d = if accumulate { s + *d } else { s };
                }
            }
        }
    }
}

/// The horizontal sums of four vectors, `v0`'s in lane 0 to `v3`'s in lane
/// 3, each summed as `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn reduce4(v0: __m256, v1: __m256, v2: __m256, v3: __m256) -> __m128 {
    // Per 128-bit half: pairs of v0, v1, then of v2, v3.
    let t0 = _mm256_hadd_ps(v0, v1);
    let t1 = _mm256_hadd_ps(v2, v3);
    // Per half: the four half-sums of v0..v3.
    let u = _mm256_hadd_ps(t0, t1);
    _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps::<1>(u))
}
