//! Feature normalization, applied once when a data set is loaded.

use thiserror::Error;

/// How raw feature values become the model's inputs.
///
/// The arithmetic is done in `f32` in the same order as torchvision's
/// `ToTensor()` (`x / 255`) followed by `Normalize(mean, std)`
/// (`(x - mean) / std`), so the values are bit-identical to PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Normalization {
    /// Values as stored in the file.
    None,
    /// `x / max`, e.g. `max = 255` maps u8 pixels to [0, 1].
    Scale { max: f32 },
    /// `(x / scale - mean) / std`: the PyTorch tutorial's
    /// `ToTensor()` + `Normalize((0.5,), (0.5,))` is `scale = 255, mean = 0.5,
    /// std = 0.5`, mapping pixels to [-1, 1].
    Standardize { scale: f32, mean: f32, std: f32 },
}

/// A normalization that would produce infinities or NaNs.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum NormalizationError {
    #[error("normalization {0:?} divides by zero")]
    DivisionByZero(Normalization),
    #[error("normalization {0:?} has a non-finite parameter")]
    NotFinite(Normalization),
}

impl Normalization {
    /// The default for 8-bit pixels (IDX files): `(x / 255 - 0.5) / 0.5`,
    /// values in [-1, 1].
    pub const U8_PIXELS: Normalization = Normalization::symmetric(255.0);

    /// The default for the digits data set (pixel counts 0..16):
    /// `(x / 16 - 0.5) / 0.5`, values in [-1, 1].
    pub const DIGITS: Normalization = Normalization::symmetric(16.0);

    /// `(x / max - 0.5) / 0.5`: maps [0, max] to [-1, 1].
    pub const fn symmetric(max: f32) -> Normalization {
        Normalization::Standardize {
            scale: max,
            mean: 0.5,
            std: 0.5,
        }
    }

    /// Rejects parameters that would divide by zero or are not finite.
    pub fn validate(&self) -> Result<(), NormalizationError> {
        let params: &[f32] = match self {
            Normalization::None => &[],
            Normalization::Scale { max } => &[*max],
            Normalization::Standardize { scale, mean, std } => &[*scale, *mean, *std],
        };
        if params.iter().any(|p| !p.is_finite()) {
            return Err(NormalizationError::NotFinite(*self));
        }
        let divisors: &[f32] = match self {
            Normalization::None => &[],
            Normalization::Scale { max } => &[*max],
            Normalization::Standardize { scale, std, .. } => &[*scale, *std],
        };
        if divisors.contains(&0.0) {
            return Err(NormalizationError::DivisionByZero(*self));
        }
        Ok(())
    }

    /// The normalized value of `x`.
    #[inline]
    pub fn apply(&self, x: f32) -> f32 {
        match *self {
            Normalization::None => x,
            Normalization::Scale { max } => x / max,
            Normalization::Standardize { scale, mean, std } => (x / scale - mean) / std,
        }
    }

    /// Normalizes every value in place.
    pub fn apply_slice(&self, xs: &mut [f32]) {
        if *self == Normalization::None {
            return;
        }
        for x in xs {
            *x = self.apply(*x);
        }
    }

    /// The normalized value of every byte, for converting u8 data with a
    /// table lookup.
    pub fn u8_table(&self) -> [f32; 256] {
        std::array::from_fn(|i| self.apply(i as f32))
    }
}
