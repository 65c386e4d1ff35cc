//! Training on float targets: a regression learns, and data whose
//! targets do not suit the loss are refused before training.

use nnspec::dsl as nnspec_dsl;
use nnspec::runtime::data::Dataset;

/// y = 2 a - b + 0.5, learnt by one dense layer with `mse`, and by `l1`.
#[test]
fn a_linear_model_learns_float_targets() {
    use nnspec::runtime::exec::Executor;
    use nnspec::runtime::train::{self, FitOptions, Silent};
    let n = 64;
    let mut features = Vec::new();
    let mut targets = Vec::new();
    for i in 0..n {
        let (a, b) = ((i % 8) as f32 / 4.0 - 1.0, (i / 8) as f32 / 4.0 - 1.0);
        features.extend([a, b]);
        targets.push(2.0 * a - b + 0.5);
    }
    let ds = Dataset::new(features, vec![0; n], vec![2], 1, None, "line")
        .unwrap()
        .with_targets(targets, vec!["y".into()])
        .unwrap();
    for loss in ["mse", "l1"] {
        let source = format!(
            "model Line {{ input x: f32[2]; output y = x -> dense(1); }}
             train Line {{ loss: {loss}, optimizer: adam(lr: 0.05), batch: 16, epochs: 60 }}"
        );
        let compiled = nnspec_dsl::compile(&source);
        assert!(!compiled.has_errors(), "{}", compiled.render("line.nn"));
        let plan = nnspec::codegen::lower_training(&compiled.models[0], &compiled.trains[0]);
        let mut exec = Executor::new(plan, 16, 1).unwrap();
        exec.init_params(0);
        let options = FitOptions {
            epochs: 60,
            batch: 16,
            ..FitOptions::default()
        };
        let fitted = train::fit(&mut exec, &ds, None, &options, &mut Silent).unwrap();
        let first = fitted.records[0].train_loss;
        let last = fitted.records.last().unwrap().train_loss;
        assert!(last < first / 20.0, "{loss}: {first} -> {last}");
        assert!(fitted.records[0].train_accuracy.is_nan());
        let evaluation = train::evaluate(&mut exec, &ds);
        let r = evaluation.regression.expect("regression metrics");
        assert!(r.metrics.r2 > 0.99, "{loss}: R² {}", r.metrics.r2);
        assert!(evaluation.accuracy.is_nan());
    }
}

#[test]
fn a_regression_loss_refuses_class_labels_and_cross_entropy_refuses_targets() {
    use nnspec::runtime::exec::Executor;
    use nnspec::runtime::train;
    let labelled =
        Dataset::new(vec![0.0; 8], vec![0, 1, 0, 1], vec![2], 2, None, "labels").unwrap();
    let with_targets = labelled
        .clone()
        .with_targets(vec![1.0; 4], vec!["t".into()])
        .unwrap();
    let exec = |loss: &str, out: usize| {
        let source = format!(
            "model M {{ input x: f32[2]; output y = x -> dense({out}); }}
             train M {{ loss: {loss}, optimizer: sgd }}"
        );
        let compiled = nnspec_dsl::compile(&source);
        let plan = nnspec::codegen::lower_training(&compiled.models[0], &compiled.trains[0]);
        Executor::new(plan, 4, 1).unwrap()
    };
    let message = train::check_fits(&exec("mse", 1), &labelled)
        .unwrap_err()
        .to_string();
    assert!(message.contains("--target"), "{message}");
    let message = train::check_fits(&exec("cross_entropy", 2), &with_targets)
        .unwrap_err()
        .to_string();
    assert!(message.contains("class labels"), "{message}");
    let message = train::check_fits(&exec("mse", 3), &with_targets)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("3 outputs and the data set 1 target"),
        "{message}"
    );
    // One logit learns a binary label.
    train::check_fits(&exec("bce_with_logits", 1), &labelled).unwrap();
}
