//! Pointwise activations with PyTorch semantics: `relu`, `leaky_relu`,
//! `sigmoid`, `tanh`, `gelu` (exact and tanh forms), `silu`, `hardswish`,
//! `elu`, `softplus`.
//!
//! Each backward takes whichever saved tensor makes it cheapest, named in
//! its doc comment: `relu`, `sigmoid` and `tanh` use the forward output `y`
//! (so the input need not be kept), `leaky_relu` uses the input `x` (its
//! output loses the sign when the slope is 0 or negative), and so do the
//! smooth ones after `tanh` (their derivatives are not functions of `y`).
//! All shapes are flat: any tensor, same length everywhere.
//!
//! The smooth activations follow ATen's CPU formulas operation by
//! operation (same constants, same order), with libm's `erff`, `expf`,
//! `expm1f`, `log1pf` and `tanhf` (each within 1 ulp) rather than the
//! fast [`exp`], so they stay within a few ulps of PyTorch.

use super::elementwise::{exp, multiversion};

pub mod relu {
    use super::multiversion;

    multiversion! {
        /// `y = max(x, 0)` (NaN stays NaN, as `torch.relu`).
        pub fn forward(x: &[f32], y: &mut [f32]) {
            assert_eq!(x.len(), y.len(), "relu::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                *y = if x < 0.0 { 0.0 } else { x };
            }
        }
    }

    multiversion! {
        /// [`forward`] in place.
        pub fn forward_inplace(x: &mut [f32]) {
            for x in x.iter_mut() {
                if *x < 0.0 {
                    *x = 0.0;
                }
            }
        }
    }

    multiversion! {
        /// `dx = dy · [y > 0]`, from the forward **output** `y`
        /// (relu'(0) = 0, as PyTorch).
        pub fn backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
            assert!(y.len() == dx.len() && dy.len() == dx.len(), "relu::backward: lengths");
            for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                *dx = if y > 0.0 { g } else { 0.0 };
            }
        }
    }

    /// [`backward_inplace`] split over the threads of `par`.
    pub fn backward_inplace_par(y: &[f32], dy: &mut [f32], par: &dyn crate::threads::Threads) {
        assert_eq!(y.len(), dy.len(), "relu::backward_inplace: lengths");
        // Below this many elements one thread is faster than waking another.
        const MIN_PARALLEL: usize = 1 << 16;
        if par.threads() == 1 || y.len() < MIN_PARALLEL {
            return backward_inplace(y, dy);
        }
        let unit = y.len().div_ceil(par.threads());
        crate::threads::for_each_chunk_mut(par, dy, unit, &|first, chunk| {
            let at = first * unit;
            backward_inplace(&y[at..at + chunk.len()], chunk);
        });
    }

    multiversion! {
        /// [`backward`] in place: `dy = dy · [y > 0]`.
        pub fn backward_inplace(y: &[f32], dy: &mut [f32]) {
            assert_eq!(y.len(), dy.len(), "relu::backward_inplace: lengths");
            for (g, &y) in dy.iter_mut().zip(y) {
                if y <= 0.0 {
                    *g = 0.0;
                }
            }
        }
    }
}

pub mod leaky_relu {
    use super::multiversion;

    multiversion! {
        /// `y = x` where `x > 0`, else `negative_slope · x`.
        pub fn forward(x: &[f32], y: &mut [f32], negative_slope: f32) {
            assert_eq!(x.len(), y.len(), "leaky_relu::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                *y = if x > 0.0 { x } else { negative_slope * x };
            }
        }
    }

    multiversion! {
        /// `dx = dy` where `x > 0`, else `negative_slope · dy`, from the
        /// forward **input** `x` (slope at 0 is `negative_slope`, as PyTorch).
        pub fn backward(x: &[f32], dy: &[f32], dx: &mut [f32], negative_slope: f32) {
            assert!(x.len() == dx.len() && dy.len() == dx.len(), "leaky_relu::backward: lengths");
            for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                *dx = if x > 0.0 { g } else { negative_slope * g };
            }
        }
    }
}

pub mod sigmoid {
    use super::exp;

    super::multiversion! {
        /// `y = 1 / (1 + e^-x)`, without overflow for large `|x|`.
        pub fn forward(x: &[f32], y: &mut [f32]) {
            assert_eq!(x.len(), y.len(), "sigmoid::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                // e^-|x| never overflows; the two branches are one function.
                let e = exp(-x.abs());
                let r = 1.0 / (1.0 + e);
                *y = if x >= 0.0 { r } else { e * r };
            }
        }
    }

    super::multiversion! {
        /// `dx = dy · y · (1 - y)`, from the forward **output** `y`.
        pub fn backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
            assert!(y.len() == dx.len() && dy.len() == dx.len(), "sigmoid::backward: lengths");
            for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                *dx = g * y * (1.0 - y);
            }
        }
    }
}

pub mod tanh {
    use super::exp;

    super::multiversion! {
        /// `y = tanh(x)`.
        pub fn forward(x: &[f32], y: &mut [f32]) {
            assert_eq!(x.len(), y.len(), "tanh::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                let a = x.abs();
                // Near 0, `1 - 2/(e^2a + 1)` would cancel; Cephes' odd
                // polynomial for |x| < 0.625 keeps the relative accuracy.
                let z = a * a;
                let p = -5.704_988_7e-3;
                let p = p * z + 2.063_909e-2;
                let p = p * z - 5.373_971_6e-2;
                let p = p * z + 0.133_314_42;
                let p = p * z - 0.333_332_8;
                let small = p * z * a + a;
                let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
                let t = if a < 0.625 { small } else { large };
                *y = t.copysign(x);
            }
        }
    }

    super::multiversion! {
        /// `dx = dy · (1 - y²)`, from the forward **output** `y`.
        pub fn backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
            assert!(y.len() == dx.len() && dy.len() == dx.len(), "tanh::backward: lengths");
            for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                *dx = g * (1.0 - y * y);
            }
        }
    }
}

/// ATen's `M_SQRT1_2 · M_2_SQRTPI · 0.5`, the normal density's `1/√(2π)`.
const INV_SQRT_2PI: f32 =
    (core::f64::consts::FRAC_1_SQRT_2 * core::f64::consts::FRAC_2_SQRT_PI * 0.5) as f32;

pub mod gelu {
    use super::{INV_SQRT_2PI, exp};
    use core::f32::consts::FRAC_1_SQRT_2;

    /// `erfc(z)` for `z >= 0` (Numerical Recipes' `erfcc`, a Chebyshev fit
    /// with relative error below 1.2e-7 everywhere), in plain arithmetic
    /// and [`exp`] so the loops vectorize; libm's scalar `erff` and `expf`
    /// took a quarter of a small transformer's training time.
    #[inline(always)]
    fn erfc_nonnegative(z: f32) -> f32 {
        let t = 1.0 / (1.0 + 0.5 * z);
        let p = 0.170_872_77;
        let p = p * t - 0.822_152_23;
        let p = p * t + 1.488_515_9;
        let p = p * t - 1.135_204;
        let p = p * t + 0.278_868_07;
        let p = p * t - 0.186_288_06;
        let p = p * t + 0.096_784_18;
        let p = p * t + 0.374_091_96;
        let p = p * t + 1.000_023_7;
        let p = p * t - 1.265_512_2;
        t * exp(p - z * z)
    }

    /// `Φ(x) = 0.5 · erfc(-x / √2)`. For `x < 0` it is computed from
    /// `erfc` directly rather than as `1 + erf`, which cancels: the result
    /// keeps its relative accuracy in the tail, where PyTorch's float32
    /// loses digits (near x = -3 and below).
    #[inline(always)]
    fn normal_cdf(x: f32) -> f32 {
        let half_erfc = 0.5 * erfc_nonnegative(x.abs() * FRAC_1_SQRT_2);
        if x >= 0.0 { 1.0 - half_erfc } else { half_erfc }
    }

    super::multiversion! {
        /// `y = x · Φ(x) = x · 0.5 · (1 + erf(x / √2))`, `F.gelu(x)`.
        pub fn forward(x: &[f32], y: &mut [f32]) {
            assert_eq!(x.len(), y.len(), "gelu::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * normal_cdf(x);
            }
        }
    }

    super::multiversion! {
        /// `dx = dy · (Φ(x) + x · φ(x))`, from the forward **input** `x`.
        pub fn backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
            assert!(x.len() == dx.len() && dy.len() == dx.len(), "gelu::backward: lengths");
            for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                let pdf = INV_SQRT_2PI * exp(x * x * -0.5);
                *dx = g * (normal_cdf(x) + x * pdf);
            }
        }
    }
}

pub mod gelu_tanh {
    /// ATen's `M_SQRT2 · M_2_SQRTPI · 0.5`, `√(2/π)`.
    const BETA: f32 = (core::f64::consts::SQRT_2 * core::f64::consts::FRAC_2_SQRT_PI * 0.5) as f32;
    const KAPPA: f32 = 0.044715;

    super::multiversion! {
        /// `y = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`,
        /// `F.gelu(x, approximate='tanh')`.
        pub fn forward(x: &[f32], y: &mut [f32]) {
            assert_eq!(x.len(), y.len(), "gelu_tanh::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                let inner = BETA * (x + KAPPA * (x * x * x));
                *y = 0.5 * x * (1.0 + libm::tanhf(inner));
            }
        }
    }

    super::multiversion! {
        /// The derivative of [`forward`] times `dy`, from the forward
        /// **input** `x`.
        pub fn backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
            assert!(x.len() == dx.len() && dy.len() == dx.len(), "gelu_tanh::backward: lengths");
            for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                let x_sq = x * x;
                let inner = BETA * (x + KAPPA * (x_sq * x));
                let t = libm::tanhf(inner);
                let left = 0.5 * x;
                let left_derivative = 0.5 * (1.0 + t);
                let inner_derivative = BETA * (1.0 + 3.0 * KAPPA * x_sq);
                let right_derivative = left * (1.0 - t * t) * inner_derivative;
                *dx = g * (left_derivative + right_derivative);
            }
        }
    }
}

pub mod silu {
    super::multiversion! {
        /// `y = x / (1 + e^-x)`, `F.silu(x)`.
        pub fn forward(x: &[f32], y: &mut [f32]) {
            assert_eq!(x.len(), y.len(), "silu::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x / (1.0 + libm::expf(-x));
            }
        }
    }

    super::multiversion! {
        /// `dx = dy · σ(x) · (1 + x · (1 - σ(x)))`, from the forward
        /// **input** `x`.
        pub fn backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
            assert!(x.len() == dx.len() && dy.len() == dx.len(), "silu::backward: lengths");
            for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                let s = 1.0 / (1.0 + libm::expf(-x));
                *dx = g * s * (1.0 + x * (1.0 - s));
            }
        }
    }
}

pub mod hardswish {
    super::multiversion! {
        /// `y = x · min(max(x + 3, 0), 6) / 6`, `F.hardswish(x)`.
        pub fn forward(x: &[f32], y: &mut [f32]) {
            assert_eq!(x.len(), y.len(), "hardswish::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * (x + 3.0).clamp(0.0, 6.0) / 6.0;
            }
        }
    }

    super::multiversion! {
        /// `dx = 0` up to -3, `dy · (x/3 + 1/2)` below 3, `dy` from 3 on (at
        /// the corners PyTorch takes the outer side's slope); from the
        /// forward **input** `x`.
        pub fn backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
            assert!(x.len() == dx.len() && dy.len() == dx.len(), "hardswish::backward: lengths");
            for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                *dx = if x <= -3.0 {
                    0.0
                } else if x < 3.0 {
                    g * (x / 3.0 + 0.5)
                } else {
                    g
                };
            }
        }
    }
}

pub mod elu {
    super::multiversion! {
        /// `y = x` where `x > 0`, else `alpha · (e^x - 1)`, `F.elu(x, alpha)`
        /// (`expm1`, as ATen's vectorized kernel, for accuracy near 0).
        pub fn forward(x: &[f32], y: &mut [f32], alpha: f32) {
            assert_eq!(x.len(), y.len(), "elu::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                *y = if x <= 0.0 { libm::expm1f(x) * alpha } else { x };
            }
        }
    }

    super::multiversion! {
        /// `dx = dy` where `x > 0`, else `dy · alpha · e^x`, from the forward
        /// **input** `x` (the output loses `x` where `alpha` is 0).
        pub fn backward(x: &[f32], dy: &[f32], dx: &mut [f32], alpha: f32) {
            assert!(x.len() == dx.len() && dy.len() == dx.len(), "elu::backward: lengths");
            for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                *dx = if x <= 0.0 { g * alpha * libm::expf(x) } else { g };
            }
        }
    }
}

pub mod softplus {
    super::multiversion! {
        /// `y = log(1 + e^(beta·x)) / beta`, or `x` where `beta·x >
        /// threshold`, `F.softplus(x, beta, threshold)`.
        pub fn forward(x: &[f32], y: &mut [f32], beta: f32, threshold: f32) {
            assert_eq!(x.len(), y.len(), "softplus::forward: lengths");
            for (y, &x) in y.iter_mut().zip(x) {
                let z = x * beta;
                *y = if z > threshold { x } else { libm::log1pf(libm::expf(z)) / beta };
            }
        }
    }

    super::multiversion! {
        /// `dx = dy · e^z / (e^z + 1)` with `z = beta·x`, or `dy` where
        /// `z > threshold`; from the forward **input** `x`.
        pub fn backward(x: &[f32], dy: &[f32], dx: &mut [f32], beta: f32, threshold: f32) {
            assert!(x.len() == dx.len() && dy.len() == dx.len(), "softplus::backward: lengths");
            for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                let z = x * beta;
                let e = libm::expf(z);
                *dx = if z > threshold { g } else { g * e / (e + 1.0) };
            }
        }
    }
}
