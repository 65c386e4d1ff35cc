//! A stacked LSTM over batch-first sequences, PyTorch's `nn.LSTM(input,
//! hidden, num_layers, batch_first=True)` with zero initial state,
//! returning the top layer's output at every step.
//!
//! Gates in PyTorch's order `i, f, g, o`: per layer `k`, `weight_ih_l{k}
//! [4h, in_k]`, `weight_hh_l{k} [4h, h]`, `bias_ih_l{k} [4h]`, `bias_hh_l{k}
//! [4h]`, the parameters found through `at(4k + j)` for `j` in that order.
//!
//! Inside, every sequence is **time-major** (`[len, batch, ·]`): the rows of
//! one step are then contiguous, so the recurrent product of a step is one
//! gemm over the whole batch that accumulates straight into that step's
//! gates, and the weight gradients are single gemms over all steps (the
//! input to step `t` of `weight_hh` is the hidden state of step `t - 1`,
//! `batch` rows earlier). Only the input is turned around on the way in,
//! and the output (and the input's gradient) on the way out.
//!
//! The saved state ([`LstmState`], Plan buffers) holds, per layer, the
//! activated gates, the cell states and the hidden states of every step;
//! the backward pass overwrites the gates with the pre-activation
//! gradients, which the weight gradients then read.

use core::ops::Range;

use crate::gemm::{Trans, sgemm};
use crate::threads::{Threads, run_items};

use super::elementwise::{exp, multiversion, sum_rows};

/// The sizes of one LSTM call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmGeometry {
    pub batch: usize,
    /// Steps per sequence.
    pub len: usize,
    /// Features of each step of the input.
    pub input: usize,
    pub hidden: usize,
    pub layers: usize,
}

impl LstmGeometry {
    /// Rows of one layer's time-major sequence: `len · batch`.
    fn rows(&self) -> usize {
        self.len * self.batch
    }

    /// Width of layer `k`'s input.
    fn input_of(&self, k: usize) -> usize {
        if k == 0 { self.input } else { self.hidden }
    }

    /// Floats of the saved input copy, the gates, and the cell (or hidden)
    /// states, for the whole batch.
    pub fn saved_lens(&self) -> [usize; 3] {
        let rows = self.rows();
        [
            rows * self.input,
            self.layers * rows * 4 * self.hidden,
            self.layers * rows * self.hidden,
        ]
    }
}

/// Where a layer's parameter (or its gradient) lives: `at(4k + j)`.
pub type ParamAt<'a> = &'a dyn Fn(usize) -> Range<usize>;

/// What the forward pass saves for the backward one, all time-major.
pub struct LstmState<'a> {
    /// The input, `[len, batch, input]`.
    pub input: &'a mut [f32],
    /// Per layer, the activated gates `[len, batch, 4h]`.
    pub gates: &'a mut [f32],
    /// Per layer, the cell states `[len, batch, h]`.
    pub cells: &'a mut [f32],
    /// Per layer, the hidden states (its output) `[len, batch, h]`.
    pub hidden: &'a mut [f32],
}

/// Cells of a step (batch · hidden) from which its gate pass is split over
/// the threads.
const PARALLEL_MIN_ELEMENTS: usize = 16 * 1024;

/// `y [batch, len, h]`: the top layer's hidden state at every step of `x
/// [batch, len, input]`.
pub fn forward(
    g: &LstmGeometry,
    x: &[f32],
    values: &[f32],
    at: ParamAt<'_>,
    y: &mut [f32],
    s: LstmState<'_>,
    par: &dyn Threads,
) {
    let (batch, len, h) = (g.batch, g.len, g.hidden);
    let rows = g.rows();
    assert_eq!(
        x.len(),
        rows * g.input,
        "lstm: x must be [batch, len, input]"
    );
    assert_eq!(y.len(), rows * h, "lstm: y must be [batch, len, hidden]");
    let [input_len, gates_len, states_len] = g.saved_lens();
    assert!(
        s.input.len() == input_len && s.gates.len() == gates_len,
        "lstm: saved input and gates lengths"
    );
    assert!(
        s.cells.len() == states_len && s.hidden.len() == states_len,
        "lstm: saved states lengths"
    );
    swap_leading(x, s.input, batch, len, g.input);
    for k in 0..g.layers {
        let width = g.input_of(k);
        let w_ih = &values[at(4 * k)];
        let w_hh = &values[at(4 * k + 1)];
        let (b_ih, b_hh) = (&values[at(4 * k + 2)], &values[at(4 * k + 3)]);
        assert!(
            w_ih.len() == 4 * h * width && w_hh.len() == 4 * h * h,
            "lstm: weight shapes"
        );
        assert!(
            b_ih.len() == 4 * h && b_hh.len() == 4 * h,
            "lstm: bias shapes"
        );
        let gates = &mut s.gates[k * rows * 4 * h..][..rows * 4 * h];
        let cells = &mut s.cells[k * rows * h..][..rows * h];
        let (below, this) = s.hidden.split_at_mut(k * rows * h);
        let hidden = &mut this[..rows * h];
        let input: &[f32] = if k == 0 {
            s.input
        } else {
            &below[(k - 1) * rows * h..]
        };
        if rows == 0 {
            continue;
        }
        // Every row starts from both biases; the products accumulate.
        let (first, rest) = gates.split_at_mut(4 * h);
        for ((z, &a), &b) in first.iter_mut().zip(b_ih).zip(b_hh) {
            *z = a + b;
        }
        for row in rest.chunks_exact_mut(4 * h) {
            row.copy_from_slice(first);
        }
        sgemm(
            rows,
            4 * h,
            width,
            input,
            Trans::No,
            w_ih,
            Trans::Yes,
            gates,
            true,
            par,
        );
        let step = batch * h;
        for t in 0..len {
            let z = &mut gates[t * 4 * step..][..4 * step];
            let (done, now) = hidden.split_at_mut(t * step);
            let (c_done, c_now) = cells.split_at_mut(t * step);
            let c = &mut c_now[..step];
            if t == 0 {
                c.fill(0.0);
            } else {
                let h_prev = &done[(t - 1) * step..];
                sgemm(
                    batch,
                    4 * h,
                    h,
                    h_prev,
                    Trans::No,
                    w_hh,
                    Trans::Yes,
                    z,
                    true,
                    par,
                );
                c.copy_from_slice(&c_done[(t - 1) * step..]);
            }
            let out = &mut now[..step];
            if step < PARALLEL_MIN_ELEMENTS || par.threads() == 1 {
                cell_forward(z, c, out, h);
            } else {
                let per = batch.div_ceil(par.threads());
                let parts = z
                    .chunks_mut(per * 4 * h)
                    .zip(c.chunks_mut(per * h))
                    .zip(out.chunks_mut(per * h));
                run_items(par, parts, |((z, c), out)| cell_forward(z, c, out, h));
            }
        }
    }
    if rows > 0 {
        let top = &s.hidden[(g.layers - 1) * rows * h..];
        swap_leading(&top[..rows * h], y, len, batch, h);
    }
}

/// The saved state [`backward`] reads (see [`LstmState`]).
pub struct LstmSaved<'a> {
    pub input: &'a [f32],
    pub cells: &'a [f32],
    pub hidden: &'a [f32],
}

/// Scratch floats [`backward`] needs.
pub fn backward_scratch_len(g: &LstmGeometry) -> usize {
    g.rows() * g.input.max(g.hidden) + 3 * g.batch * g.hidden
}

/// Gradients of [`forward`] from `dy [batch, len, h]`: every parameter's
/// (overwritten, at `at`) and, when wanted, `dx [batch, len, input]`.
/// `all_gates` is the forward pass's and is overwritten with the gradients of
/// the gates' pre-activations.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    g: &LstmGeometry,
    values: &[f32],
    at: ParamAt<'_>,
    dy: &[f32],
    dx: Option<&mut [f32]>,
    grads: &mut [f32],
    s: LstmSaved<'_>,
    all_gates: &mut [f32],
    scratch: &mut [f32],
    par: &dyn Threads,
) {
    let (batch, len, h) = (g.batch, g.len, g.hidden);
    let rows = g.rows();
    assert_eq!(dy.len(), rows * h, "lstm: dy must be [batch, len, hidden]");
    assert!(scratch.len() >= backward_scratch_len(g), "lstm: scratch");
    let (seq, rest) = scratch.split_at_mut(rows * g.input.max(g.hidden));
    let (dh, rest) = rest.split_at_mut(batch * h);
    let (dc, zeros) = rest.split_at_mut(batch * h);
    let zeros = &mut zeros[..batch * h];
    zeros.fill(0.0);
    let step = batch * h;
    for k in (0..g.layers).rev() {
        let width = g.input_of(k);
        let gates = &mut all_gates[k * rows * 4 * h..][..rows * 4 * h];
        let cells = &s.cells[k * rows * h..][..rows * h];
        let hidden = &s.hidden[k * rows * h..][..rows * h];
        let w_ih = &values[at(4 * k)];
        let w_hh = &values[at(4 * k + 1)];
        dc.fill(0.0);
        for t in (0..len).rev() {
            // dh = the gradient from above at step t + the one from step t + 1.
            if t + 1 == len {
                dh.fill(0.0);
            } else {
                let dz_next = &gates[(t + 1) * 4 * step..][..4 * step];
                sgemm(
                    batch,
                    h,
                    4 * h,
                    dz_next,
                    Trans::No,
                    w_hh,
                    Trans::No,
                    dh,
                    false,
                    par,
                );
            }
            for (b, row) in dh.chunks_exact_mut(h).enumerate() {
                let from_above = if k + 1 == g.layers {
                    &dy[(b * len + t) * h..][..h]
                } else {
                    &seq[t * step + b * h..][..h]
                };
                for (d, &a) in row.iter_mut().zip(from_above) {
                    *d += a;
                }
            }
            let z = &mut gates[t * 4 * step..][..4 * step];
            let c = &cells[t * step..][..step];
            let c_prev: &[f32] = if t == 0 {
                zeros
            } else {
                &cells[(t - 1) * step..][..step]
            };
            if step < PARALLEL_MIN_ELEMENTS || par.threads() == 1 {
                cell_backward(z, c, c_prev, dh, dc, h);
            } else {
                let per = batch.div_ceil(par.threads());
                let parts = z
                    .chunks_mut(per * 4 * h)
                    .zip(c.chunks(per * h))
                    .zip(c_prev.chunks(per * h))
                    .zip(dh.chunks(per * h))
                    .zip(dc.chunks_mut(per * h));
                run_items(par, parts, |((((z, c), c_prev), dh), dc)| {
                    cell_backward(z, c, c_prev, dh, dc, h)
                });
            }
        }
        let dz: &[f32] = gates;
        let input: &[f32] = if k == 0 {
            s.input
        } else {
            &s.hidden[(k - 1) * rows * h..][..rows * h]
        };
        let dw_ih = &mut grads[at(4 * k)];
        sgemm(
            4 * h,
            width,
            rows,
            dz,
            Trans::Yes,
            input,
            Trans::No,
            dw_ih,
            false,
            par,
        );
        let dw_hh = &mut grads[at(4 * k + 1)];
        // Step t's recurrent input is step t - 1's hidden state.
        let later = rows.saturating_sub(batch);
        sgemm(
            4 * h,
            h,
            later,
            &dz[4 * step..],
            Trans::Yes,
            hidden,
            Trans::No,
            dw_hh,
            false,
            par,
        );
        sum_rows(dz, &mut grads[at(4 * k + 2)]);
        let (ih, hh) = (at(4 * k + 2), at(4 * k + 3));
        grads.copy_within(ih, hh.start);
        if k > 0 {
            // The gradient reaching the layer below, time-major.
            let seq = &mut seq[..rows * h];
            sgemm(
                rows,
                h,
                4 * h,
                dz,
                Trans::No,
                w_ih,
                Trans::No,
                seq,
                false,
                par,
            );
        }
    }
    if let Some(dx) = dx {
        assert_eq!(
            dx.len(),
            rows * g.input,
            "lstm: dx must be [batch, len, input]"
        );
        let dz = &all_gates[..rows * 4 * h];
        let seq = &mut seq[..rows * g.input];
        sgemm(
            rows,
            g.input,
            4 * h,
            dz,
            Trans::No,
            &values[at(0)],
            Trans::No,
            seq,
            false,
            par,
        );
        swap_leading(seq, dx, len, batch, g.input);
    }
}

/// `to [b, a, w] = from [a, b, w]`: batch-major and time-major sequences.
fn swap_leading(from: &[f32], to: &mut [f32], a: usize, b: usize, w: usize) {
    for i in 0..a {
        for j in 0..b {
            to[(j * a + i) * w..][..w].copy_from_slice(&from[(i * b + j) * w..][..w]);
        }
    }
}

/// `1 / (1 + e^-x)` as the `sigmoid` kernel computes it.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let r = 1.0 / (1.0 + e);
    if x >= 0.0 { r } else { e * r }
}

/// `tanh(x)` as the `tanh` kernel computes it.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = a * a;
    let p = -5.704_988_7e-3;
    let p = p * z + 2.063_909e-2;
    let p = p * z - 5.373_971_6e-2;
    let p = p * z + 0.133_314_42;
    let p = p * z - 0.333_332_8;
    let small = p * z * a + a;
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let t = if a < 0.625 { small } else { large };
    t.copysign(x)
}

multiversion! {
    /// `x = 1 / (1 + e^-x)` in place.
    fn sigmoid_in_place(x: &mut [f32]) {
        for x in x.iter_mut() {
            *x = sigmoid(*x);
        }
    }
}

multiversion! {
    /// `x = tanh(x)` in place.
    fn tanh_in_place(x: &mut [f32]) {
        for x in x.iter_mut() {
            *x = tanh(*x);
        }
    }
}

multiversion! {
    /// `c = f·c + i·g` and `out = o·tanh(c)` for one row of activated gates.
    fn cell_update(i: &[f32], f: &[f32], g: &[f32], o: &[f32], c: &mut [f32], out: &mut [f32]) {
        let n = c.len();
        let (i, f, g, o, out) = (&i[..n], &f[..n], &g[..n], &o[..n], &mut out[..n]);
        for j in 0..n {
            c[j] = f[j] * c[j] + i[j] * g[j];
        }
        for j in 0..n {
            out[j] = o[j] * tanh(c[j]);
        }
    }
}

/// One step's cells, row by row of `z [rows, 4h]` (pre-activations in,
/// activated gates out): `c = f·c + i·g` in place (`c` holds the previous
/// cell state on entry), `h = o·tanh(c)`. Each pass is a loop over one or
/// two slices, which LLVM vectorizes; one loop doing all of it stayed
/// scalar (half the training time of a small LSTM, measured with perf).
fn cell_forward(z: &mut [f32], c: &mut [f32], out: &mut [f32], hidden: usize) {
    let rows = z
        .chunks_exact_mut(4 * hidden)
        .zip(c.chunks_exact_mut(hidden));
    for ((z, c), out) in rows.zip(out.chunks_exact_mut(hidden)) {
        let (if_, rest) = z.split_at_mut(2 * hidden);
        let (g, o) = rest.split_at_mut(hidden);
        sigmoid_in_place(if_);
        tanh_in_place(g);
        sigmoid_in_place(o);
        let (i, f) = if_.split_at(hidden);
        cell_update(i, f, g, o, c, out);
    }
}

/// One step backward, row by row: from the activated gates `z`, the cell
/// states `c` and `c_prev`, the hidden state's gradient `dh` and the cell
/// state's gradient from the next step `dc`, writes the gates'
/// pre-activation gradients over `z` and the gradient reaching the
/// previous cell state over `dc`.
fn cell_backward(
    z: &mut [f32],
    c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    hidden: usize,
) {
    let states = c.chunks_exact(hidden).zip(c_prev.chunks_exact(hidden));
    let grads = dh.chunks_exact(hidden).zip(dc.chunks_exact_mut(hidden));
    for (z, ((c, c_prev), (dh, dc))) in z.chunks_exact_mut(4 * hidden).zip(states.zip(grads)) {
        let (zi, rest) = z.split_at_mut(hidden);
        let (zf, rest) = rest.split_at_mut(hidden);
        let (zg, zo) = rest.split_at_mut(hidden);
        cell_backward_row([zi, zf, zg, zo], c, c_prev, dh, dc);
    }
}

multiversion! {
    /// [`cell_backward`] of one row. The gates come in as separate
    /// arguments: slices split inside one function may alias as far as
    /// LLVM knows, and its runtime checks kept the loop scalar (a third of
    /// a small LSTM's training time, measured with perf).
    fn cell_backward_row(gates: [&mut [f32]; 4], c: &[f32], c_prev: &[f32], dh: &[f32], dc: &mut [f32]) {
        let [zi, zf, zg, zo] = gates;
        let n = dc.len();
        let (zi, zf, zg, zo) = (&mut zi[..n], &mut zf[..n], &mut zg[..n], &mut zo[..n]);
        let (c, c_prev, dh) = (&c[..n], &c_prev[..n], &dh[..n]);
        for j in 0..n {
            let (gi, gf, gg, go) = (zi[j], zf[j], zg[j], zo[j]);
            let tc = tanh(c[j]);
            let d_o = dh[j] * tc;
            let d_c = dh[j] * go * (1.0 - tc * tc) + dc[j];
            dc[j] = d_c * gf;
            zi[j] = d_c * gg * gi * (1.0 - gi);
            zf[j] = d_c * c_prev[j] * gf * (1.0 - gf);
            zg[j] = d_c * gi * (1.0 - gg * gg);
            zo[j] = d_o * go * (1.0 - go);
        }
    }
}
