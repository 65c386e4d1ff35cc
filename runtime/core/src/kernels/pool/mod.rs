//! 2-D max and average pooling with PyTorch `nn.MaxPool2d` /
//! `nn.AvgPool2d` semantics (dilation 1, no `divisor_override`).
//!
//! Every (image, channel) plane is pooled independently, so the work is
//! split over planes.
//!
//! Two loop orders. With a narrow kernel and a wide output (the common 2×2
//! or 3×3 pooling of a feature map) the window positions are the outer
//! loops and a row of outputs the inner one, which vectorizes and has no
//! data-dependent branches; with few outputs per row (global pooling) each
//! output scans its own window.
//!
//! This file holds the geometry and what both kinds share (window bounds,
//! work split, the row-wise loop order's spans and gathers); `max` and
//! `avg` hold the kernels.

mod adaptive;
mod avg;
mod max;
#[cfg(target_arch = "x86_64")]
mod max_2x2_avx2;

pub use adaptive::{
    AdaptivePool2dGeometry, adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward,
    adaptive_window,
};
pub use avg::{avg_pool2d_backward, avg_pool2d_forward};
pub use max::{max_pool2d_backward, max_pool2d_forward};

use crate::kernels::window::valid_outputs;
use crate::threads::Threads;

/// Shapes and hyper-parameters of one pooling.
///
/// Pairs are `[height, width]`. PyTorch's `stride=None` means
/// `stride = kernel`; the caller resolves that. Padding is implicit: `-inf`
/// for max pooling, zeros for average pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dGeometry {
    pub batch: usize,
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    /// PyTorch's `ceil_mode`: round the output size up, dropping a last
    /// window that would start in the right/bottom padding.
    pub ceil_mode: bool,
}

impl Pool2dGeometry {
    /// `floor((in_h + 2·pad - k) / stride) + 1` (with `ceil_mode`, rounded up
    /// and then reduced by one if the last window starts past the input and
    /// its left padding), as PyTorch's `pooling_output_shape`.
    pub fn out_h(&self) -> usize {
        self.validate();
        out_len(
            self.in_h,
            self.kernel[0],
            self.stride[0],
            self.padding[0],
            self.ceil_mode,
        )
    }

    /// Like [`Self::out_h`] along the width.
    pub fn out_w(&self) -> usize {
        self.validate();
        out_len(
            self.in_w,
            self.kernel[1],
            self.stride[1],
            self.padding[1],
            self.ceil_mode,
        )
    }

    /// Elements of `x` / `dx`: `batch·channels·in_h·in_w`.
    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.in_h * self.in_w
    }

    /// Elements of `y` / `dy` / indices: `batch·channels·out_h·out_w`.
    pub fn output_len(&self) -> usize {
        self.batch * self.channels * self.out_h() * self.out_w()
    }

    /// Panics unless the geometry is one PyTorch accepts: positive sizes
    /// (the batch may be 0), padding at most half the kernel (so every
    /// window overlaps the input) and an output of at least 1×1.
    pub fn validate(&self) {
        assert!(
            self.channels > 0 && self.in_h > 0 && self.in_w > 0,
            "pool2d: channels and input size must be positive: {self:?}"
        );
        assert!(
            self.kernel.iter().chain(&self.stride).all(|&v| v > 0),
            "pool2d: kernel and stride must be positive: {self:?}"
        );
        assert!(
            self.padding[0] <= self.kernel[0] / 2 && self.padding[1] <= self.kernel[1] / 2,
            "pool2d: padding must be at most half the kernel: {self:?}"
        );
        assert!(
            self.in_h + 2 * self.padding[0] >= self.kernel[0]
                && self.in_w + 2 * self.padding[1] >= self.kernel[1],
            "pool2d: kernel larger than the padded input: {self:?}"
        );
    }
}

fn out_len(input: usize, kernel: usize, stride: usize, pad: usize, ceil_mode: bool) -> usize {
    let span = input + 2 * pad - kernel;
    let mut out = if ceil_mode {
        span.div_ceil(stride)
    } else {
        span / stride
    } + 1;
    if ceil_mode && (out - 1) * stride >= input + pad {
        out -= 1;
    }
    out
}

/// One output's window along one axis: `[start, end)` clipped to the input,
/// and the unclipped size PyTorch divides by with `count_include_pad`.
fn window(
    o: usize,
    input: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
) -> (usize, usize, usize) {
    // Shifted by `pad` to stay unsigned: `start + pad`, `end + pad`.
    let start = o * stride;
    let end = (start + kernel).min(input + 2 * pad);
    let lo = start.max(pad) - pad;
    let hi = end.min(input + pad) - pad;
    (lo, hi, end - start)
}

/// Planes per work item: about one item per thread, and one item in all
/// when the work is too small to pay for waking threads.
fn planes_per_item(g: &Pool2dGeometry, planes: usize, par: &dyn Threads) -> usize {
    // Below this many input elements a whole pooling takes a few tens of
    // microseconds at most (a 2×2 max pool of 64K elements about 10-20),
    // too little to gain from a second thread.
    const MIN_PARALLEL: usize = 1 << 16;
    if par.threads() == 1 || g.input_len() < MIN_PARALLEL {
        planes.max(1)
    } else {
        planes.div_ceil(par.threads()).max(1)
    }
}

/// Kernel columns up to this width get their output spans precomputed and
/// use the row-wise loop order.
const MAX_SPANS: usize = 16;

/// Rows narrower than these use the per-output loop order (measured on
/// 2×2 stride-2 pooling: the row order wins from 8 outputs for max, 16 for
/// the average's forward and 4 for its backward).
const MIN_ROW_MAX: usize = 8;
const MIN_ROW_AVG: usize = 16;
const MIN_ROW_AVG_BACKWARD: usize = 4;

/// Outputs handled per inner-loop block (the gather buffer's size).
const ROW_BLOCK: usize = 64;

/// Rows wider than this use the per-output loop order (so a row's
/// divisors and gradient shares fit a stack buffer).
const MAX_ROW: usize = 1024;

/// For each kernel column `kx`, the outputs of a row whose input column
/// `ox·stride + kx - pad` lies inside the input, as a half-open range.
/// `None` when the per-output loop order suits the geometry better: rows
/// shorter than `min_row` or wider than [`MAX_ROW`], wide kernels.
fn column_spans(g: &Pool2dGeometry, min_row: usize) -> Option<[(usize, usize); MAX_SPANS]> {
    let ow = g.out_w();
    if g.kernel[1] > MAX_SPANS || !(min_row..=MAX_ROW).contains(&ow) {
        return None;
    }
    let mut spans = [(0, 0); MAX_SPANS];
    for (kx, span) in spans.iter_mut().enumerate().take(g.kernel[1]) {
        *span = valid_outputs(ow, g.in_w, g.stride[1], g.padding[1], kx);
    }
    Some(spans)
}

/// The values `row[j·stride]` for `j` in `0..n` (`n <= ROW_BLOCK`) as a
/// contiguous slice: the row itself for stride 1, else copied into `buf`,
/// so the loops over them have no strided loads and vectorize.
#[inline(always)]
fn gather<'a>(row: &'a [f32], n: usize, stride: usize, buf: &'a mut [f32; ROW_BLOCK]) -> &'a [f32] {
    if stride == 1 {
        return &row[..n];
    }
    for (d, &v) in buf.iter_mut().zip(row.iter().step_by(stride)).take(n) {
        *d = v;
    }
    &buf[..n]
}
