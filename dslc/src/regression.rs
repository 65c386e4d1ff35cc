//! What `train` and `eval` add for float targets (`--target`): the flag's
//! value, the check that the loss and the targets go together, and the
//! regression report.
//!
//! `--target NAME[,NAME...]` picks CSV columns by header name or by column
//! number counted from 1 (as every line and column number in the CSV
//! loader's messages); the other columns are the features. A regression
//! loss (`mse`, `l1`, `smooth_l1`) needs it, `cross_entropy` refuses it,
//! `bce_with_logits` takes either (one 0/1 column per logit, or a class
//! label 0/1 for one logit).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use nnspec_dsl::ir::{Loss, Monitor, TrainConfig};
use nnspec_runtime::data::{self, Normalization};
use nnspec_runtime::train::Evaluation;
use serde::Serialize;

use crate::session::DataSource;

/// `--target a,b`: the target columns, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetList(pub Vec<String>);

impl FromStr for TargetList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let names: Vec<String> = s.split(',').map(|n| n.trim().to_string()).collect();
        if names.iter().any(String::is_empty) {
            return Err(
                "name target columns by header name or number from 1, separated by commas \
                 (`--target price` or `--target y1,y2`)"
                    .into(),
            );
        }
        Ok(TargetList(names))
    }
}

impl fmt::Display for TargetList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// Why `--target` must agree with the checkpoint.
pub const TARGET_WHY: &str = "the model was trained to predict those columns";

/// Whether the loss and `--target` go together (and early stopping with
/// them: a regression has no accuracy to watch), before anything is read
/// or written.
pub fn check_loss(config: &TrainConfig, target: Option<&TargetList>) -> Result<(), String> {
    if config.loss.is_regression()
        && let Some(stopping) = config.early_stopping
        && stopping.monitor == Monitor::ValAccuracy
    {
        return Err(format!(
            "early_stopping watches val_accuracy, and the loss `{}` learns float targets, which \
             have no accuracy; watch val_loss",
            config.loss.name()
        ));
    }
    match (&config.loss, target) {
        (loss, None) if loss.is_regression() => Err(format!(
            "the loss `{}` learns float targets: name the target column(s) of a CSV file with \
             --target NAME[,NAME...] (header names, or column numbers from 1)",
            loss.name()
        )),
        (Loss::CrossEntropy { .. }, Some(target)) => Err(format!(
            "--target {target}: `cross_entropy` learns class labels (the last CSV column), not \
             float targets; leave out --target, or use a regression loss (`mse`, `l1`, `smooth_l1`)"
        )),
        _ => Ok(()),
    }
}

/// Reads a CSV file with targets, so that a bad target column or cell is
/// reported before `--force` removes an earlier run from `--out`.
pub fn check_data(data: &DataSource, target: &TargetList) -> Result<(), String> {
    load(data, target).map(|_| ())
}

/// A CSV file with `target` as its float targets, values as stored.
pub fn load(data: &DataSource, target: &TargetList) -> Result<data::Dataset, String> {
    match data {
        DataSource::Path(path) if path.is_file() => {
            data::load_csv_targets(path, &target.0, &Normalization::None).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "--target {target}: float targets are read from a CSV file, and the data is {other}"
        )),
    }
}

/// `test_mae`, `test_rmse`, `test_r2` in `metrics.json`.
#[derive(Serialize)]
pub struct TestRegression {
    pub test_mae: f64,
    pub test_rmse: f64,
    pub test_r2: f64,
    pub targets: Vec<String>,
}

pub fn summary(evaluation: &Evaluation) -> Option<TestRegression> {
    let r = evaluation.regression.as_ref()?;
    Some(TestRegression {
        test_mae: r.metrics.mae,
        test_rmse: r.metrics.rmse,
        test_r2: r.metrics.r2,
        targets: r.names.clone(),
    })
}

/// The test metrics of a regression, for the terminal.
pub fn print(evaluation: &Evaluation) -> bool {
    let Some(r) = &evaluation.regression else {
        return false;
    };
    crate::outln!(
        "\ntest ({} samples, target{} {}): loss {:.4}, MAE {:.4}, RMSE {:.4}, R² {:.4}",
        r.actual.len() / r.names.len().max(1),
        if r.names.len() == 1 { "" } else { "s" },
        r.names.join(", "),
        evaluation.loss,
        r.metrics.mae,
        r.metrics.rmse,
        r.metrics.r2
    );
    true
}

/// Writes `scatter.png` into `dir` when the evaluation is a regression's.
pub fn write_scatter(
    dir: &Path,
    evaluation: &Evaluation,
) -> Result<Option<std::path::PathBuf>, String> {
    let Some(r) = &evaluation.regression else {
        return Ok(None);
    };
    let path = dir.join("scatter.png");
    nnspec_runtime::plot::plot_scatter(&path, r).map_err(|e| e.to_string())?;
    Ok(Some(path))
}
