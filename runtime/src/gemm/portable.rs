//! The portable tier's matrix products: the `gemm` crate.
//!
//! Chosen over plain Rust loops by measurement (bench/README.md, "Matrix
//! multiply"): the crate has its own SIMD kernels and picks them at run time
//! (NEON on aarch64; on x86-64 it picks AVX2 or AVX-512 by itself, so this
//! tier's products are not limited to SSE2 there), while loops that LLVM
//! vectorizes for the baseline target reach a fraction of that. It builds on
//! every architecture, with no intrinsics of ours.

use super::Problem;

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
