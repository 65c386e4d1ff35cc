//! The training loop and evaluation, on top of the executor.
//!
//! Each epoch draws a fresh permutation of the training set from a stream
//! that depends only on the seed and the epoch number, so a resumed run
//! sees the same batches as an uninterrupted one. The last batch of an
//! epoch may be smaller (PyTorch's `drop_last=False`).

use std::time::Instant;

use crate::data::{Dataset, refill_permutation};
use crate::exec::Executor;
use crate::metrics::{ConfusionMatrix, EpochRecord};
use crate::plan::LossKind;
use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq)]
pub struct FitOptions {
    /// Epochs to run in this call.
    pub epochs: usize,
    pub batch: usize,
    pub seed: u64,
    /// Epochs already done (when resuming): numbering and shuffles continue from here.
    pub start_epoch: usize,
}

/// Loss, accuracy and confusion matrix of a model on a data set.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub confusion: ConfusionMatrix,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "training diverged: the loss became {loss} at epoch {epoch}, batch {batch} (lower the learning rate, or check the data for extreme values)"
    )]
    Diverged {
        epoch: usize,
        batch: usize,
        loss: f64,
    },
    #[error("the model's input takes {model} values per sample, the data set {data} has {found}")]
    InputSize {
        model: usize,
        data: String,
        found: usize,
    },
    #[error("the model scores {model} classes, but {data} has labels up to {found}")]
    Classes {
        model: usize,
        data: String,
        found: usize,
    },
    #[error("{0} is empty")]
    Empty(String),
    #[error("interrupted during epoch {epoch}")]
    Interrupted { epoch: usize },
    #[error(
        "batch normalization `{layer}` needs more than one value per channel in training, but a batch of {batch} gives it {batch}; use a batch size that does not leave a last batch of one sample (the training set has {samples})"
    )]
    BatchNormSingleValue {
        layer: String,
        batch: usize,
        samples: usize,
    },
}

/// Told about progress, for progress bars and logs.
pub trait Observer {
    fn epoch_started(&mut self, _epoch: usize, _batches: usize) {}
    fn batch_done(&mut self, _batch: usize, _loss: f64) {}
    fn epoch_done(&mut self, _record: &EpochRecord) {}
    /// Asked after every batch: `true` stops training with
    /// [`TrainError::Interrupted`], the unfinished epoch discarded (Ctrl-C).
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {}

/// Checks that `data` fits the executor's model (input size, label range).
pub fn check_fits(exec: &Executor, data: &Dataset) -> Result<(), TrainError> {
    if data.is_empty() {
        return Err(TrainError::Empty(data.source.clone()));
    }
    let input: usize = exec.plan().input_shapes[0].iter().product();
    if data.sample_len() != input {
        return Err(TrainError::InputSize {
            model: input,
            data: data.source.clone(),
            found: data.sample_len(),
        });
    }
    if let Some(loss) = exec.plan().loss {
        let classes = match loss.kind {
            LossKind::CrossEntropy { classes } => classes,
            LossKind::Mse { len } => len,
        };
        let max = data.labels.iter().copied().max().unwrap_or(0) as usize;
        if max >= classes {
            return Err(TrainError::Classes {
                model: classes,
                data: data.labels_source().to_string(),
                found: max,
            });
        }
    }
    Ok(())
}

/// Trains for `options.epochs` epochs, evaluating on `test` after each.
pub fn fit(
    exec: &mut Executor,
    train: &Dataset,
    test: Option<&Dataset>,
    options: &FitOptions,
    observer: &mut dyn Observer,
) -> Result<Vec<EpochRecord>, TrainError> {
    check_fits(exec, train)?;
    if let Some(test) = test {
        check_fits(exec, test)?;
    }
    let batch = options.batch.clamp(1, exec.capacity());
    check_batch_norm(exec, train.len(), batch)?;
    let mut order = Vec::with_capacity(train.len());
    let mut records = Vec::with_capacity(options.epochs);
    for epoch in options.start_epoch + 1..=options.start_epoch + options.epochs {
        let mut rng = epoch_rng(options.seed, epoch);
        refill_permutation(&mut order, train.len(), &mut rng);
        exec.seed_dropout(rng.next_u64());
        let batches = train.len().div_ceil(batch);
        observer.epoch_started(epoch, batches);
        let started = Instant::now();
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for (index, chunk) in order.chunks(batch).enumerate() {
            exec.load_batch(train, chunk);
            let stats = exec.train_step(chunk.len());
            if !stats.loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    batch: index + 1,
                    loss: stats.loss,
                });
            }
            loss_sum += stats.loss * chunk.len() as f64;
            correct += stats.correct;
            observer.batch_done(index + 1, stats.loss);
            if observer.should_stop() {
                return Err(TrainError::Interrupted { epoch });
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let evaluation = test.map(|test| evaluate(exec, test));
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / train.len() as f64,
            train_accuracy: correct as f64 / train.len() as f64,
            test_loss: evaluation.as_ref().map(|e| e.loss),
            test_accuracy: evaluation.as_ref().map(|e| e.accuracy),
            samples_per_s: train.len() as f64 / seconds.max(1e-9),
            seconds,
        };
        observer.epoch_done(&record);
        records.push(record);
    }
    Ok(records)
}

/// PyTorch refuses to normalize a single value per channel in training
/// (its variance is undefined): catch the batch sizes that would, before
/// training starts, instead of failing in the middle of an epoch.
fn check_batch_norm(exec: &Executor, samples: usize, batch: usize) -> Result<(), TrainError> {
    let last = samples % batch;
    let sizes = [Some(batch.min(samples)), (last != 0).then_some(last)];
    for step in &exec.plan().forward {
        if let crate::plan::Step::BatchNorm {
            spatial, weight, ..
        } = step
        {
            for size in sizes.into_iter().flatten() {
                if size * spatial <= 1 {
                    let name = &exec.plan().param(*weight).name;
                    return Err(TrainError::BatchNormSingleValue {
                        layer: name.trim_end_matches(".weight").to_string(),
                        batch: size,
                        samples,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The shuffling stream of one epoch: a function of the seed and the epoch only.
fn epoch_rng(seed: u64, epoch: usize) -> Rng {
    Rng::new(seed ^ 0x5348_5546_464C_4521).fork(epoch as u64)
}

/// Loss, accuracy and confusion matrix on `data`, in evaluation mode
/// (dropout off, BatchNorm on running statistics), in batches of the
/// executor's capacity.
pub fn evaluate(exec: &mut Executor, data: &Dataset) -> Evaluation {
    let loss = exec
        .plan()
        .loss
        .expect("evaluation needs a plan with a loss");
    let classes = match loss.kind {
        LossKind::CrossEntropy { classes } => classes,
        LossKind::Mse { len } => len,
    };
    let mut confusion = ConfusionMatrix::new(classes);
    let mut loss_sum = 0.0f64;
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut labels = vec![0u32; exec.capacity()];
    for chunk in indices.chunks(exec.capacity()) {
        let n = chunk.len();
        let (x, y) = exec.batch_slots(n);
        data.gather_batch(chunk, x, y);
        labels[..n].copy_from_slice(y);
        exec.forward(n, false);
        let stats = exec.loss(n, false).expect("a plan with a loss");
        loss_sum += stats.loss * n as f64;
        let logits = exec.buffer(loss.output, n);
        // Labels were range-checked by check_fits (or come from the same data).
        let _ = confusion.add_logits(&labels[..n], logits);
    }
    let total = data.len().max(1) as f64;
    Evaluation {
        loss: loss_sum / total,
        accuracy: confusion.accuracy(),
        confusion,
    }
}
