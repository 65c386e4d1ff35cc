//! The checker: AST to typed IR.
//!
//! It resolves names, binds layer arguments, applies the shape rule of every
//! op, names parameters, and checks train blocks against their models. It
//! records every problem and keeps going; a value whose computation failed
//! becomes `None` and silently poisons what depends on it, so one mistake
//! is reported once, not once per later statement.

use std::collections::{HashMap, HashSet};

use crate::ast::{self, Arg, Expr, Item, Span};
use crate::error::{Error, Operand};
use crate::ir::{self, Dtype, Op, Param, ParamId, ParamRole, Shape, Value, ValueId};
use crate::layers::{self, LayerKind, LayerSpec};
use crate::shape::{self, ShapeError};
use crate::signature::{self, ArgSpec, ArgType, Bound, Default, Range, Signature};
use crate::suggest::did_you_mean;

/// Everything the checker produced: the models and train blocks that
/// checked clean, and the problems found.
#[derive(Debug, Default)]
pub struct Checked {
    pub models: Vec<ir::Model>,
    pub trains: Vec<ir::TrainConfig>,
    pub errors: Vec<Error>,
}

/// Checks a parsed file. `incomplete[i]` marks items that lost statements
/// to syntax errors; those models are known by name but not checked.
/// `src` is the text the spans point into (used to quote derivations).
pub fn check(file: &ast::File, incomplete: &[bool], src: &str) -> Checked {
    let mut checked = Checked::default();
    let mut model_spans: HashMap<&str, Span> = HashMap::new();
    for (index, item) in file.items.iter().enumerate() {
        let Item::Model(model) = item else { continue };
        let duplicate = model_spans.get(model.name.name.as_str()).copied();
        if let Some(first) = duplicate {
            checked.errors.push(Error::DuplicateModel {
                span: model.name.span,
                first,
                name: model.name.name.clone(),
            });
        } else {
            model_spans.insert(&model.name.name, model.name.span);
        }
        if incomplete.get(index).copied().unwrap_or(false) {
            continue;
        }
        // A duplicate's body is checked too; only the first is kept.
        if let Some(ir) = ModelChecker::new(src, &mut checked.errors).model(model)
            && duplicate.is_none()
        {
            checked.models.push(ir);
        }
    }

    let mut trained: HashMap<&str, Span> = HashMap::new();
    for (index, item) in file.items.iter().enumerate() {
        let Item::Train(train) = item else { continue };
        let name = train.model.name.as_str();
        let mut keep = true;
        if !model_spans.contains_key(name) {
            checked.errors.push(Error::UnknownModel {
                span: train.model.span,
                name: name.to_string(),
                suggestion: did_you_mean(name, model_spans.keys().copied()),
            });
        } else if let Some(&first) = trained.get(name) {
            checked.errors.push(Error::DuplicateTrain {
                span: train.model.span,
                first,
                model: name.to_string(),
            });
            keep = false;
        } else {
            trained.insert(name, train.model.span);
        }
        // A block that lost settings to syntax errors would only report them missing.
        if incomplete.get(index).copied().unwrap_or(false) {
            continue;
        }
        let model = checked.models.iter().find(|m| m.name == name);
        if let Some(config) = check_train(train, model, &mut checked.errors)
            && model.is_some()
            && keep
        {
            checked.trains.push(config);
        }
    }
    checked
}

/// A name bound in a model. `value` is `None` when the expression bound
/// failed to check: uses of the name then stay silent instead of
/// reporting it undefined.
struct Binding {
    value: Option<ValueId>,
    span: Span,
    used: bool,
    kind: BindingKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BindingKind {
    Input,
    Let,
    Output,
}

struct ModelChecker<'a> {
    src: &'a str,
    errors: &'a mut Vec<Error>,
    values: Vec<Value>,
    params: Vec<Param>,
    env: HashMap<String, Binding>,
    /// Binding names in definition order (for deterministic warnings).
    order: Vec<String>,
    /// Layer names in use, with where they were given.
    layer_names: HashMap<String, Span>,
    /// Names written with `as` anywhere in the model, so generated names avoid them.
    aliases: HashSet<String>,
    generated: HashMap<&'static str, usize>,
}

impl<'a> ModelChecker<'a> {
    fn new(src: &'a str, errors: &'a mut Vec<Error>) -> Self {
        ModelChecker {
            src,
            errors,
            values: Vec::new(),
            params: Vec::new(),
            env: HashMap::new(),
            order: Vec::new(),
            layer_names: HashMap::new(),
            aliases: HashSet::new(),
            generated: HashMap::new(),
        }
    }

    fn model(mut self, model: &ast::Model) -> Option<ir::Model> {
        let errors_before = self.errors.len();
        collect_aliases(model, &mut self.aliases);
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for stmt in &model.stmts {
            match stmt {
                ast::Stmt::Input(input) => {
                    if let Some(id) = self.input(input) {
                        inputs.push(id);
                    }
                }
                ast::Stmt::Let(binding) => {
                    let value = self.expr(&binding.value);
                    self.bind(&binding.name, value, BindingKind::Let);
                }
                ast::Stmt::Output(binding) => {
                    let value = self.expr(&binding.value);
                    let bound = self.bind(&binding.name, value, BindingKind::Output);
                    outputs.push((binding.name.name.clone(), value.filter(|_| bound)));
                }
            }
        }
        if !model.stmts.iter().any(|s| matches!(s, ast::Stmt::Input(_))) {
            self.errors.push(Error::NoInput {
                span: model.name.span,
                model: model.name.name.clone(),
            });
        }
        if outputs.is_empty() {
            self.errors.push(Error::NoOutput {
                span: model.name.span,
                model: model.name.name.clone(),
            });
        }
        for name in &self.order {
            let binding = &self.env[name];
            if !binding.used && binding.kind != BindingKind::Output {
                self.errors.push(Error::UnusedValue {
                    span: binding.span,
                    name: name.clone(),
                    is_input: binding.kind == BindingKind::Input,
                });
            }
        }
        let failed = self.errors[errors_before..].iter().any(|e| !e.is_warning());
        if failed {
            return None;
        }
        Some(ir::Model {
            name: model.name.name.clone(),
            span: model.span,
            values: self.values,
            inputs,
            outputs: outputs
                .into_iter()
                .map(|(name, value)| ir::Output {
                    name,
                    value: value.expect("no errors, so every output has a value"),
                })
                .collect(),
            params: self.params,
        })
    }

    /// Binds `name` to a value (or to a failed one); false if the name was taken.
    fn bind(&mut self, name: &ast::Ident, value: Option<ValueId>, kind: BindingKind) -> bool {
        if let Some(existing) = self.env.get(&name.name) {
            self.errors.push(Error::Redefined {
                span: name.span,
                first: existing.span,
                name: name.name.clone(),
            });
            return false;
        }
        if let Some(value) = value {
            let slot = &mut self.values[value.index()].binding;
            if slot.is_none() {
                *slot = Some(name.name.clone());
            }
        }
        self.env.insert(
            name.name.clone(),
            Binding {
                value,
                span: name.span,
                used: kind == BindingKind::Output,
                kind,
            },
        );
        self.order.push(name.name.clone());
        true
    }

    fn input(&mut self, input: &ast::Input) -> Option<ValueId> {
        let mut ok = true;
        if input.dtype.name != "f32" {
            self.errors.push(Error::UnknownDtype {
                span: input.dtype.span,
                name: input.dtype.name.clone(),
            });
            ok = false;
        }
        for dim in &input.dims {
            if dim.value <= 0 {
                self.errors.push(Error::InvalidDim {
                    span: dim.span,
                    value: dim.value,
                });
                ok = false;
            }
        }
        if !ok {
            self.bind(&input.name, None, BindingKind::Input);
            return None;
        }
        let dims: Vec<u128> = input.dims.iter().map(|d| d.value as u128).collect();
        let shape = match shape::checked_shape("input", &dims) {
            Ok(shape) => shape,
            Err(error) => {
                let span = input.dims.first().map_or(input.span, |d| {
                    d.span.to(input.dims.last().expect("non-empty").span)
                });
                self.shape_error(error, span, "input", None, None);
                self.bind(&input.name, None, BindingKind::Input);
                return None;
            }
        };
        let id = self.push(Value {
            op: Op::Input,
            inputs: Vec::new(),
            dtype: Dtype::F32,
            shape,
            layer: input.name.name.clone(),
            binding: None,
            params: Vec::new(),
            span: input.span,
        });
        self.bind(&input.name, Some(id), BindingKind::Input)
            .then_some(id)
    }

    fn push(&mut self, value: Value) -> ValueId {
        let id = ValueId(self.values.len() as u32);
        self.values.push(value);
        id
    }

    fn expr(&mut self, expr: &Expr) -> Option<ValueId> {
        match expr {
            Expr::Name(ident) => match self.env.get_mut(&ident.name) {
                Some(binding) => {
                    binding.used = true;
                    binding.value
                }
                None => {
                    let suggestion = did_you_mean(&ident.name, self.env.keys().map(String::as_str));
                    self.errors.push(Error::UndefinedName {
                        span: ident.span,
                        name: ident.name.clone(),
                        suggestion,
                        is_layer: layers::lookup(&ident.name).is_some(),
                    });
                    None
                }
            },
            Expr::Paren(inner, _) => self.expr(inner),
            Expr::Call(call) => self.call(call),
            Expr::Pipeline(pipeline) => {
                let mut current = self
                    .expr(&pipeline.head)
                    .map(|id| (id, pipeline.head.span()));
                for stage in &pipeline.stages {
                    let args: Vec<&Arg> = stage.args.iter().flatten().collect();
                    let input = current.map(|c| vec![c]);
                    let span = pipeline.head.span().to(stage.span);
                    current = self
                        .apply(
                            &stage.layer,
                            &args,
                            input,
                            stage.alias.as_ref(),
                            stage.span,
                            span,
                        )
                        .map(|id| (id, span));
                }
                current.map(|(id, _)| id)
            }
            Expr::Sum(sum) => {
                let terms: Vec<Option<ValueId>> = sum.terms.iter().map(|t| self.expr(t)).collect();
                let mut acc: Option<(ValueId, Span)> = None;
                for (i, (term, value)) in sum.terms.iter().zip(terms).enumerate() {
                    let right = (value?, term.span());
                    acc = match acc {
                        None if i == 0 => Some(right),
                        None => return None,
                        Some(left) => {
                            let span = left.1.to(right.1);
                            Some((self.add(left, right, span, None)?, span))
                        }
                    };
                }
                acc.map(|(id, _)| id)
            }
            Expr::Int(_) | Expr::Float(_) | Expr::Bool(..) | Expr::List(..) => {
                self.errors.push(Error::ExpectedValue {
                    span: expr.span(),
                    found: expr.describe(),
                });
                self.mark_used(expr);
                None
            }
        }
    }

    /// Marks the names in an expression used without checking it (it has
    /// already been reported), so no "unused" warning follows.
    fn mark_used(&mut self, expr: &Expr) {
        match expr {
            Expr::Name(ident) => {
                if let Some(binding) = self.env.get_mut(&ident.name) {
                    binding.used = true;
                }
            }
            Expr::Call(call) => call.args.iter().for_each(|a| self.mark_used(&a.value)),
            Expr::Pipeline(pipeline) => self.mark_used(&pipeline.head),
            Expr::Sum(sum) => sum.terms.iter().for_each(|t| self.mark_used(t)),
            Expr::Paren(inner, _) => self.mark_used(inner),
            Expr::List(items, _) => items.iter().for_each(|i| self.mark_used(i)),
            Expr::Int(_) | Expr::Float(_) | Expr::Bool(..) => {}
        }
    }

    /// A layer in call form: the leading positional arguments that are not
    /// literals are its inputs, the rest configure it.
    fn call(&mut self, call: &ast::Call) -> Option<ValueId> {
        let Some(spec) = self.layer_spec(&call.callee) else {
            // Still look at the arguments for undefined names.
            for arg in &call.args {
                if arg.name.is_none() && !is_literal(&arg.value) {
                    self.expr(&arg.value);
                }
            }
            return None;
        };
        // Inputs are the leading positional arguments that are values. A
        // layer without arguments of its own (`add`) that is still short of
        // inputs takes the next positional arguments as inputs too, so
        // `add(x, 1)` says `1` is not a value, while `relu(x, 3)` says relu
        // takes no arguments.
        let positional = call.args.iter().take_while(|a| a.name.is_none()).count();
        let values = call
            .args
            .iter()
            .take_while(|a| a.name.is_none() && !is_literal(&a.value))
            .count();
        let input_count = if spec.signature.args.is_empty() {
            values.max(spec.arity.minimum().min(positional))
        } else {
            values
        };
        let (input_args, config_args) = call.args.split_at(input_count);
        let mut inputs: Option<Vec<(ValueId, Span)>> = Some(Vec::new());
        for arg in input_args {
            let value = self.expr(&arg.value);
            match (&mut inputs, value) {
                (Some(list), Some(id)) => list.push((id, arg.value.span())),
                _ => inputs = None,
            }
        }
        if !spec.arity.accepts(input_count) {
            self.errors.push(Error::WrongInputCount {
                span: call.callee.span,
                layer: spec.name(),
                expected: spec.arity.describe(),
                found: input_count,
            });
            // Its arguments were miscounted too; complaining about them would repeat this.
            self.layer_name(spec.name(), call.alias.as_ref());
            return None;
        }
        let config: Vec<&Arg> = config_args.iter().collect();
        self.apply(
            &call.callee,
            &config,
            inputs,
            call.alias.as_ref(),
            call.span,
            call.span,
        )
    }

    fn layer_spec(&mut self, name: &ast::Ident) -> Option<&'static LayerSpec> {
        let spec = layers::lookup(&name.name);
        if spec.is_none() {
            // A value written where a layer goes: one error, not also "unused".
            if let Some(binding) = self.env.get_mut(&name.name) {
                binding.used = true;
            }
            self.errors.push(Error::UnknownLayer {
                span: name.span,
                name: name.name.clone(),
                suggestion: did_you_mean(&name.name, layers::names()),
                is_value: self.env.contains_key(&name.name),
            });
        }
        spec
    }

    /// Applies a layer to its inputs (`None`: an input failed earlier).
    /// `span` is the layer's own text (the new value's span); `whole` also
    /// covers its inputs, for complaints about them together.
    fn apply(
        &mut self,
        layer: &ast::Ident,
        config: &[&Arg],
        inputs: Option<Vec<(ValueId, Span)>>,
        alias: Option<&ast::Ident>,
        span: Span,
        whole: Span,
    ) -> Option<ValueId> {
        let spec = self.layer_spec(layer);
        let layer_name = self.layer_name(spec.map_or("layer", |s| s.name()), alias);
        let spec = spec?;
        let bound = signature::bind(&spec.signature, config, span, self.errors);
        let (inputs, bound) = (inputs?, bound?);
        let input_shape = |i: usize| -> &Shape { &self.values[inputs[i].0.index()].shape };
        let one = input_shape(0).clone();
        let (op, result) = match spec.kind {
            LayerKind::Dense => {
                let out = bound.count("out_features");
                let op = Op::Dense {
                    out_features: out,
                    bias: bound.bool("bias"),
                };
                (op, shape::dense(&one, out))
            }
            LayerKind::Conv2d => {
                let op = Op::Conv2d {
                    out_channels: bound.count("out_channels"),
                    kernel: bound.pair("kernel"),
                    stride: bound.pair("stride"),
                    padding: bound.pair("padding"),
                    dilation: bound.pair("dilation"),
                    bias: bound.bool("bias"),
                };
                let Op::Conv2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    dilation,
                    ..
                } = op
                else {
                    unreachable!()
                };
                (
                    op,
                    shape::conv2d(&one, out_channels, kernel, stride, padding, dilation),
                )
            }
            LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
                let (kernel, stride, padding) = (
                    bound.pair("kernel"),
                    bound.pair("stride"),
                    bound.pair("padding"),
                );
                let op = if spec.kind == LayerKind::MaxPool2d {
                    Op::MaxPool2d {
                        kernel,
                        stride,
                        padding,
                    }
                } else {
                    Op::AvgPool2d {
                        kernel,
                        stride,
                        padding,
                    }
                };
                (op, shape::pool2d(&one, kernel, stride, padding))
            }
            LayerKind::Flatten => (Op::Flatten, shape::flatten(&one)),
            LayerKind::Reshape => (Op::Reshape, shape::reshape(&one, bound.ints("shape"))),
            LayerKind::Relu => (Op::Relu, Ok(one.clone())),
            LayerKind::Sigmoid => (Op::Sigmoid, Ok(one.clone())),
            LayerKind::Tanh => (Op::Tanh, Ok(one.clone())),
            LayerKind::LeakyRelu => (
                Op::LeakyRelu {
                    negative_slope: bound.float("negative_slope"),
                },
                Ok(one.clone()),
            ),
            LayerKind::Softmax => match shape::axis(bound.int("axis"), one.rank()) {
                Ok(axis) => (Op::Softmax { axis }, Ok(one.clone())),
                Err(error) => (Op::Softmax { axis: 0 }, Err(error)),
            },
            LayerKind::Dropout => (
                Op::Dropout {
                    p: bound.float("p"),
                },
                Ok(one.clone()),
            ),
            LayerKind::BatchNorm => (
                Op::BatchNorm {
                    eps: bound.float("eps"),
                    momentum: bound.float("momentum"),
                },
                shape::batchnorm(&one),
            ),
            LayerKind::Add => {
                return self.add(inputs[0], inputs[1], whole, Some(layer_name));
            }
            LayerKind::Concat => {
                return self.concat(&inputs, &bound, whole, span, layer_name);
            }
        };
        let shape = match result {
            Ok(shape) => shape,
            Err(error) => {
                let input = self.operand(inputs[0]);
                self.shape_error(error, span, spec.name(), Some(&bound), Some(input));
                return None;
            }
        };
        let params = match self.param_shapes(&op, &one) {
            Ok(params) => params,
            Err(error) => {
                self.shape_error(error, span, spec.name(), Some(&bound), None);
                return None;
            }
        };
        let id = self.push(Value {
            op,
            inputs: inputs.iter().map(|(id, _)| *id).collect(),
            dtype: Dtype::F32,
            shape,
            layer: layer_name.clone(),
            binding: None,
            params: Vec::new(),
            span,
        });
        for (suffix, shape, role, dtype) in params {
            let param = ParamId(self.params.len() as u32);
            self.params.push(Param {
                name: format!("{layer_name}.{suffix}"),
                dtype,
                shape,
                role,
                owner: id,
            });
            self.values[id.index()].params.push(param);
        }
        Some(id)
    }

    /// Parameters of an op given its input shape, in PyTorch `state_dict` order.
    fn param_shapes(
        &self,
        op: &Op,
        input: &Shape,
    ) -> Result<Vec<(&'static str, Shape, ParamRole, Dtype)>, ShapeError> {
        Ok(match op {
            Op::Dense { out_features, bias } => {
                let (weight, bias_shape) = shape::dense_params(input, *out_features)?;
                let fan_in = input.0[0];
                let mut params = vec![("weight", weight, ParamRole::Weight { fan_in }, Dtype::F32)];
                if *bias {
                    params.push(("bias", bias_shape, ParamRole::Bias { fan_in }, Dtype::F32));
                }
                params
            }
            Op::Conv2d {
                out_channels,
                kernel,
                bias,
                ..
            } => {
                let (weight, bias_shape) = shape::conv2d_params(input, *out_channels, *kernel)?;
                let fan_in = input.0[0] * kernel[0] * kernel[1];
                let mut params = vec![("weight", weight, ParamRole::Weight { fan_in }, Dtype::F32)];
                if *bias {
                    params.push(("bias", bias_shape, ParamRole::Bias { fan_in }, Dtype::F32));
                }
                params
            }
            Op::BatchNorm { .. } => {
                let channels = Shape(vec![input.0[0]]);
                vec![
                    ("weight", channels.clone(), ParamRole::Scale, Dtype::F32),
                    ("bias", channels.clone(), ParamRole::Shift, Dtype::F32),
                    (
                        "running_mean",
                        channels.clone(),
                        ParamRole::RunningMean,
                        Dtype::F32,
                    ),
                    ("running_var", channels, ParamRole::RunningVar, Dtype::F32),
                    (
                        "num_batches_tracked",
                        Shape(vec![]),
                        ParamRole::NumBatchesTracked,
                        Dtype::I64,
                    ),
                ]
            }
            Op::Input
            | Op::MaxPool2d { .. }
            | Op::AvgPool2d { .. }
            | Op::Flatten
            | Op::Reshape
            | Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::Tanh
            | Op::Softmax { .. }
            | Op::Dropout { .. }
            | Op::Add
            | Op::Concat { .. } => Vec::new(),
        })
    }

    /// `left + right`: same shapes only.
    fn add(
        &mut self,
        left: (ValueId, Span),
        right: (ValueId, Span),
        span: Span,
        layer: Option<String>,
    ) -> Option<ValueId> {
        let layer = layer.unwrap_or_else(|| self.layer_name("add", None));
        let (left_shape, right_shape) = (
            &self.values[left.0.index()].shape,
            &self.values[right.0.index()].shape,
        );
        if left_shape != right_shape {
            let operands = vec![self.operand(left), self.operand(right)];
            self.errors.push(Error::ShapeMismatch {
                span,
                op: "+",
                operands,
                axis: None,
            });
            return None;
        }
        let shape = left_shape.clone();
        Some(self.push(Value {
            op: Op::Add,
            inputs: vec![left.0, right.0],
            dtype: Dtype::F32,
            shape,
            layer,
            binding: None,
            params: Vec::new(),
            span,
        }))
    }

    fn concat(
        &mut self,
        inputs: &[(ValueId, Span)],
        bound: &Bound,
        whole: Span,
        span: Span,
        layer: String,
    ) -> Option<ValueId> {
        let shapes: Vec<Shape> = inputs
            .iter()
            .map(|(id, _)| self.values[id.index()].shape.clone())
            .collect();
        let rank = shapes[0].rank();
        let axis_span = bound.span("axis").unwrap_or(span);
        if shapes.iter().any(|s| s.rank() != rank) {
            let operands = inputs.iter().map(|&i| self.operand(i)).collect();
            self.errors.push(Error::ShapeMismatch {
                span: whole,
                op: "concat",
                operands,
                axis: None,
            });
            return None;
        }
        let axis = match shape::axis(bound.int("axis"), rank) {
            Ok(axis) => axis,
            Err(error) => {
                self.shape_error(error, axis_span, "concat", Some(bound), None);
                return None;
            }
        };
        let agrees = |s: &Shape| (0..rank).all(|d| d == axis || s.0[d] == shapes[0].0[d]);
        if !shapes.iter().all(agrees) {
            let operands = inputs.iter().map(|&i| self.operand(i)).collect();
            self.errors.push(Error::ShapeMismatch {
                span: whole,
                op: "concat",
                operands,
                axis: Some(axis),
            });
            return None;
        }
        let refs: Vec<&Shape> = shapes.iter().collect();
        let shape = match shape::concat(&refs, axis) {
            Ok(shape) => shape,
            Err(error) => {
                self.shape_error(error, whole, "concat", Some(bound), None);
                return None;
            }
        };
        Some(self.push(Value {
            op: Op::Concat { axis },
            inputs: inputs.iter().map(|(id, _)| *id).collect(),
            dtype: Dtype::F32,
            shape,
            layer,
            binding: None,
            params: Vec::new(),
            span,
        }))
    }

    fn shape_error(
        &mut self,
        error: ShapeError,
        span: Span,
        layer: &'static str,
        bound: Option<&Bound>,
        input: Option<Operand>,
    ) {
        let arg_span = |name: &str| bound.and_then(|b| b.span(name)).unwrap_or(span);
        let error = match error {
            ShapeError::Rank { expected, found } => Error::RankMismatch {
                span,
                layer,
                expected,
                input: input.unwrap_or(Operand {
                    span,
                    shape: found,
                    derivation: String::new(),
                }),
            },
            ShapeError::Empty { axis, formula } => match input {
                Some(input) => Error::EmptyOutput {
                    span,
                    layer,
                    axis,
                    formula,
                    input,
                },
                None => Error::TooLarge {
                    span,
                    what: "output",
                    dims: Vec::new(),
                },
            },
            ShapeError::PaddingTooLarge { padding, kernel } => Error::PoolPadding {
                span: arg_span("padding"),
                padding,
                kernel,
            },
            ShapeError::TooLarge { what, dims } => Error::TooLarge { span, what, dims },
            ShapeError::ReshapeCount { from, to } => Error::ReshapeCount {
                span: arg_span("shape"),
                from,
                to,
            },
            ShapeError::Axis { axis, rank } => Error::AxisOutOfRange {
                span: arg_span("axis"),
                axis,
                rank,
            },
        };
        self.errors.push(error);
    }

    /// The name of a layer instance: its alias, or `{kind}_{n}`.
    fn layer_name(&mut self, kind: &'static str, alias: Option<&ast::Ident>) -> String {
        if let Some(alias) = alias {
            if let Some(&first) = self.layer_names.get(&alias.name) {
                self.errors.push(Error::DuplicateLayerName {
                    span: alias.span,
                    first,
                    name: alias.name.clone(),
                });
            } else {
                self.layer_names.insert(alias.name.clone(), alias.span);
            }
            return alias.name.clone();
        }
        loop {
            let counter = self.generated.entry(kind).or_insert(0);
            *counter += 1;
            let name = format!("{kind}_{counter}");
            if !self.aliases.contains(&name) && !self.layer_names.contains_key(&name) {
                self.layer_names.insert(name.clone(), Span::default());
                return name;
            }
        }
    }

    /// A value as an operand of a complaint, with its derivation.
    fn operand(&self, (id, span): (ValueId, Span)) -> Operand {
        Operand {
            span,
            shape: self.values[id.index()].shape.clone(),
            derivation: self.derivation(id),
        }
    }

    /// How a value got its shape, following first inputs back to a named
    /// value or an input: `x [64] -> dense(64) [64] -> relu [64]`.
    fn derivation(&self, id: ValueId) -> String {
        const MAX_STEPS: usize = 6;
        let mut chain = Vec::new();
        let mut current = id;
        loop {
            let value = &self.values[current.index()];
            let is_start = current == id;
            let named = value.op == Op::Input || (!is_start && value.binding.is_some());
            // A value of several inputs starts its own story: `(a + x)`.
            let joins = value.inputs.len() > 1;
            if named || joins || chain.len() == MAX_STEPS {
                let start = if named {
                    value.binding.clone().unwrap_or_else(|| value.layer.clone())
                } else if joins {
                    format!("({})", self.quote(value))
                } else {
                    "...".into()
                };
                chain.push(format!("{start} {}", value.shape));
                break;
            }
            chain.push(format!("{} {}", self.quote(value), value.shape));
            match value.inputs.first() {
                Some(&input) => current = input,
                None => break,
            }
        }
        chain.reverse();
        chain.join(" -> ")
    }

    /// The source text of a value's own layer, on one line, shortened.
    fn quote(&self, value: &Value) -> String {
        let raw = self
            .src
            .get(value.span.start..value.span.end)
            .unwrap_or(value.op.name());
        let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.chars().count() > 40 {
            let short: String = text.chars().take(37).collect();
            format!("{short}...")
        } else {
            text
        }
    }
}

fn is_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Int(_) | Expr::Float(_) | Expr::Bool(..) | Expr::List(..) => true,
        Expr::Paren(inner, _) => is_literal(inner),
        Expr::Name(_) | Expr::Call(_) | Expr::Pipeline(_) | Expr::Sum(_) => false,
    }
}

fn collect_aliases(model: &ast::Model, aliases: &mut HashSet<String>) {
    fn walk(expr: &Expr, aliases: &mut HashSet<String>) {
        match expr {
            Expr::Call(call) => {
                if let Some(alias) = &call.alias {
                    aliases.insert(alias.name.clone());
                }
                call.args.iter().for_each(|a| walk(&a.value, aliases));
            }
            Expr::Pipeline(pipeline) => {
                walk(&pipeline.head, aliases);
                for stage in &pipeline.stages {
                    if let Some(alias) = &stage.alias {
                        aliases.insert(alias.name.clone());
                    }
                }
            }
            Expr::Sum(sum) => sum.terms.iter().for_each(|t| walk(t, aliases)),
            Expr::Paren(inner, _) => walk(inner, aliases),
            Expr::Name(_) | Expr::Int(_) | Expr::Float(_) | Expr::Bool(..) | Expr::List(..) => {}
        }
    }
    for stmt in &model.stmts {
        if let ast::Stmt::Let(binding) | ast::Stmt::Output(binding) = stmt {
            walk(&binding.value, aliases);
        }
    }
}

// ---- train blocks ----

const TRAIN_FIELDS: &[&str] = &["loss", "optimizer", "batch", "epochs", "seed"];
const LOSSES: &[&str] = &["cross_entropy", "mse"];
const OPTIMIZERS: &[&str] = &["sgd", "adam", "adamw"];

const fn arg(name: &'static str, ty: ArgType, default: Default, doc: &'static str) -> ArgSpec {
    ArgSpec::new(name, ty, default, doc)
}

/// `sgd`, exactly `torch.optim.SGD`'s arguments and defaults.
pub const SGD: Signature = Signature {
    name: "sgd",
    args: &[
        arg(
            "lr",
            ArgType::Float(Range::Positive),
            Default::Float(0.001),
            "learning rate",
        ),
        arg(
            "momentum",
            ArgType::Float(Range::NonNegative),
            Default::Float(0.0),
            "momentum factor",
        ),
        arg(
            "dampening",
            ArgType::Float(Range::Unit),
            Default::Float(0.0),
            "dampening for momentum",
        ),
        arg(
            "nesterov",
            ArgType::Bool,
            Default::Bool(false),
            "Nesterov momentum",
        ),
        arg(
            "weight_decay",
            ArgType::Float(Range::NonNegative),
            Default::Float(0.0),
            "L2 penalty",
        ),
    ],
};

/// `adam`, exactly `torch.optim.Adam`'s arguments and defaults.
pub const ADAM: Signature = Signature {
    name: "adam",
    args: &[
        arg(
            "lr",
            ArgType::Float(Range::Positive),
            Default::Float(0.001),
            "learning rate",
        ),
        arg(
            "betas",
            ArgType::FloatPair(Range::UnitHalfOpen),
            Default::Floats(0.9, 0.999),
            "moment decay rates",
        ),
        arg(
            "eps",
            ArgType::Float(Range::Positive),
            Default::Float(1e-8),
            "added to the denominator",
        ),
        arg(
            "weight_decay",
            ArgType::Float(Range::NonNegative),
            Default::Float(0.0),
            "L2 penalty (added to the gradient)",
        ),
    ],
};

/// `adamw`, exactly `torch.optim.AdamW`'s arguments and defaults.
pub const ADAMW: Signature = Signature {
    name: "adamw",
    args: &[
        arg(
            "lr",
            ArgType::Float(Range::Positive),
            Default::Float(0.001),
            "learning rate",
        ),
        arg(
            "betas",
            ArgType::FloatPair(Range::UnitHalfOpen),
            Default::Floats(0.9, 0.999),
            "moment decay rates",
        ),
        arg(
            "eps",
            ArgType::Float(Range::Positive),
            Default::Float(1e-8),
            "added to the denominator",
        ),
        arg(
            "weight_decay",
            ArgType::Float(Range::NonNegative),
            Default::Float(0.01),
            "decoupled weight decay",
        ),
    ],
};

/// The train block's scalar settings.
pub const TRAIN_SETTINGS: Signature = Signature {
    name: "train",
    args: &[
        arg(
            "batch",
            ArgType::Count,
            Default::Int(32),
            "samples per step",
        ),
        arg(
            "epochs",
            ArgType::Count,
            Default::Int(1),
            "passes over the training set",
        ),
        arg(
            "seed",
            ArgType::Natural,
            Default::Int(0),
            "seed for initialization, shuffling and dropout",
        ),
    ],
};

fn check_train(
    train: &ast::Train,
    model: Option<&ir::Model>,
    errors: &mut Vec<Error>,
) -> Option<ir::TrainConfig> {
    let before = errors.len();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    let mut loss_field = None;
    let mut optimizer_field = None;
    let mut settings: Vec<Arg> = Vec::new();
    for field in &train.fields {
        let name = field.name.name.as_str();
        if !TRAIN_FIELDS.contains(&name) {
            errors.push(Error::UnknownField {
                span: field.name.span,
                name: name.to_string(),
                suggestion: did_you_mean(name, TRAIN_FIELDS.iter().copied()),
            });
            continue;
        }
        if let Some(&first) = seen.get(name) {
            errors.push(Error::DuplicateField {
                span: field.name.span,
                first,
                name: name.to_string(),
            });
            continue;
        }
        seen.insert(name, field.name.span);
        match name {
            "loss" => loss_field = Some(field),
            "optimizer" => optimizer_field = Some(field),
            _ => settings.push(Arg {
                name: Some(field.name.clone()),
                value: field.value.clone(),
                span: field.span,
            }),
        }
    }
    for (name, present) in [
        ("loss", loss_field.is_some()),
        ("optimizer", optimizer_field.is_some()),
    ] {
        if !present {
            errors.push(Error::MissingField {
                span: train.model.span,
                name,
            });
        }
    }
    let loss = loss_field.and_then(|field| loss(&field.value, errors));
    let optimizer = optimizer_field.and_then(|field| optimizer(&field.value, errors));
    let settings_refs: Vec<&Arg> = settings.iter().collect();
    let bound = signature::bind(&TRAIN_SETTINGS, &settings_refs, train.model.span, errors);

    if let (Some(loss), Some(model), Some(field)) = (loss, model, loss_field) {
        check_loss_fits(loss, model, field.value.span(), errors);
    }
    let failed = errors[before..].iter().any(|e| !e.is_warning());
    if failed {
        return None;
    }
    let bound = bound?;
    Some(ir::TrainConfig {
        model: train.model.name.clone(),
        loss: loss?,
        optimizer: optimizer?,
        batch: bound.count("batch"),
        epochs: bound.count("epochs"),
        seed: bound.int("seed") as u64,
        span: train.span,
    })
}

/// A name from a fixed list (`cross_entropy`, `sgd`), possibly called with
/// arguments (`sgd(lr: 0.1)`). Returns the name and the call's arguments.
fn choice<'e>(
    value: &'e Expr,
    what: &'static str,
    expected: &'static str,
    valid: &'static [&'static str],
    errors: &mut Vec<Error>,
) -> Option<(&'static str, &'e [Arg])> {
    let (ident, args): (&ast::Ident, &[Arg]) = match value {
        Expr::Name(ident) => (ident, &[]),
        Expr::Call(call) if call.alias.is_none() => (&call.callee, &call.args),
        other => {
            errors.push(Error::WrongArgumentType {
                span: other.span(),
                callee: "train",
                name: what,
                expected: expected.to_string(),
                found: match other {
                    Expr::Call(_) => "a call with an `as` name",
                    _ => other.describe(),
                },
            });
            return None;
        }
    };
    match valid.iter().find(|v| **v == ident.name) {
        Some(name) => Some((name, args)),
        None => {
            errors.push(Error::UnknownChoice {
                span: ident.span,
                what,
                name: ident.name.clone(),
                suggestion: did_you_mean(&ident.name, valid.iter().copied()),
                valid: valid.to_vec(),
            });
            None
        }
    }
}

/// A loss; losses take no arguments (their reduction is always the mean).
fn loss(value: &Expr, errors: &mut Vec<Error>) -> Option<ir::Loss> {
    let (name, args) = choice(
        value,
        "loss",
        "a loss such as `cross_entropy`",
        LOSSES,
        errors,
    )?;
    let signature = Signature {
        name: if name == "mse" {
            "mse"
        } else {
            "cross_entropy"
        },
        args: &[],
    };
    let args: Vec<&Arg> = args.iter().collect();
    signature::bind(&signature, &args, value.span(), errors)?;
    Some(match name {
        "cross_entropy" => ir::Loss::CrossEntropy,
        _ => ir::Loss::Mse,
    })
}

fn optimizer(value: &Expr, errors: &mut Vec<Error>) -> Option<ir::Optimizer> {
    let (name, args) = choice(
        value,
        "optimizer",
        "an optimizer such as `sgd(lr: 0.01)`",
        OPTIMIZERS,
        errors,
    )?;
    let signature = match name {
        "sgd" => &SGD,
        "adam" => &ADAM,
        _ => &ADAMW,
    };
    let args: Vec<&Arg> = args.iter().collect();
    let bound = signature::bind(signature, &args, value.span(), errors)?;
    Some(match name {
        "sgd" => {
            let (momentum, dampening, nesterov) = (
                bound.float("momentum"),
                bound.float("dampening"),
                bound.bool("nesterov"),
            );
            if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                errors.push(Error::InvalidArgumentValue {
                    span: bound.span("nesterov").unwrap_or(value.span()),
                    callee: "sgd",
                    name: "nesterov",
                    reason: "Nesterov momentum needs momentum > 0 and dampening 0 (as in PyTorch)"
                        .into(),
                });
                return None;
            }
            ir::Optimizer::Sgd {
                lr: bound.float("lr"),
                momentum,
                dampening,
                nesterov,
                weight_decay: bound.float("weight_decay"),
            }
        }
        "adam" => ir::Optimizer::Adam {
            lr: bound.float("lr"),
            betas: bound.floats("betas"),
            eps: bound.float("eps"),
            weight_decay: bound.float("weight_decay"),
        },
        _ => ir::Optimizer::AdamW {
            lr: bound.float("lr"),
            betas: bound.floats("betas"),
            eps: bound.float("eps"),
            weight_decay: bound.float("weight_decay"),
        },
    })
}

fn check_loss_fits(loss: ir::Loss, model: &ir::Model, span: Span, errors: &mut Vec<Error>) {
    let [output] = model.outputs.as_slice() else {
        errors.push(Error::LossMismatch {
            span,
            loss: loss.name(),
            reason: format!(
                "the model has {} outputs and training needs exactly one",
                model.outputs.len()
            ),
            help: Some(
                "train a model with a single output; keep extra outputs in a separate model".into(),
            ),
            output: None,
        });
        return;
    };
    let value = model.value(output.value);
    match loss {
        ir::Loss::CrossEntropy => {
            let reason = if value.shape.rank() != 1 {
                Some((
                    format!(
                        "it needs class scores of shape [classes], the output is {}",
                        value.shape
                    ),
                    Some("end the model with `-> flatten -> dense(CLASSES)`".to_string()),
                ))
            } else if value.shape.0[0] < 2 {
                Some((
                    format!("it needs at least 2 classes, the output is {}", value.shape),
                    Some(
                        "give the output one score per class, e.g. `-> dense(CLASSES)`".to_string(),
                    ),
                ))
            } else {
                None
            };
            if let Some((reason, help)) = reason {
                errors.push(Error::LossMismatch {
                    span,
                    loss: loss.name(),
                    reason,
                    help,
                    output: Some(value.span),
                });
            } else if matches!(value.op, Op::Softmax { .. }) {
                errors.push(Error::SoftmaxBeforeCrossEntropy {
                    span,
                    output: value.span,
                });
            }
        }
        ir::Loss::Mse => {}
    }
}
