//! The token parser against the pest parser: every example, generated
//! trees, spans and syntax errors.

use super::*;
use crate::ast_strategies;
use crate::tokens::Tokens;
use proptest::prelude::*;

/// The tree the token parser builds from `text` read as Rust tokens.
fn from_tokens(text: &str) -> Result<File, String> {
    let stream: proc_macro2::TokenStream = text.parse().map_err(|e| format!("{e:?}"))?;
    let tokens = Tokens::new(stream);
    parse(&tokens.list).map_err(|e| e.message)
}

fn from_text(text: &str) -> File {
    let parsed = nnspec_dsl::parse::parse(text);
    assert!(parsed.errors.is_empty(), "{text}: {:?}", parsed.errors);
    parsed.file
}

#[test]
fn every_example_gives_the_pest_tree() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "nn") {
            let text = std::fs::read_to_string(&path).unwrap();
            let tokens = from_tokens(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert_eq!(
                without_spans(&tokens),
                without_spans(&from_text(&text)),
                "{path:?}"
            );
            count += 1;
        }
    }
    assert!(count >= 5, "found the examples");
}

#[test]
fn spans_cover_the_tokens_written() {
    let text = "model M { input x: f32[4]; output y = x -> dense(8) as fc; }";
    let stream: proc_macro2::TokenStream = text.parse().unwrap();
    let tokens = Tokens::new(stream);
    let file = parse(&tokens.list).unwrap();
    let Item::Model(model) = &file.items[0] else {
        panic!()
    };
    let Stmt::Output(out) = &model.stmts[1] else {
        panic!()
    };
    let Expr::Pipeline(p) = &out.value else {
        panic!()
    };
    let stage = &p.stages[0];
    assert_eq!(
        &tokens.text[stage.span.start..stage.span.end],
        "dense(8) as fc"
    );
    assert_eq!(
        &tokens.text[out.span.start..out.span.end],
        "output y = x -> dense(8) as fc;"
    );
}

#[test]
fn syntax_errors_name_what_was_expected() {
    let cases = [
        (
            "model M { input x: f32[4] output y = x; }",
            "expected `;`, found keyword `output`",
        ),
        (
            "model M { input x: f32[4]; output y = x => dense(2); }",
            "expected `;`, found `=`",
        ),
        ("model { }", "expected a model name, found `{`"),
        ("layer M { }", "expected `model` or `train`, found `layer`"),
        (
            "model M { input x: f32[]; }",
            "expected a number, found `]`",
        ),
        (
            "model M { input x: f32[4]; output y = x -> dense(8u8); }",
            "expected a number (without a type suffix)",
        ),
        (
            "model M { input x: f32[4]; output y = x -> dense(99999999999999999999); }",
            "does not fit in 64 bits",
        ),
    ];
    for (text, want) in cases {
        let got = from_tokens(text).unwrap_err();
        assert!(got.contains(want), "{text}: {got}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Generated trees, printed by the formatter, parse to the same
    /// tree as Rust tokens as they do as text.
    #[test]
    fn the_two_parsers_agree(tree in ast_strategies::file()) {
        let text = nnspec_dsl::fmt::format(&tree, "");
        let tokens = from_tokens(&text);
        prop_assert!(tokens.is_ok(), "{}: {:?}", text, tokens);
        prop_assert_eq!(without_spans(&tokens.unwrap()), without_spans(&from_text(&text)), "{}", text);
    }
}

/// Language-shaped token noise: the words `tests/robustness.rs` uses, as
/// Rust tokens.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens: Vec<&str> = crate::token_soup::WORDS
        .iter()
        .copied()
        .chain([
            "self",
            "fn",
            "\"s\"",
            "'c'",
            "1u8",
            "#",
            "::",
            "-",
            // Delimiters come in balanced pairs (rustc rejects the others
            // before a macro sees them).
            "{ }",
            "( )",
            "[ ]",
            "( x )",
            "[ 1 , 2 ]",
            "dense ( 8 )",
            "{ input x : f32 [ 4 ] ; }",
            "sgd ( lr : 0.1 )",
            "( h + x )",
            "f32 [ 1 , 28 , 28 ]",
        ])
        .collect();
    let soup = prop::collection::vec(prop::sample::select(tokens), 0..60).prop_map(|t| t.join(" "));
    // Half inside a model's braces, where the statement parser runs.
    (soup, any::<bool>()).prop_map(|(s, wrap)| {
        if wrap {
            format!("model M {{ {s} }}")
        } else {
            s
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Whatever tokens a user writes, the macro expands to code or to
    /// `compile_error!`s, never a panic (a panicking proc macro is an
    /// unhelpful compiler error).
    #[test]
    fn the_macro_never_panics(text in token_soup()) {
        // Unbalanced delimiters never reach a macro: rustc rejects them.
        let stream = text.parse::<proc_macro2::TokenStream>();
        prop_assert!(stream.is_ok(), "tokenizes: {}", text);
        let stream = stream.unwrap();
        let out = std::panic::catch_unwind(|| crate::expand::expand(stream).to_string());
        prop_assert!(out.is_ok(), "panicked on: {}", text);
    }
}
