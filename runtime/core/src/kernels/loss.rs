//! Losses (mean reduction, as PyTorch's defaults) and the accuracy count.
//!
//! Losses are returned as f64, summed in f64, so the value logged for a
//! whole epoch does not depend on the batch size through rounding.

use alloc::vec::Vec;

use super::elementwise::exp_in_place;

/// Mean softmax cross-entropy of `logits [batch, classes]` against class
/// indices `labels [batch]` (`nn.CrossEntropyLoss()`), via a stable
/// log-sum-exp. When `dlogits [batch, classes]` is given it is overwritten
/// with the gradient of the mean loss, `(softmax(logits) - onehot) / batch`.
///
/// Panics if a label is `>= classes` (callers validate data beforehand).
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    batch: usize,
    classes: usize,
    dlogits: Option<&mut [f32]>,
) -> f64 {
    assert!(
        logits.len() == batch * classes && labels.len() == batch,
        "softmax_cross_entropy: lengths"
    );
    if let Some(d) = dlogits.as_deref() {
        assert_eq!(
            d.len(),
            logits.len(),
            "softmax_cross_entropy: gradient length"
        );
    }
    if batch == 0 {
        return 0.0;
    }
    assert!(classes > 0, "softmax_cross_entropy: no classes");
    let inv_batch = 1.0 / batch as f32;
    let want_grad = dlogits.is_some();
    let mut scratch = Vec::new();
    let e: &mut [f32] = match dlogits {
        Some(d) => d,
        None => {
            scratch.resize(logits.len(), 0.0);
            &mut scratch
        }
    };
    // Shift each row by its maximum, then exponentiate the whole batch in
    // one vectorized pass (rows of ten classes are too short to vectorize
    // one at a time).
    // (The maxima are computed again below rather than kept: a training
    // step with a gradient buffer allocates nothing.)
    let row_max = |row: &[f32]| row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (row, e) in logits
        .chunks_exact(classes)
        .zip(e.chunks_exact_mut(classes))
    {
        let m = row_max(row);
        for (e, &v) in e.iter_mut().zip(row) {
            *e = v - m;
        }
    }
    exp_in_place(e);
    let mut total = 0.0f64;
    for ((row, e), &label) in logits
        .chunks_exact(classes)
        .zip(e.chunks_exact_mut(classes))
        .zip(labels)
    {
        let m = row_max(row);
        let label = label as usize;
        assert!(
            label < classes,
            "label {label} out of range for {classes} classes"
        );
        // exp(x - m) in f32 (within 2 ulp), summed in f64.
        let sum: f64 = e.iter().map(|&v| v as f64).sum();
        total += m as f64 + crate::math::ln(sum) - row[label] as f64;
        if want_grad {
            let scale = (1.0 / (sum * batch as f64)) as f32;
            for e in e.iter_mut() {
                *e *= scale;
            }
            e[label] -= inv_batch;
        }
    }
    total / batch as f64
}

/// Mean squared error over all elements (`nn.MSELoss()`); when `dy` is
/// given it is overwritten with `2 (y - target) / numel`.
pub fn mse(y: &[f32], target: &[f32], dy: Option<&mut [f32]>) -> f64 {
    assert_eq!(y.len(), target.len(), "mse: lengths");
    if y.is_empty() {
        return 0.0;
    }
    let sum: f64 = y
        .iter()
        .zip(target)
        .map(|(&a, &b)| {
            let d = a as f64 - b as f64;
            d * d
        })
        .sum();
    if let Some(dy) = dy {
        assert_eq!(dy.len(), y.len(), "mse: gradient length");
        let s = 2.0 / y.len() as f32;
        for ((d, &a), &b) in dy.iter_mut().zip(y).zip(target) {
            *d = s * (a - b);
        }
    }
    sum / y.len() as f64
}

/// How many rows of `logits [batch, classes]` have their largest value at
/// the label's index. Ties go to the first maximum and a NaN counts as the
/// maximum, as `torch.argmax`.
pub fn count_correct(logits: &[f32], labels: &[u32], batch: usize, classes: usize) -> usize {
    assert!(
        logits.len() == batch * classes && labels.len() == batch,
        "count_correct: lengths"
    );
    if classes == 0 {
        return 0;
    }
    logits
        .chunks_exact(classes)
        .zip(labels)
        .filter(|&(row, &label)| argmax(row) == label as usize)
        .count()
}

/// Index of the first maximum (the first NaN if there is one).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate().skip(1) {
        let b = row[best];
        if b.is_nan() {
            break;
        }
        if v > b || v.is_nan() {
            best = i;
        }
    }
    best
}
