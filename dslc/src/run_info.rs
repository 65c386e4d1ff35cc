//! The settings of a training run that a checkpoint records, and the rule
//! for flags given again (`train --resume`, `eval`): a flag that changes
//! which samples are training samples or how they are scaled (seed, data,
//! normalization) must agree with the checkpoint, or the "test" split
//! would hold training samples. So must batch and learning rate on resume
//! (a run continued with other ones is not the run that was started).
//! An omitted flag takes the checkpoint's value.

use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;

use nnspec_dsl::ir::Clip;
use nnspec_runtime::safetensors_file::Checkpoint;

use crate::regression::TargetList;
use crate::session::{DataSource, Scaling};

/// What a checkpoint says about its run; `None` for what older
/// checkpoints (or other tools) did not record.
#[derive(Clone, Debug, Default)]
pub struct Saved {
    pub seed: Option<u64>,
    pub data: Option<String>,
    pub fingerprint: Option<String>,
    pub normalize: Option<Scaling>,
    pub batch: Option<usize>,
    pub lr: Option<f64>,
    /// The validation fraction; `Some(None)`: recorded as none.
    pub validation: Option<Option<f64>>,
    /// The validation file (`--val-data`), absolute.
    pub val_data: Option<String>,
    /// `--target`, recorded only by runs with float targets.
    pub target: Option<TargetList>,
    /// The gradient clipping; `Some(None)`: recorded as none.
    pub clip: Option<Option<Clip>>,
}

/// The settings of a run, as written into its checkpoints.
pub struct RunInfo<'a> {
    pub seed: u64,
    pub data: &'a DataSource,
    pub fingerprint: &'a str,
    pub normalize: Scaling,
    pub batch: usize,
    pub lr: f64,
    /// The share of the training split held out for validation.
    pub validation: Option<f64>,
    /// Or the file validated on.
    pub val_data: Option<String>,
    /// The CSV columns of float targets, if any.
    pub target: Option<&'a TargetList>,
    /// The gradient clipping of the train block.
    pub clip: Option<Clip>,
}

impl RunInfo<'_> {
    pub fn write(&self, checkpoint: &mut Checkpoint) {
        checkpoint.set_metadata("clip", ClipSetting(self.clip).to_string());
        checkpoint.set_metadata("seed", self.seed.to_string());
        checkpoint.set_metadata("data", self.data.to_string());
        checkpoint.set_metadata("data_fingerprint", self.fingerprint);
        checkpoint.set_metadata("normalize", self.normalize.to_string());
        checkpoint.set_metadata("batch", self.batch.to_string());
        checkpoint.set_metadata("lr", self.lr.to_string());
        checkpoint.set_metadata("validation", Validation(self.validation).to_string());
        if let Some(file) = &self.val_data {
            checkpoint.set_metadata("val_data", file);
        }
        if let Some(target) = self.target {
            checkpoint.set_metadata("target", target.to_string());
        }
    }
}

impl Saved {
    pub fn read(checkpoint: &Checkpoint) -> Saved {
        let meta = checkpoint.metadata();
        fn parse<T: FromStr>(value: Option<&String>) -> Option<T> {
            value.and_then(|v| v.parse().ok())
        }
        Saved {
            seed: parse(meta.get("seed")),
            data: meta.get("data").cloned(),
            fingerprint: meta.get("data_fingerprint").cloned(),
            normalize: parse(meta.get("normalize")),
            batch: parse(meta.get("batch")),
            lr: parse(meta.get("lr")),
            validation: parse::<Validation>(meta.get("validation")).map(|v| v.0),
            val_data: meta.get("val_data").cloned(),
            clip: parse::<ClipSetting>(meta.get("clip")).map(|c| c.0),
            target: parse(meta.get("target")),
        }
    }
}

/// Gradient clipping as recorded: `norm(1)`, `value(0.5)` or `none`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipSetting(pub Option<Clip>);

impl Display for ClipSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(clip) => clip.fmt(f),
            None => f.write_str("none"),
        }
    }
}

impl FromStr for ClipSetting {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let number = |inner: &str| inner.strip_suffix(')')?.parse::<f64>().ok();
        if s == "none" {
            Ok(ClipSetting(None))
        } else if let Some(max_norm) = s.strip_prefix("norm(").and_then(number) {
            Ok(ClipSetting(Some(Clip::Norm { max_norm })))
        } else if let Some(clip_value) = s.strip_prefix("value(").and_then(number) {
            Ok(ClipSetting(Some(Clip::Value { clip_value })))
        } else {
            Err(())
        }
    }
}

/// A validation fraction as recorded: the number, or `none`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Validation(pub Option<f64>);

impl Display for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(fraction) => write!(f, "{fraction}"),
            None => f.write_str("none"),
        }
    }
}

impl FromStr for Validation {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "none" => Ok(Validation(None)),
            _ => s.parse().map(|f| Validation(Some(f))).map_err(|_| ()),
        }
    }
}

/// The value to use for `flag`: the given one, which must equal the
/// checkpoint's when it has one, else the checkpoint's. `None` when
/// neither is known. `why` says what a different value would break.
pub fn agree<T: PartialEq + Display + Clone>(
    flag: &str,
    given: Option<T>,
    saved: Option<T>,
    checkpoint: &Path,
    why: &str,
) -> Result<Option<T>, String> {
    match (given, saved) {
        (Some(given), Some(saved)) if given != saved => Err(format!(
            "--{flag} {given} differs from the checkpoint's --{flag} {saved} ({}): {why}; leave --{flag} out to use the checkpoint's, or train afresh",
            checkpoint.display()
        )),
        (Some(value), _) | (None, Some(value)) => Ok(Some(value)),
        (None, None) => Ok(None),
    }
}

/// Why the seed must agree.
pub const SEED_WHY: &str = "the seed also draws the 80/20 train/test split, so another seed would test on training samples";
/// Why the scaling must agree.
pub const NORMALIZE_WHY: &str = "the model was trained on inputs scaled that way";
/// Why the data must agree.
pub const DATA_WHY: &str = "a run continues on the data it started with";
/// Why the validation fraction must agree on resume.
pub const VALIDATION_WHY: &str = "the validation split decides which samples train, so another one would train on validation samples";
/// Why batch and learning rate must agree on resume.
pub const STEP_WHY: &str = "a resumed run continues exactly as the run it continues";

/// The data source as recorded: `digits`, or the absolute path.
pub fn resolve(data: &DataSource) -> DataSource {
    match data {
        DataSource::Digits => DataSource::Digits,
        DataSource::Path(path) => DataSource::Path(
            std::fs::canonicalize(path)
                .or_else(|_| std::path::absolute(path))
                .unwrap_or_else(|_| path.clone()),
        ),
    }
}

/// The fingerprint of the data (`embedded` for the digits).
pub fn fingerprint(data: &DataSource) -> Result<String, String> {
    match data {
        DataSource::Digits => Ok("embedded".to_string()),
        DataSource::Path(path) => {
            nnspec_runtime::data::fingerprint::fingerprint(path).map_err(|e| e.to_string())
        }
    }
}

/// A data source recorded in `checkpoint`, checked to exist, with the
/// checkpoint named as its origin in the error.
pub fn saved_data(text: &str, checkpoint: &Path) -> Result<DataSource, String> {
    let data = DataSource::from_str(text).map_err(|e| {
        format!(
            "data `{text}` from checkpoint {}: {e}",
            checkpoint.display()
        )
    })?;
    if let DataSource::Path(path) = &data
        && !path.exists()
    {
        return Err(format!(
            "data path {} from checkpoint {}: no such file or directory (give the data with --data)",
            path.display(),
            checkpoint.display()
        ));
    }
    Ok(data)
}
