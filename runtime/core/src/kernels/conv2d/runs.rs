//! Copying and adding short runs of floats, the data movement of the
//! convolution's layouts (im2col rows, padded input rows, output rows of
//! 5 to 30 floats for small images): inline vector moves instead of
//! `memcpy` calls, whose set-up cost dominated such runs.
//!
//! Code generic over [`Runs`] is compiled twice, for the portable tier
//! with [`PlainRuns`] and inside an AVX2 function with [`Avx2Runs`]; the
//! caller picks one by the kernel tier ([`with_runs`]).

/// How runs of floats are copied and added: in plain Rust (any target) or
/// with AVX2 vectors and masked tails ([`Avx2Runs`]).
pub(super) trait Runs {
    /// `dst.copy_from_slice(&src[..dst.len()])`.
    fn copy(dst: &mut [f32], src: &[f32]);
    /// `dst[i] += src[i]` for every `i` of `dst`.
    fn add(dst: &mut [f32], src: &[f32]);
}

/// Plain Rust: fixed 8-float pieces, which the compiler keeps as vector
/// moves (a `copy_from_slice` of a short run became a `memcpy` call).
pub(super) struct PlainRuns;

impl Runs for PlainRuns {
    #[inline(always)]
    fn copy(dst: &mut [f32], src: &[f32]) {
        let n = dst.len();
        let (dst8, dst_tail) = dst.as_chunks_mut::<8>();
        let (src8, src_tail) = src[..n].as_chunks::<8>();
        for (d, s) in dst8.iter_mut().zip(src8) {
            *d = *s;
        }
        for (d, &s) in dst_tail.iter_mut().zip(src_tail) {
            *d = s;
        }
    }

    #[inline(always)]
    fn add(dst: &mut [f32], src: &[f32]) {
        let n = dst.len();
        let (dst8, dst_tail) = dst.as_chunks_mut::<8>();
        let (src8, src_tail) = src[..n].as_chunks::<8>();
        for (d, s) in dst8.iter_mut().zip(src8) {
            let mut sum = *d;
            for (v, &s) in sum.iter_mut().zip(s) {
                *v += s;
            }
            *d = sum;
        }
        for (d, &s) in dst_tail.iter_mut().zip(src_tail) {
            *d += s;
        }
    }
}

/// AVX2: 8-float vectors; a run's partial last vector is handled by one
/// more vector ending exactly at the run's end, overlapping the previous
/// one (masked stores would avoid the overlap, but AMD's Zen cores run
/// them as slow microcode: im2col with them was 30% slower). Runs under 8
/// floats go one by one. Only called from functions compiled with AVX2.
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2Runs;

#[cfg(target_arch = "x86_64")]
impl Runs for Avx2Runs {
    #[inline(always)]
    fn copy(dst: &mut [f32], src: &[f32]) {
        use core::arch::x86_64::*;
        let n = dst.len();
        let src = &src[..n];
        if n < 8 {
            return PlainRuns::copy(dst, src);
        }
        let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
        // SAFETY: every vector lies inside the first `n >= 8` floats of
        // both slices; the caller runs with AVX2 enabled.
        unsafe {
            let mut at = 0;
            while at + 8 <= n {
                _mm256_storeu_ps(d.add(at), _mm256_loadu_ps(s.add(at)));
                at += 8;
            }
            if at < n {
                _mm256_storeu_ps(d.add(n - 8), _mm256_loadu_ps(s.add(n - 8)));
            }
        }
    }

    #[inline(always)]
    fn add(dst: &mut [f32], src: &[f32]) {
        use core::arch::x86_64::*;
        let n = dst.len();
        let src = &src[..n];
        if n < 8 {
            return PlainRuns::add(dst, src);
        }
        let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
        // SAFETY: as in `copy`.
        unsafe {
            // The last 8 sums, taken before the loop changes any of them:
            // storing them at the end gives the overlapping lanes the same
            // `dst + src` the loop stored there.
            let last = _mm256_add_ps(_mm256_loadu_ps(d.add(n - 8)), _mm256_loadu_ps(s.add(n - 8)));
            let mut at = 0;
            while at + 8 <= n {
                let sum = _mm256_add_ps(_mm256_loadu_ps(d.add(at)), _mm256_loadu_ps(s.add(at)));
                _mm256_storeu_ps(d.add(at), sum);
                at += 8;
            }
            if at < n {
                _mm256_storeu_ps(d.add(n - 8), last);
            }
        }
    }
}

/// Calls generic function `f::<R: Runs>` with [`Avx2Runs`] (from a
/// function compiled for AVX2, so the vector moves inline) where the tier
/// allows, else with [`PlainRuns`]. The arguments are written with their
/// types: `with_runs!(f(a: &[f32], b: &mut [f32]))`.
macro_rules! with_runs {
    ($f:ident($($arg:ident: $ty:ty),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            /// `f` compiled for AVX2.
            ///
            /// # Safety
            /// AVX2 and FMA must be available.
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                $f::<$crate::kernels::conv2d::runs::Avx2Runs>($($arg),*)
            }
            if $crate::cpu::runs_at_least($crate::cpu::Tier::Avx2) {
                // SAFETY: the CPU has AVX2 (`best_supported` detected it).
                unsafe { avx2($($arg),*) }
            } else {
                $f::<$crate::kernels::conv2d::runs::PlainRuns>($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $f::<$crate::kernels::conv2d::runs::PlainRuns>($($arg),*)
        }
    }};
}
pub(super) use with_runs;
