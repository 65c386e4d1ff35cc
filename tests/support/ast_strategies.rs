//! proptest strategies for `.nn` syntax trees, shared by the tests that
//! hold the parsers to each other: the formatter round trip
//! (tests/roundtrip.rs) and the `model!` parser (macros/src/parse.rs).
//! Included with `#[path]`, so both crates compile the same strategies.
#![allow(dead_code)]

use nnspec_dsl::ast::*;
use proptest::prelude::*;

pub fn ident() -> impl Strategy<Value = Ident> {
    // Not keywords: `model`, `train`, `input`, `let`, `output`, `as`, `true`, `false`.
    prop_oneof![
        "[a-z_][a-z0-9_]{0,8}".prop_filter("keyword", |s| {
            ![
                "model", "train", "input", "let", "output", "as", "true", "false",
            ]
            .contains(&s.as_str())
        }),
        prop::sample::select(vec![
            "x", "h", "dense", "relu", "conv2d", "fc1", "modelx", "asx", "input_1"
        ])
        .prop_map(String::from),
    ]
    .prop_map(|name| Ident {
        name,
        span: Span::default(),
    })
}

pub fn int() -> impl Strategy<Value = IntLit> {
    prop_oneof![0i64..1000, any::<i64>()].prop_map(|value| IntLit {
        value,
        span: Span::default(),
    })
}

pub fn float() -> impl Strategy<Value = FloatLit> {
    prop_oneof![
        prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL,
        prop::sample::select(vec![0.01, 1e-8, 0.5, 2.0, 1e300, -0.25]),
    ]
    .prop_map(|value| FloatLit {
        value,
        span: Span::default(),
    })
}

pub fn args(leaf: BoxedStrategy<Expr>) -> impl Strategy<Value = Vec<Arg>> {
    prop::collection::vec(
        (prop::option::of(ident()), leaf).prop_map(|(name, value)| Arg {
            name,
            value,
            span: Span::default(),
        }),
        0..4,
    )
}

pub fn stage(leaf: BoxedStrategy<Expr>) -> impl Strategy<Value = Stage> {
    (
        ident(),
        prop::option::of(args(leaf)),
        prop::option::of(ident()),
    )
        .prop_map(|(layer, args, alias)| Stage {
            layer,
            args,
            alias,
            span: Span::default(),
        })
}

/// Expressions the printer must reproduce. The parser builds flat trees:
/// a sum's terms are never sums, and a pipeline's head is never a pipeline
/// or a sum, unless parenthesized; `flatten_safe` parenthesizes those.
pub fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        ident().prop_map(Expr::Name),
        int().prop_map(Expr::Int),
        float().prop_map(Expr::Float),
        any::<bool>().prop_map(|b| Expr::Bool(b, Span::default())),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            (
                ident(),
                args(inner.clone().boxed()),
                prop::option::of(ident())
            )
                .prop_map(|(callee, args, alias)| {
                    Expr::Call(Call {
                        callee,
                        args,
                        alias,
                        span: Span::default(),
                    })
                }),
            (
                inner.clone(),
                prop::collection::vec(stage(inner.clone().boxed()), 1..4)
            )
                .prop_map(|(head, stages)| {
                    Expr::Pipeline(Pipeline {
                        head: Box::new(head),
                        stages,
                        span: Span::default(),
                    })
                }),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|terms| Expr::Sum(Sum {
                terms,
                span: Span::default()
            })),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|factors| Expr::Product(Product {
                factors,
                span: Span::default()
            })),
            inner
                .clone()
                .prop_map(|e| Expr::Paren(Box::new(e), Span::default())),
            prop::collection::vec(inner, 0..3).prop_map(|items| Expr::List(items, Span::default())),
        ]
    })
    .prop_map(flatten_safe)
}

pub fn paren(e: Expr) -> Expr {
    Expr::Paren(Box::new(e), Span::default())
}

pub fn flatten_args(args: &mut [Arg]) {
    for arg in args {
        arg.value = flatten_safe(std::mem::replace(
            &mut arg.value,
            Expr::Bool(false, Span::default()),
        ));
    }
}

pub fn flatten_safe(e: Expr) -> Expr {
    match e {
        Expr::Sum(sum) => Expr::Sum(Sum {
            terms: sum
                .terms
                .into_iter()
                .map(flatten_safe)
                .map(|t| {
                    if matches!(t, Expr::Sum(_)) {
                        paren(t)
                    } else {
                        t
                    }
                })
                .collect(),
            span: sum.span,
        }),
        // `*` binds tighter than `+`: a sum or product factor needs parentheses.
        Expr::Product(product) => Expr::Product(Product {
            factors: product
                .factors
                .into_iter()
                .map(flatten_safe)
                .map(|f| {
                    if matches!(f, Expr::Sum(_) | Expr::Product(_)) {
                        paren(f)
                    } else {
                        f
                    }
                })
                .collect(),
            span: product.span,
        }),
        Expr::Pipeline(pipeline) => {
            let head = flatten_safe(*pipeline.head);
            let head = if matches!(head, Expr::Sum(_) | Expr::Product(_) | Expr::Pipeline(_)) {
                paren(head)
            } else {
                head
            };
            let stages = pipeline
                .stages
                .into_iter()
                .map(|mut stage| {
                    if let Some(args) = &mut stage.args {
                        flatten_args(args);
                    }
                    stage
                })
                .collect();
            Expr::Pipeline(Pipeline {
                head: Box::new(head),
                stages,
                span: pipeline.span,
            })
        }
        Expr::Call(mut call) => {
            flatten_args(&mut call.args);
            Expr::Call(call)
        }
        Expr::Paren(inner, span) => Expr::Paren(Box::new(flatten_safe(*inner)), span),
        Expr::List(items, span) => Expr::List(items.into_iter().map(flatten_safe).collect(), span),
        leaf => leaf,
    }
}

pub fn stmt() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        (ident(), ident(), prop::collection::vec(int(), 1..4)).prop_map(|(name, dtype, dims)| {
            Stmt::Input(Input {
                name,
                dtype,
                dims,
                span: Span::default(),
            })
        }),
        (ident(), expr()).prop_map(|(name, value)| Stmt::Let(Binding {
            name,
            value,
            span: Span::default()
        })),
        (ident(), expr()).prop_map(|(name, value)| Stmt::Output(Binding {
            name,
            value,
            span: Span::default()
        })),
    ]
}

pub fn file() -> impl Strategy<Value = File> {
    let model = (ident(), prop::collection::vec(stmt(), 0..5)).prop_map(|(name, stmts)| {
        Item::Model(Model {
            name,
            stmts,
            span: Span::default(),
        })
    });
    let field = (ident(), expr()).prop_map(|(name, value)| Field {
        name,
        value,
        span: Span::default(),
    });
    let train = (ident(), prop::collection::vec(field, 0..4)).prop_map(|(model, fields)| {
        Item::Train(Train {
            model,
            fields,
            span: Span::default(),
        })
    });
    prop::collection::vec(prop_oneof![model, train], 0..4).prop_map(|items| File { items })
}
