//! The steps of a Plan: one kernel call each, forward ([`Step`]) and
//! backward ([`GradStep`]), with the geometry the kernels need.

// Steps are matched wherever they run or print: no catch-all arm may
// swallow a new one (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use alloc::vec::Vec;

use super::{BufferId, ParamId};

/// Which GELU: PyTorch's `approximate='none'` (the erf form) or `'tanh'`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeluApproximate {
    None,
    Tanh,
}

/// Per-sample geometry of a convolution (the executor adds the batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub in_channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

/// Per-sample geometry of a stacked LSTM (`nn.LSTM`, batch first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmShape {
    pub len: usize,
    pub input: usize,
    pub hidden: usize,
    pub layers: usize,
}

/// Per-sample geometry of a pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

/// Per-sample geometry of self-attention on `[len, dim]` (the executor
/// adds the batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    pub len: usize,
    pub dim: usize,
    pub heads: usize,
    pub causal: bool,
}

/// A forward step. Inputs and outputs are buffers; `outer` counts are per
/// sample (the executor multiplies by the batch).
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `y = x·Wᵀ + b`, then `max(y, 0)` when `relu` (a dense layer whose
    /// only consumer is a relu is fused with it).
    Dense {
        x: BufferId,
        weight: ParamId,
        bias: Option<ParamId>,
        y: BufferId,
        in_features: usize,
        out_features: usize,
        relu: bool,
    },
    /// Then `max(y, 0)` when `relu` (a convolution whose only consumer is
    /// a relu is fused with it).
    Conv2d {
        x: BufferId,
        weight: ParamId,
        bias: Option<ParamId>,
        y: BufferId,
        shape: ConvShape,
        relu: bool,
    },
    /// A convolution of `groups` > 1 groups (`shape` counts every
    /// channel; the weight is `[out, in/groups, kh, kw]`), then `max(y, 0)`
    /// when `relu`.
    GroupedConv2d {
        x: BufferId,
        weight: ParamId,
        bias: Option<ParamId>,
        y: BufferId,
        shape: ConvShape,
        groups: usize,
        relu: bool,
    },
    MaxPool2d {
        x: BufferId,
        y: BufferId,
        indices: BufferId,
        shape: PoolShape,
    },
    AvgPool2d {
        x: BufferId,
        y: BufferId,
        shape: PoolShape,
    },
    /// `nn.AdaptiveAvgPool2d(out_hw)` on `[channels, in_hw]` planes.
    AdaptiveAvgPool2d {
        x: BufferId,
        y: BufferId,
        channels: usize,
        in_hw: [usize; 2],
        out_hw: [usize; 2],
    },
    Relu {
        x: BufferId,
        y: BufferId,
    },
    LeakyRelu {
        x: BufferId,
        y: BufferId,
        negative_slope: f32,
    },
    Sigmoid {
        x: BufferId,
        y: BufferId,
    },
    Tanh {
        x: BufferId,
        y: BufferId,
    },
    Gelu {
        x: BufferId,
        y: BufferId,
        approximate: GeluApproximate,
    },
    Silu {
        x: BufferId,
        y: BufferId,
    },
    Hardswish {
        x: BufferId,
        y: BufferId,
    },
    Elu {
        x: BufferId,
        y: BufferId,
        alpha: f32,
    },
    Softplus {
        x: BufferId,
        y: BufferId,
        beta: f32,
        threshold: f32,
    },
    /// Softmax over the middle axis of a per-sample `[outer, axis_len, inner]` view.
    Softmax {
        x: BufferId,
        y: BufferId,
        outer: usize,
        axis_len: usize,
        inner: usize,
    },
    /// Training: `y = x·mask`, mask drawn anew; evaluation: `y = x`.
    Dropout {
        x: BufferId,
        y: BufferId,
        mask: BufferId,
        p: f32,
    },
    /// Training: batch statistics (saved for backward), running ones
    /// updated; evaluation: running statistics.
    BatchNorm {
        x: BufferId,
        y: BufferId,
        weight: ParamId,
        bias: ParamId,
        running_mean: ParamId,
        running_var: ParamId,
        num_batches_tracked: ParamId,
        save_mean: BufferId,
        save_invstd: BufferId,
        channels: usize,
        spatial: usize,
        eps: f32,
        momentum: f32,
    },
    Add {
        a: BufferId,
        b: BufferId,
        y: BufferId,
    },
    /// `y = a · b` element by element.
    Mul {
        a: BufferId,
        b: BufferId,
        y: BufferId,
    },
    /// Layer normalization of each per-sample `[rows, width]` row; the
    /// training pass saves each row's mean and `1/sqrt(var + eps)`.
    LayerNorm {
        x: BufferId,
        y: BufferId,
        weight: Option<ParamId>,
        bias: Option<ParamId>,
        save_mean: BufferId,
        save_rstd: BufferId,
        width: usize,
        eps: f32,
    },
    /// The mean over the middle axis of a per-sample `[outer, axis_len,
    /// inner]` view, dropping it.
    Mean {
        x: BufferId,
        y: BufferId,
        outer: usize,
        axis_len: usize,
        inner: usize,
    },
    /// Joins inputs viewed as per-sample `[outer, lens[i], inner]`.
    Concat {
        inputs: Vec<BufferId>,
        lens: Vec<usize>,
        outer: usize,
        inner: usize,
        y: BufferId,
    },
    /// Multi-head self-attention; `params` are in_proj weight and bias,
    /// out_proj weight and bias. Saves the per-head q, k, v (`heads`), the
    /// attention probabilities and the heads' joined outputs (`ctx`).
    Attention {
        x: BufferId,
        params: [ParamId; 4],
        heads: BufferId,
        probs: BufferId,
        ctx: BufferId,
        y: BufferId,
        shape: AttentionShape,
    },
    /// `nn.LSTM` over `[len, input]`, the top layer's output at every
    /// step; `params` are `weight_ih, weight_hh, bias_ih, bias_hh` of each
    /// layer in turn; the other buffers are the state saved for backward
    /// (`kernels::lstm::LstmState`).
    Lstm {
        x: BufferId,
        y: BufferId,
        params: Vec<ParamId>,
        saved: [BufferId; 4],
        shape: LstmShape,
    },
    /// `x[:, -1, :]` of a per-sample `[len, features]`.
    Last {
        x: BufferId,
        y: BufferId,
        len: usize,
        features: usize,
    },
    /// Rows of the `[num, dim]` table `weight` picked by token ids (exact
    /// integers stored as f32), `ids_per_sample` of them per sample.
    Embedding {
        ids: BufferId,
        weight: ParamId,
        y: BufferId,
        ids_per_sample: usize,
        num: usize,
        dim: usize,
    },
}

/// A backward step. Every step overwrites its outputs; where a value feeds
/// several consumers, the extra contributions go to their own buffers and
/// an [`GradStep::Accumulate`] adds them up.
#[derive(Clone, Debug, PartialEq)]
pub enum GradStep {
    /// Weight and bias gradients, and `dx` unless `x` needs none. With
    /// `relu_y`, `dy` is first masked by `relu_y > 0` (the fused relu).
    Dense {
        x: BufferId,
        weight: ParamId,
        bias: Option<ParamId>,
        dy: BufferId,
        dx: Option<BufferId>,
        relu_y: Option<BufferId>,
        in_features: usize,
        out_features: usize,
    },
    /// With `relu_y`, `dy` is first masked by `relu_y > 0` (the fused
    /// relu), in place.
    Conv2d {
        x: BufferId,
        weight: ParamId,
        bias: Option<ParamId>,
        dy: BufferId,
        dx: Option<BufferId>,
        relu_y: Option<BufferId>,
        shape: ConvShape,
    },
    /// As [`GradStep::Conv2d`], for [`Step::GroupedConv2d`].
    GroupedConv2d {
        x: BufferId,
        weight: ParamId,
        bias: Option<ParamId>,
        dy: BufferId,
        dx: Option<BufferId>,
        relu_y: Option<BufferId>,
        shape: ConvShape,
        groups: usize,
    },
    MaxPool2d {
        dy: BufferId,
        indices: BufferId,
        dx: BufferId,
        shape: PoolShape,
    },
    AvgPool2d {
        dy: BufferId,
        dx: BufferId,
        shape: PoolShape,
    },
    AdaptiveAvgPool2d {
        dy: BufferId,
        dx: BufferId,
        channels: usize,
        in_hw: [usize; 2],
        out_hw: [usize; 2],
    },
    Relu {
        y: BufferId,
        dy: BufferId,
        dx: BufferId,
    },
    LeakyRelu {
        x: BufferId,
        dy: BufferId,
        dx: BufferId,
        negative_slope: f32,
    },
    Sigmoid {
        y: BufferId,
        dy: BufferId,
        dx: BufferId,
    },
    Tanh {
        y: BufferId,
        dy: BufferId,
        dx: BufferId,
    },
    Gelu {
        x: BufferId,
        dy: BufferId,
        dx: BufferId,
        approximate: GeluApproximate,
    },
    Silu {
        x: BufferId,
        dy: BufferId,
        dx: BufferId,
    },
    Hardswish {
        x: BufferId,
        dy: BufferId,
        dx: BufferId,
    },
    Elu {
        x: BufferId,
        dy: BufferId,
        dx: BufferId,
        alpha: f32,
    },
    Softplus {
        x: BufferId,
        dy: BufferId,
        dx: BufferId,
        beta: f32,
        threshold: f32,
    },
    Softmax {
        y: BufferId,
        dy: BufferId,
        dx: BufferId,
        outer: usize,
        axis_len: usize,
        inner: usize,
    },
    Dropout {
        mask: BufferId,
        dy: BufferId,
        dx: BufferId,
    },
    /// `dx` (unless `x` needs none), and the weight and bias gradients.
    BatchNorm {
        x: BufferId,
        dy: BufferId,
        dx: Option<BufferId>,
        weight: ParamId,
        bias: ParamId,
        save_mean: BufferId,
        save_invstd: BufferId,
        channels: usize,
        spatial: usize,
    },
    /// `dx` (unless `x` needs none), and the weight and bias gradients
    /// when the layer has them (`weight` and `bias` are both or neither).
    LayerNorm {
        x: BufferId,
        dy: BufferId,
        dx: Option<BufferId>,
        weight: Option<ParamId>,
        bias: Option<ParamId>,
        save_mean: BufferId,
        save_rstd: BufferId,
        width: usize,
    },
    /// `da = dy · b`, `db = dy · a` (`None`: not needed).
    Mul {
        a: BufferId,
        b: BufferId,
        dy: BufferId,
        da: Option<BufferId>,
        db: Option<BufferId>,
    },
    Mean {
        dy: BufferId,
        dx: BufferId,
        outer: usize,
        axis_len: usize,
        inner: usize,
    },
    /// Splits `dy` back into its inputs' gradients (`None`: not needed).
    Concat {
        dy: BufferId,
        dxs: Vec<Option<BufferId>>,
        lens: Vec<usize>,
        outer: usize,
        inner: usize,
    },
    /// From the forward step's saved `heads`, `probs` and `ctx`.
    Attention {
        x: BufferId,
        params: [ParamId; 4],
        heads: BufferId,
        probs: BufferId,
        ctx: BufferId,
        dy: BufferId,
        dx: Option<BufferId>,
        shape: AttentionShape,
    },
    /// Every parameter's gradient and `dx` (unless `x` needs none); the
    /// saved gates are overwritten.
    Lstm {
        dy: BufferId,
        dx: Option<BufferId>,
        params: Vec<ParamId>,
        saved: [BufferId; 4],
        shape: LstmShape,
    },
    Last {
        dy: BufferId,
        dx: BufferId,
        len: usize,
        features: usize,
    },
    Copy {
        from: BufferId,
        to: BufferId,
    },
    /// `into += from`
    Accumulate {
        into: BufferId,
        from: BufferId,
    },
    /// The table's gradient: `dy` added into the rows the ids picked.
    /// Token ids have no gradient.
    Embedding {
        ids: BufferId,
        dy: BufferId,
        weight: ParamId,
        ids_per_sample: usize,
        num: usize,
        dim: usize,
    },
}

impl GradStep {
    /// The parameters whose gradients this step writes. The executor's
    /// optimizer updates exactly these (a parameter off the loss's path gets
    /// no gradient and, as in PyTorch, no update, not even weight decay).
    pub fn param_grads(&self) -> Vec<ParamId> {
        match self {
            GradStep::Dense { weight, bias, .. }
            | GradStep::Conv2d { weight, bias, .. }
            | GradStep::GroupedConv2d { weight, bias, .. } => {
                core::iter::once(*weight).chain(*bias).collect()
            }
            GradStep::BatchNorm { weight, bias, .. } => vec![*weight, *bias],
            GradStep::LayerNorm { weight, bias, .. } => {
                weight.iter().chain(bias).copied().collect()
            }
            GradStep::Attention { params, .. } => params.to_vec(),
            GradStep::Lstm { params, .. } => params.clone(),
            GradStep::Embedding { weight, .. } => vec![*weight],
            GradStep::MaxPool2d { .. }
            | GradStep::AvgPool2d { .. }
            | GradStep::AdaptiveAvgPool2d { .. }
            | GradStep::Relu { .. }
            | GradStep::LeakyRelu { .. }
            | GradStep::Sigmoid { .. }
            | GradStep::Tanh { .. }
            | GradStep::Gelu { .. }
            | GradStep::Silu { .. }
            | GradStep::Hardswish { .. }
            | GradStep::Elu { .. }
            | GradStep::Softplus { .. }
            | GradStep::Softmax { .. }
            | GradStep::Dropout { .. }
            | GradStep::Concat { .. }
            | GradStep::Mean { .. }
            | GradStep::Mul { .. }
            | GradStep::Last { .. }
            | GradStep::Copy { .. }
            | GradStep::Accumulate { .. } => Vec::new(),
        }
    }
}
