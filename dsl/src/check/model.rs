//! A model body: names and their bindings, expressions, calls and
//! pipelines, unused-value warnings. Layers themselves are applied in
//! [`super::layer`].

use std::collections::{HashMap, HashSet};

use crate::ast::{self, Arg, Expr, Span};
use crate::error::Error;
use crate::ir::{self, Dtype, Op, Param, Value, ValueId};
use crate::ops::{self, LayerSpec};
use crate::shape;
use crate::suggest::did_you_mean;

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

pub(super) struct ModelChecker<'a> {
    pub(super) src: &'a str,
    pub(super) errors: &'a mut Vec<Error>,
    pub(super) values: Vec<Value>,
    pub(super) params: Vec<Param>,
    env: HashMap<String, Binding>,
    /// Binding names in definition order (for deterministic warnings).
    pub(super) order: Vec<String>,
    /// Layer names in use, with where they were given.
    pub(super) layer_names: HashMap<String, Span>,
    /// Names written with `as` anywhere in the model, so generated names avoid them.
    pub(super) aliases: HashSet<String>,
    pub(super) generated: HashMap<&'static str, usize>,
}

impl<'a> ModelChecker<'a> {
    pub(super) fn new(src: &'a str, errors: &'a mut Vec<Error>) -> Self {
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

    pub(super) fn model(mut self, model: &ast::Model) -> Option<ir::Model> {
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
                    let value = value.and_then(|id| self.f32_output(id, binding.value.span()));
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
        let dtype = match input.dtype.name.as_str() {
            "f32" => Dtype::F32,
            "i64" => Dtype::I64,
            _ => {
                self.errors.push(Error::UnknownDtype {
                    span: input.dtype.span,
                    name: input.dtype.name.clone(),
                });
                ok = false;
                Dtype::F32
            }
        };
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
            dtype,
            shape,
            layer: input.name.name.clone(),
            binding: None,
            params: Vec::new(),
            span: input.span,
        });
        self.bind(&input.name, Some(id), BindingKind::Input)
            .then_some(id)
    }

    /// An output is f32: token ids are the model's to read, not to return.
    fn f32_output(&mut self, id: ValueId, span: Span) -> Option<ValueId> {
        self.expect_dtype("output", Dtype::F32, (id, span), span)
            .then_some(id)
    }

    pub(super) fn push(&mut self, value: Value) -> ValueId {
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
                        is_layer: ops::lookup(&ident.name).is_some(),
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
            Expr::Sum(sum) => self.chain("add", &sum.terms),
            Expr::Product(product) => self.chain("mul", &product.factors),
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

    /// `a + b + c` (`layer` "add") or `a * b * c` ("mul"), left to right:
    /// every operand is checked, then joined pairwise.
    fn chain(&mut self, layer: &'static str, operands: &[Expr]) -> Option<ValueId> {
        let values: Vec<Option<ValueId>> = operands.iter().map(|t| self.expr(t)).collect();
        let mut acc: Option<(ValueId, Span)> = None;
        for (i, (operand, value)) in operands.iter().zip(values).enumerate() {
            let right = (value?, operand.span());
            acc = match acc {
                None if i == 0 => Some(right),
                None => return None,
                Some(left) => {
                    let span = left.1.to(right.1);
                    Some((self.binary(layer, left, right, span)?, span))
                }
            };
        }
        acc.map(|(id, _)| id)
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
            Expr::Product(product) => product.factors.iter().for_each(|f| self.mark_used(f)),
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

    pub(super) fn layer_spec(&mut self, name: &ast::Ident) -> Option<&'static LayerSpec> {
        let spec = ops::lookup(&name.name);
        if spec.is_none() {
            // A value written where a layer goes: one error, not also "unused".
            if let Some(binding) = self.env.get_mut(&name.name) {
                binding.used = true;
            }
            self.errors.push(Error::UnknownLayer {
                span: name.span,
                name: name.name.clone(),
                suggestion: did_you_mean(&name.name, ops::names()),
                is_value: self.env.contains_key(&name.name),
            });
        }
        spec
    }
}

fn is_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Int(_) | Expr::Float(_) | Expr::Bool(..) | Expr::List(..) => true,
        Expr::Paren(inner, _) => is_literal(inner),
        Expr::Name(_) | Expr::Call(_) | Expr::Pipeline(_) | Expr::Sum(_) | Expr::Product(_) => {
            false
        }
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
            Expr::Product(product) => product.factors.iter().for_each(|f| walk(f, aliases)),
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
