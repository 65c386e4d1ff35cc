//! `dslc deploy` for the host (the default target): every variant of the
//! trained digits MLP written, measured in one table, and held to budgets.
//!
//! onnxruntime is the oracle for the fp16 ONNX variant (the int8 QDQ
//! export has its own test, tests/onnx_int8.rs): through `NNSPEC_PYTHON`,
//! skipped with a note without it, except under CI, where it fails.

mod common;
#[path = "../../tests/support/onnxruntime.rs"]
mod onnxruntime;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{both, dslc, scratch, text};

fn train(dir: &Path) -> PathBuf {
    let run = dir.join("run");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    run.join("model.safetensors")
}

/// The deploy table's rows: variant -> its columns as printed.
fn table(stdout: &str) -> BTreeMap<String, Vec<String>> {
    let start = stdout
        .find("deploy variants")
        .unwrap_or_else(|| panic!("no deploy table in:\n{stdout}"));
    stdout[start..]
        .lines()
        .skip(2)
        .take_while(|line| !line.starts_with("wrote:"))
        .map(|line| {
            let cells: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            (cells[0].clone(), cells[1..].to_vec())
        })
        .collect()
}

/// The accuracy cell (`99.72%`) as points.
fn accuracy(row: &[String]) -> f64 {
    let cell = row
        .iter()
        .find(|c| c.ends_with('%'))
        .expect("an accuracy cell");
    cell.trim_end_matches('%').parse().unwrap()
}

#[test]
fn every_variant_is_written_measured_and_held_to_its_budget() {
    let dir = scratch("deploy-host");
    let weights = train(&dir);
    let out = dir.join("deploy");
    let run = dslc(&[
        "deploy",
        "examples/digits_mlp.nn",
        "--weights",
        weights.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", both(&run));
    let stdout = text(&run.stdout);
    let rows = table(&stdout);
    let names: Vec<&str> = rows.keys().map(String::as_str).collect();
    assert_eq!(names, ["f32", "fp16", "int8", "pruned_int8"], "{stdout}");

    // Issue 12, acceptance 1 on the CI data: int8 loses at most half a
    // point; fp16 storage changes nothing that matters.
    let f32_acc = accuracy(&rows["f32"]);
    assert!(f32_acc > 95.0, "{stdout}");
    assert!(accuracy(&rows["int8"]) >= f32_acc - 0.5, "{stdout}");
    assert!((accuracy(&rows["fp16"]) - f32_acc).abs() <= 0.3, "{stdout}");
    // Half the hidden neurons, fine-tuned for 2 epochs.
    assert!(accuracy(&rows["pruned_int8"]) >= f32_acc - 2.0, "{stdout}");
    let pruned = std::fs::read_to_string(out.join("pruned/digits_mlp.nn")).unwrap();
    assert!(pruned.contains("dense(32) as fc1"), "{pruned}");

    for file in [
        "f32/model.safetensors",
        "f32/model.onnx",
        "f32/model.rs",
        "f32/model.tflite",
        "fp16/model.fp16.safetensors",
        "fp16/model.onnx",
        "fp16/model.rs",
        "int8/model.int8.safetensors",
        "int8/model.int8.onnx",
        "int8/model_int8.rs",
        "int8/model.int8.tflite",
        "pruned_int8/model.int8.safetensors",
        "pruned_int8/model.int8.onnx",
        "pruned_int8/model_int8.rs",
    ] {
        assert!(out.join(file).is_file(), "{file} missing:\n{stdout}");
    }
    let size = |f: &str| std::fs::metadata(out.join(f)).unwrap().len() as f64;
    let half = size("fp16/model.fp16.safetensors") / size("f32/model.safetensors");
    assert!((0.45..0.56).contains(&half), "fp16 is {half} of f32");
    let onnx_half = size("fp16/model.onnx") / size("f32/model.onnx");
    assert!(onnx_half < 0.6, "fp16 ONNX is {onnx_half} of f32");
    assert!(size("int8/model.int8.safetensors") < size("f32/model.safetensors") * 0.35);
    assert!(size("pruned_int8/model.int8.safetensors") < size("int8/model.int8.safetensors"));

    fp16_onnx_agrees_with_f32(&out);

    // Budgets: a flash budget only the pruned int8 variant fits, named
    // after the table (which is still printed).
    let run = dslc(&[
        "deploy",
        "examples/digits_mlp.nn",
        "--weights",
        weights.to_str().unwrap(),
        "-o",
        dir.join("budget").to_str().unwrap(),
        "--budget-flash",
        "5000",
    ]);
    assert!(!run.status.success(), "{}", both(&run));
    let stderr = text(&run.stderr);
    for variant in ["f32", "fp16", "int8"] {
        assert!(
            stderr.contains(&format!("{variant} needs ")) && stderr.contains("--budget-flash 5000"),
            "{variant}: {stderr}"
        );
    }
    assert!(stderr.contains("within budget: pruned_int8"), "{stderr}");
    assert!(
        text(&run.stdout).contains("deploy variants"),
        "{}",
        both(&run)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn impossible_requests_are_refused_by_name() {
    let dir = scratch("deploy-refusals");
    let missing = dir.join("none.safetensors");
    let cases: [(&[&str], &str); 4] = [
        (&["--prune", "1"], "--prune"),
        (&["--prune", "nan"], "--prune"),
        (
            &["--build"],
            "--build is for --target thumbv7em-none-eabihf",
        ),
        (&["--budget-ram", "lots"], "--budget-ram"),
    ];
    for (extra, want) in cases {
        let mut args = vec![
            "deploy",
            "examples/digits_mlp.nn",
            "--weights",
            missing.to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let run = dslc(&args);
        assert!(!run.status.success(), "{extra:?}: {}", both(&run));
        let stderr = text(&run.stderr);
        assert!(stderr.contains(want), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let run = dslc(&[
        "deploy",
        "examples/digits_mlp.nn",
        "--weights",
        missing.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    assert!(
        text(&run.stderr).contains("none.safetensors"),
        "{}",
        both(&run)
    );
}

/// onnxruntime runs the fp16 and f32 exports on the digits: the checker
/// passes, outputs agree to fp16's rounding and the classes agree.
fn fp16_onnx_agrees_with_f32(out: &Path) {
    let Some(python) = onnxruntime::python_or_skip("the fp16 deploy variant") else {
        return;
    };
    let script = r#"
import sys, numpy as np, onnx, onnxruntime as ort
f32, f16 = sys.argv[1], sys.argv[2]
onnx.checker.check_model(onnx.load(f16), full_check=True)
x = np.random.default_rng(0).uniform(0, 1, (200, 64)).astype(np.float32)
a = ort.InferenceSession(f32, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
b = ort.InferenceSession(f16, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
err = float(np.abs(a - b).max() / max(1.0, np.abs(a).max()))
agree = float((a.argmax(1) == b.argmax(1)).mean())
print(f"{err} {agree}")
"#;
    let run = Command::new(&python)
        .args(["-c", script])
        .arg(out.join("f32/model.onnx"))
        .arg(out.join("fp16/model.onnx"))
        .output()
        .expect("python runs");
    assert!(run.status.success(), "{}", both(&run));
    let stdout = text(&run.stdout);
    let mut fields = stdout.split_whitespace().map(|v| v.parse::<f64>().unwrap());
    let (err, agree) = (fields.next().unwrap(), fields.next().unwrap());
    assert!(err < 5e-3, "fp16 against f32 relative error {err}");
    assert!(agree >= 0.98, "argmax agreement {agree}");
    assert!(
        err > 0.0,
        "the fp16 file holds the f32 values: nothing was rounded"
    );
}
