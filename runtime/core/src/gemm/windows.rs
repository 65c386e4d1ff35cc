//! Products whose B is a set of overlapping windows into one buffer.
//!
//! A stride-1 convolution's im2col matrix has one row per kernel tap, and
//! over a "wide" output grid (every column of the padded input, the
//! columns past the real output discarded) each row is a contiguous slice
//! of the padded input, starting at that tap's offset. Handing the kernels
//! those offsets lets them read the input in place: the matrix (25 times
//! the input for a 5×5 kernel) is never written, which was a third of a
//! LeNet training step. Only our x86 kernels take windows
//! ([`windows_supported`]); the convolution builds the matrix otherwise.

use super::{BWindows, Backend, Problem, run};
use crate::cpu::Tier;
use crate::threads::Threads;

/// Whether [`sgemm_windows_nn`] and [`sgemm_windows_nt`] run on this
/// process's kernel tier (AVX2 or AVX-512).
pub fn windows_supported() -> bool {
    crate::cpu::runs_at_least(Tier::Avx2)
}

/// Shortest `k` the dot-product kernels of every tier take.
const DOT_MIN_K: usize = 16;

/// `c[m×n] = a[m×k] · B` (or `+=` when `accumulate`), where row `kk` of
/// the `k×n` matrix B is `b[starts[kk]..][..n]`. `a` is row-major.
///
/// Panics unless [`windows_supported`], or when a window leaves `b`.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_windows_nn(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    starts: &[u32],
    c: &mut [f32],
    accumulate: bool,
    par: &dyn Threads,
) {
    windowed(m, n, k, a, b, starts, c, accumulate, par, Layout::Rows);
}

/// `c[m×n] = a[m×k] · Bᵀ` (or `+=` when `accumulate`), where row `j` of the
/// `n×k` matrix B is `b[starts[j]..][..k]`; `k` at least 16. `a` is
/// row-major.
///
/// Panics unless [`windows_supported`], or when a window leaves `b`.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_windows_nt(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    starts: &[u32],
    c: &mut [f32],
    accumulate: bool,
    par: &dyn Threads,
) {
    assert!(
        k >= DOT_MIN_K,
        "sgemm_windows_nt: k = {k} is under {DOT_MIN_K}"
    );
    windowed(m, n, k, a, b, starts, c, accumulate, par, Layout::Cols);
}

/// Which of op(b)'s dimensions the windows run along.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Row `kk` of op(b) is a window of `n` floats (`sgemm_windows_nn`).
    Rows,
    /// Column `j` of op(b) is a window of `k` floats (`sgemm_windows_nt`).
    Cols,
}

/// The windowed product of both layouts: checks, then the kernels.
#[allow(clippy::too_many_arguments)]
fn windowed(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    starts: &[u32],
    c: &mut [f32],
    accumulate: bool,
    par: &dyn Threads,
    layout: Layout,
) {
    let (windows, len, b_windows) = match layout {
        Layout::Rows => (k, n, BWindows::Rows(starts.as_ptr())),
        Layout::Cols => (n, k, BWindows::Cols(starts.as_ptr())),
    };
    check(m, n, k, a, b, starts, windows, len, c);
    if trivial(m, n, k, c, accumulate) {
        return;
    }
    let p = problem(m, n, k, a, b, b_windows, c, accumulate);
    // SAFETY: `check` proved every window and operand in bounds.
    unsafe { run(backend(), &p, par) };
}

/// Handles an empty product (no kernel call): true when there is nothing
/// left to do.
fn trivial(m: usize, n: usize, k: usize, c: &mut [f32], accumulate: bool) -> bool {
    if k == 0 && !accumulate {
        c[..m * n].fill(0.0);
    }
    m == 0 || n == 0 || k == 0
}

fn backend() -> Backend {
    let backend = Backend::Auto.resolve();
    assert!(
        matches!(backend, Backend::Avx2 | Backend::Avx512),
        "windowed products need the AVX2 or AVX-512 tier"
    );
    backend
}

/// `starts` has `windows` entries, each window of `len` floats inside `b`.
#[allow(clippy::too_many_arguments)]
fn check(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    starts: &[u32],
    windows: usize,
    len: usize,
    c: &[f32],
) {
    assert!(
        a.len() >= m * k && c.len() >= m * n && starts.len() == windows,
        "sgemm_windows: operands too short for {m}x{k} . {k}x{n}"
    );
    assert!(
        starts.iter().all(|&s| s as usize + len <= b.len()),
        "sgemm_windows: a window of {len} floats leaves b ({} floats)",
        b.len()
    );
}

#[allow(clippy::too_many_arguments)]
fn problem(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    b_windows: BWindows,
    c: &mut [f32],
    accumulate: bool,
) -> Problem {
    Problem {
        m,
        n,
        k,
        a: a.as_ptr(),
        a_rs: k,
        a_cs: 1,
        b: b.as_ptr(),
        b_rs: 0,
        b_cs: 0,
        b_windows,
        c: c.as_mut_ptr(),
        ldc: n,
        accumulate,
    }
}
