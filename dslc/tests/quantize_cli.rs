//! `dslc quantize`: models trained on the embedded digits, quantized, and
//! held to their float accuracy and size; bad arguments.

mod common;
#[path = "quantize/support.rs"]
mod support;

use common::{both, dslc, scratch};
use nnspec_runtime::quantize;
use std::path::Path;
use support::digits_mlp;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Bytes of tensor data in a safetensors file (without its header).
fn payload_bytes(path: &Path) -> usize {
    let ck = nnspec_runtime::safetensors_file::Checkpoint::load(path).unwrap();
    ck.iter().map(|(_, t)| t.numel() * t.dtype().size()).sum()
}

/// Trains `model` on the embedded digits into `dir` and quantizes it into
/// `dir/int8`; returns `quantize.json`.
fn train_and_quantize(
    model: &str,
    dir: &Path,
    train: &[&str],
    quantize: &[&str],
) -> serde_json::Value {
    let out = dir.to_str().unwrap();
    let run = dslc(&[&["train", model, "--out", out], train].concat());
    assert!(run.status.success(), "{}", both(&run));
    let weights = dir.join("model.safetensors");
    let int8 = dir.join("int8");
    let run = dslc(
        &[
            &[
                "quantize",
                model,
                "--weights",
                weights.to_str().unwrap(),
                "-o",
                int8.to_str().unwrap(),
            ],
            quantize,
        ]
        .concat(),
    );
    assert!(run.status.success(), "{}", both(&run));
    let stdout = common::text(&run.stdout);
    assert!(
        stdout.contains("SQNR") && stdout.contains("test accuracy"),
        "{stdout}"
    );
    json(&int8.join("quantize.json"))
}

/// Issue 12, acceptance 1 (CI part): the digits MLP loses at most half a
/// point in int8, and its int8 weights take at most 30% of the f32 ones.
#[test]
fn digits_mlp_int8_keeps_accuracy_at_under_a_third_of_the_size() {
    let dir = scratch("quantize_digits_mlp");
    let report = train_and_quantize("examples/digits_mlp.nn", &dir, &[], &[]);
    let (f, q) = (
        report["f32_accuracy"].as_f64().unwrap(),
        report["int8_accuracy"].as_f64().unwrap(),
    );
    assert!(f > 0.9, "the float model trained: {report}");
    assert!(q >= f - 0.005, "int8 {q} vs f32 {f}");
    assert!(
        report["argmax_agreement"].as_f64().unwrap() >= 0.98,
        "{report}"
    );
    assert_eq!(report["float_steps"], serde_json::json!([]));
    for layer in report["layers"].as_array().unwrap() {
        assert!(layer["sqnr_db"].as_f64().unwrap() > 25.0, "{layer}");
    }
    let f32_file = dir.join("model.safetensors");
    let int8_file = dir.join("int8/model.int8.safetensors");
    let ratio = payload_bytes(&int8_file) as f64 / payload_bytes(&f32_file) as f64;
    assert!(ratio <= 0.30, "int8 tensors are {ratio:.3} of f32");
    // The reported sizes are the files'.
    let on_disk = std::fs::metadata(&int8_file).unwrap().len();
    assert_eq!(report["int8_bytes"].as_u64(), Some(on_disk));

    // The file rebuilds the plan: same outputs as quantizing again would.
    let plan = digits_mlp();
    let int8 = nnspec_runtime::safetensors_file::Checkpoint::load(&int8_file).unwrap();
    let q = quantize::load(&plan, &int8).unwrap();
    let f32_ck = nnspec_runtime::safetensors_file::Checkpoint::load(&f32_file).unwrap();
    let params = quantize::params_from_checkpoint(&plan, &f32_ck).unwrap();
    let data = nnspec_runtime::data::digits::digits();
    let again = quantize::report(&plan, &params, &q, &data.features[..300 * 64]).unwrap();
    assert!(again.argmax_agreement >= 0.97, "{again:?}");
}

/// LeNet-shaped: convolutions with BatchNorm folded and ReLU fused, max
/// pooling on u8, a flatten view, dense layers: nothing runs in f32, and
/// the int8 plan follows the float one.
#[test]
fn lenet_shaped_conv_batchnorm_folds_and_follows_the_float_plan() {
    let dir = scratch("quantize_lenet");
    let model = dir.join("small_lenet.nn");
    std::fs::write(
        &model,
        "model SmallLeNet {
    input x: f32[1, 8, 8];
    let f = x -> conv2d(6, kernel: 3, padding: 1) -> batchnorm -> relu -> maxpool2d(2)
              -> conv2d(12, kernel: 3) -> batchnorm -> relu;
    output logits = f -> flatten -> dropout(p: 0.1) -> dense(32) -> relu -> dense(10);
}
train SmallLeNet { loss: cross_entropy, optimizer: sgd(lr: 0.05, momentum: 0.9), batch: 32, epochs: 4 }
",
    )
    .unwrap();
    let report = train_and_quantize(model.to_str().unwrap(), &dir, &[], &["--samples", "300"]);
    assert_eq!(report["float_steps"], serde_json::json!([]), "{report}");
    assert!(report["f32_accuracy"].as_f64().unwrap() > 0.85, "{report}");
    assert!(
        report["argmax_agreement"].as_f64().unwrap() >= 0.95,
        "{report}"
    );
    let layers = report["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4, "{report}");
    for layer in layers {
        assert!(layer["sqnr_db"].as_f64().unwrap() > 20.0, "{layer}");
    }
    // The first convolution stands for the ReLU after its BatchNorm.
    assert_ne!(layers[0]["layer"], layers[0]["value"], "{report}");
}

#[test]
fn quantize_command_refuses_bad_arguments_clearly() {
    let dir = scratch("quantize_bad_args");
    let out = dir.to_str().unwrap();
    let run = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--out",
        out,
        "--epochs",
        "1",
    ]);
    assert!(run.status.success(), "{}", both(&run));
    let weights = dir.join("model.safetensors");
    let w = weights.to_str().unwrap();
    let int8 = dir.join("int8");
    let o = int8.to_str().unwrap();
    let run = dslc(&[
        "quantize",
        "examples/digits_mlp.nn",
        "--weights",
        w,
        "-o",
        o,
        "--samples",
        "100000",
    ]);
    common::assert_no_panic(&run, "too many samples");
    assert!(
        common::text(&run.stderr).contains("asks for 100000 samples but the data has only"),
        "{}",
        both(&run)
    );
    let run = dslc(&[
        "quantize",
        "examples/digits_mlp.nn",
        "--weights",
        w,
        "-o",
        o,
        "--calibration",
        "median",
    ]);
    assert!(
        common::text(&run.stderr).contains("minmax"),
        "{}",
        both(&run)
    );
    let run = dslc(&["quantize", "examples/mnist_mlp.nn", "--weights", w, "-o", o]);
    common::assert_no_panic(&run, "another model");
    assert!(!run.status.success());
    // Malformed calibration data files: each refused by what is wrong.
    let header = format!(
        "label,{}",
        (0..64)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let row = |i: usize, bad: bool| {
        let values: Vec<String> = (0..64)
            .map(|j| {
                if bad && j == 5 {
                    "nan".into()
                } else {
                    ((i + j) % 17).to_string()
                }
            })
            .collect();
        format!("{},{}", i % 10, values.join(","))
    };
    let cases = [
        (
            "narrow.csv",
            "a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,9,0\n".to_string(),
            "cannot be reshaped",
        ),
        ("empty.csv", format!("{header}\n"), "no data rows"),
        (
            "nan.csv",
            format!(
                "{header}\n{}\n",
                (0..20)
                    .map(|i| row(i, i == 3))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            "not a finite",
        ),
    ];
    for (name, text, says) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let p = path.to_str().unwrap();
        let run = dslc(&[
            "quantize",
            "examples/digits_mlp.nn",
            "--weights",
            w,
            "-o",
            o,
            "--data",
            p,
        ]);
        common::assert_no_panic(&run, name);
        let stderr = common::text(&run.stderr);
        assert!(
            !run.status.success() && stderr.contains(name) && stderr.contains(says),
            "{name}: {}",
            both(&run)
        );
    }
    let run = dslc(&[
        "quantize",
        "examples/digits_mlp.nn",
        "--weights",
        w,
        "-o",
        o,
        "--samples",
        "0",
    ]);
    assert!(
        common::text(&run.stderr).contains("--samples"),
        "{}",
        both(&run)
    );
    assert!(!int8.join("model.int8.safetensors").exists());
}
