//! Learning-rate schedules, computed exactly as PyTorch 2.x's
//! `torch.optim.lr_scheduler` computes them (f64, bit for bit).
//!
//! PyTorch's schedulers, stepped normally, update the optimizer's `lr`
//! with their recursive ("chainable") `get_lr` formulas (`lr * gamma`, the
//! cosine ratio), which round differently from the closed forms in their
//! documentation. [`LrScheduler`] therefore keeps the current learning rate
//! and applies the same formula, in the same order of operations, at the
//! same moments. `bench/pytorch_schedules.py` builds the PyTorch side and
//! `runtime/tests/schedule.rs` holds its numbers.
//!
//! The construction being reproduced, for a run of `epochs` epochs of
//! `steps_per_epoch` optimizer steps with `warmup` epochs of warmup:
//!
//! - warmup (`warmup > 0`): `LinearLR(opt, start_factor=1/(W+1),
//!   end_factor=1.0, total_iters=W)` with `W = warmup * steps_per_epoch`,
//!   stepped after every optimizer step of the first `warmup` epochs. Step
//!   `k` of the warmup then trains at about `lr * (k+1)/(W+1)`, and the
//!   first step after it at `lr`;
//! - the schedule is built when the warmup ends (so its epoch count starts
//!   at 0 there and it sees `epochs - warmup` epochs), on the same
//!   optimizer: its recursive formulas continue from the `lr` the warmup
//!   left, its `base_lr` is the optimizer's `lr`;
//! - `step`, `multistep`, `exponential`, `cosine`: stepped after each epoch;
//! - `plateau`: `ReduceLROnPlateau(opt, mode='min', ...)` stepped after each
//!   epoch with the validation loss;
//! - `one_cycle`: `OneCycleLR(opt, max_lr, total_steps=epochs *
//!   steps_per_epoch, ..., cycle_momentum=False)` stepped after every
//!   optimizer step. PyTorch's default is `cycle_momentum=True` (it also
//!   cycles SGD's momentum or Adam's beta1); nnspec leaves momentum alone.
//!   It cannot follow a warmup: it warms up by itself.

use serde::{Deserialize, Serialize};

mod formulas;
mod validate;

use formulas::{Phase, cosine_lr, one_cycle_phases, pow_int};
use validate::{describe, validate};

/// A schedule and its PyTorch arguments (the checker's `ir::Schedule`;
/// the runtime does not depend on the compiler, so it has its own copy).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// `StepLR(step_size, gamma)`.
    Step { step_size: usize, gamma: f64 },
    /// `MultiStepLR(milestones, gamma)`.
    MultiStep { milestones: Vec<usize>, gamma: f64 },
    /// `ExponentialLR(gamma)`.
    Exponential { gamma: f64 },
    /// `CosineAnnealingLR(T_max, eta_min)`.
    Cosine { t_max: usize, eta_min: f64 },
    /// `OneCycleLR(max_lr, total_steps, pct_start, anneal_strategy,
    /// div_factor, final_div_factor, three_phase, cycle_momentum=False)`.
    OneCycle {
        max_lr: f64,
        pct_start: f64,
        anneal: Anneal,
        div_factor: f64,
        final_div_factor: f64,
        three_phase: bool,
    },
    /// `ReduceLROnPlateau(mode='min', factor, patience, threshold,
    /// threshold_mode, cooldown, min_lr, eps)`.
    Plateau {
        factor: f64,
        patience: usize,
        threshold: f64,
        threshold_mode: ThresholdMode,
        cooldown: usize,
        min_lr: f64,
        eps: f64,
    },
}

impl Schedule {
    /// The name written in a train block (`cosine`).
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Step { .. } => "step",
            Schedule::MultiStep { .. } => "multistep",
            Schedule::Exponential { .. } => "exponential",
            Schedule::Cosine { .. } => "cosine",
            Schedule::OneCycle { .. } => "one_cycle",
            Schedule::Plateau { .. } => "plateau",
        }
    }
}

/// One-cycle's `anneal_strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anneal {
    Cos,
    Linear,
}

/// A plateau's `threshold_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    Rel,
    Abs,
}

/// What fixes the sequence of learning rates, besides the progress:
/// a state is only restored into a scheduler with the same setup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Setup {
    schedule: Option<Schedule>,
    warmup_epochs: usize,
    base_lr: f64,
    steps_per_epoch: usize,
    /// Only one-cycle depends on the run's length (its total steps); other
    /// schedules may resume into a run with more or fewer epochs.
    one_cycle_epochs: Option<usize>,
}

/// `ReduceLROnPlateau`'s counters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct PlateauState {
    /// The best validation loss so far, as its bits: it starts at +inf,
    /// which JSON cannot hold as a number.
    best_bits: u64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
}

impl PlateauState {
    fn new() -> PlateauState {
        PlateauState {
            best_bits: f64::INFINITY.to_bits(),
            num_bad_epochs: 0,
            cooldown_counter: 0,
        }
    }
}

/// Where the run is: everything that changes as it goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Progress {
    /// The optimizer's current `lr` (PyTorch's `param_group["lr"]`).
    lr: f64,
    /// Optimizer steps done since the start of the run.
    steps: usize,
    /// Epochs done since the start of the run.
    epochs: usize,
    plateau: PlateauState,
}

/// The saved form of a scheduler ([`LrScheduler::state`]).
#[derive(Serialize, Deserialize)]
struct Saved {
    setup: Setup,
    progress: Progress,
}

/// The learning rate of every optimizer step of a run.
#[derive(Clone, Debug)]
pub struct LrScheduler {
    setup: Setup,
    /// The run's epochs (one-cycle's total steps derive from them).
    epochs: usize,
    progress: Progress,
}

impl LrScheduler {
    /// A scheduler at the start of a run.
    ///
    /// `base_lr` is the optimizer's lr (one-cycle ignores it, as PyTorch
    /// does: it starts at `max_lr / div_factor`), `epochs` the run's total,
    /// `steps_per_epoch` the optimizer steps (batches) of one epoch. Errors
    /// when the schedule cannot run: no epochs or steps, a warmup as long
    /// as the run, a warmup before one-cycle, arguments out of PyTorch's
    /// ranges, a one-cycle phase of no steps (PyTorch divides by zero).
    pub fn new(
        schedule: Option<Schedule>,
        warmup_epochs: usize,
        base_lr: f64,
        epochs: usize,
        steps_per_epoch: usize,
    ) -> Result<LrScheduler, String> {
        validate(
            schedule.as_ref(),
            warmup_epochs,
            base_lr,
            epochs,
            steps_per_epoch,
        )?;
        let one_cycle_epochs =
            matches!(schedule, Some(Schedule::OneCycle { .. })).then_some(epochs);
        let mut scheduler = LrScheduler {
            setup: Setup {
                schedule,
                warmup_epochs,
                base_lr,
                steps_per_epoch,
                one_cycle_epochs,
            },
            epochs,
            progress: Progress {
                lr: base_lr,
                steps: 0,
                epochs: 0,
                plateau: PlateauState::new(),
            },
        };
        // The constructors' initial step: LinearLR scales the lr by its
        // start factor, OneCycleLR sets it to its step-0 value; the others
        // leave it (and are built only once the warmup is over).
        if warmup_epochs > 0 {
            scheduler.progress.lr = base_lr * scheduler.warmup_start_factor();
        } else if let Some(phases) = scheduler.one_cycle_phases() {
            scheduler.progress.lr = scheduler.one_cycle_lr(&phases, 0);
        }
        Ok(scheduler)
    }

    /// The learning rate for the next optimizer step.
    pub fn lr(&self) -> f64 {
        self.progress.lr
    }

    /// Called after every optimizer step: the warmup and one-cycle advance.
    pub fn step_done(&mut self) {
        self.progress.steps = self.progress.steps.saturating_add(1);
        let steps = self.progress.steps;
        if self.in_warmup() {
            self.progress.lr = self.warmup_lr(self.progress.lr, steps);
        } else if let Some(phases) = self.one_cycle_phases() {
            // One-cycle never follows a warmup, so its step count is the
            // run's. PyTorch raises past `total_steps`; this keeps
            // computing (a value the run does not use).
            self.progress.lr = self.one_cycle_lr(&phases, steps);
        }
    }

    /// Called after every epoch, with the validation loss when the run
    /// holds out a validation split.
    ///
    /// The epoch-based schedules advance here. `plateau` needs the loss:
    /// without it (`None`) the epoch is not counted, neither good nor bad,
    /// and the lr stays (no panic, no error). During the warmup the
    /// schedule has not started and the loss is not looked at.
    pub fn epoch_done(&mut self, val_loss: Option<f64>) {
        let in_warmup = self.in_warmup();
        self.progress.epochs = self.progress.epochs.saturating_add(1);
        if in_warmup {
            return;
        }
        // The schedule's own `last_epoch` after this step.
        let epoch = self.progress.epochs - self.setup.warmup_epochs;
        let lr = self.progress.lr;
        match &self.setup.schedule {
            None | Some(Schedule::OneCycle { .. }) => {}
            Some(Schedule::Step { step_size, gamma }) => {
                if epoch.is_multiple_of(*step_size) {
                    self.progress.lr = lr * gamma;
                }
            }
            Some(Schedule::MultiStep { milestones, gamma }) => {
                // PyTorch counts a repeated milestone twice (gamma ** n).
                let n = milestones.iter().filter(|&&m| m == epoch).count();
                if n > 0 {
                    self.progress.lr = lr * pow_int(*gamma, n);
                }
            }
            Some(Schedule::Exponential { gamma }) => self.progress.lr = lr * gamma,
            Some(Schedule::Cosine { t_max, eta_min }) => {
                self.progress.lr = cosine_lr(lr, self.setup.base_lr, *t_max, *eta_min, epoch);
            }
            Some(Schedule::Plateau {
                factor,
                patience,
                threshold,
                threshold_mode,
                cooldown,
                min_lr,
                eps,
            }) => {
                if let Some(current) = val_loss {
                    let state = &mut self.progress.plateau;
                    let best = f64::from_bits(state.best_bits);
                    let better = match threshold_mode {
                        ThresholdMode::Rel => current < best * (1.0 - threshold),
                        ThresholdMode::Abs => current < best - threshold,
                    };
                    if better {
                        state.best_bits = current.to_bits();
                        state.num_bad_epochs = 0;
                    } else {
                        state.num_bad_epochs = state.num_bad_epochs.saturating_add(1);
                    }
                    if state.cooldown_counter > 0 {
                        state.cooldown_counter -= 1;
                        state.num_bad_epochs = 0;
                    }
                    if state.num_bad_epochs > *patience {
                        // Python's max(old * factor, min_lr): the first
                        // argument when neither is larger.
                        let reduced = lr * factor;
                        let new_lr = if *min_lr > reduced { *min_lr } else { reduced };
                        if lr - new_lr > *eps {
                            self.progress.lr = new_lr;
                        }
                        state.cooldown_counter = *cooldown;
                        state.num_bad_epochs = 0;
                    }
                }
            }
        }
    }

    /// Everything needed to resume exactly, as JSON: the setup (to refuse
    /// another schedule's state) and the progress. It may be taken at any
    /// point, between epochs or between the steps of an epoch; the
    /// training loop takes it at epoch ends, with its checkpoints.
    pub fn state(&self) -> String {
        let saved = Saved {
            setup: self.setup.clone(),
            progress: self.progress.clone(),
        };
        // Plain data with finite floats (the lr and the arguments were
        // checked finite; the plateau's best is kept as bits): serializing
        // cannot fail.
        serde_json::to_string(&saved).unwrap_or_default()
    }

    /// Continues from a [`state`](Self::state). Refuses text that is not a
    /// state, and a state of another schedule, warmup, lr or epoch length.
    pub fn restore(&mut self, state: &str) -> Result<(), String> {
        let saved: Saved = serde_json::from_str(state)
            .map_err(|e| format!("not a learning-rate schedule state: {e}"))?;
        if saved.setup != self.setup {
            return Err(format!(
                "the saved learning-rate schedule is {}, this run's is {}",
                describe(&saved.setup),
                describe(&self.setup)
            ));
        }
        let progress = saved.progress;
        if !progress.lr.is_finite() || progress.lr < 0.0 {
            return Err(format!(
                "the saved learning-rate schedule state has an invalid lr {:?}",
                progress.lr
            ));
        }
        if progress.epochs > self.epochs {
            return Err(format!(
                "the saved learning-rate schedule state is after epoch {}, and this run has {} epochs",
                progress.epochs, self.epochs
            ));
        }
        self.progress = progress;
        Ok(())
    }

    fn in_warmup(&self) -> bool {
        self.progress.epochs < self.setup.warmup_epochs
    }

    fn warmup_iters(&self) -> usize {
        self.setup.warmup_epochs * self.setup.steps_per_epoch
    }

    /// `1 / (W + 1)`: the warmup's first step trains at `lr / (W + 1)`.
    fn warmup_start_factor(&self) -> f64 {
        1.0 / (self.warmup_iters() as f64 + 1.0)
    }

    /// `LinearLR.get_lr` at `last_epoch` ≥ 1, end factor 1.
    fn warmup_lr(&self, lr: f64, last_epoch: usize) -> f64 {
        let total = self.warmup_iters();
        if last_epoch > total {
            return lr;
        }
        let start = self.warmup_start_factor();
        let end = 1.0;
        lr * (1.0
            + (end - start) / (total as f64 * start + (last_epoch - 1) as f64 * (end - start)))
    }

    fn one_cycle_phases(&self) -> Option<Vec<Phase>> {
        let Some(Schedule::OneCycle {
            max_lr,
            pct_start,
            div_factor,
            final_div_factor,
            three_phase,
            ..
        }) = &self.setup.schedule
        else {
            return None;
        };
        let total = self.epochs * self.setup.steps_per_epoch;
        Some(one_cycle_phases(
            total,
            *max_lr,
            *pct_start,
            *div_factor,
            *final_div_factor,
            *three_phase,
        ))
    }

    /// `OneCycleLR.get_lr` at `step_num`.
    fn one_cycle_lr(&self, phases: &[Phase], step_num: usize) -> f64 {
        let anneal = match &self.setup.schedule {
            Some(Schedule::OneCycle { anneal, .. }) => *anneal,
            _ => Anneal::Cos,
        };
        let step = step_num as f64;
        let mut start_step = 0.0;
        for (i, phase) in phases.iter().enumerate() {
            if step <= phase.end_step || i == phases.len() - 1 {
                let pct = (step - start_step) / (phase.end_step - start_step);
                return match anneal {
                    Anneal::Cos => {
                        let cos_out = (std::f64::consts::PI * pct).cos() + 1.0;
                        phase.end_lr + (phase.start_lr - phase.end_lr) / 2.0 * cos_out
                    }
                    Anneal::Linear => (phase.end_lr - phase.start_lr) * pct + phase.start_lr,
                };
            }
            start_step = phase.end_step;
        }
        self.progress.lr
    }
}
