//! The im2col and col2im transforms of the convolution kernels
//! ([`super`]): the patches of an image as the columns of a matrix,
//! and the scatter-add of such columns back into an image.
//!
//! Both are pure data movement, and for the small images of LeNet-style
//! models they cost as much as the matrix products around them. Two things
//! keep them cheap:
//!
//! * with stride 1 and an output as wide as the input ("same" padding
//!   along the width), consecutive output rows of one kernel tap read
//!   consecutive input rows, so the whole tap is one long copy, after which
//!   the few columns that wrapped around an edge are zeroed;
//! * otherwise each output row is a short run (10 floats for LeNet's second
//!   convolution), copied in vectors with a masked tail (AVX2) or fixed
//!   8-float pieces rather than through a `memcpy` call, whose set-up cost
//!   dominated such runs (half of im2col's time in a profile of LeNet
//!   training); col2im adds its runs the same way.

use super::Conv2dGeometry;
use super::runs::{Runs, with_runs};
use crate::kernels::window::valid_outputs;

/// Unfolds one image `x` `[in_channels, in_h, in_w]` into `cols`
/// `[in_channels·kh·kw, out_h·out_w]` (every element written).
pub(super) fn im2col(g: &Conv2dGeometry, x: &[f32], cols: &mut [f32]) {
    with_runs!(im2col_with(g: &Conv2dGeometry, x: &[f32], cols: &mut [f32]))
}

/// The adjoint of [`im2col`]: overwrites `dx` `[in_channels, in_h, in_w]`
/// with the sum, over every receptive field, of `dcols`' entries.
pub(super) fn col2im(g: &Conv2dGeometry, dcols: &[f32], dx: &mut [f32]) {
    with_runs!(col2im_with(g: &Conv2dGeometry, dcols: &[f32], dx: &mut [f32]))
}

#[inline(always)]
fn im2col_with<R: Runs>(g: &Conv2dGeometry, x: &[f32], cols: &mut [f32]) {
    let (h, w) = (g.in_h, g.in_w);
    let (oh, ow) = (g.out_h(), g.out_w());
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.padding;
    let [dh, dw] = g.dilation;
    // Consecutive output rows read consecutive input rows, without gaps.
    let contiguous = sh == 1 && sw == 1 && ow == w;
    let mut rows = cols[..g.col_rows() * oh * ow].chunks_exact_mut(oh * ow);
    for plane in x.chunks_exact(h * w) {
        for i in 0..kh {
            let (oy_lo, oy_hi) = valid_outputs(oh, h, sh, ph, i * dh);
            for j in 0..kw {
                let row = rows.next().expect("im2col row count");
                let (ox_lo, ox_hi) = valid_outputs(ow, w, sw, pw, j * dw);
                row[..oy_lo * ow].fill(0.0);
                row[oy_hi * ow..].fill(0.0);
                if ox_lo == ox_hi || oy_lo == oy_hi {
                    row[oy_lo * ow..oy_hi * ow].fill(0.0);
                    continue;
                }
                // Input index of output (oy, ox) is `oy·sh·w + ox·sw + shift`.
                let shift = (i * dh * w + j * dw) as isize - (ph * w + pw) as isize;
                if contiguous {
                    // One copy from the first valid output to the last; the
                    // columns outside `ox_lo..ox_hi` picked up neighbouring
                    // rows' values and are zeroed after.
                    let first = oy_lo * ow + ox_lo;
                    let end = (oy_hi - 1) * ow + ox_hi;
                    let src0 = (first as isize + shift) as usize;
                    row[first..end].copy_from_slice(&plane[src0..src0 + (end - first)]);
                    for out in row[oy_lo * ow..oy_hi * ow].chunks_exact_mut(ow) {
                        out[..ox_lo].fill(0.0);
                        out[ox_hi..].fill(0.0);
                    }
                    continue;
                }
                for oy in oy_lo..oy_hi {
                    let out = &mut row[oy * ow..][..ow];
                    out[..ox_lo].fill(0.0);
                    out[ox_hi..].fill(0.0);
                    let src0 = ((oy * sh * w + ox_lo * sw) as isize + shift) as usize;
                    let dst = &mut out[ox_lo..ox_hi];
                    if sw == 1 {
                        R::copy(dst, &plane[src0..]);
                    } else {
                        for (d, &s) in dst.iter_mut().zip(plane[src0..].iter().step_by(sw)) {
                            *d = s;
                        }
                    }
                }
            }
        }
    }
}

/// Every input element receives its terms in the same order on every path
/// (kernel tap by kernel tap), so results do not depend on the tier.
#[inline(always)]
fn col2im_with<R: Runs>(g: &Conv2dGeometry, dcols: &[f32], dx: &mut [f32]) {
    let (h, w) = (g.in_h, g.in_w);
    let (oh, ow) = (g.out_h(), g.out_w());
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.padding;
    let [dh, dw] = g.dilation;
    dx.fill(0.0);
    let mut rows = dcols[..g.col_rows() * oh * ow].chunks_exact(oh * ow);
    for plane in dx.chunks_exact_mut(h * w) {
        for i in 0..kh {
            let (oy_lo, oy_hi) = valid_outputs(oh, h, sh, ph, i * dh);
            for j in 0..kw {
                let row = rows.next().expect("col2im row count");
                let (ox_lo, ox_hi) = valid_outputs(ow, w, sw, pw, j * dw);
                if ox_lo == ox_hi {
                    continue;
                }
                let shift = (i * dh * w + j * dw) as isize - (ph * w + pw) as isize;
                for oy in oy_lo..oy_hi {
                    let src = &row[oy * ow + ox_lo..oy * ow + ox_hi];
                    let dst0 = ((oy * sh * w + ox_lo * sw) as isize + shift) as usize;
                    if sw == 1 {
                        R::add(&mut plane[dst0..dst0 + src.len()], src);
                    } else {
                        for (d, &s) in plane[dst0..].iter_mut().step_by(sw).zip(src) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}
