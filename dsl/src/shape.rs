//! What the ops' shape rules share: the error type, checked element
//! counts, PyTorch's window formula, axes.
//!
//! Each op's own rule lives in its module (`crate::ops`). Rules are pure
//! functions from input shapes and resolved arguments to a shape or a
//! [`ShapeError`] that says what went wrong with numbers; the checker adds
//! the source locations. All arithmetic is checked: no input overflows.

use crate::ir::Shape;

/// The largest number of elements a per-sample value (or a parameter) may
/// have: 2^32. Larger tensors are certainly mistakes here, and the bound keeps
/// every later size computation far from overflow.
pub const MAX_ELEMENTS: u128 = 1 << 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// The input has the wrong rank; `expected` reads like `[channels, height, width]`.
    Rank {
        expected: &'static str,
        found: Shape,
    },
    /// A convolution or pooling window does not fit: the output would be empty.
    Empty { axis: &'static str, formula: String },
    /// Pooling padding above half the kernel (PyTorch rejects it too).
    PaddingTooLarge { padding: usize, kernel: usize },
    /// More than [`MAX_ELEMENTS`] elements.
    TooLarge { what: &'static str, dims: Vec<u128> },
    /// `reshape` to a shape with another element count.
    ReshapeCount { from: Shape, to: Vec<i64> },
    /// An axis outside `-rank..rank`.
    Axis { axis: i64, rank: usize },
    /// Attention heads that do not divide the features.
    HeadsDivide { heads: usize, features: usize },
    /// A count the argument `arg` must divide and does not (`conv2d`'s
    /// `groups` and its channels): `what` is "input channels".
    NotDivisible {
        what: &'static str,
        value: usize,
        arg: &'static str,
        divisor: usize,
    },
}

/// Checks an element count against [`MAX_ELEMENTS`].
pub fn checked_shape(what: &'static str, dims: &[u128]) -> Result<Shape, ShapeError> {
    let mut elements: u128 = 1;
    for &d in dims {
        elements = elements.saturating_mul(d);
    }
    if elements > MAX_ELEMENTS || dims.iter().any(|&d| d > MAX_ELEMENTS) {
        return Err(ShapeError::TooLarge {
            what,
            dims: dims.to_vec(),
        });
    }
    Ok(Shape(dims.iter().map(|&d| d as usize).collect()))
}

pub(crate) fn expect_rank(
    input: &Shape,
    rank: usize,
    expected: &'static str,
) -> Result<(), ShapeError> {
    if input.rank() == rank {
        Ok(())
    } else {
        Err(ShapeError::Rank {
            expected,
            found: input.clone(),
        })
    }
}

/// One spatial axis of a convolution or pooling window:
/// `floor((in + 2·pad - dilation·(kernel-1) - 1) / stride) + 1`.
pub(crate) fn window_out(
    axis: &'static str,
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Result<u128, ShapeError> {
    let padded = input as u128 + 2 * padding as u128;
    let span = dilation as u128 * (kernel as u128 - 1) + 1;
    if padded < span {
        let formula = if dilation == 1 {
            format!("{input} + 2·{padding} padding < kernel {kernel}")
        } else {
            format!(
                "{input} + 2·{padding} padding < dilated kernel {dilation}·({kernel}-1)+1 = {span}"
            )
        };
        return Err(ShapeError::Empty { axis, formula });
    }
    Ok((padded - span) / stride as u128 + 1)
}

/// Resolves an axis written against a shape of `rank` (negative from the end).
pub fn axis(axis: i64, rank: usize) -> Result<usize, ShapeError> {
    let resolved = if axis < 0 { axis + rank as i64 } else { axis };
    if (0..rank as i64).contains(&resolved) {
        Ok(resolved as usize)
    } else {
        Err(ShapeError::Axis { axis, rank })
    }
}

/// `[outer, axis_len, inner]` of a per-sample shape split at `axis`.
pub(crate) fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_shapes_are_errors_not_overflows() {
        assert!(checked_shape("x", &[1 << 20, 1 << 20]).is_err());
        assert!(checked_shape("x", &[u128::MAX, 0]).is_err());
    }

    #[test]
    fn axes_count_from_the_end() {
        assert_eq!(axis(-1, 3), Ok(2));
        assert_eq!(axis(0, 3), Ok(0));
        assert_eq!(axis(3, 3), Err(ShapeError::Axis { axis: 3, rank: 3 }));
        assert_eq!(axis(-4, 3), Err(ShapeError::Axis { axis: -4, rank: 3 }));
    }
}
