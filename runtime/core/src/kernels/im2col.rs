//! The im2col and col2im transforms of the convolution kernels
//! ([`super::conv2d`]): the patches of an image as the columns of a matrix,
//! and the scatter-add of such columns back into an image.

use super::conv2d::Conv2dGeometry;

/// The outputs `o` in `0..out` whose input coordinate `o·stride + offset - pad`
/// lies in `0..input`, as a half-open range.
fn valid_outputs(
    out: usize,
    input: usize,
    stride: usize,
    pad: usize,
    offset: usize,
) -> (usize, usize) {
    let lo = pad.saturating_sub(offset).div_ceil(stride).min(out);
    let hi = (input + pad)
        .saturating_sub(offset)
        .div_ceil(stride)
        .clamp(lo, out);
    (lo, hi)
}

/// Unfolds one image `x` `[in_channels, in_h, in_w]` into `cols`
/// `[in_channels·kh·kw, out_h·out_w]` (every element written).
pub(super) fn im2col(g: &Conv2dGeometry, x: &[f32], cols: &mut [f32]) {
    let (h, w) = (g.in_h, g.in_w);
    let (oh, ow) = (g.out_h(), g.out_w());
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.padding;
    let [dh, dw] = g.dilation;
    let mut rows = cols[..g.col_rows() * oh * ow].chunks_exact_mut(oh * ow);
    for plane in x.chunks_exact(h * w) {
        for i in 0..kh {
            let (oy_lo, oy_hi) = valid_outputs(oh, h, sh, ph, i * dh);
            for j in 0..kw {
                let row = rows.next().expect("im2col row count");
                let (ox_lo, ox_hi) = valid_outputs(ow, w, sw, pw, j * dw);
                row[..oy_lo * ow].fill(0.0);
                row[oy_hi * ow..].fill(0.0);
                for oy in oy_lo..oy_hi {
                    let out = &mut row[oy * ow..][..ow];
                    out[..ox_lo].fill(0.0);
                    out[ox_hi..].fill(0.0);
                    if ox_lo == ox_hi {
                        continue;
                    }
                    let src = &plane[(oy * sh + i * dh - ph) * w..][..w];
                    let ix0 = ox_lo * sw + j * dw - pw;
                    let dst = &mut out[ox_lo..ox_hi];
                    if sw == 1 {
                        dst.copy_from_slice(&src[ix0..ix0 + dst.len()]);
                    } else {
                        for (d, &s) in dst.iter_mut().zip(src[ix0..].iter().step_by(sw)) {
                            *d = s;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: overwrites `dx` `[in_channels, in_h, in_w]`
/// with the sum, over every receptive field, of `dcols`' entries.
pub(super) fn col2im(g: &Conv2dGeometry, dcols: &[f32], dx: &mut [f32]) {
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
                for oy in oy_lo..oy_hi {
                    let src = &row[oy * ow + ox_lo..oy * ow + ox_hi];
                    let dst = &mut plane[(oy * sh + i * dh - ph) * w..][..w];
                    let ix0 = ox_lo * sw + j * dw - pw;
                    if sw == 1 {
                        for (d, &s) in dst[ix0..ix0 + src.len()].iter_mut().zip(src) {
                            *d += s;
                        }
                    } else {
                        for (d, &s) in dst[ix0..].iter_mut().step_by(sw).zip(src) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}
