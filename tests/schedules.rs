//! A train block's schedule, end to end: checked by the front end,
//! converted by codegen, run by the runtime's scheduler.

use nnspec::codegen;
use nnspec::dsl;
use nnspec::runtime::schedule::{LrScheduler, Schedule};

fn scheduler(settings: &str, steps_per_epoch: usize) -> LrScheduler {
    let source = format!(
        "model M {{\n    input x: f32[4];\n    output y = x -> dense(3);\n}}\n\
         train M {{\n    loss: cross_entropy,\n    optimizer: sgd(lr: 0.5),\n{settings}\n}}\n"
    );
    let compiled = dsl::compile(&source);
    assert!(!compiled.has_errors(), "{}", compiled.render("t.nn"));
    let config = compiled.train("M").expect("checked");
    let base_lr = match config.optimizer {
        dsl::ir::Optimizer::Sgd { lr, .. } => lr,
        _ => unreachable!("the block uses sgd"),
    };
    LrScheduler::new(
        codegen::lr_schedule(config),
        config.warmup,
        base_lr,
        config.epochs,
        steps_per_epoch,
    )
    .expect("fits")
}

#[test]
fn a_checked_schedule_runs() {
    let mut s = scheduler(
        "    schedule: step(step_size: 2, gamma: 0.5),\n    epochs: 5,",
        3,
    );
    let mut per_epoch = Vec::new();
    for _ in 0..5 {
        per_epoch.push(s.lr());
        for _ in 0..3 {
            s.step_done();
        }
        s.epoch_done(None);
    }
    assert_eq!(per_epoch, [0.5, 0.5, 0.25, 0.25, 0.125]);
}

#[test]
fn warmup_starts_small_and_reaches_the_lr() {
    let mut s = scheduler("    warmup: 1,\n    epochs: 3,", 4);
    let mut lrs = Vec::new();
    for _ in 0..8 {
        lrs.push(s.lr());
        s.step_done();
        if lrs.len() % 4 == 0 {
            s.epoch_done(None);
        }
    }
    assert_eq!(lrs[0], 0.5 / 5.0);
    assert!(lrs[..4].windows(2).all(|w| w[0] < w[1]), "{lrs:?}");
    assert!((lrs[4] - 0.5).abs() < 1e-15 && lrs[4..].iter().all(|&lr| lr == lrs[4]));
}

#[test]
fn every_schedule_converts() {
    let settings = [
        "schedule: step(step_size: 2)",
        "schedule: multistep(milestones: [1, 2])",
        "schedule: exponential(gamma: 0.9)",
        "schedule: cosine(t_max: 4, eta_min: 0.01)",
        "schedule: one_cycle(max_lr: 1, anneal: linear, three_phase: true)",
        "schedule: plateau(threshold_mode: abs),\n    validation: 0.1",
    ];
    let names = [
        "step",
        "multistep",
        "exponential",
        "cosine",
        "one_cycle",
        "plateau",
    ];
    for (setting, name) in settings.iter().zip(names) {
        let source = format!(
            "model M {{\n    input x: f32[4];\n    output y = x -> dense(3);\n}}\n\
             train M {{\n    loss: cross_entropy,\n    optimizer: sgd,\n    {setting},\n    epochs: 4,\n}}\n"
        );
        let compiled = dsl::compile(&source);
        assert!(!compiled.has_errors(), "{}", compiled.render("t.nn"));
        let schedule: Option<Schedule> = codegen::lr_schedule(compiled.train("M").unwrap());
        assert_eq!(schedule.as_ref().map(Schedule::name), Some(name));
    }
}
