//! The int8 executor: runs a [`QPlan`] over caller-provided memory, with no
//! allocation and no `std`.
//!
//! Three arenas, sized by [`arena_sizes`]:
//! * **f32**: the float plan's buffers at the places [`crate::infer`] gives
//!   them (so [`input_range`] and [`output_range`] are `infer`'s), then the
//!   float steps' scratch. The batch goes into [`input_range`]; after
//!   [`run`] the outputs, dequantized, are at [`output_range`].
//! * **u8**: every [`QTensor`], one after another, `per_sample · batch`
//!   bytes each. After [`run`], [`u8_output_range`] holds each output's
//!   integers: the "int8 outputs" every tier and generated code must
//!   reproduce bit for bit.
//! * **scratch** (bytes): the convolutions' im2col rows.
//!
//! Float steps go through [`crate::forward::forward_step`] in inference
//! mode, as [`crate::infer::run`] runs them, so they compute what the float
//! plan computes from the same inputs.
// Steps are matched wherever they run: no catch-all arm may swallow a new
// one (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use core::ops::Range;

use super::kernels::{self, PackedLayer};
use super::plan::{QPlan, QStep, QTensorId};
use crate::forward::{self, Layout, Memory, Params};
use crate::plan::{BufferId, BufferType, ParamId, Plan, Size};
use crate::threads::Threads;

/// What [`run`] needs for a batch: elements of each arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaSizes {
    /// Floats of the f32 arena (buffers, then the float steps' scratch).
    pub f32_len: usize,
    /// Bytes of the u8 arena (every [`QTensor`](super::plan::QTensor)).
    pub u8_len: usize,
    /// Bytes of the convolutions' scratch.
    pub scratch_len: usize,
}

/// The arenas [`run`] needs for batches of up to `batch` samples on
/// `threads` threads; `None` if a size overflows.
pub fn arena_sizes(q: &QPlan, batch: usize, threads: usize) -> Option<ArenaSizes> {
    let float_scratch = q
        .steps
        .iter()
        .map(|s| match s {
            QStep::Float(step) => forward::scratch_len(step, batch, threads.max(1)),
            QStep::Quantize { .. }
            | QStep::Dequantize { .. }
            | QStep::Dense { .. }
            | QStep::Conv2d { .. }
            | QStep::MaxPool2d { .. } => 0,
        })
        .max()
        .unwrap_or(0);
    let u8_len = q.tensors.iter().try_fold(0usize, |total, t| {
        total.checked_add(t.per_sample.checked_mul(batch)?)
    })?;
    Some(ArenaSizes {
        f32_len: f32_buffers_len(&q.float, batch)?.checked_add(float_scratch)?,
        u8_len,
        scratch_len: conv_scratch_len(q),
    })
}

/// Bytes of scratch the convolutions need (one image at a time).
fn conv_scratch_len(q: &QPlan) -> usize {
    q.steps
        .iter()
        .map(|s| match s {
            QStep::Conv2d { shape, .. } => kernels::conv2d_scratch_len(shape),
            QStep::Quantize { .. }
            | QStep::Dequantize { .. }
            | QStep::Dense { .. }
            | QStep::MaxPool2d { .. }
            | QStep::Float(_) => 0,
        })
        .max()
        .unwrap_or(0)
}

fn size_for(size: Size, batch: usize) -> usize {
    match size {
        Size::PerSample(n) => n * batch,
        Size::Fixed(n) => n,
    }
}

/// Floats of the float plan's f32 buffers for `batch` samples.
fn f32_buffers_len(plan: &Plan, batch: usize) -> Option<usize> {
    plan.buffers
        .iter()
        .filter(|b| b.alias_of.is_none() && b.ty == BufferType::F32)
        .try_fold(0usize, |total, b| {
            let len = match b.size {
                Size::PerSample(n) => n.checked_mul(batch)?,
                Size::Fixed(n) => n,
            };
            total.checked_add(len)
        })
}

/// The float plan's buffers as [`crate::infer`] lays them out for arenas
/// of `batch` samples.
#[derive(Clone, Copy, Debug)]
pub struct FloatLayout<'p> {
    pub plan: &'p Plan,
    /// The batch the arena was sized for.
    pub batch: usize,
}

impl Layout for FloatLayout<'_> {
    fn buffer(&self, id: BufferId, batch: usize) -> Range<usize> {
        let root = self.plan.root(id);
        let ty = self.plan.buffer(root).ty;
        let first: usize = self.plan.buffers[..root.index()]
            .iter()
            .filter(|b| b.alias_of.is_none() && b.ty == ty)
            .map(|b| size_for(b.size, self.batch))
            .sum();
        first..first + size_for(self.plan.buffer(id).size, batch)
    }

    fn param(&self, id: ParamId) -> Range<usize> {
        crate::infer::param_range(self.plan, id)
    }
}

/// Where float buffer `id` of `q.float` is in the f32 arena, for a batch
/// of `batch` samples in an arena sized for `batch`.
pub fn buffer_range(q: &QPlan, id: BufferId, batch: usize) -> Range<usize> {
    FloatLayout {
        plan: &q.float,
        batch,
    }
    .buffer(id, batch)
}

/// Where the model's input goes in the f32 arena (`batch` × input
/// elements).
pub fn input_range(q: &QPlan, batch: usize) -> Range<usize> {
    buffer_range(q, q.float.inputs[0], batch)
}

/// Where output `index` is, as f32, after [`run`].
pub fn output_range(q: &QPlan, batch: usize, index: usize) -> Range<usize> {
    buffer_range(q, q.float.outputs[index].1, batch)
}

/// Where tensor `id` is in the u8 arena for a batch of `batch` samples.
pub fn tensor_range(q: &QPlan, id: QTensorId, batch: usize) -> Range<usize> {
    let first: usize = q.tensors[..id.index()]
        .iter()
        .map(|t| t.per_sample * batch)
        .sum();
    first..first + q.tensor(id).per_sample * batch
}

/// The `u8` tensor holding output `index`: the last step that either
/// dequantizes into the output's buffer or quantizes it (an output
/// computed in f32 is quantized too, so that every output has integers).
pub fn output_tensor(q: &QPlan, index: usize) -> Option<QTensorId> {
    let out = q.float.root(q.float.outputs.get(index)?.1);
    q.steps.iter().rev().find_map(|s| match s {
        QStep::Dequantize { x, y } if q.float.root(*y) == out => Some(*x),
        QStep::Quantize { x, y } if q.float.root(*x) == out => Some(*y),
        QStep::Quantize { .. }
        | QStep::Dequantize { .. }
        | QStep::Dense { .. }
        | QStep::Conv2d { .. }
        | QStep::MaxPool2d { .. }
        | QStep::Float(_) => None,
    })
}

/// Where output `index`'s integers are in the u8 arena after [`run`].
pub fn u8_output_range(q: &QPlan, batch: usize, index: usize) -> Option<Range<usize>> {
    Some(tensor_range(q, output_tensor(q, index)?, batch))
}

/// `x` read-only and `y` writable in one arena (`x` and `y` must not
/// overlap: distinct tensors never do).
fn split_pair(arena: &mut [u8], x: Range<usize>, y: Range<usize>) -> (&[u8], &mut [u8]) {
    assert!(
        x.end <= y.start || y.end <= x.start,
        "quant::run: a step reads and writes the same tensor"
    );
    if x.start < y.start {
        let (lo, hi) = arena.split_at_mut(y.start);
        (&lo[x], &mut hi[..y.end - y.start])
    } else {
        let (lo, hi) = arena.split_at_mut(x.start);
        (&hi[..x.end - x.start], &mut lo[y])
    }
}

/// Runs `q` on the batch of `batch` samples in [`input_range`] of
/// `f32_arena`, on the threads of `par`. The arenas must hold at least
/// [`arena_sizes`]`(q, batch, par.threads())`. Allocates nothing.
pub fn run(
    q: &QPlan,
    f32_arena: &mut [f32],
    u8_arena: &mut [u8],
    scratch: &mut [u8],
    batch: usize,
    par: &dyn Threads,
) {
    let sizes = arena_sizes(q, batch, par.threads()).expect("quant::run: arena sizes overflow");
    assert!(
        f32_arena.len() >= sizes.f32_len
            && u8_arena.len() >= sizes.u8_len
            && scratch.len() >= sizes.scratch_len,
        "quant::run: arenas of {} floats, {} and {} bytes; {sizes:?} needed",
        f32_arena.len(),
        u8_arena.len(),
        scratch.len()
    );
    let buffers_len = f32_buffers_len(&q.float, batch).expect("checked above");
    let (buffers, float_scratch) = f32_arena.split_at_mut(buffers_len);
    let layout = FloatLayout {
        plan: &q.float,
        batch,
    };
    let t = |id: QTensorId| tensor_range(q, id, batch);
    for step in &q.steps {
        match step {
            QStep::Quantize { x, y } => {
                let params = q.tensor(*y).q;
                kernels::quantize(
                    &buffers[layout.buffer(*x, batch)],
                    params,
                    &mut u8_arena[t(*y)],
                );
            }
            QStep::Dequantize { x, y } => {
                let params = q.tensor(*x).q;
                kernels::dequantize(
                    &u8_arena[t(*x)],
                    params,
                    &mut buffers[layout.buffer(*y, batch)],
                );
            }
            QStep::Dense { x, layer, y, relu } => {
                let l = &q.layers[*layer];
                let rows = q.tensor(*x).per_sample * batch / l.k.max(1);
                let (x_zp, y_zp) = (q.tensor(*x).q.zero_point, q.tensor(*y).q.zero_point);
                let (xs, ys) = split_pair(u8_arena, t(*x), t(*y));
                kernels::dense(xs, rows, &PackedLayer::from(l), x_zp, y_zp, *relu, ys, par);
            }
            QStep::Conv2d {
                x,
                layer,
                y,
                shape,
                relu,
            } => {
                let l = &q.layers[*layer];
                let (x_zp, y_zp) = (q.tensor(*x).q.zero_point, q.tensor(*y).q.zero_point);
                let (xs, ys) = split_pair(u8_arena, t(*x), t(*y));
                kernels::conv2d(
                    xs,
                    batch,
                    shape,
                    &PackedLayer::from(l),
                    x_zp,
                    y_zp,
                    *relu,
                    ys,
                    scratch,
                    par,
                );
            }
            QStep::MaxPool2d { x, y, shape } => {
                let (xs, ys) = split_pair(u8_arena, t(*x), t(*y));
                kernels::maxpool2d(xs, batch, shape, ys);
            }
            QStep::Float(step) => {
                let mem = Memory {
                    arena: &mut *buffers,
                    indices: &mut [],
                    params: Params::Read(&q.float_params),
                    scratch: &mut *float_scratch,
                };
                forward::forward_step(step, &layout, batch, mem, None, par);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Buffer, Init, Param, ParamKind, Step};
    use crate::quant::kernels::{pack_weights, weight_sums};
    use crate::quant::plan::{QLayer, QTensor};
    use crate::quant::scheme::{QuantParams, Requant};
    use crate::threads::Serial;
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    fn buffer(name: &str, n: usize) -> Buffer {
        Buffer {
            name: name.to_string(),
            size: Size::PerSample(n),
            ty: BufferType::F32,
            alias_of: None,
        }
    }

    /// `x[3] → dense(2) → sigmoid → y`, the dense layer in int8 and the
    /// sigmoid in f32, built by hand.
    fn tiny() -> QPlan {
        let float = Plan {
            model: "Tiny".to_string(),
            buffers: vec![buffer("x", 3), buffer("h", 2), buffer("y", 2)],
            params: vec![Param {
                name: "fc.weight".to_string(),
                shape: vec![2, 3],
                init: Init::Constant(0.0),
                kind: ParamKind::Trainable,
            }],
            inputs: vec![BufferId(0)],
            input_shapes: vec![vec![3]],
            outputs: vec![("y".to_string(), BufferId(2), vec![2])],
            forward: vec![],
            loss: None,
            backward: vec![],
            optimizer: None,
            clip: None,
        };
        let weight = vec![10i8, -20, 30, 127, 0, -127];
        let q = |scale, zero_point| QuantParams { scale, zero_point };
        let tensor = |name: &str, n, p| QTensor {
            name: name.to_string(),
            per_sample: n,
            q: p,
        };
        QPlan {
            float,
            float_params: vec![0.0; 6],
            tensors: vec![
                tensor("x", 3, q(0.5, 10)),
                tensor("h", 2, q(0.25, 64)),
                tensor("y", 2, q(1.0 / 127.0, 0)),
            ],
            layers: vec![QLayer {
                name: "fc".to_string(),
                n: 2,
                k: 3,
                packed: pack_weights(&weight, 2, 3),
                weight_sums: weight_sums(&weight, 2, 3),
                weight,
                weight_scale: vec![0.01, 0.02],
                bias: vec![100, -50],
                requant: vec![Requant::from_real(0.02), Requant::from_real(0.04)],
            }],
            steps: vec![
                QStep::Quantize {
                    x: BufferId(0),
                    y: QTensorId(0),
                },
                QStep::Dense {
                    x: QTensorId(0),
                    layer: 0,
                    y: QTensorId(1),
                    relu: false,
                },
                QStep::Dequantize {
                    x: QTensorId(1),
                    y: BufferId(1),
                },
                QStep::Float(Step::Sigmoid {
                    x: BufferId(1),
                    y: BufferId(2),
                }),
                QStep::Quantize {
                    x: BufferId(2),
                    y: QTensorId(2),
                },
            ],
        }
    }

    #[test]
    fn runs_int8_and_float_steps_where_infer_lays_buffers_out() {
        let q = tiny();
        let batch = 2;
        let sizes = arena_sizes(&q, batch, 1).unwrap();
        assert_eq!(
            sizes,
            ArenaSizes {
                f32_len: 14,
                u8_len: 14,
                scratch_len: 0
            }
        );
        assert_eq!(
            input_range(&q, batch),
            crate::infer::input_range(&q.float, batch)
        );
        assert_eq!(
            output_range(&q, batch, 0),
            crate::infer::output_range(&q.float, batch, 0)
        );
        assert_eq!(output_tensor(&q, 0), Some(QTensorId(2)));
        let mut f = vec![f32::NAN; sizes.f32_len];
        let mut u = vec![0xAA; sizes.u8_len];
        let x = [1.0f32, -2.0, 3.0, 0.0, 0.5, 100.0];
        f[input_range(&q, batch)].copy_from_slice(&x);
        run(&q, &mut f, &mut u, &mut [], batch, &Serial);
        let out = &u[u8_output_range(&q, batch, 0).unwrap()];
        for s in 0..batch {
            // By hand, from the scheme: quantize, sum, requantize, dequantize.
            let xq: Vec<i64> = x[s * 3..s * 3 + 3]
                .iter()
                .map(|&v| q.tensors[0].q.quantize(v) as i64)
                .collect();
            for c in 0..2 {
                let l = &q.layers[0];
                let acc: i64 = (0..3)
                    .map(|i| (xq[i] - 10) * l.weight[c * 3 + i] as i64)
                    .sum::<i64>()
                    + l.bias[c] as i64;
                let h = (l.requant[c].apply(acc as i32) + 64).clamp(0, 127) as u8;
                assert_eq!(u[2 * 3 + s * 2 + c], h, "sample {s} channel {c}");
                let real = (h as f32 - 64.0) * 0.25;
                let y = 1.0 / (1.0 + libm::expf(-real));
                assert!((f[output_range(&q, batch, 0)][s * 2 + c] - y).abs() < 1e-6);
                assert_eq!(
                    out[s * 2 + c],
                    q.tensors[2]
                        .q
                        .quantize(f[output_range(&q, batch, 0)][s * 2 + c])
                );
            }
        }
    }
}
