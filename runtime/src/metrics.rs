//! Classification metrics: confusion matrix, accuracy, per-class
//! precision / recall / F1, a text report, and per-epoch records.
//!
//! Conventions follow scikit-learn: in the [`ConfusionMatrix`] rows are the
//! true class and columns the predicted class; precision of class `c` is
//! `tp / (tp + fp)` (column `c`), recall `tp / (tp + fn)` (row `c`), F1
//! their harmonic mean `2·tp / (2·tp + fp + fn)`. A ratio whose denominator
//! is 0 is defined as 0 (scikit-learn's `zero_division=0`, without its
//! warning): a class never predicted has precision 0, a class absent from
//! the data recall 0, and both F1 0.
//!
//! Everything serializes with serde for `metrics.json` (see
//! [`save_json`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

use crate::atomic_write::write_atomically;

/// Bad input to the metrics.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MetricsError {
    #[error("class {class} is out of range for a {classes}-class confusion matrix")]
    ClassOutOfRange { class: usize, classes: usize },
    #[error("sample {index}: class {class} is out of range for a {classes}-class confusion matrix")]
    SampleOutOfRange {
        index: usize,
        class: usize,
        classes: usize,
    },
    #[error("{truths} true labels but {predictions} predictions")]
    LengthMismatch { truths: usize, predictions: usize },
    #[error("cannot merge a {right}-class confusion matrix into a {left}-class one")]
    ClassCountMismatch { left: usize, right: usize },
    #[error("{logits} logits are not {samples} rows of {classes} classes")]
    LogitsShape {
        logits: usize,
        samples: usize,
        classes: usize,
    },
}

/// Counts of (true class, predicted class) pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    /// `classes × classes`, row = true class, column = predicted class.
    counts: Vec<u64>,
}

impl Serialize for ConfusionMatrix {
    /// As the nested rows `[[n00, n01, ...], [n10, ...], ...]`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.rows())
    }
}

/// Precision, recall, F1 and support of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: usize,
    /// The class's name, when names were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of samples whose true class is this one.
    pub support: u64,
}

/// Averages over classes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Averages {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Everything for `metrics.json`: accuracy, per-class metrics, macro
/// (unweighted) and support-weighted averages, and the confusion matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub samples: u64,
    pub accuracy: f64,
    pub per_class: Vec<ClassMetrics>,
    pub macro_avg: Averages,
    pub weighted_avg: Averages,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_names: Option<Vec<String>>,
    /// Rows = true class, columns = predicted class.
    pub confusion_matrix: ConfusionMatrix,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Index of the largest value; the first one on ties, and a NaN counts as
/// larger than any number (as `torch.argmax`).
pub fn argmax(xs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate().skip(1) {
        let b = xs[best];
        if !b.is_nan() && (x > b || x.is_nan()) {
            best = i;
        }
    }
    best
}

impl ConfusionMatrix {
    /// An empty `classes × classes` matrix.
    pub fn new(classes: usize) -> ConfusionMatrix {
        ConfusionMatrix {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// A matrix from true labels and predictions.
    pub fn from_predictions(
        classes: usize,
        truths: &[u32],
        predictions: &[u32],
    ) -> Result<ConfusionMatrix, MetricsError> {
        let mut m = ConfusionMatrix::new(classes);
        m.add_batch(truths, predictions)?;
        Ok(m)
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Counts one sample.
    pub fn add(&mut self, truth: usize, predicted: usize) -> Result<(), MetricsError> {
        for class in [truth, predicted] {
            if class >= self.classes {
                return Err(MetricsError::ClassOutOfRange {
                    class,
                    classes: self.classes,
                });
            }
        }
        self.counts[truth * self.classes + predicted] += 1;
        Ok(())
    }

    /// Counts a batch of samples; on error nothing is counted and the
    /// error names the offending sample's position in the batch.
    pub fn add_batch(&mut self, truths: &[u32], predictions: &[u32]) -> Result<(), MetricsError> {
        if truths.len() != predictions.len() {
            return Err(MetricsError::LengthMismatch {
                truths: truths.len(),
                predictions: predictions.len(),
            });
        }
        for (index, (&t, &p)) in truths.iter().zip(predictions).enumerate() {
            for class in [t as usize, p as usize] {
                if class >= self.classes {
                    return Err(MetricsError::SampleOutOfRange {
                        index,
                        class,
                        classes: self.classes,
                    });
                }
            }
        }
        for (&t, &p) in truths.iter().zip(predictions) {
            self.counts[t as usize * self.classes + p as usize] += 1;
        }
        Ok(())
    }

    /// Counts a batch given the model's outputs (`truths.len()` rows of
    /// `classes` logits or probabilities); the prediction is the [`argmax`].
    pub fn add_logits(&mut self, truths: &[u32], logits: &[f32]) -> Result<(), MetricsError> {
        if self.classes == 0 || logits.len() != truths.len() * self.classes {
            return Err(MetricsError::LogitsShape {
                logits: logits.len(),
                samples: truths.len(),
                classes: self.classes,
            });
        }
        for (index, &t) in truths.iter().enumerate() {
            if t as usize >= self.classes {
                return Err(MetricsError::SampleOutOfRange {
                    index,
                    class: t as usize,
                    classes: self.classes,
                });
            }
        }
        for (&t, row) in truths.iter().zip(logits.chunks_exact(self.classes)) {
            self.counts[t as usize * self.classes + argmax(row)] += 1;
        }
        Ok(())
    }

    /// Adds another matrix's counts (e.g. from another thread).
    pub fn merge(&mut self, other: &ConfusionMatrix) -> Result<(), MetricsError> {
        if self.classes != other.classes {
            return Err(MetricsError::ClassCountMismatch {
                left: self.classes,
                right: other.classes,
            });
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        Ok(())
    }

    /// Number of samples with true class `truth` predicted as `predicted`.
    ///
    /// # Panics
    /// If either class is out of range.
    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        assert!(truth < self.classes && predicted < self.classes);
        self.counts[truth * self.classes + predicted]
    }

    /// The rows (true classes) as slices.
    pub fn rows(&self) -> impl Iterator<Item = &[u64]> {
        self.counts.chunks_exact(self.classes.max(1))
    }

    /// Total number of samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Samples on the diagonal.
    pub fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.get(c, c)).sum()
    }

    /// Fraction of samples predicted correctly (0 with no samples).
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Samples whose true class is `class` (its row sum).
    pub fn support(&self, class: usize) -> u64 {
        (0..self.classes).map(|p| self.get(class, p)).sum()
    }

    /// Samples predicted as `class` (its column sum).
    pub fn predicted(&self, class: usize) -> u64 {
        (0..self.classes).map(|t| self.get(t, class)).sum()
    }

    /// `tp / (tp + fp)`, 0 when the class is never predicted.
    pub fn precision(&self, class: usize) -> f64 {
        ratio(self.get(class, class), self.predicted(class))
    }

    /// `tp / (tp + fn)`, 0 when the class has no samples.
    pub fn recall(&self, class: usize) -> f64 {
        ratio(self.get(class, class), self.support(class))
    }

    /// `2·tp / (2·tp + fp + fn)` (the harmonic mean of precision and
    /// recall), 0 when the class is neither present nor predicted.
    pub fn f1(&self, class: usize) -> f64 {
        let tp = self.get(class, class);
        ratio(2 * tp, self.support(class) + self.predicted(class))
    }

    /// Per-class metrics, with names when given.
    pub fn per_class(&self, class_names: Option<&[String]>) -> Vec<ClassMetrics> {
        (0..self.classes)
            .map(|c| ClassMetrics {
                class: c,
                name: class_names.and_then(|n| n.get(c)).cloned(),
                precision: self.precision(c),
                recall: self.recall(c),
                f1: self.f1(c),
                support: self.support(c),
            })
            .collect()
    }

    /// Unweighted mean over all classes (scikit-learn's `macro avg`).
    pub fn macro_avg(&self) -> Averages {
        let n = self.classes.max(1) as f64;
        let per = self.per_class(None);
        Averages {
            precision: per.iter().map(|m| m.precision).sum::<f64>() / n,
            recall: per.iter().map(|m| m.recall).sum::<f64>() / n,
            f1: per.iter().map(|m| m.f1).sum::<f64>() / n,
        }
    }

    /// Mean weighted by support (scikit-learn's `weighted avg`).
    pub fn weighted_avg(&self) -> Averages {
        let total = self.total();
        let per = self.per_class(None);
        let w = |f: fn(&ClassMetrics) -> f64| {
            if total == 0 {
                0.0
            } else {
                per.iter().map(|m| f(m) * m.support as f64).sum::<f64>() / total as f64
            }
        };
        Averages {
            precision: w(|m| m.precision),
            recall: w(|m| m.recall),
            f1: w(|m| m.f1),
        }
    }

    /// Everything at once, for `metrics.json`.
    pub fn report(&self, class_names: Option<&[String]>) -> Report {
        Report {
            samples: self.total(),
            accuracy: self.accuracy(),
            per_class: self.per_class(class_names),
            macro_avg: self.macro_avg(),
            weighted_avg: self.weighted_avg(),
            class_names: class_names.map(<[String]>::to_vec),
            confusion_matrix: self.clone(),
        }
    }

    /// A text report for the terminal: per-class precision, recall, F1
    /// and support with the averages (as scikit-learn's
    /// `classification_report`), then the confusion matrix with true classes
    /// down and predicted classes across. Columns are aligned; class names
    /// replace the numbers when given (in the matrix header, classes are
    /// numbered to keep it narrow, with the names in the rows).
    pub fn render_table(&self, class_names: Option<&[String]>) -> String {
        let label = |c: usize| match class_names.and_then(|n| n.get(c)) {
            Some(name) => name.clone(),
            None => c.to_string(),
        };
        let mut out = String::new();
        let name_w = (0..self.classes)
            .map(|c| label(c).chars().count())
            .chain(["weighted avg".len()])
            .max()
            .unwrap_or(0);
        let support_w = self.total().to_string().len().max("support".len());
        // Widths are applied by `pad_left`/`pad_right`, not `{:>w$}`:
        // std::fmt panics on widths beyond u16::MAX (a 70 000-character
        // class name from a CSV header).
        let _ = writeln!(
            out,
            "{}  {:>9}  {:>9}  {:>9}  {}",
            pad_left("", name_w),
            "precision",
            "recall",
            "f1-score",
            pad_left("support", support_w)
        );
        let _ = writeln!(out);
        for m in self.per_class(None) {
            let _ = writeln!(
                out,
                "{}  {:>9.4}  {:>9.4}  {:>9.4}  {}",
                pad_left(&label(m.class), name_w),
                m.precision,
                m.recall,
                m.f1,
                pad_left(&m.support.to_string(), support_w)
            );
        }
        let _ = writeln!(out);
        let total = self.total();
        let _ = writeln!(
            out,
            "{}  {:>9}  {:>9}  {:>9.4}  {}",
            pad_left("accuracy", name_w),
            "",
            "",
            self.accuracy(),
            pad_left(&total.to_string(), support_w)
        );
        for (name, avg) in [
            ("macro avg", self.macro_avg()),
            ("weighted avg", self.weighted_avg()),
        ] {
            let _ = writeln!(
                out,
                "{}  {:>9.4}  {:>9.4}  {:>9.4}  {}",
                pad_left(name, name_w),
                avg.precision,
                avg.recall,
                avg.f1,
                pad_left(&total.to_string(), support_w)
            );
        }

        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "confusion matrix (rows: true class, columns: predicted)"
        );
        let max_count = self.counts.iter().copied().max().unwrap_or(0);
        let cell_w = max_count
            .to_string()
            .len()
            .max((self.classes.saturating_sub(1)).to_string().len());
        // Rows carry the number (the header's key) and the name, unless the
        // name is the number itself.
        let row_name = |c: usize| match class_names.and_then(|n| n.get(c)) {
            Some(name) if *name != c.to_string() => format!("{c} {name}"),
            _ => c.to_string(),
        };
        let row_w = (0..self.classes)
            .map(|c| row_name(c).chars().count())
            .max()
            .unwrap_or(0);
        let mut header = format!("{} ", pad_right("", row_w));
        for c in 0..self.classes {
            let _ = write!(header, " {}", pad_left(&c.to_string(), cell_w));
        }
        let _ = writeln!(out, "{}", header.trim_end());
        for (t, row) in self.rows().enumerate().take(self.classes) {
            let _ = write!(out, "{} ", pad_right(&row_name(t), row_w));
            for n in row {
                let _ = write!(out, " {}", pad_left(&n.to_string(), cell_w));
            }
            let _ = writeln!(out);
        }
        out
    }
}

/// `text` right-aligned in `width` characters (any width: `{:>w$}`
/// panics beyond `u16::MAX`).
fn pad_left(text: &str, width: usize) -> String {
    let fill = width.saturating_sub(text.chars().count());
    let mut out = String::with_capacity(fill + text.len());
    out.extend(std::iter::repeat_n(' ', fill));
    out.push_str(text);
    out
}

/// `text` left-aligned in `width` characters.
fn pad_right(text: &str, width: usize) -> String {
    let fill = width.saturating_sub(text.chars().count());
    let mut out = String::with_capacity(fill + text.len());
    out.push_str(text);
    out.extend(std::iter::repeat_n(' ', fill));
    out
}

/// One epoch of training, as printed, plotted and stored in
/// `metrics.json`. Validation values are `None` without a validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's samples.
    pub train_loss: f64,
    /// Fraction of training samples classified correctly (0..1); NaN
    /// (`null` in JSON) for regression targets, which have no classes.
    #[serde(with = "nan_as_null")]
    pub train_accuracy: f64,
    /// Loss on the validation split after the epoch.
    pub val_loss: Option<f64>,
    /// Fraction of the validation split classified correctly (0..1).
    pub val_accuracy: Option<f64>,
    /// The learning rate of the epoch's last step, when a schedule changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Training samples processed per second.
    pub samples_per_s: f64,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
}

/// A JSON file that could not be written.
#[derive(Debug, Error)]
#[error("{}: cannot write: {source}", path.display())]
pub struct SaveJsonError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes `value` as pretty-printed JSON to `path` (e.g. `metrics.json`),
/// atomically (temporary file, fsync, rename).
pub fn save_json(path: &Path, value: &impl Serialize) -> Result<(), SaveJsonError> {
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        w.write_all(b"\n")
    })
    .map_err(|source| SaveJsonError {
        path: path.to_path_buf(),
        source,
    })
}

/// An f64 that is NaN when it does not apply, written as JSON `null`
/// (JSON has no NaN) and read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        if value.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_f64(*value)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}
