//! PyTorch's formulas, in its order of operations (the rounding is part
//! of the result).

/// One-cycle's phases, as `OneCycleLR.__init__` lays them out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Phase {
    pub(super) end_step: f64,
    pub(super) start_lr: f64,
    pub(super) end_lr: f64,
}

/// `x ** n` as Python computes it for a float and an int: C's `pow`
/// (`x` itself for the exponent 1 of increasing milestones).
pub(super) fn pow_int(x: f64, n: usize) -> f64 {
    x.powf(n as f64)
}

/// `CosineAnnealingLR.get_lr` at `last_epoch` ≥ 1, the recursive form.
pub(super) fn cosine_lr(
    lr: f64,
    base_lr: f64,
    t_max: usize,
    eta_min: f64,
    last_epoch: usize,
) -> f64 {
    let pi = std::f64::consts::PI;
    let (e, t) = (last_epoch as i64, t_max as i64);
    if (e - 1 - t).rem_euclid(2 * t) == 0 {
        lr + (base_lr - eta_min) * (1.0 - (pi / t_max as f64).cos()) / 2.0
    } else {
        (1.0 + (pi * last_epoch as f64 / t_max as f64).cos())
            / (1.0 + (pi * (last_epoch - 1) as f64 / t_max as f64).cos())
            * (lr - eta_min)
            + eta_min
    }
}

pub(super) fn one_cycle_phases(
    total_steps: usize,
    max_lr: f64,
    pct_start: f64,
    div_factor: f64,
    final_div_factor: f64,
    three_phase: bool,
) -> Vec<Phase> {
    let initial_lr = max_lr / div_factor;
    let min_lr = initial_lr / final_div_factor;
    let total = total_steps as f64;
    let last = (total_steps as f64) - 1.0;
    if three_phase {
        vec![
            Phase {
                end_step: pct_start * total - 1.0,
                start_lr: initial_lr,
                end_lr: max_lr,
            },
            Phase {
                end_step: 2.0 * pct_start * total - 2.0,
                start_lr: max_lr,
                end_lr: initial_lr,
            },
            Phase {
                end_step: last,
                start_lr: initial_lr,
                end_lr: min_lr,
            },
        ]
    } else {
        vec![
            Phase {
                end_step: pct_start * total - 1.0,
                start_lr: initial_lr,
                end_lr: max_lr,
            },
            Phase {
                end_step: last,
                start_lr: max_lr,
                end_lr: min_lr,
            },
        ]
    }
}
