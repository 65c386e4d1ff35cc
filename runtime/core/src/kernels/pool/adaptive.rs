//! Adaptive average pooling, PyTorch's `nn.AdaptiveAvgPool2d(out)`: an
//! output of a given size, output `o` of an axis of `n` inputs averaging
//! inputs `floor(o·n/out) .. ceil((o+1)·n/out)`. Windows may differ in
//! size and overlap when `out` does not divide `n`.
//!
//! As ATen's CPU kernel: each window summed in row-major order, then
//! divided by its height and by its width (`sum / kh / kw`); the gradient
//! adds `dy / kh / kw` to every input of the window. Planes are
//! independent, so work is split over them.

use crate::threads::{Threads, run_items};

/// Shapes of one adaptive pooling; pairs are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AdaptivePool2dGeometry {
    pub batch: usize,
    pub channels: usize,
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
}

impl AdaptivePool2dGeometry {
    /// Elements of `x` / `dx`.
    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.in_hw[0] * self.in_hw[1]
    }

    /// Elements of `y` / `dy`.
    pub fn output_len(&self) -> usize {
        self.batch * self.channels * self.out_hw[0] * self.out_hw[1]
    }

    fn validate(&self) {
        assert!(
            self.channels > 0 && self.in_hw.iter().chain(&self.out_hw).all(|&v| v > 0),
            "adaptive_avg_pool2d: sizes must be positive: {self:?}"
        );
    }

    fn planes(&self) -> usize {
        self.batch * self.channels
    }
}

/// Output `o`'s window `[start, end)` along an axis of `input` elements
/// pooled to `out`: PyTorch's `start_index` and `end_index`.
pub fn adaptive_window(o: usize, input: usize, out: usize) -> (usize, usize) {
    (o * input / out, ((o + 1) * input).div_ceil(out))
}

/// Planes per work item: a few items per thread, one in all for small work.
fn planes_per_item(g: &AdaptivePool2dGeometry, par: &dyn Threads) -> usize {
    let planes = g.planes();
    let work = planes * g.in_hw[0] * g.in_hw[1];
    if work < 1 << 14 {
        return planes.max(1);
    }
    planes.div_ceil(par.threads() * 4).max(1)
}

/// `y` (overwritten) from `x`: `[batch, channels, in_h, in_w]` to
/// `[batch, channels, out_h, out_w]`.
pub fn adaptive_avg_pool2d_forward(
    g: &AdaptivePool2dGeometry,
    x: &[f32],
    y: &mut [f32],
    par: &dyn Threads,
) {
    g.validate();
    assert_eq!(x.len(), g.input_len(), "adaptive_avg_pool2d: x length");
    assert_eq!(y.len(), g.output_len(), "adaptive_avg_pool2d: y length");
    let ([h, w], [oh, ow]) = (g.in_hw, g.out_hw);
    let per = planes_per_item(g, par);
    let items = x.chunks(per * h * w).zip(y.chunks_mut(per * oh * ow));
    run_items(par, items, |(xs, ys)| {
        let planes = xs.chunks_exact(h * w).zip(ys.chunks_exact_mut(oh * ow));
        for (plane, out) in planes {
            for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
                let (y0, y1) = adaptive_window(oy, h, oh);
                for (ox, o) in row.iter_mut().enumerate() {
                    let (x0, x1) = adaptive_window(ox, w, ow);
                    let mut sum = 0.0f32;
                    for iy in y0..y1 {
                        for &v in &plane[iy * w + x0..iy * w + x1] {
                            sum += v;
                        }
                    }
                    *o = sum / (y1 - y0) as f32 / (x1 - x0) as f32;
                }
            }
        }
    });
}

/// `dx` (overwritten) from `dy`, the gradient of
/// [`adaptive_avg_pool2d_forward`].
pub fn adaptive_avg_pool2d_backward(
    g: &AdaptivePool2dGeometry,
    dy: &[f32],
    dx: &mut [f32],
    par: &dyn Threads,
) {
    g.validate();
    assert_eq!(dx.len(), g.input_len(), "adaptive_avg_pool2d: dx length");
    assert_eq!(dy.len(), g.output_len(), "adaptive_avg_pool2d: dy length");
    let ([h, w], [oh, ow]) = (g.in_hw, g.out_hw);
    let per = planes_per_item(g, par);
    let items = dx.chunks_mut(per * h * w).zip(dy.chunks(per * oh * ow));
    run_items(par, items, |(dxs, dys)| {
        let planes = dxs.chunks_exact_mut(h * w).zip(dys.chunks_exact(oh * ow));
        for (plane, grads) in planes {
            plane.fill(0.0);
            for (oy, row) in grads.chunks_exact(ow).enumerate() {
                let (y0, y1) = adaptive_window(oy, h, oh);
                for (ox, &g) in row.iter().enumerate() {
                    let (x0, x1) = adaptive_window(ox, w, ow);
                    let share = g / (y1 - y0) as f32 / (x1 - x0) as f32;
                    for iy in y0..y1 {
                        for d in &mut plane[iy * w + x0..iy * w + x1] {
                            *d += share;
                        }
                    }
                }
            }
        }
    });
}
