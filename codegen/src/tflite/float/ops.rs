//! The operators of one operation of a layer's rule, for the operations
//! that have no weights and no window (those are in `weights` and
//! `window`, the normalizations in `norm`): each reads its operands in
//! whatever layout they are stored and picks its result's layout.

use nnspec_dsl::ir::ValueId;
use nnspec_dsl::ops::{TfliteBinary, TfliteOp, TfliteUnary};
use nnspec_runtime::safetensors_file::Checkpoint;

use super::layout::{Layout, inverse};
use super::{Builder, Stored, dim};
use crate::tflite::ExportError;
use crate::tflite::model::{Activation, Op, TensorId};

/// What an operation reads: a value (the layer's input or an earlier
/// result of its chain) with its per-sample shape in nnspec's order, or a
/// scalar constant.
#[derive(Clone, Debug)]
pub(super) enum Operand {
    Value { stored: Stored, shape: Vec<usize> },
    Float(f32),
}

/// The layer an operation belongs to.
pub(super) struct LayerCx<'w> {
    pub(super) id: ValueId,
    /// The name of the operation's result (the layer's, or `{layer}.{k}`
    /// inside a chain); helper tensors are named after it.
    pub(super) name: String,
    /// Whether the operation's result is the layer's (the last of a
    /// chain): only then may it absorb a layer reading the result.
    pub(super) last: bool,
    pub(super) weights: &'w Checkpoint,
}

impl Operand {
    /// The value, for an operation whose rule gives it one.
    fn value(&self) -> Result<(&Stored, &[usize]), ExportError> {
        match self {
            Operand::Value { stored, shape } => Ok((stored, shape)),
            Operand::Float(_) => Err(ExportError::Mismatch(
                "a TFLite rule gave a constant where a value is read".into(),
            )),
        }
    }
}

impl Builder<'_> {
    /// Appends the operators of `op` over `operands`; returns its result.
    pub(super) fn operation(
        &mut self,
        cx: &LayerCx,
        op: &TfliteOp,
        operands: Vec<Operand>,
    ) -> Result<Stored, ExportError> {
        let Some(first) = operands.first() else {
            return Err(ExportError::Mismatch(
                "a TFLite rule gave an operation no operands".into(),
            ));
        };
        let output: Vec<usize> = self.model.value(cx.id).shape.dims().to_vec();
        if let TfliteOp::Binary(binary) = op {
            return self.binary(cx, *binary, &operands);
        }
        if let TfliteOp::Concat { axis } = op {
            return self.concat(cx, *axis, &operands, &output);
        }
        let (x, shape) = first.value()?;
        let (x, shape) = (x.clone(), shape.to_vec());
        Ok(match op {
            TfliteOp::Dense { bias } => self.dense(cx, &x, &shape, *bias)?,
            TfliteOp::Conv {
                window,
                groups,
                bias,
            } => self.conv(cx, &x, &shape, window, *groups, *bias)?,
            TfliteOp::Pool { kind, window } => self.pool(cx, &x, &shape, *kind, window),
            TfliteOp::GlobalAveragePool => self.global_average_pool(cx, &x, &shape),
            TfliteOp::AdaptiveAveragePool { out } => {
                self.adaptive_average_pool(cx, &x, &shape, *out)
            }
            TfliteOp::BatchNorm { eps } => self.batchnorm(cx, &x, &shape, *eps)?,
            TfliteOp::LayerNorm { eps, affine } => self.layernorm(cx, &x, &shape, *eps, *affine)?,
            TfliteOp::Embedding => self.embedding(cx, &x, &output)?,
            TfliteOp::Last => self.last(cx, &x, &shape),
            TfliteOp::Attention { heads, causal } => {
                self.attention(cx, &x, &shape, *heads, *causal)?
            }
            TfliteOp::Lstm { hidden, layers } => self.lstm(cx, &x, &shape, *hidden, *layers)?,
            TfliteOp::Reshape => self.reshape_value(cx, &x, &shape, &output),
            TfliteOp::Softmax { axis } => self.softmax(cx, &x, &shape, *axis),
            TfliteOp::Mean { axis } => self.mean(cx, &x, &shape, *axis),
            TfliteOp::Unary(unary) => {
                let dims = x.layout.tensor_dims(&shape);
                let tensor = self.push(unary_op(*unary), vec![Some(x.tensor)], &cx.name, &dims);
                Stored {
                    tensor,
                    layout: x.layout,
                }
            }
            // Handled above: they read several operands.
            TfliteOp::Binary(_) | TfliteOp::Concat { .. } => unreachable!("handled above"),
        })
    }

    /// Two values of one shape (the second moved to the first's layout),
    /// or a value and a scalar.
    fn binary(
        &mut self,
        cx: &LayerCx,
        binary: TfliteBinary,
        operands: &[Operand],
    ) -> Result<Stored, ExportError> {
        let [a, b] = operands else {
            return Err(ExportError::Mismatch(format!(
                "a TFLite rule gave {binary:?} {} operands",
                operands.len()
            )));
        };
        let (reference, shape) = match (a, b) {
            (Operand::Value { stored, shape }, _) | (_, Operand::Value { stored, shape }) => {
                (stored.clone(), shape.clone())
            }
            (Operand::Float(_), Operand::Float(_)) => {
                return Err(ExportError::Mismatch(format!(
                    "a TFLite rule gave {binary:?} two constants"
                )));
            }
        };
        let mut inputs = Vec::with_capacity(2);
        for operand in [a, b] {
            inputs.push(Some(match operand {
                Operand::Value { stored, shape } => {
                    self.convert(stored, shape, &reference.layout, &cx.name)
                }
                Operand::Float(v) => self.f32_constant(&format!("{}.const", cx.name), &[], &[*v]),
            }));
        }
        let dims = reference.layout.tensor_dims(&shape);
        // A ReLU alone reading a sum (a residual block's) is fused.
        let activation = match binary {
            TfliteBinary::Add | TfliteBinary::Sub | TfliteBinary::Mul | TfliteBinary::Div => {
                self.fused_relu(cx, cx.id)
            }
            TfliteBinary::Maximum | TfliteBinary::Minimum => Activation::None,
        };
        let tensor = self.push(binary_op(binary, activation), inputs, &cx.name, &dims);
        Ok(Stored {
            tensor,
            layout: reference.layout,
        })
    }

    /// Every operand in the first one's layout, joined along `axis`.
    fn concat(
        &mut self,
        cx: &LayerCx,
        axis: usize,
        operands: &[Operand],
        output: &[usize],
    ) -> Result<Stored, ExportError> {
        let (first, shape) = operands[0].value()?;
        let layout = match &first.layout {
            Layout::Permuted(_) => first.layout.clone(),
            Layout::Flat { .. } => Layout::natural(shape.len()),
        };
        let mut inputs = Vec::with_capacity(operands.len());
        for operand in operands {
            let (stored, shape) = operand.value()?;
            inputs.push(Some(self.convert(stored, shape, &layout, &cx.name)));
        }
        let tensor_axis = layout.tensor_axis(axis).unwrap_or(axis);
        let op = Op::Concatenation {
            axis: dim(tensor_axis + 1),
            activation: Activation::None,
        };
        let dims = layout.tensor_dims(output);
        let tensor = self.push(op, inputs, &cx.name, &dims);
        Ok(Stored { tensor, layout })
    }

    /// `SOFTMAX` works along the last axis: `axis` moves there unless it
    /// is (a flattened value has one axis, in any order: the softmax of
    /// a permutation is the permutation of the softmax).
    fn softmax(&mut self, cx: &LayerCx, x: &Stored, shape: &[usize], axis: usize) -> Stored {
        let layout = match &x.layout {
            Layout::Flat { .. } => x.layout.clone(),
            Layout::Permuted(perm) if perm.last() == Some(&axis) => x.layout.clone(),
            Layout::Permuted(perm) => {
                let mut moved: Vec<usize> = perm.iter().copied().filter(|&a| a != axis).collect();
                moved.push(axis);
                Layout::Permuted(moved)
            }
        };
        let input = self.convert(x, shape, &layout, &cx.name);
        let dims = layout.tensor_dims(shape);
        let tensor = self.push(
            Op::Softmax { beta: 1.0 },
            vec![Some(input)],
            &cx.name,
            &dims,
        );
        Stored { tensor, layout }
    }

    /// `MEAN` over the axis wherever the layout stores it.
    fn mean(&mut self, cx: &LayerCx, x: &Stored, shape: &[usize], axis: usize) -> Stored {
        let x_tensor = self.unflattened(cx, x, shape);
        let Layout::Permuted(perm) = x_tensor.layout.clone() else {
            unreachable!("unflattened gives a permuted layout")
        };
        let position = perm.iter().position(|&a| a == axis).unwrap_or(axis);
        let axes = self.i32_constant(&format!("{}.axes", cx.name), &[dim(position + 1)]);
        let kept: Vec<usize> = perm
            .iter()
            .filter(|&&a| a != axis)
            .map(|&a| if a > axis { a - 1 } else { a })
            .collect();
        let layout = Layout::Permuted(kept);
        let mut out_shape = shape.to_vec();
        out_shape.remove(axis);
        let dims = layout.tensor_dims(&out_shape);
        let op = Op::Mean { keep_dims: false };
        let tensor = self.push(op, vec![Some(x_tensor.tensor), Some(axes)], &cx.name, &dims);
        Stored { tensor, layout }
    }

    /// The last step of `[len, features]`: a `STRIDED_SLICE` of one index
    /// along the time axis wherever the layout stores it, that axis shrunk.
    fn last(&mut self, cx: &LayerCx, x: &Stored, shape: &[usize]) -> Stored {
        let x = self.unflattened(cx, x, shape);
        let Layout::Permuted(perm) = x.layout.clone() else {
            unreachable!("unflattened gives a permuted layout")
        };
        let time = perm.iter().position(|&a| a == 0).unwrap_or(0);
        let kept: Vec<usize> = perm.iter().filter(|&&a| a != 0).map(|&a| a - 1).collect();
        let layout = Layout::Permuted(kept);
        let dims = layout.tensor_dims(&shape[1..]);
        let range = shape[0] - 1..shape[0];
        let tensor = self.slice(x.tensor, perm.len(), time, range, true, &cx.name, &dims);
        Stored { tensor, layout }
    }

    /// `flatten` and `reshape`. A flatten of a value stored in another
    /// order keeps that order ([`Layout::Flat`]): the dense layer that
    /// reads it takes its columns in that order instead of a transpose.
    fn reshape_value(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        shape: &[usize],
        output: &[usize],
    ) -> Stored {
        if shape == output {
            return x.clone();
        }
        let layout = match &x.layout {
            Layout::Permuted(perm) if output.len() == 1 && !x.layout.is_natural() => Layout::Flat {
                grid: shape.to_vec(),
                perm: perm.clone(),
            },
            Layout::Permuted(_) | Layout::Flat { .. } => Layout::natural(output.len()),
        };
        let input = match layout {
            // The stored order is kept: the elements only lose their axes.
            Layout::Flat { .. } => x.tensor,
            Layout::Permuted(_) => self.convert(x, shape, &Layout::natural(shape.len()), &cx.name),
        };
        let dims = layout.tensor_dims(output);
        let shape = self.shape_constant(&cx.name, &dims);
        let tensor = self.push(Op::Reshape, vec![Some(input), Some(shape)], &cx.name, &dims);
        Stored { tensor, layout }
    }

    /// `GATHER` of the weight's rows by the token ids.
    fn embedding(
        &mut self,
        cx: &LayerCx,
        x: &Stored,
        output: &[usize],
    ) -> Result<Stored, ExportError> {
        let param = self.model.param(self.model.value(cx.id).params[0]);
        let table = cx.weights.f32(&param.name, param.shape.dims())?;
        let table = self.f32_constant(&param.name, param.shape.dims(), table);
        let op = Op::Gather { axis: 0 };
        let tensor = self.push(op, vec![Some(table), Some(x.tensor)], &cx.name, output);
        Ok(Stored {
            tensor,
            layout: Layout::natural(output.len()),
        })
    }

    /// `x` with its axes stored in some order (a flat value unflattened).
    pub(super) fn unflattened(&mut self, cx: &LayerCx, x: &Stored, shape: &[usize]) -> Stored {
        match x.layout {
            Layout::Permuted(_) => x.clone(),
            Layout::Flat { .. } => {
                let layout = Layout::natural(shape.len());
                let tensor = self.convert(x, shape, &layout, &cx.name);
                Stored { tensor, layout }
            }
        }
    }

    /// `value`'s tensor in layout `to` (the same tensor when it already
    /// is): `TRANSPOSE` and `RESHAPE` operators named `{name}.{what}`.
    pub(super) fn convert(
        &mut self,
        from: &Stored,
        shape: &[usize],
        to: &Layout,
        name: &str,
    ) -> TensorId {
        if from.layout == *to {
            return from.tensor;
        }
        match (&from.layout, to) {
            (Layout::Permuted(p), Layout::Permuted(q)) => {
                let inverse = inverse(p);
                let perm: Vec<usize> = q.iter().map(|&a| inverse[a]).collect();
                self.transpose(from.tensor, &to.tensor_dims(shape), &perm, name)
            }
            (Layout::Flat { grid, perm }, _) => {
                let stored_dims: Vec<usize> = perm.iter().map(|&a| grid[a]).collect();
                let unflattened = self.reshape(from.tensor, &stored_dims, name);
                let grid_natural = self.transpose(unflattened, grid, &inverse(perm), name);
                let natural = Stored {
                    tensor: self.reshape(grid_natural, shape, name),
                    layout: Layout::natural(shape.len()),
                };
                self.convert(&natural, shape, to, name)
            }
            (Layout::Permuted(_), Layout::Flat { grid, perm }) => {
                let natural = self.convert(from, shape, &Layout::natural(shape.len()), name);
                let grid_natural = self.reshape(natural, grid, name);
                let stored_dims: Vec<usize> = perm.iter().map(|&a| grid[a]).collect();
                let moved = self.transpose(grid_natural, &stored_dims, perm, name);
                self.reshape(moved, &[shape.iter().product()], name)
            }
        }
    }

    /// A `TRANSPOSE` of the per-sample axes by `perm` (the batch stays
    /// first); `dims` are the result's per-sample dims.
    pub(super) fn transpose(
        &mut self,
        x: TensorId,
        dims: &[usize],
        perm: &[usize],
        name: &str,
    ) -> TensorId {
        let mut full = vec![0];
        full.extend(perm.iter().map(|&a| dim(a + 1)));
        let perm = self.i32_constant(&format!("{name}.perm"), &full);
        self.push(
            Op::Transpose,
            vec![Some(x), Some(perm)],
            &format!("{name}.transposed"),
            dims,
        )
    }

    /// A `RESHAPE` to per-sample `dims`, the batch kept.
    pub(super) fn reshape(&mut self, x: TensorId, dims: &[usize], name: &str) -> TensorId {
        let shape = self.shape_constant(name, dims);
        self.push(
            Op::Reshape,
            vec![Some(x), Some(shape)],
            &format!("{name}.reshaped"),
            dims,
        )
    }
}

fn unary_op(unary: TfliteUnary) -> Op {
    match unary {
        TfliteUnary::Relu => Op::Relu,
        TfliteUnary::LeakyRelu { alpha } => Op::LeakyRelu { alpha },
        TfliteUnary::Logistic => Op::Logistic,
        TfliteUnary::Tanh => Op::Tanh,
        TfliteUnary::HardSwish => Op::HardSwish,
        TfliteUnary::Elu => Op::Elu,
        TfliteUnary::Gelu { approximate } => Op::Gelu { approximate },
        TfliteUnary::Exp => Op::Exp,
        TfliteUnary::Log => Op::Log,
        TfliteUnary::Abs => Op::Abs,
        TfliteUnary::Neg => Op::Neg,
    }
}

fn binary_op(binary: TfliteBinary, activation: Activation) -> Op {
    match binary {
        TfliteBinary::Add => Op::Add { activation },
        TfliteBinary::Sub => Op::Sub { activation },
        TfliteBinary::Mul => Op::Mul { activation },
        TfliteBinary::Div => Op::Div { activation },
        TfliteBinary::Maximum => Op::Maximum,
        TfliteBinary::Minimum => Op::Minimum,
    }
}
