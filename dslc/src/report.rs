//! The files and the terminal report at the end of `train` and `eval`.

use std::path::{Path, PathBuf};

use nnspec_runtime::metrics::{self, EpochRecord, Report};
use nnspec_runtime::plot;
use nnspec_runtime::train::{Evaluation, Selection};
use serde::Serialize;

/// `metrics.json`.
#[derive(Serialize)]
pub struct Metrics<'a> {
    pub model: &'a str,
    pub data: String,
    /// NaN for a regression, and then left out.
    #[serde(skip_serializing_if = "is_nan")]
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub test_samples: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_samples: Option<usize>,
    /// The best epoch on the validation split, and whether training
    /// stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_samples_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub threads: usize,
    /// `test_mae`, `test_rmse`, `test_r2` and the target names, for a regression.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub regression: Option<crate::regression::TestRegression>,
    /// Empty, and left out, for a regression.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub confusion_matrix: Vec<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    #[serde(skip_serializing_if = "<[EpochRecord]>::is_empty")]
    pub history: &'a [EpochRecord],
}

/// Model selection in `metrics.json`.
#[derive(Serialize)]
pub struct SelectionSummary {
    /// `val_loss` or `val_accuracy`.
    pub monitor: &'static str,
    pub best_epoch: usize,
    pub best_value: f64,
    pub stopped_early: bool,
    /// The epoch whose weights `model.safetensors` holds and the test
    /// split scored: the best one with early stopping, else the last.
    pub weights_from: &'static str,
}

pub fn selection_summary(selection: &Selection, early_stopping: bool) -> Option<SelectionSummary> {
    let best = selection.best?;
    Some(SelectionSummary {
        monitor: selection.monitor.name(),
        best_epoch: best.epoch,
        best_value: best.value,
        stopped_early: selection.stopped,
        weights_from: if early_stopping { "best" } else { "last" },
    })
}

/// Which epoch won, and whether training stopped early.
pub fn print_selection(summary: &SelectionSummary) {
    crate::outln!(
        "\nbest epoch on the validation split: {} ({} {:.4}){}; model.safetensors holds the {} epoch's weights, best.safetensors the best's",
        summary.best_epoch,
        summary.monitor,
        summary.best_value,
        if summary.stopped_early {
            ", training stopped early"
        } else {
            ""
        },
        summary.weights_from
    );
}

/// Prints the test metrics and the confusion matrix (a regression's MAE,
/// RMSE and R²).
pub fn print_evaluation(evaluation: &Evaluation, class_names: Option<&[String]>) {
    if crate::regression::print(evaluation) {
        return;
    }
    if evaluation.confusion.classes() == 0 {
        // Multi-label: a sample is right when all its labels are.
        crate::outln!(
            "\ntest: loss {:.4}, exact-match accuracy {:.2}%",
            evaluation.loss,
            evaluation.accuracy * 100.0
        );
        return;
    }
    crate::outln!(
        "\ntest: loss {:.4}, accuracy {:.2}% ({} of {})\n",
        evaluation.loss,
        evaluation.accuracy * 100.0,
        evaluation.confusion.correct(),
        evaluation.confusion.total()
    );
    crate::out!("{}", evaluation.confusion.render_table(class_names));
}

/// The per-class report; none for a regression.
pub fn classification(evaluation: &Evaluation, class_names: Option<&[String]>) -> Option<Report> {
    (evaluation.confusion.classes() > 0).then(|| evaluation.confusion.report(class_names))
}

pub fn confusion_rows(evaluation: &Evaluation) -> Vec<Vec<u64>> {
    evaluation.confusion.rows().map(<[u64]>::to_vec).collect()
}

/// Writes `metrics.json` and the plots into `dir`; returns the files written.
pub fn write(
    dir: &Path,
    metrics: &Metrics<'_>,
    evaluation: &Evaluation,
    class_names: Option<&[String]>,
) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    let json = dir.join("metrics.json");
    metrics::save_json(&json, metrics).map_err(|e| e.to_string())?;
    written.push(json);
    if !metrics.history.is_empty() {
        let curves = dir.join("curves.png");
        plot::plot_curves(&curves, metrics.history).map_err(|e| e.to_string())?;
        written.push(curves);
    }
    if let Some(scatter) = crate::regression::write_scatter(dir, evaluation)? {
        written.push(scatter);
    }
    // Float targets have no classes (regression, multi-label).
    if evaluation.confusion.classes() == 0 {
        return Ok(written);
    }
    let confusion = dir.join("confusion.png");
    // A plot has room for a few words per class; the full names are in
    // metrics.json and the terminal report.
    let short_names: Option<Vec<String>> =
        class_names.map(|names| names.iter().map(|n| shorten(n, 40)).collect());
    plot::plot_confusion(&confusion, &evaluation.confusion, short_names.as_deref())
        .map_err(|e| e.to_string())?;
    written.push(confusion);
    Ok(written)
}

/// `name` cut to `max` characters, with an ellipsis when cut.
fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_string()
    } else {
        let mut short: String = name.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}

fn is_nan(value: &f64) -> bool {
    value.is_nan()
}
