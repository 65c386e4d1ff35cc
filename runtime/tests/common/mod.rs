//! Finite-difference gradient checking shared by the kernel tests.
//!
//! The oracle: for a scalar loss `L(inputs)` evaluated by the forward kernels
//! (and summed in f64), the central difference `(L(x+h) - L(x-h)) / 2h`
//! against the gradient the backward kernels produced, element by element.
#![allow(dead_code)]

use nnspec_runtime::rng::Rng;

/// Random values in [-1, 1).
pub fn random(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// Weighted sum `Σ wᵢ yᵢ` in f64: turns an output tensor into a scalar loss
/// whose gradient with respect to `y` is `w`.
pub fn weighted_sum(y: &[f32], w: &[f32]) -> f64 {
    assert_eq!(y.len(), w.len());
    y.iter().zip(w).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Compares `analytic` (dL/dx for one input) with central differences of
/// `loss` over every element of `x` (or `max_checks` evenly spread ones).
///
/// `loss` is called with the perturbed input. Fails with the worst element's
/// index and both values when `|a - n| > atol + rtol·|n|`.
pub fn check_gradient(
    what: &str,
    x: &[f32],
    analytic: &[f32],
    mut loss: impl FnMut(&[f32]) -> f64,
    eps: f32,
    atol: f64,
    rtol: f64,
) {
    assert_eq!(x.len(), analytic.len(), "{what}: gradient length");
    let mut xp = x.to_vec();
    let mut worst: Option<(usize, f64, f64, f64)> = None;
    let step = (x.len() / 400).max(1);
    for i in (0..x.len()).step_by(step) {
        let orig = xp[i];
        xp[i] = orig + eps;
        let plus = loss(&xp);
        xp[i] = orig - eps;
        let minus = loss(&xp);
        xp[i] = orig;
        // The perturbation actually applied, after rounding to f32.
        let h = ((orig + eps) as f64 - (orig - eps) as f64) / 2.0;
        let numeric = (plus - minus) / (2.0 * h);
        let a = analytic[i] as f64;
        let excess = (a - numeric).abs() - (atol + rtol * numeric.abs());
        if excess > 0.0 && worst.is_none_or(|w| excess > w.3) {
            worst = Some((i, a, numeric, excess));
        }
    }
    if let Some((i, a, n, _)) = worst {
        panic!("{what}: gradient mismatch at element {i}: analytic {a}, finite difference {n}");
    }
}
