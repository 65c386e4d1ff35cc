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
    /// Token ids (inputs read by `embedding`), and BatchNorm's
    /// `num_batches_tracked` counter, as in PyTorch.
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
    /// `xavier_uniform_`: `U(-b, b)`, `b = sqrt(6 / (fan_in + fan_out))`
    /// (attention's `in_proj_weight`).
    Xavier { fan_in: usize, fan_out: usize },
    /// BatchNorm or LayerNorm weight (gamma), initialized to one.
    Scale,
    /// BatchNorm or LayerNorm bias (beta), or attention's biases:
    /// initialized to zero.
    Shift,
    /// BatchNorm running mean buffer (zeros), not trained.
    RunningMean,
    /// BatchNorm running variance buffer (ones), not trained.
    RunningVar,
    /// BatchNorm's i64 count of training batches, not trained.
    NumBatchesTracked,
    /// An embedding table: PyTorch's `N(0, 1)`.
    Embedding,
}

impl ParamRole {
    pub fn trainable(self) -> bool {
        match self {
            ParamRole::Weight { .. }
            | ParamRole::Bias { .. }
            | ParamRole::Xavier { .. }
            | ParamRole::Scale
            | ParamRole::Shift
            | ParamRole::Embedding => true,
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

/// How the training loss is computed from the model's output, with its
/// arguments. Each loss's rules are in its module under [`crate::ops`]
/// (`Loss::rules`); every loss is PyTorch's with mean reduction.
#[derive(Clone, Debug, PartialEq)]
pub enum Loss {
    /// `nn.CrossEntropyLoss(weight, label_smoothing)`: log-softmax + NLL
    /// on class scores; labels are class indices. `weight` is empty or
    /// has one entry per class.
    CrossEntropy {
        label_smoothing: f64,
        weight: Vec<f64>,
    },
    /// `nn.MSELoss()`: mean over every element; targets have the output's length.
    Mse,
    /// `nn.L1Loss()`: mean absolute error over every element.
    L1,
    /// `nn.SmoothL1Loss(beta)`: quadratic below `beta`, linear above.
    SmoothL1 { beta: f64 },
    /// `nn.BCEWithLogitsLoss()`: sigmoid + binary cross-entropy per
    /// element; targets are 0 or 1, one per output element.
    BceWithLogits,
}

impl Loss {
    /// Plain `cross_entropy`, without weights or smoothing (the default).
    pub const fn cross_entropy() -> Loss {
        Loss::CrossEntropy {
            label_smoothing: 0.0,
            weight: Vec::new(),
        }
    }

    /// Whether the loss learns float targets (regression: `mse`, `l1`,
    /// `smooth_l1`) rather than class labels.
    pub fn is_regression(&self) -> bool {
        match self {
            Loss::Mse | Loss::L1 | Loss::SmoothL1 { .. } => true,
            Loss::CrossEntropy { .. } | Loss::BceWithLogits => false,
        }
    }
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

/// As checkpoints record it (`norm(1)`, `value(0.5)`): dslc writes it into
/// a checkpoint's metadata, the emitted PyTorch trainer writes the same.
impl fmt::Display for Clip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clip::Norm { max_norm } => write!(f, "norm({max_norm})"),
            Clip::Value { clip_value } => write!(f, "value({clip_value})"),
        }
    }
}

/// A learning-rate schedule, PyTorch's `torch.optim.lr_scheduler` with
/// its arguments and defaults. Epoch-based schedules step once per epoch,
/// one-cycle once per optimizer step, as PyTorch's documentation uses them.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// `StepLR(step_size, gamma=0.1)`.
    Step { step_size: usize, gamma: f64 },
    /// `MultiStepLR(milestones, gamma=0.1)`; milestones in epochs, increasing.
    MultiStep { milestones: Vec<usize>, gamma: f64 },
    /// `ExponentialLR(gamma)`.
    Exponential { gamma: f64 },
    /// `CosineAnnealingLR(T_max, eta_min=0)`.
    Cosine { t_max: usize, eta_min: f64 },
    /// `OneCycleLR(max_lr, total_steps, pct_start=0.3, anneal_strategy,
    /// div_factor=25, final_div_factor=1e4, three_phase=False,
    /// cycle_momentum=False)`; total_steps is every step of the run.
    OneCycle {
        max_lr: f64,
        pct_start: f64,
        anneal: Anneal,
        div_factor: f64,
        final_div_factor: f64,
        three_phase: bool,
    },
    /// `ReduceLROnPlateau(mode='min', factor=0.1, patience=10,
    /// threshold=1e-4, threshold_mode='rel', cooldown=0, min_lr=0,
    /// eps=1e-8)`, stepped with the validation loss after each epoch.
    Plateau {
        factor: f64,
        patience: usize,
        threshold: f64,
        threshold_mode: ThresholdMode,
        cooldown: usize,
        min_lr: f64,
        eps: f64,
    },
}

/// How one-cycle anneals (`anneal_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anneal {
    Cos,
    Linear,
}

/// How a plateau's threshold compares (`threshold_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdMode {
    Rel,
    Abs,
}

/// What early stopping and model selection watch on the validation split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Lower is better.
    ValLoss,
    /// Higher is better.
    ValAccuracy,
}

/// `early_stopping: val_loss(patience: 5, min_delta: 0.001)`: stop when the
/// monitored value has not improved by more than `min_delta` for
/// `patience` epochs (Keras' `EarlyStopping`), keeping the best weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    pub monitor: Monitor,
    pub patience: usize,
    pub min_delta: f64,
}

/// A checked `train` block.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub model: String,
    pub loss: Loss,
    pub optimizer: Optimizer,
    /// `clip: norm(...)` or `clip: value(...)`; none without the field.
    pub clip: Option<Clip>,
    /// `schedule: cosine(t_max: 10)`; none: the optimizer's lr throughout.
    pub schedule: Option<Schedule>,
    /// `warmup: 2`: epochs of linear warmup before the schedule, stepped
    /// per optimizer step; 0 without the field.
    pub warmup: usize,
    /// `validation: 0.1`: the fraction of the training data held out
    /// (stratified, seeded) for per-epoch metrics and model selection;
    /// none without the field.
    pub validation: Option<f64>,
    /// `early_stopping: val_loss(...)`; none without the field.
    pub early_stopping: Option<EarlyStopping>,
    pub batch: usize,
    pub epochs: usize,
    pub seed: u64,
    pub span: Span,
}
