//! pest pairs to AST nodes, for one statement or train field at a time.
//!
//! The grammar guarantees each rule's parts, so a missing part is a bug in
//! this file or the grammar (the `expect`s), never bad input; numbers that
//! do not fit are errors returned to the driver.

use pest::iterators::Pair;

use super::Rule;
use crate::ast::*;
use crate::error::Error;
use crate::scan;

/// A pair and the byte offset of the text it was parsed from.
pub(super) struct Located<'i> {
    pub(super) pair: Pair<'i, Rule>,
    pub(super) offset: usize,
}

/// A pair's span, without trailing trivia: pest counts the whitespace and
/// comments skipped while looking for an optional part (an `as` that is not
/// there) as part of the rule that looked.
fn span_of(pair: &Pair<'_, Rule>, offset: usize) -> Span {
    let span = pair.as_span();
    let start = offset + span.start();
    Span::new(
        start,
        start + scan::without_trailing_trivia(span.as_str()).len(),
    )
}

pub(super) fn ident(pair: Pair<'_, Rule>, offset: usize) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(&pair, offset),
    }
}

/// The pairs that carry meaning (punctuation and keywords dropped).
fn meaningful<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|p| {
        !matches!(
            p.as_rule(),
            Rule::arrow
                | Rule::plus
                | Rule::star
                | Rule::colon
                | Rule::semi
                | Rule::comma
                | Rule::eq
                | Rule::lbrace
                | Rule::rbrace
                | Rule::lparen
                | Rule::rparen
                | Rule::lbracket
                | Rule::rbracket
                | Rule::kw_model
                | Rule::kw_train
                | Rule::kw_input
                | Rule::kw_let
                | Rule::kw_output
                | Rule::kw_as
        )
    })
}

pub(super) fn build_stmt(located: Located<'_>) -> Result<Stmt, Box<Error>> {
    let Located { pair, offset } = located;
    let span = span_of(&pair, offset);
    let rule = pair.as_rule();
    let mut parts = meaningful(pair);
    let mut next = || {
        parts
            .next()
            .expect("grammar guarantees the statement's parts")
    };
    match rule {
        Rule::input_stmt => {
            let name = ident(next(), offset);
            let dtype = ident(next(), offset);
            let dims = meaningful(next())
                .map(|dim| int_lit(dim.into_inner().next().expect("dim holds an int"), offset))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Stmt::Input(Input {
                name,
                dtype,
                dims,
                span,
            }))
        }
        Rule::let_stmt | Rule::output_stmt => {
            let name = ident(next(), offset);
            let value = expr(next(), offset)?;
            let binding = Binding { name, value, span };
            Ok(if rule == Rule::let_stmt {
                Stmt::Let(binding)
            } else {
                Stmt::Output(binding)
            })
        }
        other => unreachable!("not a statement rule: {other:?}"),
    }
}

pub(super) fn build_field(located: Located<'_>) -> Result<Field, Box<Error>> {
    let Located { pair, offset } = located;
    // The span ends before the comma.
    let mut parts = meaningful(pair);
    let name = ident(parts.next().expect("field name"), offset);
    let value = expr(parts.next().expect("field value"), offset)?;
    let span = name.span.to(value.span());
    Ok(Field { name, value, span })
}

fn int_lit(pair: Pair<'_, Rule>, offset: usize) -> Result<IntLit, Box<Error>> {
    let span = span_of(&pair, offset);
    pair.as_str()
        .parse::<i64>()
        .map(|value| IntLit { value, span })
        .map_err(|_| Box::new(Error::IntTooLarge { span }))
}

fn expr(pair: Pair<'_, Rule>, offset: usize) -> Result<Expr, Box<Error>> {
    let span = span_of(&pair, offset);
    match pair.as_rule() {
        Rule::expr => {
            let mut terms = meaningful(pair)
                .map(|p| expr(p, offset))
                .collect::<Result<Vec<_>, _>>()?;
            if terms.len() == 1 {
                Ok(terms.pop().expect("one term"))
            } else {
                Ok(Expr::Sum(Sum { terms, span }))
            }
        }
        Rule::product => {
            let mut factors = meaningful(pair)
                .map(|p| expr(p, offset))
                .collect::<Result<Vec<_>, _>>()?;
            if factors.len() == 1 {
                Ok(factors.pop().expect("one factor"))
            } else {
                Ok(Expr::Product(Product { factors, span }))
            }
        }
        Rule::pipeline => {
            let mut parts = meaningful(pair);
            let head = expr(parts.next().expect("pipeline head"), offset)?;
            let stages = parts
                .map(|p| stage(p, offset))
                .collect::<Result<Vec<_>, _>>()?;
            if stages.is_empty() {
                Ok(head)
            } else {
                Ok(Expr::Pipeline(Pipeline {
                    head: Box::new(head),
                    stages,
                    span,
                }))
            }
        }
        Rule::call => {
            let mut parts = meaningful(pair);
            let callee = ident(parts.next().expect("callee"), offset);
            let args = args(parts.next().expect("arguments"), offset)?;
            let alias = parts.next().map(|a| alias(a, offset));
            Ok(Expr::Call(Call {
                callee,
                args,
                alias,
                span,
            }))
        }
        Rule::name => Ok(Expr::Name(ident(
            pair.into_inner().next().expect("name ident"),
            offset,
        ))),
        Rule::paren => {
            let inner = meaningful(pair).next().expect("parenthesized expression");
            Ok(Expr::Paren(Box::new(expr(inner, offset)?), span))
        }
        Rule::list => {
            let items = meaningful(pair)
                .map(|p| expr(p, offset))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Expr::List(items, span))
        }
        Rule::int => Ok(Expr::Int(int_lit(pair, offset)?)),
        Rule::float => match pair.as_str().parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Expr::Float(FloatLit { value, span })),
            _ => Err(Box::new(Error::FloatOutOfRange { span })),
        },
        Rule::bool => {
            let value = pair
                .into_inner()
                .next()
                .is_some_and(|p| p.as_rule() == Rule::kw_true);
            Ok(Expr::Bool(value, span))
        }
        other => unreachable!("not an expression rule: {other:?}"),
    }
}

fn stage(pair: Pair<'_, Rule>, offset: usize) -> Result<Stage, Box<Error>> {
    let span = span_of(&pair, offset);
    let mut layer = None;
    let mut stage_args = None;
    let mut stage_alias = None;
    for part in meaningful(pair) {
        match part.as_rule() {
            Rule::ident => layer = Some(ident(part, offset)),
            Rule::args => stage_args = Some(args(part, offset)?),
            Rule::alias => stage_alias = Some(alias(part, offset)),
            other => unreachable!("not a stage part: {other:?}"),
        }
    }
    Ok(Stage {
        layer: layer.expect("a stage starts with its layer"),
        args: stage_args,
        alias: stage_alias,
        span,
    })
}

fn args(pair: Pair<'_, Rule>, offset: usize) -> Result<Vec<Arg>, Box<Error>> {
    meaningful(pair)
        .map(|arg| {
            let span = span_of(&arg, offset);
            let mut name = None;
            let mut value = None;
            for part in meaningful(arg) {
                match part.as_rule() {
                    Rule::arg_name => {
                        name = Some(ident(
                            meaningful(part).next().expect("argument name"),
                            offset,
                        ))
                    }
                    _ => value = Some(expr(part, offset)?),
                }
            }
            Ok(Arg {
                name,
                value: value.expect("an argument has a value"),
                span,
            })
        })
        .collect()
}

fn alias(pair: Pair<'_, Rule>, offset: usize) -> Ident {
    ident(meaningful(pair).next().expect("alias name"), offset)
}
