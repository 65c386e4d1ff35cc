//! Unstructured pruning, fp16 storage and impossible sparsities.

use crate::common::{both, dslc, metrics, root, scratch, text};
use crate::oracle::*;

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

    // Global: one ranking over both weights.
    prune(
        file,
        &weights,
        &dir.join("g"),
        &["--sparsity", "0.6", "--global"],
    );
    let global = load(&dir.join("g/model.safetensors"));
    let (mut zeroed, mut kept) = (Vec::new(), Vec::new());
    for name in WEIGHTS {
        let (before, _) = values(&original, name);
        let (after, _) = values(&global, name);
        for (b, a) in before.iter().zip(after) {
            if *a == 0.0 {
                zeroed.push(b.abs())
            } else {
                kept.push(b.abs())
            }
        }
    }
    let total = zeroed.len() + kept.len();
    assert_eq!(zeroed.len(), (0.6 * total as f64).round() as usize);
    let largest_zeroed = zeroed.iter().copied().fold(0.0f32, f32::max);
    assert!(kept.iter().all(|&k| k >= largest_zeroed));

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
    // Every command that reads weights takes the F16 file.
    let onnx = dir.join("m.onnx");
    let export = dslc(&[
        "export",
        arg(&out.join("digits_mlp.nn")),
        "--weights",
        arg(&path),
        "-o",
        arg(&onnx),
    ]);
    assert!(export.status.success(), "{}", both(&export));
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
