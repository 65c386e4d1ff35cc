//! The int8 steps as QDQ node groups: the dequantized input, weight and
//! bias, the float operator, and the quantized result, in the pattern
//! onnxruntime fuses into `QGemm`, `QLinearMatMul` and `QLinearConv`.

use nnspec_dsl::ops::OnnxAttr;
use nnspec_runtime::plan::{ConvShape, PoolShape};
use nnspec_runtime_core::quant::plan::{QLayer, QTensorId};

use super::super::ExportError;
use super::super::proto::data_type;
use super::{Batch, Qdq, constant, op};

/// How a layer's `[n, k]` weight is laid out for its ONNX operator.
enum Layout {
    /// `[n, k]`, channels on axis 0 (`Gemm` with `transB`).
    Rows,
    /// `[k, n]`, channels on axis 1 (`MatMul`).
    Columns,
    /// `[n, c, kh, kw]`, channels on axis 0 (`Conv`).
    Conv([usize; 4]),
}

impl<'m> Qdq<'m> {
    /// `y = Q(relu?(DQ(x)·DQ(W)ᵀ + DQ(b)))`: a `Gemm` over one row per
    /// sample, or `MatMul` + `Add` over a `[rows, k]` input.
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
        let (in_dims, out_dims) = if rows == 1 {
            (vec![layer.k], vec![layer.n])
        } else {
            (vec![rows, layer.k], vec![rows, layer.n])
        };
        let input = self.read_quantized(x, Some(&in_dims))?;
        let x_dq = self.dequantize(&input, x);
        let x_scale = self.qplan.tensor(x).q.scale;
        // ONNX's MatMul reads the weight as `[k, n]`: stored transposed,
        // its channels are axis 1.
        let transposed = rows > 1;
        let layout = if transposed {
            Layout::Columns
        } else {
            Layout::Rows
        };
        let weight = self.weight(layer, layout);
        let bias = self.bias(layer, x_scale);
        let name = &layer.name;
        let sum = if transposed {
            let product = self.node(
                &op("MatMul", Vec::new()),
                vec![x_dq, weight],
                &format!("{name}.matmul"),
                data_type::FLOAT,
                Batch::Leading,
                &out_dims,
            );
            self.node(
                &op("Add", Vec::new()),
                vec![product, bias],
                &format!("{name}.float"),
                data_type::FLOAT,
                Batch::Leading,
                &out_dims,
            )
        } else {
            self.node(
                &op("Gemm", vec![("transB", OnnxAttr::Int(1))]),
                vec![x_dq, weight, bias],
                &format!("{name}.float"),
                data_type::FLOAT,
                Batch::Leading,
                &out_dims,
            )
        };
        self.finish(&sum, name, relu, &out_dims, y);
        Ok(())
    }

    /// `y = Q(relu?(Conv(DQ(x), DQ(W), DQ(b))))` over `[C, H, W]` images
    /// (a BatchNorm the QPlan folded is in `W` and `b`).
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
        if layer.n != shape.out_channels || layer.k != shape.in_channels * kh * kw {
            return Err(self.mismatch(format!(
                "convolution `{}` has a [{}, {}] weight for {shape:?}",
                layer.name, layer.n, layer.k
            )));
        }
        let input = self.read_quantized(x, Some(&[shape.in_channels, shape.in_h, shape.in_w]))?;
        let x_dq = self.dequantize(&input, x);
        let weight = self.weight(
            layer,
            Layout::Conv([shape.out_channels, shape.in_channels, kh, kw]),
        );
        let bias = self.bias(layer, self.qplan.tensor(x).q.scale);
        let out = |i: usize, size: usize| {
            (size + 2 * shape.padding[i])
                .saturating_sub(shape.dilation[i] * (shape.kernel[i] - 1) + 1)
                / shape.stride[i]
                + 1
        };
        let out_dims = [shape.out_channels, out(0, shape.in_h), out(1, shape.in_w)];
        let conv = op(
            "Conv",
            vec![
                ("kernel_shape", OnnxAttr::pair(shape.kernel)),
                ("strides", OnnxAttr::pair(shape.stride)),
                ("pads", OnnxAttr::pads(shape.padding)),
                ("dilations", OnnxAttr::pair(shape.dilation)),
                ("group", OnnxAttr::Int(1)),
            ],
        );
        let name = &layer.name;
        let sum = self.node(
            &conv,
            vec![x_dq, weight, bias],
            &format!("{name}.float"),
            data_type::FLOAT,
            Batch::Leading,
            &out_dims,
        );
        self.finish(&sum, name, relu, &out_dims, y);
        Ok(())
    }

    /// Max pooling of the dequantized values, quantized again with the
    /// same parameters (the QPlan pools the `u8` values: the same, since
    /// quantization keeps order).
    pub(super) fn maxpool2d(
        &mut self,
        x: QTensorId,
        y: QTensorId,
        shape: &PoolShape,
    ) -> Result<(), ExportError> {
        let input = self.read_quantized(x, Some(&[shape.channels, shape.in_h, shape.in_w]))?;
        let x_dq = self.dequantize(&input, x);
        let out = |i: usize, size: usize| {
            (size + 2 * shape.padding[i]).saturating_sub(shape.kernel[i]) / shape.stride[i] + 1
        };
        let out_dims = [shape.channels, out(0, shape.in_h), out(1, shape.in_w)];
        let pool = op(
            "MaxPool",
            vec![
                ("kernel_shape", OnnxAttr::pair(shape.kernel)),
                ("strides", OnnxAttr::pair(shape.stride)),
                ("pads", OnnxAttr::pads(shape.padding)),
            ],
        );
        let wanted = format!("{}.float", self.qplan.tensor(y).name);
        let pooled = self.node(
            &pool,
            vec![x_dq],
            &wanted,
            data_type::FLOAT,
            Batch::Leading,
            &out_dims,
        );
        let result = self.quantize(&pooled, &out_dims, y);
        self.quantized[y.index()] = Some(result);
        Ok(())
    }

    /// The optional `Relu` and the `QuantizeLinear` that make `sum` the
    /// quantized tensor `y`.
    fn finish(&mut self, sum: &str, name: &str, relu: bool, dims: &[usize], y: QTensorId) {
        let activated = if relu {
            self.node(
                &op("Relu", Vec::new()),
                vec![sum.to_string()],
                &format!("{name}.relu"),
                data_type::FLOAT,
                Batch::Leading,
                dims,
            )
        } else {
            sum.to_string()
        };
        let result = self.quantize(&activated, dims, y);
        self.quantized[y.index()] = Some(result);
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

    /// `DequantizeLinear` of the layer's `int8` weight, per output channel.
    fn weight(&mut self, layer: &QLayer, layout: Layout) -> String {
        let name = &layer.name;
        let (n, k) = (layer.n, layer.k);
        let rows = || layer.weight.iter().map(|&w| w as u8).collect();
        let (dims, axis, data): (Vec<usize>, i64, Vec<u8>) = match layout {
            Layout::Rows => (vec![n, k], 0, rows()),
            Layout::Columns => {
                let data = (0..k)
                    .flat_map(|i| (0..n).map(move |c| layer.weight[c * k + i] as u8))
                    .collect();
                (vec![k, n], 1, data)
            }
            Layout::Conv(dims) => (dims.to_vec(), 0, rows()),
        };
        let quantized = self.builder.unique(&format!("{name}.weight_quantized"));
        let scale = self.builder.unique(&format!("{name}.weight_scale"));
        let zero_point = self.builder.unique(&format!("{name}.weight_zero_point"));
        self.initializer(constant(&quantized, data_type::INT8, &dims, data));
        let scales: Vec<u8> = layer
            .weight_scale
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        self.initializer(constant(&scale, data_type::FLOAT, &[n], scales));
        self.initializer(constant(&zero_point, data_type::INT8, &[n], vec![0; n]));
        let node = op("DequantizeLinear", vec![("axis", OnnxAttr::Int(axis))]);
        self.node(
            &node,
            vec![quantized, scale, zero_point],
            &format!("{name}.weight_dequantized"),
            data_type::FLOAT,
            Batch::None,
            &dims,
        )
    }

    /// `DequantizeLinear` of the layer's `int32` bias at scale `x_scale ·
    /// w_scale[c]`, the scale the QPlan's bias is in.
    fn bias(&mut self, layer: &QLayer, x_scale: f32) -> String {
        let name = &layer.name;
        let n = layer.n;
        let quantized = self.builder.unique(&format!("{name}.bias_quantized"));
        let scale = self.builder.unique(&format!("{name}.bias_scale"));
        let zero_point = self.builder.unique(&format!("{name}.bias_zero_point"));
        let data = layer.bias.iter().flat_map(|b| b.to_le_bytes()).collect();
        self.initializer(constant(&quantized, data_type::INT32, &[n], data));
        let scales = layer
            .weight_scale
            .iter()
            .flat_map(|&w| (x_scale * w).to_le_bytes())
            .collect();
        self.initializer(constant(&scale, data_type::FLOAT, &[n], scales));
        self.initializer(constant(
            &zero_point,
            data_type::INT32,
            &[n],
            vec![0; 4 * n],
        ));
        let node = op("DequantizeLinear", vec![("axis", OnnxAttr::Int(0))]);
        self.node(
            &node,
            vec![quantized, scale, zero_point],
            &format!("{name}.bias_dequantized"),
            data_type::FLOAT,
            Batch::None,
            &[n],
        )
    }
}
