//! What a scheduler refuses, and how a setup reads in messages.

use super::formulas::one_cycle_phases;
use super::{Schedule, Setup};

pub(super) fn describe(setup: &Setup) -> String {
    let schedule = setup.schedule.as_ref().map_or("none", Schedule::name);
    format!(
        "{schedule} (warmup {} epochs, lr {:?}, {} steps per epoch{})",
        setup.warmup_epochs,
        setup.base_lr,
        setup.steps_per_epoch,
        setup
            .one_cycle_epochs
            .map(|e| format!(", {e} epochs"))
            .unwrap_or_default()
    )
}

pub(super) fn validate(
    schedule: Option<&Schedule>,
    warmup: usize,
    base_lr: f64,
    epochs: usize,
    steps_per_epoch: usize,
) -> Result<(), String> {
    let finite = |name: &str, x: f64, min: f64| {
        if x.is_finite() && x >= min {
            Ok(())
        } else {
            Err(format!(
                "{name} must be a finite number of at least {min}, found {x:?}"
            ))
        }
    };
    let positive = |name: &str, x: f64| {
        if x.is_finite() && x > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "{name} must be a finite number greater than 0, found {x:?}"
            ))
        }
    };
    finite("lr", base_lr, 0.0)?;
    if epochs == 0 {
        return Err("a learning-rate schedule needs at least one epoch".into());
    }
    if steps_per_epoch == 0 {
        return Err("a learning-rate schedule needs at least one step per epoch".into());
    }
    if warmup > 0 && warmup >= epochs {
        return Err(format!(
            "a warmup of {warmup} epochs leaves none of the run's {epochs} epochs to train at the full learning rate"
        ));
    }
    let Some(schedule) = schedule else {
        return Ok(());
    };
    match schedule {
        Schedule::Step { step_size, gamma } => {
            if *step_size == 0 {
                return Err("step: step_size must be at least 1".into());
            }
            positive("step: gamma", *gamma)
        }
        Schedule::MultiStep { milestones, gamma } => {
            if milestones.is_empty() {
                return Err("multistep: milestones must not be empty".into());
            }
            positive("multistep: gamma", *gamma)
        }
        Schedule::Exponential { gamma } => positive("exponential: gamma", *gamma),
        Schedule::Cosine { t_max, eta_min } => {
            if *t_max == 0 {
                return Err("cosine: t_max must be at least 1".into());
            }
            finite("cosine: eta_min", *eta_min, 0.0)
        }
        Schedule::OneCycle {
            max_lr,
            pct_start,
            div_factor,
            final_div_factor,
            three_phase,
            ..
        } => {
            if warmup > 0 {
                return Err(
                    "one_cycle warms up by itself (the first pct_start of its steps); it cannot follow a warmup"
                        .into(),
                );
            }
            positive("one_cycle: max_lr", *max_lr)?;
            positive("one_cycle: div_factor", *div_factor)?;
            positive("one_cycle: final_div_factor", *final_div_factor)?;
            if !(0.0..=1.0).contains(pct_start) {
                return Err(format!(
                    "one_cycle: pct_start must be in [0, 1], found {pct_start:?}"
                ));
            }
            let total = epochs * steps_per_epoch;
            let phases = one_cycle_phases(
                total,
                *max_lr,
                *pct_start,
                *div_factor,
                *final_div_factor,
                *three_phase,
            );
            // PyTorch divides by each phase's length in steps; a phase of
            // none raises ZeroDivisionError there.
            let mut start = 0.0;
            for phase in &phases {
                if phase.end_step - start == 0.0 {
                    return Err(format!(
                        "one_cycle: {total} steps ({epochs} epochs of {steps_per_epoch}) are too few for pct_start {pct_start:?}: a phase of the cycle would have no steps"
                    ));
                }
                start = phase.end_step;
            }
            Ok(())
        }
        Schedule::Plateau {
            factor,
            threshold,
            min_lr,
            eps,
            ..
        } => {
            if !(factor.is_finite() && (0.0..1.0).contains(factor)) {
                return Err(format!(
                    "plateau: factor must be in [0, 1), found {factor:?}"
                ));
            }
            finite("plateau: threshold", *threshold, 0.0)?;
            finite("plateau: min_lr", *min_lr, 0.0)?;
            finite("plateau: eps", *eps, 0.0)
        }
    }
}
