//! Average pooling, forward and backward, with and without
//! `count_include_pad`.

use super::*;
use crate::threads::run_items;

/// The divisor of output `(oy, ox)`'s mean given its row window
/// `(y0, y1, hsize)` from [`window`].
#[inline(always)]
fn divisor(
    g: &Pool2dGeometry,
    count_include_pad: bool,
    rows: (usize, usize, usize),
    ox: usize,
) -> f32 {
    let (x0, x1, wsize) = window(ox, g.in_w, g.kernel[1], g.stride[1], g.padding[1]);
    let (y0, y1, hsize) = rows;
    let count = if count_include_pad {
        hsize * wsize
    } else {
        (y1 - y0) * (x1 - x0)
    };
    count as f32
}

/// The outputs of a row whose window lies wholly inside the input columns,
/// where the divisor is the same for all: only the few border outputs need
/// [`divisor`] (whose integer arithmetic dominated a vectorized row).
fn interior_columns(g: &Pool2dGeometry) -> (usize, usize) {
    let (ow, [_, k], [_, s], [_, p]) = (g.out_w(), g.kernel, g.stride, g.padding);
    let lo = p.div_ceil(s).min(ow);
    let hi = if g.in_w + p >= k {
        (g.in_w + p - k) / s + 1
    } else {
        0
    };
    (lo, hi.clamp(lo, ow))
}

/// `f(ox, divisor)` for every output of a row, cheaply in the interior.
#[inline(always)]
fn for_each_divisor(
    g: &Pool2dGeometry,
    count_include_pad: bool,
    rows: (usize, usize, usize),
    interior: (usize, usize),
    mut f: impl FnMut(usize, f32),
) {
    let ow = g.out_w();
    let inside = if count_include_pad {
        rows.2
    } else {
        rows.1 - rows.0
    };
    let inside = (inside * g.kernel[1]) as f32;
    for ox in (0..interior.0).chain(interior.1..ow) {
        f(ox, divisor(g, count_include_pad, rows, ox));
    }
    for ox in interior.0..interior.1 {
        f(ox, inside);
    }
}

/// Average pooling: `y` gets each window's mean.
///
/// With `count_include_pad` (PyTorch's default) the divisor is the window
/// size including zero padding (still clipped by `ceil_mode`'s overhang, as
/// PyTorch); without it, only the input elements in the window count.
/// Each window is summed in row-major order, as PyTorch's CPU kernel.
///
/// Shapes: `x` `[batch, channels, in_h, in_w]`; `y`
/// `[batch, channels, out_h, out_w]` (overwritten).
pub fn avg_pool2d_forward(
    g: &Pool2dGeometry,
    count_include_pad: bool,
    x: &[f32],
    y: &mut [f32],
    par: &dyn Threads,
) {
    g.validate();
    assert_eq!(x.len(), g.input_len(), "avg_pool2d_forward: x length");
    assert_eq!(y.len(), g.output_len(), "avg_pool2d_forward: y length");
    let (ow, w) = (g.out_w(), g.in_w);
    let (in_plane, out_plane) = (g.in_h * w, g.out_h() * ow);
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let items = x.chunks(per * in_plane).zip(y.chunks_mut(per * out_plane));
    let spans = column_spans(g, MIN_ROW_AVG);
    let interior = interior_columns(g);
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel, g.stride, g.padding);
    run_items(par, items, |(xs, ys)| {
        let mut buf = [0.0f32; ROW_BLOCK];
        for (plane, out) in xs
            .chunks_exact(in_plane)
            .zip(ys.chunks_exact_mut(out_plane))
        {
            for (oy, sums) in out.chunks_exact_mut(ow).enumerate() {
                let rows = window(oy, g.in_h, kh, sh, ph);
                let Some(spans) = &spans else {
                    for (ox, s) in sums.iter_mut().enumerate() {
                        let (x0, x1, _) = window(ox, w, kw, sw, pw);
                        let mut sum = 0.0f32;
                        for iy in rows.0..rows.1 {
                            for &v in &plane[iy * w + x0..iy * w + x1] {
                                sum += v;
                            }
                        }
                        *s = sum / divisor(g, count_include_pad, rows, ox);
                    }
                    continue;
                };
                sums.fill(0.0);
                for iy in rows.0..rows.1 {
                    let row = &plane[iy * w..][..w];
                    for (kx, &(lo, hi)) in spans.iter().enumerate().take(kw) {
                        for start in (lo..hi).step_by(ROW_BLOCK) {
                            let n = ROW_BLOCK.min(hi - start);
                            let values = gather(&row[start * sw + kx - pw..], n, sw, &mut buf);
                            for (s, &v) in sums[start..start + n].iter_mut().zip(values) {
                                *s += v;
                            }
                        }
                    }
                }
                for_each_divisor(g, count_include_pad, rows, interior, |ox, d| sums[ox] /= d);
            }
        }
    });
}

/// Gradient of [`avg_pool2d_forward`] (same `count_include_pad`).
///
/// Shapes: `dy` `[batch, channels, out_h, out_w]`; `dx`
/// `[batch, channels, in_h, in_w]` (overwritten).
pub fn avg_pool2d_backward(
    g: &Pool2dGeometry,
    count_include_pad: bool,
    dy: &[f32],
    dx: &mut [f32],
    par: &dyn Threads,
) {
    g.validate();
    assert_eq!(dy.len(), g.output_len(), "avg_pool2d_backward: dy length");
    assert_eq!(dx.len(), g.input_len(), "avg_pool2d_backward: dx length");
    let (ow, w) = (g.out_w(), g.in_w);
    let (in_plane, out_plane) = (g.in_h * w, g.out_h() * ow);
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let items = dy
        .chunks(per * out_plane)
        .zip(dx.chunks_mut(per * in_plane));
    let spans = column_spans(g, MIN_ROW_AVG_BACKWARD);
    let interior = interior_columns(g);
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel, g.stride, g.padding);
    run_items(par, items, |(dys, dxs)| {
        dxs.fill(0.0);
        // Holds one output row's shares (`column_spans` is `None` for rows
        // wider than MAX_ROW).
        let mut shares = [0.0f32; MAX_ROW];
        for (d_out, d_in) in dys
            .chunks_exact(out_plane)
            .zip(dxs.chunks_exact_mut(in_plane))
        {
            for (oy, d_row) in d_out.chunks_exact(ow).enumerate() {
                let rows = window(oy, g.in_h, kh, sh, ph);
                let Some(spans) = &spans else {
                    for (ox, &d) in d_row.iter().enumerate() {
                        let (x0, x1, _) = window(ox, w, kw, sw, pw);
                        let share = d / divisor(g, count_include_pad, rows, ox);
                        for iy in rows.0..rows.1 {
                            for v in &mut d_in[iy * w + x0..iy * w + x1] {
                                *v += share;
                            }
                        }
                    }
                    continue;
                };
                // Shares for the whole row first, then scattered into the
                // inputs window position by window position.
                for_each_divisor(g, count_include_pad, rows, interior, |ox, d| {
                    shares[ox] = d_row[ox] / d;
                });
                for iy in rows.0..rows.1 {
                    let row = &mut d_in[iy * w..][..w];
                    for (kx, &(lo, hi)) in spans.iter().enumerate().take(kw) {
                        if lo == hi {
                            continue;
                        }
                        let targets = row[lo * sw + kx - pw..].iter_mut().step_by(sw);
                        for (t, &s) in targets.zip(&shares[lo..hi]) {
                            *t += s;
                        }
                    }
                }
            }
        }
    });
}
