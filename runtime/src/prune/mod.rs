//! Magnitude pruning: the arithmetic on weights that `dslc prune` applies
//! to a checkpoint, and the mask that keeps pruned weights at zero while
//! fine-tuning.
//!
//! Two kinds:
//!
//! - **Unstructured** ([`prune_smallest`], [`prune_smallest_global`]):
//!   the share `S` of weights with the smallest magnitude becomes zero;
//!   tensors keep their shapes. Exactly `round(S·n)` weights are zeroed,
//!   ties broken by position (first in memory goes first), so the count
//!   does not depend on how many weights share a magnitude.
//! - **Structured** ([`structured`]): whole output units (a dense layer's
//!   neurons, a convolution's channels) are removed, ranked by the L2 norm
//!   of their incoming weights, and every tensor that indexes those units
//!   is cut to match. Which tensors those are is a property of the model's
//!   graph, decided by the compiler side (`dslc prune`); this module only
//!   ranks and cuts.
//!
//! [`half_range`] checks that a checkpoint survives F16 storage.
//!
//! The mask is applied after every optimizer step by [`MaskedTrainee`], a
//! [`Trainee`] that wraps the executor: the training loop and the
//! executor stay unaware of pruning, and the same weights come out of a
//! step as PyTorch's `torch.nn.utils.prune` gives (it multiplies by the
//! mask in the forward pass, which for a step of SGD or Adam leaves the
//! pruned weights exactly where re-zeroing them does: at zero).

pub mod structured;

use crate::data::Dataset;
use crate::exec::{Executor, StepStats};
use crate::plan::ParamId;
use crate::safetensors_file::{Checkpoint, TensorData};
use crate::train::{Evaluation, Snapshot, Trainee};

/// How many of `n` weights a share `sparsity` prunes: `round(S·n)`.
pub fn pruned_count(n: usize, sparsity: f64) -> usize {
    ((sparsity.clamp(0.0, 1.0) * n as f64).round() as usize).min(n)
}

/// Positions of `values` in increasing magnitude, ties by position.
fn by_magnitude(values: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()).then(a.cmp(&b)));
    order
}

/// Zeroes the `round(S·n)` smallest-magnitude values of one tensor and
/// returns the mask of what was pruned (`true`: forced to zero).
/// `sparsity` 0 changes nothing, bit for bit.
pub fn prune_smallest(values: &mut [f32], sparsity: f64) -> Vec<bool> {
    let mut pruned = vec![false; values.len()];
    for &i in by_magnitude(values)
        .iter()
        .take(pruned_count(values.len(), sparsity))
    {
        values[i] = 0.0;
        pruned[i] = true;
    }
    pruned
}

/// Like [`prune_smallest`] with one ranking over all the tensors together
/// (global magnitude pruning): layers with small weights lose more. Ties
/// go by tensor, then position.
pub fn prune_smallest_global(tensors: &mut [&mut [f32]], sparsity: f64) -> Vec<Vec<bool>> {
    let mut all: Vec<(f32, usize, usize)> = tensors
        .iter()
        .enumerate()
        .flat_map(|(t, values)| values.iter().enumerate().map(move |(i, v)| (v.abs(), t, i)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let mut masks: Vec<Vec<bool>> = tensors.iter().map(|t| vec![false; t.len()]).collect();
    for &(_, t, i) in all.iter().take(pruned_count(all.len(), sparsity)) {
        tensors[t][i] = 0.0;
        masks[t][i] = true;
    }
    masks
}

/// Which weights of which parameters are held at zero.
#[derive(Clone, Debug, Default)]
pub struct Mask {
    entries: Vec<(ParamId, Vec<usize>)>,
}

impl Mask {
    /// The mask for the executor's parameters named in `pruned` (name and
    /// per-element flags, as [`prune_smallest`] returns them). A name the
    /// plan lacks or a length that differs is an error naming it.
    pub fn new(exec: &Executor, pruned: &[(String, Vec<bool>)]) -> Result<Mask, String> {
        let params = &exec.plan().params;
        let mut entries = Vec::new();
        for (name, flags) in pruned {
            let index = params
                .iter()
                .position(|p| &p.name == name)
                .ok_or_else(|| format!("the model has no parameter `{name}` to mask"))?;
            if params[index].len() != flags.len() {
                return Err(format!(
                    "mask of `{name}` has {} entries, the parameter {}",
                    flags.len(),
                    params[index].len()
                ));
            }
            let zeros: Vec<usize> = (0..flags.len()).filter(|&i| flags[i]).collect();
            if !zeros.is_empty() {
                entries.push((ParamId(index as u32), zeros));
            }
        }
        Ok(Mask { entries })
    }

    /// Sets every masked weight back to zero.
    pub fn apply(&self, exec: &mut Executor) {
        for (id, zeros) in &self.entries {
            let values = exec.param_mut(*id);
            for &i in zeros {
                values[i] = 0.0;
            }
        }
    }

    /// Weights held at zero.
    pub fn len(&self) -> usize {
        self.entries.iter().map(|(_, z)| z.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The executor, trained with a [`Mask`] re-applied after every step.
pub struct MaskedTrainee<'a> {
    pub exec: &'a mut Executor,
    pub mask: &'a Mask,
}

impl Trainee for MaskedTrainee<'_> {
    fn input_len(&self) -> usize {
        self.exec.input_len()
    }
    fn classes(&self) -> usize {
        self.exec.classes()
    }
    fn loss_kind(&self) -> Option<crate::plan::LossKind> {
        self.exec.loss_kind()
    }
    fn capacity(&self) -> usize {
        Trainee::capacity(&*self.exec)
    }
    fn train_batch(&mut self, data: &Dataset, indices: &[usize]) -> StepStats {
        let stats = self.exec.train_batch(data, indices);
        self.mask.apply(self.exec);
        stats
    }
    fn seed_dropout(&mut self, seed: u64) {
        Trainee::seed_dropout(&mut *self.exec, seed);
    }
    fn set_lr(&mut self, lr: f64) {
        self.exec.set_lr(lr);
    }
    fn evaluate(&mut self, data: &Dataset) -> Evaluation {
        Trainee::evaluate(&mut *self.exec, data)
    }
    fn snapshot(&self) -> Snapshot {
        self.exec.snapshot()
    }
    fn restore(&mut self, snapshot: &Snapshot) {
        Trainee::restore(&mut *self.exec, snapshot);
    }
}

/// The largest magnitude F16 holds; above it a value becomes infinite.
pub const HALF_MAX: f32 = 65504.0;

/// The first f32 value of `checkpoint` that F16 storage would turn into
/// an infinity: its tensor's name, position and value.
pub fn half_range(checkpoint: &Checkpoint) -> Option<(String, usize, f32)> {
    checkpoint
        .iter()
        .find_map(|(name, tensor)| match &tensor.data {
            TensorData::F32(values) => {
                // Values that round down to 65504 are still finite.
                let bad = values
                    .iter()
                    .position(|v| !half::f16::from_f32(*v).is_finite())?;
                Some((name.to_string(), bad, values[bad]))
            }
            TensorData::I64(_) | TensorData::I8(_) | TensorData::U8(_) | TensorData::I32(_) => None,
        })
}

/// Zeros in a slice, for reports.
pub fn count_zeros(values: &[f32]) -> usize {
    values.iter().filter(|v| **v == 0.0).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_exactly_the_share_smallest_first() {
        let mut w = [0.5, -0.1, 0.3, -0.3, 2.0, 0.0];
        let mask = prune_smallest(&mut w, 0.5);
        // Three of six: 0.0, -0.1, then the first of the tied 0.3s.
        assert_eq!(w, [0.5, 0.0, 0.0, -0.3, 2.0, 0.0]);
        assert_eq!(mask, [false, true, true, false, false, true]);
        let mut same = [1.5f32, -2.5];
        assert_eq!(prune_smallest(&mut same, 0.0), [false, false]);
        assert_eq!(same, [1.5, -2.5]);
        let (mut a, mut b) = (vec![1.0f32, 2.0], vec![0.5f32, 3.0, 0.25]);
        let masks = prune_smallest_global(&mut [&mut a, &mut b], 0.6);
        assert_eq!((a, b), (vec![0.0, 2.0], vec![0.0, 3.0, 0.0]));
        assert_eq!(masks, vec![vec![true, false], vec![true, false, true]]);
        assert_eq!(pruned_count(7, 1.0), 7);
        assert_eq!(pruned_count(7, 0.5), 4);
    }

    #[test]
    fn half_float_storage_rounds_to_nearest_even_and_reads_back_as_f32() {
        let mut ck = Checkpoint::new();
        // 0.1 is 0x2E66 in half (1638 / 16384 = 0.0999755859375); 1 + 2^-11 is a tie
        // that rounds to even (1.0); 2^-24 is the smallest subnormal.
        let values = [0.1f32, 1.0 + 2f32.powi(-11), 65504.0, 2f32.powi(-24), -3.0];
        ck.insert_f32("w", &[5], &values).unwrap();
        ck.insert_i64("n", &[], &[7]).unwrap();
        assert_eq!(half_range(&ck), None);
        ck.set_half_floats(true);
        let bytes = ck.to_bytes();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
        assert!(
            header.contains(r#""w":{"dtype":"F16","shape":[5]"#),
            "{header}"
        );
        assert!(header.contains(r#""n":{"dtype":"I64""#), "{header}");
        assert_eq!(bytes.len(), 8 + header_len + 8 + 5 * 2);
        let back = Checkpoint::from_bytes(&bytes, "half").unwrap();
        assert!(back.half_floats());
        let read = back.f32("w", &[5]).unwrap();
        assert_eq!(read, [1638.0 / 16384.0, 1.0, 65504.0, 2f32.powi(-24), -3.0]);
        assert_eq!(back.i64("n", &[]).unwrap(), [7]);
        let mut short = bytes.clone();
        let at = 8 + header_len + 8;
        short.truncate(at + 4);
        let header = std::str::from_utf8(&short[8..8 + header_len]).unwrap();
        let header = header.replace("[8,18]", "[8,12]");
        let mut cut = (header.len() as u64).to_le_bytes().to_vec();
        cut.extend(header.as_bytes());
        cut.extend(&short[8 + header_len..]);
        let e = Checkpoint::from_bytes(&cut, "cut").unwrap_err().to_string();
        assert!(e.contains("F16 with shape [5] needs 10"), "{e}");
        let mut big = Checkpoint::new();
        big.insert_f32("b", &[2], &[1.0, -70000.0]).unwrap();
        assert_eq!(half_range(&big), Some(("b".to_string(), 1, -70000.0)));
    }
}
