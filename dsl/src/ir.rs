//! The typed IR: what the checker proves about a model.
//!
//! A [`Model`] is a graph of values in topological order. Every value has a
//! dtype and a per-sample shape (the batch dimension is implicit and leads
//! every tensor at run time), the op that computes it, and its inputs.
//! Parameters carry PyTorch `state_dict` names and shapes, so checkpoints map
//! onto `nn.Module`s name for name. The text form (`Display`) is what the
//! snapshot tests show:
//!
//! ```text
//! %1 = dense(out_features: 128) %0 -> f32[128]  // fc1
//! ```

use std::fmt;

use crate::ast::Span;
pub use crate::ops::Op;

/// Index of a value in [`Model::values`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Index of a parameter in [`Model::params`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub u32);

impl ParamId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    F32,
    /// Only BatchNorm's `num_batches_tracked` counter, as in PyTorch.
    I64,
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "f32",
            Dtype::I64 => "i64",
        })
    }
}

/// A per-sample shape: `[channels, height, width]` for images, `[features]` for vectors.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements; shapes in the IR are checked not to overflow.
    pub fn elements(&self) -> usize {
        self.0.iter().product()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, dim) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{dim}")?;
        }
        f.write_str("]")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub dtype: Dtype,
    pub shape: Shape,
    /// The layer instance: its `as` name, or a generated one (`dense_1`).
    /// Parameter names are `{layer}.weight` and so on.
    pub layer: String,
    /// The name bound by `input`, `let` or `output`, if any.
    pub binding: Option<String>,
    pub params: Vec<ParamId>,
    /// The source text that produced the value.
    pub span: Span,
}

/// What a parameter is for, which fixes its initialization and whether the
/// optimizer updates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRole {
    /// Dense or conv weight: PyTorch's default `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    Weight { fan_in: usize },
    /// Dense or conv bias: same bound as the weight.
    Bias { fan_in: usize },
    /// BatchNorm weight (gamma), initialized to one.
    Scale,
    /// BatchNorm bias (beta), initialized to zero.
    Shift,
    /// BatchNorm running mean buffer (zeros), not trained.
    RunningMean,
    /// BatchNorm running variance buffer (ones), not trained.
    RunningVar,
    /// BatchNorm's i64 count of training batches, not trained.
    NumBatchesTracked,
}

impl ParamRole {
    pub fn trainable(self) -> bool {
        match self {
            ParamRole::Weight { .. }
            | ParamRole::Bias { .. }
            | ParamRole::Scale
            | ParamRole::Shift => true,
            ParamRole::RunningMean | ParamRole::RunningVar | ParamRole::NumBatchesTracked => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// PyTorch `state_dict` name: `fc1.weight`.
    pub name: String,
    pub dtype: Dtype,
    pub shape: Shape,
    pub role: ParamRole,
    /// The value whose op owns the parameter.
    pub owner: ValueId,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub name: String,
    pub value: ValueId,
}

/// A checked model.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: String,
    pub span: Span,
    /// Topological order: every value's inputs come before it.
    pub values: Vec<Value>,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<Output>,
    pub params: Vec<Param>,
}

impl Model {
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.index()]
    }

    pub fn param(&self, id: ParamId) -> &Param {
        &self.params[id.index()]
    }

    pub fn trainable_parameter_count(&self) -> usize {
        self.params
            .iter()
            .filter(|p| p.role.trainable())
            .map(|p| p.shape.elements())
            .sum()
    }

    pub fn parameter_count(&self) -> usize {
        self.params.iter().map(|p| p.shape.elements()).sum()
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model {} {{", self.name)?;
        for (i, value) in self.values.iter().enumerate() {
            write!(f, "  %{i} = {}", value.op.name())?;
            let attributes = value.op.attributes();
            if !attributes.is_empty() {
                write!(f, "({attributes})")?;
            }
            for input in &value.inputs {
                write!(f, " %{}", input.0)?;
            }
            write!(f, " -> {}{}", value.dtype, value.shape)?;
            let mut comment = vec![value.layer.clone()];
            if let Some(binding) = &value.binding
                && *binding != value.layer
            {
                comment.push(format!("= {binding}"));
            }
            writeln!(f, "  // {}", comment.join(" "))?;
        }
        for param in &self.params {
            writeln!(
                f,
                "  param {}: {}{} of %{}{}",
                param.name,
                param.dtype,
                param.shape,
                param.owner.0,
                if param.role.trainable() {
                    ""
                } else {
                    " (buffer)"
                }
            )?;
        }
        for output in &self.outputs {
            writeln!(f, "  output {} = %{}", output.name, output.value.0)?;
        }
        writeln!(f, "}}")
    }
}

/// How the training loss is computed from the model's output. Each loss's
/// rules are in its module under [`crate::ops`] (`Loss::rules`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// `nn.CrossEntropyLoss()`: log-softmax + NLL, mean over the batch; labels are class indices.
    CrossEntropy,
    /// `nn.MSELoss()`: mean over every element; targets have the output's shape.
    Mse,
}

/// An optimizer with every hyperparameter resolved (defaults are PyTorch's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Sgd {
        lr: f64,
        momentum: f64,
        dampening: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    Adam {
        lr: f64,
        betas: [f64; 2],
        eps: f64,
        weight_decay: f64,
    },
    AdamW {
        lr: f64,
        betas: [f64; 2],
        eps: f64,
        weight_decay: f64,
    },
}

impl Optimizer {
    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::AdamW { lr, .. } => *lr,
        }
    }

    pub fn with_lr(mut self, new_lr: f64) -> Self {
        match &mut self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::AdamW { lr, .. } => *lr = new_lr,
        }
        self
    }
}

/// Gradient clipping before each optimizer step, PyTorch's
/// `torch.nn.utils` functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    /// `clip_grad_norm_(params, max_norm)`: every gradient scaled by
    /// `min(1, max_norm / (total L2 norm + 1e-6))`.
    Norm { max_norm: f64 },
    /// `clip_grad_value_(params, clip_value)`: every element clamped to
    /// `[-clip_value, clip_value]`.
    Value { clip_value: f64 },
}

/// A checked `train` block.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub model: String,
    pub loss: Loss,
    pub optimizer: Optimizer,
    /// `clip: norm(...)` or `clip: value(...)`; none without the field.
    pub clip: Option<Clip>,
    pub batch: usize,
    pub epochs: usize,
    pub seed: u64,
    pub span: Span,
}
