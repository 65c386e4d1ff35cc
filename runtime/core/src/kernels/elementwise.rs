//! Simple element-by-element kernels: sums (gradient accumulation), copies,
//! scaling, and the `y += αx` of an SGD step.
//!
//! The loops are written plainly so LLVM vectorizes them; [`multiversion!`]
//! compiles each once more for AVX2 + FMA and for AVX-512, and picks by the
//! kernel tier ([`crate::cpu::tier`]) at run time, because a portable build
//! would otherwise only use 128-bit SSE2.

use crate::threads::Threads;

/// Defines a function whose body is compiled three times (for the baseline
/// target, with AVX2 + FMA, and with AVX-512) and runs the version of the
/// process's kernel tier.
///
/// `fn f(..)` also gets a hidden module `f` holding `f::for_tier(tier, ..)`,
/// which runs the version of an explicit tier (clamped to what the CPU
/// has), so tests can compare the tiers within one process.
///
/// The three versions give bit-identical results: Rust never reassociates
/// float operations nor fuses a multiply and an add on its own, so wider
/// vectors only change how many lanes do the same operations.
macro_rules! multiversion {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        #[inline]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            $name::for_tier($crate::cpu::tier(), $($arg),*)
        }

        #[doc(hidden)]
        $vis mod $name {
            #[allow(unused_imports)]
            use super::*;

            /// Runs the version compiled for `tier`, or for the best tier
            /// of this CPU below it.
            pub fn for_tier(tier: $crate::cpu::Tier, $($arg: $ty),*) $(-> $ret)? {
                #[cfg(target_arch = "x86_64")]
                {
                    use $crate::cpu::{Tier, best_supported};
                    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                    fn avx512($($arg: $ty),*) $(-> $ret)? $body
                    #[target_feature(enable = "avx2,fma")]
                    fn avx2($($arg: $ty),*) $(-> $ret)? $body
                    match tier.min(best_supported()) {
                        // SAFETY: the CPU has every feature `avx512` was
                        // compiled for (`best_supported` detected them).
                        Tier::Avx512 => return unsafe { avx512($($arg),*) },
                        // SAFETY: likewise for AVX2 and FMA.
                        Tier::Avx2 => return unsafe { avx2($($arg),*) },
                        Tier::Portable => {}
                    }
                }
                let _ = tier;
                $body
            }
        }
    };
}
pub(crate) use multiversion;

multiversion! {
    /// `y = a + b`, all of one length.
    pub fn add(a: &[f32], b: &[f32], y: &mut [f32]) {
        assert!(a.len() == y.len() && b.len() == y.len(), "add: lengths");
        for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
            *y = a + b;
        }
    }
}

multiversion! {
    /// `acc += x`: sums the gradients of a value read by several consumers.
    pub fn add_assign(acc: &mut [f32], x: &[f32]) {
        assert_eq!(acc.len(), x.len(), "add_assign: lengths");
        for (a, &x) in acc.iter_mut().zip(x) {
            *a += x;
        }
    }
}

multiversion! {
    /// `y = a · b` element by element.
    pub fn mul(a: &[f32], b: &[f32], y: &mut [f32]) {
        assert!(a.len() == y.len() && b.len() == y.len(), "mul: lengths");
        for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
            *y = a * b;
        }
    }
}

multiversion! {
    /// `y = alpha · x`.
    pub fn scale(x: &[f32], alpha: f32, y: &mut [f32]) {
        assert_eq!(x.len(), y.len(), "scale: lengths");
        for (y, &x) in y.iter_mut().zip(x) {
            *y = alpha * x;
        }
    }
}

multiversion! {
    /// `y *= alpha` in place.
    pub fn scale_assign(y: &mut [f32], alpha: f32) {
        for y in y.iter_mut() {
            *y *= alpha;
        }
    }
}

multiversion! {
    /// `y += alpha · x` (an SGD step is `axpy(-lr, grad, weight)`).
    ///
    /// Rounded as `y + alpha·x` with two roundings, like PyTorch's
    /// `param.add_(grad, alpha=-lr)` on CPU.
    pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
        assert_eq!(x.len(), y.len(), "axpy: lengths");
        for (y, &x) in y.iter_mut().zip(x) {
            *y += alpha * x;
        }
    }
}

/// `e^x` in f32 within 2 ulp (relative error below 2.4e-7) for `x` in
/// about [-87.3, 88.3]; 0 below, about 2.6e38 above, NaN for NaN.
///
/// Branch-free arithmetic (Cody-Waite reduction, Cephes' degree-6
/// polynomial, exponent built from bits) so loops over it vectorize; libm's
/// `expf` is a call per element.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let underflow = x < -87.3;
    let x = x.clamp(-87.3, 88.3);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let e = p * (r * r) + r + 1.0;
    // n is in [-126, 127] after the clamp, so n + 127 is a valid biased
    // exponent. `shifted`'s low mantissa bits hold n already; reading them
    // avoids a float-to-int conversion, which stops LLVM vectorizing.
    let biased = shifted
        .to_bits()
        .wrapping_sub(0x4B40_0000)
        .wrapping_add(127);
    let scale = f32::from_bits(biased << 23);
    if underflow { 0.0 } else { e * scale }
}

multiversion! {
    /// `x = e^x` for every element, vectorized (see [`exp`]).
    pub fn exp_in_place(x: &mut [f32]) {
        for x in x.iter_mut() {
            *x = exp(*x);
        }
    }
}

/// [`axpy`] split over the threads of `par` when `y` is long enough to pay
/// for the hand-over (an SGD step over a whole model's parameters).
pub fn axpy_par(alpha: f32, x: &[f32], y: &mut [f32], par: &dyn Threads) {
    assert_eq!(x.len(), y.len(), "axpy_par: lengths");
    // Below this a parallel call costs about what it saves (measured).
    const MIN_PARALLEL_LEN: usize = 32 * 1024;
    if par.threads() == 1 || y.len() < MIN_PARALLEL_LEN {
        axpy(alpha, x, y);
        return;
    }
    // Whole cache lines per thread.
    const UNIT: usize = 16;
    crate::threads::for_each_chunk_mut(par, y, UNIT, &|first, chunk| {
        let start = first * UNIT;
        axpy(alpha, &x[start..start + chunk.len()], chunk);
    });
}

/// `y = x`.
pub fn copy(x: &[f32], y: &mut [f32]) {
    y.copy_from_slice(x);
}

/// Every element of `y` set to `value`.
pub fn fill(y: &mut [f32], value: f32) {
    y.fill(value);
}

/// `y[r, :] += bias` for every row `r` of `y` viewed as `[rows, bias.len()]`.
pub fn add_bias_rows(y: &mut [f32], bias: &[f32]) {
    if bias.is_empty() {
        return;
    }
    assert_eq!(y.len() % bias.len(), 0, "add_bias_rows: lengths");
    for row in y.chunks_exact_mut(bias.len()) {
        add_assign(row, bias);
    }
}

multiversion! {
    /// `sums[j] = Σ_r x[r, j]` over the rows of `x` viewed as
    /// `[rows, sums.len()]` (the bias gradient of a dense layer).
    pub fn sum_rows(x: &[f32], sums: &mut [f32]) {
        sums.fill(0.0);
        if sums.is_empty() {
            return;
        }
        assert_eq!(x.len() % sums.len(), 0, "sum_rows: lengths");
        for row in x.chunks_exact(sums.len()) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn literal_values() {
        let a = [1.0, -2.0, 3.5];
        let b = [0.5, 2.0, -1.0];
        let mut y = [0.0; 3];
        add(&a, &b, &mut y);
        assert_eq!(y, [1.5, 0.0, 2.5]);
        mul(&a, &b, &mut y);
        assert_eq!(y, [0.5, -4.0, -3.5]);
        scale(&a, -2.0, &mut y);
        assert_eq!(y, [-2.0, 4.0, -7.0]);
        scale_assign(&mut y, 0.5);
        assert_eq!(y, [-1.0, 2.0, -3.5]);
        add_assign(&mut y, &a);
        assert_eq!(y, [0.0, 0.0, 0.0]);
        axpy(2.0, &a, &mut y);
        assert_eq!(y, [2.0, -4.0, 7.0]);
        copy(&b, &mut y);
        assert_eq!(y, b);
        fill(&mut y, 9.0);
        assert_eq!(y, [9.0; 3]);
        let mut m = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        add_bias_rows(&mut m, &[10.0, 20.0, 30.0]);
        assert_eq!(m, [11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        let mut s = [7.0; 3];
        sum_rows(&m, &mut s);
        assert_eq!(s, [25.0, 47.0, 69.0]);
    }

    #[test]
    fn parallel_axpy_matches_serial() {
        for len in [10, 32 * 1024 + 3, 100_003] {
            let x: Vec<f32> = (0..len).map(|i| (i % 13) as f32 - 6.0).collect();
            let mut y: Vec<f32> = (0..len).map(|i| (i % 7) as f32).collect();
            let mut want = y.clone();
            axpy(0.25, &x, &mut want);
            axpy_par(0.25, &x, &mut y, &crate::threads::Scoped(2));
            assert_eq!(y, want);
        }
    }

    #[test]
    fn exp_is_within_two_ulp() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_7;
        }
        assert!(worst < 2.4e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-200.0), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn long_odd_lengths_cover_simd_remainders() {
        for len in [0, 1, 15, 16, 17, 63, 65, 1000, 1031] {
            let a: Vec<f32> = (0..len).map(|i| i as f32 * 0.25 - 3.0).collect();
            let b: Vec<f32> = (0..len).map(|i| (i % 7) as f32 - 2.0).collect();
            let mut y = vec![0.0; len];
            add(&a, &b, &mut y);
            assert!(y.iter().enumerate().all(|(i, &v)| v == a[i] + b[i]));
            let mut acc = b.clone();
            axpy(-0.5, &a, &mut acc);
            assert!(
                acc.iter()
                    .enumerate()
                    .all(|(i, &v)| v == b[i] + -0.5 * a[i])
            );
        }
    }
}
