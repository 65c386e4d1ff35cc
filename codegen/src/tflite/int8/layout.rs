//! Where a value's elements are: [`super::super::model`] stores a
//! per-sample `[C, H, W]` (or `[C, L]`) channels-last, every other rank in
//! nnspec's order. Reading a tensor as other dims (a view: `flatten`,
//! `reshape`) is a `RESHAPE` when both orders agree, and transposes
//! around it when they do not.

use super::super::float::Layout;
use super::super::float::layout::inverse;
use super::super::model::{Op, Tensor, TensorId};
use super::{Held, Int8};

/// How per-sample `dims` are stored: `[C, rest...]` as `[rest..., C]` for
/// ranks 2 and 3, as they are otherwise.
pub(super) fn stored_dims(dims: &[usize]) -> Vec<usize> {
    if channels_last(dims) {
        let mut stored = dims[1..].to_vec();
        stored.push(dims[0]);
        stored
    } else {
        dims.to_vec()
    }
}

/// Whether `dims` are stored channels-last (ranks 2 and 3).
pub(super) fn channels_last(dims: &[usize]) -> bool {
    (2..=3).contains(&dims.len())
}

/// Whether the stored order of `dims` differs from nnspec's row-major
/// order: channels-last with more than one channel and more than one
/// position.
pub(super) fn reordered(dims: &[usize]) -> bool {
    channels_last(dims) && dims[0] > 1 && dims[1..].iter().product::<usize>() > 1
}

/// For each element as stored, its index in nnspec's row-major order.
pub(super) fn nnspec_index_of_stored(dims: &[usize]) -> Vec<usize> {
    let total: usize = dims.iter().product();
    if !reordered(dims) {
        return (0..total).collect();
    }
    let channels = dims[0];
    let positions = total / channels;
    (0..total)
        .map(|stored| {
            let (position, channel) = (stored / channels, stored % channels);
            channel * positions + position
        })
        .collect()
}

impl Int8<'_> {
    /// `held`'s tensor as per-sample `dims` (same element count), stored
    /// as `dims` are: itself, a `RESHAPE`, or transposes around one.
    pub(super) fn relayout(&mut self, held: &Held, dims: &[usize]) -> TensorId {
        if held.dims == dims {
            return held.id;
        }
        let source = self.builder.tf.tensor(held.id).clone();
        // The same elements in the same order (`[C, L]` as the one-row
        // image `[C, 1, L]`, or anything with one channel): a RESHAPE.
        if nnspec_index_of_stored(&held.dims) == nnspec_index_of_stored(dims) {
            let stored = stored_dims(dims);
            if self.has_shape(held.id, &stored) {
                return held.id;
            }
            return self.reshape(
                held.id,
                &source,
                &stored,
                &format!("{}.reshaped", source.name),
            );
        }
        let base = source.name.clone();
        let mut current = held.id;
        // To nnspec's order, `[1, C, rest...]`.
        if reordered(&held.dims) {
            let rank = held.dims.len();
            let mut perm = vec![0, rank as i32];
            perm.extend(1..rank as i32);
            current = self.transpose(current, &source, &held.dims, &perm, &format!("{base}.nchw"));
        }
        if reordered(dims) {
            let rank = dims.len();
            if !self.has_shape(current, dims) {
                current = self.reshape(current, &source, dims, &format!("{base}.reshaped"));
            }
            // `[1, C, rest...]` to `[1, rest..., C]`.
            let mut perm = vec![0];
            perm.extend(2..=rank as i32);
            perm.push(1);
            let stored = stored_dims(dims);
            return self.transpose(current, &source, &stored, &perm, &format!("{base}.nhwc"));
        }
        let stored = stored_dims(dims);
        if !self.has_shape(current, &stored) {
            current = self.reshape(current, &source, &stored, &format!("{base}.reshaped"));
        }
        current
    }

    /// Whether `tensor`'s per-sample shape is `dims`.
    fn has_shape(&self, tensor: TensorId, dims: &[usize]) -> bool {
        let shape = &self.builder.tf.tensor(tensor).shape[1..];
        shape.iter().map(|&d| d as usize).eq(dims.iter().copied())
    }

    /// A float export's result `tensor`, a value of per-sample `dims`
    /// stored as `layout`, stored as [`stored_dims`] says (the boundary
    /// layout, which every tensor of this export keeps).
    pub(super) fn at_boundary(
        &mut self,
        tensor: TensorId,
        layout: &Layout,
        dims: &[usize],
        name: &str,
    ) -> TensorId {
        let boundary = Layout::boundary(dims.len());
        if *layout == boundary {
            return tensor;
        }
        let like = self.builder.tf.tensor(tensor).clone();
        let natural = match layout {
            Layout::Permuted(_) if layout.is_natural() => tensor,
            Layout::Permuted(perm) => {
                let mut full = vec![0];
                full.extend(inverse(perm).iter().map(|&a| a as i32 + 1));
                self.transpose(tensor, &like, dims, &full, &format!("{name}.natural"))
            }
            Layout::Flat { grid, perm } => {
                let stored: Vec<usize> = perm.iter().map(|&a| grid[a]).collect();
                let grid_stored = self.reshape(tensor, &like, &stored, &format!("{name}.grid"));
                let mut full = vec![0];
                full.extend(inverse(perm).iter().map(|&a| a as i32 + 1));
                let name = format!("{name}.natural");
                let moved = self.transpose(grid_stored, &like, grid, &full, &name);
                self.reshape(moved, &like, dims, &format!("{name}.reshaped"))
            }
        };
        // From nnspec's order to the boundary's.
        let held = Held {
            id: natural,
            dims: vec![dims.iter().product()],
        };
        self.relayout(&held, dims)
    }

    /// `RESHAPE` of `input` to per-sample `shape` (as stored), keeping
    /// `like`'s type and quantization; the batch axis stays free (-1).
    pub(super) fn reshape(
        &mut self,
        input: TensorId,
        like: &Tensor,
        shape: &[usize],
        name: &str,
    ) -> TensorId {
        let mut target = vec![-1i32];
        target.extend(shape.iter().map(|&d| d as i32));
        let shape_tensor = self.constant(Tensor::i32_constant(
            format!("{name}.shape"),
            &[target.len()],
            &target,
        ));
        let output = self.batched(name, shape, like.dtype, like.quantization.clone());
        self.builder.tf.push_operator(
            Op::Reshape,
            vec![Some(input), Some(shape_tensor)],
            vec![output],
        );
        output
    }

    /// `TRANSPOSE` of `input` by `perm` (over the batch axis too, which
    /// stays first) to per-sample `shape`.
    pub(super) fn transpose(
        &mut self,
        input: TensorId,
        like: &Tensor,
        shape: &[usize],
        perm: &[i32],
        name: &str,
    ) -> TensorId {
        let perm_tensor = self.constant(Tensor::i32_constant(
            format!("{name}.perm"),
            &[perm.len()],
            perm,
        ));
        let output = self.batched(name, shape, like.dtype, like.quantization.clone());
        self.builder.tf.push_operator(
            Op::Transpose,
            vec![Some(input), Some(perm_tensor)],
            vec![output],
        );
        output
    }
}
