//! The test split a checkpoint is measured on: the data, seed and input
//! scaling the checkpoint records (as `dslc eval` and `dslc quantize` read
//! them), or `--data` instead of its data.

use std::path::Path;

use nnspec_runtime::quantize::argmax;
use nnspec_runtime::safetensors_file::Checkpoint;

use crate::run_info::{self, Saved};
use crate::session::{self, DataSource, Job, Scaling};

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

pub fn test_split(
    job: &Job,
    checkpoint: &Checkpoint,
    weights: &Path,
    data: Option<&DataSource>,
) -> Result<TestSplit, String> {
    let saved = Saved::read(checkpoint);
    let seed = saved.seed.unwrap_or(job.config.seed);
    let data = match (data, &saved.data) {
        (Some(data), _) => run_info::resolve(data),
        (None, Some(text)) => run_info::saved_data(text, weights)?,
        (None, None) => DataSource::Digits,
    };
    let plan = nnspec_codegen::lower_inference(&job.model);
    let tokens = session::token_bound(&job.model, &plan);
    let scaling = session::input_scaling(saved.normalize, tokens, || Scaling::default_for(&data))?;
    let split = session::load_data(
        &data,
        seed,
        (&plan.input_shapes[0].clone(), tokens),
        scaling,
        None,
    )?;
    let test = split.test;
    let width = plan.input_shapes[0].iter().product::<usize>().max(1);
    Ok(TestSplit {
        len: test.len(),
        features: test.features,
        labels: test.labels,
        width,
    })
}
