//! The formatter and the parser are inverses: for generated syntax trees,
//! `parse(fmt(t)) == t` (spans aside), and formatting is idempotent.

#[path = "support/ast_strategies.rs"]
mod ast_strategies;

use ast_strategies::file;
use nnspec::dsl::ast::*;
use nnspec::dsl::{self, fmt, parse};
use proptest::prelude::*;

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

/// `->` binds tighter than `*`, and `*` tighter than `+`; parentheses
/// written are kept.
#[test]
fn products_bind_between_pipelines_and_sums() {
    let source = "model M { input x: f32[4]; output y = x * x -> relu + (x + x) * x; }";
    let parsed = parse::parse(source);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let Item::Model(model) = &without_spans(&parsed.file).items[0] else {
        panic!("a model")
    };
    let Stmt::Output(binding) = &model.stmts[1] else {
        panic!("the output")
    };
    let Expr::Sum(sum) = &binding.value else {
        panic!("a sum: {:?}", binding.value)
    };
    let [Expr::Product(left), Expr::Product(right)] = &sum.terms[..] else {
        panic!("two products: {:?}", sum.terms)
    };
    assert!(matches!(
        left.factors[..],
        [Expr::Name(_), Expr::Pipeline(_)]
    ));
    assert!(matches!(
        right.factors[..],
        [Expr::Paren(..), Expr::Name(_)]
    ));
    let text = dsl::format(source).unwrap();
    assert!(
        text.contains("output y = x * x -> relu + (x + x) * x;"),
        "{text}"
    );
}
