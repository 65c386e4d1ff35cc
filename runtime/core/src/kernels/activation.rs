//! Pointwise activations with PyTorch semantics: `relu`, `leaky_relu`,
//! `sigmoid`, `tanh`.
//!
//! Each backward takes whichever saved tensor makes it cheapest, named in
//! its doc comment: `relu`, `sigmoid` and `tanh` use the forward output `y`
//! (so the input need not be kept), `leaky_relu` uses the input `x` (its
//! output loses the sign when the slope is 0 or negative). All shapes are
//! flat: any tensor, same length everywhere.

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
