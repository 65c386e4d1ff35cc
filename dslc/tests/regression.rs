//! `dslc train --target` and `dslc eval` on a regression: the report,
//! metrics.json's test_mae / test_rmse / test_r2, scatter.png, the target
//! recorded for eval, and the errors (which leave an earlier run intact).

mod common;

use std::path::{Path, PathBuf};

use common::*;

const MODEL: &str = "model Reg {
    input x: f32[3];
    output y = x -> dense(16) -> relu -> dense(1);
}
train Reg {
    loss: mse,
    optimizer: adam(lr: 0.02),
    batch: 16,
    epochs: 30,
}
";

/// A model file and a CSV of `y = a + 2 b - c` over 100 rows.
fn files(dir: &Path) -> (PathBuf, PathBuf) {
    let model = dir.join("reg.nn");
    std::fs::write(&model, MODEL).unwrap();
    let mut csv = String::from("a,y,b,c\n");
    for i in 0..100 {
        let (a, b, c) = (
            (i % 10) as f32 / 10.0,
            (i / 10) as f32 / 10.0,
            (i % 7) as f32 / 7.0,
        );
        csv += &format!("{a},{},{b},{c}\n", a + 2.0 * b - c);
    }
    let data = dir.join("data.csv");
    std::fs::write(&data, csv).unwrap();
    (model, data)
}

#[test]
fn trains_reports_and_evaluates_a_regression() {
    let dir = scratch("regression-train");
    let (model, data) = files(&dir);
    let out = dir.join("run");
    let (model, data, out_s) = (
        model.to_str().unwrap(),
        data.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let run = dslc(&[
        "train", model, "--data", data, "--target", "y", "--out", out_s,
    ]);
    assert!(run.status.success(), "{}", both(&run));
    let stdout = text(&run.stdout);
    assert!(
        stdout.contains("MAE") && stdout.contains("RMSE") && stdout.contains("R²"),
        "{stdout}"
    );
    let m = metrics(&out);
    for key in ["test_mae", "test_rmse", "test_r2"] {
        assert!(m[key].is_f64(), "{key} in {m}");
    }
    assert!(m["test_r2"].as_f64().unwrap() > 0.5, "{m}");
    assert!(m.get("test_accuracy").is_none() && m.get("confusion_matrix").is_none());
    assert!(m["history"][0]["train_accuracy"].is_null());
    assert!(out.join("scatter.png").exists() && !out.join("confusion.png").exists());
    let meta = safetensors_metadata(&out.join("model.safetensors"));
    assert_eq!(meta["target"], "y");
    // eval finds the target in the checkpoint, and refuses another.
    let weights = out.join("model.safetensors");
    let eval = dslc(&["eval", model, "--weights", weights.to_str().unwrap()]);
    assert!(eval.status.success(), "{}", both(&eval));
    let e = metrics(&out.join("eval"));
    assert_eq!(e["test_rmse"], m["test_rmse"]);
    let other = dslc(&[
        "eval",
        model,
        "--weights",
        weights.to_str().unwrap(),
        "--target",
        "c",
    ]);
    assert!(
        text(&other.stderr).contains("--target c differs"),
        "{}",
        both(&other)
    );
}

#[test]
fn a_bad_target_is_a_clear_error_and_an_earlier_run_survives_force() {
    let dir = scratch("regression-errors");
    let (model, data) = files(&dir);
    let out = dir.join("run");
    let (model, data_s, out_s) = (
        model.to_str().unwrap(),
        data.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let first = dslc(&[
        "train", model, "--data", data_s, "--target", "y", "--out", out_s, "--epochs", "1",
    ]);
    assert!(first.status.success(), "{}", both(&first));
    let before = std::fs::read(out.join("model.safetensors")).unwrap();

    let bad = dir.join("bad.csv");
    let text_data = std::fs::read_to_string(&data).unwrap();
    let mut lines: Vec<String> = text_data.lines().map(String::from).collect();
    lines[7] = "0.5,about 3,0.1,0.2".into();
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let run = dslc(&[
        "train",
        model,
        "--data",
        bad.to_str().unwrap(),
        "--target",
        "y",
        "--out",
        out_s,
        "--force",
    ]);
    assert_no_panic(&run, "bad target");
    let stderr = text(&run.stderr);
    for part in ["bad.csv", "line 8", "column 2", "`y`", "\"about 3\""] {
        assert!(stderr.contains(part), "{part} in {stderr}");
    }
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        before
    );
    assert!(out.join("metrics.json").exists());
    // So does a regression loss without --target, and --target on the digits.
    let untargeted = dslc(&["train", model, "--data", data_s, "--out", out_s, "--force"]);
    assert!(
        text(&untargeted.stderr).contains("--target NAME"),
        "{}",
        both(&untargeted)
    );
    let digits = dslc(&["train", model, "--target", "y", "--out", out_s, "--force"]);
    assert!(
        text(&digits.stderr).contains("read from a CSV file"),
        "{}",
        both(&digits)
    );
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        before
    );

    let fresh = dir.join("fresh");
    let fresh = fresh.to_str().unwrap();
    let none = dslc(&["train", model, "--data", data_s, "--out", fresh]);
    assert!(text(&none.stderr).contains("--target"), "{}", both(&none));
    let ce = dir.join("ce.nn");
    std::fs::write(
        &ce,
        MODEL
            .replace("dense(1)", "dense(2)")
            .replace("mse", "cross_entropy"),
    )
    .unwrap();
    let wrong = dslc(&[
        "train",
        ce.to_str().unwrap(),
        "--data",
        data_s,
        "--target",
        "y",
        "--out",
        fresh,
    ]);
    assert!(
        text(&wrong.stderr).contains("learns class labels"),
        "{}",
        both(&wrong)
    );
}

#[test]
fn bce_with_logits_learns_binary_labels_and_multi_label_targets() {
    let dir = scratch("regression-bce");
    let mut binary = String::from("a,b,label\n");
    let mut multi = String::from("a,b,y1,y2\n");
    for i in 0..80 {
        let (a, b) = ((i % 9) as f32 / 4.0 - 1.0, (i % 5) as f32 / 2.0 - 1.0);
        binary += &format!("{a},{b},{}\n", u8::from(a + b > 0.0));
        multi += &format!("{a},{b},{},{}\n", u8::from(a > 0.0), u8::from(b > 0.0));
    }
    let (bin_csv, multi_csv) = (dir.join("binary.csv"), dir.join("multi.csv"));
    std::fs::write(&bin_csv, binary).unwrap();
    std::fs::write(&multi_csv, multi).unwrap();
    let model = |out: usize| {
        let path = dir.join(format!("bce{out}.nn"));
        std::fs::write(
            &path,
            format!(
                "model B {{ input x: f32[2]; output y = x -> dense(8) -> relu -> dense({out}); }}
                 train B {{ loss: bce_with_logits, optimizer: adam(lr: 0.05), batch: 8, epochs: 20 }}"
            ),
        )
        .unwrap();
        path
    };
    let (one, two) = (model(1), model(2));
    let out = dir.join("binary");
    let run = dslc(&[
        "train",
        one.to_str().unwrap(),
        "--data",
        bin_csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", both(&run));
    let m = metrics(&out);
    assert!(m["test_accuracy"].as_f64().unwrap() > 0.8, "{m}");
    assert_eq!(m["confusion_matrix"].as_array().unwrap().len(), 2, "{m}");
    assert!(out.join("confusion.png").exists());
    // predict reads the one logit as a probability of class 1 and predicts
    // class 1 from p >= 0.5: most rows of the file right, each prediction
    // consistent with its probability.
    let predictions = dir.join("binary.predictions.csv");
    let run = dslc(&[
        "predict",
        one.to_str().unwrap(),
        "--weights",
        out.join("model.safetensors").to_str().unwrap(),
        "--input",
        bin_csv.to_str().unwrap(),
        "-o",
        predictions.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", both(&run));
    let csv = std::fs::read_to_string(&predictions).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("index,predicted,p_1"));
    let labels: Vec<u32> = std::fs::read_to_string(&bin_csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let mut right = 0;
    for (line, label) in lines.zip(&labels) {
        let cells: Vec<&str> = line.split(',').collect();
        let (class, p): (u32, f64) = (cells[1].parse().unwrap(), cells[2].parse().unwrap());
        assert!(
            (0.0..=1.0).contains(&p) && class == u32::from(p >= 0.5),
            "{line}"
        );
        right += usize::from(class == *label);
    }
    assert!(
        right * 10 >= labels.len() * 8,
        "{right} of {}",
        labels.len()
    );

    let out = dir.join("multi");
    let run = dslc(&[
        "train",
        two.to_str().unwrap(),
        "--data",
        multi_csv.to_str().unwrap(),
        "--target",
        "y1,y2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", both(&run));
    assert!(
        text(&run.stdout).contains("exact-match accuracy"),
        "{}",
        both(&run)
    );
    let m = metrics(&out);
    assert!(m["test_accuracy"].as_f64().unwrap() > 0.6, "{m}");
    assert!(m.get("confusion_matrix").is_none() && !out.join("confusion.png").exists());
}
