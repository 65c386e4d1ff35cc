//! The shape of an int8 plan, decided from the float plan alone: which
//! steps become int8, where values cross between f32 and `u8`, which
//! BatchNorms fold and which ReLUs fuse. The numbers (scales, integer
//! weights) come later, from a calibration ([`super::build`]) or from an
//! int8 checkpoint ([`super::load`]); deciding the shape in one place is
//! what lets a checkpoint rebuild exactly the plan it was saved from.
// Every step is decided explicitly: no catch-all arm (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use std::collections::{HashMap, HashSet};

use super::error::QuantizeError;
use super::steps::{reads, writes};
use crate::plan::{BufferId, ParamId, Plan, Size, Step};
use nnspec_runtime_core::quant::plan::{QLayer, QPlan, QStep, QTensor, QTensorId};
use nnspec_runtime_core::quant::scheme::QuantParams;

/// The most inputs per output an i32 sum of `127·127` products holds.
pub const MAX_K: usize = (i32::MAX as usize) / (127 * 127);

/// Where a `u8` tensor's parameters come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TensorSource {
    /// The calibrated range of this buffer.
    Range(BufferId),
    /// Another tensor's (max pooling keeps its input's).
    SameAs(QTensorId),
}

/// A BatchNorm folded into the convolution before it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fold {
    pub weight: ParamId,
    pub bias: ParamId,
    pub running_mean: ParamId,
    pub running_var: ParamId,
    pub eps: f32,
}

/// Where an int8 layer's float weights come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerSource {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
    pub fold: Option<Fold>,
    pub x: QTensorId,
    pub y: QTensorId,
}

/// A [`QPlan`] whose numbers are placeholders, and where they come from.
pub struct Skeleton {
    pub qplan: QPlan,
    pub tensors: Vec<TensorSource>,
    pub layers: Vec<LayerSource>,
    /// By parameter: read by a float step (so kept in `float_params`).
    pub float_params: Vec<bool>,
}

/// A dense layer or convolution of the float plan, as an int8 layer sees
/// it: `n` outputs of `k` inputs each (a convolution's `k` counts a whole
/// window).
struct IntLayer {
    x: BufferId,
    weight: ParamId,
    bias: Option<ParamId>,
    y: BufferId,
    n: usize,
    k: usize,
    relu: bool,
    conv: Option<crate::plan::ConvShape>,
}

struct Builder<'p> {
    plan: &'p Plan,
    /// Values whose f32 buffer holds them.
    in_f32: HashSet<BufferId>,
    /// Values held by a `u8` tensor.
    in_u8: HashMap<BufferId, QTensorId>,
    steps: Vec<QStep>,
    tensors: Vec<QTensor>,
    sources: Vec<TensorSource>,
}

impl Builder<'_> {
    fn new_tensor(&mut self, buffer: BufferId, source: TensorSource) -> QTensorId {
        let b = self.plan.buffer(buffer);
        let per_sample = match b.size {
            Size::PerSample(n) => n,
            Size::Fixed(n) => n,
        };
        let id = QTensorId(self.tensors.len() as u32);
        self.tensors.push(QTensor {
            name: b.name.clone(),
            per_sample,
            q: QuantParams {
                scale: 1.0,
                zero_point: 0,
            },
        });
        self.sources.push(source);
        id
    }

    /// The value of `buffer` as a `u8` tensor, quantizing it if needed.
    fn need_u8(&mut self, buffer: BufferId) -> Result<QTensorId, QuantizeError> {
        let root = self.plan.root(buffer);
        if let Some(&t) = self.in_u8.get(&root) {
            return Ok(t);
        }
        self.check_f32(root)?;
        let t = self.new_tensor(root, TensorSource::Range(root));
        self.steps.push(QStep::Quantize { x: root, y: t });
        self.in_u8.insert(root, t);
        Ok(t)
    }

    /// The value of `buffer` in its f32 buffer, dequantizing it if needed.
    fn need_f32(&mut self, buffer: BufferId) -> Result<(), QuantizeError> {
        let root = self.plan.root(buffer);
        if self.in_f32.contains(&root) {
            return Ok(());
        }
        let Some(&t) = self.in_u8.get(&root) else {
            return self.check_f32(root);
        };
        self.steps.push(QStep::Dequantize { x: t, y: root });
        self.in_f32.insert(root);
        Ok(())
    }

    fn check_f32(&self, root: BufferId) -> Result<(), QuantizeError> {
        if self.in_f32.contains(&root) {
            Ok(())
        } else {
            Err(QuantizeError::Unreachable {
                model: self.plan.model.clone(),
                buffer: self.plan.buffer(root).name.clone(),
            })
        }
    }

    /// A new value computed in `u8` into tensor `t`.
    fn wrote_u8(&mut self, buffer: BufferId, t: QTensorId) {
        let root = self.plan.root(buffer);
        self.in_f32.remove(&root);
        self.in_u8.insert(root, t);
    }
}

/// Decides the int8 plan's shape for `plan` (an inference plan).
pub fn skeleton(plan: &Plan) -> Result<Skeleton, QuantizeError> {
    let root = |b: BufferId| plan.root(b);
    let outputs: HashSet<BufferId> = plan.outputs.iter().map(|o| root(o.1)).collect();
    let mut readers: HashMap<BufferId, Vec<usize>> = HashMap::new();
    for (i, step) in plan.forward.iter().enumerate() {
        for r in reads(step) {
            readers.entry(root(r)).or_default().push(i);
        }
    }
    // The one step reading `b`, when nothing else (not even the caller,
    // as an output) sees it.
    let only_reader = |b: BufferId| -> Option<usize> {
        match readers.get(&root(b)).map(Vec::as_slice) {
            Some([i]) if !outputs.contains(&root(b)) => Some(*i),
            _ => None,
        }
    };
    let mut b = Builder {
        plan,
        in_f32: plan.inputs.iter().map(|&i| root(i)).collect(),
        in_u8: HashMap::new(),
        steps: Vec::new(),
        tensors: Vec::new(),
        sources: Vec::new(),
    };
    let mut layers: Vec<QLayer> = Vec::new();
    let mut layer_sources: Vec<LayerSource> = Vec::new();
    let mut float_params = vec![false; plan.params.len()];
    let mut absorbed = vec![false; plan.forward.len()];
    for (i, step) in plan.forward.iter().enumerate() {
        if absorbed[i] {
            continue;
        }
        let layer = match step {
            Step::Dense {
                x,
                weight,
                bias,
                y,
                in_features,
                out_features,
                relu,
            } => Some(IntLayer {
                x: *x,
                weight: *weight,
                bias: *bias,
                y: *y,
                n: *out_features,
                k: *in_features,
                relu: *relu,
                conv: None,
            }),
            Step::Conv2d {
                x,
                weight,
                bias,
                y,
                shape,
                relu,
            } => Some(IntLayer {
                x: *x,
                weight: *weight,
                bias: *bias,
                y: *y,
                n: shape.out_channels,
                k: shape.in_channels * shape.kernel[0] * shape.kernel[1],
                relu: *relu,
                conv: Some(*shape),
            }),
            Step::GroupedConv2d { .. }
            | Step::MaxPool2d { .. }
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
            | Step::BatchNorm { .. }
            | Step::Add { .. }
            | Step::Mul { .. }
            | Step::LayerNorm { .. }
            | Step::Mean { .. }
            | Step::Concat { .. }
            | Step::Attention { .. }
            | Step::Lstm { .. }
            | Step::Last { .. }
            | Step::Embedding { .. } => None,
        };
        if let Some(IntLayer {
            x,
            weight,
            bias,
            mut y,
            n,
            k,
            mut relu,
            conv,
        }) = layer
        {
            let name = layer_name(plan, weight);
            if k > MAX_K {
                return Err(QuantizeError::TooManyInputs {
                    layer: name,
                    k,
                    max: MAX_K,
                });
            }
            let xq = b.need_u8(x)?;
            // A BatchNorm over this convolution's channels, its only
            // reader, folds into the weights and bias.
            let mut fold = None;
            if let (Some(_), false, Some(j)) = (conv, relu, only_reader(y))
                && let Step::BatchNorm {
                    y: bn_y,
                    weight,
                    bias,
                    running_mean,
                    running_var,
                    channels,
                    eps,
                    ..
                } = &plan.forward[j]
                && *channels == n
            {
                fold = Some(Fold {
                    weight: *weight,
                    bias: *bias,
                    running_mean: *running_mean,
                    running_var: *running_var,
                    eps: *eps,
                });
                absorbed[j] = true;
                y = *bn_y;
            }
            // A ReLU, the output's only reader, becomes the clamp at the
            // output's zero point.
            if !relu
                && let Some(j) = only_reader(y)
                && let Step::Relu { y: relu_y, .. } = &plan.forward[j]
            {
                absorbed[j] = true;
                relu = true;
                y = *relu_y;
            }
            let yq = b.new_tensor(root(y), TensorSource::Range(root(y)));
            let index = layers.len();
            layers.push(QLayer {
                name,
                n,
                k,
                weight: Vec::new(),
                weight_scale: Vec::new(),
                bias: Vec::new(),
                requant: Vec::new(),
                packed: Vec::new(),
                weight_sums: Vec::new(),
            });
            layer_sources.push(LayerSource {
                weight,
                bias,
                fold,
                x: xq,
                y: yq,
            });
            b.steps.push(match conv {
                Some(shape) => QStep::Conv2d {
                    x: xq,
                    layer: index,
                    y: yq,
                    shape,
                    relu,
                },
                None => QStep::Dense {
                    x: xq,
                    layer: index,
                    y: yq,
                    relu,
                },
            });
            b.wrote_u8(y, yq);
            continue;
        }
        // Steps that keep `u8` values when their input is one.
        let x_u8 = reads(step)
            .first()
            .and_then(|&x| b.in_u8.get(&root(x)).copied());
        if let (Step::MaxPool2d { y, shape, .. }, Some(xq)) = (step, x_u8) {
            let yq = b.new_tensor(root(*y), TensorSource::SameAs(xq));
            b.steps.push(QStep::MaxPool2d {
                x: xq,
                y: yq,
                shape: *shape,
            });
            b.wrote_u8(*y, yq);
            continue;
        }
        // Inference dropout is the identity: the same tensor.
        if let (Step::Dropout { y, .. }, Some(xq)) = (step, x_u8) {
            b.wrote_u8(*y, xq);
            continue;
        }
        for r in reads(step) {
            b.need_f32(r)?;
        }
        for p in super::steps::params(step) {
            float_params[p.index()] = true;
        }
        b.steps.push(QStep::Float(step.clone()));
        for w in writes(step) {
            let w = root(w);
            b.in_u8.remove(&w);
            b.in_f32.insert(w);
        }
    }
    // Every output as integers and as f32.
    for (_, out, _) in &plan.outputs {
        b.need_u8(*out)?;
        b.need_f32(*out)?;
    }
    Ok(Skeleton {
        qplan: QPlan {
            float: plan.clone(),
            float_params: Vec::new(),
            tensors: b.tensors,
            layers,
            steps: b.steps,
        },
        tensors: b.sources,
        layers: layer_sources,
        float_params,
    })
}

/// A layer's name: its weight's `state_dict` name without `.weight`.
fn layer_name(plan: &Plan, weight: ParamId) -> String {
    let name = &plan.param(weight).name;
    name.strip_suffix(".weight").unwrap_or(name).to_string()
}
