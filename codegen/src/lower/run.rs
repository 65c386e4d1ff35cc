//! The train block's run settings, as the runtime's training loop takes
//! them: what is not part of a step's Plan.

use nnspec_dsl::ir;
use nnspec_runtime::train::{EarlyStopping, Monitor};

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
