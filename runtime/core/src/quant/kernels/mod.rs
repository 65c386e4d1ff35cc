//! The int8 kernels: `u8 × i8 → i32` matrix products with the
//! requantization epilogue, for dense layers and convolutions, plus
//! quantize, dequantize and max pooling on `u8`.
//!
//! Every function here is the entry point the int8 executor and generated
//! code call; each dispatches to the int8 tier running now ([`tier`]: the
//! best the CPU runs, `NNSPEC_INT8_KERNELS`, [`force_int8_tier`], capped by
//! the f32 tier), and every tier computes the same integers as
//! [`portable`] (the sums are exact `i32`s; see [`crate::quant`]).
//!
//! Dense layers and convolutions share one blocked GEMM (`driver`'s
//! panels and tiles, a micro-kernel per tier in `x86`) with the
//! requantization in the micro-kernel's epilogue (`epilogue`); dense
//! layers split their rows over the threads, convolutions their images.

mod conv;
mod driver;
mod elementwise;
mod epilogue;
pub mod portable;
pub mod tier;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use tier::{Int8Tier, force_int8_tier, int8_tier, supported_int8_tiers, unforce_int8_tier};

use super::scheme::{QuantParams, Requant};
use crate::plan::{ConvShape, PoolShape};
use crate::threads::{Threads, for_each_chunk_mut};

/// The micro-kernels of the tier running now.
fn kernel() -> &'static driver::Kernel {
    kernel_of(int8_tier())
}

fn kernel_of(t: Int8Tier) -> &'static driver::Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        // `int8_tier` never names a tier the CPU lacks.
        match t {
            Int8Tier::Avx512Vnni => return &x86::vnni512::KERNEL,
            Int8Tier::AvxVnni if tier::vex_vnni() => return &x86::vnni_vex::KERNEL,
            Int8Tier::AvxVnni => return &x86::vnni_evex::KERNEL,
            Int8Tier::Avx2 => return &x86::avx2::KERNEL,
            Int8Tier::Portable => {}
        }
    }
    let _ = t;
    &driver::PORTABLE
}

/// Rows below which a dense layer runs on the calling thread (waking the
/// others costs more than a few small rows).
const PARALLEL_MIN_ROWS: usize = 32;

/// Panics unless `layer`'s slices have the lengths its `n` and `k` imply
/// (the kernels read them through raw pointers).
fn check_layer(layer: &PackedLayer<'_>) {
    let n = layer.n;
    assert!(
        layer.packed.len() >= packed_len(n, layer.k)
            && layer.weight_sums.len() >= n
            && layer.bias.len() >= n
            && layer.requant.len() >= n,
        "int8 layer [{n}, {}]: packed {} bytes (want {}), {} weight sums, {} biases, {} multipliers",
        layer.k,
        layer.packed.len(),
        packed_len(n, layer.k),
        layer.weight_sums.len(),
        layer.bias.len(),
        layer.requant.len()
    );
}

/// Output channels per packed block: one 512-bit register of `i32` sums.
pub const BLOCK_N: usize = 16;
/// Inputs per packed group: `vpdpbusd` adds four `u8 × i8` products per lane.
pub const GROUP_K: usize = 4;

/// A quantized dense layer (or a convolution's weight matrix) as the
/// kernels read it; built from a [`super::plan::QLayer`] or from generated
/// code's static data.
#[derive(Clone, Copy, Debug)]
pub struct PackedLayer<'a> {
    /// Output channels.
    pub n: usize,
    /// Inputs per output.
    pub k: usize,
    /// [`pack_weights`]'s layout.
    pub packed: &'a [i8],
    pub weight_sums: &'a [i32],
    pub bias: &'a [i32],
    pub requant: &'a [Requant],
}

impl<'a> From<&'a super::plan::QLayer> for PackedLayer<'a> {
    fn from(l: &'a super::plan::QLayer) -> Self {
        PackedLayer {
            n: l.n,
            k: l.k,
            packed: &l.packed,
            weight_sums: &l.weight_sums,
            bias: &l.bias,
            requant: &l.requant,
        }
    }
}

/// Bytes of [`pack_weights`]'s output for an `[n, k]` weight.
pub fn packed_len(n: usize, k: usize) -> usize {
    n.div_ceil(BLOCK_N) * k.div_ceil(GROUP_K) * BLOCK_N * GROUP_K
}

/// `weight` (`[n, k]` row-major) in the kernels' layout: blocks of
/// [`BLOCK_N`] output channels; within a block, groups of [`GROUP_K`]
/// inputs; within a group, each channel's four inputs side by side (64
/// bytes: one `vpdpbusd` operand). Channels and inputs past the end are 0.
pub fn pack_weights(weight: &[i8], n: usize, k: usize) -> alloc::vec::Vec<i8> {
    assert_eq!(weight.len(), n * k, "pack_weights: weight length");
    let groups = k.div_ceil(GROUP_K);
    let mut packed = alloc::vec![0i8; packed_len(n, k)];
    for c in 0..n {
        let (block, lane) = (c / BLOCK_N, c % BLOCK_N);
        for i in 0..k {
            let (group, j) = (i / GROUP_K, i % GROUP_K);
            packed[((block * groups + group) * BLOCK_N + lane) * GROUP_K + j] = weight[c * k + i];
        }
    }
    packed
}

/// Per output channel `Σ_k weight[c][k]`.
pub fn weight_sums(weight: &[i8], n: usize, k: usize) -> alloc::vec::Vec<i32> {
    (0..n)
        .map(|c| weight[c * k..(c + 1) * k].iter().map(|&w| w as i32).sum())
        .collect()
}

/// `y[r][c] = requant(Σ_i x[r][i]·W[c][i] − x_zp·Σ_i W[c][i] + bias[c]) +
/// y_zp`, clamped to `[y_zp if relu else 0, ACT_MAX]`, for `rows` rows of
/// `layer.k` inputs.
#[allow(clippy::too_many_arguments)]
pub fn dense(
    x: &[u8],
    rows: usize,
    layer: &PackedLayer<'_>,
    x_zp: u8,
    y_zp: u8,
    relu: bool,
    y: &mut [u8],
    par: &dyn Threads,
) {
    let (n, k) = (layer.n, layer.k);
    check_layer(layer);
    assert!(
        x.len() >= rows * k,
        "int8 dense: {} inputs for {rows} rows of {k}",
        x.len()
    );
    assert!(
        y.len() >= rows * n,
        "int8 dense: {} outputs for {rows} rows of {n}",
        y.len()
    );
    let kernel = kernel();
    let lo = if relu { y_zp } else { 0 };
    let y = &mut y[..rows * n];
    let run = |first_row: usize, y: &mut [u8]| {
        let out = driver::Out {
            ptr: y.as_mut_ptr(),
            rows: n,
            cols: 1,
        };
        let rows = y.len() / n.max(1);
        // SAFETY: the layer and the lengths were checked above; `y` holds
        // these rows' outputs.
        unsafe {
            driver::run(
                kernel,
                &x[first_row * k..],
                rows,
                layer,
                x_zp,
                y_zp,
                lo,
                out,
            )
        };
    };
    if rows >= PARALLEL_MIN_ROWS && par.threads() > 1 && n > 0 {
        // Whole tiles of rows per thread.
        for_each_chunk_mut(par, y, n * kernel.mr, &|tile, chunk| {
            run(tile * kernel.mr, chunk)
        });
    } else {
        run(0, y);
    }
}

/// Scratch bytes [`conv2d`] needs for one image.
pub fn conv2d_scratch_len(shape: &ConvShape) -> usize {
    portable::conv2d_scratch_len(shape)
}

/// A convolution over `batch` `u8` images `[C, H, W]`, output `[O, OH, OW]`
/// per image; padding reads `x_zp`. `scratch` holds [`conv2d_scratch_len`]
/// bytes.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    x: &[u8],
    batch: usize,
    shape: &ConvShape,
    layer: &PackedLayer<'_>,
    x_zp: u8,
    y_zp: u8,
    relu: bool,
    y: &mut [u8],
    scratch: &mut [u8],
    par: &dyn Threads,
) {
    conv::conv2d(
        kernel(),
        x,
        batch,
        shape,
        layer,
        x_zp,
        y_zp,
        relu,
        y,
        scratch,
        par,
    );
}

/// Max pooling over `batch` `u8` images (padding never wins).
pub fn maxpool2d(x: &[u8], batch: usize, shape: &PoolShape, y: &mut [u8]) {
    elementwise::maxpool2d(x, batch, shape, y);
}

/// ONNX `QuantizeLinear` over a slice (to `0..=ACT_MAX`).
pub fn quantize(x: &[f32], q: QuantParams, y: &mut [u8]) {
    elementwise::quantize(x, q, y, int8_tier());
}

/// ONNX `DequantizeLinear` over a slice.
pub fn dequantize(x: &[u8], q: QuantParams, y: &mut [f32]) {
    elementwise::dequantize(x, q, y, int8_tier());
}
