//! What the tests share: running `dslc`, reading checkpoints, and the
//! oracles (a naive f64 L2 ranking, a zeroed-columns copy of the original).

use std::path::{Path, PathBuf};

use crate::common::{both, dslc, metrics};
use nnspec_runtime::safetensors_file::{Checkpoint, Tensor, TensorData};

pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Trains `file` on the digits into `dir/run`; the checkpoint's path.
pub fn train(file: &str, dir: &Path, epochs: &str) -> PathBuf {
    let run = dir.join("run");
    let out = dslc(&["train", file, "--out", arg(&run), "--epochs", epochs]);
    assert!(out.status.success(), "{}", both(&out));
    run.join("model.safetensors")
}

pub fn prune(file: &str, weights: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["prune", file, "--weights", arg(weights), "-o", arg(out)];
    args.extend(extra);
    let run = dslc(&args);
    assert!(run.status.success(), "{}", both(&run));
    serde_json::from_str(&std::fs::read_to_string(out.join("prune.json")).unwrap()).unwrap()
}

pub fn load(path: &Path) -> Checkpoint {
    Checkpoint::load(path).unwrap()
}

pub fn values<'a>(checkpoint: &'a Checkpoint, name: &str) -> (&'a [f32], &'a [usize]) {
    let tensor = checkpoint.get(name).unwrap_or_else(|| panic!("no {name}"));
    match &tensor.data {
        TensorData::F32(v) => (v, &tensor.shape),
        other => panic!("{name} is not f32: {:?}", other.dtype()),
    }
}

/// `dslc eval`'s test metrics (accuracy, loss) of a model and checkpoint.
pub fn eval(file: &Path, weights: &Path, out: &Path) -> (f64, f64) {
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
pub fn strongest_rows(weight: &[f32], units: usize, keep: usize) -> Vec<usize> {
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
pub fn zero_inputs(checkpoint: &mut Checkpoint, name: &str, units: usize, keep: &[usize]) {
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
pub fn rows(data: &[f32], units: usize, keep: &[usize]) -> Vec<u32> {
    let per = data.len() / units;
    keep.iter()
        .flat_map(|&u| data[u * per..(u + 1) * per].iter().map(|v| v.to_bits()))
        .collect()
}

pub fn bits(data: &[f32]) -> Vec<u32> {
    data.iter().map(|v| v.to_bits()).collect()
}

/// Loss and accuracy agree: same test samples right, loss to rounding
/// (the zeroed columns add exact zeros, in another order).
pub fn assert_same_outputs(pruned: (f64, f64), oracle: (f64, f64)) {
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
