//! A TFLite model as plain data: the tensors, operators and metadata of
//! one subgraph, before [`super::schema`] writes them as the `.tflite`
//! flatbuffer. The float export ([`super::float`]) and the full-integer
//! one ([`super::int8`]) build this; neither sees a flatbuffer.
//!
//! Layout. TFLite's image operators read NHWC. An nnspec value of
//! per-sample shape `[C, H, W]` is a tensor `[batch, H, W, C]` here, and
//! `[C, L]` (a one-row image of conv1d and the 1-D pools) `[batch, L, C]`;
//! every other value keeps nnspec's axis order after the batch axis. The
//! model's inputs and outputs follow the same rule, so an application
//! feeds a `[C, H, W]` model's images NHWC, as TFLite applications do.
//! Transposes are folded into weights at export, never added at run time
//! where a weight can absorb them.
//!
//! Batch. Every activation's first axis is the batch: `shape` holds 1
//! there and `shape_signature` -1, so a runtime can resize the input to
//! any batch (`Interpreter.resize_tensor_input`).

/// A tensor's index in [`TfModel::tensors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub u32);

impl TensorId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One subgraph's worth of model: TFLite's `Model` with one `SubGraph`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TfModel {
    /// `Model.description` (`nnspec 0.1.0`).
    pub description: String,
    /// The subgraph's name: the nnspec model's (`LeNet`).
    pub name: String,
    pub tensors: Vec<Tensor>,
    /// In execution order: every operator's inputs are model inputs,
    /// constants, or outputs of an earlier operator.
    pub operators: Vec<Operator>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// `Model.metadata`: named buffers an application reads without
    /// running the model (`("nnspec", json)`; see dslc's export).
    pub metadata: Vec<(String, Vec<u8>)>,
}

impl TfModel {
    /// Adds `tensor` and returns its id.
    pub fn push_tensor(&mut self, tensor: Tensor) -> TensorId {
        self.tensors.push(tensor);
        TensorId((self.tensors.len() - 1) as u32)
    }

    /// Adds an operator (after every operator it reads from).
    pub fn push_operator(&mut self, op: Op, inputs: Vec<Option<TensorId>>, outputs: Vec<TensorId>) {
        self.operators.push(Operator {
            op,
            inputs,
            outputs,
        });
    }

    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id.index()]
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Unique within the model: a parameter keeps its checkpoint name
    /// (`fc1.weight`), an activation its value's binding or layer name.
    pub name: String,
    /// The dims, batch axis first and set to 1 when [`Tensor::batched`].
    pub shape: Vec<i32>,
    /// Whether axis 0 is the batch: then the tensor's `shape_signature`
    /// is `shape` with -1 at axis 0. Constants are never batched.
    pub batched: bool,
    pub dtype: TensorType,
    /// A constant's contents, little-endian, `shape`'s product elements
    /// of `dtype` (becomes a `Buffer`); `None` for an activation.
    pub data: Option<Vec<u8>>,
    /// An integer tensor's quantization (`QuantizationParameters`).
    pub quantization: Option<Quantization>,
}

impl Tensor {
    /// An f32 activation with the batch axis first (`dims` per sample).
    pub fn activation(name: impl Into<String>, per_sample: &[usize]) -> Tensor {
        let mut shape = vec![1];
        shape.extend(per_sample.iter().map(|&d| d as i32));
        Tensor {
            name: name.into(),
            shape,
            batched: true,
            dtype: TensorType::Float32,
            data: None,
            quantization: None,
        }
    }

    /// An f32 constant.
    pub fn f32_constant(name: impl Into<String>, dims: &[usize], values: &[f32]) -> Tensor {
        Tensor {
            name: name.into(),
            shape: dims.iter().map(|&d| d as i32).collect(),
            batched: false,
            dtype: TensorType::Float32,
            data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            quantization: None,
        }
    }

    /// An i32 constant (a `RESHAPE` shape, `MEAN` axes, `PAD` paddings,
    /// an int8 layer's bias).
    pub fn i32_constant(name: impl Into<String>, dims: &[usize], values: &[i32]) -> Tensor {
        Tensor {
            name: name.into(),
            shape: dims.iter().map(|&d| d as i32).collect(),
            batched: false,
            dtype: TensorType::Int32,
            data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            quantization: None,
        }
    }
}

/// TFLite's `TensorType`, the ones nnspec writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorType {
    Float32,
    Int32,
    Int8,
    Int64,
}

/// `QuantizationParameters`: `real = scale * (q - zero_point)`, one
/// entry for the whole tensor or one per index of `quantized_dimension`
/// (per-channel weights: axis 0 of a FULLY_CONNECTED or CONV_2D filter,
/// axis 3 of a DEPTHWISE_CONV_2D one; their zero points are all 0).
#[derive(Clone, Debug, PartialEq)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    pub op: Op,
    /// In the operator's order; `None` for an omitted optional input
    /// (index -1 in the file: a FULLY_CONNECTED without bias).
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<TensorId>,
}

/// `ActivationFunctionType`, as fused into an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
}

/// `Padding`: TFLite pads a window operator `SAME` (output = ceil(in /
/// stride), the excess split with the extra row/column at the end) or
/// not at all; other paddings are a `PAD` operator before a `Valid` one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
}

/// A builtin operator with its options (TFLite's `BuiltinOperator` and
/// `BuiltinOptions`). Operand order is TFLite's; the comment names the
/// inputs. Only builtins: a model with custom operators needs the
/// runtime built with them, which a phone's stock LiteRT is not.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// input, filter `[out, in]`, bias `[out]` (optional). Flattens every
    /// leading axis unless `keep_num_dims`.
    FullyConnected {
        activation: Activation,
        keep_num_dims: bool,
    },
    /// input NHWC, filter OHWI, bias `[O]`. The bias is required (zeros
    /// for a layer without one): LiteRT 2.3 refuses a CONV_2D without it.
    Conv2d {
        padding: Padding,
        /// `[h, w]`
        stride: [u32; 2],
        dilation: [u32; 2],
        activation: Activation,
    },
    /// input NHWC, filter `[1, H, W, C * depth_multiplier]`, bias. The
    /// bias is required, as for `Conv2d` (LiteRT 2.3 crashes without it).
    DepthwiseConv2d {
        padding: Padding,
        stride: [u32; 2],
        dilation: [u32; 2],
        depth_multiplier: u32,
        activation: Activation,
    },
    MaxPool2d {
        padding: Padding,
        stride: [u32; 2],
        filter: [u32; 2],
        activation: Activation,
    },
    /// Averages over the in-bounds elements of each window (`SAME`
    /// padding does not count the padding).
    AveragePool2d {
        padding: Padding,
        stride: [u32; 2],
        filter: [u32; 2],
        activation: Activation,
    },
    /// input, new shape (i32 1-D constant, -1 allowed once).
    Reshape,
    /// input, permutation (i32 1-D constant).
    Transpose,
    /// input, paddings (i32 `[rank, 2]` constant); pads with 0 (with the
    /// zero point in a quantized tensor).
    Pad,
    /// input, paddings, constant value (scalar of the input's type).
    PadV2,
    /// Along the last axis.
    Softmax {
        beta: f32,
    },
    LogSoftmax,
    Relu,
    Relu6,
    Logistic,
    Tanh,
    HardSwish,
    Elu,
    Gelu {
        approximate: bool,
    },
    LeakyRelu {
        alpha: f32,
    },
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Square,
    Abs,
    Neg,
    /// Elementwise with broadcasting (numpy rules), the two inputs in order.
    Add {
        activation: Activation,
    },
    Sub {
        activation: Activation,
    },
    Mul {
        activation: Activation,
    },
    Div {
        activation: Activation,
    },
    Maximum,
    Minimum,
    /// Every input, along `axis` (negative counts from the end). The
    /// activation must be `None`: LiteRT 2.3's kernel refuses a fused one
    /// and its XNNPACK delegate ignores it (the writer refuses it too).
    Concatenation {
        axis: i32,
        activation: Activation,
    },
    /// input, axes (i32 1-D constant).
    Mean {
        keep_dims: bool,
    },
    /// input, axes (i32 1-D constant).
    Sum {
        keep_dims: bool,
    },
    /// input, begin, end, strides (i32 1-D constants); masks as bits.
    StridedSlice {
        begin_mask: i32,
        end_mask: i32,
        shrink_axis_mask: i32,
    },
    /// params, indices (int32 or int64), along `axis`.
    Gather {
        axis: i32,
    },
    /// x, y: batched matrix product, `adj_*` transposing the last two axes.
    BatchMatMul {
        adj_x: bool,
        adj_y: bool,
    },
    /// float input to an int8 output with the output's quantization.
    Quantize,
    /// int8 input to a float output.
    Dequantize,
}
