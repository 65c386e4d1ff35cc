//! 2-D convolution with PyTorch `nn.Conv2d` semantics; groups other than
//! 1 in `grouped` (and its `depthwise` kernel).
//!
//! Forward and backward lower to matrix products over an im2col matrix:
//! for one image the receptive fields become the columns of a `K×P` matrix
//! (`K = in_channels·kh·kw`, `P = out_h·out_w`), so the convolution is
//! `y = W·cols`, `dW = dy·colsᵀ` and `dcols = Wᵀ·dy`. Three ways to get
//! `cols`:
//!
//! * a 1×1 kernel with stride 1 and no padding needs none: the image
//!   already is that matrix;
//! * stride 1 on the AVX2 and AVX-512 tiers: the products read windows of
//!   the padded input in place ([`wide`]), for `y` and `dW`;
//! * otherwise (and for `dcols`) [`im2col`] builds it and `col2im` folds
//!   `dcols` back.
//!
//! The batch is split over threads when there are at least as many images
//! as threads (each worker then runs single-threaded sgemms on its own
//! images, so im2col/col2im run in parallel too); otherwise images go one by
//! one and sgemm gets all the threads. On two cores the batch split gave
//! 1.8-1.9× (e.g. 64 images, 32→64 channels, 16×16, 3×3: forward 3.2 →
//! 1.8 ms) while handing both threads to sgemm image by image never beat
//! it (2.3-2.6 ms there).

use alloc::vec::Vec;

use crate::gemm::{Trans, sgemm, sgemm_windows_nn};
use crate::threads::{Threads, run_items_with};

mod backward;
mod depthwise;
mod grouped;
mod im2col;
mod runs;
mod wide;

pub use backward::{backward_scratch_len, conv2d_backward, conv2d_backward_in};
pub use grouped::{
    GroupedConv2dGeometry, grouped_backward_scratch_len, grouped_conv2d_backward,
    grouped_conv2d_backward_in, grouped_conv2d_forward, grouped_conv2d_forward_in,
    grouped_conv2d_relu_forward_in, grouped_forward_scratch_len,
};

use im2col::im2col;
use wide::Wide;

/// Shapes and hyper-parameters of one convolution.
///
/// Pairs (`kernel`, `stride`, `padding`, `dilation`) are `[height, width]`.
/// Padding is symmetric zero padding, as `nn.Conv2d(padding=(ph, pw))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

impl Conv2dGeometry {
    /// `floor((in_h + 2·pad - dil·(k - 1) - 1) / stride) + 1`, PyTorch's formula.
    ///
    /// Panics when the dilated kernel does not fit in the padded input.
    pub fn out_h(&self) -> usize {
        out_len(
            self.in_h,
            self.kernel[0],
            self.stride[0],
            self.padding[0],
            self.dilation[0],
        )
    }

    /// Like [`Self::out_h`] along the width.
    pub fn out_w(&self) -> usize {
        out_len(
            self.in_w,
            self.kernel[1],
            self.stride[1],
            self.padding[1],
            self.dilation[1],
        )
    }

    /// Elements of `x` / `dx`: `batch·in_channels·in_h·in_w`.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.in_h * self.in_w
    }

    /// Elements of `y` / `dy`: `batch·out_channels·out_h·out_w`.
    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_h() * self.out_w()
    }

    /// Elements of the weight: `out_channels·in_channels·kh·kw`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.col_rows()
    }

    /// Panics with a message naming the problem unless every size is
    /// positive (the batch may be 0) and the output is at least 1×1.
    pub fn validate(&self) {
        assert!(
            self.in_channels > 0 && self.out_channels > 0 && self.in_h > 0 && self.in_w > 0,
            "conv2d: channels and input size must be positive: {self:?}"
        );
        assert!(
            self.kernel
                .iter()
                .chain(&self.stride)
                .chain(&self.dilation)
                .all(|&v| v > 0),
            "conv2d: kernel, stride and dilation must be positive: {self:?}"
        );
        self.out_h();
        self.out_w();
    }

    /// Rows of the im2col matrix.
    pub(super) fn col_rows(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }

    /// The input plane already is the im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Floats of one image's im2col matrix (0 when none is needed).
    fn im2col_len(&self) -> usize {
        if self.is_pointwise() {
            0
        } else {
            self.col_rows() * self.out_h() * self.out_w()
        }
    }
}

fn out_len(input: usize, kernel: usize, stride: usize, pad: usize, dilation: usize) -> usize {
    let span = dilation * (kernel - 1) + 1;
    let padded = input + 2 * pad;
    assert!(
        padded >= span && stride > 0,
        "conv2d: dilated kernel {span} larger than padded input {padded}"
    );
    (padded - span) / stride + 1
}

/// `y = conv2d(x, weight) + bias`.
///
/// Shapes: `x` `[batch, in_channels, in_h, in_w]`, `weight`
/// `[out_channels, in_channels, kh, kw]`, `bias` `[out_channels]`, `y`
/// `[batch, out_channels, out_h, out_w]` (overwritten). `scratch` holds the
/// im2col matrices between calls; it grows to the largest size needed and is
/// never shrunk, so a caller that keeps it does not allocate in steady state.
pub fn conv2d_forward(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut Vec<f32>,
    par: &dyn Threads,
) {
    grow(scratch, forward_scratch_len(g, par.threads()));
    conv2d_forward_in(g, x, weight, bias, y, scratch, par);
}

/// Floats of scratch [`conv2d_forward_in`] needs for `g` on `threads` threads.
pub fn forward_scratch_len(g: &Conv2dGeometry, threads: usize) -> usize {
    let workers = BatchSplit::with_threads(g.batch, threads).workers;
    let (table, per_worker) = forward_scratch_layout(g);
    table + workers * per_worker.max(1)
}

/// The forward scratch: floats for the shared table of window starts, and
/// per worker. Enough for either path, so the size does not depend on the
/// kernel tier.
fn forward_scratch_layout(g: &Conv2dGeometry) -> (usize, usize) {
    let cols_len = g.im2col_len();
    match Wide::layout(g) {
        Some(w) => (g.col_rows(), cols_len.max(w.input_len(g) + w.output_len(g))),
        None => (0, cols_len),
    }
}

/// The window starts of `wide` (when given) in the first `K` floats of
/// `scratch`, viewed as `u32`s; the rest of the scratch.
fn window_starts<'s>(
    g: &Conv2dGeometry,
    wide: Option<&Wide>,
    table_len: usize,
    scratch: &'s mut [f32],
) -> (&'s [u32], &'s mut [f32]) {
    let (table, rest) = scratch.split_at_mut(table_len);
    // SAFETY: `u32` and `f32` have the same size and alignment, and every
    // bit pattern is valid for both; `table` is borrowed for the view's life.
    let table: &mut [u32] =
        unsafe { core::slice::from_raw_parts_mut(table.as_mut_ptr().cast(), table.len()) };
    match wide {
        Some(w) => {
            w.starts(g, table);
            (table, rest)
        }
        None => (&[], rest),
    }
}

/// [`conv2d_forward`] with caller-provided scratch of at least
/// [`forward_scratch_len`] floats, so it does not allocate.
pub fn conv2d_forward_in(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    forward(g, x, weight, bias, false, y, scratch, par);
}

/// [`conv2d_forward_in`] followed by a relu, `y = max(conv2d(x), 0)`,
/// applied to each image's output while it is still in cache (the same
/// values as `relu::forward` after the convolution).
pub fn conv2d_relu_forward_in(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    forward(g, x, weight, bias, true, y, scratch, par);
}

#[allow(clippy::too_many_arguments)]
fn forward(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    g.validate();
    assert_eq!(x.len(), g.input_len(), "conv2d_forward: x length");
    assert_eq!(
        weight.len(),
        g.weight_len(),
        "conv2d_forward: weight length"
    );
    assert_eq!(y.len(), g.output_len(), "conv2d_forward: y length");
    if let Some(b) = bias {
        assert_eq!(b.len(), g.out_channels, "conv2d_forward: bias length");
    }
    if g.batch == 0 {
        return;
    }
    let (k, p) = (g.col_rows(), g.out_h() * g.out_w());
    let x_img = g.in_channels * g.in_h * g.in_w;
    let y_img = g.out_channels * p;
    let split = BatchSplit::new(g.batch, par);
    let cols_len = g.im2col_len();
    let (table_len, per_worker) = forward_scratch_layout(g);
    // `max(1)` keeps `chunks_mut` legal when no scratch is needed.
    let stride = per_worker.max(1);
    assert!(
        scratch.len() >= table_len + split.workers * stride,
        "conv2d_forward: scratch shorter than forward_scratch_len"
    );
    let wide = Wide::of(g);
    let (starts, scratch) = window_starts(g, wide.as_ref(), table_len, scratch);

    let run = |xs: &[f32], ys: &mut [f32], buf: &mut [f32], gemm_par: &dyn Threads| {
        for (xn, yn) in xs.chunks_exact(x_img).zip(ys.chunks_exact_mut(y_img)) {
            if let Some(w) = &wide {
                let (padded, out) = buf.split_at_mut(w.input_len(g));
                let out = &mut out[..w.output_len(g)];
                w.pad_input(g, xn, padded);
                sgemm_windows_nn(
                    g.out_channels,
                    w.cols,
                    k,
                    weight,
                    padded,
                    starts,
                    out,
                    false,
                    gemm_par,
                );
                w.narrow_output(g, out, bias, relu, yn);
                continue;
            }
            let cols = &mut *buf;
            let b: &[f32] = if cols_len == 0 {
                xn
            } else {
                im2col(g, xn, cols);
                cols
            };
            // Seeding y with the bias lets sgemm add the product in its own pass.
            if let Some(bias) = bias {
                for (row, &v) in yn.chunks_exact_mut(p).zip(bias) {
                    row.fill(v);
                }
            }
            sgemm(
                g.out_channels,
                p,
                k,
                weight,
                Trans::No,
                b,
                Trans::No,
                yn,
                bias.is_some(),
                gemm_par,
            );
            if relu {
                crate::kernels::activation::relu::forward_inplace(yn);
            }
        }
    };

    let per = split.images_per_item;
    let items = x.chunks(per * x_img).zip(y.chunks_mut(per * y_img));
    if split.workers == 1 {
        let buf = scratch.chunks_mut(stride).next().expect("scratch");
        for (xs, ys) in items {
            run(xs, ys, buf, par);
        }
    } else {
        let buffers = scratch.chunks_mut(stride).take(split.workers);
        run_items_with(par, items, buffers, |(xs, ys), buf| {
            run(xs, ys, buf, &crate::threads::Serial)
        });
    }
}

/// How the batch is divided: `workers` threads take items of up to
/// `images_per_item` consecutive images from a shared queue, about
/// [`ITEMS_PER_WORKER`] each.
struct BatchSplit {
    workers: usize,
    images_per_item: usize,
}

/// Items per worker thread. More than one, so a thread slowed down by
/// something else on its core leaves its remaining items to the others
/// (on the 2-vCPU test machine one vCPU sometimes runs at about half speed
/// for seconds at a time; with one item per thread a step then took as
/// long as on one thread). Each image of an item is independent in the
/// forward pass; the backward pass sums weight gradients per item and
/// adds the items in order, so results do not depend on which thread ran
/// what.
const ITEMS_PER_WORKER: usize = 4;

impl BatchSplit {
    fn new(batch: usize, par: &dyn Threads) -> Self {
        BatchSplit::with_threads(batch, par.threads())
    }

    fn with_threads(batch: usize, threads: usize) -> Self {
        // Fewer images than threads would leave threads idle; sgemm can
        // still use them all on one image at a time.
        let workers = if threads > 1 && batch >= threads {
            threads
        } else {
            1
        };
        let items = if workers == 1 {
            1
        } else {
            batch.min(workers * ITEMS_PER_WORKER)
        };
        BatchSplit {
            workers,
            images_per_item: batch.div_ceil(items).max(1),
        }
    }
}

fn grow(scratch: &mut Vec<f32>, len: usize) {
    if scratch.len() < len {
        scratch.resize(len, 0.0);
    }
}
