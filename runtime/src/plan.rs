//! The Plan: everything needed to run a model, with every dim a constant
//! except the batch.
//!
//! Lowering (in nnspec-codegen) produces a Plan from the checked IR: the
//! forward steps, the backward steps derived by reverse-mode
//! differentiation, the loss, the parameters with their initialization,
//! and a static buffer layout. The executor ([`crate::exec`]) runs it; the
//! Rust code generator prints it. Buffers are sized per sample and scaled
//! by the batch at run time, so one Plan serves every batch size.
// A new op must be handled explicitly wherever ops (or their steps) are
// matched: no catch-all arm may swallow it (issue 6).
#![deny(clippy::wildcard_enum_match_arm)]

use std::fmt;

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
    Conv2d {
        x: BufferId,
        weight: ParamId,
        bias: Option<ParamId>,
        y: BufferId,
        shape: ConvShape,
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
    /// Joins inputs viewed as per-sample `[outer, lens[i], inner]`.
    Concat {
        inputs: Vec<BufferId>,
        lens: Vec<usize>,
        outer: usize,
        inner: usize,
        y: BufferId,
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
    Conv2d {
        x: BufferId,
        weight: ParamId,
        bias: Option<ParamId>,
        dy: BufferId,
        dx: Option<BufferId>,
        shape: ConvShape,
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
    /// Splits `dy` back into its inputs' gradients (`None`: not needed).
    Concat {
        dy: BufferId,
        dxs: Vec<Option<BufferId>>,
        lens: Vec<usize>,
        outer: usize,
        inner: usize,
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
}

/// The training loss on the model's output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossKind {
    /// Labels are class indices in `0..classes`.
    CrossEntropy { classes: usize },
    /// Targets are the one-hot encoding of the labels (`len` = classes).
    Mse { len: usize },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss {
    pub kind: LossKind,
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

impl GradStep {
    /// The parameters whose gradients this step writes. The executor's
    /// optimizer updates exactly these (a parameter off the loss's path gets
    /// no gradient and, as in PyTorch, no update, not even weight decay).
    pub fn param_grads(&self) -> Vec<ParamId> {
        match self {
            GradStep::Dense { weight, bias, .. } | GradStep::Conv2d { weight, bias, .. } => {
                std::iter::once(*weight).chain(*bias).collect()
            }
            GradStep::BatchNorm { weight, bias, .. } => vec![*weight, *bias],
            GradStep::MaxPool2d { .. }
            | GradStep::AvgPool2d { .. }
            | GradStep::Relu { .. }
            | GradStep::LeakyRelu { .. }
            | GradStep::Sigmoid { .. }
            | GradStep::Tanh { .. }
            | GradStep::Softmax { .. }
            | GradStep::Dropout { .. }
            | GradStep::Concat { .. }
            | GradStep::Copy { .. }
            | GradStep::Accumulate { .. } => Vec::new(),
        }
    }
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
}

// ---- text form ----

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = |id: &BufferId| format!("%{}", id.0);
        let p = |id: &ParamId| self.params[id.index()].name.clone();
        let opt_p = |id: &Option<ParamId>| id.as_ref().map_or("-".to_string(), p);
        let opt_b = |id: &Option<BufferId>| id.as_ref().map_or("-".to_string(), b);
        writeln!(f, "plan {} {{", self.model)?;
        writeln!(f, "  buffers:")?;
        for (i, buffer) in self.buffers.iter().enumerate() {
            let size = match buffer.size {
                Size::PerSample(n) => format!("N×{n}"),
                Size::Fixed(n) => format!("{n}"),
            };
            let ty = match buffer.ty {
                BufferType::F32 => "f32",
                BufferType::U32 => "u32",
            };
            let alias = buffer
                .alias_of
                .map_or(String::new(), |a| format!(" = view of %{}", a.0));
            writeln!(f, "    %{i} {}: {ty}[{size}]{alias}", buffer.name)?;
        }
        writeln!(f, "  params:")?;
        for param in &self.params {
            let init = match param.init {
                Init::Uniform { bound } => format!("uniform(±{bound:.6})"),
                Init::Constant(c) => format!("constant({c})"),
            };
            let kind = match param.kind {
                ParamKind::Trainable => "",
                ParamKind::State => " state",
                ParamKind::Counter => " counter",
            };
            writeln!(f, "    {}: {:?} {init}{kind}", param.name, param.shape)?;
        }
        let inputs: Vec<String> = self.inputs.iter().map(b).collect();
        writeln!(f, "  inputs: {}", inputs.join(", "))?;
        writeln!(f, "  forward:")?;
        for step in &self.forward {
            let line = match step {
                Step::Dense {
                    x,
                    weight,
                    bias,
                    y,
                    in_features,
                    out_features,
                    relu,
                } => format!(
                    "{} = dense{}({}, {}, {}) {in_features}->{out_features}",
                    b(y),
                    if *relu { "_relu" } else { "" },
                    b(x),
                    p(weight),
                    opt_p(bias)
                ),
                Step::Conv2d {
                    x,
                    weight,
                    bias,
                    y,
                    shape,
                } => format!(
                    "{} = conv2d({}, {}, {}) {}",
                    b(y),
                    b(x),
                    p(weight),
                    opt_p(bias),
                    conv_text(shape)
                ),
                Step::MaxPool2d {
                    x,
                    y,
                    indices,
                    shape,
                } => {
                    format!(
                        "{}, {} = maxpool2d({}) {}",
                        b(y),
                        b(indices),
                        b(x),
                        pool_text(shape)
                    )
                }
                Step::AvgPool2d { x, y, shape } => {
                    format!("{} = avgpool2d({}) {}", b(y), b(x), pool_text(shape))
                }
                Step::Relu { x, y } => format!("{} = relu({})", b(y), b(x)),
                Step::LeakyRelu {
                    x,
                    y,
                    negative_slope,
                } => {
                    format!("{} = leaky_relu({}, {negative_slope})", b(y), b(x))
                }
                Step::Sigmoid { x, y } => format!("{} = sigmoid({})", b(y), b(x)),
                Step::Tanh { x, y } => format!("{} = tanh({})", b(y), b(x)),
                Step::Softmax {
                    x,
                    y,
                    outer,
                    axis_len,
                    inner,
                } => format!(
                    "{} = softmax({}) over [{outer}, {axis_len}, {inner}]",
                    b(y),
                    b(x)
                ),
                Step::Dropout { x, y, mask, p } => {
                    format!("{}, {} = dropout({}, p: {p})", b(y), b(mask), b(x))
                }
                Step::BatchNorm {
                    x,
                    y,
                    weight,
                    bias,
                    running_mean,
                    running_var,
                    num_batches_tracked,
                    save_mean,
                    save_invstd,
                    channels,
                    spatial,
                    eps,
                    momentum,
                } => format!(
                    "{}, {}, {} = batchnorm({}, {}, {}, {}, {}, {}) [{channels}×{spatial}] eps {eps} momentum {momentum}",
                    b(y),
                    b(save_mean),
                    b(save_invstd),
                    b(x),
                    p(weight),
                    p(bias),
                    p(running_mean),
                    p(running_var),
                    p(num_batches_tracked)
                ),
                Step::Add { a, b: rhs, y } => format!("{} = add({}, {})", b(y), b(a), b(rhs)),
                Step::Concat {
                    inputs,
                    lens,
                    outer,
                    inner,
                    y,
                } => {
                    let xs: Vec<String> = inputs.iter().map(b).collect();
                    format!(
                        "{} = concat({}) lens {lens:?} outer {outer} inner {inner}",
                        b(y),
                        xs.join(", ")
                    )
                }
            };
            writeln!(f, "    {line}")?;
        }
        for (name, id, shape) in &self.outputs {
            writeln!(f, "  output {name} = {} {shape:?}", b(id))?;
        }
        if let Some(loss) = &self.loss {
            let kind = match loss.kind {
                LossKind::CrossEntropy { classes } => {
                    format!("cross_entropy over {classes} classes")
                }
                LossKind::Mse { len } => format!("mse over {len}"),
            };
            writeln!(
                f,
                "  loss: {} = grad of {kind} at {}",
                b(&loss.grad),
                b(&loss.output)
            )?;
        }
        if !self.backward.is_empty() {
            writeln!(f, "  backward:")?;
        }
        for step in &self.backward {
            let line = match step {
                GradStep::Dense {
                    x,
                    weight,
                    bias,
                    dy,
                    dx,
                    relu_y,
                    ..
                } => format!(
                    "{}, d {}, d {} = dense_backward(x {}, dy {}{})",
                    opt_b(dx),
                    p(weight),
                    opt_p(bias),
                    b(x),
                    b(dy),
                    relu_y.map_or(String::new(), |y| format!(", relu mask {}", b(&y)))
                ),
                GradStep::Conv2d {
                    x,
                    weight,
                    bias,
                    dy,
                    dx,
                    ..
                } => format!(
                    "{}, d {}, d {} = conv2d_backward(x {}, dy {})",
                    opt_b(dx),
                    p(weight),
                    opt_p(bias),
                    b(x),
                    b(dy)
                ),
                GradStep::MaxPool2d {
                    dy, indices, dx, ..
                } => {
                    format!(
                        "{} = maxpool2d_backward(dy {}, indices {})",
                        b(dx),
                        b(dy),
                        b(indices)
                    )
                }
                GradStep::AvgPool2d { dy, dx, .. } => {
                    format!("{} = avgpool2d_backward(dy {})", b(dx), b(dy))
                }
                GradStep::Relu { y, dy, dx } => {
                    format!("{} = relu_backward(y {}, dy {})", b(dx), b(y), b(dy))
                }
                GradStep::LeakyRelu { x, dy, dx, .. } => {
                    format!("{} = leaky_relu_backward(x {}, dy {})", b(dx), b(x), b(dy))
                }
                GradStep::Sigmoid { y, dy, dx } => {
                    format!("{} = sigmoid_backward(y {}, dy {})", b(dx), b(y), b(dy))
                }
                GradStep::Tanh { y, dy, dx } => {
                    format!("{} = tanh_backward(y {}, dy {})", b(dx), b(y), b(dy))
                }
                GradStep::Softmax { y, dy, dx, .. } => {
                    format!("{} = softmax_backward(y {}, dy {})", b(dx), b(y), b(dy))
                }
                GradStep::Dropout { mask, dy, dx } => {
                    format!(
                        "{} = dropout_backward(mask {}, dy {})",
                        b(dx),
                        b(mask),
                        b(dy)
                    )
                }
                GradStep::BatchNorm {
                    x,
                    dy,
                    dx,
                    weight,
                    bias,
                    ..
                } => format!(
                    "{}, d {}, d {} = batchnorm_backward(x {}, dy {})",
                    opt_b(dx),
                    p(weight),
                    p(bias),
                    b(x),
                    b(dy)
                ),
                GradStep::Concat { dy, dxs, .. } => {
                    let outs: Vec<String> = dxs.iter().map(opt_b).collect();
                    format!("{} = concat_backward(dy {})", outs.join(", "), b(dy))
                }
                GradStep::Copy { from, to } => format!("{} = copy({})", b(to), b(from)),
                GradStep::Accumulate { into, from } => format!("{} += {}", b(into), b(from)),
            };
            writeln!(f, "    {line}")?;
        }
        if let Some(optimizer) = &self.optimizer {
            writeln!(f, "  update: {optimizer:?}")?;
        }
        writeln!(f, "}}")
    }
}

fn conv_text(s: &ConvShape) -> String {
    format!(
        "[{}, {}, {}] -> {} kernel {:?} stride {:?} padding {:?} dilation {:?}",
        s.in_channels, s.in_h, s.in_w, s.out_channels, s.kernel, s.stride, s.padding, s.dilation
    )
}

fn pool_text(s: &PoolShape) -> String {
    format!(
        "[{}, {}, {}] kernel {:?} stride {:?} padding {:?}",
        s.channels, s.in_h, s.in_w, s.kernel, s.stride, s.padding
    )
}
