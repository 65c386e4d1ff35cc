//! Dropout in training mode (`nn.Dropout(p)` with `model.train()`): each
//! element is zeroed with probability `p` and survivors are scaled by
//! `1 / (1 - p)` ("inverted" dropout, so evaluation is the identity).
//!
//! The scale factor is stored in the mask, so the backward is one multiply.
//! Random draws come from the caller's [`Rng`]: the same generator state
//! gives the same mask on every machine. (The stream differs from PyTorch's;
//! only the distribution matches.)

use crate::rng::Rng;

use super::elementwise::mul;

/// `mask[i] = 1/(1-p)` with probability `1 - p`, else 0; `y = x · mask`.
/// `x`, `y` and `mask` have one length. `p` must be in `[0, 1)`; `p == 0`
/// gives the identity and draws nothing from `rng`.
pub fn forward(x: &[f32], y: &mut [f32], mask: &mut [f32], p: f32, rng: &mut Rng) {
    assert!(
        (0.0..1.0).contains(&p),
        "dropout probability {p} outside [0, 1)"
    );
    assert!(
        x.len() == y.len() && mask.len() == y.len(),
        "dropout::forward: lengths"
    );
    if p == 0.0 {
        mask.fill(1.0);
        y.copy_from_slice(x);
        return;
    }
    let keep_scale = 1.0 / (1.0 - p);
    // Two 24-bit uniforms per 64-bit draw (the top and the low-middle bits)
    // halve the generator's share of the cost.
    let threshold = crate::math::ceil(p as f64 * (1u64 << 24) as f64) as u32;
    let draw = |u: u32| if u >= threshold { keep_scale } else { 0.0 };
    let mut pairs = mask.chunks_exact_mut(2);
    for pair in &mut pairs {
        let r = rng.next_u64();
        pair[0] = draw((r >> 40) as u32);
        pair[1] = draw(((r >> 8) & 0xFF_FFFF) as u32);
    }
    if let [last] = pairs.into_remainder() {
        *last = draw((rng.next_u64() >> 40) as u32);
    }
    mul(x, mask, y);
}

/// `dx = dy · mask`, with the mask [`forward`] filled.
pub fn backward(mask: &[f32], dy: &[f32], dx: &mut [f32]) {
    mul(dy, mask, dx);
}
