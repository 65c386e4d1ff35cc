//! Our AVX-512 kernels (tier `avx512`): 16-wide vectors, 32 zmm registers.
//!
//! * Outer product (`op(b)` with contiguous rows): 6 rows × 64 columns, 24
//!   accumulators; rows of `op(a)` by scalar broadcast at any stride, a lane
//!   mask for the ragged last columns.
//! * Dot product (`a · bᵀ`, both contiguous along `k`): 4 rows of A × 6 rows
//!   of B, reduced 16 sums at a time by a transposing shuffle tree.

use super::{BWindows, OUTER_MR, Problem, Starts, Stride, Table, dispatch, with_b_rows};
use core::arch::x86_64::*;

/// 16-lane vectors per outer-product tile row (tile = 6 × 64).
const OUTER_NV: usize = 4;
/// Rows of A and rows of B per dot-product tile (tile = 4 × 6).
const DOT_RA: usize = 4;
const DOT_RB: usize = 6;

/// # Safety
/// AVX-512F, AVX-512VL, AVX2 and FMA must be available; `p` as for
/// `run_block`.
pub(super) unsafe fn gemm(p: &Problem) {
    // SAFETY (every arm): forwarded; the `with_b_rows` copy is alive for
    // the call on it.
    unsafe {
        match p.b_windows {
            BWindows::Rows(t) => outer(p, Table(t)),
            BWindows::Cols(t) => dot(p, Table(t)),
            BWindows::Strided if p.b_cs == 1 => outer(p, Stride(p.b_rs)),
            BWindows::Strided if p.a_cs == 1 && p.b_rs == 1 && p.k >= 16 => dot(p, Stride(p.b_cs)),
            BWindows::Strided => with_b_rows(p, |q| outer(q, Stride(q.b_rs))),
        }
    }
}

fn tail_mask(cols: usize) -> __mmask16 {
    if cols >= 16 {
        0xFFFF
    } else {
        ((1u32 << cols) - 1) as __mmask16
    }
}

/// # Safety
/// AVX-512F; op(b)'s rows contiguous, row `kk` at `starts.start(kk)` from
/// `p.b`; `p` valid.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn outer<S: Starts>(p: &Problem, starts: S) {
    let width = 16 * OUTER_NV;
    let mut j0 = 0;
    while j0 < p.n {
        let cols = width.min(p.n - j0);
        let nv = cols.div_ceil(16);
        let mask = tail_mask(cols - 16 * (nv - 1));
        let mut i0 = 0;
        while i0 < p.m {
            let rows = OUTER_MR.min(p.m - i0);
            let a = p.a.wrapping_add(i0 * p.a_rs);
            let b = p.b.wrapping_add(j0);
            let c = p.c.wrapping_add(i0 * p.ldc + j0);
            // SAFETY: the tile lies inside the problem; the kernel reads
            // `k` steps of A and B and writes a rows × cols block of C.
            unsafe {
                dispatch!(
                    outer_kernel,
                    [S],
                    rows,
                    nv,
                    [1, 2, 3, 4, 5, 6],
                    [1, 2, 3, 4],
                    (
                        p.k,
                        a,
                        p.a_rs,
                        p.a_cs,
                        b,
                        starts,
                        c,
                        p.ldc,
                        mask,
                        p.accumulate
                    )
                )
            };
            i0 += OUTER_MR;
        }
        j0 += width;
    }
}

/// `C[MR × 16·NV] (+)= A[MR × k] · B[k × 16·NV]` with A read by scalar
/// broadcasts at any strides and B read as vectors from row `kk` at
/// `b + starts.start(kk)`; `mask` selects the valid lanes of the last
/// vector.
///
/// # Safety
/// AVX-512F; every addressed element of A, B, C in bounds.
#[target_feature(enable = "avx512f,avx512vl")]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn outer_kernel<const MR: usize, const NV: usize, S: Starts>(
    k: usize,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    starts: S,
    c: *mut f32,
    ldc: usize,
    mask: __mmask16,
    accumulate: bool,
) {
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    let mut ap = a;
    // SAFETY (whole body): in bounds by the caller's contract; masked
    // lanes are neither read nor written.
    unsafe {
        for kk in 0..k {
            let bp = b.add(starts.start(kk));
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, bv) in bv.iter_mut().enumerate() {
                *bv = if v + 1 == NV {
                    _mm512_maskz_loadu_ps(mask, bp.add(16 * v))
                } else {
                    _mm512_loadu_ps(bp.add(16 * v))
                };
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*ap.add(i * a_rs));
                for v in 0..NV {
                    acc[v] = _mm512_fmadd_ps(ai, bv[v], acc[v]);
                }
            }
            // Wrapping: after the last step this points past A, which
            // `add` would not allow.
            ap = ap.wrapping_add(a_cs);
        }
        for (i, acc) in acc.iter().enumerate() {
            let row = c.add(i * ldc);
            for (v, &x) in acc.iter().enumerate() {
                let m = if v + 1 == NV { mask } else { 0xFFFF };
                let dst = row.add(16 * v);
                let x = if accumulate {
                    _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, dst))
                } else {
                    x
                };
                _mm512_mask_storeu_ps(dst, m, x);
            }
        }
    }
}

/// # Safety
/// AVX-512F; `p.a_cs == 1`, op(b)'s columns contiguous, column `j` at
/// `starts.start(j)` from `p.b`; `p` valid.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn dot<S: Starts>(p: &Problem, starts: S) {
    // Column blocks outermost: the RB rows of B (the weight rows of a
    // dense layer) stay in L1 while all of A streams past them.
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
                    [1, 2, 3, 4],
                    [1, 2, 3, 4, 5, 6],
                    (p.k, a, p.a_rs, b, c, p.ldc, p.accumulate)
                )
            };
            i0 += DOT_RA;
        }
        j0 += DOT_RB;
    }
}

/// `C[RA × RB] (+)= A[RA × k] · Bᵀ` where both A's rows (`lda` apart)
/// and B's rows (starting at `b[j]`) are contiguous along `k`.
///
/// # Safety
/// AVX-512F; every addressed element in bounds.
#[target_feature(enable = "avx512f,avx512vl")]
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
    let mut acc = [[_mm512_setzero_ps(); RB]; RA];
    // SAFETY (whole body): in bounds by the caller's contract; masked
    // lanes are not read.
    unsafe {
        let mut kk = 0;
        while kk + 16 <= k {
            let mut av = [_mm512_setzero_ps(); RA];
            for (i, av) in av.iter_mut().enumerate() {
                *av = _mm512_loadu_ps(a.add(i * lda + kk));
            }
            for j in 0..RB {
                let bj = _mm512_loadu_ps(b[j].add(kk));
                for i in 0..RA {
                    acc[i][j] = _mm512_fmadd_ps(av[i], bj, acc[i][j]);
                }
            }
            kk += 16;
        }
        if kk < k {
            let m = tail_mask(k - kk);
            let mut av = [_mm512_setzero_ps(); RA];
            for (i, av) in av.iter_mut().enumerate() {
                *av = _mm512_maskz_loadu_ps(m, a.add(i * lda + kk));
            }
            for j in 0..RB {
                let bj = _mm512_maskz_loadu_ps(m, b[j].add(kk));
                for i in 0..RA {
                    acc[i][j] = _mm512_fmadd_ps(av[i], bj, acc[i][j]);
                }
            }
        }
        // All RA·RB accumulators are reduced 16 at a time by a
        // transposing tree, about 3 shuffles and adds per sum; one
        // horizontal sum per accumulator costs several times that, which
        // shows at the short `k` of convolution weight gradients.
        let zero = _mm512_setzero_ps();
        let mut flat = [zero; 32];
        for i in 0..RA {
            for j in 0..RB {
                flat[i * RB + j] = acc[i][j];
            }
        }
        let lo = reduce16(&flat[..16]);
        let hi = if RA * RB > 16 {
            reduce16(&flat[16..])
        } else {
            zero
        };
        let m = ((1u32 << RB) - 1) as __mmask16;
        for i in 0..RA {
            // Gather this row's sums from the two result vectors.
            let mut idx = [0i32; 16];
            for (l, x) in idx.iter_mut().enumerate() {
                *x = reduced_position((i * RB + l).min(31)) as i32;
            }
            let idx = _mm512_loadu_si512(idx.as_ptr().cast());
            let sums = _mm512_permutex2var_ps(lo, idx, hi);
            let dst = c.add(i * ldc);
            let sums = if accumulate {
                _mm512_add_ps(sums, _mm512_maskz_loadu_ps(m, dst))
            } else {
                sums
            };
            _mm512_mask_storeu_ps(dst, m, sums);
        }
    }
}

/// Where [`reduce16`] leaves the sum of input `e` (of 32, two groups).
const fn reduced_position(e: usize) -> usize {
    let (group, s) = (e / 16, e % 16);
    16 * group + 4 * (s % 4) + s / 4
}

/// The horizontal sums of 16 vectors `v[0..16]` in one vector, the sum
/// of `v[s]` in lane `4·(s % 4) + s / 4`: each level adds matching
/// halves of two vectors, so 16 → 8 → 4 → 2 → 1 vectors.
#[target_feature(enable = "avx512f,avx512vl")]
#[inline]
fn reduce16(v: &[__m512]) -> __m512 {
    // 256-bit halves: lanes 0-7 of t[p] sum v[2p], lanes 8-15 v[2p+1].
    let mut t = [_mm512_setzero_ps(); 8];
    for (p, t) in t.iter_mut().enumerate() {
        let (a, b) = (v[2 * p], v[2 * p + 1]);
        *t = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(a, b),
            _mm512_shuffle_f32x4::<0xEE>(a, b),
        );
    }
    // 128-bit quarters: quarter q of u[p] sums v[4p + q].
    let mut u = [_mm512_setzero_ps(); 4];
    for (p, u) in u.iter_mut().enumerate() {
        let (a, b) = (t[2 * p], t[2 * p + 1]);
        *u = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(a, b),
            _mm512_shuffle_f32x4::<0xDD>(a, b),
        );
    }
    // Pairs within quarters: quarter q of w[p] holds two partial sums of
    // v[8p + q], then two of v[8p + 4 + q].
    let mut w = [_mm512_setzero_ps(); 2];
    for (p, w) in w.iter_mut().enumerate() {
        let (a, b) = (u[2 * p], u[2 * p + 1]);
        *w = _mm512_add_ps(
            _mm512_shuffle_ps::<0x44>(a, b),
            _mm512_shuffle_ps::<0xEE>(a, b),
        );
    }
    // Quarter q: the sums of v[q], v[4 + q], v[8 + q], v[12 + q].
    _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(w[0], w[1]),
        _mm512_shuffle_ps::<0xDD>(w[0], w[1]),
    )
}
