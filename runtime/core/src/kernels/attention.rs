//! Multi-head self-attention, `nn.MultiheadAttention(dim, heads,
//! batch_first=True)` called with query = key = value = `x [batch, len,
//! dim]`: parameters `in_proj_weight [3·dim, dim]`, `in_proj_bias [3·dim]`,
//! `out_proj.weight [dim, dim]`, `out_proj.bias [dim]`, in that order.
//!
//! Forward: the q, k, v projection as one product over every row of the
//! batch; per (sample, head), the scores `q·kᵀ/√head_dim`, a softmax along
//! each row (the future masked when `causal`), and the weighted sum of `v`;
//! the heads side by side, then the output projection. The products go
//! through [`sgemm`]; the work per (sample, head) is split over the
//! threads, each item's products running on its own thread.
//!
//! What backward needs is kept in buffers the Plan allocates: the per-head
//! q, k, v (`heads`), the attention probabilities (`probs`) and the heads'
//! concatenated outputs (`ctx`). Temporaries live in the caller's scratch.

use crate::gemm::{Trans, sgemm};
use crate::threads::{Serial, Threads, run_items};

use super::dense;
use super::elementwise::{exp, multiversion};

/// The attention's sizes for one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionGeometry {
    pub batch: usize,
    /// Positions of the sequence.
    pub len: usize,
    /// Features per position (`embed_dim`); a multiple of `heads`.
    pub dim: usize,
    pub heads: usize,
    /// Whether position `i` attends to positions `≤ i` only.
    pub causal: bool,
}

impl AttentionGeometry {
    /// Features per head.
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads
    }

    /// Rows of the batch: every position of every sample.
    fn rows(&self) -> usize {
        self.batch * self.len
    }

    /// Floats of `heads`: q, k and v per (sample, head), `[batch, heads, 3,
    /// len, head_dim]`, so one item's three matrices are contiguous.
    pub fn heads_len(&self) -> usize {
        3 * self.rows() * self.dim
    }

    /// Floats of `probs`: `[batch, heads, len, len]`.
    pub fn probs_len(&self) -> usize {
        self.batch * self.heads * self.len * self.len
    }

    /// Floats of `ctx`, the heads' outputs side by side: `[batch, len, dim]`.
    pub fn ctx_len(&self) -> usize {
        self.rows() * self.dim
    }

    fn check(&self) {
        assert!(
            self.heads > 0 && self.dim.is_multiple_of(self.heads),
            "attention: {} heads do not divide {} features",
            self.heads,
            self.dim
        );
    }
}

/// Scratch floats [`forward`] needs: the projection's rows.
pub fn forward_scratch_len(g: &AttentionGeometry) -> usize {
    g.heads_len()
}

/// Scratch floats [`backward`] needs: the gradients of `ctx`, of the
/// per-head outputs, of the probabilities, of the per-head q, k, v and of
/// the projection's rows.
pub fn backward_scratch_len(g: &AttentionGeometry) -> usize {
    2 * g.ctx_len() + g.probs_len() + 2 * g.heads_len()
}

/// `y [batch, len, dim]` from `x [batch, len, dim]`; writes the saved
/// `heads`, `probs` and `ctx` for [`backward`]. `params` are the four
/// parameters in `state_dict` order; `scratch` holds at least
/// [`forward_scratch_len`] floats.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    g: &AttentionGeometry,
    x: &[f32],
    params: [&[f32]; 4],
    heads: &mut [f32],
    probs: &mut [f32],
    ctx: &mut [f32],
    y: &mut [f32],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    g.check();
    let [in_weight, in_bias, out_weight, out_bias] = params;
    let (rows, dim, hd, len) = (g.rows(), g.dim, g.head_dim(), g.len);
    assert_eq!(
        x.len(),
        rows * dim,
        "attention: x must be [batch, len, dim]"
    );
    assert_eq!(
        y.len(),
        rows * dim,
        "attention: y must be [batch, len, dim]"
    );
    assert!(
        heads.len() == g.heads_len() && probs.len() == g.probs_len() && ctx.len() == g.ctx_len(),
        "attention: saved buffers"
    );
    let projected = &mut scratch[..g.heads_len()];
    dense::forward(
        x,
        in_weight,
        Some(in_bias),
        projected,
        rows,
        dim,
        3 * dim,
        par,
    );
    to_heads(g, 3, projected, heads);
    // Each head's output goes to `y`, laid out `[batch, heads, len,
    // head_dim]`, until it is gathered into `ctx` and projected.
    let items = heads
        .chunks_exact(3 * len * hd)
        .zip(probs.chunks_exact_mut(len * len))
        .zip(y.chunks_exact_mut(len * hd));
    run_items(par, items, |((qkv, p), out)| attend(g, qkv, p, out));
    to_rows(g, 1, y, ctx);
    dense::forward(ctx, out_weight, Some(out_bias), y, rows, dim, dim, par);
}

/// One (sample, head): `p = softmax(q·kᵀ/√hd)`, `out = p·v`.
fn attend(g: &AttentionGeometry, qkv: &[f32], p: &mut [f32], out: &mut [f32]) {
    let (len, hd) = (g.len, g.head_dim());
    let (q, kv) = qkv.split_at(len * hd);
    let (k, v) = kv.split_at(len * hd);
    sgemm(len, len, hd, q, Trans::No, k, Trans::Yes, p, false, &Serial);
    softmax_rows(p, len, scale(g), g.causal);
    sgemm(
        len,
        hd,
        len,
        p,
        Trans::No,
        v,
        Trans::No,
        out,
        false,
        &Serial,
    );
}

/// `1/√head_dim`, as PyTorch scales the scores.
fn scale(g: &AttentionGeometry) -> f32 {
    1.0 / libm::sqrtf(g.head_dim() as f32)
}

multiversion! {
    /// Each row of the `[len, len]` scores, scaled, in place to its softmax;
    /// when `causal`, row `i` over columns `0..=i`, the rest zero (as an
    /// additive `-inf` mask gives). The maximum is subtracted first, so
    /// `exp` stays finite.
    fn softmax_rows(p: &mut [f32], len: usize, scale: f32, causal: bool) {
        for (i, row) in p.chunks_exact_mut(len).enumerate() {
            let (live, masked) = row.split_at_mut(if causal { i + 1 } else { len });
            masked.fill(0.0);
            // Separate passes, so the scaling and `exp` vectorize apart
            // from the (ordered) maximum and sum.
            for v in live.iter_mut() {
                *v *= scale;
            }
            let max = lanes(live, f32::NEG_INFINITY, |acc, v| acc.max(v), f32::max);
            for v in live.iter_mut() {
                *v = exp(*v - max);
            }
            let sum = lanes(live, 0.0, |acc, v| acc + v, |a, b| a + b);
            let r = 1.0 / sum;
            for v in live.iter_mut() {
                *v *= r;
            }
        }
    }
}

/// Lanes of a reduction: one chain of dependent adds over a 64-wide row
/// kept `softmax_rows` waiting on the adder's latency (a fifth of a small
/// transformer's training time); sixteen independent partial results run
/// in parallel and vectorize. The order is fixed, so every tier and
/// thread count gives the same bits.
const LANES: usize = 16;

/// `v` folded with `step` into [`LANES`] partial results from `init`, then
/// those joined with `join`, in a fixed order.
#[inline(always)]
fn lanes(
    v: &[f32],
    init: f32,
    step: impl Fn(f32, f32) -> f32,
    join: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut acc = [init; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = step(*a, x);
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a = step(*a, x);
    }
    acc.into_iter().fold(init, join)
}

/// `Σ a·b` in [`LANES`] partial sums, as [`lanes`] does.
#[inline(always)]
fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    for ((s, &x), &y) in acc.iter_mut().zip(ra).zip(rb) {
        *s += x * y;
    }
    acc.into_iter().fold(0.0, |s, x| s + x)
}

multiversion! {
    /// The softmax's backward through the scaling, in place: `dp` becomes
    /// the gradient of the unscaled scores, `scale · p · (dp − Σ_row p·dp)`
    /// (zero where `p` is, the masked entries).
    fn softmax_rows_backward(p: &[f32], dp: &mut [f32], len: usize, scale: f32) {
        for (p, dp) in p.chunks_exact(len).zip(dp.chunks_exact_mut(len)) {
            let dot = lane_dot(p, dp);
            for (&p, d) in p.iter().zip(dp.iter_mut()) {
                *d = scale * p * (*d - dot);
            }
        }
    }
}

/// Gradients of [`forward`] from `dy [batch, len, dim]` and the saved
/// buffers, overwriting `grads` (the four parameters' gradients in
/// `state_dict` order) and, when wanted, `dx`. `scratch` holds at least
/// [`backward_scratch_len`] floats.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    g: &AttentionGeometry,
    x: &[f32],
    params: [&[f32]; 4],
    saved: [&[f32]; 3],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    grads: [&mut [f32]; 4],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    g.check();
    let [in_weight, _, out_weight, _] = params;
    let [heads, probs, ctx] = saved;
    let [d_in_weight, d_in_bias, d_out_weight, d_out_bias] = grads;
    let (rows, dim, hd, len) = (g.rows(), g.dim, g.head_dim(), g.len);
    assert!(
        heads.len() == g.heads_len() && probs.len() == g.probs_len() && ctx.len() == g.ctx_len(),
        "attention: saved buffers"
    );
    let scratch = &mut scratch[..backward_scratch_len(g)];
    let (d_ctx, rest) = scratch.split_at_mut(g.ctx_len());
    let (d_out, rest) = rest.split_at_mut(g.ctx_len());
    let (d_probs, rest) = rest.split_at_mut(g.probs_len());
    let (d_heads, d_projected) = rest.split_at_mut(g.heads_len());
    dense::backward(
        ctx,
        out_weight,
        dy,
        Some(&mut *d_ctx),
        d_out_weight,
        Some(d_out_bias),
        rows,
        dim,
        dim,
        par,
    );
    to_heads(g, 1, d_ctx, d_out);
    let items = heads
        .chunks_exact(3 * len * hd)
        .zip(probs.chunks_exact(len * len))
        .zip(d_out.chunks_exact(len * hd))
        .zip(d_probs.chunks_exact_mut(len * len))
        .zip(d_heads.chunks_exact_mut(3 * len * hd));
    run_items(par, items, |((((qkv, p), d_out), d_p), d_qkv)| {
        attend_backward(g, qkv, p, d_out, d_p, d_qkv);
    });
    to_rows(g, 3, d_heads, d_projected);
    dense::backward(
        x,
        in_weight,
        d_projected,
        dx,
        d_in_weight,
        Some(d_in_bias),
        rows,
        dim,
        3 * dim,
        par,
    );
}

/// One (sample, head) backward: from `d_out`, the gradient of its output,
/// to `d_qkv`, the gradients of its q, k and v.
fn attend_backward(
    g: &AttentionGeometry,
    qkv: &[f32],
    p: &[f32],
    d_out: &[f32],
    d_p: &mut [f32],
    d_qkv: &mut [f32],
) {
    let (len, hd) = (g.len, g.head_dim());
    let (q, kv) = qkv.split_at(len * hd);
    let (k, v) = kv.split_at(len * hd);
    let (dq, dkv) = d_qkv.split_at_mut(len * hd);
    let (dk, dv) = dkv.split_at_mut(len * hd);
    // dv = pᵀ · d_out, dp = d_out · vᵀ
    sgemm(
        len,
        hd,
        len,
        p,
        Trans::Yes,
        d_out,
        Trans::No,
        dv,
        false,
        &Serial,
    );
    sgemm(
        len,
        len,
        hd,
        d_out,
        Trans::No,
        v,
        Trans::Yes,
        d_p,
        false,
        &Serial,
    );
    softmax_rows_backward(p, d_p, len, scale(g));
    // With ds the scores' gradient: dq = ds · k, dk = dsᵀ · q.
    sgemm(
        len,
        hd,
        len,
        d_p,
        Trans::No,
        k,
        Trans::No,
        dq,
        false,
        &Serial,
    );
    sgemm(
        len,
        hd,
        len,
        d_p,
        Trans::Yes,
        q,
        Trans::No,
        dk,
        false,
        &Serial,
    );
}

/// From rows `[batch, len, parts, heads, head_dim]` (the projection's
/// layout, `parts` 3 for q, k, v) to `[batch, heads, parts, len,
/// head_dim]` (one block per (sample, head)).
fn to_heads(g: &AttentionGeometry, parts: usize, rows: &[f32], heads: &mut [f32]) {
    let (len, hd, h) = (g.len, g.head_dim(), g.heads);
    let sample = len * parts * g.dim;
    for (rows, heads) in rows
        .chunks_exact(sample)
        .zip(heads.chunks_exact_mut(sample))
    {
        for (pos, row) in rows.chunks_exact(parts * g.dim).enumerate() {
            for (j, piece) in row.chunks_exact(hd).enumerate() {
                let (part, head) = (j / h, j % h);
                let at = ((head * parts + part) * len + pos) * hd;
                heads[at..at + hd].copy_from_slice(piece);
            }
        }
    }
}

/// The inverse of [`to_heads`].
fn to_rows(g: &AttentionGeometry, parts: usize, heads: &[f32], rows: &mut [f32]) {
    let (len, hd, h) = (g.len, g.head_dim(), g.heads);
    let sample = len * parts * g.dim;
    for (heads, rows) in heads
        .chunks_exact(sample)
        .zip(rows.chunks_exact_mut(sample))
    {
        for (pos, row) in rows.chunks_exact_mut(parts * g.dim).enumerate() {
            for (j, piece) in row.chunks_exact_mut(hd).enumerate() {
                let (part, head) = (j / h, j % h);
                let at = ((head * parts + part) * len + pos) * hd;
                piece.copy_from_slice(&heads[at..at + hd]);
            }
        }
    }
}
