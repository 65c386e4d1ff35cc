//! Single-precision matrix multiply, the operation most of training time is spent in.
//!
//! Everything above this module calls [`sgemm`] only; which implementation sits
//! underneath was decided by measurement (bench/README.md, "Matrix multiply"):
//!
//! * On CPUs with AVX-512F and VL (checked at run time, so a portable build
//!   gets it) our own kernels run, with no packing: an outer-product kernel (rows of
//!   `op(a)` broadcast against 16-wide vectors of a row of `op(b)`) when
//!   `op(b)` has contiguous rows, and a dot-product kernel (vectors along `k`,
//!   reduced at the end) when both operands are contiguous along `k`, which is
//!   the `x · Wᵀ` of a dense layer. At the batch-100 shapes of a small network
//!   the packing that general libraries do costs as much as it saves.
//! * Elsewhere the `gemm` crate does the work (it dispatches to AVX2/FMA or
//!   portable kernels by itself), one single-threaded call per thread.
//!
//! Either way the output is split into one block per thread of the caller's
//! [`Parallel`] pool, so no second thread pool competes for the cores.

use crate::parallel::{Parallel, split_range_aligned};

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    No,
    Yes,
}

/// Which implementation runs a product; only benchmarks and tests need
/// anything but [`Backend::Auto`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The fastest one available on this CPU.
    Auto,
    /// Our AVX-512 kernels (falls back to `GemmCrate` without AVX-512F).
    Avx512,
    /// The `gemm` crate, single-threaded per block of our own split.
    GemmCrate,
    /// The `gemm` crate driving its own rayon pool (the first wrapper).
    GemmCrateRayon,
}

/// Below this many multiply-adds a product runs on one thread: waking the
/// second thread and sharing cache lines costs more than it saves.
const PARALLEL_MIN_MACS: usize = 64 * 1024;

/// `c[m×n] = op(a) · op(b)`, or `c += op(a) · op(b)` when `accumulate`.
///
/// All matrices are dense row-major. `op(a)` is `m×k`: `a` is stored `m×k`
/// when `ta == Trans::No` and `k×m` when `ta == Trans::Yes`; likewise `op(b)`
/// is `k×n`. `par` says how many threads the product may use.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    accumulate: bool,
    par: &Parallel,
) {
    sgemm_with(Backend::Auto, m, n, k, a, ta, b, tb, c, accumulate, par);
}

/// Whether the AVX-512 kernels run on this CPU.
pub fn uses_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // AVX-512VL: the dot kernel stores its sums with masked 256-bit
        // moves, and without VL LLVM kept accumulators in zmm0-15 only and
        // spilled in the inner loop.
        // LLVM's avx512f implies AVX2 and FMA (the horizontal sums use AVX),
        // so those are checked too rather than trusted.
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`sgemm`] with a chosen implementation.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with(
    backend: Backend,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    accumulate: bool,
    par: &Parallel,
) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "sgemm: slices too short for {m}x{k} . {k}x{n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let backend = match backend {
        Backend::Auto | Backend::Avx512 if uses_avx512() => Backend::Avx512,
        Backend::Auto | Backend::Avx512 => Backend::GemmCrate,
        other => other,
    };
    // Element (i, j) of op(x) sits at x[i * rs + j * cs].
    let (a_rs, a_cs) = match ta {
        Trans::No => (k, 1),
        Trans::Yes => (1, m),
    };
    let (b_rs, b_cs) = match tb {
        Trans::No => (n, 1),
        Trans::Yes => (1, k),
    };
    let p = Problem {
        m,
        n,
        k,
        a: a.as_ptr(),
        a_rs,
        a_cs,
        b: b.as_ptr(),
        b_rs,
        b_cs,
        c: c.as_mut_ptr(),
        ldc: n,
        accumulate,
    };
    if backend == Backend::GemmCrateRayon {
        // SAFETY: `p` describes exactly the slices checked above.
        unsafe { gemm_crate(&p, par.threads()) };
        return;
    }
    let threads = if m * n * k < PARALLEL_MIN_MACS {
        1
    } else {
        par.threads().min(m.max(n))
    };
    if threads == 1 {
        // SAFETY: as above.
        unsafe { run_block(backend, &p) };
        return;
    }
    // Split the longer side of C; tiles along rows are `MR` high, along
    // columns 16 wide, so no thread gets a ragged tile in the middle.
    let split_rows = m >= n;
    par.for_each_thread(&|t| {
        if t >= threads {
            // More threads than rows and columns: this one has no block.
            return;
        }
        let sub = if split_rows {
            let r = split_range_aligned(m, threads, t, OUTER_MR);
            p.rows(r.start, r.len())
        } else {
            let r = split_range_aligned(n, threads, t, 16);
            p.cols(r.start, r.len())
        };
        if sub.m > 0 && sub.n > 0 {
            // SAFETY: `sub` is a sub-block of `p`; blocks of different
            // threads cover disjoint rectangles of C and only read A and B.
            unsafe { run_block(backend, &sub) };
        }
    });
}

/// One product as raw strided views, so threads can take rectangles of C
/// that are not contiguous in memory.
#[derive(Clone, Copy)]
struct Problem {
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    b_rs: usize,
    b_cs: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
}

// SAFETY: a `Problem` is shared between the threads of one `sgemm` call,
// which read A and B and write disjoint blocks of C (see `sgemm_with`).
unsafe impl Sync for Problem {}
// SAFETY: as for `Sync`.
unsafe impl Send for Problem {}

impl Problem {
    fn rows(&self, start: usize, len: usize) -> Problem {
        Problem {
            m: len,
            a: self.a.wrapping_add(start * self.a_rs),
            c: self.c.wrapping_add(start * self.ldc),
            ..*self
        }
    }

    fn cols(&self, start: usize, len: usize) -> Problem {
        Problem {
            n: len,
            b: self.b.wrapping_add(start * self.b_cs),
            c: self.c.wrapping_add(start),
            ..*self
        }
    }
}

/// # Safety
/// `p` must describe in-bounds, valid A, B and C (C not aliased by A or B).
unsafe fn run_block(backend: Backend, p: &Problem) {
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx512 {
        // SAFETY: `Backend::Avx512` is only chosen when AVX-512F was
        // detected; the caller vouches for `p`.
        unsafe { avx512::gemm(p) };
        return;
    }
    let _ = backend;
    // SAFETY: the caller vouches for `p`.
    unsafe { gemm_crate(p, 1) };
}

/// # Safety
/// As [`run_block`].
unsafe fn gemm_crate(p: &Problem, threads: usize) {
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

/// Rows of the outer-product tile (also the row alignment of thread splits).
const OUTER_MR: usize = 6;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{OUTER_MR, Problem};
    use std::arch::x86_64::*;
    use std::cell::RefCell;

    /// 16-lane vectors per outer-product tile row (tile = 6 × 64).
    const OUTER_NV: usize = 4;
    /// Rows of A and rows of B per dot-product tile (tile = 4 × 6).
    const DOT_RA: usize = 4;
    const DOT_RB: usize = 6;

    thread_local! {
        /// Scratch for a transposed copy of B when neither kernel can read it
        /// in place.
        static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }

    /// # Safety
    /// AVX-512F must be available; `p` as for `run_block`.
    pub(super) unsafe fn gemm(p: &Problem) {
        if p.b_cs == 1 {
            // SAFETY: forwarded.
            unsafe { outer(p) };
        } else if p.a_cs == 1 && p.b_rs == 1 && p.k >= 16 {
            // SAFETY: forwarded.
            unsafe { dot(p) };
        } else {
            // B is k-contiguous: copy it to k×n rows first.
            SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                s.clear();
                s.reserve(p.k * p.n);
                for kk in 0..p.k {
                    for j in 0..p.n {
                        // SAFETY: (kk, j) is inside op(b).
                        s.push(unsafe { *p.b.add(kk * p.b_rs + j * p.b_cs) });
                    }
                }
                let q = Problem {
                    b: s.as_ptr(),
                    b_rs: p.n,
                    b_cs: 1,
                    ..*p
                };
                // SAFETY: `q` reads the scratch copy, which outlives the call.
                unsafe { outer(&q) };
            });
        }
    }

    fn tail_mask(cols: usize) -> __mmask16 {
        if cols >= 16 {
            0xFFFF
        } else {
            ((1u32 << cols) - 1) as __mmask16
        }
    }

    macro_rules! dispatch {
        ($f:ident, $r:expr, $v:expr, [$($rr:literal),*], [$($vv:literal),*], $args:tt) => {
            dispatch!(@rows $f, $r, $v, [$($rr),*], [$($vv),*], $args)
        };
        (@rows $f:ident, $r:expr, $v:expr, [$($rr:literal),*], $vs:tt, $args:tt) => {
            match $r {
                $($rr => dispatch!(@cols $f, $rr, $v, $vs, $args),)*
                _ => unreachable!(),
            }
        };
        (@cols $f:ident, $rr:literal, $v:expr, [$($vv:literal),*], $args:tt) => {
            match $v {
                $($vv => dispatch!(@call $f, $rr, $vv, $args),)*
                _ => unreachable!(),
            }
        };
        (@call $f:ident, $rr:literal, $vv:literal, ($($arg:expr),*)) => {
            $f::<$rr, $vv>($($arg),*)
        };
    }

    /// # Safety
    /// AVX-512F; `p.b_cs == 1`; `p` valid.
    #[target_feature(enable = "avx512f,avx512vl")]
    unsafe fn outer(p: &Problem) {
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
                            p.b_rs,
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
    /// broadcasts at any strides and B read as vectors from rows `b_rs`
    /// apart; `mask` selects the valid lanes of the last vector.
    ///
    /// # Safety
    /// AVX-512F; every addressed element of A, B, C in bounds.
    #[target_feature(enable = "avx512f,avx512vl")]
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    unsafe fn outer_kernel<const MR: usize, const NV: usize>(
        k: usize,
        a: *const f32,
        a_rs: usize,
        a_cs: usize,
        b: *const f32,
        b_rs: usize,
        c: *mut f32,
        ldc: usize,
        mask: __mmask16,
        accumulate: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        let mut ap = a;
        let mut bp = b;
        // SAFETY (whole body): in bounds by the caller's contract; masked
        // lanes are neither read nor written.
        unsafe {
            for _ in 0..k {
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
                // Wrapping: after the last step these point past the
                // operands, which `add` would not allow.
                ap = ap.wrapping_add(a_cs);
                bp = bp.wrapping_add(b_rs);
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
    /// AVX-512F; `p.a_cs == 1 && p.b_rs == 1`; `p` valid.
    #[target_feature(enable = "avx512f,avx512vl")]
    unsafe fn dot(p: &Problem) {
        // Column blocks outermost: the RB rows of B (the weight rows of a
        // dense layer) stay in L1 while all of A streams past them.
        let mut j0 = 0;
        while j0 < p.n {
            let cols = DOT_RB.min(p.n - j0);
            let mut i0 = 0;
            while i0 < p.m {
                let rows = DOT_RA.min(p.m - i0);
                let a = p.a.wrapping_add(i0 * p.a_rs);
                let b = p.b.wrapping_add(j0 * p.b_cs);
                let c = p.c.wrapping_add(i0 * p.ldc + j0);
                // SAFETY: the tile lies inside the problem.
                unsafe {
                    dispatch!(
                        dot_kernel,
                        rows,
                        cols,
                        [1, 2, 3, 4],
                        [1, 2, 3, 4, 5, 6],
                        (p.k, a, p.a_rs, b, p.b_cs, c, p.ldc, p.accumulate)
                    )
                };
                i0 += DOT_RA;
            }
            j0 += DOT_RB;
        }
    }

    /// `C[RA × RB] (+)= A[RA × k] · Bᵀ` where both A's rows (`lda` apart)
    /// and B's rows (`ldb` apart) are contiguous along `k`.
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
        b: *const f32,
        ldb: usize,
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
                    let bj = _mm512_loadu_ps(b.add(j * ldb + kk));
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
                    let bj = _mm512_maskz_loadu_ps(m, b.add(j * ldb + kk));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], ta: Trans, b: &[f32], tb: Trans) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let x = match ta {
                        Trans::No => a[i * k + p],
                        Trans::Yes => a[p * m + i],
                    };
                    let y = match tb {
                        Trans::No => b[p * n + j],
                        Trans::Yes => b[j * k + p],
                    };
                    s += x as f64 * y as f64;
                }
                c[i * n + j] = s;
            }
        }
        c
    }

    fn check(backend: Backend, m: usize, n: usize, k: usize, threads: usize) {
        let par = Parallel::new(threads);
        let mut rng = crate::rng::Rng::new((m * 131 + n * 7 + k) as u64);
        let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let c0: Vec<f32> = (0..m * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        for ta in [Trans::No, Trans::Yes] {
            for tb in [Trans::No, Trans::Yes] {
                let want = naive(m, n, k, &a, ta, &b, tb);
                for accumulate in [false, true] {
                    // A guard element past the end must survive.
                    let mut c = c0.clone();
                    c.push(7.0);
                    sgemm_with(backend, m, n, k, &a, ta, &b, tb, &mut c, accumulate, &par);
                    assert_eq!(c[m * n], 7.0);
                    for idx in 0..m * n {
                        let w = want[idx] + if accumulate { c0[idx] as f64 } else { 0.0 };
                        let tol = 1e-5 * (k as f64 + 1.0).sqrt() * 4.0;
                        assert!(
                            (c[idx] as f64 - w).abs() <= tol,
                            "{backend:?} {m}x{n}x{k} {ta:?}{tb:?} acc={accumulate} t={threads} \
                             at {idx}: {} vs {w}",
                            c[idx]
                        );
                    }
                }
            }
        }
    }

    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 1, 0),
        (3, 5, 0),
        (1, 17, 5),
        (17, 1, 5),
        (7, 13, 3),
        (6, 64, 16),
        (13, 33, 31),
        (5, 130, 17),
        (37, 29, 100),
        (100, 10, 128),
        (10, 128, 100),
        (64, 70, 65),
        (130, 67, 41),
    ];

    #[test]
    fn matches_naive_product_default_backend() {
        for &(m, n, k) in SHAPES {
            for threads in [1, 2] {
                check(Backend::Auto, m, n, k, threads);
            }
        }
    }

    #[test]
    fn matches_naive_product_gemm_crate() {
        for &(m, n, k) in SHAPES {
            for threads in [1, 2] {
                check(Backend::GemmCrate, m, n, k, threads);
            }
        }
    }

    #[test]
    fn more_threads_than_rows_and_columns() {
        // 2·2·20000 multiply-adds is worth splitting, but only 2 ways.
        check(Backend::Auto, 2, 2, 20_000, 4);
        check(Backend::GemmCrate, 2, 2, 20_000, 3);
    }

    #[test]
    fn empty_dimensions_leave_c_alone() {
        let mut c = vec![3.0f32; 4];
        sgemm(
            0,
            4,
            3,
            &[],
            Trans::No,
            &[0.0; 12],
            Trans::No,
            &mut c,
            false,
            &Parallel::single(),
        );
        sgemm(
            4,
            0,
            3,
            &[0.0; 12],
            Trans::No,
            &[],
            Trans::No,
            &mut c,
            false,
            &Parallel::single(),
        );
        assert_eq!(c, [3.0; 4]);
    }
}
