//! Multi-head self-attention, which TFLite has no operator for, in its
//! builtins on `[batch, len, dim]`: the query, key and value projections
//! as three `FULLY_CONNECTED` (the joint weight's row blocks), heads split
//! by `RESHAPE` and `TRANSPOSE`, scores by `BATCH_MATMUL` against the keys
//! transposed (`adj_y`), scaled, masked when causal, `SOFTMAX`, the
//! weighted values by `BATCH_MATMUL`, heads joined, the output projection.

use super::layout::Layout;
use super::ops::LayerCx;
use super::{Builder, Stored};
use crate::tflite::ExportError;
use crate::tflite::model::{Activation, Op, TensorId};

impl Builder<'_> {
    pub(super) fn attention(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        heads: usize,
        causal: bool,
    ) -> Result<Stored, ExportError> {
        let (len, width) = (shape[0], shape[1]);
        let head = width / heads.max(1);
        let natural = Layout::natural(2);
        let x = self.convert(x, shape, &natural, &cx.name);
        let value = self.model.value(cx.id);
        let param = |position: usize| self.model.param(value.params[position]);
        let (in_weight, in_bias) = (param(0), param(1));
        let (out_weight, out_bias) = (param(2), param(3));
        let joint = cx
            .weights
            .f32(&in_weight.name, in_weight.shape.dims())?
            .to_vec();
        let joint_bias = cx
            .weights
            .f32(&in_bias.name, in_bias.shape.dims())?
            .to_vec();
        let (in_weight, in_bias) = (in_weight.name.clone(), in_bias.name.clone());
        let mut split = Vec::with_capacity(3);
        for (part, which) in ["q", "k", "v"].into_iter().enumerate() {
            let rows = &joint[part * width * width..(part + 1) * width * width];
            let bias = &joint_bias[part * width..(part + 1) * width];
            let weight = self.f32_constant(&format!("{in_weight}.{which}"), &[width, width], rows);
            let bias = self.f32_constant(&format!("{in_bias}.{which}"), &[width], bias);
            let name = format!("{}.{which}", cx.name);
            let projected = self.fully_connected(x, weight, bias, &name, &[len, width]);
            let heads_apart = self.reshape(projected, &[len, heads, head], &name);
            split.push(self.transpose(heads_apart, &[heads, len, head], &[1, 0, 2], &name));
        }
        let name = |what: &str| format!("{}.{what}", cx.name);
        let scores_dims = [heads, len, len];
        let matmul = |adj_y| Op::BatchMatMul {
            adj_x: false,
            adj_y,
        };
        let scores = self.push(
            matmul(true),
            vec![Some(split[0]), Some(split[1])],
            &name("scores"),
            &scores_dims,
        );
        let scale = 1.0 / (head as f32).sqrt();
        let scale = self.f32_constant(&name("scale"), &[], &[scale]);
        let activation = Activation::None;
        let mut scores = self.push(
            Op::Mul { activation },
            vec![Some(scores), Some(scale)],
            &name("scaled"),
            &scores_dims,
        );
        if causal {
            // Step i sees steps up to i: -inf above the diagonal.
            let mask: Vec<f32> = (0..len * len)
                .map(|i| {
                    if i % len > i / len {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
                .collect();
            let mask = self.f32_constant(&name("causal_mask"), &[len, len], &mask);
            scores = self.push(
                Op::Add { activation },
                vec![Some(scores), Some(mask)],
                &name("masked"),
                &scores_dims,
            );
        }
        let probabilities = self.push(
            Op::Softmax { beta: 1.0 },
            vec![Some(scores)],
            &name("probabilities"),
            &scores_dims,
        );
        let mixed = self.push(
            matmul(false),
            vec![Some(probabilities), Some(split[2])],
            &name("mixed"),
            &[heads, len, head],
        );
        let steps_first = self.transpose(mixed, &[len, heads, head], &[1, 0, 2], &name("mixed"));
        let joined = self.reshape(steps_first, &[len, width], &name("joined"));
        let out_weight_values = cx.weights.f32(&out_weight.name, &[width, width])?.to_vec();
        let out_bias_values = cx.weights.f32(&out_bias.name, &[width])?.to_vec();
        let (out_weight, out_bias) = (out_weight.name.clone(), out_bias.name.clone());
        let weight = self.f32_constant(&out_weight, &[width, width], &out_weight_values);
        let bias = self.f32_constant(&out_bias, &[width], &out_bias_values);
        let tensor = self.fully_connected(joined, weight, bias, &cx.name, &[len, width]);
        Ok(Stored {
            tensor,
            layout: natural,
        })
    }

    /// `FULLY_CONNECTED` over the last axis, the leading ones kept.
    fn fully_connected(
        &mut self,
        x: TensorId,
        weight: TensorId,
        bias: TensorId,
        name: &str,
        dims: &[usize],
    ) -> TensorId {
        let op = Op::FullyConnected {
            activation: Activation::None,
            keep_num_dims: true,
        };
        self.push(op, vec![Some(x), Some(weight), Some(bias)], name, dims)
    }
}
