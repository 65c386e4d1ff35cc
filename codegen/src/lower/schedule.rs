//! The train block's learning-rate schedule, from the checker's types to
//! the runtime's (the runtime does not depend on the compiler).

use nnspec_dsl::ir;
use nnspec_runtime::schedule::{Anneal, Schedule, ThresholdMode};

/// The runtime form of `config`'s `schedule:`; `None` without one. The
/// warmup is `config.warmup`, passed to
/// [`LrScheduler::new`](nnspec_runtime::schedule::LrScheduler::new) with it.
pub fn lr_schedule(config: &ir::TrainConfig) -> Option<Schedule> {
    config.schedule.as_ref().map(schedule)
}

fn schedule(schedule: &ir::Schedule) -> Schedule {
    match schedule {
        ir::Schedule::Step { step_size, gamma } => Schedule::Step {
            step_size: *step_size,
            gamma: *gamma,
        },
        ir::Schedule::MultiStep { milestones, gamma } => Schedule::MultiStep {
            milestones: milestones.clone(),
            gamma: *gamma,
        },
        ir::Schedule::Exponential { gamma } => Schedule::Exponential { gamma: *gamma },
        ir::Schedule::Cosine { t_max, eta_min } => Schedule::Cosine {
            t_max: *t_max,
            eta_min: *eta_min,
        },
        ir::Schedule::OneCycle {
            max_lr,
            pct_start,
            anneal,
            div_factor,
            final_div_factor,
            three_phase,
        } => Schedule::OneCycle {
            max_lr: *max_lr,
            pct_start: *pct_start,
            anneal: match anneal {
                ir::Anneal::Cos => Anneal::Cos,
                ir::Anneal::Linear => Anneal::Linear,
            },
            div_factor: *div_factor,
            final_div_factor: *final_div_factor,
            three_phase: *three_phase,
        },
        ir::Schedule::Plateau {
            factor,
            patience,
            threshold,
            threshold_mode,
            cooldown,
            min_lr,
            eps,
        } => Schedule::Plateau {
            factor: *factor,
            patience: *patience,
            threshold: *threshold,
            threshold_mode: match threshold_mode {
                ir::ThresholdMode::Rel => ThresholdMode::Rel,
                ir::ThresholdMode::Abs => ThresholdMode::Abs,
            },
            cooldown: *cooldown,
            min_lr: *min_lr,
            eps: *eps,
        },
    }
}
