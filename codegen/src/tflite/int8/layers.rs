//! The int8 steps as TFLite integer operators: `FULLY_CONNECTED` and
//! `CONV_2D` with per-channel int8 weights and int32 biases, and int8
//! `MAX_POOL_2D`. Weights are stored as TFLite reads them (a convolution's
//! filter OHWI; a dense layer's columns in the stored order of its input,
//! so that flattening a channels-last image costs no transpose).

use nnspec_dsl::ir::ValueId;
use nnspec_runtime::plan::{ConvShape, PoolShape};
use nnspec_runtime_core::quant::plan::{QLayer, QTensorId};

use super::super::model::{Activation, Op, Padding, Quantization, Tensor, TensorId, TensorType};
use super::layout::{nnspec_index_of_stored, reordered, stored_dims};
use super::{ExportError, Held, Int8};

impl<'m> Int8<'m> {
    /// `y = requant(x · Wᵀ + b)`, relu fused or not: one row per sample
    /// (the input flattened, whatever its layout), or one per position of
    /// a `[rows, k]` input (`keep_num_dims`).
    pub(super) fn dense(
        &mut self,
        x: QTensorId,
        layer: usize,
        y: QTensorId,
        relu: bool,
    ) -> Result<(), ExportError> {
        let layer = self.layer(layer)?;
        let rows =
            crate::quant_map::dense_rows(self.qplan, x, layer).map_err(|e| self.mismatch(e))?;
        let held = self.held_quantized(x)?;
        let y_dims = match self.layer_value(&layer.name) {
            Some(value) => self.model.value(value).shape.dims().to_vec(),
            None => vec![layer.n],
        };
        if y_dims.iter().product::<usize>() != rows * layer.n {
            return Err(self.mismatch(format!(
                "dense layer `{}` writes {y_dims:?} per sample from {rows} rows of {}",
                layer.name, layer.n
            )));
        }
        let (input, columns) = if rows == 1 {
            // FULLY_CONNECTED flattens the stored tensor: the weight's
            // columns follow the stored order.
            (held.id, nnspec_index_of_stored(&held.dims))
        } else {
            // Rows in nnspec's order, `[1, rows, k]`: a `[rows, k]` value
            // stored `[k, rows]` is one TRANSPOSE away.
            let like = self.builder.tf.tensor(held.id).clone();
            let name = format!("{}.rows", like.name);
            let rows_id = if held.dims == [rows, layer.k] && reordered(&held.dims) {
                self.transpose(held.id, &like, &[rows, layer.k], &[0, 2, 1], &name)
            } else {
                let flat = self.relayout(&held, &[rows * layer.k]);
                self.reshape(flat, &like, &[rows, layer.k], &name)
            };
            (rows_id, (0..layer.k).collect())
        };
        let weight = self.weight(layer, &[layer.n, layer.k], |c, i| {
            layer.weight[c * layer.k + columns[i]]
        });
        let bias = self.bias(layer, self.qplan.tensor(x).q.scale);
        let q = self.activation_quantization(y);
        let name = format!("{}.quantized", layer.name);
        let output = if rows == 1 {
            self.activation(&name, &y_dims, TensorType::Int8, Some(q))
        } else {
            self.batched(&name, &[rows, layer.n], TensorType::Int8, Some(q))
        };
        self.builder.tf.push_operator(
            Op::FullyConnected {
                activation: activation(relu),
                keep_num_dims: rows > 1,
            },
            vec![Some(input), Some(weight), Some(bias)],
            vec![output],
        );
        let result = if rows == 1 {
            output
        } else {
            // `[1, rows, n]` in nnspec's order, stored as `y_dims` are.
            let flat = Held {
                id: output,
                dims: vec![rows * layer.n],
            };
            self.relayout_from_rows(&flat, rows, layer.n, &y_dims)
        };
        self.quantized[y.index()] = Some(Held {
            id: result,
            dims: y_dims,
        });
        Ok(())
    }

    /// A `[1, rows, n]` result in nnspec's order as per-sample `dims`.
    fn relayout_from_rows(
        &mut self,
        flat: &Held,
        rows: usize,
        n: usize,
        dims: &[usize],
    ) -> TensorId {
        if stored_dims(dims) == [rows, n] {
            return flat.id;
        }
        let like = self.builder.tf.tensor(flat.id).clone();
        if dims == [rows, n] {
            // Stored `[n, rows]`.
            let name = format!("{}.nhwc", like.name);
            return self.transpose(flat.id, &like, &[n, rows], &[0, 2, 1], &name);
        }
        let flat_id = self.reshape(flat.id, &like, &[rows * n], &format!("{}.flat", like.name));
        let flat = Held {
            id: flat_id,
            dims: flat.dims.clone(),
        };
        self.relayout(&flat, dims)
    }

    /// A convolution over `[C, H, W]` images (a BatchNorm the plan folded
    /// is in the weight and bias), NHWC with an OHWI filter.
    pub(super) fn conv2d(
        &mut self,
        x: QTensorId,
        layer: usize,
        y: QTensorId,
        shape: &ConvShape,
        relu: bool,
    ) -> Result<(), ExportError> {
        let layer = self.layer(layer)?;
        let (kh, kw) = (shape.kernel[0], shape.kernel[1]);
        let cin = shape.in_channels;
        if layer.n != shape.out_channels || layer.k != cin * kh * kw {
            return Err(self.mismatch(format!(
                "convolution `{}` has a [{}, {}] weight for {shape:?}",
                layer.name, layer.n, layer.k
            )));
        }
        let window = Window {
            input: [shape.in_h, shape.in_w],
            kernel: shape.kernel,
            stride: shape.stride,
            padding: shape.padding,
            dilation: shape.dilation,
        };
        self.check_window(&window, &layer.name)?;
        let input = self.read_quantized(x, &[cin, shape.in_h, shape.in_w])?;
        let (input, padding) = self.padded(input, &window, None);
        // nnspec's `[n, cin, kh, kw]` as OHWI.
        let weight = self.weight(layer, &[layer.n, kh, kw, cin], |o, i| {
            let (position, c) = (i / cin, i % cin);
            layer.weight[o * layer.k + c * kh * kw + position]
        });
        let bias = self.bias(layer, self.qplan.tensor(x).q.scale);
        let out = window.output();
        let dims = [shape.out_channels, out[0], out[1]];
        let q = self.activation_quantization(y);
        let name = format!("{}.quantized", layer.name);
        let output = self.activation(&name, &dims, TensorType::Int8, Some(q));
        self.builder.tf.push_operator(
            Op::Conv2d {
                padding,
                stride: pair(shape.stride),
                dilation: pair(shape.dilation),
                activation: activation(relu),
            },
            vec![Some(input), Some(weight), Some(bias)],
            vec![output],
        );
        self.quantized[y.index()] = Some(Held {
            id: output,
            dims: dims.to_vec(),
        });
        Ok(())
    }

    /// Max pooling on int8 values (`y` has `x`'s parameters).
    pub(super) fn maxpool2d(
        &mut self,
        x: QTensorId,
        y: QTensorId,
        shape: &PoolShape,
    ) -> Result<(), ExportError> {
        let window = Window {
            input: [shape.in_h, shape.in_w],
            kernel: shape.kernel,
            stride: shape.stride,
            padding: shape.padding,
            dilation: [1, 1],
        };
        self.check_window(&window, &self.qplan.tensor(y).name)?;
        let input = self.read_quantized(x, &[shape.channels, shape.in_h, shape.in_w])?;
        // Padding must never win a maximum: the lowest level.
        let (input, padding) = self.padded(input, &window, Some(i8::MIN));
        let out = window.output();
        let dims = [shape.channels, out[0], out[1]];
        let q = self.activation_quantization(y);
        let name = format!("{}.quantized", self.qplan.tensor(y).name);
        let output = self.activation(&name, &dims, TensorType::Int8, Some(q));
        self.builder.tf.push_operator(
            Op::MaxPool2d {
                padding,
                stride: pair(shape.stride),
                filter: pair(shape.kernel),
                activation: Activation::None,
            },
            vec![Some(input)],
            vec![output],
        );
        self.quantized[y.index()] = Some(Held {
            id: output,
            dims: dims.to_vec(),
        });
        Ok(())
    }

    /// Refuses a window no checked model has (a plan read from a file
    /// could): a zero kernel, stride or dilation, or one larger than its
    /// padded input.
    fn check_window(&self, window: &Window, name: &str) -> Result<(), ExportError> {
        let fits = (0..2).all(|axis| {
            window.kernel[axis] > 0
                && window.stride[axis] > 0
                && window.dilation[axis] > 0
                && window.extent(axis) <= window.input[axis] + 2 * window.padding[axis]
        });
        if fits {
            return Ok(());
        }
        Err(self.mismatch(format!(
            "`{name}` has a window that does not fit its input: kernel {:?}, stride {:?}, \
             padding {:?}, dilation {:?} over {:?}",
            window.kernel, window.stride, window.padding, window.dilation, window.input
        )))
    }

    /// The window's input and TFLite padding: `SAME` or `VALID` when one
    /// of them is nnspec's symmetric padding, else a `PAD` (the zero
    /// point, standing for 0.0) or `PADV2` (with `fill`) before `VALID`.
    fn padded(
        &mut self,
        input: TensorId,
        window: &Window,
        fill: Option<i8>,
    ) -> (TensorId, Padding) {
        if let Some(padding) = window.tflite_padding() {
            return (input, padding);
        }
        let like = self.builder.tf.tensor(input).clone();
        let [ph, pw] = window.padding;
        let paddings = [0, 0, ph as i32, ph as i32, pw as i32, pw as i32, 0, 0];
        let paddings = self.constant(Tensor::i32_constant(
            format!("{}.paddings", like.name),
            &[4, 2],
            &paddings,
        ));
        let mut inputs = vec![Some(input), Some(paddings)];
        let op = match fill {
            None => Op::Pad,
            Some(fill) => {
                let value = self.constant(Tensor {
                    name: format!("{}.pad_value", like.name),
                    shape: Vec::new(),
                    batched: false,
                    dtype: TensorType::Int8,
                    data: Some(vec![fill as u8]),
                    quantization: like.quantization.clone(),
                });
                inputs.push(Some(value));
                Op::PadV2
            }
        };
        let channels = *like.shape.last().expect("an NHWC tensor") as usize;
        let shape = [window.input[0] + 2 * ph, window.input[1] + 2 * pw, channels];
        let name = format!("{}.padded", like.name);
        let output = self.batched(&name, &shape, like.dtype, like.quantization.clone());
        self.builder.tf.push_operator(op, inputs, vec![output]);
        (output, Padding::Valid)
    }

    /// The layer's int8 weight of `shape`, element `i` of output channel
    /// `c` (in `shape`'s row-major order) being `at(c, i)`: per-channel
    /// symmetric, channels on axis 0.
    fn weight(
        &mut self,
        layer: &QLayer,
        shape: &[usize],
        at: impl Fn(usize, usize) -> i8,
    ) -> TensorId {
        let per_channel = layer.k;
        let data = (0..layer.n)
            .flat_map(|c| (0..per_channel).map(move |i| (c, i)))
            .map(|(c, i)| at(c, i) as u8)
            .collect();
        self.constant(Tensor {
            name: format!("{}.weight", layer.name),
            shape: shape.iter().map(|&d| d as i32).collect(),
            batched: false,
            dtype: TensorType::Int8,
            data: Some(data),
            quantization: Some(Quantization {
                scale: layer.weight_scale.clone(),
                zero_point: vec![0; layer.n],
                quantized_dimension: 0,
            }),
        })
    }

    /// The layer's int32 bias at scale `x_scale · w_scale[c]`, the scale
    /// nnspec's bias is in and the one TFLite requires.
    fn bias(&mut self, layer: &QLayer, x_scale: f32) -> TensorId {
        let mut bias =
            Tensor::i32_constant(format!("{}.bias", layer.name), &[layer.n], &layer.bias);
        bias.quantization = Some(Quantization {
            scale: layer.weight_scale.iter().map(|&w| x_scale * w).collect(),
            zero_point: vec![0; layer.n],
            quantized_dimension: 0,
        });
        self.constant(bias)
    }

    fn layer(&self, index: usize) -> Result<&'m QLayer, ExportError> {
        let qplan = self.qplan;
        qplan.layers.get(index).ok_or_else(|| {
            self.mismatch(format!(
                "a step names layer {index} of {}",
                qplan.layers.len()
            ))
        })
    }

    /// The model's value computed by the layer named `name` (its last,
    /// for a layer and the relu fused into it the layer's own).
    fn layer_value(&self, name: &str) -> Option<ValueId> {
        self.model
            .values
            .iter()
            .position(|v| v.layer == name && !v.params.is_empty())
            .map(|i| ValueId(i as u32))
    }
}

/// A window's geometry along `[h, w]`, PyTorch's meaning: symmetric
/// padding, floor mode.
struct Window {
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
}

impl Window {
    fn extent(&self, axis: usize) -> usize {
        self.dilation[axis] * (self.kernel[axis] - 1) + 1
    }

    fn output(&self) -> [usize; 2] {
        let out = |axis: usize| {
            (self.input[axis] + 2 * self.padding[axis]).saturating_sub(self.extent(axis))
                / self.stride[axis]
                + 1
        };
        [out(0), out(1)]
    }

    /// `VALID` without padding; `SAME` where TFLite's `SAME` (output
    /// `ceil(in / stride)`, the padding's smaller half first) gives the
    /// same output size and leading padding on both axes; else `None`.
    fn tflite_padding(&self) -> Option<Padding> {
        if self.padding == [0, 0] {
            return Some(Padding::Valid);
        }
        let output = self.output();
        let same = (0..2).all(|axis| {
            let (size, stride) = (self.input[axis], self.stride[axis]);
            let same_out = size.div_ceil(stride);
            let total = ((same_out - 1) * stride + self.extent(axis)).saturating_sub(size);
            same_out == output[axis] && total / 2 == self.padding[axis]
        });
        same.then_some(Padding::Same)
    }
}

fn pair(values: [usize; 2]) -> [u32; 2] {
    [values[0] as u32, values[1] as u32]
}

fn activation(relu: bool) -> Activation {
    if relu {
        Activation::Relu
    } else {
        Activation::None
    }
}
