//! The int8 kernels in plain Rust: the reference every tier is held to,
//! and what runs where no vector tier does.

use super::{BLOCK_N, GROUP_K, PackedLayer};
use crate::plan::{ConvShape, PoolShape};
use crate::quant::scheme::ACT_MAX;

/// The requantization epilogue of output channel `c` for sum `acc`
/// (`Σ x·w` without the zero-point correction).
#[inline]
pub fn finish(acc: i32, c: usize, layer: &PackedLayer<'_>, x_zp: u8, y_zp: u8, lo: u8) -> u8 {
    let v = acc
        .wrapping_sub(x_zp as i32 * layer.weight_sums[c])
        .wrapping_add(layer.bias[c]);
    let q = layer.requant[c].apply(v).saturating_add(y_zp as i32);
    q.clamp(lo as i32, ACT_MAX as i32) as u8
}

/// The weight `W[c][i]` from the packed layout.
#[inline]
fn packed_at(layer: &PackedLayer<'_>, c: usize, i: usize) -> i8 {
    let groups = layer.k.div_ceil(GROUP_K);
    let (block, lane) = (c / BLOCK_N, c % BLOCK_N);
    let (group, j) = (i / GROUP_K, i % GROUP_K);
    layer.packed[((block * groups + group) * BLOCK_N + lane) * GROUP_K + j]
}

/// See [`super::dense`].
pub fn dense(
    x: &[u8],
    rows: usize,
    layer: &PackedLayer<'_>,
    x_zp: u8,
    y_zp: u8,
    relu: bool,
    y: &mut [u8],
) {
    let (n, k) = (layer.n, layer.k);
    let lo = if relu { y_zp } else { 0 };
    for r in 0..rows {
        let row = &x[r * k..(r + 1) * k];
        for c in 0..n {
            let acc: i32 = row
                .iter()
                .enumerate()
                .map(|(i, &v)| v as i32 * packed_at(layer, c, i) as i32)
                .sum();
            y[r * n + c] = finish(acc, c, layer, x_zp, y_zp, lo);
        }
    }
}

fn out_size(shape: &ConvShape) -> (usize, usize) {
    let out = |i: usize| {
        (match i {
            0 => shape.in_h,
            _ => shape.in_w,
        } + 2 * shape.padding[i]
            - shape.dilation[i] * (shape.kernel[i] - 1)
            - 1)
            / shape.stride[i]
            + 1
    };
    (out(0), out(1))
}

/// Bytes of one image's im2col matrix and its pixel-major output.
pub fn conv2d_scratch_len(shape: &ConvShape) -> usize {
    let (oh, ow) = out_size(shape);
    let k = shape.in_channels * shape.kernel[0] * shape.kernel[1];
    oh * ow * (k + shape.out_channels)
}

/// See [`super::conv2d`]: im2col (pixel-major rows, PyTorch's weight order
/// within a row), [`dense`], and a transpose to channel-major.
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
) {
    let (oh, ow) = out_size(shape);
    let (kh, kw) = (shape.kernel[0], shape.kernel[1]);
    let (h, w) = (shape.in_h, shape.in_w);
    let k = shape.in_channels * kh * kw;
    let pixels = oh * ow;
    let in_len = shape.in_channels * h * w;
    let out_len = shape.out_channels * pixels;
    let (cols, out) = scratch[..pixels * (k + shape.out_channels)].split_at_mut(pixels * k);
    for b in 0..batch {
        let image = &x[b * in_len..(b + 1) * in_len];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut cols[(oy * ow + ox) * k..][..k];
                for ci in 0..shape.in_channels {
                    for dy in 0..kh {
                        for dx in 0..kw {
                            let iy = (oy * shape.stride[0] + dy * shape.dilation[0]) as isize
                                - shape.padding[0] as isize;
                            let ix = (ox * shape.stride[1] + dx * shape.dilation[1]) as isize
                                - shape.padding[1] as isize;
                            let inside =
                                iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w;
                            row[(ci * kh + dy) * kw + dx] = if inside {
                                image[ci * h * w + iy as usize * w + ix as usize]
                            } else {
                                x_zp
                            };
                        }
                    }
                }
            }
        }
        dense(cols, pixels, layer, x_zp, y_zp, relu, out);
        let dst = &mut y[b * out_len..(b + 1) * out_len];
        for p in 0..pixels {
            for c in 0..shape.out_channels {
                dst[c * pixels + p] = out[p * shape.out_channels + c];
            }
        }
    }
}

/// See [`super::maxpool2d`].
pub fn maxpool2d(x: &[u8], batch: usize, shape: &PoolShape, y: &mut [u8]) {
    let out = |i: usize, size: usize| {
        (size + 2 * shape.padding[i] - shape.kernel[i]) / shape.stride[i] + 1
    };
    let (oh, ow) = (out(0, shape.in_h), out(1, shape.in_w));
    let (h, w) = (shape.in_h, shape.in_w);
    for bc in 0..batch * shape.channels {
        let plane = &x[bc * h * w..(bc + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = 0u8;
                for dy in 0..shape.kernel[0] {
                    for dx in 0..shape.kernel[1] {
                        let iy = (oy * shape.stride[0] + dy) as isize - shape.padding[0] as isize;
                        let ix = (ox * shape.stride[1] + dx) as isize - shape.padding[1] as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            best = best.max(plane[iy as usize * w + ix as usize]);
                        }
                    }
                }
                y[bc * oh * ow + oy * ow + ox] = best;
            }
        }
    }
}
