//! The train block's run settings, as the runtime's training loop takes
//! them: what is not part of a step's Plan.

use nnspec_dsl::ir;
use nnspec_runtime::train::{EarlyStopping, FitOptions, LrPlan, Monitor};

use super::schedule::lr_schedule;

/// The options of a whole run as the train block says (every epoch from
/// the first, the block's validation share, early stopping and schedule):
/// what `dslc train` and a generated model's `fit` run.
pub fn fit_options(config: &ir::TrainConfig) -> FitOptions {
    let schedule = lr_schedule(config);
    let lr = (schedule.is_some() || config.warmup > 0).then(|| LrPlan {
        schedule,
        warmup: config.warmup,
        base_lr: config.optimizer.lr(),
        total_epochs: config.epochs,
        scheduler: None,
    });
    FitOptions {
        epochs: config.epochs,
        batch: config.batch,
        seed: config.seed,
        start_epoch: 0,
        validation: config.validation,
        early_stopping: early_stopping(config),
        lr,
    }
}

/// `early_stopping: val_loss(...)`, for the training loop.
pub fn early_stopping(config: &ir::TrainConfig) -> Option<EarlyStopping> {
    config.early_stopping.map(|e| EarlyStopping {
        monitor: match e.monitor {
            ir::Monitor::ValLoss => Monitor::ValLoss,
            ir::Monitor::ValAccuracy => Monitor::ValAccuracy,
        },
        patience: e.patience,
        min_delta: e.min_delta,
    })
}
