//! The int8 Plan: a float [`Plan`]'s forward pass with dense layers and
//! convolutions running on `u8` activations and `i8` weights, and every
//! other step running in f32 between a dequantize and a quantize step (as
//! onnxruntime runs ops without an int8 kernel).
// Steps are matched wherever they run or print: no catch-all arm may
// swallow a new one (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use alloc::string::String;
use alloc::vec::Vec;

use super::scheme::{QuantParams, Requant};
use crate::plan::{BufferId, ConvShape, Plan, PoolShape, Step};

/// A `u8` activation tensor of a [`QPlan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QTensorId(pub u32);

impl QTensorId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A `u8` activation: `per_sample` values per sample, quantized with `q`.
#[derive(Clone, Debug, PartialEq)]
pub struct QTensor {
    /// The float buffer's name it stands for (`fc1`, `x`).
    pub name: String,
    pub per_sample: usize,
    pub q: QuantParams,
}

/// The integer weights of one dense layer or convolution.
///
/// A convolution's weight is seen as a matrix `[out_channels, in_channels
/// · kh · kw]` (PyTorch's layout flattened), so `k` counts a whole window.
#[derive(Clone, Debug, PartialEq)]
pub struct QLayer {
    /// The layer's name in the model (`fc1`); its parameters are
    /// `<name>.weight` and `<name>.bias`.
    pub name: String,
    /// Output channels (rows of the weight).
    pub n: usize,
    /// Inputs per output (columns of the weight).
    pub k: usize,
    /// `[n, k]` row-major, PyTorch's order, in `-127..=127`.
    pub weight: Vec<i8>,
    /// Per output channel: `real weight ≈ weight · weight_scale[c]`.
    pub weight_scale: Vec<f32>,
    /// Per output channel, at scale `x_scale · weight_scale[c]` (zero when
    /// the layer has no bias; a folded BatchNorm's shift is in here).
    pub bias: Vec<i32>,
    /// Per output channel: `x_scale · weight_scale[c] / y_scale`.
    pub requant: Vec<Requant>,
    /// The weight in the kernels' layout ([`super::kernels::pack_weights`]).
    pub packed: Vec<i8>,
    /// Per output channel `Σ_k weight[c][k]`, for the input's zero point.
    pub weight_sums: Vec<i32>,
}

/// One step of an int8 Plan.
#[derive(Clone, Debug, PartialEq)]
pub enum QStep {
    /// f32 buffer `x` to `u8` tensor `y` with `y`'s parameters.
    Quantize { x: BufferId, y: QTensorId },
    /// `u8` tensor `x` to f32 buffer `y`.
    Dequantize { x: QTensorId, y: BufferId },
    /// `y = requant(x · Wᵀ + b)` over rows of `layer.k` values (a row per
    /// sample, or per position of a `[len, in]` input); a fused ReLU clamps
    /// at `y`'s zero point.
    Dense {
        x: QTensorId,
        layer: usize,
        y: QTensorId,
        relu: bool,
    },
    /// A convolution over `u8` `[C, H, W]` images (padding reads `x`'s zero
    /// point, which stands for 0.0), with a BatchNorm that followed it
    /// folded into its weights and bias.
    Conv2d {
        x: QTensorId,
        layer: usize,
        y: QTensorId,
        shape: ConvShape,
        relu: bool,
    },
    /// Max pooling on `u8` values: quantization keeps order, so it commutes
    /// with max; `y` has `x`'s parameters.
    MaxPool2d {
        x: QTensorId,
        y: QTensorId,
        shape: PoolShape,
    },
    /// A step of the float plan, on the float plan's buffers and
    /// parameters.
    Float(Step),
}

/// An int8 inference Plan.
#[derive(Clone, Debug, PartialEq)]
pub struct QPlan {
    /// The float plan it was quantized from, forward steps only. Its
    /// buffers and parameters are the ones [`QStep::Float`] steps use
    /// (same ids, laid out as [`crate::infer`] lays them out), and its
    /// `inputs` and `outputs` are the int8 plan's: f32 buffers, the first
    /// step quantizes the input and the last ones dequantize the outputs.
    pub float: Plan,
    /// The float parameters [`QStep::Float`] steps read, in
    /// [`crate::infer::param_range`]'s layout (dense and conv weights are
    /// kept too, so that the layout stays the float plan's).
    pub float_params: Vec<f32>,
    pub tensors: Vec<QTensor>,
    pub layers: Vec<QLayer>,
    pub steps: Vec<QStep>,
}

impl QPlan {
    pub fn tensor(&self, id: QTensorId) -> &QTensor {
        &self.tensors[id.index()]
    }
}
