//! The convolution's gradients ([`conv2d_backward`]).

use alloc::vec::Vec;

use super::im2col::{col2im, im2col};
use super::wide::Wide;
use super::{BatchSplit, Conv2dGeometry, grow, window_starts};
use crate::gemm::{Trans, sgemm, sgemm_windows_nt};
use crate::threads::{Threads, run_items_with};

/// Gradients of [`super::conv2d_forward`] given `dy = dL/dy`.
///
/// Shapes: `x` `[batch, in_channels, in_h, in_w]` (the forward input),
/// `weight` `[out_channels, in_channels, kh, kw]`, `dy`
/// `[batch, out_channels, out_h, out_w]`; outputs, all overwritten: `dx`
/// like `x` (pass `None` when `x` needs no gradient, e.g. the model input),
/// `dweight` like `weight`, `dbias` `[out_channels]` (`None` without bias).
/// `scratch` as in [`super::conv2d_forward`].
///
/// With several threads the per-thread partial sums of `dweight` and
/// `dbias` are added in a fixed order, but which images form a partial
/// depends on the thread count, so they can differ in the last bits between
/// thread counts.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    scratch: &mut Vec<f32>,
    par: &dyn Threads,
) {
    g.validate();
    grow(
        scratch,
        backward_scratch_len(g, dbias.is_some(), par.threads()),
    );
    conv2d_backward_in(g, x, weight, dy, dx, dweight, dbias, scratch, par);
}

/// Floats of scratch [`conv2d_backward_in`] needs for `g` on `threads`
/// threads, with or without a bias. Enough for either path (wide or
/// im2col), so the size does not depend on the kernel tier.
pub fn backward_scratch_len(g: &Conv2dGeometry, has_bias: bool, threads: usize) -> usize {
    if g.batch == 0 {
        return 0;
    }
    let split = BatchSplit::with_threads(g.batch, threads);
    let items = g.batch.div_ceil(split.images_per_item);
    let (table_len, wide_len) = match Wide::layout(g) {
        Some(w) => (g.col_rows(), w.input_len(g) + w.output_len(g)),
        None => (0, 0),
    };
    let part_len = g.weight_len() + if has_bias { g.out_channels } else { 0 };
    table_len + split.workers * (wide_len + g.im2col_len()).max(1) + (items - 1) * part_len
}

/// [`conv2d_backward`] with caller-provided scratch of at least
/// [`backward_scratch_len`] floats, so it does not allocate.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_in(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    mut dbias: Option<&mut [f32]>,
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    g.validate();
    assert_eq!(x.len(), g.input_len(), "conv2d_backward: x length");
    assert_eq!(
        weight.len(),
        g.weight_len(),
        "conv2d_backward: weight length"
    );
    assert_eq!(dy.len(), g.output_len(), "conv2d_backward: dy length");
    assert_eq!(
        dweight.len(),
        g.weight_len(),
        "conv2d_backward: dweight length"
    );
    if let Some(dx) = &dx {
        assert_eq!(dx.len(), g.input_len(), "conv2d_backward: dx length");
    }
    let (k, p) = (g.col_rows(), g.out_h() * g.out_w());
    let y_img = g.out_channels * p;
    if let Some(db) = &dbias {
        assert_eq!(db.len(), g.out_channels, "conv2d_backward: dbias length");
    }
    if g.batch == 0 {
        dweight.fill(0.0);
        if let Some(db) = dbias {
            db.fill(0.0);
        }
        if let Some(dx) = dx {
            dx.fill(0.0);
        }
        return;
    }
    let x_img = g.in_channels * g.in_h * g.in_w;
    let split = BatchSplit::new(g.batch, par);
    let per = split.images_per_item;
    let items_count = g.batch.div_ceil(per);
    let cols_len = g.im2col_len();
    let wide = Wide::of(g);
    // Per worker: the padded image and the wide output gradient, then the
    // im2col matrix (`dcols` on the wide path, needed only for `dx`).
    let (table_len, wide_len) = match &wide {
        Some(w) => (k, w.input_len(g) + w.output_len(g)),
        None => (0, 0),
    };
    let cols_stride = (wide_len + cols_len).max(1);
    // Items after the first accumulate into partial dweight (and dbias)
    // buffers in the scratch, added into the outputs at the end.
    let w_len = dweight.len();
    let has_bias = dbias.is_some();
    let part_len = w_len + if has_bias { g.out_channels } else { 0 };
    let need = table_len + split.workers * cols_stride + (items_count - 1) * part_len;
    assert!(
        scratch.len() >= need,
        "conv2d_backward_in: scratch of {} floats, {need} needed",
        scratch.len()
    );
    let (starts, scratch) = window_starts(g, wide.as_ref(), table_len, scratch);
    let (cols_all, partials) = scratch.split_at_mut(split.workers * cols_stride);
    let partials = &mut partials[..(items_count - 1) * part_len];

    let run = |xs: &[f32],
               dys: &[f32],
               mut dxs: Option<&mut [f32]>,
               (dw, mut db): (&mut [f32], Option<&mut [f32]>),
               buf: &mut [f32],
               gemm_par: &dyn Threads| {
        for (n, (xn, dyn_)) in xs
            .chunks_exact(x_img)
            .zip(dys.chunks_exact(y_img))
            .enumerate()
        {
            let (lead, cols) = buf.split_at_mut(wide_len);
            if let Some(w) = &wide {
                let (padded, dy_wide) = lead.split_at_mut(w.input_len(g));
                w.pad_input(g, xn, padded);
                w.widen_grad(g, dyn_, dy_wide);
                sgemm_windows_nt(
                    g.out_channels,
                    k,
                    w.cols,
                    dy_wide,
                    padded,
                    starts,
                    dw,
                    n > 0,
                    gemm_par,
                );
            } else {
                let b: &[f32] = if cols_len == 0 {
                    xn
                } else {
                    im2col(g, xn, cols);
                    cols
                };
                sgemm(
                    g.out_channels,
                    k,
                    p,
                    dyn_,
                    Trans::No,
                    b,
                    Trans::Yes,
                    dw,
                    n > 0,
                    gemm_par,
                );
            }
            if let Some(db) = db.as_deref_mut() {
                for (d, row) in db.iter_mut().zip(dyn_.chunks_exact(p)) {
                    let sum = sum_f64(row) as f32;
                    *d = if n == 0 { sum } else { *d + sum };
                }
            }
            let Some(dxs) = dxs.as_deref_mut() else {
                continue;
            };
            let dxn = &mut dxs[n * x_img..][..x_img];
            if cols_len == 0 {
                sgemm(
                    k,
                    p,
                    g.out_channels,
                    weight,
                    Trans::Yes,
                    dyn_,
                    Trans::No,
                    dxn,
                    false,
                    gemm_par,
                );
            } else {
                // The columns (if built) were only needed for dW; reuse
                // them for dcols.
                sgemm(
                    k,
                    p,
                    g.out_channels,
                    weight,
                    Trans::Yes,
                    dyn_,
                    Trans::No,
                    cols,
                    false,
                    gemm_par,
                );
                col2im(g, cols, dxn);
            }
        }
    };

    let targets = core::iter::once((&mut *dweight, dbias.as_deref_mut())).chain(
        partials.chunks_mut(part_len).map(|part| {
            let (dw, db) = part.split_at_mut(w_len);
            (dw, has_bias.then_some(db))
        }),
    );
    let items = x
        .chunks(per * x_img)
        .zip(dy.chunks(per * y_img))
        .zip(optional_chunks(dx, per * x_img))
        .zip(targets);
    if split.workers == 1 {
        let cols = cols_all.chunks_mut(cols_stride).next().expect("scratch");
        for (((xs, dys), dxs), dw) in items {
            run(xs, dys, dxs, dw, cols, par);
        }
    } else {
        let buffers = cols_all.chunks_mut(cols_stride);
        run_items_with(par, items, buffers, |(((xs, dys), dxs), dw), cols| {
            run(xs, dys, dxs, dw, cols, &crate::threads::Serial)
        });
    }
    for part in partials.chunks_exact(part_len) {
        let (dw, db) = part.split_at(w_len);
        for (d, &v) in dweight.iter_mut().zip(dw) {
            *d += v;
        }
        if let Some(dbias) = dbias.as_deref_mut() {
            for (d, &v) in dbias.iter_mut().zip(db) {
                *d += v;
            }
        }
    }
}

/// `Σ v` in f64 with eight independent accumulators: vectorizes, unlike a
/// plain sequential sum, and stays accurate over long rows.
pub(super) fn sum_f64(v: &[f32]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (chunks, rest) = v.as_chunks::<8>();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x as f64;
        }
    }
    acc.iter().sum::<f64>() + rest.iter().map(|&x| x as f64).sum::<f64>()
}

/// `Some(chunk)` per chunk of `s`, or endless `None`s when there is no `s`,
/// so an optional output can be zipped with the required ones.
pub(super) fn optional_chunks(
    s: Option<&mut [f32]>,
    size: usize,
) -> impl Iterator<Item = Option<&mut [f32]>> {
    let mut chunks = s.map(|s| s.chunks_mut(size));
    core::iter::from_fn(move || match &mut chunks {
        Some(it) => it.next().map(Some),
        None => Some(None),
    })
}
