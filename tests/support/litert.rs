//! LiteRT (`ai-edge-litert`, TensorFlow Lite's runtime from PyPI) as the
//! oracle for `.tflite` exports: the interpreter in `NNSPEC_PYTHON`
//! (.ci/run installs it beside onnxruntime) runs tests/tflite/run.py on
//! the files a test writes, and the test compares the outputs in Rust.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "python.rs"]
mod python;

/// The interpreter with LiteRT, or `None` (with a note) when there is
/// none and `CI` is unset; under CI its absence fails the test.
pub fn python_or_skip(what: &str) -> Option<PathBuf> {
    python::or_skip("ai_edge_litert.interpreter, numpy", "LiteRT", what)
}

/// `relative` in the workspace: the tests of the root package and of
/// dslc both include this file.
pub fn workspace_file(relative: &str) -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join(relative);
        if candidate.exists() {
            return candidate;
        }
        dir = dir
            .parent()
            .unwrap_or_else(|| panic!("no {relative} above {}", env!("CARGO_MANIFEST_DIR")));
    }
}

/// One model to run: its `.tflite` bytes and its inputs, each with the
/// full shape the interpreter is resized to (batch first, NHWC for images).
pub struct Case {
    pub name: String,
    pub tflite: Vec<u8>,
    pub inputs: Vec<(Vec<usize>, Vec<f32>)>,
}

/// What LiteRT made of one case.
#[derive(Debug)]
#[allow(dead_code)]
pub struct Ran {
    /// Each output, cast to f32, with its shape.
    pub outputs: Vec<(Vec<usize>, Vec<f32>)>,
    /// The builtin operators the interpreter runs (`FULLY_CONNECTED`, ...).
    pub ops: Vec<String>,
    /// The report's entry as LiteRT gave it (dtypes, quantization).
    pub report: serde_json::Value,
}

/// Runs every case through LiteRT in `dir` (kept for inspection); a case
/// LiteRT refuses (it cannot load or run the file) is `Err` with its
/// message, so a test can assert on either.
#[allow(dead_code)]
pub fn run(python: &Path, dir: &Path, cases: &[Case]) -> Vec<Result<Ran, String>> {
    run_with(python, dir, cases, true)
}

/// [`run`] on LiteRT's builtin kernels alone, without the XNNPACK delegate
/// `run` gets by default: what a device without the delegate executes
/// (the delegate takes some files the kernels refuse, and vice versa).
#[allow(dead_code)]
pub fn run_builtin_kernels(python: &Path, dir: &Path, cases: &[Case]) -> Vec<Result<Ran, String>> {
    run_with(python, dir, cases, false)
}

fn run_with(
    python: &Path,
    dir: &Path,
    cases: &[Case],
    delegates: bool,
) -> Vec<Result<Ran, String>> {
    std::fs::create_dir_all(dir).expect("create the LiteRT directory");
    let mut models = Vec::new();
    for case in cases {
        let tflite = format!("{}.tflite", case.name);
        std::fs::write(dir.join(&tflite), &case.tflite).expect("write the model");
        let mut inputs = Vec::new();
        for (i, (shape, values)) in case.inputs.iter().enumerate() {
            assert_eq!(
                shape.iter().product::<usize>(),
                values.len(),
                "{}: input {i}",
                case.name
            );
            let file = format!("{}.in{i}.f32", case.name);
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(dir.join(&file), bytes).expect("write an input");
            inputs.push(serde_json::json!({"file": file, "shape": shape}));
        }
        models.push(serde_json::json!({"name": case.name, "tflite": tflite, "inputs": inputs}));
    }
    let manifest = serde_json::json!({ "models": models, "delegates": delegates });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("write the manifest");
    let script = workspace_file("tests/tflite/run.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    println!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{} failed (files kept in {})",
        script.display(),
        dir.display()
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("read report.json"))
            .expect("report.json is JSON");
    cases
        .iter()
        .map(|case| {
            let entry = &report[&case.name];
            if let Some(error) = entry["error"].as_str() {
                return Err(error.to_string());
            }
            let outputs = entry["outputs"]
                .as_array()
                .expect("outputs")
                .iter()
                .map(|output| {
                    let shape: Vec<usize> = output["shape"]
                        .as_array()
                        .expect("shape")
                        .iter()
                        .map(|d| d.as_u64().expect("dim") as usize)
                        .collect();
                    let bytes = std::fs::read(dir.join(output["file"].as_str().expect("file")))
                        .expect("read an output");
                    let values = bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    (shape, values)
                })
                .collect();
            let ops = entry["ops"]
                .as_array()
                .expect("ops")
                .iter()
                .map(|op| op.as_str().expect("op name").to_string())
                .collect();
            Ok(Ran {
                outputs,
                ops,
                report: entry.clone(),
            })
        })
        .collect()
}

/// `values`, samples of per-sample shape `[C, H, W]` (or `[C, L]`), in
/// TFLite's channels-last order `[H, W, C]` (`[L, C]`); any other rank is
/// returned as it is.
#[allow(dead_code)]
pub fn channels_last(values: &[f32], per_sample: &[usize]) -> Vec<f32> {
    if per_sample.len() < 2 || per_sample.len() > 3 {
        return values.to_vec();
    }
    let channels = per_sample[0];
    let spatial: usize = per_sample[1..].iter().product();
    let size = channels * spatial;
    let mut out = vec![0.0; values.len()];
    for (sample, chunk) in values.chunks(size).enumerate() {
        for c in 0..channels {
            for p in 0..spatial {
                out[sample * size + p * channels + c] = chunk[c * spatial + p];
            }
        }
    }
    out
}

/// The inverse of [`channels_last`]: TFLite's `[H, W, C]` samples back in
/// nnspec's `[C, H, W]` order.
#[allow(dead_code)]
pub fn channels_first(values: &[f32], per_sample: &[usize]) -> Vec<f32> {
    if per_sample.len() < 2 || per_sample.len() > 3 {
        return values.to_vec();
    }
    let channels = per_sample[0];
    let spatial: usize = per_sample[1..].iter().product();
    let size = channels * spatial;
    let mut out = vec![0.0; values.len()];
    for (sample, chunk) in values.chunks(size).enumerate() {
        for c in 0..channels {
            for p in 0..spatial {
                out[sample * size + c * spatial + p] = chunk[p * channels + c];
            }
        }
    }
    out
}
