//! Model selection on the validation split: which epoch's weights are the
//! best so far, and when to stop early.
//!
//! The rule is Keras' `EarlyStopping` and PyTorch Lightning's (the logic
//! PyTorch users write by hand): an epoch improves on the best when its
//! monitored value beats the best by more than `min_delta` (`value < best -
//! min_delta` for a loss, `value > best + min_delta` for an accuracy); the
//! first epoch always improves. Every epoch that does not improve adds one
//! to a wait count, an improving one resets it; training stops when the
//! wait reaches `patience`. A value that is not finite never improves.
//!
//! The tracker is plain data (serde), so a resumed run continues with the
//! same best value and wait count.

use serde::{Deserialize, Serialize};

/// What selection watches on the validation split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// The validation loss; lower is better.
    ValLoss,
    /// The validation accuracy; higher is better.
    ValAccuracy,
}

impl Monitor {
    /// The name in reports and `metrics.json`.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
        }
    }
}

/// `early_stopping: val_loss(patience: 5, min_delta: 0.001)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub monitor: Monitor,
    /// Epochs without improvement after which training stops (at least 1).
    pub patience: usize,
    /// The smallest change that counts as an improvement (≥ 0).
    pub min_delta: f64,
}

/// The best epoch so far.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// 1-based epoch number.
    pub epoch: usize,
    /// The monitored value at that epoch.
    pub value: f64,
}

/// What an epoch meant for selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The epoch is the new best: keep its weights.
    pub improved: bool,
    /// Early stopping's patience ran out: train no further.
    pub stop: bool,
}

/// Tracks the best epoch, and with a patience, decides when to stop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub monitor: Monitor,
    pub min_delta: f64,
    /// `None`: track the best epoch, never stop.
    pub patience: Option<usize>,
    pub best: Option<BestEpoch>,
    /// Epochs since the last improvement.
    pub wait: usize,
    /// Whether patience ran out (a resumed run does not train further).
    pub stopped: bool,
}

impl Selection {
    /// Selection as `early_stopping` says, or without it, the epoch of
    /// lowest validation loss (never stopping).
    pub fn new(early_stopping: Option<EarlyStopping>) -> Selection {
        match early_stopping {
            Some(e) => Selection {
                monitor: e.monitor,
                min_delta: e.min_delta,
                patience: Some(e.patience.max(1)),
                best: None,
                wait: 0,
                stopped: false,
            },
            None => Selection {
                monitor: Monitor::ValLoss,
                min_delta: 0.0,
                patience: None,
                best: None,
                wait: 0,
                stopped: false,
            },
        }
    }

    /// The monitored value of an epoch's validation metrics.
    pub fn value(&self, val_loss: f64, val_accuracy: f64) -> f64 {
        match self.monitor {
            Monitor::ValLoss => val_loss,
            Monitor::ValAccuracy => val_accuracy,
        }
    }

    /// Takes epoch `epoch`'s monitored `value` into account.
    pub fn observe(&mut self, epoch: usize, value: f64) -> Verdict {
        let improved = value.is_finite()
            && match self.best {
                None => true,
                Some(best) => match self.monitor {
                    Monitor::ValLoss => value < best.value - self.min_delta,
                    Monitor::ValAccuracy => value > best.value + self.min_delta,
                },
            };
        if improved {
            self.best = Some(BestEpoch { epoch, value });
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        let stop = self.patience.is_some_and(|p| self.wait >= p);
        self.stopped |= stop;
        Verdict { improved, stop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopping(monitor: Monitor, patience: usize, min_delta: f64) -> Selection {
        Selection::new(Some(EarlyStopping {
            monitor,
            patience,
            min_delta,
        }))
    }

    #[test]
    fn min_delta_is_a_strict_margin() {
        let mut s = stopping(Monitor::ValLoss, 2, 0.1);
        assert!(s.observe(1, 1.0).improved);
        // 0.9 is exactly best - min_delta: not an improvement.
        assert!(!s.observe(2, 0.9).improved);
        assert!(s.observe(3, 0.89).improved);
        assert_eq!(s.best.unwrap().epoch, 3);
    }

    #[test]
    fn accuracy_improves_upwards_and_nan_never_improves() {
        let mut s = stopping(Monitor::ValAccuracy, 3, 0.0);
        assert!(s.observe(1, 0.5).improved);
        assert!(!s.observe(2, f64::NAN).improved);
        assert!(!s.observe(3, 0.5).improved);
        assert!(s.observe(4, 0.6).improved);
        assert_eq!(s.wait, 0);
    }

    #[test]
    fn without_patience_it_never_stops() {
        let mut s = Selection::new(None);
        for epoch in 1..100 {
            assert!(!s.observe(epoch, epoch as f64).stop);
        }
        assert_eq!(s.best.unwrap().epoch, 1);
        assert!(!s.stopped);
    }
}
