//! The embedded default data set: UCI optical recognition of handwritten
//! digits (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0), the 1797-sample copy
//! shipped with scikit-learn. See `runtime/assets/ATTRIBUTION.md`.
//!
//! Each sample is an 8x8 image of pixel counts 0..16, flattened to 64
//! features (sample shape `[64]`; use [`Dataset::reshape_to`] for
//! `[1, 8, 8]`), labelled 0..9. There is no test split: use
//! [`train_test_split`](super::train_test_split).

use super::{DataError, Dataset, Normalization, csv::parse_csv};

/// The gzip-compressed CSV, byte-identical to scikit-learn's
/// `sklearn/datasets/data/digits.csv.gz`.
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../assets/digits.csv.gz");

/// Number of samples in [`digits()`].
pub const DIGITS_SAMPLES: usize = 1797;

/// The digits data set with the default normalization
/// [`Normalization::DIGITS`], `(x / 16 - 0.5) / 0.5`, values in [-1, 1].
pub fn digits() -> Dataset {
    match digits_with(&Normalization::DIGITS) {
        Ok(ds) => ds,
        // The embedded data always parse (a test checks it).
        Err(e) => unreachable!("the embedded digits data set: {e}"),
    }
}

/// The digits data set normalized with `norm`
/// ([`Normalization::None`] gives the raw counts 0..16). Fails only when
/// `norm` divides by zero or is not finite.
pub fn digits_with(norm: &Normalization) -> Result<Dataset, DataError> {
    let mut ds = parse_csv(DIGITS_CSV_GZ, "digits.csv.gz (embedded)", norm)?;
    ds.source = "digits (UCI optical digits, embedded)".to_string();
    ds.class_names = Some((0..10).map(|d| d.to_string()).collect());
    ds.classes = 10;
    Ok(ds)
}
