//! Shape rules: the per-sample output shape of every op, by PyTorch's formulas.
//!
//! Pure functions from input shapes and resolved arguments to a shape or a
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

fn expect_rank(input: &Shape, rank: usize, expected: &'static str) -> Result<(), ShapeError> {
    if input.rank() == rank {
        Ok(())
    } else {
        Err(ShapeError::Rank {
            expected,
            found: input.clone(),
        })
    }
}

/// `nn.Linear`: `[in] -> [out]`.
pub fn dense(input: &Shape, out_features: usize) -> Result<Shape, ShapeError> {
    expect_rank(input, 1, "[in_features]")?;
    checked_shape("output", &[out_features as u128])
}

/// `nn.Linear` parameter shapes: weight `[out, in]`, bias `[out]`.
pub fn dense_params(input: &Shape, out_features: usize) -> Result<(Shape, Shape), ShapeError> {
    let weight = checked_shape("weight", &[out_features as u128, input.0[0] as u128])?;
    Ok((weight, Shape(vec![out_features])))
}

/// One spatial axis of a convolution or pooling window:
/// `floor((in + 2·pad - dilation·(kernel-1) - 1) / stride) + 1`.
fn window_out(
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

/// `nn.Conv2d` on `[C, H, W]`.
pub fn conv2d(
    input: &Shape,
    out_channels: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
) -> Result<Shape, ShapeError> {
    expect_rank(input, 3, "[channels, height, width]")?;
    let h = window_out(
        "height",
        input.0[1],
        kernel[0],
        stride[0],
        padding[0],
        dilation[0],
    )?;
    let w = window_out(
        "width",
        input.0[2],
        kernel[1],
        stride[1],
        padding[1],
        dilation[1],
    )?;
    checked_shape("output", &[out_channels as u128, h, w])
}

/// `nn.Conv2d` parameter shapes: weight `[out, in, kh, kw]`, bias `[out]`.
pub fn conv2d_params(
    input: &Shape,
    out_channels: usize,
    kernel: [usize; 2],
) -> Result<(Shape, Shape), ShapeError> {
    let weight = checked_shape(
        "weight",
        &[
            out_channels as u128,
            input.0[0] as u128,
            kernel[0] as u128,
            kernel[1] as u128,
        ],
    )?;
    Ok((weight, Shape(vec![out_channels])))
}

/// `nn.MaxPool2d` / `nn.AvgPool2d` on `[C, H, W]` (dilation 1, floor mode).
pub fn pool2d(
    input: &Shape,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<Shape, ShapeError> {
    expect_rank(input, 3, "[channels, height, width]")?;
    for axis in 0..2 {
        if padding[axis] > kernel[axis] / 2 {
            return Err(ShapeError::PaddingTooLarge {
                padding: padding[axis],
                kernel: kernel[axis],
            });
        }
    }
    let h = window_out("height", input.0[1], kernel[0], stride[0], padding[0], 1)?;
    let w = window_out("width", input.0[2], kernel[1], stride[1], padding[1], 1)?;
    checked_shape("output", &[input.0[0] as u128, h, w])
}

/// `nn.Flatten()`: `[d0, d1, ...] -> [d0·d1·...]`.
pub fn flatten(input: &Shape) -> Result<Shape, ShapeError> {
    Ok(Shape(vec![input.elements()]))
}

/// A new per-sample shape with the same element count; one dim may be -1.
pub fn reshape(input: &Shape, target: &[i64]) -> Result<Shape, ShapeError> {
    let count_error = || ShapeError::ReshapeCount {
        from: input.clone(),
        to: target.to_vec(),
    };
    let known: u128 = target
        .iter()
        .filter(|&&d| d > 0)
        .fold(1u128, |acc, &d| acc.saturating_mul(d as u128));
    let elements = input.elements() as u128;
    let dims: Vec<u128> = if target.contains(&-1) {
        if known == 0 || !elements.is_multiple_of(known) {
            return Err(count_error());
        }
        target
            .iter()
            .map(|&d| if d == -1 { elements / known } else { d as u128 })
            .collect()
    } else {
        if known != elements {
            return Err(count_error());
        }
        target.iter().map(|&d| d as u128).collect()
    };
    checked_shape("output", &dims)
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

/// BatchNorm on `[C]`, `[C, L]` (BatchNorm1d) or `[C, H, W]` (BatchNorm2d):
/// the shape is unchanged, the parameters are per channel.
pub fn batchnorm(input: &Shape) -> Result<Shape, ShapeError> {
    if (1..=3).contains(&input.rank()) {
        Ok(input.clone())
    } else {
        Err(ShapeError::Rank {
            expected: "[features], [channels, length] or [channels, height, width]",
            found: input.clone(),
        })
    }
}

/// `torch.cat` along a per-sample axis: every other dim must agree; the
/// checker has verified that. Returns the joined shape.
pub fn concat(inputs: &[&Shape], axis: usize) -> Result<Shape, ShapeError> {
    let mut dims: Vec<u128> = inputs[0].0.iter().map(|&d| d as u128).collect();
    dims[axis] = inputs.iter().map(|s| s.0[axis] as u128).sum();
    checked_shape("output", &dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(dims: &[usize]) -> Shape {
        Shape(dims.to_vec())
    }

    #[test]
    fn window_arithmetic_matches_pytorch() {
        // nn.Conv2d(1, 6, 5, padding=2) on 28x28 keeps 28x28.
        assert_eq!(
            conv2d(&s(&[1, 28, 28]), 6, [5, 5], [1, 1], [2, 2], [1, 1]),
            Ok(s(&[6, 28, 28]))
        );
        // floor((7 + 2 - 2·2 - 1)/2) + 1 = 3
        assert_eq!(
            conv2d(&s(&[3, 7, 7]), 4, [3, 3], [2, 2], [1, 1], [2, 2]),
            Ok(s(&[4, 3, 3]))
        );
        assert!(matches!(
            conv2d(&s(&[3, 4, 4]), 4, [5, 5], [1, 1], [0, 0], [1, 1]),
            Err(ShapeError::Empty { .. })
        ));
        assert_eq!(
            pool2d(&s(&[6, 28, 28]), [2, 2], [2, 2], [0, 0]),
            Ok(s(&[6, 14, 14]))
        );
        assert!(matches!(
            pool2d(&s(&[6, 28, 28]), [2, 2], [2, 2], [2, 2]),
            Err(ShapeError::PaddingTooLarge { .. })
        ));
    }

    #[test]
    fn reshape_infers_one_dim() {
        assert_eq!(reshape(&s(&[784]), &[1, 28, -1]), Ok(s(&[1, 28, 28])));
        assert!(reshape(&s(&[784]), &[5, -1]).is_err());
        assert!(reshape(&s(&[784]), &[2, 2]).is_err());
    }

    #[test]
    fn huge_shapes_are_errors_not_overflows() {
        assert!(matches!(
            dense(&s(&[1]), usize::MAX),
            Err(ShapeError::TooLarge { .. })
        ));
        assert!(checked_shape("x", &[1 << 20, 1 << 20]).is_err());
        let big = usize::MAX / 2;
        assert!(conv2d(&s(&[1, big, big]), 1, [1, 1], [1, 1], [big, big], [1, 1]).is_err());
    }
}
