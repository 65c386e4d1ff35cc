//! PyTorch's adaptive average pool where its windows differ in size,
//! which no TFLite pool computes: the window of output `o` along an axis
//! of `n` inputs covers inputs `floor(o·n/out)` up to `ceil((o+1)·n/out)`,
//! and the mean over a rectangle of them is the mean over its rows of the
//! mean over its columns. So each axis in turn: per output index, a
//! `STRIDED_SLICE` of its inputs, a `MEAN` along the axis (kept), and the
//! means joined by `CONCATENATION`.

use super::layout::Layout;
use super::ops::LayerCx;
use super::{Builder, Stored, dim};
use crate::tflite::model::{Activation, Op, TensorId};

impl Builder<'_> {
    pub(super) fn adaptive_average_pool(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        out: [usize; 2],
    ) -> Stored {
        let layout = Layout::channels_last(3);
        let image = self.convert(x, shape, &layout, &cx.name);
        let dims = [shape[1], shape[2], shape[0]];
        let rows_name = format!("{}.rows", cx.name);
        let rows = self.adaptive_axis(image, dims, 0, out[0], &rows_name);
        let tensor = self.adaptive_axis(rows, [out[0], dims[1], dims[2]], 1, out[1], &cx.name);
        Stored { tensor, layout }
    }

    /// Per-sample axis `axis` of an `[h, w, c]` image pooled to `out`.
    fn adaptive_axis(
        &mut self,
        x: TensorId,
        dims: [usize; 3],
        axis: usize,
        out: usize,
        name: &str,
    ) -> TensorId {
        let n = dims[axis];
        let mut means = Vec::with_capacity(out);
        for o in 0..out {
            let (start, end) = (o * n / out, ((o + 1) * n).div_ceil(out));
            let mut window = dims;
            window[axis] = end - start;
            let part = format!("{name}.{o}");
            let inputs = self.slice(x, 3, axis, start..end, false, &part, &window);
            let axes = self.i32_constant(&format!("{part}.axes"), &[dim(axis + 1)]);
            let mut mean = dims;
            mean[axis] = 1;
            let op = Op::Mean { keep_dims: true };
            let mean = self.push(
                op,
                vec![Some(inputs), Some(axes)],
                &format!("{part}.mean"),
                &mean,
            );
            means.push(Some(mean));
        }
        let mut joined = dims;
        joined[axis] = out;
        let op = Op::Concatenation {
            axis: dim(axis + 1),
            activation: Activation::None,
        };
        self.push(op, means, name, &joined)
    }
}
