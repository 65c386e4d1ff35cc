//! A stacked LSTM in builtins, its recurrence unrolled over the
//! sequence's (fixed) length: per layer and step, the gates as one
//! `FULLY_CONNECTED` of the input (both biases summed) plus one of the
//! previous hidden state, cut into `i, f, g, o` (PyTorch's order) by
//! `STRIDED_SLICE`, then `c = f·c + i·g` and `h = o·tanh(c)`; zero initial
//! state, so the first step has no recurrent terms. The top layer's
//! states are joined along the time axis. TFLite's own
//! `UNIDIRECTIONAL_SEQUENCE_LSTM` would be one operator, with a weight
//! layout of its own; the unrolled form needs nothing beyond what every
//! runtime has.

use super::layout::Layout;
use super::ops::LayerCx;
use super::{Builder, Stored, dim};
use crate::tflite::ExportError;
use crate::tflite::model::{Activation, Op, TensorId};

impl Builder<'_> {
    pub(super) fn lstm(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        hidden: usize,
        layers: usize,
    ) -> Result<Stored, ExportError> {
        let (len, features) = (shape[0], shape[1]);
        let x = self.unflattened(cx, x, shape);
        let time_axis = x.layout.tensor_axis(0).unwrap_or(0);
        // Each step of the input, `[batch, features]`, wherever the
        // layout keeps time.
        let mut steps: Vec<TensorId> = (0..len)
            .map(|t| {
                let name = format!("{}.x{t}", cx.name);
                self.slice(x.tensor, 2, time_axis, t..t + 1, true, &name, &[features])
            })
            .collect();
        let value = self.model.value(cx.id);
        let params = value.params.clone();
        for k in 0..layers {
            let width = if k == 0 { features } else { hidden };
            let read = |position: usize| -> Result<(String, Vec<f32>), ExportError> {
                let param = self.model.param(params[4 * k + position]);
                let values = cx.weights.f32(&param.name, param.shape.dims())?.to_vec();
                Ok((param.name.clone(), values))
            };
            let (w_ih_name, w_ih) = read(0)?;
            let (w_hh_name, w_hh) = read(1)?;
            let (b_ih_name, b_ih) = read(2)?;
            let (_, b_hh) = read(3)?;
            let bias: Vec<f32> = b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect();
            let w_ih = self.f32_constant(&w_ih_name, &[4 * hidden, width], &w_ih);
            let w_hh = self.f32_constant(&w_hh_name, &[4 * hidden, hidden], &w_hh);
            let bias = self.f32_constant(&format!("{b_ih_name}.joint"), &[4 * hidden], &bias);
            let mut state: Option<(TensorId, TensorId)> = None;
            let mut outputs = Vec::with_capacity(len);
            for (t, &input) in steps.iter().enumerate() {
                let name = format!("{}.l{k}.t{t}", cx.name);
                let cell = self.lstm_step(&name, input, state, [w_ih, w_hh, bias], hidden);
                outputs.push(cell.0);
                state = Some(cell);
            }
            steps = outputs;
        }
        // The top layer's states as `[batch, len, hidden]`.
        let rows: Vec<Option<TensorId>> = steps
            .iter()
            .enumerate()
            .map(|(t, &h)| Some(self.reshape(h, &[1, hidden], &format!("{}.h{t}", cx.name))))
            .collect();
        let op = Op::Concatenation {
            axis: 1,
            activation: Activation::None,
        };
        let tensor = self.push(op, rows, &cx.name, &[len, hidden]);
        Ok(Stored {
            tensor,
            layout: Layout::natural(2),
        })
    }

    /// One step of one layer: `(h, c)` from the input and the previous
    /// `(h, c)` (`None` at the first step: zeros).
    fn lstm_step(
        &mut self,
        name: &str,
        input: TensorId,
        state: Option<(TensorId, TensorId)>,
        [w_ih, w_hh, bias]: [TensorId; 3],
        hidden: usize,
    ) -> (TensorId, TensorId) {
        let activation = Activation::None;
        let fc = Op::FullyConnected {
            activation,
            keep_num_dims: false,
        };
        let gates_dims = [4 * hidden];
        let mut gates = self.push(
            fc.clone(),
            vec![Some(input), Some(w_ih), Some(bias)],
            &format!("{name}.input_gates"),
            &gates_dims,
        );
        if let Some((h, _)) = state {
            let recurrent = self.push(
                fc,
                vec![Some(h), Some(w_hh), None],
                &format!("{name}.recurrent_gates"),
                &gates_dims,
            );
            gates = self.push(
                Op::Add { activation },
                vec![Some(gates), Some(recurrent)],
                &format!("{name}.gates"),
                &gates_dims,
            );
        }
        let mut gate = |g: usize, what: &str, op: Op| {
            let range = g * hidden..(g + 1) * hidden;
            let name = format!("{name}.{what}");
            let z = self.slice(gates, 1, 0, range, false, &format!("{name}_z"), &[hidden]);
            self.push(op, vec![Some(z)], &name, &[hidden])
        };
        let i = gate(0, "i", Op::Logistic);
        let f = gate(1, "f", Op::Logistic);
        let g = gate(2, "g", Op::Tanh);
        let o = gate(3, "o", Op::Logistic);
        let mul = |b: &mut Self, a: TensorId, c: TensorId, what: &str| {
            b.push(
                Op::Mul { activation },
                vec![Some(a), Some(c)],
                &format!("{name}.{what}"),
                &[hidden],
            )
        };
        let mut c = mul(self, i, g, "ig");
        if let Some((_, previous)) = state {
            let kept = mul(self, f, previous, "fc");
            c = self.push(
                Op::Add { activation },
                vec![Some(kept), Some(c)],
                &format!("{name}.c"),
                &[hidden],
            );
        }
        let squashed = self.push(
            Op::Tanh,
            vec![Some(c)],
            &format!("{name}.tanh_c"),
            &[hidden],
        );
        let h = mul(self, o, squashed, "h");
        (h, c)
    }

    /// A `STRIDED_SLICE` of `range` along per-sample axis `axis` of a
    /// tensor of per-sample rank `rank`, every other axis whole; `shrink`
    /// drops the axis (a range of one).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn slice(
        &mut self,
        x: TensorId,
        rank: usize,
        axis: usize,
        range: std::ops::Range<usize>,
        shrink: bool,
        name: &str,
        dims: &[usize],
    ) -> TensorId {
        let full = rank + 1;
        let sliced = axis + 1;
        let mut begin = vec![0; full];
        let mut end = vec![0; full];
        begin[sliced] = dim(range.start);
        end[sliced] = dim(range.end);
        let whole = ((1i32 << full) - 1) & !(1 << sliced);
        let begin = self.i32_constant(&format!("{name}.begin"), &begin);
        let end = self.i32_constant(&format!("{name}.end"), &end);
        let strides = self.i32_constant(&format!("{name}.strides"), &vec![1; full]);
        let op = Op::StridedSlice {
            begin_mask: whole,
            end_mask: whole,
            shrink_axis_mask: if shrink { 1 << sliced } else { 0 },
        };
        let inputs = vec![Some(x), Some(begin), Some(end), Some(strides)];
        self.push(op, inputs, name, dims)
    }
}
