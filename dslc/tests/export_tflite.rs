//! `dslc export --format tflite`: the file is the library's f32 export of
//! the same weights, byte for byte (tests/tflite_float.rs holds that
//! export to LiteRT), a TFLite flatbuffer (`TFL3`), written whole; a bad
//! request is a clear error, never a panic.

mod common;

use common::{assert_no_panic, both, dslc, root, scratch, text};
use nnspec_dsl::ir;

fn model(file: &str, name: &str) -> ir::Model {
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    nnspec_dsl::compile(&source).model(name).unwrap().clone()
}

#[test]
fn writes_the_librarys_export_of_the_seeds_weights() {
    let dir = scratch("export_tflite");
    let out = dir.join("lenet.tflite");
    let run = dslc(&[
        "export",
        "examples/lenet.nn",
        "--no-weights",
        "--seed",
        "5",
        "--format",
        "tflite",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", both(&run));
    assert!(
        text(&run.stdout).contains("TFLite operators"),
        "{}",
        both(&run)
    );
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[4..8], b"TFL3", "the flatbuffer's file identifier");
    let lenet = model("examples/lenet.nn", "LeNet");
    let weights = nnspec_codegen::onnx::initial_weights(&lenet, 5).unwrap();
    let exported = nnspec_codegen::tflite::export(&lenet, &weights).unwrap();
    let expected = nnspec_codegen::tflite::to_bytes(&exported).unwrap();
    assert_eq!(bytes, expected);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["lenet.tflite"], "no temporary file is left");
}

#[test]
fn an_unknown_format_is_a_clear_error() {
    let dir = scratch("export_tflite_bad");
    let out = dir.join("m.tflite");
    let run = dslc(&[
        "export",
        "examples/mnist_mlp.nn",
        "--no-weights",
        "--format",
        "tflight",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_no_panic(&run, "--format tflight");
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("tflight") && stderr.contains("tflite"),
        "{}",
        both(&run)
    );
    assert!(!out.exists());
}
