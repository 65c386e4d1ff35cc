//! Structured pruning: the oracle's units and outputs, fine-tuning, and
//! what stays whole.

use std::path::Path;

use crate::common::{both, dslc, root, scratch, text};
use crate::oracle::*;

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

/// Every dense layer here shares its units with something that cannot
/// lose them: a residual add, a layer norm, the output.
const SHARED: &str = "model Shared {
    input x: f32[64];
    let h = x -> dense(16) as a -> relu;
    let g = h -> dense(16) as b;
    let n = (h + g) -> dense(12) as c -> layernorm as ln;
    output logits = n -> dense(10) as d;
}

train Shared {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.05),
    batch: 32,
    epochs: 1,
}
";

#[test]
fn layers_whose_units_are_shared_stay_whole() {
    let dir = scratch("prune_shared");
    let file = dir.join("shared.nn");
    std::fs::write(&file, SHARED).unwrap();
    let weights = train(arg(&file), &dir, "1");
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
    let said = text(&run.stdout);
    for reason in [
        "kept whole: `a`: `add",
        "kept whole: `b`: `add",
        "kept whole: `c`: `ln` (layernorm) reads its output",
        "kept whole: `d`: its units reach the model's output `logits`",
    ] {
        assert!(said.contains(reason), "{reason}\n{}", both(&run));
    }
    assert!(
        text(&run.stderr).contains("no layer of `Shared` can lose"),
        "{}",
        both(&run)
    );
    let original = load(&weights);
    let pruned = load(&out.join("model.safetensors"));
    for (name, tensor) in original.iter() {
        assert_eq!(pruned.get(name), Some(tensor), "{name}");
    }
    let formatted = nnspec_dsl::format(SHARED).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("shared.nn")).unwrap(),
        formatted
    );
}
