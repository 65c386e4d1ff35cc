//! Evaluation: loss, accuracy and confusion matrix of a model on a data
//! set (or, with float targets, loss and regression metrics), in
//! evaluation mode, for the executor and for generated models.

use crate::data::Dataset;
use crate::exec::Executor;
use crate::metrics::ConfusionMatrix;
use crate::plan::LossKind;
use crate::regression::{RegressionMetrics, RegressionResult};
use crate::training::{self, Targets};

/// Loss, accuracy and confusion matrix of a model on a data set.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub loss: f64,
    /// Fraction classified correctly; NaN for regression targets, which
    /// have no classes.
    pub accuracy: f64,
    /// Empty (no classes) for regression targets.
    pub confusion: ConfusionMatrix,
    /// MAE, RMSE and R² with the predictions, for data with float targets
    /// and a regression loss.
    pub regression: Option<RegressionResult>,
}

/// Loss, accuracy and confusion matrix on `data`, in evaluation mode
/// (dropout off, BatchNorm on running statistics), in batches of the
/// executor's capacity.
pub fn evaluate(exec: &mut Executor, data: &Dataset) -> Evaluation {
    let loss = exec
        .plan()
        .loss
        .clone()
        .expect("evaluation needs a plan with a loss");
    let batch = exec.capacity();
    evaluate_weighted(
        data,
        batch,
        loss.kind,
        loss.weight.as_deref(),
        &mut |x, out| {
            let n = x.len() / data.sample_len().max(1);
            exec.input_mut(n).copy_from_slice(x);
            exec.forward(n, false);
            out.copy_from_slice(exec.buffer(loss.output, n));
        },
    )
}

/// [`evaluate`] for any model: `forward` computes the outputs of a batch
/// of at most `batch` samples (rows of `data`'s samples in, rows of the
/// loss's length out).
pub fn evaluate_with(
    data: &Dataset,
    batch: usize,
    kind: LossKind,
    forward: &mut dyn FnMut(&[f32], &mut [f32]),
) -> Evaluation {
    evaluate_weighted(data, batch, kind, None, forward)
}

/// [`evaluate_with`] with cross-entropy's class weights, if any.
pub fn evaluate_weighted(
    data: &Dataset,
    batch: usize,
    kind: LossKind,
    weight: Option<&[f32]>,
    forward: &mut dyn FnMut(&[f32], &mut [f32]),
) -> Evaluation {
    let len = kind.width();
    let float_targets = data.targets.is_some();
    let batch = batch.max(1);
    // One logit of `bce_with_logits` is a binary classifier: its classes
    // are 0 and 1, predicted by the logit's sign.
    let binary = matches!(kind, LossKind::BceWithLogits { len: 1 }) && !float_targets;
    let classes = match () {
        _ if float_targets => 0,
        _ if binary => 2,
        _ => len,
    };
    let mut confusion = ConfusionMatrix::new(classes);
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut x, mut labels, mut output, mut scratch, mut values) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut predicted = Vec::new();
    for chunk in indices.chunks(batch) {
        let n = chunk.len();
        x.resize(n * data.sample_len(), 0.0);
        labels.resize(n, 0);
        output.resize(n * len, 0.0);
        scratch.resize(training::loss_scratch_len(kind, n), 0.0);
        data.gather_batch(chunk, &mut x, &mut labels);
        forward(&x, &mut output);
        let stats = if float_targets {
            values.resize(n * data.target_width(), 0.0);
            data.gather_targets(chunk, &mut values);
            predicted.extend_from_slice(&output);
            training::loss_of(
                kind,
                weight,
                &output,
                Targets::Values(&values),
                None,
                &mut scratch,
            )
        } else {
            // Labels were range-checked by check_fits (or come from the same data).
            if binary {
                for (&label, &logit) in labels.iter().zip(&output) {
                    let _ = confusion.add(label as usize, usize::from(logit > 0.0));
                }
            } else {
                let _ = confusion.add_logits(&labels, &output);
            }
            training::loss_of(
                kind,
                weight,
                &output,
                Targets::Labels(&labels),
                None,
                &mut scratch,
            )
        };
        loss_sum += stats.loss * n as f64;
        correct += stats.correct;
    }
    let total = data.len().max(1) as f64;
    let accuracy = match kind {
        _ if float_targets && kind.is_regression() => f64::NAN,
        // Multi-label: every logit's sign right, not an argmax.
        LossKind::BceWithLogits { .. } if float_targets => correct as f64 / total,
        _ => confusion.accuracy(),
    };
    let regression = data
        .targets
        .as_ref()
        .filter(|_| kind.is_regression())
        .and_then(|t| {
            Some(RegressionResult {
                metrics: RegressionMetrics::compute(&predicted, &t.values, t.width())?,
                predicted,
                actual: t.values.clone(),
                names: t.names.clone(),
            })
        });
    Evaluation {
        loss: loss_sum / total,
        accuracy,
        confusion,
        regression,
    }
}
