//! The files and the terminal report at the end of `train` and `eval`.

use std::path::{Path, PathBuf};

use nnspec_runtime::metrics::{self, EpochRecord, Report};
use nnspec_runtime::plot;
use nnspec_runtime::train::Evaluation;
use serde::Serialize;

/// `metrics.json`.
#[derive(Serialize)]
pub struct Metrics<'a> {
    pub model: &'a str,
    pub data: String,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub test_samples: usize,
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
    pub confusion_matrix: Vec<Vec<u64>>,
    pub report: Report,
    #[serde(skip_serializing_if = "<[EpochRecord]>::is_empty")]
    pub history: &'a [EpochRecord],
}

/// Prints the test metrics and the confusion matrix.
pub fn print_evaluation(evaluation: &Evaluation, class_names: Option<&[String]>) {
    println!(
        "\ntest: loss {:.4}, accuracy {:.2}% ({} of {})\n",
        evaluation.loss,
        evaluation.accuracy * 100.0,
        evaluation.confusion.correct(),
        evaluation.confusion.total()
    );
    print!("{}", evaluation.confusion.render_table(class_names));
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
    let confusion = dir.join("confusion.png");
    plot::plot_confusion(&confusion, &evaluation.confusion, class_names)
        .map_err(|e| e.to_string())?;
    written.push(confusion);
    Ok(written)
}
