//! Convolution as the int8 GEMM: one image's windows copied pixel-major
//! (im2col, padding reading the input's zero point), multiplied by the
//! `[out_channels, in_channels·kh·kw]` weight, and written channel-major
//! straight from the epilogue (no transpose pass). Images are split over
//! the threads, each with its own im2col buffer.

use super::driver::{self, Kernel, Out};
use super::{PackedLayer, check_layer, conv2d_scratch_len};
use crate::plan::ConvShape;
use crate::threads::{Threads, run_items_with};

/// Output height and width.
pub(super) fn out_size(shape: &ConvShape) -> (usize, usize) {
    let out = |size: usize, i: usize| {
        (size + 2 * shape.padding[i] - shape.dilation[i] * (shape.kernel[i] - 1) - 1)
            / shape.stride[i]
            + 1
    };
    (out(shape.in_h, 0), out(shape.in_w, 1))
}

/// Row `p` of `cols` (`k` bytes per row) = the window of output pixel `p`,
/// in PyTorch's weight order (channel, then kernel row, then column).
///
/// Windows are written in increasing address order, so a window row of at
/// most 8 bytes may be written as 8 (one unaligned move instead of a
/// `memcpy` call, which cost more than the whole GEMM for LeNet's 5×5
/// kernels): the bytes past it belong to later window rows and are
/// overwritten.
fn im2col(image: &[u8], shape: &ConvShape, x_zp: u8, cols: &mut [u8]) {
    let (oh, ow) = out_size(shape);
    let (kh, kw) = (shape.kernel[0], shape.kernel[1]);
    let (h, w) = (shape.in_h, shape.in_w);
    let k = shape.in_channels * kh * kw;
    let short = kw <= 8;
    let contiguous = shape.dilation[1] == 1;
    for oy in 0..oh {
        for ox in 0..ow {
            let x0 = (ox * shape.stride[1]) as isize - shape.padding[1] as isize;
            let inside_x = x0 >= 0 && x0 as usize + kw <= w;
            for ci in 0..shape.in_channels {
                for dy in 0..kh {
                    let iy = (oy * shape.stride[0] + dy * shape.dilation[0]) as isize
                        - shape.padding[0] as isize;
                    let d = (oy * ow + ox) * k + (ci * kh + dy) * kw;
                    let wide = short && d + 8 <= cols.len();
                    if iy < 0 || iy as usize >= h {
                        if wide {
                            cols[d..d + 8].copy_from_slice(&[x_zp; 8]);
                        } else {
                            cols[d..d + kw].fill(x_zp);
                        }
                        continue;
                    }
                    let row = (ci * h + iy as usize) * w;
                    if contiguous && inside_x {
                        let s = row + x0 as usize;
                        if wide && s + 8 <= image.len() {
                            let run: [u8; 8] = image[s..s + 8].try_into().unwrap();
                            cols[d..d + 8].copy_from_slice(&run);
                        } else {
                            cols[d..d + kw].copy_from_slice(&image[s..s + kw]);
                        }
                        continue;
                    }
                    for (dx, c) in cols[d..d + kw].iter_mut().enumerate() {
                        let ix = x0 + (dx * shape.dilation[1]) as isize;
                        *c = if ix >= 0 && (ix as usize) < w {
                            image[row + ix as usize]
                        } else {
                            x_zp
                        };
                    }
                }
            }
        }
    }
}

/// [`im2col`] for the common case (stride 1, no dilation, rows of at most
/// 8 bytes) when `spare` holds the padded image: the image is copied once
/// into planes padded with the zero point, so every window row lies
/// inside and moves as one 8-byte load and store, with no bounds tests
/// (the per-run tests were most of LeNet's int8 time). Returns false, having
/// written nothing, where it does not apply.
fn im2col_padded(
    image: &[u8],
    shape: &ConvShape,
    x_zp: u8,
    cols: &mut [u8],
    spare: &mut [u8],
) -> bool {
    let (kh, kw) = (shape.kernel[0], shape.kernel[1]);
    let [pad_y, pad_x] = shape.padding;
    let (h, w) = (shape.in_h, shape.in_w);
    let (ph, pw) = (h + 2 * pad_y, w + 2 * pad_x);
    let planes = shape.in_channels * ph * pw;
    if shape.stride != [1, 1] || shape.dilation != [1, 1] || kw > 8 || spare.len() < planes + 8 {
        return false;
    }
    let padded = &mut spare[..planes + 8];
    padded.fill(x_zp);
    for ci in 0..shape.in_channels {
        for y in 0..h {
            let dst = (ci * ph + y + pad_y) * pw + pad_x;
            padded[dst..dst + w].copy_from_slice(&image[(ci * h + y) * w..][..w]);
        }
    }
    let (oh, ow) = out_size(shape);
    let k = shape.in_channels * kh * kw;
    let end = cols.len();
    let mut d = 0;
    for oy in 0..oh {
        for ox in 0..ow {
            for ci in 0..shape.in_channels {
                for dy in 0..kh {
                    let src = (ci * ph + oy + dy) * pw + ox;
                    // `padded` has 8 bytes of slack past its last row.
                    let run: [u8; 8] = padded[src..src + 8].try_into().unwrap_or([x_zp; 8]);
                    if d + 8 <= end {
                        cols[d..d + 8].copy_from_slice(&run);
                    } else {
                        cols[d..d + kw].copy_from_slice(&run[..kw]);
                    }
                    d += kw;
                }
            }
        }
    }
    debug_assert_eq!(d, oh * ow * k);
    true
}

/// See [`super::conv2d`].
#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d(
    kernel: &Kernel,
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
    let (oh, ow) = out_size(shape);
    let pixels = oh * ow;
    let k = shape.in_channels * shape.kernel[0] * shape.kernel[1];
    let in_len = shape.in_channels * shape.in_h * shape.in_w;
    let out_len = shape.out_channels * pixels;
    assert!(
        layer.n == shape.out_channels && layer.k == k,
        "int8 conv2d: a [{}, {}] weight for a {}→{} convolution with {}×{} kernels",
        layer.n,
        layer.k,
        shape.in_channels,
        shape.out_channels,
        shape.kernel[0],
        shape.kernel[1]
    );
    check_layer(layer);
    assert!(x.len() >= batch * in_len, "int8 conv2d: input length");
    assert!(y.len() >= batch * out_len, "int8 conv2d: output length");
    assert!(
        scratch.len() >= conv2d_scratch_len(shape),
        "int8 conv2d: scratch length"
    );
    if batch == 0 || out_len == 0 {
        return;
    }
    let lo = if relu { y_zp } else { 0 };
    let cols_len = pixels * k;
    // Each thread's scratch: the im2col matrix, then room the fast im2col
    // uses for the padded image when it fits.
    let scratch_len = conv2d_scratch_len(shape);
    let one_image = |(b, dst): (usize, &mut [u8]), scratch: &mut &mut [u8]| {
        let (cols, spare) = scratch[..scratch_len].split_at_mut(cols_len);
        let image = &x[b * in_len..(b + 1) * in_len];
        if !im2col_padded(image, shape, x_zp, cols, spare) {
            im2col(image, shape, x_zp, cols);
        }
        let out = Out {
            ptr: dst.as_mut_ptr(),
            rows: 1,
            cols: pixels,
        };
        // SAFETY: `cols` holds `pixels` rows of `k`, the layer was checked,
        // and `dst` holds the image's `out_channels × pixels` outputs.
        unsafe { driver::run(kernel, cols, pixels, layer, x_zp, y_zp, lo, out) };
    };
    let images = y[..batch * out_len].chunks_mut(out_len).enumerate();
    let threads = par.threads().min(batch);
    // The caller's scratch serves one thread; the others get their own.
    let mut extra = alloc::vec![0u8; (threads - 1) * scratch_len];
    let scratches =
        core::iter::once(&mut scratch[..scratch_len]).chain(extra.chunks_mut(scratch_len.max(1)));
    run_items_with(par, images, scratches, one_image);
}
