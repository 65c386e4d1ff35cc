//! `dslc export --format tflite`: a model trained on the embedded digits
//! exported f32 and `--int8`; LiteRT runs both files (the f32 one gives the
//! executor's outputs, the int8 one its argmax), TFLite Support's
//! MetadataDisplayer reads back the metadata and the packed class names,
//! and bad flags are clear errors that leave no file.

mod common;
#[path = "../../tests/support/litert.rs"]
mod litert;

use std::path::Path;
use std::process::Command;

use common::{both, dslc, scratch, text};
use nnspec_runtime::quantize;

/// The digits MLP trained on the embedded digits into `dir`.
fn trained_digits(dir: &Path) -> std::path::PathBuf {
    let run = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", both(&run));
    dir.join("model.safetensors")
}

fn export(args: &[&str]) -> std::process::Output {
    dslc(&[&["export", "examples/digits_mlp.nn"], args].concat())
}

/// TFLite Support's reading of `file`'s metadata: `{metadata, files}`.
fn displayed_metadata(python: &Path, file: &Path) -> serde_json::Value {
    let script = litert::workspace_file("tests/tflite/metadata.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn exported_files_run_in_litert_and_describe_themselves() {
    let Some(python) = litert::python_or_skip("dslc export --format tflite") else {
        return;
    };
    let dir = scratch("export_tflite");
    let weights = trained_digits(&dir.join("run"));
    let weights = weights.to_str().unwrap();
    let f32_file = dir.join("digits.tflite");
    let int8_file = dir.join("digits.int8.tflite");
    let out = export(&["--weights", weights, "-o", f32_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(text(&out.stdout).contains("TFLite f32"), "{}", both(&out));
    let labels = dir.join("labels.txt");
    let names = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    std::fs::write(&labels, names.join("\n") + "\n\n").unwrap();
    let out = export(&[
        "--weights",
        weights,
        "--int8",
        "--labels",
        labels.to_str().unwrap(),
        "--format",
        "tflite",
        "-o",
        int8_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(text(&out.stdout).contains("TFLite int8"), "{}", both(&out));

    // Metadata: names, the digits' normalization ((x / 16 - 0.5) / 0.5 is
    // (x - 8) / 8 on raw pixel counts), its range, and the class names:
    // the data's own for the f32 file, --labels for the int8 one.
    for (file, classes) in [
        (
            &f32_file,
            (0..10).map(|d| d.to_string()).collect::<Vec<_>>(),
        ),
        (&int8_file, names.iter().map(|n| n.to_string()).collect()),
    ] {
        let shown = displayed_metadata(&python, file);
        let meta = &shown["metadata"];
        assert_eq!(meta["name"], "DigitsMlp", "{shown}");
        let subgraph = &meta["subgraph_metadata"][0];
        let input = &subgraph["input_tensor_metadata"][0];
        assert_eq!(input["name"], "x", "{shown}");
        let normalization = &input["process_units"][0]["options"];
        assert_eq!(normalization["mean"], serde_json::json!([8.0]), "{shown}");
        assert_eq!(normalization["std"], serde_json::json!([8.0]), "{shown}");
        assert_eq!(input["stats"]["min"], serde_json::json!([-1.0]), "{shown}");
        assert_eq!(input["stats"]["max"], serde_json::json!([1.0]), "{shown}");
        let output = &subgraph["output_tensor_metadata"][0];
        assert_eq!(
            output["associated_files"][0]["name"], "labels.txt",
            "{shown}"
        );
        assert_eq!(
            output["associated_files"][0]["type"], "TENSOR_AXIS_LABELS",
            "{shown}"
        );
        let packed: Vec<&str> = shown["files"]["labels.txt"]
            .as_str()
            .unwrap()
            .lines()
            .collect();
        assert_eq!(packed, classes, "{shown}");
    }

    // LiteRT on the digits' test samples: the f32 file gives the
    // executor's outputs, the int8 one (nearly always) its argmax.
    let data = nnspec_runtime::data::digits::digits();
    let samples = 200;
    let width = 64;
    let inputs = &data.features[..samples * width];
    let source = std::fs::read_to_string(common::root().join("examples/digits_mlp.nn")).unwrap();
    let compiled = nnspec_dsl::compile(&source);
    let plan = nnspec_codegen::lower_inference(&compiled.models[0]);
    let checkpoint =
        nnspec_runtime::safetensors_file::Checkpoint::load(Path::new(weights)).unwrap();
    let params = quantize::params_from_checkpoint(&plan, &checkpoint).unwrap();
    let expected = quantize::run_float(&plan, &params, inputs).unwrap();
    let cases = [("f32", &f32_file), ("int8", &int8_file)].map(|(name, file)| litert::Case {
        name: name.into(),
        tflite: std::fs::read(file).unwrap(),
        inputs: vec![(vec![samples, width], inputs.to_vec())],
    });
    let ran = litert::run(&python, &dir.join("litert"), &cases);
    let f32_out = &ran[0].as_ref().expect("LiteRT runs the f32 file").outputs[0];
    assert_eq!(f32_out.0, vec![samples, 10]);
    let worst = f32_out
        .1
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-5, "LiteRT f32 against the executor: {worst}");
    let int8_out = &ran[1].as_ref().expect("LiteRT runs the int8 file").outputs[0];
    let agree = int8_out
        .1
        .chunks(10)
        .zip(expected.chunks(10))
        .filter(|(a, b)| quantize::argmax(a) == quantize::argmax(b))
        .count();
    assert!(
        agree * 100 >= samples * 97,
        "int8 argmax agrees with f32 on {agree}/{samples}"
    );
    let (f32_bytes, int8_bytes) = (
        std::fs::metadata(&f32_file).unwrap().len(),
        std::fs::metadata(&int8_file).unwrap().len(),
    );
    // The digits MLP is small (4 810 parameters), so the metadata and the
    // quantization parameters weigh: under half here; the tutorial MLP's
    // int8 file is held to 30% by tests/tflite_int8.rs.
    assert!(
        int8_bytes * 2 <= f32_bytes,
        "int8 {int8_bytes} B against f32 {f32_bytes} B"
    );
}

#[test]
fn bad_flags_are_named_and_leave_no_file() {
    let dir = scratch("export_tflite_flags");
    let out_file = dir.join("model.tflite");
    let out_arg = out_file.to_str().unwrap();
    let labels = dir.join("labels.txt");
    std::fs::write(&labels, "a\nb\nc\n").unwrap();
    // Three names for ten classes.
    let out = export(&[
        "--no-weights",
        "--labels",
        labels.to_str().unwrap(),
        "-o",
        out_arg,
    ]);
    assert!(!out.status.success(), "{}", both(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("labels.txt") && err.contains("3 class names") && err.contains("10 values"),
        "{err}"
    );
    // An empty name in the middle.
    std::fs::write(&labels, "a\n\nc\nd\ne\nf\ng\nh\ni\nj\n").unwrap();
    let out = export(&[
        "--no-weights",
        "--labels",
        labels.to_str().unwrap(),
        "-o",
        out_arg,
    ]);
    assert!(
        text(&out.stderr).contains("line 2: an empty class name"),
        "{}",
        both(&out)
    );
    // Labels are TFLite metadata; an ONNX file has nowhere to put them.
    let onnx = dir.join("model.onnx");
    let out = export(&[
        "--no-weights",
        "--labels",
        labels.to_str().unwrap(),
        "-o",
        onnx.to_str().unwrap(),
    ]);
    assert!(
        text(&out.stderr).contains("--format tflite"),
        "{}",
        both(&out)
    );
    // int8 needs trained weights to calibrate.
    let out = export(&["--no-weights", "--int8", "-o", out_arg]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("--weights"),
        "{}",
        both(&out)
    );
    // A format clap does not know.
    let out = export(&["--no-weights", "--format", "coreml", "-o", out_arg]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("onnx, tflite"),
        "{}",
        both(&out)
    );
    assert!(!out_file.exists() && !onnx.exists());
}
