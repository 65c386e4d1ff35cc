//! What `dslc prune` prints and writes to `prune.json`: a row per tensor
//! (shape before and after, zeros), parameter counts, file sizes, and test
//! accuracy before, after pruning, and after fine-tuning.

use std::path::Path;

use nnspec_dsl::ir;
use nnspec_runtime::metrics::EpochRecord;
use nnspec_runtime::prune::count_zeros;
use nnspec_runtime::safetensors_file::{Checkpoint, TensorData};
use serde::Serialize;

use crate::outln;

/// One tensor of the model, before and after.
#[derive(Clone, Debug, Serialize)]
pub struct LayerRow {
    pub tensor: String,
    pub before: Vec<usize>,
    pub after: Vec<usize>,
    /// Zeros after pruning (and fine-tuning).
    pub zeros: usize,
    pub elements: usize,
}

/// The f32 tensors of the model's layers, in `state_dict` order.
pub fn layer_rows(original: &Checkpoint, pruned: &Checkpoint, model: &ir::Model) -> Vec<LayerRow> {
    model
        .params
        .iter()
        .filter_map(|param| {
            let before = original.get(&param.name)?;
            let after = pruned.get(&param.name)?;
            let TensorData::F32(values) = &after.data else {
                return None;
            };
            Some(LayerRow {
                tensor: param.name.clone(),
                before: before.shape.clone(),
                after: after.shape.clone(),
                zeros: count_zeros(values),
                elements: values.len(),
            })
        })
        .collect()
}

/// Parameters of a checkpoint: its f32 elements, and how many are zero.
pub fn parameter_count(checkpoint: &Checkpoint) -> (usize, usize) {
    checkpoint
        .iter()
        .filter_map(|(_, t)| match &t.data {
            TensorData::F32(v) => Some((v.len(), count_zeros(v))),
            TensorData::I64(_) | TensorData::I8(_) | TensorData::U8(_) | TensorData::I32(_) => None,
        })
        .fold((0, 0), |(n, z), (a, b)| (n + a, z + b))
}

/// The half-precision checkpoint's size and accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct Half {
    pub bytes: u64,
    pub accuracy: f64,
}

#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub model: &'a str,
    pub data: String,
    pub mode: String,
    pub rows: Vec<LayerRow>,
    /// (elements, zeros)
    pub params_before: (usize, usize),
    pub params_after: (usize, usize),
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub accuracy_before: f64,
    /// Right after pruning, before any fine-tuning.
    pub accuracy_pruned: f64,
    /// Of the written checkpoint (after fine-tuning, if any).
    pub accuracy_after: f64,
    /// Test-set inference, samples per second (batches of 1000, best pass).
    pub inference_before: f64,
    pub inference_after: f64,
    /// The f32 kernel tier and threads the speeds were measured with.
    pub tier: &'static str,
    pub threads: usize,
    pub finetune: Vec<EpochRecord>,
    pub fp16: Option<Half>,
    pub test_samples: usize,
    /// Structured: the layers that could not lose units, and why.
    pub kept_whole: Vec<super::graph::Kept>,
}

fn shape(dims: &[usize]) -> String {
    let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

fn percent(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

pub fn print(s: &Summary) {
    outln!("pruned {} ({}) on {}", s.model, s.mode, s.data);
    let width = s
        .rows
        .iter()
        .map(|r| r.tensor.len())
        .max()
        .unwrap_or(6)
        .max(6);
    outln!(
        "  {:<width$}  {:>14}  {:>14}  {:>15}",
        "tensor",
        "before",
        "after",
        "zeros"
    );
    for row in &s.rows {
        let zeros = format!(
            "{} ({:.1}%)",
            row.zeros,
            100.0 * row.zeros as f64 / row.elements.max(1) as f64
        );
        outln!(
            "  {:<width$}  {:>14}  {:>14}  {:>15}",
            row.tensor,
            shape(&row.before),
            shape(&row.after),
            zeros
        );
    }
    outln!(
        "parameters: {} -> {} ({} nonzero)",
        s.params_before.0,
        s.params_after.0,
        s.params_after.0 - s.params_after.1
    );
    outln!("checkpoint: {} -> {} bytes", s.bytes_before, s.bytes_after);
    if let Some(half) = &s.fp16 {
        outln!(
            "fp16 checkpoint: {} bytes, test accuracy {}",
            half.bytes,
            percent(half.accuracy)
        );
    }
    outln!(
        "test accuracy ({} samples): {} before, {} pruned{}",
        s.test_samples,
        percent(s.accuracy_before),
        percent(s.accuracy_pruned),
        if s.finetune.is_empty() {
            String::new()
        } else {
            format!(", {} after fine-tuning", percent(s.accuracy_after))
        }
    );
    outln!(
        "inference (batch 1000, {} kernels, {} thread{}): {} samples/s before, {} after",
        s.tier,
        s.threads,
        crate::check::plural(s.threads),
        crate::progress::thousands(s.inference_before),
        crate::progress::thousands(s.inference_after)
    );
}

/// `prune.json`, written atomically.
pub fn write_json(summary: &Summary, path: &Path) -> Result<(), String> {
    let text = serde_json::to_string_pretty(summary).expect("the summary serializes");
    nnspec_runtime::atomic_write::write_atomically(path, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })
    .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
