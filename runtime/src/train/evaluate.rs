//! Evaluation: loss, accuracy and confusion matrix of a model on a data
//! set, in evaluation mode, for the executor and for generated models.

use crate::data::Dataset;
use crate::exec::Executor;
use crate::metrics::ConfusionMatrix;
use crate::plan::LossKind;
use crate::training;

/// Loss, accuracy and confusion matrix of a model on a data set.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub confusion: ConfusionMatrix,
}

/// Loss, accuracy and confusion matrix on `data`, in evaluation mode
/// (dropout off, BatchNorm on running statistics), in batches of the
/// executor's capacity.
pub fn evaluate(exec: &mut Executor, data: &Dataset) -> Evaluation {
    let loss = exec
        .plan()
        .loss
        .expect("evaluation needs a plan with a loss");
    let batch = exec.capacity();
    evaluate_with(data, batch, loss.kind, &mut |x, out| {
        let n = x.len() / data.sample_len().max(1);
        exec.input_mut(n).copy_from_slice(x);
        exec.forward(n, false);
        out.copy_from_slice(exec.buffer(loss.output, n));
    })
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
    let classes = match kind {
        LossKind::CrossEntropy { classes } => classes,
        LossKind::Mse { len } => len,
    };
    let batch = batch.max(1);
    let mut confusion = ConfusionMatrix::new(classes);
    let mut loss_sum = 0.0f64;
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut x, mut labels, mut output, mut targets) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for chunk in indices.chunks(batch) {
        let n = chunk.len();
        x.resize(n * data.sample_len(), 0.0);
        labels.resize(n, 0);
        output.resize(n * classes, 0.0);
        targets.resize(training::loss_scratch_len(kind, n), 0.0);
        data.gather_batch(chunk, &mut x, &mut labels);
        forward(&x, &mut output);
        let stats = training::loss(kind, &output, &labels, None, &mut targets);
        loss_sum += stats.loss * n as f64;
        // Labels were range-checked by check_fits (or come from the same data).
        let _ = confusion.add_logits(&labels, &output);
    }
    let total = data.len().max(1) as f64;
    Evaluation {
        loss: loss_sum / total,
        accuracy: confusion.accuracy(),
        confusion,
    }
}
