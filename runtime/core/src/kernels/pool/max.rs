//! Max pooling, forward (with the argmax indices) and backward.

use super::*;
use crate::kernels::elementwise::multiversion;
use crate::threads::run_items;

/// Max pooling: `y` gets each window's maximum and `indices` (when given)
/// the position of that maximum within its input plane (`iy·in_w + ix`, as
/// PyTorch's `return_indices`).
///
/// Shapes: `x` `[batch, channels, in_h, in_w]`; `y` and `indices`
/// `[batch, channels, out_h, out_w]` (overwritten). Ties go to the first
/// maximum in row-major scan order; a NaN wins over numbers, as in PyTorch.
pub fn max_pool2d_forward(
    g: &Pool2dGeometry,
    x: &[f32],
    y: &mut [f32],
    indices: Option<&mut [u32]>,
    par: &dyn Threads,
) {
    g.validate();
    assert_eq!(x.len(), g.input_len(), "max_pool2d_forward: x length");
    assert_eq!(y.len(), g.output_len(), "max_pool2d_forward: y length");
    assert!(
        u32::try_from(g.in_h * g.in_w).is_ok(),
        "max_pool2d_forward: plane too large for u32 indices"
    );
    let (in_plane, out_plane) = (g.in_h * g.in_w, g.out_h() * g.out_w());
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let mut index_chunks = indices.map(|idx| {
        assert_eq!(idx.len(), y.len(), "max_pool2d_forward: indices length");
        idx.chunks_mut(per * out_plane)
    });
    let index_chunks = core::iter::from_fn(move || match &mut index_chunks {
        Some(it) => it.next().map(Some),
        None => Some(None),
    });
    let items = x
        .chunks(per * in_plane)
        .zip(y.chunks_mut(per * out_plane))
        .zip(index_chunks);
    let spans = column_spans(g, MIN_ROW_MAX);
    // The most common pooling of all gets its own loop.
    let halving = g.kernel == [2, 2]
        && g.stride == [2, 2]
        && g.padding == [0, 0]
        && 2 * g.out_h() <= g.in_h
        && 2 * g.out_w() <= g.in_w;
    run_items(par, items, |((xs, ys), mut idxs)| {
        let planes = xs
            .chunks_exact(in_plane)
            .zip(ys.chunks_exact_mut(out_plane));
        for (p, (plane, out)) in planes.enumerate() {
            let idx = idxs
                .as_deref_mut()
                .map(|i| &mut i[p * out_plane..][..out_plane]);
            match &spans {
                _ if halving => max_pool_2x2(g, plane, out, idx),
                Some(spans) => max_pool_rows(g, spans, plane, out, idx),
                None => max_pool_windows(g, plane, out, idx),
            }
        }
    });
}

/// Max pooling of one plane, one output at a time.
fn max_pool_windows(
    g: &Pool2dGeometry,
    plane: &[f32],
    out: &mut [f32],
    mut idx: Option<&mut [u32]>,
) {
    let (w, ow) = (g.in_w, g.out_w());
    for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
        let (y0, y1, _) = window(oy, g.in_h, g.kernel[0], g.stride[0], g.padding[0]);
        for (ox, o) in out_row.iter_mut().enumerate() {
            let (x0, x1, _) = window(ox, w, g.kernel[1], g.stride[1], g.padding[1]);
            // PyTorch starts from -inf at the window's first valid element,
            // so an all -inf window points there.
            let mut best = f32::NEG_INFINITY;
            let mut best_at = y0 * w + x0;
            for iy in y0..y1 {
                for (ix, &v) in plane[iy * w + x0..iy * w + x1].iter().enumerate() {
                    if v > best || v.is_nan() {
                        best = v;
                        best_at = iy * w + x0 + ix;
                    }
                }
            }
            *o = best;
            if let Some(idx) = idx.as_deref_mut() {
                idx[oy * ow + ox] = best_at as u32;
            }
        }
    }
}

multiversion! {
    /// Max pooling of one plane, window positions outside and a row of
    /// outputs inside: each output still sees its window in row-major order
    /// (so ties resolve as in PyTorch), and the compare-and-select over a
    /// row vectorizes (as scalar code the selects became mispredicted
    /// branches). Compiled for AVX-512 too, where they become masked
    /// vector operations.
    fn max_pool_rows(
        g: &Pool2dGeometry,
        spans: &[(usize, usize); MAX_SPANS],
        plane: &[f32],
        out: &mut [f32],
        idx: Option<&mut [u32]>,
    ) {
        let mut idx = idx;
        let (w, ow) = (g.in_w, g.out_w());
        let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel, g.stride, g.padding);
        let mut buf = [0.0f32; ROW_BLOCK];
        for (oy, best_row) in out.chunks_exact_mut(ow).enumerate() {
            let (y0, y1, _) = window(oy, g.in_h, kh, sh, ph);
            best_row.fill(f32::NEG_INFINITY);
            let mut at_row = idx.as_deref_mut().map(|i| &mut i[oy * ow..][..ow]);
            if let Some(at) = at_row.as_deref_mut() {
                // The window's first valid element, as in the per-output order.
                for (ox, a) in at.iter_mut().enumerate() {
                    *a = (y0 * w + window(ox, w, kw, sw, pw).0) as u32;
                }
            }
            for iy in y0..y1 {
                let row = &plane[iy * w..][..w];
                for (kx, &(lo, hi)) in spans.iter().enumerate().take(kw) {
                    for start in (lo..hi).step_by(ROW_BLOCK) {
                        let n = ROW_BLOCK.min(hi - start);
                        let ix0 = start * sw + kx - pw;
                        let values = gather(&row[ix0..], n, sw, &mut buf);
                        let best = &mut best_row[start..start + n];
                        match at_row.as_deref_mut() {
                            Some(at) => {
                                let at = &mut at[start..start + n];
                                let first = (iy * w + ix0) as u32;
                                let lanes = best.iter_mut().zip(at.iter_mut()).zip(values);
                                for (j, ((b, a), &v)) in lanes.enumerate() {
                                    let take = (v > *b) | v.is_nan();
                                    *b = if take { v } else { *b };
                                    *a = if take { first + (j * sw) as u32 } else { *a };
                                }
                            }
                            None => {
                                for (b, &v) in best.iter_mut().zip(values) {
                                    let take = (v > *b) | v.is_nan();
                                    *b = if take { v } else { *b };
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Max pooling of one plane with 2×2 windows, stride 2, no padding and no
/// partial windows, by the AVX2 kernel where the tier allows.
fn max_pool_2x2(g: &Pool2dGeometry, plane: &[f32], out: &mut [f32], idx: Option<&mut [u32]>) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::runs_at_least(crate::cpu::Tier::Avx2) {
        // SAFETY: the CPU has AVX2 (`best_supported` detected it).
        unsafe { super::max_2x2_avx2::max_pool_2x2(g.in_w, g.out_w(), plane, out, idx) };
        return;
    }
    max_pool_2x2_portable(g, plane, out, idx);
}

multiversion! {
    /// [`max_pool_2x2`] in plain Rust: each output reads two pairs, so the
    /// loop needs no gathers and vectorizes. Starting from the first
    /// element equals PyTorch's start from -inf at the first element's
    /// index.
    fn max_pool_2x2_portable(g: &Pool2dGeometry, plane: &[f32], out: &mut [f32], idx: Option<&mut [u32]>) {
        let mut idx = idx;
        let (w, ow) = (g.in_w, g.out_w());
        for (oy, best_row) in out.chunks_exact_mut(ow).enumerate() {
            let top = plane[2 * oy * w..][..2 * ow].as_chunks::<2>().0;
            let bottom = plane[(2 * oy + 1) * w..][..2 * ow].as_chunks::<2>().0;
            let windows = best_row.iter_mut().zip(top.iter().zip(bottom));
            match idx.as_deref_mut() {
                Some(idx) => {
                    let at_row = &mut idx[oy * ow..][..ow];
                    let first = (2 * oy * w) as u32;
                    let w = w as u32;
                    for (ox, ((b, a), (t, u))) in windows.zip(at_row).map(|((b, q), a)| ((b, a), q)).enumerate() {
                        let base = first + 2 * ox as u32;
                        let (mut m, mut i) = (t[0], base);
                        for (v, at) in [(t[1], base + 1), (u[0], base + w), (u[1], base + w + 1)] {
                            let take = (v > m) | v.is_nan();
                            m = if take { v } else { m };
                            i = if take { at } else { i };
                        }
                        *b = m;
                        *a = i;
                    }
                }
                None => {
                    for (b, (t, u)) in windows {
                        let mut m = t[0];
                        for v in [t[1], u[0], u[1]] {
                            let take = (v > m) | v.is_nan();
                            m = if take { v } else { m };
                        }
                        *b = m;
                    }
                }
            }
        }
    }
}

/// Gradient of [`max_pool2d_forward`]: each `dy` element flows to the input
/// position its `indices` entry names; overlapping windows add up.
///
/// Shapes: `dy` and `indices` `[batch, channels, out_h, out_w]`; `dx`
/// `[batch, channels, in_h, in_w]` (overwritten).
pub fn max_pool2d_backward(
    g: &Pool2dGeometry,
    dy: &[f32],
    indices: &[u32],
    dx: &mut [f32],
    par: &dyn Threads,
) {
    g.validate();
    assert_eq!(dy.len(), g.output_len(), "max_pool2d_backward: dy length");
    assert_eq!(
        indices.len(),
        g.output_len(),
        "max_pool2d_backward: indices length"
    );
    assert_eq!(dx.len(), g.input_len(), "max_pool2d_backward: dx length");
    let (in_plane, out_plane) = (g.in_h * g.in_w, g.out_h() * g.out_w());
    let planes = g.batch * g.channels;
    if planes == 0 {
        return;
    }
    let per = planes_per_item(g, planes, par);
    let items = dy
        .chunks(per * out_plane)
        .zip(indices.chunks(per * out_plane))
        .zip(dx.chunks_mut(per * in_plane));
    run_items(par, items, |((dys, idxs), dxs)| {
        dxs.fill(0.0);
        let planes = dys
            .chunks_exact(out_plane)
            .zip(idxs.chunks_exact(out_plane));
        for ((d_out, idx), d_in) in planes.zip(dxs.chunks_exact_mut(in_plane)) {
            for (&d, &i) in d_out.iter().zip(idx) {
                d_in[i as usize] += d;
            }
        }
    });
}
