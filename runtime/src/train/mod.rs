//! The training loop, on top of the executor or a generated model.
//!
//! Each epoch draws a fresh permutation of the training set from a stream
//! that depends only on the seed and the epoch number, so a resumed run
//! sees the same batches as an uninterrupted one. The last batch of an
//! epoch may be smaller (PyTorch's `drop_last=False`).
//!
//! Per-epoch metrics come from a validation split, never from the test
//! split: the loop is not given one. Which epoch's weights are kept is
//! decided on the validation split too ([`selection`]).

mod evaluate;
pub mod selection;

use std::time::Instant;

pub use evaluate::{Evaluation, evaluate, evaluate_weighted, evaluate_with};
pub use selection::{BestEpoch, EarlyStopping, Monitor, Selection};

use crate::schedule::{LrScheduler, Schedule};

use crate::data::{self, DataError, Dataset, refill_permutation};
use crate::exec::{Executor, StepStats};
use crate::metrics::EpochRecord;
use crate::plan::LossKind;
use crate::rng::Rng;

#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    /// Epochs to run in this call.
    pub epochs: usize,
    pub batch: usize,
    pub seed: u64,
    /// Epochs already done (when resuming): numbering and shuffles continue from here.
    pub start_epoch: usize,
    /// When no validation set is given: the fraction of the training set
    /// held out as one ([`data::validation_split`], stratified, from the
    /// seed).
    pub validation: Option<f64>,
    /// Stop when the validation metric stops improving, and end with the
    /// best epoch's weights.
    pub early_stopping: Option<EarlyStopping>,
    /// The learning rate over the run; `None`: the optimizer's throughout.
    pub lr: Option<LrPlan>,
}

/// A learning-rate schedule for [`fit`]: PyTorch's schedulers, stepped as
/// [`LrScheduler`] documents.
#[derive(Clone, Debug)]
pub struct LrPlan {
    pub schedule: Option<Schedule>,
    /// Epochs of linear warmup before the schedule.
    pub warmup: usize,
    /// The optimizer's learning rate, as the train block wrote it (the
    /// schedules' arithmetic is in f64, as Python's).
    pub base_lr: f64,
    /// The epochs of the whole run, which the schedule spans (a run
    /// trained in several calls of [`fit`] passes the same total to each).
    pub total_epochs: usize,
    /// Where to continue from: the previous call's scheduler
    /// ([`Fitted::lr_scheduler`]) or a resumed run's; `None` starts afresh.
    pub scheduler: Option<LrScheduler>,
}

/// What a call of [`fit`] did.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// One record per epoch trained.
    pub records: Vec<EpochRecord>,
    /// The epoch that did best on the validation split (none without one).
    pub best: Option<BestEpoch>,
    /// Early stopping ended training before the epochs ran out.
    pub stopped_early: bool,
    /// The learning-rate scheduler after the last epoch, to continue from
    /// (none without [`FitOptions::lr`]).
    pub lr_scheduler: Option<LrScheduler>,
}

/// A model's weights (f32 parameters and statistics, and counters), kept
/// to return to the best epoch's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub values: Vec<f32>,
    pub counters: Vec<i64>,
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
    #[error("{data}: {reason}")]
    Targets { data: String, reason: String },
    #[error("interrupted during epoch {epoch}")]
    Interrupted { epoch: usize },
    #[error("the learning-rate schedule does not fit this run: {0}")]
    Schedule(String),
    #[error("cannot hold out a validation split: {0}")]
    Validation(#[source] DataError),
    #[error(
        "early stopping watches the validation split, and there is none; hold one out (`validation: 0.1` in the train block, or --val-split 0.1)"
    )]
    NoValidation,
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
    /// The loss, when known, to check that a data set's targets suit it
    /// (float targets for a regression loss, labels for cross-entropy).
    fn loss_kind(&self) -> Option<LossKind> {
        None
    }
    /// The largest batch it takes.
    fn capacity(&self) -> usize;
    /// One training step on samples `indices` of `data`.
    fn train_batch(&mut self, data: &Dataset, indices: &[usize]) -> StepStats;
    /// Restarts the dropout stream (each epoch does, from its own seed).
    fn seed_dropout(&mut self, seed: u64);
    /// Sets the optimizer's learning rate for the next steps (schedules).
    fn set_lr(&mut self, lr: f64);
    /// Loss, accuracy and confusion matrix on `data`, in evaluation mode.
    fn evaluate(&mut self, data: &Dataset) -> Evaluation;
    /// A copy of the weights, to come back to with [`Trainee::restore`].
    fn snapshot(&self) -> Snapshot;
    /// Puts back weights taken with [`Trainee::snapshot`].
    fn restore(&mut self, snapshot: &Snapshot);
}

impl Trainee for Executor {
    fn input_len(&self) -> usize {
        self.plan().input_shapes[0].iter().product()
    }

    fn classes(&self) -> usize {
        match self.plan().loss.as_ref().map(|l| l.kind) {
            Some(LossKind::CrossEntropy { classes, .. }) => classes,
            // One logit: a binary label, 0 or 1.
            Some(LossKind::BceWithLogits { len: 1 }) => 2,
            Some(kind) => kind.width(),
            // No loss: nothing to check labels against.
            None => usize::MAX,
        }
    }

    fn loss_kind(&self) -> Option<LossKind> {
        self.plan().loss.as_ref().map(|l| l.kind)
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

    fn set_lr(&mut self, lr: f64) {
        if let Some(optimizer) = self.optimizer_state_mut() {
            optimizer.set_lr(lr as f32);
        }
    }

    fn evaluate(&mut self, data: &Dataset) -> Evaluation {
        evaluate(self, data)
    }

    fn snapshot(&self) -> Snapshot {
        self.weights_snapshot()
    }

    fn restore(&mut self, snapshot: &Snapshot) {
        self.restore_weights(snapshot);
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
    if let Some(kind) = trainee.loss_kind() {
        check_targets(kind, data)?;
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

/// Float targets for a regression loss, as many as the output has;
/// labels for cross-entropy; either for `bce_with_logits`.
fn check_targets(kind: LossKind, data: &Dataset) -> Result<(), TrainError> {
    let problem = |reason: String| TrainError::Targets {
        data: data.source.clone(),
        reason,
    };
    match (&data.targets, kind) {
        (None, _) if kind.is_regression() => Err(problem(
            "a regression loss learns float targets, and this data set has class labels; \
             pick the target columns with --target"
                .into(),
        )),
        (Some(_), LossKind::CrossEntropy { .. }) => Err(problem(
            "cross_entropy learns class labels, and this data set has float targets; \
             leave out --target, or use a regression loss (mse, l1, smooth_l1)"
                .into(),
        )),
        (Some(t), _) if t.width() != kind.width() => Err(problem(format!(
            "the model has {} output{} and the data set {} target{} ({}); give one output per target",
            kind.width(),
            if kind.width() == 1 { "" } else { "s" },
            t.width(),
            if t.width() == 1 { "" } else { "s" },
            t.names.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// Trains for `options.epochs` epochs, evaluating on `validation` (or a
/// split held out of `train` as `options.validation` says) after each.
pub fn fit(
    exec: &mut Executor,
    train: &Dataset,
    validation: Option<&Dataset>,
    options: &FitOptions,
    observer: &mut dyn Observer,
) -> Result<Fitted, TrainError> {
    check_batch_norm(exec, train.len(), options.batch.clamp(1, exec.capacity()))?;
    fit_trainee(exec, train, validation, options, observer)
}

/// The training loop of [`fit`] for any [`Trainee`]: the same batches, in
/// the same order, with the same dropout streams.
pub fn fit_trainee(
    trainee: &mut dyn Trainee,
    train: &Dataset,
    validation: Option<&Dataset>,
    options: &FitOptions,
    observer: &mut dyn Observer,
) -> Result<Fitted, TrainError> {
    let held_out;
    let (train, validation) = match (validation, options.validation) {
        (Some(validation), _) => (train, Some(validation)),
        (None, Some(fraction)) => {
            held_out = data::validation_split(train, fraction, options.seed)
                .map_err(TrainError::Validation)?;
            (&held_out.train, Some(&held_out.test))
        }
        (None, None) => (train, None),
    };
    if options.early_stopping.is_some() && validation.is_none() {
        return Err(TrainError::NoValidation);
    }
    check_data(trainee, train)?;
    if let Some(validation) = validation {
        check_data(trainee, validation)?;
    }
    let batch = options.batch.clamp(1, trainee.capacity());
    let mut scheduler = match &options.lr {
        Some(plan) => Some(match &plan.scheduler {
            Some(scheduler) => scheduler.clone(),
            None => LrScheduler::new(
                plan.schedule.clone(),
                plan.warmup,
                plan.base_lr,
                plan.total_epochs,
                train.len().div_ceil(batch),
            )
            .map_err(TrainError::Schedule)?,
        }),
        None => None,
    };
    let mut selection = validation.map(|_| Selection::new(options.early_stopping));
    let mut best_weights = None;
    let mut order = Vec::with_capacity(train.len());
    let mut records = Vec::with_capacity(options.epochs);
    for epoch in options.start_epoch + 1..=options.start_epoch + options.epochs {
        let record = train_epoch(
            trainee,
            (train, validation),
            options,
            epoch,
            &mut order,
            scheduler.as_mut(),
            observer,
        )?;
        if let Some(scheduler) = &mut scheduler {
            scheduler.epoch_done(record.val_loss);
        }
        // Regression has no accuracy (NaN): only the loss can be watched.
        let verdict = match (&mut selection, record.val_loss) {
            (Some(selection), Some(loss)) => {
                let accuracy = record.val_accuracy.unwrap_or(f64::NAN);
                Some(selection.observe(epoch, selection.value(loss, accuracy)))
            }
            _ => None,
        };
        records.push(record);
        if let Some(verdict) = verdict {
            if verdict.improved && options.early_stopping.is_some() {
                best_weights = Some(trainee.snapshot());
            }
            if verdict.stop {
                break;
            }
        }
    }
    if let Some(best) = &best_weights {
        trainee.restore(best);
    }
    let stopped_early = selection.as_ref().is_some_and(|s| s.stopped);
    Ok(Fitted {
        records,
        best: selection.and_then(|s| s.best),
        stopped_early,
        lr_scheduler: scheduler,
    })
}

/// One epoch: a pass over `train` in the epoch's shuffled batches (each
/// at the scheduler's learning rate, if there is one), then the validation
/// metrics. The scheduler's per-epoch step is the caller's.
fn train_epoch(
    trainee: &mut dyn Trainee,
    (train, validation): (&Dataset, Option<&Dataset>),
    options: &FitOptions,
    epoch: usize,
    order: &mut Vec<usize>,
    mut scheduler: Option<&mut LrScheduler>,
    observer: &mut dyn Observer,
) -> Result<EpochRecord, TrainError> {
    let batch = options.batch.clamp(1, trainee.capacity());
    let mut rng = epoch_rng(options.seed, epoch);
    refill_permutation(order, train.len(), &mut rng);
    trainee.seed_dropout(rng.next_u64());
    let batches = train.len().div_ceil(batch);
    observer.epoch_started(epoch, batches);
    let started = Instant::now();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let mut lr = None;
    for (index, chunk) in order.chunks(batch).enumerate() {
        if let Some(scheduler) = scheduler.as_deref_mut() {
            lr = Some(scheduler.lr());
            trainee.set_lr(scheduler.lr());
        }
        let stats = trainee.train_batch(train, chunk);
        if let Some(scheduler) = scheduler.as_deref_mut() {
            scheduler.step_done();
        }
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
    let evaluation = validation.map(|validation| trainee.evaluate(validation));
    let record = EpochRecord {
        epoch,
        train_loss: loss_sum / train.len() as f64,
        train_accuracy: if train.targets.is_some()
            && trainee.loss_kind().is_some_and(|k| k.is_regression())
        {
            f64::NAN
        } else {
            correct as f64 / train.len() as f64
        },
        val_loss: evaluation.as_ref().map(|e| e.loss),
        val_accuracy: evaluation
            .as_ref()
            .map(|e| e.accuracy)
            .filter(|a| !a.is_nan()),
        lr,
        samples_per_s: train.len() as f64 / seconds.max(1e-9),
        seconds,
    };
    observer.epoch_done(&record);
    Ok(record)
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
