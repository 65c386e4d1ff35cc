//! How a value's elements are stored in its TFLite tensor.
//!
//! The export is free to store a value in whatever order suits the
//! operators that make and read it, as long as it knows the order: images
//! channels-last for `CONV_2D` and the pools, a flattened image in the
//! order the `RESHAPE` of an NHWC tensor leaves it (a dense layer reading
//! it absorbs the order into its weight's columns). A [`Layout`] records
//! the order; [`super::Builder::convert`] moves a value to another one
//! with `TRANSPOSE` and `RESHAPE` where nothing can absorb the difference.

/// The order of a value's elements in its tensor (after the batch axis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The tensor's per-sample axis `j` is the value's axis `perm[j]`
    /// (the identity: nnspec's own order).
    Permuted(Vec<usize>),
    /// A rank-1 value stored as the row-major elements of `grid`'s axes
    /// taken in the order `perm` (a flatten of a `[C, H, W]` value stored
    /// NHWC: `grid` `[C, H, W]`, `perm` `[1, 2, 0]`).
    Flat { grid: Vec<usize>, perm: Vec<usize> },
}

impl Layout {
    /// nnspec's own order for a value of rank `rank`.
    pub(crate) fn natural(rank: usize) -> Layout {
        Layout::Permuted((0..rank).collect())
    }

    /// Channels last (`[C, H, W]` as `[H, W, C]`, `[C, L]` as `[L, C]`).
    pub(crate) fn channels_last(rank: usize) -> Layout {
        let mut perm: Vec<usize> = (1..rank).collect();
        perm.push(0);
        Layout::Permuted(perm)
    }

    /// The layout of the model's inputs and outputs (model.rs): values of
    /// rank 2 and 3 channels-last, every other one in nnspec's order.
    pub(crate) fn boundary(rank: usize) -> Layout {
        match rank {
            2 | 3 => Layout::channels_last(rank),
            _ => Layout::natural(rank),
        }
    }

    pub(crate) fn is_natural(&self) -> bool {
        match self {
            Layout::Permuted(perm) => perm.iter().enumerate().all(|(j, &a)| j == a),
            Layout::Flat { .. } => false,
        }
    }

    /// The tensor's per-sample dims for a value of shape `shape`.
    pub(crate) fn tensor_dims(&self, shape: &[usize]) -> Vec<usize> {
        match self {
            Layout::Permuted(perm) => perm.iter().map(|&a| shape[a]).collect(),
            Layout::Flat { .. } => vec![shape.iter().product()],
        }
    }

    /// Where the value's axis `axis` is among the tensor's per-sample
    /// axes (`None` for a flat layout, which has no separate axes).
    pub(crate) fn tensor_axis(&self, axis: usize) -> Option<usize> {
        match self {
            Layout::Permuted(perm) => perm.iter().position(|&a| a == axis),
            Layout::Flat { .. } => None,
        }
    }

    /// For each element of the tensor (row-major, one sample), the index
    /// of the value's element it holds (row-major in nnspec's order).
    pub(crate) fn sources(&self, shape: &[usize]) -> Vec<usize> {
        match self {
            Layout::Permuted(perm) => permuted_sources(shape, perm),
            Layout::Flat { grid, perm } => permuted_sources(grid, perm),
        }
    }
}

/// For the row-major elements of `dims` transposed by `perm` (output axis
/// `j` is input axis `perm[j]`), the row-major index each came from.
pub(crate) fn permuted_sources(dims: &[usize], perm: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; dims.len()];
    for a in (0..dims.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * dims[a + 1];
    }
    let out_dims: Vec<usize> = perm.iter().map(|&a| dims[a]).collect();
    let total: usize = dims.iter().product();
    let mut sources = Vec::with_capacity(total);
    let mut index = vec![0; out_dims.len()];
    for _ in 0..total {
        let source: usize = index.iter().zip(perm).map(|(&i, &a)| i * strides[a]).sum();
        sources.push(source);
        // The next row-major index of the output.
        for j in (0..out_dims.len()).rev() {
            index[j] += 1;
            if index[j] < out_dims[j] {
                break;
            }
            index[j] = 0;
        }
    }
    sources
}

/// `values` (row-major `dims`) transposed by `perm`.
pub(crate) fn transpose(values: &[f32], dims: &[usize], perm: &[usize]) -> Vec<f32> {
    permuted_sources(dims, perm)
        .into_iter()
        .map(|s| values[s])
        .collect()
}

/// The permutation `q` with `q[perm[j]] = j`.
pub(crate) fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inverse = vec![0; perm.len()];
    for (j, &a) in perm.iter().enumerate() {
        inverse[a] = j;
    }
    inverse
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_last_reorders_an_image_hwc() {
        // [C=2, H=1, W=3]: c0 = 0 1 2, c1 = 3 4 5; HWC reads 0 3 1 4 2 5.
        let layout = Layout::channels_last(3);
        assert_eq!(layout.tensor_dims(&[2, 1, 3]), vec![1, 3, 2]);
        assert_eq!(layout.sources(&[2, 1, 3]), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(layout.tensor_axis(0), Some(2));
        let flat = Layout::Flat {
            grid: vec![2, 1, 3],
            perm: vec![1, 2, 0],
        };
        assert_eq!(flat.sources(&[6]), layout.sources(&[2, 1, 3]));
        assert_eq!(flat.tensor_dims(&[6]), vec![6]);
    }

    #[test]
    fn transpose_and_inverse_undo_each_other() {
        let values: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let perm = [2, 0, 1];
        let moved = transpose(&values, &[2, 3, 4], &perm);
        let back = transpose(&moved, &[4, 2, 3], &inverse(&perm));
        assert_eq!(back, values);
        assert_eq!(moved[1], 4.0, "the second element steps along axis 0");
        assert!(Layout::boundary(1).is_natural());
        assert!(!Layout::boundary(2).is_natural());
    }
}
