//! `dslc export` and `dslc build --emit onnx|dot`: the file holds the
//! checkpoint's tensors under their names (or the seed's initialization),
//! is written whole or not at all, and every way a checkpoint can fail to
//! fit is an error naming the tensor, never a panic.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_no_panic, both, dslc, root, scratch, text};
use nnspec_codegen::onnx::proto::{ModelProto, TensorProto};
use nnspec_dsl::ir;
use nnspec_runtime::safetensors_file::{Checkpoint, Tensor, TensorData};
use prost::Message;

fn model(file: &str, name: &str) -> ir::Model {
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    nnspec_dsl::compile(&source).model(name).unwrap().clone()
}

/// The seed's weights, each value moved, so nothing matches by accident.
fn trained(model: &ir::Model) -> Checkpoint {
    let initial = nnspec_codegen::onnx::initial_weights(model, 3).unwrap();
    let mut moved = Checkpoint::new();
    for (i, (name, tensor)) in initial.iter().enumerate() {
        let data = match &tensor.data {
            TensorData::F32(v) => TensorData::F32(v.iter().map(|x| x + 0.25 + i as f32).collect()),
            TensorData::I64(v) => TensorData::I64(v.iter().map(|x| x + 9).collect()),
            TensorData::I8(_) | TensorData::U8(_) | TensorData::I32(_) => tensor.data.clone(),
        };
        let shape = tensor.shape.clone();
        moved.insert(name, Tensor { shape, data }).unwrap();
    }
    moved.set_metadata("model", model.name.clone());
    moved
}

fn read_onnx(path: &Path) -> ModelProto {
    ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap()
}

fn floats(tensor: &TensorProto) -> Vec<f32> {
    tensor
        .raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Every initializer holds the checkpoint tensor of its name.
fn assert_holds(onnx: &ModelProto, weights: &Checkpoint) {
    let graph = onnx.graph.as_ref().unwrap();
    assert!(!graph.initializer.is_empty());
    for tensor in &graph.initializer {
        let stored = weights.get(&tensor.name).expect("a checkpoint name");
        let want = weights.f32(&tensor.name, &stored.shape).unwrap();
        assert_eq!(floats(tensor), want, "{}", tensor.name);
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn exports_the_checkpoint_under_its_names() {
    let dir = scratch("export_trained");
    let model = model("examples/inception.nn", "MiniInception");
    let mut weights = trained(&model);
    // As `dslc train` writes it: the run's settings in the metadata.
    weights.set_metadata("epochs", "3");
    weights.set_metadata("batch", "64");
    let ckpt = dir.join("model.safetensors");
    weights.save(&ckpt).unwrap();
    let out_path = dir.join("model.onnx");
    let args = [
        "export",
        "examples/inception.nn",
        "--weights",
        arg(&ckpt),
        "-o",
    ];
    let out = dslc(&[&args[..], &[arg(&out_path)]].concat());
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stdout).contains("exported model `MiniInception`"),
        "{}",
        both(&out)
    );
    let onnx = read_onnx(&out_path);
    assert_holds(&onnx, &weights);
    let graph = onnx.graph.as_ref().unwrap();
    assert!(
        graph
            .initializer
            .iter()
            .any(|t| t.name == "batchnorm_1.running_var")
    );
    let meta: Vec<(&str, &str)> = onnx
        .metadata_props
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    let source = std::fs::read(root().join("examples/inception.nn")).unwrap();
    let hash = nnspec_codegen::onnx::sha256_hex(&source);
    assert!(meta.contains(&("source_sha256", hash.as_str())), "{meta:?}");
    assert!(meta.contains(&("weights", "model.safetensors")), "{meta:?}");
    // Written by rename: nothing else is left in the directory.
    assert_eq!(files_in(&dir), ["model.onnx", "model.safetensors"]);
}

#[test]
fn no_weights_exports_the_seeds_initialization() {
    let dir = scratch("export_initial");
    // MiniInception's train block says seed 7; --seed chooses another.
    for (extra, seed) in [(&[][..], 7), (&["--seed", "11"][..], 11)] {
        let out_path = dir.join(format!("initial{seed}.onnx"));
        let mut args = vec!["export", "examples/inception.nn", "--no-weights"];
        args.extend(extra);
        args.extend(["-o", arg(&out_path)]);
        let out = dslc(&args);
        assert!(out.status.success(), "{}", both(&out));
        let model = model("examples/inception.nn", "MiniInception");
        let initial = nnspec_codegen::onnx::initial_weights(&model, seed).unwrap();
        assert_holds(&read_onnx(&out_path), &initial);
    }
    // `build --emit onnx` is the same export with the train block's seed.
    let built = dir.join("built.onnx");
    let out = dslc(&[
        "build",
        "examples/inception.nn",
        "--emit",
        "onnx",
        "-o",
        arg(&built),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(
        read_onnx(&built).graph,
        read_onnx(&dir.join("initial7.onnx")).graph
    );
    // Piped, the bytes go to stdout.
    let out = dslc(&["build", "examples/inception.nn", "--emit", "onnx"]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(out.stdout, std::fs::read(&built).unwrap());
}

#[test]
fn build_emits_a_graphviz_picture() {
    let out = dslc(&["build", "examples/mnist_mlp.nn", "--emit", "dot"]);
    assert!(out.status.success(), "{}", both(&out));
    let dot = text(&out.stdout);
    assert!(dot.contains("digraph \"MnistMlp\" {"), "{dot}");
    // Parameter counts on the layers, shapes on the edges.
    assert!(
        dot.contains("fc1\\ndense(out_features: 128, bias: true)\\n100,480 params"),
        "{dot}"
    );
    assert!(
        dot.contains("fc2\\ndense(out_features: 10, bias: true)\\n1,290 params"),
        "{dot}"
    );
    assert!(dot.contains("v0 -> v1 [label=\"[784]\"]"), "{dot}");
    assert!(dot.contains("v2 -> v3 [label=\"[128]\"]"), "{dot}");
    assert!(dot.contains("v3 -> out0 [label=\"f32[10]\"]"), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
    // Options of generated Rust are refused elsewhere.
    let out = dslc(&["build", "examples/lenet.nn", "--emit", "dot", "--with-test"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--with-test applies to --emit rust, not --emit dot"),
        "{}",
        both(&out)
    );
}

/// A copy of `weights` with `change` applied, saved as `name`.
fn variant(
    dir: &Path,
    name: &str,
    weights: &Checkpoint,
    change: impl Fn(&str, &Tensor) -> Option<Tensor>,
) -> PathBuf {
    let mut copy = Checkpoint::new();
    for (tensor_name, tensor) in weights.iter() {
        if let Some(tensor) = change(tensor_name, tensor) {
            copy.insert(tensor_name, tensor).unwrap();
        }
    }
    copy.set_metadata("model", "LeNet");
    let path = dir.join(name);
    copy.save(&path).unwrap();
    path
}

#[test]
fn bad_checkpoints_are_errors_naming_the_tensor() {
    let dir = scratch("export_bad_checkpoints");
    let weights = trained(&model("examples/lenet.nn", "LeNet"));
    let good = dir.join("good.safetensors");
    weights.save(&good).unwrap();
    let target = "conv2d_2.weight";
    let missing = variant(&dir, "missing.safetensors", &weights, |n, t| {
        (n != target).then(|| t.clone())
    });
    let shape = variant(&dir, "shape.safetensors", &weights, |n, t| {
        let mut t = t.clone();
        if n == target {
            t.shape = vec![16, 6, 25];
        }
        Some(t)
    });
    let dtype = variant(&dir, "dtype.safetensors", &weights, |n, t| {
        let mut t = t.clone();
        if n == target {
            t.data = TensorData::I64(vec![1; t.numel()]);
        }
        Some(t)
    });
    let nan = variant(&dir, "nan.safetensors", &weights, |n, t| {
        let mut t = t.clone();
        if let (true, TensorData::F32(v)) = (n == target, &mut t.data) {
            v[3] = f32::NAN;
        }
        Some(t)
    });
    let extra = variant(&dir, "extra.safetensors", &weights, |_, t| Some(t.clone()));
    let mut with_extra = Checkpoint::load(&extra).unwrap();
    with_extra.insert_f32("head.weight", &[1], &[0.0]).unwrap();
    with_extra.save(&extra).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let other = dir.join("other.safetensors");
    trained(&model("examples/mnist_mlp.nn", "MnistMlp"))
        .save(&other)
        .unwrap();

    // What `dslc train` writes beside model.safetensors: the weights and
    // the optimizer's state (PyTorch's names), with the epochs done.
    let state = dir.join("train_state.safetensors");
    let mut training = weights.clone();
    training.set_metadata("epochs", "5");
    for (name, tensor) in weights.iter() {
        let step = Tensor {
            shape: vec![],
            data: TensorData::F32(vec![5.0]),
        };
        training.insert(format!("{name}.step"), step).unwrap();
        training
            .insert(format!("{name}.momentum_buffer"), tensor.clone())
            .unwrap();
    }
    training.save(&state).unwrap();

    let cases: [(&Path, &[&str]); 8] = [
        (&missing, &["missing", "\"conv2d_2.weight\""]),
        (
            &shape,
            &["\"conv2d_2.weight\" has shape [16, 6, 25]", "[16, 6, 5, 5]"],
        ),
        (&dtype, &["\"conv2d_2.weight\" has dtype I64", "F32"]),
        (
            &nan,
            &["\"conv2d_2.weight\" holds a non-finite value at element 3"],
        ),
        (&extra, &["unknown to the model", "\"head.weight\""]),
        (
            &truncated,
            &[
                "truncated",
                "tensor \"dense_3.weight\" is the first cut short",
            ],
        ),
        (&other, &["is for model `MnistMlp`", "`LeNet`"]),
        (&state, &["is a training state", "model.safetensors"]),
    ];
    for (checkpoint, messages) in cases {
        let out_path = dir.join("out.onnx");
        let args = ["export", "examples/lenet.nn", "--weights", arg(checkpoint)];
        let out = dslc(&[&args[..], &["-o", arg(&out_path)]].concat());
        let what = checkpoint.display().to_string();
        assert_no_panic(&out, &what);
        assert!(!out.status.success(), "{what}: {}", both(&out));
        let stderr = text(&out.stderr);
        for message in messages {
            assert!(
                stderr.contains(message),
                "{what}: wanted {message:?}\n{}",
                both(&out)
            );
        }
        assert!(!out_path.exists(), "{what}: nothing is written");
    }
    // No temporary file was left by any of them.
    assert!(files_in(&dir).iter().all(|f| f.ends_with(".safetensors")));
}

#[test]
fn bad_requests_are_clear_errors() {
    let dir = scratch("export_requests");
    let out_path = dir.join("x.onnx");
    let o = arg(&out_path);
    let cases: [(&[&str], &str); 6] = [
        (
            &["export", "examples/lenet.nn", "-o", o],
            "--weights <WEIGHTS>",
        ),
        (
            &[
                "export",
                "examples/lenet.nn",
                "--no-weights",
                "--weights",
                "w",
                "-o",
                o,
            ],
            "cannot be used with",
        ),
        (
            &["export", "examples/lenet.nn", "--no-weights"],
            "--out <OUT>",
        ),
        (
            &["export", "examples/residual.nn", "--no-weights", "-o", o],
            "choose one with --model",
        ),
        (
            &[
                "export",
                "examples/lenet.nn",
                "--weights",
                "/nonexistent.safetensors",
                "-o",
                o,
            ],
            "/nonexistent.safetensors",
        ),
        (
            &[
                "export",
                "examples/lenet.nn",
                "--no-weights",
                "-o",
                "/nonexistent-dir/x.onnx",
            ],
            "cannot write /nonexistent-dir/x.onnx",
        ),
    ];
    for (args, message) in cases {
        let out = dslc(args);
        assert_no_panic(&out, message);
        assert!(!out.status.success(), "{args:?}: {}", both(&out));
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            both(&out)
        );
    }
    assert!(files_in(&dir).is_empty());
    // A model with errors is reported, not exported.
    let sources = scratch("export_requests_source");
    let bad = sources.join("bad.nn");
    std::fs::write(
        &bad,
        "model A { input x: f32[3]; output y = x -> dense(0); }",
    )
    .unwrap();
    let out = dslc(&["export", arg(&bad), "--no-weights", "-o", o]);
    assert!(!out.status.success(), "{}", both(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error[E0107]"), "{}", both(&out));
    assert!(
        stderr.contains("not exported, it has errors"),
        "{}",
        both(&out)
    );
    assert!(files_in(&dir).is_empty());
}

/// The README's workflow: `dslc train`, then `dslc export` of the
/// model.safetensors it wrote; onnxruntime-free, the file is read back.
#[test]
fn exports_what_dslc_train_wrote() {
    let dir = scratch("export_after_train");
    let out_dir = dir.join("out");
    let trained = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "1",
        "--out",
        arg(&out_dir),
    ]);
    assert!(trained.status.success(), "{}", both(&trained));
    let weights = out_dir.join("model.safetensors");
    let onnx_path = out_dir.join("model.onnx");
    let out = dslc(&[
        "export",
        "examples/digits_mlp.nn",
        "--weights",
        arg(&weights),
        "-o",
        arg(&onnx_path),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    assert_holds(&read_onnx(&onnx_path), &Checkpoint::load(&weights).unwrap());
    // The training state beside it is refused, pointing at the weights.
    let state = out_dir.join("train_state.safetensors");
    let refused = dslc(&[
        "export",
        "examples/digits_mlp.nn",
        "--weights",
        arg(&state),
        "-o",
        arg(&dir.join("state.onnx")),
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("is a training state"),
        "{}",
        both(&refused)
    );
    assert_no_panic(&refused, "export of a training state");
}
