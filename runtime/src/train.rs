//! The training loop and evaluation, on top of the executor.
//!
//! Each epoch draws a fresh permutation of the training set from a stream
//! that depends only on the seed and the epoch number, so a resumed run
//! sees the same batches as an uninterrupted one. The last batch of an
//! epoch may be smaller (PyTorch's `drop_last=False`).

use std::time::Instant;

use crate::data::{Dataset, refill_permutation};
use crate::exec::{Executor, StepStats};
use crate::metrics::{ConfusionMatrix, EpochRecord};
use crate::plan::LossKind;
use crate::rng::Rng;
use crate::training;

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

/// What the training loop trains: the executor ([`fit`]), or a model's
/// generated code (its `fit` method, through [`fit_trainee`]).
pub trait Trainee {
    /// Values per sample of the input.
    fn input_len(&self) -> usize;
    /// Classes of the loss (cross-entropy's, or `mse`'s one-hot length):
    /// every label must be below.
    fn classes(&self) -> usize;
    /// The largest batch it takes.
    fn capacity(&self) -> usize;
    /// One training step on samples `indices` of `data`.
    fn train_batch(&mut self, data: &Dataset, indices: &[usize]) -> StepStats;
    /// Restarts the dropout stream (each epoch does, from its own seed).
    fn seed_dropout(&mut self, seed: u64);
    /// Loss, accuracy and confusion matrix on `data`, in evaluation mode.
    fn evaluate(&mut self, data: &Dataset) -> Evaluation;
}

impl Trainee for Executor {
    fn input_len(&self) -> usize {
        self.plan().input_shapes[0].iter().product()
    }

    fn classes(&self) -> usize {
        match self.plan().loss.map(|l| l.kind) {
            Some(LossKind::CrossEntropy { classes }) => classes,
            Some(LossKind::Mse { len }) => len,
            // No loss: nothing to check labels against.
            None => usize::MAX,
        }
    }

    fn capacity(&self) -> usize {
        Executor::capacity(self)
    }

    fn train_batch(&mut self, data: &Dataset, indices: &[usize]) -> StepStats {
        self.load_batch(data, indices);
        self.train_step(indices.len())
    }

    fn seed_dropout(&mut self, seed: u64) {
        Executor::seed_dropout(self, seed);
    }

    fn evaluate(&mut self, data: &Dataset) -> Evaluation {
        evaluate(self, data)
    }
}

/// Checks that `data` fits the executor's model (input size, label range).
pub fn check_fits(exec: &Executor, data: &Dataset) -> Result<(), TrainError> {
    check_data(exec, data)
}

/// Checks that `data` fits what `trainee` takes (input size, label range).
fn check_data(trainee: &dyn Trainee, data: &Dataset) -> Result<(), TrainError> {
    if data.is_empty() {
        return Err(TrainError::Empty(data.source.clone()));
    }
    let input = trainee.input_len();
    if data.sample_len() != input {
        return Err(TrainError::InputSize {
            model: input,
            data: data.source.clone(),
            found: data.sample_len(),
        });
    }
    let classes = trainee.classes();
    let max = data.labels.iter().copied().max().unwrap_or(0) as usize;
    if max >= classes {
        return Err(TrainError::Classes {
            model: classes,
            data: data.labels_source().to_string(),
            found: max,
        });
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
    check_batch_norm(exec, train.len(), options.batch.clamp(1, exec.capacity()))?;
    fit_trainee(exec, train, test, options, observer)
}

/// The training loop of [`fit`] for any [`Trainee`]: the same batches, in
/// the same order, with the same dropout streams.
pub fn fit_trainee(
    trainee: &mut dyn Trainee,
    train: &Dataset,
    test: Option<&Dataset>,
    options: &FitOptions,
    observer: &mut dyn Observer,
) -> Result<Vec<EpochRecord>, TrainError> {
    check_data(trainee, train)?;
    if let Some(test) = test {
        check_data(trainee, test)?;
    }
    let batch = options.batch.clamp(1, trainee.capacity());
    let mut order = Vec::with_capacity(train.len());
    let mut records = Vec::with_capacity(options.epochs);
    for epoch in options.start_epoch + 1..=options.start_epoch + options.epochs {
        let mut rng = epoch_rng(options.seed, epoch);
        refill_permutation(&mut order, train.len(), &mut rng);
        trainee.seed_dropout(rng.next_u64());
        let batches = train.len().div_ceil(batch);
        observer.epoch_started(epoch, batches);
        let started = Instant::now();
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for (index, chunk) in order.chunks(batch).enumerate() {
            let stats = trainee.train_batch(train, chunk);
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
        let evaluation = test.map(|test| trainee.evaluate(test));
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
