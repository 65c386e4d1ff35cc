//! Single-precision matrix multiply, the operation most of training time is spent in.
//!
//! Everything above this module calls [`sgemm`] only; which implementation sits
//! underneath is decided by measurement (see bench/README.md).

use crate::parallel::Parallel;

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    No,
    Yes,
}

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
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    // Strides (column stride, row stride) of op(a) and op(b) in elements.
    let (a_cs, a_rs) = match ta {
        Trans::No => (1, k as isize),
        Trans::Yes => (m as isize, 1),
    };
    let (b_cs, b_rs) = match tb {
        Trans::No => (1, n as isize),
        Trans::Yes => (k as isize, 1),
    };
    let parallelism = if par.threads() > 1 {
        gemm::Parallelism::Rayon(par.threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above bound every index the strides can reach.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
