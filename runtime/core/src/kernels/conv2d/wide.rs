//! The "wide" layout of a stride-1 convolution, which lets the matrix
//! products read the input in place instead of an im2col matrix.
//!
//! Pad the input once (`in_channels` planes of `hp × wp`, `hp = in_h +
//! 2·pad_h`, `wp = in_w + 2·pad_w`) and compute the output on a grid as
//! wide as the padded input: output `(oy, ox)` becomes column `q = oy·wp +
//! ox` for `ox` in `0..wp`. Then im2col row `(c, i, j)` at column `q` is
//! `padded[c·hp·wp + i·dil_h·wp + j·dil_w + q]`: each kernel tap's row is a
//! contiguous window of the padded input starting at that tap's offset,
//! which [`crate::gemm::sgemm_windows_nn`] / `_nt` read directly. The
//! columns with `ox >= out_w` are computed and dropped (forward) or given
//! zero gradient (backward): `wp / out_w` more multiply-adds (1.14× for
//! LeNet's first convolution, 1.4× for its second) in exchange for never
//! writing the im2col matrix.
//!
//! Forward results are the same bits as the im2col path (each kept output
//! sums the same products in the same order); the weight gradient sums
//! extra zero terms, so its last bits may differ.

use super::Conv2dGeometry;
use super::runs::{Runs, with_runs};

/// The wide layout of one convolution; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub(super) struct Wide {
    /// Padded input height and width.
    hp: usize,
    wp: usize,
    /// Columns of the wide output grid: `out_h · wp`.
    pub(super) cols: usize,
    /// Floats read past the last padded plane by the last tap's window.
    slack: usize,
}

/// Shortest wide grid the windowed weight gradient takes (its `k`).
const MIN_COLS: usize = 16;

impl Wide {
    /// The layout of `g`, or `None` when the im2col path serves it instead:
    /// strides other than 1, 1×1 kernels without padding (their input
    /// already is the matrix), grids too short for the kernels, or a tier
    /// without windowed products.
    pub(super) fn of(g: &Conv2dGeometry) -> Option<Wide> {
        let wide = Wide::layout(g)?;
        crate::gemm::windows_supported().then_some(wide)
    }

    /// [`Wide::of`] whatever the tier: scratch sizes must not depend on it.
    pub(super) fn layout(g: &Conv2dGeometry) -> Option<Wide> {
        let pointwise = g.kernel == [1, 1] && g.padding == [0, 0];
        if g.stride != [1, 1] || pointwise {
            return None;
        }
        let (hp, wp) = (g.in_h + 2 * g.padding[0], g.in_w + 2 * g.padding[1]);
        let cols = g.out_h() * wp;
        let wide = Wide {
            hp,
            wp,
            cols,
            slack: g.dilation[1] * (g.kernel[1] - 1),
        };
        // Offsets are u32 (the kernels' table).
        let fits = u32::try_from(wide.input_len(g)).is_ok();
        (cols >= MIN_COLS && fits).then_some(wide)
    }

    /// Floats of one padded image, with the slack zeros after it.
    pub(super) fn input_len(&self, g: &Conv2dGeometry) -> usize {
        g.in_channels * self.hp * self.wp + self.slack
    }

    /// Floats of one image's wide output (or output gradient).
    pub(super) fn output_len(&self, g: &Conv2dGeometry) -> usize {
        g.out_channels * self.cols
    }

    /// Where each tap's window starts in the padded image, in im2col row
    /// order (channel, kernel row, kernel column); `starts` holds
    /// `in_channels·kh·kw` entries.
    pub(super) fn starts(&self, g: &Conv2dGeometry, starts: &mut [u32]) {
        let [kh, kw] = g.kernel;
        let [dh, dw] = g.dilation;
        let mut taps = starts.iter_mut();
        for c in 0..g.in_channels {
            for i in 0..kh {
                for j in 0..kw {
                    let start = c * self.hp * self.wp + i * dh * self.wp + j * dw;
                    *taps.next().expect("one start per tap") = start as u32;
                }
            }
        }
    }

    /// Copies image `x` `[in_channels, in_h, in_w]` into `padded` (of
    /// [`Wide::input_len`]), zeroing the border and the slack.
    pub(super) fn pad_input(&self, g: &Conv2dGeometry, x: &[f32], padded: &mut [f32]) {
        let wide = self;
        with_runs!(pad_input(wide: &Wide, g: &Conv2dGeometry, x: &[f32], padded: &mut [f32]))
    }

    /// Drops the extra columns of a wide output: `y` `[out_channels,
    /// out_h, out_w]` gets `wide`'s kept columns, plus `bias` when given,
    /// through a relu when `relu`.
    pub(super) fn narrow_output(
        &self,
        g: &Conv2dGeometry,
        wide: &[f32],
        bias: Option<&[f32]>,
        relu: bool,
        y: &mut [f32],
    ) {
        let ow = g.out_w();
        let planes = y
            .chunks_exact_mut(g.out_h() * ow)
            .zip(wide.chunks_exact(self.cols));
        for (co, (plane, wide)) in planes.enumerate() {
            let rows = plane.chunks_exact_mut(ow).zip(wide.chunks_exact(self.wp));
            for (row, wide) in rows {
                // `acc + bias`, as the im2col path's bias-seeded product adds
                // it; the relu as `relu::forward` (negatives to 0, NaN
                // kept), written as a select so the loop stays vectorized (a
                // conditional store became a mispredicted branch per value).
                let b = bias.map(|b| b[co]);
                for (o, &v) in row.iter_mut().zip(wide) {
                    let v = match b {
                        Some(b) => v + b,
                        None => v,
                    };
                    *o = if relu && v < 0.0 { 0.0 } else { v };
                }
            }
        }
    }

    /// The output gradient `dy` `[out_channels, out_h, out_w]` on the wide
    /// grid, with zeros in the extra columns (so the products over the
    /// grid see no gradient there).
    pub(super) fn widen_grad(&self, g: &Conv2dGeometry, dy: &[f32], wide: &mut [f32]) {
        let layout = self;
        with_runs!(widen_grad(layout: &Wide, g: &Conv2dGeometry, dy: &[f32], wide: &mut [f32]))
    }
}

/// [`Wide::pad_input`], with runs copied by `R`.
#[inline(always)]
fn pad_input<R: Runs>(wide: &Wide, g: &Conv2dGeometry, x: &[f32], padded: &mut [f32]) {
    let [ph, pw] = g.padding;
    let (h, w) = (g.in_h, g.in_w);
    let (hp, wp) = (wide.hp, wide.wp);
    let (planes, slack) = padded.split_at_mut(g.in_channels * hp * wp);
    slack.fill(0.0);
    for (dst, src) in planes.chunks_exact_mut(hp * wp).zip(x.chunks_exact(h * w)) {
        dst[..ph * wp].fill(0.0);
        dst[(ph + h) * wp..].fill(0.0);
        let rows = dst[ph * wp..(ph + h) * wp].chunks_exact_mut(wp);
        for (row, src) in rows.zip(src.chunks_exact(w)) {
            row[..pw].fill(0.0);
            R::copy(&mut row[pw..pw + w], src);
            row[pw + w..].fill(0.0);
        }
    }
}

/// [`Wide::widen_grad`], with runs copied by `R`.
#[inline(always)]
fn widen_grad<R: Runs>(layout: &Wide, g: &Conv2dGeometry, dy: &[f32], wide: &mut [f32]) {
    let ow = g.out_w();
    let planes = dy
        .chunks_exact(g.out_h() * ow)
        .zip(wide.chunks_exact_mut(layout.cols));
    for (plane, wide) in planes {
        for (row, wide) in plane.chunks_exact(ow).zip(wide.chunks_exact_mut(layout.wp)) {
            R::copy(&mut wide[..ow], row);
            wide[ow..].fill(0.0);
        }
    }
}
