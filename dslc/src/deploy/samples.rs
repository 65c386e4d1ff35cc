//! The inputs a firmware carries: read in raw units as `dslc predict`
//! reads them, and scaled as the checkpoint's training data were, so the
//! firmware computes what `dslc predict` computes for the same file.

use nnspec_runtime::data::{self, Normalization};
use nnspec_runtime::safetensors_file::Checkpoint;

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

/// Where samples come from and how many to take.
pub struct Request<'a> {
    /// `digits`, a file, or `None` for the checkpoint's data when they are
    /// the digits.
    pub source: Option<&'a str>,
    /// The flag that named the source, for messages (`--samples`).
    pub flag: &'a str,
    /// Take the first `count` samples (or every one, when fewer).
    pub count: usize,
    /// The checkpoint's path, for messages.
    pub weights: &'a std::path::Path,
}

/// The first `request.count` samples of `request.source`, scaled as the
/// checkpoint's training data were.
pub fn read(request: &Request, job: &Job, checkpoint: &Checkpoint) -> Result<Inputs, String> {
    let saved = Saved::read(checkpoint);
    let source = match &saved.data {
        Some(text) => text.parse::<DataSource>().map_err(|e| {
            format!(
                "data `{text}` from checkpoint {}: {e}",
                request.weights.display()
            )
        })?,
        None => DataSource::Digits,
    };
    let plan = nnspec_codegen::lower_inference(&job.model);
    let shape = plan.input_shapes[0].clone();
    let len: usize = shape.iter().product();
    let training_plan = nnspec_codegen::lower_training(&job.model, &job.config);
    let tokens = session::token_bound(&job.model, &training_plan);
    let asked = match (request.source, &source) {
        (Some(text), _) => text.to_string(),
        (None, DataSource::Digits) => "digits".to_string(),
        (None, DataSource::Path(path)) => {
            return Err(format!(
                "{} was trained on {}: give {} FILE (raw inputs, as `dslc predict --input` reads them)",
                request.weights.display(),
                path.display(),
                request.flag
            ));
        }
    };
    let (mut features, available) = if asked == "digits" {
        let digits = data::digits_with(&Normalization::None).map_err(|e| e.to_string())?;
        if len != 64 {
            return Err(format!(
                "{} digits: the digits have 64 values per sample, but model `{}` takes input of shape {shape:?} ({len} values)",
                request.flag, job.model.name
            ));
        }
        let count = digits.features.len() / 64;
        (digits.features, count)
    } else {
        let path = std::path::Path::new(&asked);
        let inputs = crate::predict::read_inputs(path, &shape, tokens.is_some())?;
        (inputs.features, inputs.count)
    };
    let count = request.count.min(available);
    features.truncate(count * len);
    let scaling = session::input_scaling(saved.normalize, tokens, || Scaling::default_for(&source))
        .unwrap_or(Scaling::None);
    let norm =
        session::normalization_for(&source, scaling, saved.target.as_ref()).map_err(|e| {
            format!(
                "{e}\n(the samples are scaled as {} scaled its training data {source})",
                request.weights.display()
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
