//! Which buffers each float step reads and writes: what the builder needs
//! to know who consumes a value (folding a BatchNorm, fusing a ReLU) and
//! which values a float step leaves in f32.
// Every step must say what it reads: no catch-all arm (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use crate::plan::{BufferId, Step};

/// The buffers `step` reads (values, not saved state).
pub fn reads(step: &Step) -> Vec<BufferId> {
    match step {
        Step::Dense { x, .. }
        | Step::Conv2d { x, .. }
        | Step::GroupedConv2d { x, .. }
        | Step::MaxPool2d { x, .. }
        | Step::AvgPool2d { x, .. }
        | Step::AdaptiveAvgPool2d { x, .. }
        | Step::Relu { x, .. }
        | Step::LeakyRelu { x, .. }
        | Step::Sigmoid { x, .. }
        | Step::Tanh { x, .. }
        | Step::Gelu { x, .. }
        | Step::Silu { x, .. }
        | Step::Hardswish { x, .. }
        | Step::Elu { x, .. }
        | Step::Softplus { x, .. }
        | Step::Softmax { x, .. }
        | Step::Dropout { x, .. }
        | Step::BatchNorm { x, .. }
        | Step::LayerNorm { x, .. }
        | Step::Mean { x, .. }
        | Step::Attention { x, .. }
        | Step::Lstm { x, .. }
        | Step::Last { x, .. } => vec![*x],
        Step::Embedding { ids, .. } => vec![*ids],
        Step::Add { a, b, .. } | Step::Mul { a, b, .. } => vec![*a, *b],
        Step::Concat { inputs, .. } => inputs.clone(),
    }
}

/// The buffer holding `step`'s result: the first of [`writes`] (the int8
/// exports find a float step's layer by it).
pub fn output(step: &Step) -> BufferId {
    writes(step)[0]
}

/// The buffers `step` writes in inference: its output first, then the
/// state it saves for a backward pass (which inference may leave
/// untouched).
pub fn writes(step: &Step) -> Vec<BufferId> {
    match step {
        Step::Dense { y, .. }
        | Step::Conv2d { y, .. }
        | Step::GroupedConv2d { y, .. }
        | Step::AvgPool2d { y, .. }
        | Step::AdaptiveAvgPool2d { y, .. }
        | Step::Relu { y, .. }
        | Step::LeakyRelu { y, .. }
        | Step::Sigmoid { y, .. }
        | Step::Tanh { y, .. }
        | Step::Gelu { y, .. }
        | Step::Silu { y, .. }
        | Step::Hardswish { y, .. }
        | Step::Elu { y, .. }
        | Step::Softplus { y, .. }
        | Step::Softmax { y, .. }
        | Step::Mean { y, .. }
        | Step::Concat { y, .. }
        | Step::Last { y, .. }
        | Step::Embedding { y, .. }
        | Step::Add { y, .. }
        | Step::Mul { y, .. } => vec![*y],
        Step::MaxPool2d { y, indices, .. } => vec![*y, *indices],
        Step::Dropout { y, mask, .. } => vec![*y, *mask],
        Step::BatchNorm {
            y,
            save_mean,
            save_invstd,
            ..
        } => vec![*y, *save_mean, *save_invstd],
        Step::LayerNorm {
            y,
            save_mean,
            save_rstd,
            ..
        } => vec![*y, *save_mean, *save_rstd],
        Step::Attention {
            y,
            heads,
            probs,
            ctx,
            ..
        } => vec![*y, *heads, *probs, *ctx],
        Step::Lstm { y, saved, .. } => {
            let mut all = vec![*y];
            all.extend_from_slice(saved);
            all
        }
    }
}

/// The parameters `step` reads.
pub fn params(step: &Step) -> Vec<crate::plan::ParamId> {
    match step {
        Step::Dense { weight, bias, .. }
        | Step::Conv2d { weight, bias, .. }
        | Step::GroupedConv2d { weight, bias, .. } => {
            std::iter::once(*weight).chain(*bias).collect()
        }
        Step::BatchNorm {
            weight,
            bias,
            running_mean,
            running_var,
            ..
        } => vec![*weight, *bias, *running_mean, *running_var],
        Step::LayerNorm { weight, bias, .. } => weight.iter().chain(bias.iter()).copied().collect(),
        Step::Attention { params, .. } => params.to_vec(),
        Step::Lstm { params, .. } => params.clone(),
        Step::Embedding { weight, .. } => vec![*weight],
        Step::MaxPool2d { .. }
        | Step::AvgPool2d { .. }
        | Step::AdaptiveAvgPool2d { .. }
        | Step::Relu { .. }
        | Step::LeakyRelu { .. }
        | Step::Sigmoid { .. }
        | Step::Tanh { .. }
        | Step::Gelu { .. }
        | Step::Silu { .. }
        | Step::Hardswish { .. }
        | Step::Elu { .. }
        | Step::Softplus { .. }
        | Step::Softmax { .. }
        | Step::Dropout { .. }
        | Step::Add { .. }
        | Step::Mul { .. }
        | Step::Mean { .. }
        | Step::Concat { .. }
        | Step::Last { .. } => vec![],
    }
}
