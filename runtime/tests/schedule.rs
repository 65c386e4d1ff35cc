//! Learning-rate schedules against PyTorch 2.x: every step's lr, bit for
//! bit (the numbers come from bench/pytorch_schedules.py), resuming from a
//! saved state, and the inputs a scheduler refuses.

use nnspec_runtime::schedule::{Anneal, LrScheduler, Schedule, ThresholdMode};

#[rustfmt::skip]
#[path = "schedule/pytorch.rs"]
mod pytorch;

const EPOCHS: usize = 30;
const STEPS_PER_EPOCH: usize = 7;
const BASE_LR: f64 = 0.1;

fn step() -> Schedule {
    Schedule::Step {
        step_size: 5,
        gamma: 0.1,
    }
}

fn multistep() -> Schedule {
    Schedule::MultiStep {
        milestones: vec![5, 12, 20],
        gamma: 0.3,
    }
}

fn exponential() -> Schedule {
    Schedule::Exponential { gamma: 0.9 }
}

fn cosine() -> Schedule {
    Schedule::Cosine {
        t_max: 10,
        eta_min: 0.001,
    }
}

fn cosine_long() -> Schedule {
    Schedule::Cosine {
        t_max: 27,
        eta_min: 0.0,
    }
}

fn one_cycle(max_lr: f64) -> Schedule {
    Schedule::OneCycle {
        max_lr,
        pct_start: 0.3,
        anneal: Anneal::Cos,
        div_factor: 25.0,
        final_div_factor: 1e4,
        three_phase: false,
    }
}

fn one_cycle_linear_three_phase() -> Schedule {
    Schedule::OneCycle {
        max_lr: 0.05,
        pct_start: 0.25,
        anneal: Anneal::Linear,
        div_factor: 10.0,
        final_div_factor: 100.0,
        three_phase: true,
    }
}

fn one_cycle_cos_three_phase() -> Schedule {
    Schedule::OneCycle {
        max_lr: 0.2,
        pct_start: 0.4,
        anneal: Anneal::Cos,
        div_factor: 25.0,
        final_div_factor: 1e4,
        three_phase: true,
    }
}

fn plateau(factor: f64, patience: usize, threshold: f64, mode: ThresholdMode) -> Schedule {
    Schedule::Plateau {
        factor,
        patience,
        threshold,
        threshold_mode: mode,
        cooldown: 0,
        min_lr: 0.0,
        eps: 1e-8,
    }
}

fn plateau_rel() -> Schedule {
    let mut schedule = plateau(0.5, 2, 1e-4, ThresholdMode::Rel);
    if let Schedule::Plateau { cooldown, .. } = &mut schedule {
        *cooldown = 1;
    }
    schedule
}

fn plateau_abs() -> Schedule {
    Schedule::Plateau {
        factor: 0.5,
        patience: 1,
        threshold: 0.05,
        threshold_mode: ThresholdMode::Abs,
        cooldown: 0,
        min_lr: 0.02,
        eps: 1e-8,
    }
}

/// Every case of the script: its schedule, its warmup, PyTorch's lrs.
fn cases() -> Vec<(&'static str, Option<Schedule>, usize, &'static [f64])> {
    use pytorch::*;
    vec![
        ("step", Some(step()), 0, &STEP),
        ("multistep", Some(multistep()), 0, &MULTISTEP),
        ("exponential", Some(exponential()), 0, &EXPONENTIAL),
        ("cosine", Some(cosine()), 0, &COSINE),
        ("cosine_long", Some(cosine_long()), 0, &COSINE_LONG),
        ("one_cycle", Some(one_cycle(0.1)), 0, &ONE_CYCLE),
        (
            "one_cycle linear three-phase",
            Some(one_cycle_linear_three_phase()),
            0,
            &ONE_CYCLE_LINEAR_THREE_PHASE,
        ),
        (
            "one_cycle cos three-phase",
            Some(one_cycle_cos_three_phase()),
            0,
            &ONE_CYCLE_COS_THREE_PHASE,
        ),
        ("plateau rel", Some(plateau_rel()), 0, &PLATEAU_REL),
        ("plateau abs", Some(plateau_abs()), 0, &PLATEAU_ABS),
        ("warmup only", None, 2, &WARMUP_ONLY),
        ("warmup + step", Some(step()), 3, &WARMUP_STEP),
        (
            "warmup + multistep",
            Some(multistep()),
            2,
            &WARMUP_MULTISTEP,
        ),
        (
            "warmup + exponential",
            Some(exponential()),
            2,
            &WARMUP_EXPONENTIAL,
        ),
        ("warmup + cosine", Some(cosine_long()), 3, &WARMUP_COSINE),
        ("warmup + plateau", Some(plateau_rel()), 3, &WARMUP_PLATEAU),
    ]
}

fn scheduler(schedule: Option<Schedule>, warmup: usize) -> LrScheduler {
    LrScheduler::new(schedule, warmup, BASE_LR, EPOCHS, STEPS_PER_EPOCH)
        .unwrap_or_else(|e| panic!("a valid schedule: {e}"))
}

/// Drives `scheduler` as the training loop does from global step `from`
/// (an index into the run's steps) to the end, recording each step's lr.
fn drive(scheduler: &mut LrScheduler, from: usize, lrs: &mut Vec<f64>) {
    for step in from..EPOCHS * STEPS_PER_EPOCH {
        lrs.push(scheduler.lr());
        scheduler.step_done();
        if (step + 1) % STEPS_PER_EPOCH == 0 {
            let epoch = step / STEPS_PER_EPOCH;
            scheduler.epoch_done(Some(pytorch::VAL_LOSS[epoch]));
        }
    }
}

/// Drives a scheduler up to global step `until` (exclusive).
fn drive_until(scheduler: &mut LrScheduler, until: usize, lrs: &mut Vec<f64>) {
    for step in 0..until {
        lrs.push(scheduler.lr());
        scheduler.step_done();
        if (step + 1) % STEPS_PER_EPOCH == 0 {
            scheduler.epoch_done(Some(pytorch::VAL_LOSS[step / STEPS_PER_EPOCH]));
        }
    }
}

fn assert_bits(name: &str, ours: &[f64], pytorch: &[f64]) {
    assert_eq!(ours.len(), pytorch.len(), "{name}: length");
    for (i, (a, b)) in ours.iter().zip(pytorch).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "{name}: step {i} (epoch {}): ours {a:?}, PyTorch {b:?}",
            i / STEPS_PER_EPOCH
        );
    }
}

#[test]
fn every_schedule_matches_pytorch_bit_for_bit() {
    for (name, schedule, warmup, expected) in cases() {
        let mut lrs = Vec::new();
        drive(&mut scheduler(schedule, warmup), 0, &mut lrs);
        assert_bits(name, &lrs, expected);
    }
}

#[test]
fn no_schedule_keeps_the_optimizers_lr() {
    let mut lrs = Vec::new();
    drive(&mut scheduler(None, 0), 0, &mut lrs);
    assert!(lrs.iter().all(|&lr| lr.to_bits() == BASE_LR.to_bits()));
}

#[test]
fn resuming_at_an_epoch_end_or_mid_epoch_is_exact() {
    // Epoch ends (where the training loop checkpoints), and mid-epoch
    // points (during the warmup, during one-cycle).
    let points = [
        STEPS_PER_EPOCH,
        2 * STEPS_PER_EPOCH + 3,
        5 * STEPS_PER_EPOCH,
        13 * STEPS_PER_EPOCH,
        17 * STEPS_PER_EPOCH + 1,
        29 * STEPS_PER_EPOCH,
    ];
    for (name, schedule, warmup, expected) in cases() {
        for &at in &points {
            let mut lrs = Vec::new();
            let mut first = scheduler(schedule.clone(), warmup);
            drive_until(&mut first, at, &mut lrs);
            let state = first.state();
            drop(first);
            let mut resumed = scheduler(schedule.clone(), warmup);
            resumed
                .restore(&state)
                .unwrap_or_else(|e| panic!("{name}: restore at step {at}: {e}"));
            drive(&mut resumed, at, &mut lrs);
            assert_bits(&format!("{name} resumed at step {at}"), &lrs, expected);
        }
    }
}

#[test]
fn a_state_survives_a_second_round_trip() {
    let mut s = scheduler(Some(plateau_rel()), 3);
    let mut lrs = Vec::new();
    drive_until(&mut s, 12 * STEPS_PER_EPOCH, &mut lrs);
    let mut again = scheduler(Some(plateau_rel()), 3);
    again.restore(&s.state()).unwrap();
    assert_eq!(again.state(), s.state());
}

#[test]
fn restore_refuses_garbage_and_other_schedules() {
    let mut s = scheduler(Some(step()), 0);
    for garbage in [
        "",
        "{}",
        "null",
        "[1, 2]",
        "{\"setup\": 3}",
        "not json at all",
        "\u{0}",
    ] {
        let err = s.restore(garbage).unwrap_err();
        assert!(err.contains("not a learning-rate schedule state"), "{err}");
    }
    let other = scheduler(Some(cosine()), 0).state();
    let err = s.restore(&other).unwrap_err();
    assert!(err.contains("cosine") && err.contains("step"), "{err}");
    let other_warmup = scheduler(Some(step()), 2).state();
    assert!(s.restore(&other_warmup).is_err());
    let other_lr = LrScheduler::new(Some(step()), 0, 0.5, EPOCHS, STEPS_PER_EPOCH)
        .unwrap()
        .state();
    assert!(s.restore(&other_lr).is_err());
    // One-cycle's total steps follow the run's epochs.
    let shorter = LrScheduler::new(Some(one_cycle(0.1)), 0, BASE_LR, 20, STEPS_PER_EPOCH)
        .unwrap()
        .state();
    assert!(
        scheduler(Some(one_cycle(0.1)), 0)
            .restore(&shorter)
            .is_err()
    );
    // A refused state leaves the scheduler as it was.
    assert_eq!(s.lr(), BASE_LR);
    // A state past the run's end.
    let mut long = LrScheduler::new(Some(step()), 0, BASE_LR, 40, STEPS_PER_EPOCH).unwrap();
    for _ in 0..35 {
        long.epoch_done(None);
    }
    assert!(s.restore(&long.state()).unwrap_err().contains("epoch 35"));
    // A tampered lr.
    let tampered = s.state().replace("\"lr\":0.1", "\"lr\":-1.0");
    assert!(s.restore(&tampered).is_err());
    // Tampered counters do not make it panic.
    for schedule in [Some(one_cycle(0.1)), Some(cosine()), Some(plateau_abs())] {
        let mut t = scheduler(schedule, 0);
        let state = t
            .state()
            .replace("\"steps\":0", &format!("\"steps\":{}", usize::MAX));
        t.restore(&state).unwrap();
        t.step_done();
        t.epoch_done(Some(f64::NAN));
        let _ = t.lr();
    }
}

#[test]
fn schedules_that_do_not_fit_are_refused_with_a_message() {
    let new = |schedule: Option<Schedule>, warmup, epochs, steps| {
        LrScheduler::new(schedule, warmup, BASE_LR, epochs, steps).unwrap_err()
    };
    assert!(new(None, 3, 3, 7).contains("warmup of 3 epochs"));
    assert!(new(Some(step()), 5, 4, 7).contains("warmup"));
    assert!(new(Some(step()), 0, 0, 7).contains("at least one epoch"));
    assert!(new(Some(step()), 0, 3, 0).contains("at least one step"));
    assert!(new(Some(one_cycle(0.1)), 1, 3, 7).contains("warms up by itself"));
    // 3 steps with pct_start 1/3: the first phase ends at step 0.
    let tiny = Schedule::OneCycle {
        max_lr: 0.1,
        pct_start: 1.0 / 3.0,
        anneal: Anneal::Cos,
        div_factor: 25.0,
        final_div_factor: 1e4,
        three_phase: false,
    };
    assert!(new(Some(tiny), 0, 1, 3).contains("too few"));
    let zero_step = Schedule::Step {
        step_size: 0,
        gamma: 0.1,
    };
    assert!(new(Some(zero_step), 0, 3, 7).contains("step_size"));
    let bad_factor = plateau(1.0, 2, 1e-4, ThresholdMode::Rel);
    assert!(new(Some(bad_factor), 0, 3, 7).contains("factor"));
    let nan_gamma = Schedule::Exponential { gamma: f64::NAN };
    assert!(new(Some(nan_gamma), 0, 3, 7).contains("gamma"));
    assert!(LrScheduler::new(None, 0, f64::INFINITY, 3, 7).is_err());
}

#[test]
fn plateau_without_a_validation_loss_keeps_its_lr() {
    let mut s = scheduler(Some(plateau_abs()), 0);
    for _ in 0..EPOCHS {
        for _ in 0..STEPS_PER_EPOCH {
            s.step_done();
        }
        s.epoch_done(None);
    }
    assert_eq!(s.lr(), BASE_LR);
}
