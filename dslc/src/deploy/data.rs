//! The test split a checkpoint is measured on: the data, seed and input
//! scaling the checkpoint records ([`session::recorded_split`]), or
//! `--data` instead of its data.

use std::path::Path;

use nnspec_runtime::quantize::argmax;
use nnspec_runtime::safetensors_file::Checkpoint;

use crate::session::{self, DataSource, Job};

/// Test inputs and labels.
pub struct TestSplit {
    pub features: Vec<f32>,
    pub labels: Vec<u32>,
    /// Values per sample.
    pub width: usize,
    pub len: usize,
}

impl TestSplit {
    /// The share of samples whose largest output is the label.
    pub fn accuracy(&self, outputs: &[f32]) -> f64 {
        let classes = outputs.len() / self.len.max(1);
        let right = outputs
            .chunks(classes.max(1))
            .zip(&self.labels)
            .filter(|(o, label)| argmax(o) == **label as usize)
            .count();
        right as f64 / self.len.max(1) as f64
    }
}

/// The test split of the data `checkpoint` records (or `data`).
pub fn test_split(
    job: &Job,
    checkpoint: &Checkpoint,
    weights: &Path,
    data: Option<&DataSource>,
) -> Result<TestSplit, String> {
    let flags = session::DataFlags {
        data,
        ..session::DataFlags::default()
    };
    let (_, split) = session::recorded_split(job, checkpoint, weights, flags)?;
    let test = split.test;
    let width = test.features.len() / test.len().max(1);
    Ok(TestSplit {
        len: test.len(),
        features: test.features,
        labels: test.labels,
        width,
    })
}
