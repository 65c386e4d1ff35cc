//! No input makes the front end panic, overflow its stack or take long:
//! pathological sizes and shapes end in a result or a clean error.

use nnspec::dsl::{self, Compiled};
use proptest::prelude::*;

#[path = "support/token_soup.rs"]
mod token_soup;

fn codes(compiled: &Compiled) -> Vec<&'static str> {
    compiled.diagnostics.iter().map(|d| d.code).collect()
}

/// Compiles and renders on a thread with a small stack (1 MiB, half of
/// what Rust gives a spawned thread), so deep recursion would show as a
/// crash here. (Measured: nesting 64 deep needs under 512 KiB in this
/// profile, so the limit leaves room in unoptimized builds.)
fn compile_on_small_stack(source: Vec<u8>) -> (Compiled, String) {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let compiled = dsl::compile_bytes(&source);
            let rendered = compiled.render("stress.nn");
            (compiled, rendered)
        })
        .expect("spawn")
        .join()
        .expect("the front end must not crash")
}

#[test]
fn twenty_thousand_nested_parentheses_are_refused() {
    let depth = 20_000;
    let source = format!(
        "model M {{\n    input x: f32[4];\n    output y = {}x{};\n}}\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let (compiled, rendered) = compile_on_small_stack(source.into_bytes());
    assert_eq!(codes(&compiled), ["E0003"], "{rendered}");
    assert!(
        rendered.contains("brackets nested more than 64 deep"),
        "{rendered}"
    );
}

#[test]
fn nesting_up_to_the_limit_works_on_a_small_stack() {
    let depth = 60;
    let source = format!(
        "model M {{\n    input x: f32[4];\n    output y = {}x -> relu{};\n}}\n",
        "relu(".repeat(depth),
        ")".repeat(depth)
    );
    let (compiled, rendered) = compile_on_small_stack(source.into_bytes());
    assert!(compiled.diagnostics.is_empty(), "{rendered}");
    assert_eq!(compiled.models[0].values.len(), 1 + 1 + depth);
}

#[test]
fn a_chain_of_200_000_layers_checks() {
    let mut source = String::from("model Long {\n    input x: f32[8];\n    output y = x");
    for _ in 0..200_000 {
        source.push_str(" -> relu");
    }
    source.push_str(";\n}\n");
    let (compiled, rendered) = compile_on_small_stack(source.clone().into_bytes());
    assert!(compiled.diagnostics.is_empty(), "{rendered}");
    assert_eq!(compiled.models[0].values.len(), 200_001);
    // The formatter wraps it and reads back the same.
    let formatted = dsl::format(&source).expect("parses");
    assert_eq!(dsl::format(&formatted).unwrap(), formatted);
}

#[test]
fn a_sum_of_200_000_terms_checks() {
    let mut source = String::from("model Wide {\n    input x: f32[8];\n    output y = x");
    for _ in 0..200_000 {
        source.push_str(" + x");
    }
    source.push_str(";\n}\n");
    let (compiled, rendered) = compile_on_small_stack(source.into_bytes());
    assert!(compiled.diagnostics.is_empty(), "{rendered}");
    assert_eq!(compiled.models[0].values.len(), 200_001);
}

#[test]
fn a_200_000_character_name_is_fine() {
    let name = "n".repeat(200_000);
    let source = format!(
        "model {name} {{\n    input {name}: f32[2];\n    output y = {name} -> dense(2) as {name}2;\n}}\n"
    );
    let (compiled, rendered) = compile_on_small_stack(source.into_bytes());
    assert!(compiled.diagnostics.is_empty(), "{rendered}");
    assert_eq!(compiled.models[0].params[0].name, format!("{name}2.weight"));
    // A misspelling of a huge name still gets a quick answer.
    let source = format!("model M {{\n    input x: f32[2];\n    output y = {name};\n}}\n");
    let (compiled, _) = compile_on_small_stack(source.into_bytes());
    assert_eq!(codes(&compiled), ["W0001", "E0201"]);
}

#[test]
fn dims_of_2_to_the_64_are_errors() {
    let source = "model M {\n    input x: f32[18446744073709551616];\n    output y = x;\n}\n";
    let (compiled, rendered) = compile_on_small_stack(source.as_bytes().to_vec());
    assert_eq!(codes(&compiled), ["E0004"], "{rendered}");

    let source = "model M {\n    input x: f32[4294967296, 4294967296];\n    output y = x;\n}\n";
    let (compiled, rendered) = compile_on_small_stack(source.as_bytes().to_vec());
    assert_eq!(codes(&compiled), ["E0304"], "{rendered}");

    let source = "model M {\n    input x: f32[9223372036854775807];\n    output y = x -> dense(9223372036854775807);\n}\n";
    let (compiled, rendered) = compile_on_small_stack(source.as_bytes().to_vec());
    assert_eq!(codes(&compiled), ["E0304"], "{rendered}");
}

#[test]
fn non_utf8_bytes_are_reported_at_the_first_bad_byte() {
    let mut source = b"model M {\n    input x: f32[4];\n    output y = x".to_vec();
    source.extend_from_slice(&[0xff, 0xfe, b';', b'\n', b'}']);
    let (compiled, rendered) = compile_on_small_stack(source);
    assert_eq!(codes(&compiled), ["E0002"]);
    assert!(rendered.contains("stress.nn:3:17"), "{rendered}");
}

#[test]
fn ten_megabytes_of_models_check() {
    let mut source = String::new();
    let mut count = 0;
    while source.len() < 10 << 20 {
        source.push_str(&format!(
            "model M{count} {{\n    input x: f32[1, 28, 28];\n    output y = x -> conv2d(4, kernel: 3) -> relu -> flatten -> dense(10);\n}}\n\n"
        ));
        count += 1;
    }
    let compiled = dsl::compile(&source);
    assert!(compiled.diagnostics.is_empty());
    assert_eq!(compiled.models.len(), count);
}

#[test]
fn the_error_limit_counts_the_checkers_errors_too() {
    // 150 undefined names used to print 150 errors (and 150 warnings).
    let mut source = String::from("model M {\n    input x: f32[4];\n");
    for i in 0..150 {
        source += &format!("    let v{i} = undefined{i} -> relu;\n");
    }
    source += "    output y = x -> relu;\n}\n";
    let compiled = dsl::compile(&source);
    let errors: Vec<_> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.code.starts_with('E'))
        .collect();
    assert_eq!(errors.len(), dsl::parse::MAX_ERRORS + 1);
    assert_eq!(errors.last().unwrap().code, "E0005");
    // Nothing past the last error reported.
    let last = errors[errors.len() - 2].primary.span.start;
    assert!(
        compiled
            .diagnostics
            .iter()
            .all(|d| d.primary.span.start <= last)
    );
}

#[test]
fn ten_megabytes_of_garbage_stop_at_the_error_limit() {
    let garbage: String = "model ( } ; -> [ let 12e x ) { train ,".repeat((10 << 20) / 36);
    let (compiled, rendered) = compile_on_small_stack(garbage.into_bytes());
    assert_eq!(compiled.diagnostics.len(), dsl::parse::MAX_ERRORS + 1);
    assert_eq!(compiled.diagnostics.last().unwrap().code, "E0005");
    assert!(rendered.contains("too many errors"));
    // The 10 MB line is shown clipped around each error, not whole.
    assert!(
        rendered.len() < 200_000,
        "{} bytes of diagnostics",
        rendered.len()
    );
}

/// Language-shaped noise reaches deeper into the parser and checker than random bytes.
fn token_soup() -> impl Strategy<Value = String> {
    // The language's words, then what only text can hold: comments, stray
    // delimiters, whitespace, non-ASCII.
    let tokens: Vec<&str> = token_soup::WORDS
        .iter()
        .copied()
        .chain([
            "{", "}", "(", ")", "[", "]", "// c\n", "/*", "*/", "\n", " ", "é", "\u{FEFF}",
        ])
        .collect();
    prop::collection::vec(prop::sample::select(tokens), 0..80).prop_map(|tokens| tokens.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let compiled = dsl::compile_bytes(&bytes);
        let _ = compiled.render("fuzz.nn");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = dsl::format(text);
        }
    }

    #[test]
    fn token_soup_never_panics(source in token_soup()) {
        let compiled = dsl::compile(&source);
        let rendered = compiled.render("soup.nn");
        // Every error names a position inside the file.
        for diagnostic in &compiled.diagnostics {
            prop_assert!(diagnostic.primary.span.start <= source.len());
        }
        prop_assert_eq!(compiled.has_errors(), rendered.contains("error["));
        if let Ok(formatted) = dsl::format(&source) {
            // What formats, formats to a fixed point and parses the same.
            prop_assert_eq!(dsl::format(&formatted).unwrap(), formatted.clone());
        }
    }
}

/// A checked model, pieced together from valid parts, always checks clean
/// or reports only shape errors; a valid piece never produces a syntax error.
#[test]
fn valid_sources_have_no_syntax_errors() {
    let stages = [
        "relu",
        "dense(8)",
        "flatten",
        "dropout(0.1)",
        "batchnorm",
        "sigmoid",
        "tanh",
        "softmax",
    ];
    for a in stages {
        for b in stages {
            let source =
                format!("model M {{\n    input x: f32[8];\n    output y = x -> {a} -> {b};\n}}\n");
            let compiled = dsl::compile(&source);
            assert!(
                compiled.diagnostics.is_empty(),
                "{}",
                compiled.render("m.nn")
            );
        }
    }
}
