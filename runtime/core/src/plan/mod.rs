//! The Plan: everything needed to run a model, with every dim a constant
//! except the batch.
//!
//! Lowering (in nnspec-codegen) produces a Plan from the checked IR: the
//! forward steps, the backward steps derived by reverse-mode
//! differentiation, the loss, the parameters with their initialization,
//! and a static buffer layout. The executor (`nnspec_runtime::exec`) and
//! [`crate::infer`] run it; the Rust code generator prints it. Buffers are
//! sized per sample and scaled by the batch at run time, so one Plan serves
//! every batch size.
// A new op must be handled explicitly wherever ops (or their steps) are
// matched: no catch-all arm may swallow it (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use alloc::string::String;
use alloc::vec::Vec;

/// A tensor buffer of the plan: an activation, a gradient, or saved state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u32);

/// A parameter (or BatchNorm buffer) of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub u32);

impl BufferId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl ParamId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How many elements a buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// This many per sample: `n · batch` in all.
    PerSample(usize),
    /// This many whatever the batch (per-channel statistics).
    Fixed(usize),
}

/// The element type of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferType {
    F32,
    /// Max-pooling argmax indices.
    U32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// For the text form: `x`, `fc1`, `d.fc1`, `fc1.mask`.
    pub name: String,
    pub size: Size,
    pub ty: BufferType,
    /// Shares the storage of another buffer (a view: flatten, reshape, or
    /// a gradient passed through unchanged).
    pub alias_of: Option<BufferId>,
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// `U(-bound, bound)`: PyTorch's default for Linear and Conv2d weights
    /// and biases, `bound = 1/sqrt(fan_in)`.
    Uniform { bound: f32 },
    /// A constant (BatchNorm: weight 1, bias 0, running mean 0, running var 1).
    Constant(f32),
    /// `N(0, std²)`: PyTorch's default for Embedding tables (`std` 1).
    Normal { std: f32 },
}

/// What the optimizer does with a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Trainable,
    /// Updated by its op (BatchNorm running statistics), saved in checkpoints.
    State,
    /// An i64 counter (BatchNorm's `num_batches_tracked`).
    Counter,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// PyTorch `state_dict` name.
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
    pub kind: ParamKind,
}

impl Param {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

mod steps;
mod text;

pub use steps::{AttentionShape, ConvShape, GeluApproximate, GradStep, LstmShape, PoolShape, Step};

/// The training loss on the model's output (PyTorch's, mean reduction).
///
/// Targets are either class labels (`u32`) or float target values, one
/// per output element. The element-wise losses take class labels as their
/// one-hot encoding, or, over a single output, as the value 0 or 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossKind {
    /// `nn.CrossEntropyLoss(label_smoothing)`; labels are class indices in
    /// `0..classes`; class weights, if any, are [`Loss::weight`].
    CrossEntropy {
        classes: usize,
        label_smoothing: f32,
    },
    /// `nn.MSELoss()` over `len` values per sample.
    Mse { len: usize },
    /// `nn.L1Loss()`.
    L1 { len: usize },
    /// `nn.SmoothL1Loss(beta)`.
    SmoothL1 { len: usize, beta: f32 },
    /// `nn.BCEWithLogitsLoss()`; targets are 0 or 1.
    BceWithLogits { len: usize },
}

impl LossKind {
    /// Output values per sample.
    pub fn width(&self) -> usize {
        match *self {
            LossKind::CrossEntropy { classes: len, .. }
            | LossKind::Mse { len }
            | LossKind::L1 { len }
            | LossKind::SmoothL1 { len, .. }
            | LossKind::BceWithLogits { len } => len,
        }
    }

    /// Whether the loss learns float values (regression) rather than classes.
    pub fn is_regression(&self) -> bool {
        match self {
            LossKind::Mse { .. } | LossKind::L1 { .. } | LossKind::SmoothL1 { .. } => true,
            LossKind::CrossEntropy { .. } | LossKind::BceWithLogits { .. } => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    pub kind: LossKind,
    /// Cross-entropy's class weights (`classes` entries), if any.
    pub weight: Option<Vec<f32>>,
    /// The output the loss is computed on.
    pub output: BufferId,
    /// Where its gradient goes (the start of backward).
    pub grad: BufferId,
}

/// The optimizer's hyperparameters, PyTorch's semantics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Sgd {
        lr: f32,
        momentum: f32,
        dampening: f32,
        nesterov: bool,
        weight_decay: f32,
    },
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
    AdamW {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
}

impl Optimizer {
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::AdamW { lr, .. } => lr,
        }
    }

    pub fn with_lr(mut self, new: f32) -> Self {
        match &mut self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::AdamW { lr, .. } => *lr = new,
        }
        self
    }
}

/// Gradient clipping before each optimizer step (PyTorch's
/// `clip_grad_norm_` with the L2 norm, or `clip_grad_value_`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    Norm { max_norm: f32 },
    Value { clip_value: f32 },
}

/// A lowered model.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub model: String,
    pub buffers: Vec<Buffer>,
    pub params: Vec<Param>,
    /// The model's input buffers (per-sample shapes in `input_shapes`).
    pub inputs: Vec<BufferId>,
    pub input_shapes: Vec<Vec<usize>>,
    /// Named outputs with their per-sample shapes.
    pub outputs: Vec<(String, BufferId, Vec<usize>)>,
    pub forward: Vec<Step>,
    /// The loss, if the plan trains.
    pub loss: Option<Loss>,
    /// Reverse-mode steps, run after the loss; empty for inference plans.
    pub backward: Vec<GradStep>,
    /// The gradient buffer of each trainable parameter is implicit: the
    /// executor keeps one per parameter, laid out like the parameters.
    pub optimizer: Option<Optimizer>,
    /// Gradient clipping before each update, if the train block asks.
    pub clip: Option<Clip>,
}

impl Plan {
    pub fn buffer(&self, id: BufferId) -> &Buffer {
        &self.buffers[id.index()]
    }

    pub fn param(&self, id: ParamId) -> &Param {
        &self.params[id.index()]
    }

    /// The buffer whose storage `id` uses (itself unless it is an alias).
    pub fn root(&self, mut id: BufferId) -> BufferId {
        while let Some(next) = self.buffers[id.index()].alias_of {
            id = next;
        }
        id
    }

    pub fn trains(&self) -> bool {
        self.loss.is_some()
    }

    /// How many token ids input `i` takes (its ids are `0..n`), if it is
    /// token ids (read by an embedding): the smallest table reading it.
    pub fn token_bound(&self, i: usize) -> Option<usize> {
        let input = self.root(*self.inputs.get(i)?);
        self.forward
            .iter()
            .filter_map(|step| {
                // Only embeddings read token ids (the checker's rule).
                if let Step::Embedding { ids, num, .. } = step
                    && self.root(*ids) == input
                {
                    Some(*num)
                } else {
                    None
                }
            })
            .min()
    }
}
