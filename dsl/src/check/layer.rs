//! Applying a layer: binding its arguments, running its shape rule,
//! declaring its parameters, naming it, and wording what went wrong with
//! the shapes involved.

use super::model::ModelChecker;
use crate::ast::{self, Arg, Span};
use crate::error::{Error, Operand};
use crate::ir::{Dtype, Op, Param, ParamId, Shape, Value, ValueId};
use crate::ops::{self, LayerSpec, OpError};
use crate::shape::ShapeError;
use crate::signature::{self, Bound};

impl ModelChecker<'_> {
    /// Applies a layer to its inputs (`None`: an input failed earlier).
    /// `span` is the layer's own text (the new value's span); `whole` also
    /// covers its inputs, for complaints about them together.
    pub(super) fn apply(
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
        if !spec.arity.accepts(inputs.len()) {
            // A pipeline stage gets one input: `x -> add` or `x -> concat`.
            self.errors.push(Error::WrongInputCount {
                span: layer.span,
                layer: spec.name(),
                expected: spec.arity.describe(),
                found: inputs.len(),
            });
            return None;
        }
        self.apply_spec(spec, &bound, &inputs, layer_name, span, whole)
    }

    /// `left + right` or `left * right`: the `add` or `mul` layer written
    /// as an operator.
    pub(super) fn binary(
        &mut self,
        layer: &'static str,
        left: (ValueId, Span),
        right: (ValueId, Span),
        span: Span,
    ) -> Option<ValueId> {
        let spec = ops::lookup(layer).expect("the operators are layers");
        let layer_name = self.layer_name(spec.name(), None);
        let bound = signature::bind(&spec.signature, &[], span, self.errors)?;
        self.apply_spec(spec, &bound, &[left, right], layer_name, span, span)
    }

    /// Runs a layer's shape rule on checked inputs and records the new value
    /// and its parameters.
    fn apply_spec(
        &mut self,
        spec: &'static LayerSpec,
        bound: &Bound,
        inputs: &[(ValueId, Span)],
        layer_name: String,
        span: Span,
        whole: Span,
    ) -> Option<ValueId> {
        // Element types before shapes: a shape complaint about token ids
        // fed to `conv2d` would miss the point.
        let wanted = ops::input_dtype(spec);
        let at = if spec.arity == ops::Arity::One {
            span
        } else {
            whole
        };
        if !inputs
            .iter()
            .all(|&input| self.expect_dtype(spec.name(), wanted, input, at))
        {
            return None;
        }
        let shapes: Vec<Shape> = inputs
            .iter()
            .map(|(id, _)| self.values[id.index()].shape.clone())
            .collect();
        let shape_refs: Vec<&Shape> = shapes.iter().collect();
        let (op, shape) = match (spec.build)(bound, &shape_refs) {
            Ok(built) => built,
            Err(OpError::Shape(error)) => {
                let input = self.operand(inputs[0]);
                self.shape_error(error, span, spec.name(), Some(bound), Some(input));
                return None;
            }
            Err(OpError::Mismatch { op, axis }) => {
                let operands = inputs.iter().map(|&i| self.operand(i)).collect();
                self.errors.push(Error::ShapeMismatch {
                    span: whole,
                    op,
                    operands,
                    axis,
                });
                return None;
            }
            Err(OpError::Joined(error)) => {
                self.shape_error(error, whole, spec.name(), Some(bound), None);
                return None;
            }
            Err(OpError::Argument { name, reason }) => {
                self.errors.push(Error::InvalidArgumentValue {
                    span: bound.span(name).unwrap_or(span),
                    callee: spec.name(),
                    name,
                    reason,
                });
                return None;
            }
        };
        let rules = op.rules().expect("a layer has rules");
        let params = match rules.params(&shape_refs) {
            Ok(params) => params,
            Err(error) => {
                self.shape_error(error, span, spec.name(), Some(bound), None);
                return None;
            }
        };
        // `a + b` (and `add(a, b)`) spans both operands; a layer spans itself.
        let value_span = if matches!(op, Op::Add(_)) {
            whole
        } else {
            span
        };
        let id = self.push(Value {
            op,
            inputs: inputs.iter().map(|(id, _)| *id).collect(),
            dtype: Dtype::F32,
            shape,
            layer: layer_name.clone(),
            binding: None,
            params: Vec::new(),
            span: value_span,
        });
        for decl in params {
            let param = ParamId(self.params.len() as u32);
            self.params.push(Param {
                name: format!("{layer_name}.{}", decl.suffix),
                dtype: decl.dtype,
                shape: decl.shape,
                role: decl.role,
                owner: id,
            });
            self.values[id.index()].params.push(param);
        }
        Some(id)
    }

    /// Whether `input` has the element type `layer` takes; reports it
    /// (at `span`) if not.
    pub(super) fn expect_dtype(
        &mut self,
        layer: &'static str,
        wanted: Dtype,
        input: (ValueId, Span),
        span: Span,
    ) -> bool {
        let found = self.values[input.0.index()].dtype;
        if found != wanted {
            let input = self.operand(input);
            self.errors.push(Error::DtypeMismatch {
                span,
                layer,
                expected: wanted,
                found,
                input,
            });
        }
        found == wanted
    }

    pub(super) fn shape_error(
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
            ShapeError::HeadsDivide { heads, features } => Error::HeadsDivide {
                span: arg_span("heads"),
                heads,
                features,
            },
            ShapeError::NotDivisible {
                what,
                value,
                arg,
                divisor,
            } => Error::NotDivisible {
                span: arg_span(arg),
                layer,
                what,
                value,
                arg,
                divisor,
                input: input.filter(|_| what.starts_with("input")),
            },
        };
        self.errors.push(error);
    }

    /// The name of a layer instance: its alias, or `{kind}_{n}`.
    pub(super) fn layer_name(&mut self, kind: &'static str, alias: Option<&ast::Ident>) -> String {
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
