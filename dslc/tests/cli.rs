//! The `dslc` command line, run as a user runs it.

mod common;

use std::path::Path;

use common::{dslc, metrics, root, scratch, text};

#[test]
fn check_prints_summaries_and_fails_on_errors() {
    let out = dslc(&["check", "examples/mnist_mlp.nn", "examples/lenet.nn"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Model: MnistMlp") && stdout.contains("Trainable params: 101,770"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Model: LeNet") && stdout.contains("Trainable params: 61,706"),
        "{stdout}"
    );

    let dir = scratch("check");
    let bad = dir.join("bad.nn");
    std::fs::write(
        &bad,
        "model M {\n    input x: f32[4];\n    output y = x -> dense(3) + x;\n}\n",
    )
    .unwrap();
    let out = dslc(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[E0301]") && stderr.contains("bad.nn:3:16"),
        "{stderr}"
    );

    let out = dslc(&["check", "no/such/file.nn"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read no/such/file.nn"));
}

#[test]
fn fmt_prints_the_canonical_form_and_checks_it() {
    let out = dslc(&["fmt", "--check", "examples/lenet.nn"]);
    assert!(out.status.success());
    let dir = scratch("fmt");
    let messy = dir.join("messy.nn");
    std::fs::write(&messy, "model M{input x:f32[4];output y=x->relu;}").unwrap();
    let out = dslc(&["fmt", messy.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "model M {\n    input x: f32[4];\n    output y = x -> relu;\n}\n"
    );
    let out = dslc(&["fmt", "--check", messy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

/// Acceptance: `dslc train` on the embedded digits reaches at least 95%.
#[test]
fn train_on_the_embedded_digits() {
    let dir = scratch("train-digits");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("epoch 30/30"), "{stdout}");
    assert!(stdout.contains("confusion matrix"), "{stdout}");
    let m = metrics(&dir);
    let accuracy = m["test_accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.95, "test accuracy {accuracy}");
    assert_eq!(m["epochs"], 30);
    assert!(m["train_samples_per_s"].as_f64().unwrap() > 0.0);
    assert!(m["test_loss"].as_f64().unwrap() < 0.2);
    let confusion = m["confusion_matrix"].as_array().unwrap();
    assert_eq!(confusion.len(), 10);
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 360);
    for png in ["curves.png", "confusion.png"] {
        let bytes = std::fs::read(dir.join(png)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png}");
    }

    // eval on the same split reproduces the final test metrics.
    let weights = dir.join("model.safetensors");
    let eval_dir = dir.join("eval");
    let out = dslc(&[
        "eval",
        "examples/digits_mlp.nn",
        "--weights",
        weights.to_str().unwrap(),
        "--out",
        eval_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e = metrics(&eval_dir);
    assert_eq!(e["test_accuracy"], m["test_accuracy"]);
    assert_eq!(e["confusion_matrix"], m["confusion_matrix"]);
}

/// Two epochs, then `--resume` to four, gives the weights of four epochs in one go.
#[test]
fn resume_continues_exactly() {
    let straight = scratch("resume-straight");
    let split = scratch("resume-split");
    let run = |dir: &Path, epochs: &str, resume: bool| {
        let mut args = vec![
            "train",
            "examples/digits_mlp.nn",
            "--epochs",
            epochs,
            "--out",
            dir.to_str().unwrap(),
        ];
        if resume {
            args.push("--resume");
        }
        let out = dslc(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    run(&straight, "4", false);
    run(&split, "2", false);
    run(&split, "4", true);
    let a = std::fs::read(straight.join("model.safetensors")).unwrap();
    let b = std::fs::read(split.join("model.safetensors")).unwrap();
    assert_eq!(a, b, "resumed weights differ from an uninterrupted run");
    assert_eq!(metrics(&split)["history"].as_array().unwrap().len(), 4);
    assert_eq!(
        metrics(&split)["test_accuracy"],
        metrics(&straight)["test_accuracy"]
    );
}

#[test]
fn divergence_stops_with_a_message() {
    let dir = scratch("diverge");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--lr",
        "1e30",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("training diverged"), "{stderr}");
}

#[test]
fn bad_flags_and_inputs_are_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["train", "examples/digits_mlp.nn", "--epochs", "0"],
            "--epochs",
        ),
        (
            &["train", "examples/digits_mlp.nn", "--lr", "-1"],
            "greater than 0",
        ),
        (
            &["train", "examples/digits_mlp.nn", "--lr", "fast"],
            "not a number",
        ),
        (
            &["train", "examples/digits_mlp.nn", "--data", "no/such/dir"],
            "no/such/dir: no such file or directory",
        ),
        (
            &["train", "examples/residual.nn", "--model", "Nope"],
            "has no model `Nope`",
        ),
        (
            &["train", "examples/residual.nn", "--model", "Residual"],
            "has no train block",
        ),
        (
            &["train", "examples/lenet.nn"],
            "cannot be reshaped to the model's input shape [1, 28, 28]",
        ),
        (
            &[
                "eval",
                "examples/digits_mlp.nn",
                "--weights",
                "no/such.safetensors",
            ],
            "no/such.safetensors",
        ),
    ];
    for (args, expected) in cases {
        let out = dslc(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    }
}

#[test]
fn eval_refuses_a_checkpoint_of_another_model() {
    let dir = scratch("wrong-checkpoint");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    // Same names, different shapes: the residual digits model.
    let weights = dir.join("model.safetensors");
    let out = dslc(&[
        "eval",
        "examples/residual.nn",
        "--model",
        "DigitsResNet",
        "--weights",
        weights.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "model.safetensors is for model `DigitsMlp`, the file's model is `DigitsResNet`"
        ),
        "{stderr}"
    );

    let garbage = dir.join("garbage.safetensors");
    std::fs::write(
        &garbage,
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all",
    )
    .unwrap();
    let out = dslc(&[
        "eval",
        "examples/digits_mlp.nn",
        "--weights",
        garbage.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("garbage.safetensors"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn train_on_idx_files() {
    let dir = scratch("train-idx");
    let data = root().join("runtime/tests/data/fashion-mnist-small");
    let out = dslc(&[
        "train",
        "examples/mnist_mlp.nn",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("5000 training, 1000 test samples"),
        "{stdout}"
    );
    // Fashion-MNIST class names label the report.
    assert!(stdout.contains("Ankle boot"), "{stdout}");
    let accuracy = metrics(&dir)["test_accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.6,
        "two epochs on 5000 Fashion-MNIST images: {accuracy}"
    );
}

/// `eval` scores on the split `train` held out, whatever seed training used.
#[test]
fn eval_uses_the_training_seed_and_data() {
    let dir = scratch("eval-seed");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--seed",
        "5",
        "--epochs",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let weights = dir.join("model.safetensors");
    let eval_dir = dir.join("eval");
    let out = dslc(&[
        "eval",
        "examples/digits_mlp.nn",
        "--weights",
        weights.to_str().unwrap(),
        "--out",
        eval_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        metrics(&eval_dir)["confusion_matrix"],
        metrics(&dir)["confusion_matrix"]
    );
    let out = dslc(&[
        "eval",
        "examples/digits_mlp.nn",
        "--weights",
        weights.to_str().unwrap(),
        "--seed",
        "6",
        "--out",
        eval_dir.to_str().unwrap(),
    ]);
    // Another seed draws another split, whose "test" samples were trained on.
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--seed 6 differs from the checkpoint's --seed 5"),
        "{}",
        text(&out.stderr)
    );
}

/// With dropout, a resumed run draws the same masks as an uninterrupted one.
#[test]
fn resume_is_exact_with_dropout() {
    let dir = scratch("resume-dropout");
    let model = dir.join("drop.nn");
    std::fs::write(
        &model,
        "model Drop {\n    input x: f32[64];\n    output y = x -> dense(32) -> relu -> dropout(0.3) -> dense(10);\n}\n\ntrain Drop {\n    loss: cross_entropy,\n    optimizer: adam(lr: 0.01),\n    batch: 50,\n    epochs: 3,\n}\n",
    )
    .unwrap();
    let (straight, split) = (dir.join("straight"), dir.join("split"));
    let run = |out: &Path, epochs: &str, resume: bool| {
        let mut args = vec![
            "train",
            model.to_str().unwrap(),
            "--epochs",
            epochs,
            "--out",
            out.to_str().unwrap(),
        ];
        if resume {
            args.push("--resume");
        }
        let result = dslc(&args);
        assert!(result.status.success(), "{}", text(&result.stderr));
    };
    run(&straight, "3", false);
    run(&split, "1", false);
    run(&split, "3", true);
    assert_eq!(
        std::fs::read(straight.join("model.safetensors")).unwrap(),
        std::fs::read(split.join("model.safetensors")).unwrap()
    );
}

#[test]
fn edge_cases_of_the_data_and_the_batch() {
    let dir = scratch("edges");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    // Batch normalization on a batch of one sample: refused before training.
    let bn = write(
        "bn.nn",
        "model Bn {\n    input x: f32[64];\n    output y = x -> dense(16) -> batchnorm -> relu -> dense(10);\n}\n\ntrain Bn {\n    loss: cross_entropy,\n    optimizer: sgd(lr: 0.1),\n    batch: 4,\n    epochs: 1,\n}\n",
    );
    let out = dslc(&[
        "train",
        bn.to_str().unwrap(),
        "--out",
        dir.join("bn").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("batch normalization `batchnorm_1`") && !stderr.contains("panicked"),
        "{stderr}"
    );
    // A batch far larger than the data trains in one batch per epoch.
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--batch",
        "1000000",
        "--epochs",
        "1",
        "--out",
        dir.join("big").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // More classes than the data names: the report numbers the extra ones.
    let wide = write(
        "wide.nn",
        "model Wide {\n    input x: f32[64];\n    output y = x -> dense(12);\n}\n\ntrain Wide {\n    loss: cross_entropy,\n    optimizer: sgd(lr: 0.1),\n    batch: 32,\n    epochs: 1,\n}\n",
    );
    let data = root().join("runtime/tests/data/iris.csv");
    let iris = write(
        "iris.nn",
        "model Iris {\n    input x: f32[4];\n    output y = x -> dense(8) -> relu -> dense(5);\n}\n\ntrain Iris {\n    loss: cross_entropy,\n    optimizer: adam(lr: 0.05),\n    batch: 16,\n    epochs: 20,\n}\n",
    );
    let out = dslc(&[
        "train",
        wide.to_str().unwrap(),
        "--out",
        dir.join("wide").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = dslc(&[
        "train",
        iris.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        dir.join("iris").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("virginica"),
        "{}",
        text(&out.stdout)
    );
    // A model too big for the machine is refused before anything is allocated.
    let huge = write(
        "huge.nn",
        "model Huge {\n    input x: f32[64];\n    output y = x -> dense(65536) -> dense(65536) -> dense(10);\n}\n\ntrain Huge {\n    loss: cross_entropy,\n    optimizer: adam,\n}\n",
    );
    let out = dslc(&[
        "train",
        huge.to_str().unwrap(),
        "--out",
        dir.join("huge").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("GiB are available"),
        "{}",
        text(&out.stderr)
    );
    // check goes on past an unreadable file.
    let out = dslc(&["check", "no/such.nn", "examples/lenet.nn"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("Model: LeNet"));
}

/// `--normalize` changes the inputs; eval scales as training did.
#[test]
fn normalization_is_chosen_and_remembered() {
    let dir = scratch("normalize");
    let unit = dir.join("unit");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--normalize",
        "unit",
        "--epochs",
        "3",
        "--out",
        unit.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tutorial = dir.join("tutorial");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "3",
        "--out",
        tutorial.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert_ne!(
        metrics(&unit)["history"][0]["train_loss"],
        metrics(&tutorial)["history"][0]["train_loss"]
    );
    let weights = unit.join("model.safetensors");
    let out = dslc(&[
        "eval",
        "examples/digits_mlp.nn",
        "--weights",
        weights.to_str().unwrap(),
        "--out",
        unit.join("e").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    // Same inputs, same weights, so the same loss up to rounding: `eval`
    // batches the test set differently from `train`, and a kernel tier may
    // round a product differently at another batch size (the portable
    // tier's `gemm` crate does), moving each f32 logit by a few ulps, about
    // 1e-7 of the loss. Forgetting the normalization moves it by far more
    // than the 1e-5 allowed (these weights evaluated with `tutorial`
    // scaling: 0.145 against 0.124).
    let (a, b) = (
        metrics(&unit.join("e"))["test_loss"].as_f64().unwrap(),
        metrics(&unit)["test_loss"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-5 * b.abs(), "{a} vs {b}");
    let out = dslc(&["train", "examples/digits_mlp.nn", "--normalize", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("possible values"),
        "{}",
        text(&out.stderr)
    );
}
