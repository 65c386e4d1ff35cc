//! Argument lists: what a layer, loss or optimizer accepts, and binding the
//! arguments written in the source against it.
//!
//! A [`Signature`] lists arguments in order; each may be given positionally
//! (in that order) or by name, like Python keyword arguments. Binding checks
//! names, duplicates, missing required arguments, types and ranges, reports
//! every problem, and yields [`Bound`] values with defaults filled in.

use crate::ast::{Arg, Expr, Span};
use crate::error::Error;
use crate::suggest::did_you_mean;

mod key;

pub use key::{AxisArg, FromArg, Key, Word};

/// The type (and valid range) of an argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ArgType {
    /// An integer ≥ 1 (sizes, counts).
    Count,
    /// An integer ≥ 0.
    Natural,
    /// An integer ≥ 1, or `[h, w]` of them (kernel, stride, dilation).
    Pair,
    /// An integer ≥ 0, or `[h, w]` of them (padding).
    NaturalPair,
    /// A float (integers accepted) within a range.
    Float(Range),
    /// Two floats within a range (Adam's betas).
    FloatPair(Range),
    Bool,
    /// An axis of the per-sample shape; negative counts from the end.
    Axis,
    /// A per-sample shape: positive integers, at most one -1.
    Shape,
    /// A non-empty list of integers ≥ 1 (a schedule's milestones).
    Counts,
    /// One of a few bare words (`anneal: cos`), as PyTorch's string
    /// arguments; the slice lists them.
    Word(&'static [&'static str]),
    /// A non-empty list of floats within a range (class weights).
    FloatList(Range),
}

impl ArgType {
    /// How the type reads in messages: "a positive integer".
    pub fn describe(self) -> String {
        match self {
            ArgType::Count => "a positive integer".into(),
            ArgType::Natural => "a non-negative integer".into(),
            ArgType::Pair => "a positive integer or a pair `[h, w]`".into(),
            ArgType::NaturalPair => "a non-negative integer or a pair `[h, w]`".into(),
            ArgType::Float(range) => format!("a number {}", range.describe()),
            ArgType::FloatPair(range) => format!("a pair of numbers {}", range.describe()),
            ArgType::Bool => "`true` or `false`".into(),
            ArgType::Axis => "an integer axis".into(),
            ArgType::Shape => "a list of dims such as `[16, 7, 7]`".into(),
            ArgType::Counts => "a list of positive integers such as `[10, 20]`".into(),
            ArgType::Word(words) => format!("one of {}", quoted(words)),
            ArgType::FloatList(range) => {
                format!(
                    "a list of numbers {} such as `[1.0, 2.0]`",
                    range.describe()
                )
            }
        }
    }
}

/// `` `cos` or `linear` `` for messages.
fn quoted(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Range {
    Any,
    /// > 0
    Positive,
    /// ≥ 0
    NonNegative,
    /// [0, 1)
    UnitHalfOpen,
    /// [0, 1]
    Unit,
    /// (0, 1)
    UnitOpen,
}

impl Range {
    fn contains(self, x: f64) -> bool {
        x.is_finite()
            && match self {
                Range::Any => true,
                Range::Positive => x > 0.0,
                Range::NonNegative => x >= 0.0,
                Range::UnitHalfOpen => (0.0..1.0).contains(&x),
                Range::Unit => (0.0..=1.0).contains(&x),
                Range::UnitOpen => x > 0.0 && x < 1.0,
            }
    }

    fn describe(self) -> &'static str {
        match self {
            Range::Any => "(finite)",
            Range::Positive => "greater than 0",
            Range::NonNegative => "of at least 0",
            Range::UnitHalfOpen => "in [0, 1)",
            Range::Unit => "in [0, 1]",
            Range::UnitOpen => "strictly between 0 and 1",
        }
    }
}

/// What an argument defaults to when it is not written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default {
    Required,
    Int(i64),
    Float(f64),
    Floats(f64, f64),
    Bool(bool),
    /// The value of an earlier argument (pooling's stride defaults to its kernel).
    SameAs(&'static str),
    /// A word of an [`ArgType::Word`] argument.
    Word(&'static str),
    /// An empty list: the argument is absent (cross-entropy's `weight`).
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArgSpec {
    pub name: &'static str,
    pub ty: ArgType,
    pub default: Default,
    pub doc: &'static str,
}

impl ArgSpec {
    pub const fn new(
        name: &'static str,
        ty: ArgType,
        default: Default,
        doc: &'static str,
    ) -> ArgSpec {
        ArgSpec {
            name,
            ty,
            default,
            doc,
        }
    }
}

/// The arguments of one layer, loss or optimizer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signature {
    pub name: &'static str,
    pub args: &'static [ArgSpec],
}

/// A checked argument value.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    Int(i64),
    Float(f64),
    Floats([f64; 2]),
    Pair([usize; 2]),
    Bool(bool),
    Ints(Vec<i64>),
    /// One of an [`ArgType::Word`]'s words.
    Word(&'static str),
    FloatList(Vec<f64>),
}

/// Arguments bound to a signature, defaults filled in, in signature order.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    values: Vec<(&'static str, ArgValue, Option<Span>)>,
}

impl Bound {
    /// The value of the argument `key` stands for.
    ///
    /// Keys are positions fixed where the signature is written (each
    /// signature's slice is built from its keys), and the binder has already
    /// converted every value to its key's type; a mismatch is a bug in this
    /// crate, caught by the first test that binds the signature.
    pub fn get<T: FromArg>(&self, key: &Key<T>) -> T {
        let (name, value, _) = &self.values[key.index];
        debug_assert_eq!(
            *name, key.spec.name,
            "key position out of step with its signature"
        );
        T::from_arg(value)
    }

    /// Where the argument was written, if it was.
    pub fn span_of<T>(&self, key: &Key<T>) -> Option<Span> {
        self.values[key.index].2
    }

    /// Where the argument called `name` was written, if it is in the
    /// signature and was written (diagnostics point at it).
    pub fn span(&self, name: &str) -> Option<Span> {
        self.values
            .iter()
            .find(|(n, ..)| *n == name)
            .and_then(|(.., span)| *span)
    }
}

/// Binds `args` (all configuration, no layer inputs) to `signature`.
///
/// `call_span` is where a missing argument is reported. Every problem is
/// pushed to `errors`; `None` means at least one was found.
pub fn bind(
    signature: &Signature,
    args: &[&Arg],
    call_span: Span,
    errors: &mut Vec<Error>,
) -> Option<Bound> {
    let before = errors.len();
    let mut given: Vec<Option<(&Arg, Span)>> = vec![None; signature.args.len()];
    let mut positional = 0;
    // Names offered as corrections of unknown arguments.
    let mut suggested_names: Vec<String> = Vec::new();
    for arg in args {
        let slot = match &arg.name {
            None => {
                if positional >= signature.args.len() {
                    errors.push(Error::TooManyArguments {
                        span: arg.span,
                        callee: signature.name,
                        max: signature.args.len(),
                    });
                    continue;
                }
                positional += 1;
                positional - 1
            }
            Some(name) => match signature
                .args
                .iter()
                .position(|spec| spec.name == name.name)
            {
                Some(slot) => slot,
                None => {
                    let names: Vec<&str> = signature.args.iter().map(|spec| spec.name).collect();
                    let suggestion = did_you_mean(&name.name, names.iter().copied());
                    if let Some(suggested) = &suggestion {
                        suggested_names.push(suggested.clone());
                    }
                    errors.push(Error::UnknownArgument {
                        span: name.span,
                        callee: signature.name,
                        name: name.name.clone(),
                        suggestion,
                        valid: names.iter().map(|s| s.to_string()).collect(),
                    });
                    continue;
                }
            },
        };
        if let Some((_, first)) = given[slot] {
            errors.push(Error::DuplicateArgument {
                span: arg.span,
                first,
                name: signature.args[slot].name,
            });
            continue;
        }
        given[slot] = Some((arg, arg.span));
    }

    let mut values: Vec<(&'static str, ArgValue, Option<Span>)> =
        Vec::with_capacity(signature.args.len());
    for (spec, given) in signature.args.iter().zip(&given) {
        let value = match given {
            Some((arg, span)) => match convert(spec.ty, &arg.value) {
                Ok(value) => Some((value, Some(*span))),
                Err(problem) => {
                    errors.push(match problem {
                        Problem::Type { span, found } => Error::WrongArgumentType {
                            span,
                            callee: signature.name,
                            name: spec.name,
                            expected: spec.ty.describe(),
                            found,
                        },
                        Problem::Value(reason) => Error::InvalidArgumentValue {
                            span: arg.value.span(),
                            callee: signature.name,
                            name: spec.name,
                            reason,
                        },
                    });
                    None
                }
            },
            None => match spec.default {
                // `kernal: 3` already said "did you mean `kernel`?".
                Default::Required if suggested_names.iter().any(|n| n == spec.name) => None,
                Default::Required => {
                    errors.push(Error::MissingArgument {
                        span: call_span,
                        callee: signature.name,
                        name: spec.name,
                        ty: spec.ty.describe(),
                    });
                    None
                }
                Default::Int(v) => Some((
                    match spec.ty {
                        ArgType::Pair | ArgType::NaturalPair => ArgValue::Pair([v as usize; 2]),
                        _ => ArgValue::Int(v),
                    },
                    None,
                )),
                Default::Float(v) => Some((ArgValue::Float(v), None)),
                Default::Floats(a, b) => Some((ArgValue::Floats([a, b]), None)),
                Default::Bool(v) => Some((ArgValue::Bool(v), None)),
                Default::Word(w) => Some((ArgValue::Word(w), None)),
                Default::Empty => Some((ArgValue::FloatList(Vec::new()), None)),
                Default::SameAs(other) => values
                    .iter()
                    .find(|(n, ..)| *n == other)
                    .map(|(_, value, _)| (value.clone(), None)),
            },
        };
        if let Some((value, span)) = value {
            values.push((spec.name, value, span));
        }
    }
    (errors.len() == before).then_some(Bound { values })
}

enum Problem {
    /// The expression (or the list element) at `span` has the wrong type.
    Type {
        span: Span,
        found: &'static str,
    },
    Value(String),
}

fn wrong_type(expr: &Expr) -> Problem {
    Problem::Type {
        span: expr.span(),
        found: expr.describe(),
    }
}

fn convert(ty: ArgType, expr: &Expr) -> Result<ArgValue, Problem> {
    let expr = strip_parens(expr);
    let int = |expr: &Expr| match strip_parens(expr) {
        Expr::Int(lit) => Ok(lit.value),
        other => Err(wrong_type(other)),
    };
    let float = |expr: &Expr| match strip_parens(expr) {
        Expr::Int(lit) => Ok(lit.value as f64),
        Expr::Float(lit) => Ok(lit.value),
        other => Err(wrong_type(other)),
    };
    let at_least = |v: i64, min: i64| {
        if v >= min {
            Ok(v)
        } else {
            Err(Problem::Value(format!("must be at least {min}, found {v}")))
        }
    };
    let pair = |min: i64| -> Result<ArgValue, Problem> {
        let (h, w) = match expr {
            Expr::List(items, _) if items.len() == 2 => (int(&items[0])?, int(&items[1])?),
            Expr::List(items, _)
                if items
                    .iter()
                    .all(|e| matches!(strip_parens(e), Expr::Int(_))) =>
            {
                return Err(Problem::Value(format!(
                    "a pair has 2 entries, found {}",
                    items.len()
                )));
            }
            Expr::List(..) => return Err(wrong_type(expr)),
            other => {
                let v = int(other)?;
                (v, v)
            }
        };
        Ok(ArgValue::Pair([
            at_least(h, min)? as usize,
            at_least(w, min)? as usize,
        ]))
    };
    match ty {
        ArgType::Count => Ok(ArgValue::Int(at_least(int(expr)?, 1)?)),
        ArgType::Natural => Ok(ArgValue::Int(at_least(int(expr)?, 0)?)),
        ArgType::Pair => pair(1),
        ArgType::NaturalPair => pair(0),
        ArgType::Axis => Ok(ArgValue::Int(int(expr)?)),
        ArgType::Bool => match expr {
            Expr::Bool(v, _) => Ok(ArgValue::Bool(*v)),
            other => Err(wrong_type(other)),
        },
        ArgType::Float(range) => {
            let v = float(expr)?;
            if range.contains(v) {
                Ok(ArgValue::Float(v))
            } else {
                Err(Problem::Value(format!(
                    "must be {}, found {v:?}",
                    range.describe()
                )))
            }
        }
        ArgType::FloatPair(range) => match expr {
            Expr::List(items, _) if items.len() == 2 => {
                let (a, b) = (float(&items[0])?, float(&items[1])?);
                for v in [a, b] {
                    if !range.contains(v) {
                        return Err(Problem::Value(format!(
                            "each must be {}, found {v:?}",
                            range.describe()
                        )));
                    }
                }
                Ok(ArgValue::Floats([a, b]))
            }
            Expr::List(items, _) => Err(Problem::Value(format!(
                "a pair has 2 entries, found {}",
                items.len()
            ))),
            _ => Err(wrong_type(expr)),
        },
        ArgType::Shape => match expr {
            Expr::List(items, _) => {
                let dims = items
                    .iter()
                    .map(int)
                    .collect::<Result<Vec<i64>, Problem>>()?;
                if dims.is_empty() {
                    return Err(Problem::Value("a shape needs at least one dim".into()));
                }
                if let Some(bad) = dims.iter().find(|&&d| d == 0 || d < -1) {
                    return Err(Problem::Value(format!(
                        "dims must be positive (or one -1), found {bad}"
                    )));
                }
                if dims.iter().filter(|&&d| d == -1).count() > 1 {
                    return Err(Problem::Value("at most one dim may be -1".into()));
                }
                Ok(ArgValue::Ints(dims))
            }
            _ => Err(wrong_type(expr)),
        },
        ArgType::Counts => match expr {
            Expr::List(items, _) => {
                let counts = items
                    .iter()
                    .map(|item| at_least(int(item)?, 1))
                    .collect::<Result<Vec<i64>, Problem>>()?;
                if counts.is_empty() {
                    return Err(Problem::Value("the list needs at least one entry".into()));
                }
                Ok(ArgValue::Ints(counts))
            }
            _ => Err(wrong_type(expr)),
        },
        ArgType::Word(words) => match expr {
            Expr::Name(ident) => match words.iter().find(|w| **w == ident.name) {
                Some(word) => Ok(ArgValue::Word(word)),
                None => Err(Problem::Value(format!(
                    "expected {}, found `{}`",
                    quoted(words),
                    ident.name
                ))),
            },
            other => Err(wrong_type(other)),
        },
        ArgType::FloatList(range) => match expr {
            Expr::List(items, _) => {
                let values = items
                    .iter()
                    .map(float)
                    .collect::<Result<Vec<f64>, Problem>>()?;
                if values.is_empty() {
                    return Err(Problem::Value(
                        "the list needs at least one entry (leave the argument out for none)"
                            .into(),
                    ));
                }
                if let Some(bad) = values.iter().find(|&&v| !range.contains(v)) {
                    return Err(Problem::Value(format!(
                        "each entry must be {}, found {bad:?}",
                        range.describe()
                    )));
                }
                Ok(ArgValue::FloatList(values))
            }
            _ => Err(wrong_type(expr)),
        },
    }
}

fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(inner, _) => strip_parens(inner),
        other => other,
    }
}
