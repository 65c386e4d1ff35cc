//! The inputs a firmware carries: read in raw units as `dslc predict`
//! reads them, and scaled as the checkpoint's training data were, so the
//! firmware computes what `dslc predict` computes for the same file.

use nnspec_runtime::data::{self, Normalization};
use nnspec_runtime::safetensors_file::Checkpoint;

use super::Args;
use crate::run_info::Saved;
use crate::session::{self, DataSource, Job, Scaling};

/// At most this many samples go into a firmware (each sits in flash).
pub const MAX_SAMPLES: usize = 256;

/// Samples ready for the model: scaled, one after another.
pub struct Inputs {
    pub features: Vec<f32>,
    pub count: usize,
    /// Floats per sample.
    pub len: usize,
}

/// The first `--count` samples of `--samples`, scaled.
pub fn read(args: &Args, job: &Job, checkpoint: &Checkpoint) -> Result<Inputs, String> {
    let saved = Saved::read(checkpoint);
    let source = match &saved.data {
        Some(text) => text.parse::<DataSource>().map_err(|e| {
            format!(
                "data `{text}` from checkpoint {}: {e}",
                args.weights.display()
            )
        })?,
        None => DataSource::Digits,
    };
    let plan = nnspec_codegen::lower_inference(&job.model);
    let shape = plan.input_shapes[0].clone();
    let len: usize = shape.iter().product();
    let training_plan = nnspec_codegen::lower_training(&job.model, &job.config);
    let tokens = session::token_bound(&job.model, &training_plan);
    let asked = match (&args.samples, &source) {
        (Some(text), _) => text.clone(),
        (None, DataSource::Digits) => "digits".to_string(),
        (None, DataSource::Path(path)) => {
            return Err(format!(
                "{} was trained on {}: give the samples the firmware runs with --samples FILE (raw inputs, as `dslc predict --input` reads them)",
                args.weights.display(),
                path.display()
            ));
        }
    };
    let (mut features, available) = if asked == "digits" {
        let digits = data::digits_with(&Normalization::None).map_err(|e| e.to_string())?;
        if len != 64 {
            return Err(format!(
                "--samples digits: the digits have 64 values per sample, but model `{}` takes input of shape {shape:?} ({len} values)",
                job.model.name
            ));
        }
        let count = digits.features.len() / 64;
        (digits.features, count)
    } else {
        let path = std::path::Path::new(&asked);
        let inputs = crate::predict::read_inputs(path, &shape, tokens.is_some())?;
        (inputs.features, inputs.count)
    };
    let count = (args.count as usize).min(available);
    features.truncate(count * len);
    let scaling = session::input_scaling(saved.normalize, tokens, || Scaling::default_for(&source))
        .unwrap_or(Scaling::None);
    let norm =
        session::normalization_for(&source, scaling, saved.target.as_ref()).map_err(|e| {
            format!(
                "{e}\n(the samples are scaled as {} scaled its training data {source})",
                args.weights.display()
            )
        })?;
    norm.apply_slice(&mut features);
    if let Some(num) = tokens {
        data::tokens::check_tokens(&features, len, num, &asked).map_err(|e| e.to_string())?;
    }
    if let Some(bad) = features.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "{asked}: sample {}, value {} is not a finite number after scaling",
            bad / len,
            bad % len
        ));
    }
    Ok(Inputs {
        features,
        count,
        len,
    })
}
