//! The validation split: per-epoch metrics and the choice of weights come
//! from a share of the training data; the test split is scored once, after
//! training, and changes nothing that training did.

mod common;

use std::path::Path;

use common::*;

/// A small MNIST-format directory: `train` training images (the same for
/// every `test_seed`) and 60 test images drawn from `test_seed`.
fn idx_dir(name: &str, train: usize, test_seed: u64) -> std::path::PathBuf {
    let dir = scratch(name);
    // Each class has its own mean brightness over a noisy background, so
    // a model can learn something in two epochs.
    let images = |n: usize, seed: u64| {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let mut bytes = vec![0, 0, 8, 3];
        for d in [n as u32, 28, 28] {
            bytes.extend(d.to_be_bytes());
        }
        let mut labels = vec![0, 0, 8, 1];
        labels.extend((n as u32).to_be_bytes());
        for i in 0..n {
            let class = (i % 10) as u32;
            labels.push(class as u8);
            for _ in 0..28 * 28 {
                bytes.push(((next() % 100) + class * 15) as u8);
            }
        }
        (bytes, labels)
    };
    let (train_images, train_labels) = images(train, 1);
    let (test_images, test_labels) = images(60, test_seed);
    std::fs::write(dir.join("train-images-idx3-ubyte"), train_images).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), train_labels).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), test_images).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), test_labels).unwrap();
    dir
}

/// The tensors of a safetensors file (header entries and data), without
/// its metadata, which names the data set.
fn tensors(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header.as_object_mut().unwrap().remove("__metadata__");
    (header, bytes[8 + len..].to_vec())
}

/// What training decided, epoch by epoch (timings left out).
fn trajectory(metrics: &serde_json::Value) -> Vec<serde_json::Value> {
    metrics["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let r_obj = r.as_object_mut().unwrap();
            r_obj.remove("seconds");
            r_obj.remove("samples_per_s");
            r
        })
        .collect()
}

#[test]
fn the_test_split_changes_nothing_training_does() {
    let runs: Vec<_> = [11, 12]
        .into_iter()
        .map(|test_seed| {
            let dir = idx_dir(&format!("validation-test-{test_seed}"), 300, test_seed);
            let out_dir = dir.join("run");
            let out = dslc(&[
                "train",
                "examples/mnist_mlp.nn",
                "--data",
                dir.to_str().unwrap(),
                "--epochs",
                "3",
                "--val-split",
                "0.2",
                "--threads",
                "1",
                "--out",
                out_dir.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", both(&out));
            (out_dir, text(&out.stdout))
        })
        .collect();
    let (a, b) = (&runs[0].0, &runs[1].0);
    let (ma, mb) = (metrics(a), metrics(b));
    // Two test sets: two test scores...
    assert_ne!(ma["test_loss"], mb["test_loss"]);
    // ...and the same training: per-epoch records, the best epoch, and the
    // weights of the last and of the best epoch.
    assert_eq!(trajectory(&ma), trajectory(&mb));
    assert_eq!(ma["selection"], mb["selection"]);
    for file in ["model.safetensors", "best.safetensors"] {
        assert_eq!(tensors(&a.join(file)), tensors(&b.join(file)), "{file}");
    }
    // Per-epoch metrics are the validation split's; the history has no
    // test values, and the test split is scored after the last epoch.
    assert_eq!(ma["validation_samples"], 60);
    assert_eq!(ma["test_samples"], 60);
    for record in ma["history"].as_array().unwrap() {
        assert!(record["val_loss"].is_f64(), "{record}");
        assert!(
            record
                .as_object()
                .unwrap()
                .keys()
                .all(|k| !k.starts_with("test")),
            "{record}"
        );
    }
    let stdout = &runs[0].1;
    let last_epoch = stdout.rfind("epoch 3/3").expect("epoch lines");
    let test_line = stdout.find("test: loss").expect("a test line");
    assert!(test_line > last_epoch, "{stdout}");
    assert_eq!(stdout.matches("test: loss").count(), 1, "{stdout}");
}

#[test]
fn bad_validation_fractions_are_refused_before_training() {
    let dir = scratch("validation-bad");
    for (fraction, expected) in [
        ("0", "strictly between 0 and 1"),
        ("1", "strictly between 0 and 1"),
        ("abc", "is not a number"),
        ("0.9999", "leaves 0 training"),
    ] {
        let out = dslc(&[
            "train",
            "examples/digits_mlp.nn",
            "--val-split",
            fraction,
            "--out",
            dir.join(fraction).to_str().unwrap(),
        ]);
        assert_no_panic(&out, fraction);
        assert_ne!(out.status.code(), Some(0), "{fraction}: {}", both(&out));
        assert!(
            text(&out.stderr).contains(expected),
            "{fraction}: {}",
            both(&out)
        );
        assert!(
            !dir.join(fraction).join("model.safetensors").exists(),
            "{fraction}: nothing is written"
        );
    }
}

#[test]
fn resuming_keeps_the_validation_split() {
    let dir = scratch("validation-resume");
    let run = dir.join("run");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "examples/digits_mlp.nn",
            "--threads",
            "1",
            "--out",
            run.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        dslc(&args)
    };
    let out = train(&["--epochs", "1", "--val-split", "0.25"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let out = train(&["--epochs", "2", "--resume", "--val-split", "0.1"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        text(&out.stderr).contains("--val-split 0.1 differs from the checkpoint's 0.25"),
        "{}",
        both(&out)
    );
    let out = train(&["--epochs", "2", "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let m = metrics(&run);
    assert_eq!(m["history"].as_array().unwrap().len(), 2);
    // 1437 training samples of the digits' 80/20 split, a quarter held out.
    assert_eq!(m["validation_samples"], 360);
}

/// The digits MLP with the run settings of a train block: a validation
/// share, a warmup then a plateau schedule, and early stopping.
const SCHEDULED: &str = "
model DigitsMlp {
    input x: f32[64];
    output logits = x -> dense(32) as fc1 -> relu -> dense(10) as fc2;
}

train DigitsMlp {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.2, momentum: 0.9),
    batch: 64,
    epochs: 12,
    validation: 0.25,
    warmup: 1,
    schedule: plateau(factor: 0.5, patience: 0),
    early_stopping: val_loss(patience: 2, min_delta: 0.002),
}
";

fn train_scheduled(dir: &Path, extra: &[&str]) -> std::process::Output {
    let file = dir.join("scheduled.nn");
    std::fs::write(&file, SCHEDULED).unwrap();
    let run = dir.join("run");
    let mut args = vec![
        "train",
        file.to_str().unwrap(),
        "--threads",
        "1",
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    dslc(&args)
}

#[test]
fn early_stopping_ends_with_the_best_weights_and_resume_does_not_train_on() {
    let dir = scratch("validation-early-stopping");
    let run = dir.join("run");
    let out = train_scheduled(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let m = metrics(&run);
    let selection = &m["selection"];
    let trained = m["history"].as_array().unwrap().len();
    assert_eq!(selection["stopped_early"], true, "{m}");
    assert!(trained < 12, "{m}");
    let best = selection["best_epoch"].as_u64().unwrap() as usize;
    // Stopped `patience` epochs after the best.
    assert_eq!(trained, best + 2, "{m}");
    assert_eq!(
        selection["best_value"],
        m["history"][best - 1]["val_loss"],
        "{m}"
    );
    assert_eq!(selection["weights_from"], "best");
    assert_eq!(
        tensors(&run.join("model.safetensors")),
        tensors(&run.join("best.safetensors")),
        "model.safetensors holds the best epoch's weights"
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("stopping early after epoch"), "{stdout}");
    assert!(
        stdout.contains(&format!("best epoch on the validation split: {best} ")),
        "{stdout}"
    );
    // The learning rate of every epoch is recorded: the warmup, then the
    // plateau's halvings.
    let lrs: Vec<f64> = m["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lr"].as_f64().unwrap())
        .collect();
    assert!(lrs[0] < 0.19 && lrs.last().unwrap() < &0.2, "{lrs:?}");

    // A resumed run that early stopping ended trains no further.
    let before = std::fs::read(run.join("train_state.safetensors")).unwrap();
    let out = train_scheduled(&dir, &["--resume", "--epochs", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        text(&out.stdout).contains("early stopping ended this run"),
        "{}",
        both(&out)
    );
    assert_eq!(metrics(&run)["history"].as_array().unwrap().len(), trained);
    assert_eq!(
        std::fs::read(run.join("train_state.safetensors")).unwrap(),
        before
    );
    assert_eq!(
        tensors(&run.join("model.safetensors")),
        tensors(&run.join("best.safetensors"))
    );
}

#[test]
fn a_resumed_schedule_continues_exactly() {
    let straight = scratch("validation-schedule-straight");
    let out = train_scheduled(&straight, &["--epochs", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let resumed = scratch("validation-schedule-resumed");
    let out = train_scheduled(&resumed, &["--epochs", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let out = train_scheduled(&resumed, &["--epochs", "5", "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let (a, b) = (
        metrics(&straight.join("run")),
        metrics(&resumed.join("run")),
    );
    assert_eq!(trajectory(&a), trajectory(&b));
    assert_eq!(a["selection"], b["selection"]);
    for file in ["model.safetensors", "best.safetensors"] {
        assert_eq!(
            tensors(&straight.join("run").join(file)),
            tensors(&resumed.join("run").join(file)),
            "{file}"
        );
    }
}

#[test]
fn a_schedule_that_does_not_fit_the_run_is_refused_before_anything_is_written() {
    let dir = scratch("validation-schedule-misfit");
    // The warmup takes the whole run once --epochs shortens it.
    let out = train_scheduled(&dir, &["--epochs", "1"]);
    assert_no_panic(&out, "warmup as long as the run");
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        text(&out.stderr).contains("learning-rate schedule does not fit"),
        "{}",
        both(&out)
    );
    assert!(!dir.join("run").join("model.safetensors").exists());
}

const IRIS_MODEL: &str = "
model Iris {
    input x: f32[4];
    output logits = x -> dense(8) as fc1 -> relu -> dense(3) as fc2;
}

train Iris {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1, momentum: 0.9),
    batch: 16,
    epochs: 4,
}
";

/// Iris rows `rows` as a CSV in the iris file's own format.
fn iris_rows(path: &Path, rows: std::ops::Range<usize>) {
    let text = std::fs::read_to_string(root().join("runtime/tests/data/iris.csv")).unwrap();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    let mut out = format!("{},4,setosa,versicolor,virginica\n", rows.len());
    for line in &lines[rows] {
        out.push_str(line);
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_validation_file_validates_and_changes_no_training() {
    let dir = scratch("validation-file");
    let model = dir.join("iris.nn");
    std::fs::write(&model, IRIS_MODEL).unwrap();
    let iris = root().join("runtime/tests/data/iris.csv");
    let (first, last) = (dir.join("first.csv"), dir.join("last.csv"));
    iris_rows(&first, 0..40);
    iris_rows(&last, 110..150);
    let train = |val: &Path, out: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            model.to_str().unwrap(),
            "--data",
            iris.to_str().unwrap(),
            "--normalize",
            "unit",
            "--val-data",
            val.to_str().unwrap(),
            "--threads",
            "1",
            "--out",
        ];
        let out = dir.join(out);
        let out = out.to_str().unwrap().to_string();
        args.push(&out);
        args.extend_from_slice(extra);
        dslc(&args)
    };
    let (a, b) = (train(&first, "a", &[]), train(&last, "b", &[]));
    assert_eq!(a.status.code(), Some(0), "{}", both(&a));
    assert_eq!(b.status.code(), Some(0), "{}", both(&b));
    let (ma, mb) = (metrics(&dir.join("a")), metrics(&dir.join("b")));
    assert_eq!(ma["validation_samples"], 40);
    // Every training sample trains (no share is held out), the same way
    // whichever file validates.
    assert!(text(&a.stdout).contains("120 training, 40 validation, 30 test"));
    let losses = |m: &serde_json::Value| -> Vec<serde_json::Value> {
        let history = m["history"].as_array().unwrap();
        history.iter().map(|r| r["train_loss"].clone()).collect()
    };
    assert_eq!(losses(&ma), losses(&mb));
    assert_eq!(
        tensors(&dir.join("a/model.safetensors")),
        tensors(&dir.join("b/model.safetensors"))
    );
    assert_ne!(ma["history"][3]["val_loss"], mb["history"][3]["val_loss"]);
    assert_eq!(
        safetensors_metadata(&dir.join("a/model.safetensors"))["val_data"],
        std::fs::canonicalize(&first).unwrap().display().to_string()
    );

    // A resumed run keeps its file.
    let out = train(&last, "a", &["--resume", "--epochs", "5"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        text(&out.stderr).contains("--val-data") && text(&out.stderr).contains("differs"),
        "{}",
        both(&out)
    );

    // Files that cannot validate, refused before anything is written.
    let five = dir.join("five.csv");
    std::fs::write(&five, "1,2,3,4,5,0\n").unwrap();
    for (val, expected) in [
        (five.as_path(), "samples of 5 values"),
        (dir.as_path(), "not a file"),
        (Path::new("no-such.csv"), "no-such.csv"),
    ] {
        let out = train(val, "bad", &["--force"]);
        assert_no_panic(&out, expected);
        assert_eq!(out.status.code(), Some(1), "{}", both(&out));
        assert!(text(&out.stderr).contains(expected), "{}", both(&out));
        assert!(!dir.join("bad/model.safetensors").exists());
    }
    let out = train(&first, "both", &["--val-split", "0.1"]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
}
