//! Token ids as data, for models whose input is `i64` (read by an
//! `embedding`).
//!
//! The loaders read token ids as they read features (CSV numbers, `.npy`
//! and `.npz` arrays of any integer type, or floats), into f32, which holds
//! every integer up to 2^24 exactly; nothing scales them. [`check_tokens`]
//! then refuses any value that is not an integer id in `0..num`, naming
//! the data, the sample (row) and the column, so no bad id reaches the
//! kernels.

use super::{DataError, Dataset};

/// Every feature of `features` (samples of `sample_len` values from
/// `source`) is an integer in `0..num`; the error names the first that is
/// not, by sample and column, both counted from 1.
pub fn check_tokens(
    features: &[f32],
    sample_len: usize,
    num: usize,
    source: &str,
) -> Result<(), DataError> {
    let sample_len = sample_len.max(1);
    let bad = features
        .iter()
        .position(|&v| nnspec_runtime_core::kernels::embedding::row(v, num).is_none());
    match bad {
        None => Ok(()),
        Some(index) => Err(DataError::BadToken {
            dataset: source.to_string(),
            sample: index / sample_len + 1,
            column: index % sample_len + 1,
            value: features[index],
            num,
        }),
    }
}

impl Dataset {
    /// [`check_tokens`] over this data set's features.
    pub fn check_tokens(&self, num: usize) -> Result<(), DataError> {
        check_tokens(&self.features, self.sample_len(), num, &self.source)
    }
}
