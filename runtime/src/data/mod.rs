//! Data sets: loading, normalizing, splitting and batching.
//!
//! A [`Dataset`] holds every sample of one data set in memory as `f32`
//! features (already normalized, see [`Normalization`]) and `u32` class
//! labels. Loaders:
//!
//! - [`idx`]: MNIST / Fashion-MNIST files in the IDX format, gzip-compressed
//!   or raw; [`idx::load_dir`] opens the four standard files of a directory.
//! - [`csv`]: numeric features followed by an integer label per line, with an
//!   optional header (scikit-learn's `iris.csv` header style included).
//! - [`npy`], [`npz`]: NumPy `.npy` arrays and `.npz` archives (`x`/`y`,
//!   or Keras' `x_train`... with their own test split).
//! - [`png`]: PNG images as inference inputs, one file or a folder.
//! - [`digits()`]: the embedded default data set (UCI optical digits, 1797
//!   8x8 images), so examples run without any download.
//!
//! Every loader reports bad input as a [`DataError`] naming the file and
//! the place (byte offset, line and column, sample index); none panics on
//! malformed input.
//!
//! Data sets without a test split are split with [`train_test_split`]
//! (stratified, reproducible for a seed); epochs are shuffled with
//! [`epoch_permutation`] or [`refill_permutation`].

pub mod csv;
mod csv_targets;
pub mod digits;
pub mod fingerprint;
pub mod idx;
pub mod normalize;
pub mod npy;
pub mod npz;
pub mod png;
mod split;
mod targets;
pub mod tokens;

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

pub use csv::CsvError;
pub use csv_targets::{TargetColumn, load_csv_targets, parse_csv_targets};
pub use digits::{digits, digits_with};
pub use idx::IdxError;
pub use normalize::{Normalization, NormalizationError};
pub use npy::NpyError;
pub use png::PngError;
pub use split::{epoch_permutation, refill_permutation, train_test_split, validation_split};
pub use targets::TargetValues;

/// Largest label the text loaders accept (so at most 65536 classes). A
/// bigger "label" almost always means the label is not the last column.
pub const MAX_LABEL: u32 = 65_535;

/// A whole data set in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// `len() × sample_len()` values, one sample after another (row-major).
    pub features: Vec<f32>,
    /// One class index per sample, each `< classes`.
    pub labels: Vec<u32>,
    /// The shape of one sample, e.g. `[1, 28, 28]` for MNIST (PyTorch's
    /// channels-first layout) or `[64]` for the digits CSV.
    pub sample_shape: Vec<usize>,
    /// Number of classes: the length of `class_names` when there are names,
    /// otherwise the largest label plus one.
    pub classes: usize,
    /// Human-readable class names, when the source provides them.
    pub class_names: Option<Vec<String>>,
    /// Where the data came from (a path or a description), for messages.
    pub source: String,
    /// Where the labels came from, when not from `source` (an IDX labels
    /// file), so that a message about a label names the labels file.
    pub labels_source: Option<String>,
    /// Float targets (regression, multi-label), when the data set has them
    /// ([`Dataset::with_targets`]); its labels are then all 0, one class.
    pub targets: Option<TargetValues>,
}

/// A training set and a test set.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}

/// Everything that can go wrong loading or preparing a data set.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{file}: corrupt gzip data (after {decompressed} decompressed bytes): {source}")]
    Gzip {
        file: String,
        decompressed: u64,
        #[source]
        source: io::Error,
    },
    #[error("{file}: {error}")]
    Idx {
        file: String,
        #[source]
        error: IdxError,
    },
    #[error("{file}: {error}")]
    Csv {
        file: String,
        #[source]
        error: CsvError,
    },
    #[error("{file}: {error}")]
    Npy {
        file: String,
        #[source]
        error: NpyError,
    },
    #[error("{file}: {error}")]
    Png {
        file: String,
        #[source]
        error: PngError,
    },
    #[error(
        "{}: missing data file(s) {}; looked for {}",
        dir.display(),
        missing.join(", "),
        looked_for.join(", ")
    )]
    MissingFiles {
        dir: PathBuf,
        /// The standard names (without `.gz`) that were not found.
        missing: Vec<String>,
        /// Every file name tried, in order.
        looked_for: Vec<String>,
    },
    #[error(
        "both {} and {} exist; remove the one that is not current",
        raw.display(),
        gz.display()
    )]
    BothForms { raw: PathBuf, gz: PathBuf },
    #[error(
        "{images} holds {image_count} images but {labels} holds {label_count} labels; \
         the two files must describe the same samples"
    )]
    CountMismatch {
        images: String,
        image_count: usize,
        labels: String,
        label_count: usize,
    },
    #[error(
        "{dataset}: samples have shape {} ({from_len} values), which cannot be \
         reshaped to the model's input shape {} ({to_len} values)",
        Shape(from),
        Shape(to)
    )]
    Reshape {
        dataset: String,
        from: Vec<usize>,
        from_len: usize,
        to: Vec<usize>,
        to_len: usize,
    },
    #[error(
        "{dataset}: sample {index} has label {label}, but there are only {classes} classes \
         (labels 0..{classes})"
    )]
    LabelOutOfRange {
        dataset: String,
        index: usize,
        label: u32,
        classes: usize,
    },
    #[error("{dataset}: {error}")]
    Normalization {
        dataset: String,
        #[source]
        error: NormalizationError,
    },
    #[error(
        "{dataset}: sample {sample} (row {sample} of the data), column {column}: {value} is \
         not a token id; the model's embedding takes integers in 0..{num}"
    )]
    BadToken {
        dataset: String,
        sample: usize,
        column: usize,
        value: f32,
        num: usize,
    },
    #[error("{dataset}: inconsistent data set: {reason}")]
    Inconsistent { dataset: String, reason: String },
    #[error(
        "{dataset}: {part} fraction {fraction} must be strictly between 0 and 1 \
         (it selects the share of samples held out for {part})"
    )]
    BadTestFraction {
        dataset: String,
        /// What the held-out part is for: `test` or `validation`.
        part: &'static str,
        fraction: f64,
    },
    #[error(
        "{dataset}: splitting {samples} samples with {part} fraction {fraction} leaves \
         {train} training and {test} {part} samples; both need at least one"
    )]
    EmptySplit {
        dataset: String,
        part: &'static str,
        samples: usize,
        fraction: f64,
        train: usize,
        test: usize,
    },
}

/// Formats a shape as `[1, 28, 28]`.
pub(crate) struct Shape<'a>(pub &'a [usize]);

impl fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl Dataset {
    /// A data set from its parts, checking that they agree: `features` holds
    /// `labels.len() × product(sample_shape)` values, every label is below
    /// `classes`, and `class_names` (if any) has `classes` entries.
    pub fn new(
        features: Vec<f32>,
        labels: Vec<u32>,
        sample_shape: Vec<usize>,
        classes: usize,
        class_names: Option<Vec<String>>,
        source: impl Into<String>,
    ) -> Result<Dataset, DataError> {
        let source = source.into();
        let sample_len = sample_shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d));
        let inconsistent = |reason: String| DataError::Inconsistent {
            dataset: source.clone(),
            reason,
        };
        let Some(sample_len) = sample_len.filter(|&n| n > 0) else {
            return Err(inconsistent(format!(
                "sample shape {} holds no values",
                Shape(&sample_shape)
            )));
        };
        if labels.len().checked_mul(sample_len) != Some(features.len()) {
            return Err(inconsistent(format!(
                "{} features are not {} samples of shape {}",
                features.len(),
                labels.len(),
                Shape(&sample_shape)
            )));
        }
        if let Some(names) = &class_names
            && names.len() != classes
        {
            return Err(inconsistent(format!(
                "{} class names for {classes} classes",
                names.len()
            )));
        }
        let ds = Dataset {
            features,
            labels,
            sample_shape,
            classes,
            class_names,
            source,
            labels_source: None,
            targets: None,
        };
        ds.check_classes(classes)?;
        Ok(ds)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per sample: the product of `sample_shape`.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The features of sample `index`.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn sample(&self, index: usize) -> &[f32] {
        let n = self.sample_len();
        &self.features[index * n..(index + 1) * n]
    }

    /// The name of class `class`, or its number when there are no names.
    pub fn class_name(&self, class: usize) -> String {
        match &self.class_names {
            Some(names) if class < names.len() => names[class].clone(),
            _ => class.to_string(),
        }
    }

    /// How many samples each class has (`classes` entries).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// Copies the samples `indices` (in that order) into `x_out`
    /// (`indices.len() × sample_len()` values) and their labels into `y_out`.
    /// Allocates nothing; the training loop calls it once per batch.
    ///
    /// # Panics
    /// If an index is out of range or the output lengths do not match
    /// `indices.len()`: these are programming errors, not bad data.
    pub fn gather_batch(&self, indices: &[usize], x_out: &mut [f32], y_out: &mut [u32]) {
        let n = self.sample_len();
        assert_eq!(
            x_out.len(),
            indices.len() * n,
            "gather_batch: x_out holds {} values, {} samples of {n} need {}",
            x_out.len(),
            indices.len(),
            indices.len() * n
        );
        assert_eq!(
            y_out.len(),
            indices.len(),
            "gather_batch: y_out holds {} labels for {} samples",
            y_out.len(),
            indices.len()
        );
        for ((&i, x), y) in indices.iter().zip(x_out.chunks_exact_mut(n)).zip(y_out) {
            assert!(
                i < self.len(),
                "gather_batch: sample index {i} out of range for {} ({} samples)",
                self.source,
                self.len()
            );
            x.copy_from_slice(&self.features[i * n..(i + 1) * n]);
            *y = self.labels[i];
        }
    }

    /// Gives every sample the shape `shape` (e.g. `[784]` to `[1, 28, 28]`)
    /// when the number of values agrees; the data are not moved.
    pub fn reshape_to(&mut self, shape: &[usize]) -> Result<(), DataError> {
        let from_len = self.sample_len();
        let to_len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if to_len != Some(from_len) {
            return Err(DataError::Reshape {
                dataset: self.source.clone(),
                from: self.sample_shape.clone(),
                from_len,
                to: shape.to_vec(),
                to_len: to_len.unwrap_or(usize::MAX),
            });
        }
        self.sample_shape = shape.to_vec();
        Ok(())
    }

    /// Checks that every label is below `classes` (e.g. the model's number
    /// of outputs); the error names the first offending sample.
    pub fn check_classes(&self, classes: usize) -> Result<(), DataError> {
        match self.labels.iter().position(|&l| l as usize >= classes) {
            None => Ok(()),
            Some(index) => Err(DataError::LabelOutOfRange {
                dataset: self.labels_source().to_string(),
                index,
                label: self.labels[index],
                classes,
            }),
        }
    }

    /// Where the labels came from: the labels file, or `source`.
    pub fn labels_source(&self) -> &str {
        self.labels_source.as_deref().unwrap_or(&self.source)
    }

    /// A new data set of the samples `indices` (in that order), with the
    /// same shape, classes and names.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn subset(&self, indices: &[usize], source: impl Into<String>) -> Dataset {
        let n = self.sample_len();
        let mut features = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            features.extend_from_slice(self.sample(i));
            labels.push(self.labels[i]);
        }
        Dataset {
            features,
            labels,
            sample_shape: self.sample_shape.clone(),
            classes: self.classes,
            class_names: self.class_names.clone(),
            source: source.into(),
            labels_source: self.labels_source.clone(),
            targets: self.targets.as_ref().map(|t| t.subset(indices)),
        }
    }
}

/// Gzip streams start with these two bytes (RFC 1952).
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The bytes of a possibly gzip-compressed buffer, decompressed (all
/// members of a multi-member stream).
pub(crate) fn decompress_all(bytes: &[u8], file: &str) -> Result<Vec<u8>, DataError> {
    use std::io::Read;
    if !is_gzip(bytes) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4));
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            file: file.to_string(),
            decompressed: out.len() as u64,
            source,
        })?;
    Ok(out)
}
