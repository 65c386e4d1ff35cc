//! `dslc prune`: magnitude pruning held to independent oracles.
//!
//! - Structured: the units removed are the ones a naive f64 L2 ranking in
//!   this file picks, and the smaller model computes what the original
//!   computes with those units' outgoing weights zeroed (evaluated by
//!   `dslc eval` on the original model file); with fine-tuning the
//!   tutorial's digits MLP keeps its accuracy within a point, and its
//!   written files check, evaluate and shrink as printed.
//! - Unstructured: exactly `round(S·n)` zeros per weight, all of them no
//!   larger than any weight kept, biases untouched; S = 0 changes no bit;
//!   S = 1 leaves the biases; fine-tuning keeps pruned weights at zero.
//! - fp16: F16 in the file, half the size, values within half precision's
//!   rounding, accuracy within 0.2 points.

mod common;

use std::path::{Path, PathBuf};

use common::{both, dslc, metrics, root, scratch, text};
use nnspec_runtime::safetensors_file::{Checkpoint, Tensor, TensorData};

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Trains `file` on the digits into `dir/run`; the checkpoint's path.
fn train(file: &str, dir: &Path, epochs: &str) -> PathBuf {
    let run = dir.join("run");
    let out = dslc(&["train", file, "--out", arg(&run), "--epochs", epochs]);
    assert!(out.status.success(), "{}", both(&out));
    run.join("model.safetensors")
}

fn prune(file: &str, weights: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["prune", file, "--weights", arg(weights), "-o", arg(out)];
    args.extend(extra);
    let run = dslc(&args);
    assert!(run.status.success(), "{}", both(&run));
    serde_json::from_str(&std::fs::read_to_string(out.join("prune.json")).unwrap()).unwrap()
}

fn load(path: &Path) -> Checkpoint {
    Checkpoint::load(path).unwrap()
}

fn values<'a>(checkpoint: &'a Checkpoint, name: &str) -> (&'a [f32], &'a [usize]) {
    let tensor = checkpoint.get(name).unwrap_or_else(|| panic!("no {name}"));
    match &tensor.data {
        TensorData::F32(v) => (v, &tensor.shape),
        other => panic!("{name} is not f32: {:?}", other.dtype()),
    }
}

/// `dslc eval`'s test metrics (accuracy, loss) of a model and checkpoint.
fn eval(file: &Path, weights: &Path, out: &Path) -> (f64, f64) {
    let run = dslc(&[
        "eval",
        arg(file),
        "--weights",
        arg(weights),
        "--out",
        arg(out),
    ]);
    assert!(run.status.success(), "{}", both(&run));
    let m = metrics(out);
    (
        m["test_accuracy"].as_f64().unwrap(),
        m["test_loss"].as_f64().unwrap(),
    )
}

/// The oracle's ranking: rows of `[units, ...]` by f64 L2 norm, the
/// `keep` largest (earlier first on ties), in index order.
fn strongest_rows(weight: &[f32], units: usize, keep: usize) -> Vec<usize> {
    let per = weight.len() / units;
    let norm = |u: usize| {
        weight[u * per..(u + 1) * per]
            .iter()
            .map(|&w| (w as f64).powi(2))
            .sum::<f64>()
    };
    let mut order: Vec<usize> = (0..units).collect();
    order.sort_by(|&a, &b| norm(b).partial_cmp(&norm(a)).unwrap().then(a.cmp(&b)));
    order.truncate(keep);
    order.sort();
    order
}

/// Zeroes, in a consumer's weight `[out, units·block, ...]`, the input
/// columns of every unit not in `keep`.
fn zero_inputs(checkpoint: &mut Checkpoint, name: &str, units: usize, keep: &[usize]) {
    let (data, shape) = values(checkpoint, name);
    let (mut data, shape) = (data.to_vec(), shape.to_vec());
    let inner: usize = shape[2..].iter().product();
    let run = shape[1] / units * inner;
    for o in 0..shape[0] {
        for u in (0..units).filter(|u| !keep.contains(u)) {
            let start = o * shape[1] * inner + u * run;
            data[start..start + run].fill(0.0);
        }
    }
    let data = TensorData::F32(data);
    checkpoint.insert(name, Tensor { shape, data }).unwrap();
}

/// Rows `keep` of a `[units, ...]` tensor.
fn rows(data: &[f32], units: usize, keep: &[usize]) -> Vec<u32> {
    let per = data.len() / units;
    keep.iter()
        .flat_map(|&u| data[u * per..(u + 1) * per].iter().map(|v| v.to_bits()))
        .collect()
}

fn bits(data: &[f32]) -> Vec<u32> {
    data.iter().map(|v| v.to_bits()).collect()
}

/// Loss and accuracy agree: same test samples right, loss to rounding
/// (the zeroed columns add exact zeros, in another order).
fn assert_same_outputs(pruned: (f64, f64), oracle: (f64, f64)) {
    assert_eq!(
        pruned.0, oracle.0,
        "accuracy: pruned {pruned:?}, oracle {oracle:?}"
    );
    let scale = oracle.1.abs().max(1e-3);
    assert!(
        (pruned.1 - oracle.1).abs() <= 1e-5 * scale,
        "loss: pruned {pruned:?}, oracle {oracle:?}"
    );
}

#[test]
fn structured_pruning_halves_the_digits_mlp_and_fine_tuning_keeps_its_accuracy() {
    let dir = scratch("prune_structured_mlp");
    let file = "examples/digits_mlp.nn";
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    let compiled = nnspec_dsl::compile(&source);
    let model = compiled.model("DigitsMlp").unwrap();
    let hidden = model
        .values
        .iter()
        .find(|v| v.layer == "fc1")
        .unwrap()
        .shape
        .elements();
    assert_eq!(hidden, 64);
    let weights = train(file, &dir, "30");
    let original = load(&weights);

    // Without fine-tuning: the oracle's units, and the oracle's outputs.
    let p0 = dir.join("p0");
    let report = prune(file, &weights, &p0, &["--sparsity", "0.5", "--structured"]);
    let pruned = load(&p0.join("model.safetensors"));
    let (w1, _) = values(&original, "fc1.weight");
    let keep = strongest_rows(w1, hidden, hidden / 2);
    assert_eq!(
        bits(values(&pruned, "fc1.weight").0),
        rows(w1, hidden, &keep)
    );
    let b1 = values(&original, "fc1.bias").0;
    assert_eq!(bits(values(&pruned, "fc1.bias").0), rows(b1, hidden, &keep));
    assert_eq!(values(&pruned, "fc2.weight").1, &[10, hidden / 2]);
    assert_eq!(
        bits(values(&pruned, "fc2.bias").0),
        bits(values(&original, "fc2.bias").0)
    );
    let mut oracle = original.clone();
    zero_inputs(&mut oracle, "fc2.weight", hidden, &keep);
    let oracle_path = dir.join("oracle.safetensors");
    oracle.save(&oracle_path).unwrap();
    let smaller = p0.join("digits_mlp.nn");
    let pruned_eval = eval(&smaller, &p0.join("model.safetensors"), &dir.join("e0"));
    let oracle_eval = eval(&root().join(file), &oracle_path, &dir.join("eo"));
    assert_same_outputs(pruned_eval, oracle_eval);
    assert_eq!(report["accuracy_pruned"].as_f64().unwrap(), pruned_eval.0);

    // With two epochs of fine-tuning: within a point of the original.
    let p2 = dir.join("p2");
    let report = prune(
        file,
        &weights,
        &p2,
        &["--sparsity", "0.5", "--structured", "--finetune", "2"],
    );
    let before = report["accuracy_before"].as_f64().unwrap();
    let after = report["accuracy_after"].as_f64().unwrap();
    assert!(after >= before - 0.01, "accuracy {before} -> {after}");
    assert_eq!(report["finetune"].as_array().unwrap().len(), 2);
    let written = p2.join("digits_mlp.nn");
    let check = dslc(&["check", arg(&written)]);
    assert!(check.status.success(), "{}", both(&check));
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(
        text.starts_with("// An MLP for the 8x8 UCI digits"),
        "{text}"
    );
    let recompiled = nnspec_dsl::compile(&text);
    let small = recompiled.model("DigitsMlp").unwrap();
    let width = small
        .values
        .iter()
        .find(|v| v.layer == "fc1")
        .unwrap()
        .shape
        .elements();
    assert_eq!(width, hidden / 2);
    let ckpt = p2.join("model.safetensors");
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(
        size(&ckpt) < size(&weights) * 6 / 10,
        "{} vs {}",
        size(&ckpt),
        size(&weights)
    );
    assert_eq!(report["bytes_after"].as_u64().unwrap(), size(&ckpt));
    let (accuracy, _) = eval(&written, &ckpt, &dir.join("e2"));
    assert_eq!(accuracy, after, "dslc eval and the prune report");
}

/// Conv channels (with their BatchNorm entries), the next conv's input
/// channels, a flatten's column blocks and a dense layer's neurons.
const CNN: &str = "// Every kind of cut, on the 8x8 digits.
model Cnn {
    input x: f32[1, 8, 8];
    let f = x -> conv2d(4, kernel: 3, padding: 1) as c1 -> batchnorm as bn1 -> relu
              -> conv2d(6, kernel: 3, padding: 1) as c2 -> relu -> maxpool2d(2); // 6 x 4 x 4
    output logits = f -> flatten -> dense(16) as fc1 -> relu -> dense(10) as fc2;
}

train Cnn {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.05, momentum: 0.9),
    batch: 32,
    epochs: 3,
}
";

#[test]
fn structured_pruning_cuts_channels_batchnorm_and_flattened_blocks() {
    let dir = scratch("prune_structured_cnn");
    let file = dir.join("cnn.nn");
    std::fs::write(&file, CNN).unwrap();
    let weights = train(arg(&file), &dir, "3");
    let original = load(&weights);
    let out = dir.join("p");
    let run = dslc(&[
        "prune",
        arg(&file),
        "--weights",
        arg(&weights),
        "--sparsity",
        "0.5",
        "--structured",
        "-o",
        arg(&out),
    ]);
    assert!(run.status.success(), "{}", both(&run));
    assert!(
        text(&run.stdout).contains("kept whole: `fc2`"),
        "{}",
        both(&run)
    );
    let pruned = load(&out.join("model.safetensors"));
    let keep_c1 = strongest_rows(values(&original, "c1.weight").0, 4, 2);
    let keep_c2 = strongest_rows(values(&original, "c2.weight").0, 6, 3);
    let keep_fc1 = strongest_rows(values(&original, "fc1.weight").0, 16, 8);
    for name in [
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
    ] {
        assert_eq!(
            bits(values(&pruned, name).0),
            rows(values(&original, name).0, 4, &keep_c1),
            "{name}"
        );
    }
    assert_eq!(values(&pruned, "c2.weight").1, &[3, 2, 3, 3]);
    assert_eq!(values(&pruned, "fc1.weight").1, &[8, 3 * 16]);
    let mut oracle = original.clone();
    zero_inputs(&mut oracle, "c2.weight", 4, &keep_c1);
    zero_inputs(&mut oracle, "fc1.weight", 6, &keep_c2);
    zero_inputs(&mut oracle, "fc2.weight", 16, &keep_fc1);
    let oracle_path = dir.join("oracle.safetensors");
    oracle.save(&oracle_path).unwrap();
    let text = std::fs::read_to_string(out.join("cnn.nn")).unwrap();
    assert!(
        text.contains("conv2d(2, kernel: 3, padding: 1) as c1"),
        "{text}"
    );
    assert!(
        text.contains("// 6 x 4 x 4") && text.contains("dense(8) as fc1"),
        "{text}"
    );
    let pruned_eval = eval(
        &out.join("cnn.nn"),
        &out.join("model.safetensors"),
        &dir.join("e"),
    );
    let oracle_eval = eval(&file, &oracle_path, &dir.join("eo"));
    assert_same_outputs(pruned_eval, oracle_eval);
}

/// `fc1.weight` and `fc2.weight`: the tensors unstructured pruning acts on.
const WEIGHTS: [&str; 2] = ["fc1.weight", "fc2.weight"];

#[test]
fn unstructured_pruning_zeroes_the_smallest_weights_and_keeps_them_zero() {
    let dir = scratch("prune_unstructured");
    let file = "examples/digits_mlp.nn";
    let weights = train(file, &dir, "10");
    let original = load(&weights);

    // Sparsity 0: every tensor unchanged to the bit.
    prune(file, &weights, &dir.join("s0"), &["--sparsity", "0"]);
    let same = load(&dir.join("s0/model.safetensors"));
    for (name, tensor) in original.iter() {
        assert_eq!(same.get(name), Some(tensor), "{name}");
    }

    // Sparsity 0.3: round(0.3 n) zeros per weight, none larger than a kept one.
    prune(file, &weights, &dir.join("s3"), &["--sparsity", "0.3"]);
    let pruned = load(&dir.join("s3/model.safetensors"));
    for name in WEIGHTS {
        let (before, _) = values(&original, name);
        let (after, _) = values(&pruned, name);
        let zeroed: Vec<usize> = (0..after.len()).filter(|&i| after[i] == 0.0).collect();
        assert_eq!(
            zeroed.len(),
            (0.3 * before.len() as f64).round() as usize,
            "{name}"
        );
        let largest_zeroed = zeroed
            .iter()
            .map(|&i| before[i].abs())
            .fold(0.0f32, f32::max);
        for i in (0..after.len()).filter(|i| !zeroed.contains(i)) {
            assert_eq!(after[i].to_bits(), before[i].to_bits(), "{name}[{i}]");
            assert!(before[i].abs() >= largest_zeroed, "{name}[{i}]");
        }
    }
    for name in ["fc1.bias", "fc2.bias"] {
        assert_eq!(pruned.get(name), original.get(name), "{name}");
    }

    // Fine-tuning moves the kept weights and not the pruned ones.
    prune(
        file,
        &weights,
        &dir.join("s3t"),
        &["--sparsity", "0.3", "--finetune", "1"],
    );
    let tuned = load(&dir.join("s3t/model.safetensors"));
    for name in WEIGHTS {
        let (pruned, _) = values(&pruned, name);
        let (tuned, _) = values(&tuned, name);
        let moved = (0..pruned.len()).filter(|&i| tuned[i] != pruned[i]).count();
        assert!(moved > pruned.len() / 2, "{name}: {moved} moved");
        for i in (0..pruned.len()).filter(|&i| pruned[i] == 0.0) {
            assert_eq!(tuned[i], 0.0, "{name}[{i}] came back");
        }
    }

    // Sparsity 1: a warning, every weight zero, the biases decide: the
    // class of fc2's largest bias for every sample.
    let out = dir.join("s1");
    let run = dslc(&[
        "prune",
        file,
        "--weights",
        arg(&weights),
        "--sparsity",
        "1",
        "-o",
        arg(&out),
    ]);
    assert!(run.status.success(), "{}", both(&run));
    assert!(
        text(&run.stderr).contains("outputs become the biases"),
        "{}",
        both(&run)
    );
    let empty = load(&out.join("model.safetensors"));
    for name in WEIGHTS {
        assert!(values(&empty, name).0.iter().all(|&w| w == 0.0), "{name}");
    }
    let b2 = values(&original, "fc2.bias").0;
    let class = (0..b2.len())
        .max_by(|&a, &b| b2[a].total_cmp(&b2[b]))
        .unwrap();
    eval(&root().join(file), &weights, &dir.join("e"));
    let confusion = metrics(&dir.join("e"))["confusion_matrix"].clone();
    let rows: Vec<u64> = confusion
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .sum()
        })
        .collect();
    let expected = rows[class] as f64 / rows.iter().sum::<u64>() as f64;
    let (accuracy, _) = eval(
        &out.join("digits_mlp.nn"),
        &out.join("model.safetensors"),
        &dir.join("e1"),
    );
    assert_eq!(accuracy, expected);
}

#[test]
fn fp16_halves_the_checkpoint_within_rounding() {
    let dir = scratch("prune_fp16");
    let file = "examples/digits_mlp.nn";
    let weights = train(file, &dir, "10");
    let original = load(&weights);
    let out = dir.join("h");
    let report = prune(file, &weights, &out, &["--sparsity", "0", "--fp16"]);
    let path = out.join("model.fp16.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    for (name, _) in original.iter() {
        assert_eq!(header[name]["dtype"], "F16", "{name}");
    }
    let f32_size = std::fs::metadata(&weights).unwrap().len() as f64;
    assert!(
        (bytes.len() as f64) < 0.55 * f32_size,
        "{} vs {f32_size}",
        bytes.len()
    );
    let half = load(&path);
    for (name, _) in original.iter() {
        let (a, _) = values(&original, name);
        let (h, _) = values(&half, name);
        for (x, y) in a.iter().zip(h) {
            // Half precision: 11 significant bits, subnormals spaced 2^-24.
            let bound = (x.abs() * 2f32.powi(-11)).max(2f32.powi(-25));
            assert!((x - y).abs() <= bound, "{name}: {x} stored as {y}");
        }
    }
    let before = report["accuracy_before"].as_f64().unwrap();
    let fp16 = report["fp16"]["accuracy"].as_f64().unwrap();
    assert!((before - fp16).abs() <= 0.002, "{before} vs {fp16}");
    let (accuracy, _) = eval(&out.join("digits_mlp.nn"), &path, &dir.join("e"));
    assert_eq!(accuracy, fp16);
}

#[test]
fn impossible_sparsities_are_clear_errors() {
    let dir = scratch("prune_errors");
    let weights = dir.join("none.safetensors");
    let file = "examples/digits_mlp.nn";
    for bad in ["NaN", "1.5", "-0.1", "half"] {
        let run = dslc(&["prune", file, "--weights", arg(&weights), "--sparsity", bad]);
        assert_eq!(run.status.code(), Some(2), "{bad}: {}", both(&run));
        assert!(
            text(&run.stderr).contains("--sparsity"),
            "{bad}: {}",
            both(&run)
        );
    }
    let run = dslc(&[
        "prune",
        file,
        "--weights",
        arg(&weights),
        "--sparsity",
        "1",
        "--structured",
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", both(&run));
    assert!(text(&run.stderr).contains("at least one"), "{}", both(&run));
    let run = dslc(&[
        "prune",
        file,
        "--weights",
        arg(&weights),
        "--sparsity",
        "0.5",
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", both(&run));
    assert!(
        text(&run.stderr).contains("none.safetensors"),
        "{}",
        both(&run)
    );
}
