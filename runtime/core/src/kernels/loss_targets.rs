//! The losses beyond plain cross-entropy and MSE, PyTorch's with mean
//! reduction: L1, smooth L1 and BCE-with-logits on float targets, and
//! cross-entropy with class weights and label smoothing.
//!
//! Each returns the mean loss as f64 (summed in f64) and, when a gradient
//! buffer is given, overwrites it with the gradient of that mean.

use crate::math;

fn check_lengths(name: &str, y: &[f32], target: &[f32], dy: &Option<&mut [f32]>) {
    assert_eq!(y.len(), target.len(), "{name}: lengths");
    if let Some(d) = dy {
        assert_eq!(d.len(), y.len(), "{name}: gradient length");
    }
}

/// Mean absolute error (`nn.L1Loss()`); the gradient is `sign(y - t) / n`
/// with `sign(0) = 0`, as `torch.sign`.
pub fn l1(y: &[f32], target: &[f32], dy: Option<&mut [f32]>) -> f64 {
    check_lengths("l1", y, target, &dy);
    if y.is_empty() {
        return 0.0;
    }
    let sum: f64 = y
        .iter()
        .zip(target)
        .map(|(&a, &b)| (a as f64 - b as f64).abs())
        .sum();
    if let Some(dy) = dy {
        let s = 1.0 / y.len() as f32;
        for ((d, &a), &b) in dy.iter_mut().zip(y).zip(target) {
            let diff = a - b;
            *d = if diff > 0.0 {
                s
            } else if diff < 0.0 {
                -s
            } else {
                0.0
            };
        }
    }
    sum / y.len() as f64
}

/// `nn.SmoothL1Loss(beta)`: per element `0.5 d² / beta` where
/// `|d| < beta`, else `|d| - 0.5 beta` (so `beta = 0` is L1); gradient
/// `d / beta` or `sign(d)`, over `n`.
pub fn smooth_l1(y: &[f32], target: &[f32], beta: f32, dy: Option<&mut [f32]>) -> f64 {
    check_lengths("smooth_l1", y, target, &dy);
    if y.is_empty() {
        return 0.0;
    }
    let b = beta as f64;
    let sum: f64 = y
        .iter()
        .zip(target)
        .map(|(&p, &t)| {
            let d = (p as f64 - t as f64).abs();
            if d < b { 0.5 * d * d / b } else { d - 0.5 * b }
        })
        .sum();
    if let Some(dy) = dy {
        let inv_n = 1.0 / y.len() as f32;
        for ((g, &p), &t) in dy.iter_mut().zip(y).zip(target) {
            let d = p - t;
            *g = if d.abs() < beta {
                d / beta * inv_n
            } else if d > 0.0 {
                inv_n
            } else if d < 0.0 {
                -inv_n
            } else {
                0.0
            };
        }
    }
    sum / y.len() as f64
}

/// `nn.BCEWithLogitsLoss()` on logits `x` and 0/1 targets: per element
/// `max(x, 0) - x t + ln(1 + e^-|x|)` (stable for large `|x|`); the
/// gradient is `(sigmoid(x) - t) / n`.
pub fn bce_with_logits(x: &[f32], target: &[f32], dx: Option<&mut [f32]>) -> f64 {
    check_lengths("bce_with_logits", x, target, &dx);
    if x.is_empty() {
        return 0.0;
    }
    let sum: f64 = x
        .iter()
        .zip(target)
        .map(|(&x, &t)| {
            let (x, t) = (x as f64, t as f64);
            x.max(0.0) - x * t + math::ln_1p(math::exp(-x.abs()))
        })
        .sum();
    if let Some(dx) = dx {
        let inv_n = 1.0 / x.len() as f64;
        for ((g, &x), &t) in dx.iter_mut().zip(x).zip(target) {
            let x = x as f64;
            // Both branches avoid overflow of e^x.
            let sigmoid = if x >= 0.0 {
                1.0 / (1.0 + math::exp(-x))
            } else {
                let e = math::exp(x);
                e / (1.0 + e)
            };
            *g = ((sigmoid - t as f64) * inv_n) as f32;
        }
    }
    sum / x.len() as f64
}

/// `nn.CrossEntropyLoss(weight, label_smoothing)` on `logits [batch,
/// classes]` and class indices, PyTorch's formula exactly: with weights
/// `w` (all 1 without), `W = Σᵢ w[yᵢ]` and smoothing `ε`,
///
/// `loss = (1 - ε) Σᵢ w[yᵢ] (-log pᵢ[yᵢ]) / W + ε / C · Σᵢ Σ_c w_c (-log pᵢ[c]) / W`
///
/// (PyTorch divides the smoothing term of a weighted mean by `W` too).
/// The gradient of row `i` is `((1 - ε) w[yᵢ] (pᵢ - onehot) + ε / C (Σw pᵢ - w)) / W`.
/// A batch whose labels all weigh 0 (`W = 0`, where PyTorch gives 0/0 =
/// NaN) has loss 0 and gradient 0: it carries nothing to learn from.
///
/// Panics if a label is `>= classes` or `weight` is not `classes` long.
pub fn cross_entropy(
    logits: &[f32],
    labels: &[u32],
    classes: usize,
    label_smoothing: f32,
    weight: Option<&[f32]>,
    dlogits: Option<&mut [f32]>,
) -> f64 {
    let batch = labels.len();
    assert_eq!(logits.len(), batch * classes, "cross_entropy: lengths");
    if let Some(w) = weight {
        assert_eq!(w.len(), classes, "cross_entropy: one weight per class");
    }
    let w = |c: usize| weight.map_or(1.0, |w| w[c] as f64);
    let eps = label_smoothing as f64;
    let total_weight: f64 = labels.iter().map(|&l| w(l as usize)).sum();
    let weight_sum: f64 = (0..classes).map(w).sum();
    let mut nll = 0.0f64;
    let mut smooth = 0.0f64;
    let mut dlogits = dlogits;
    for (i, (row, &label)) in logits.chunks_exact(classes).zip(labels).enumerate() {
        let label = label as usize;
        assert!(
            label < classes,
            "label {label} out of range for {classes} classes"
        );
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&v| math::exp(v as f64 - m)).sum();
        let lse = m + math::ln(sum);
        nll += w(label) * (lse - row[label] as f64);
        smooth += row
            .iter()
            .enumerate()
            .map(|(c, &v)| w(c) * (lse - v as f64))
            .sum::<f64>();
        if let Some(d) = dlogits.as_deref_mut() {
            let d = &mut d[i * classes..(i + 1) * classes];
            if total_weight == 0.0 {
                d.fill(0.0);
                continue;
            }
            for (c, (g, &v)) in d.iter_mut().zip(row).enumerate() {
                let p = math::exp(v as f64 - lse);
                let hit = if c == label { 1.0 } else { 0.0 };
                let g64 = (1.0 - eps) * w(label) * (p - hit)
                    + eps / classes as f64 * (weight_sum * p - w(c));
                *g = (g64 / total_weight) as f32;
            }
        }
    }
    if total_weight == 0.0 {
        return 0.0;
    }
    ((1.0 - eps) * nll + eps / classes as f64 * smooth) / total_weight
}
