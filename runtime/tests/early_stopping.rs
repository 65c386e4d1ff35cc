//! Early stopping on crafted validation curves: the training loop stops at
//! the epoch Keras' `EarlyStopping` and PyTorch Lightning's (the rule
//! PyTorch users write by hand) stop at, and ends with the best epoch's
//! weights. The expected epochs are worked out by hand beside each curve.

use nnspec_runtime::data::Dataset;
use nnspec_runtime::exec::StepStats;
use nnspec_runtime::metrics::ConfusionMatrix;
use nnspec_runtime::schedule::{LrScheduler, Schedule, ThresholdMode};
use nnspec_runtime::train::{
    EarlyStopping, Evaluation, FitOptions, LrPlan, Monitor, Silent, Snapshot, TrainError, Trainee,
    fit_trainee,
};

/// A model whose "weights" are the number of the epoch that produced them,
/// and whose validation metrics follow a script.
struct Scripted {
    /// (validation loss, validation accuracy) after each epoch.
    curve: Vec<(f64, f64)>,
    epoch: usize,
    weights: Vec<f32>,
    /// The learning rate of every step, as the loop set it.
    lrs: Vec<f64>,
}

impl Trainee for Scripted {
    fn input_len(&self) -> usize {
        1
    }
    fn classes(&self) -> usize {
        2
    }
    fn capacity(&self) -> usize {
        4
    }
    fn train_batch(&mut self, _data: &Dataset, indices: &[usize]) -> StepStats {
        self.weights = vec![self.epoch as f32];
        StepStats {
            loss: 1.0,
            correct: indices.len() / 2,
        }
    }
    fn set_lr(&mut self, lr: f64) {
        self.lrs.push(lr);
    }
    fn seed_dropout(&mut self, _seed: u64) {
        // Called once at the start of every epoch.
        self.epoch += 1;
    }
    fn evaluate(&mut self, _data: &Dataset) -> Evaluation {
        let (loss, accuracy) = self.curve[self.epoch - 1];
        Evaluation {
            loss,
            accuracy,
            confusion: ConfusionMatrix::new(2),
            regression: None,
        }
    }
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            values: self.weights.clone(),
            counters: Vec::new(),
        }
    }
    fn restore(&mut self, snapshot: &Snapshot) {
        self.weights = snapshot.values.clone();
    }
}

fn data(n: usize) -> Dataset {
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
    let features = labels.iter().map(|&l| l as f32).collect();
    Dataset::new(features, labels, vec![1], 2, None, "scripted").unwrap()
}

/// Runs the loop over `curve` with `early_stopping`; returns the epochs
/// trained, the best epoch, whether it stopped early, and the epoch whose
/// weights the model ends with.
fn run(curve: &[(f64, f64)], early_stopping: EarlyStopping) -> (usize, usize, bool, f32) {
    let mut model = Scripted {
        curve: curve.to_vec(),
        epoch: 0,
        weights: vec![0.0],
        lrs: Vec::new(),
    };
    let options = FitOptions {
        epochs: curve.len(),
        batch: 4,
        seed: 0,
        early_stopping: Some(early_stopping),
        ..FitOptions::default()
    };
    let (train, validation) = (data(8), data(4));
    let fitted = fit_trainee(&mut model, &train, Some(&validation), &options, &mut Silent).unwrap();
    let best = fitted.best.unwrap();
    for (record, &(loss, accuracy)) in fitted.records.iter().zip(curve) {
        assert_eq!(record.val_loss, Some(loss));
        assert_eq!(record.val_accuracy, Some(accuracy));
    }
    (
        fitted.records.len(),
        best.epoch,
        fitted.stopped_early,
        model.weights[0],
    )
}

#[test]
fn a_loss_that_stalls_stops_training_and_the_best_weights_return() {
    // patience 3, min_delta 0.01; an epoch improves when its loss is below
    // best - 0.01:
    //   1: 1.00 first: best 1.00 (epoch 1)
    //   2: 0.80 < 0.99: best 0.80 (epoch 2)
    //   3: 0.795, not < 0.79: wait 1
    //   4: 0.70 < 0.79: best 0.70 (epoch 4), wait 0
    //   5: 0.695, not < 0.69: wait 1
    //   6: 0.72: wait 2
    //   7: 0.691, not < 0.69: wait 3 = patience: stop after epoch 7
    //   8, 9: never trained (they would have improved).
    let curve = [1.0, 0.8, 0.795, 0.70, 0.695, 0.72, 0.691, 0.1, 0.05].map(|loss| (loss, 0.5));
    let stopping = EarlyStopping {
        monitor: Monitor::ValLoss,
        patience: 3,
        min_delta: 0.01,
    };
    assert_eq!(run(&curve, stopping), (7, 4, true, 4.0));
}

#[test]
fn an_accuracy_that_stalls_stops_training() {
    // patience 2, min_delta 0: an epoch improves when its accuracy is above
    // the best:
    //   1: 0.50 first: best (epoch 1)
    //   2: 0.60 > 0.50: best (epoch 2)
    //   3: 0.60, not > 0.60: wait 1
    //   4: 0.55: wait 2 = patience: stop after epoch 4.
    let curve = [0.5, 0.6, 0.6, 0.55, 0.7, 0.8].map(|accuracy| (1.0, accuracy));
    let stopping = EarlyStopping {
        monitor: Monitor::ValAccuracy,
        patience: 2,
        min_delta: 0.0,
    };
    assert_eq!(run(&curve, stopping), (4, 2, true, 2.0));
}

#[test]
fn without_a_stall_every_epoch_runs_and_the_best_weights_still_return() {
    // Improves until epoch 4, then two worse epochs: patience 3 is not
    // reached, all six epochs run, and the model ends with epoch 4's weights.
    let curve = [0.9, 0.8, 0.7, 0.6, 0.65, 0.61].map(|loss| (loss, 0.5));
    let stopping = EarlyStopping {
        monitor: Monitor::ValLoss,
        patience: 3,
        min_delta: 0.0,
    };
    assert_eq!(run(&curve, stopping), (6, 4, false, 4.0));
}

#[test]
fn early_stopping_without_a_validation_split_is_an_error() {
    let mut model = Scripted {
        curve: vec![(1.0, 0.5)],
        epoch: 0,
        weights: vec![0.0],
        lrs: Vec::new(),
    };
    let options = FitOptions {
        epochs: 1,
        batch: 4,
        early_stopping: Some(EarlyStopping {
            monitor: Monitor::ValLoss,
            patience: 1,
            min_delta: 0.0,
        }),
        ..FitOptions::default()
    };
    let error = fit_trainee(&mut model, &data(8), None, &options, &mut Silent).unwrap_err();
    assert!(matches!(error, TrainError::NoValidation), "{error}");
    assert!(error.to_string().contains("validation: 0.1"), "{error}");
}

/// The loop steps a schedule as the scheduler documents: each step's lr
/// before the step, `step_done` after it, `epoch_done` with the validation
/// loss after the epoch; the records carry the epoch's last lr; and the
/// scheduler it returns continues the run exactly.
#[test]
fn the_loop_steps_a_plateau_schedule_with_the_validation_loss() {
    let curve: Vec<(f64, f64)> = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8]
        .map(|loss| (loss, 0.5))
        .to_vec();
    let schedule = Schedule::Plateau {
        factor: 0.5,
        patience: 1,
        threshold: 1e-4,
        threshold_mode: ThresholdMode::Rel,
        cooldown: 0,
        min_lr: 0.0,
        eps: 1e-8,
    };
    let (train, validation) = (data(8), data(4));
    let steps = 2; // 8 samples in batches of 4
    let plan = |scheduler| LrPlan {
        schedule: Some(schedule.clone()),
        warmup: 1,
        base_lr: 0.1,
        total_epochs: curve.len(),
        scheduler,
    };
    // The run in two calls (4 epochs, then 5), the second continuing from
    // the scheduler the first returned.
    let mut model = Scripted {
        curve: curve.clone(),
        epoch: 0,
        weights: vec![0.0],
        lrs: Vec::new(),
    };
    let mut records = Vec::new();
    let mut scheduler = None;
    for (start, epochs) in [(0, 4), (4, 5)] {
        let options = FitOptions {
            epochs,
            batch: 4,
            start_epoch: start,
            lr: Some(plan(scheduler.take())),
            ..FitOptions::default()
        };
        let fitted =
            fit_trainee(&mut model, &train, Some(&validation), &options, &mut Silent).unwrap();
        scheduler = fitted.lr_scheduler;
        records.extend(fitted.records);
    }
    // The same scheduler stepped by hand.
    let mut expected =
        LrScheduler::new(Some(schedule.clone()), 1, 0.1, curve.len(), steps).unwrap();
    let mut lrs = Vec::new();
    for &(loss, _) in &curve {
        for _ in 0..steps {
            lrs.push(expected.lr());
            expected.step_done();
        }
        expected.epoch_done(Some(loss));
    }
    assert_eq!(model.lrs, lrs);
    for (record, epoch_lrs) in records.iter().zip(lrs.chunks(steps)) {
        assert_eq!(
            record.lr,
            Some(epoch_lrs[steps - 1]),
            "epoch {}",
            record.epoch
        );
    }
    assert_eq!(scheduler.unwrap().state(), expected.state());
    // The validation loss reduced the lr (epochs 3-5 did not improve on 0.9).
    assert!(lrs.last().unwrap() < &0.1, "{lrs:?}");
}

#[test]
fn a_schedule_that_does_not_fit_the_run_is_an_error_before_training() {
    let mut model = Scripted {
        curve: vec![(1.0, 0.5); 3],
        epoch: 0,
        weights: vec![0.0],
        lrs: Vec::new(),
    };
    let options = FitOptions {
        epochs: 3,
        batch: 4,
        lr: Some(LrPlan {
            schedule: None,
            warmup: 3,
            base_lr: 0.1,
            total_epochs: 3,
            scheduler: None,
        }),
        ..FitOptions::default()
    };
    let error = fit_trainee(&mut model, &data(8), None, &options, &mut Silent).unwrap_err();
    assert!(matches!(error, TrainError::Schedule(_)), "{error}");
    assert_eq!(model.epoch, 0, "no epoch ran");
}
