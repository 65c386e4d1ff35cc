//! The formatter and the parser are inverses: for generated syntax trees,
//! `parse(fmt(t)) == t` (spans aside), and formatting is idempotent.

use nnspec::dsl::ast::*;
use nnspec::dsl::{self, fmt, parse};
use proptest::prelude::*;

fn ident() -> impl Strategy<Value = Ident> {
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

fn int() -> impl Strategy<Value = IntLit> {
    prop_oneof![0i64..1000, any::<i64>()].prop_map(|value| IntLit {
        value,
        span: Span::default(),
    })
}

fn float() -> impl Strategy<Value = FloatLit> {
    prop_oneof![
        prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL,
        prop::sample::select(vec![0.01, 1e-8, 0.5, 2.0, 1e300, -0.25]),
    ]
    .prop_map(|value| FloatLit {
        value,
        span: Span::default(),
    })
}

fn args(leaf: BoxedStrategy<Expr>) -> impl Strategy<Value = Vec<Arg>> {
    prop::collection::vec(
        (prop::option::of(ident()), leaf).prop_map(|(name, value)| Arg {
            name,
            value,
            span: Span::default(),
        }),
        0..4,
    )
}

fn stage(leaf: BoxedStrategy<Expr>) -> impl Strategy<Value = Stage> {
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
fn expr() -> impl Strategy<Value = Expr> {
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
            inner
                .clone()
                .prop_map(|e| Expr::Paren(Box::new(e), Span::default())),
            prop::collection::vec(inner, 0..3).prop_map(|items| Expr::List(items, Span::default())),
        ]
    })
    .prop_map(flatten_safe)
}

fn paren(e: Expr) -> Expr {
    Expr::Paren(Box::new(e), Span::default())
}

fn flatten_args(args: &mut [Arg]) {
    for arg in args {
        arg.value = flatten_safe(std::mem::replace(
            &mut arg.value,
            Expr::Bool(false, Span::default()),
        ));
    }
}

fn flatten_safe(e: Expr) -> Expr {
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
        Expr::Pipeline(pipeline) => {
            let head = flatten_safe(*pipeline.head);
            let head = if matches!(head, Expr::Sum(_) | Expr::Pipeline(_)) {
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

fn stmt() -> impl Strategy<Value = Stmt> {
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

fn file() -> impl Strategy<Value = File> {
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_inverts_fmt(tree in file()) {
        let text = fmt::format(&tree, "");
        let parsed = parse::parse(&text);
        prop_assert!(parsed.errors.is_empty(), "{text}\n{:?}", parsed.errors);
        prop_assert_eq!(without_spans(&parsed.file), tree, "{}", text);
        prop_assert_eq!(dsl::format(&text).unwrap(), text);
    }
}

/// Formatting a hand-written file with comments keeps the comments and is idempotent.
#[test]
fn comments_survive_formatting() {
    let source = "// head comment\nmodel   M{input x:f32[4]; // trailing\n  /* before let */ let h=x->dense(4)->relu;\noutput y = h+x ; }\n// tail\ntrain M{loss:mse,optimizer:sgd(lr:0.1) // opt\n}\n";
    let formatted = dsl::format(source).unwrap();
    insta::assert_snapshot!(formatted, @r"
    // head comment
    model M {
        input x: f32[4]; // trailing
        /* before let */
        let h = x -> dense(4) -> relu;
        output y = h + x;
    }

    // tail
    train M {
        loss: mse,
        optimizer: sgd(lr: 0.1), // opt
    }
    ");
    assert_eq!(dsl::format(&formatted).unwrap(), formatted);
}

#[test]
fn long_sums_of_pipelines_wrap_one_term_per_line() {
    // This formatted onto one 370-column line before.
    let source = "model M {\n    input x: f32[64];\n    output y = x -> dense(64) as first_branch_dense -> relu -> dense(64) as first_branch_out + x -> dense(64) as second_branch_dense -> tanh -> dense(64) as second_branch_out + x -> dense(64) as third_branch_dense -> sigmoid -> dense(64) as third_branch_out + x;\n}\n";
    let formatted = dsl::format(source).unwrap();
    assert!(
        formatted.lines().all(|l| l.len() <= fmt::WIDTH),
        "{formatted}"
    );
    assert_eq!(
        formatted
            .lines()
            .filter(|l| l.trim_start().starts_with("+ "))
            .count(),
        3,
        "{formatted}"
    );
    assert_eq!(dsl::format(&formatted).unwrap(), formatted);
    // The same model either way (compared through the IR's text, spans aside).
    let (before, after) = (dsl::compile(source), dsl::compile(&formatted));
    assert_eq!(
        format!("{}", before.models[0]),
        format!("{}", after.models[0])
    );
}
