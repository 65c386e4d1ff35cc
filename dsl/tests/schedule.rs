//! The train block's `schedule:`, `warmup:`, `validation:` and
//! `early_stopping:`: what they check to (PyTorch's defaults filled in),
//! what they refuse, and that `dslc fmt` keeps them.

use nnspec_dsl::{self as dsl, ir};

const MODEL: &str = "model M {\n    input x: f32[4];\n    output y = x -> dense(3);\n}\n";

/// The checked train block of `settings` (after loss and optimizer).
fn train(settings: &str) -> ir::TrainConfig {
    let source = format!(
        "{MODEL}\ntrain M {{\n    loss: cross_entropy,\n    optimizer: sgd,\n{settings}\n}}\n"
    );
    let compiled = dsl::compile(&source);
    assert!(!compiled.has_errors(), "{}", compiled.render("t.nn"));
    assert!(
        compiled.diagnostics.is_empty(),
        "{}",
        compiled.render("t.nn")
    );
    compiled.train("M").expect("checked").clone()
}

/// The codes `settings` produce.
fn codes(settings: &str) -> Vec<&'static str> {
    let source = format!(
        "{MODEL}\ntrain M {{\n    loss: cross_entropy,\n    optimizer: sgd,\n{settings}\n}}\n"
    );
    dsl::compile(&source)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect()
}

#[test]
fn without_the_fields_nothing_is_scheduled() {
    let config = train("");
    assert_eq!(config.schedule, None);
    assert_eq!(config.warmup, 0);
    assert_eq!(config.validation, None);
    assert_eq!(config.early_stopping, None);
}

#[test]
fn every_schedule_checks_with_pytorchs_defaults() {
    let cases = [
        (
            "step(step_size: 5)",
            ir::Schedule::Step {
                step_size: 5,
                gamma: 0.1,
            },
        ),
        (
            "step(3, 0.5)",
            ir::Schedule::Step {
                step_size: 3,
                gamma: 0.5,
            },
        ),
        (
            "multistep(milestones: [2, 4], gamma: 0.5)",
            ir::Schedule::MultiStep {
                milestones: vec![2, 4],
                gamma: 0.5,
            },
        ),
        (
            "exponential(gamma: 0.9)",
            ir::Schedule::Exponential { gamma: 0.9 },
        ),
        (
            "cosine(t_max: 10)",
            ir::Schedule::Cosine {
                t_max: 10,
                eta_min: 0.0,
            },
        ),
        (
            "one_cycle(max_lr: 0.1)",
            ir::Schedule::OneCycle {
                max_lr: 0.1,
                pct_start: 0.3,
                anneal: ir::Anneal::Cos,
                div_factor: 25.0,
                final_div_factor: 1e4,
                three_phase: false,
            },
        ),
        (
            "one_cycle(max_lr: 1, pct_start: 0.25, anneal: linear, div_factor: 10, \
             final_div_factor: 100, three_phase: true)",
            ir::Schedule::OneCycle {
                max_lr: 1.0,
                pct_start: 0.25,
                anneal: ir::Anneal::Linear,
                div_factor: 10.0,
                final_div_factor: 100.0,
                three_phase: true,
            },
        ),
        (
            "plateau",
            ir::Schedule::Plateau {
                factor: 0.1,
                patience: 10,
                threshold: 1e-4,
                threshold_mode: ir::ThresholdMode::Rel,
                cooldown: 0,
                min_lr: 0.0,
                eps: 1e-8,
            },
        ),
        (
            "plateau(factor: 0.5, patience: 0, threshold: 0.01, threshold_mode: abs, \
             cooldown: 2, min_lr: 0.001, eps: 0)",
            ir::Schedule::Plateau {
                factor: 0.5,
                patience: 0,
                threshold: 0.01,
                threshold_mode: ir::ThresholdMode::Abs,
                cooldown: 2,
                min_lr: 0.001,
                eps: 0.0,
            },
        ),
    ];
    for (text, expected) in cases {
        let config = train(&format!(
            "    schedule: {text},\n    validation: 0.2,\n    epochs: 10,"
        ));
        assert_eq!(config.schedule, Some(expected), "{text}");
        assert_eq!(config.validation, Some(0.2));
    }
}

#[test]
fn warmup_and_early_stopping_check() {
    let config = train(
        "    schedule: cosine(t_max: 8),\n    warmup: 2,\n    epochs: 10,\n    \
         validation: 0.1,\n    early_stopping: val_accuracy(patience: 3, min_delta: 0.01),",
    );
    assert_eq!(config.warmup, 2);
    assert_eq!(
        config.early_stopping,
        Some(ir::EarlyStopping {
            monitor: ir::Monitor::ValAccuracy,
            patience: 3,
            min_delta: 0.01,
        })
    );
    let config = train("    early_stopping: val_loss,\n    validation: 0.5,");
    assert_eq!(
        config.early_stopping,
        Some(ir::EarlyStopping {
            monitor: ir::Monitor::ValLoss,
            patience: 5,
            min_delta: 0.0,
        })
    );
    // A warmup without a schedule warms up to the optimizer's lr.
    assert_eq!(train("    warmup: 1,\n    epochs: 2,").warmup, 1);
}

#[test]
fn bad_settings_are_refused_with_their_codes() {
    let cases: &[(&str, &[&str])] = &[
        ("    schedule: cosin(t_max: 3),", &["E0506"]),
        ("    schedule: cosine,", &["E0103"]),
        ("    schedule: step(step_size: 0),", &["E0107"]),
        ("    schedule: exponential(gamma: -1),", &["E0107"]),
        ("    schedule: multistep(milestones: [3, 3]),", &["E0107"]),
        ("    schedule: multistep(milestones: []),", &["E0107"]),
        ("    schedule: multistep(milestones: [0, 1]),", &["E0107"]),
        ("    schedule: multistep(milestones: 3),", &["E0105"]),
        (
            "    schedule: one_cycle(max_lr: 0.1, anneal: 3),",
            &["E0105"],
        ),
        (
            "    schedule: one_cycle(max_lr: 0.1, pct_start: 1.5),",
            &["E0107"],
        ),
        (
            "    schedule: plateau(threshold_mode: relative),\n    validation: 0.1,",
            &["E0107"],
        ),
        (
            "    schedule: plateau(factor: 0),\n    validation: 0.1,",
            &["E0107"],
        ),
        (
            "    schedule: plateau(mode: min),\n    validation: 0.1,",
            &["E0102"],
        ),
        ("    validation: 1.0,", &["E0107"]),
        ("    validation: 0,", &["E0107"]),
        ("    warmup: -1,", &["E0107"]),
        (
            "    early_stopping: val_loss(patience: 0),\n    validation: 0.1,",
            &["E0107"],
        ),
        (
            "    early_stopping: loss,\n    validation: 0.1,",
            &["E0506"],
        ),
        // What does not fit.
        ("    warmup: 3,\n    epochs: 3,", &["E0508"]),
        ("    warmup: 1,", &["E0508"]),
        (
            "    schedule: one_cycle(max_lr: 0.1),\n    warmup: 1,\n    epochs: 5,",
            &["E0508"],
        ),
        ("    schedule: plateau,", &["E0508"]),
        ("    early_stopping: val_loss,", &["E0508"]),
        (
            "    schedule: step(step_size: 8),\n    warmup: 2,\n    epochs: 10,",
            &["E0508"],
        ),
        (
            "    schedule: multistep(milestones: [2, 10]),\n    epochs: 10,",
            &["E0508"],
        ),
        ("    schedule: cosine(t_max: 100),\n    epochs: 10,", &[]),
        (
            "    schedule: multistep(milestones: [2, 9]),\n    epochs: 10,",
            &[],
        ),
        (
            "    schedule: step(step_size: 7),\n    warmup: 2,\n    epochs: 10,",
            &[],
        ),
    ];
    for (settings, expected) in cases {
        assert_eq!(codes(settings), *expected, "{settings}");
    }
}

#[test]
fn fmt_keeps_the_new_settings() {
    let source = format!(
        "{MODEL}\ntrain M {{\n    loss: cross_entropy,\n    optimizer: sgd(lr: 0.1),\n    \
         schedule: multistep(milestones: [5, 10], gamma: 0.5),\n    warmup: 2,\n    \
         validation: 0.1,\n    early_stopping: val_loss(patience: 3),\n    \
         epochs: 20,\n}}\n"
    );
    let formatted = dsl::format(&source).expect("formats");
    assert_eq!(formatted, source);
    let one_cycle = source.replace(
        "multistep(milestones: [5, 10], gamma: 0.5),\n    warmup: 2",
        "one_cycle(max_lr: 0.1, anneal: linear, three_phase: true)",
    );
    assert_eq!(dsl::format(&one_cycle).expect("formats"), one_cycle);
    assert_eq!(dsl::compile(&one_cycle).diagnostics.len(), 0);
}
