//! Where `dslc train`'s validation set comes from: a share of the
//! training split (`--val-split`, the train block's `validation`), or a
//! labelled file of its own (`--val-data`), scaled as the training data.
//! A resumed run keeps its choice.

use std::path::{Path, PathBuf};

use nnspec_runtime::data::{self, Dataset};

use super::Args;
use crate::errln;
use crate::regression::{self, TargetList};
use crate::run_info::{self, Saved};
use crate::session::{self, DataSource, Scaling};

/// The validation set of a run.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Validation {
    None,
    /// This share of the training split, held out (stratified, seeded).
    Share(f64),
    /// Every sample of a labelled CSV or `.npz` file.
    File(PathBuf),
}

impl Validation {
    pub(super) fn is_none(&self) -> bool {
        *self == Validation::None
    }

    /// The share, as `RunInfo` records it.
    pub(super) fn share(&self) -> Option<f64> {
        match self {
            Validation::Share(share) => Some(*share),
            Validation::None | Validation::File(_) => None,
        }
    }

    /// The file, as `RunInfo` records it.
    pub(super) fn file(&self) -> Option<String> {
        match self {
            Validation::File(path) => Some(path.display().to_string()),
            Validation::None | Validation::Share(_) => None,
        }
    }
}

/// The run's validation set: `--val-data`, `--val-split`, else the train
/// block's share; on resume, the checkpoint's, which flags must agree with.
pub(super) fn choose(
    args: &Args,
    block: Option<f64>,
    saved: &Saved,
    from: &Path,
) -> Result<Validation, String> {
    let given = args
        .val_data
        .as_ref()
        .map(|path| run_info::resolve(&DataSource::Path(path.clone())).to_string());
    let recorded = saved.val_data.clone().filter(|_| args.resume);
    if args.resume && recorded.is_none() && given.is_some() {
        // A run that validated on a share (or on nothing) is not continued
        // on a file.
        return Err(format!(
            "--val-data: the run in {} did not validate on a file: {}; train afresh",
            from.display(),
            run_info::VALIDATION_WHY
        ));
    }
    if let Some(file) = run_info::agree(
        "val-data",
        given,
        recorded.clone(),
        from,
        run_info::VALIDATION_WHY,
    )? {
        if args.val_split.is_some() {
            return Err(format!(
                "--val-split holds out a share of the training data, and this run validates on {file}; give one of them"
            ));
        }
        return Ok(Validation::File(PathBuf::from(file)));
    }
    Ok(match validation_fraction(args, block, saved, from)? {
        Some(share) => Validation::Share(share),
        None => Validation::None,
    })
}

/// Splits `train` into what trains and what validates, as `validation`
/// says. `source`, `scaling` and `target` are the training data's: a
/// validation file is read and scaled as they were.
pub(super) fn hold_out(
    validation: &Validation,
    train: Dataset,
    seed: u64,
    (source, scaling, target): (&DataSource, Scaling, Option<&TargetList>),
    (input_shape, tokens): (&[usize], Option<usize>),
) -> Result<(Dataset, Option<Dataset>), String> {
    let path = match validation {
        Validation::None => return Ok((train, None)),
        Validation::Share(share) => {
            let held_out =
                data::validation_split(&train, *share, seed).map_err(|e| e.to_string())?;
            return Ok((held_out.train, Some(held_out.test)));
        }
        Validation::File(path) => path,
    };
    let name = path.display();
    let mut set = match target {
        Some(target) => regression::load(&DataSource::Path(path.clone()), target)?,
        None if session::is_npz(path) => {
            let npz = session::load_npz(path, tokens)?;
            if npz.test.is_some() {
                return Err(format!(
                    "--val-data {name}: the archive holds a training and a test part; give one with `x` and `y` (every sample validates)"
                ));
            }
            npz.train
        }
        None if path.is_file() => {
            data::csv::load_csv(path, &data::Normalization::None).map_err(|e| e.to_string())?
        }
        None => {
            return Err(format!(
                "--val-data {name}: not a file (give a labelled CSV or .npz file)"
            ));
        }
    };
    session::normalization_for(source, scaling, target)?.apply_slice(&mut set.features);
    session::check_tokens(&set, tokens)?;
    if set.sample_len() != train.sample_len() {
        return Err(format!(
            "--val-data {name}: samples of {} values, but the training data's have {}",
            set.sample_len(),
            train.sample_len()
        ));
    }
    if set.sample_shape != input_shape {
        set.reshape_to(input_shape).map_err(|e| e.to_string())?;
    }
    if set.is_empty() {
        return Err(format!("--val-data {name}: holds no samples"));
    }
    Ok((train, Some(set)))
}

/// The validation fraction: `--val-split`, else the train block's; on
/// resume, the checkpoint's, which a flag must agree with.
fn validation_fraction(
    args: &Args,
    block: Option<f64>,
    saved: &Saved,
    from: &Path,
) -> Result<Option<f64>, String> {
    let Some(recorded) = saved.validation.filter(|_| args.resume) else {
        return Ok(args.val_split.or(block));
    };
    let show = |v: Option<f64>| run_info::Validation(v).to_string();
    if args.val_split.is_some() && args.val_split != recorded {
        return Err(format!(
            "--val-split {} differs from the checkpoint's {} ({}): {}; leave --val-split out to use the checkpoint's, or train afresh",
            show(args.val_split),
            show(recorded),
            from.display(),
            run_info::VALIDATION_WHY
        ));
    }
    if args.val_split.is_none() && block != recorded {
        errln!(
            "warning: the train block now says validation {}; the resumed run keeps its {}",
            show(block),
            show(recorded)
        );
    }
    Ok(recorded)
}
