//! Every code has an explanation, and every explanation's examples are
//! compiled: the wrong one must produce its code, the fixed one nothing.
//!
//! Every code here comes from parsing and checking a single file (`compile`
//! checks train blocks too; none of the codes involves a second file or a
//! training run), so every example is compiled in full. The one example
//! that cannot be shown as text is E0002's: its wrong example writes the
//! offending byte as the escape `\xE9`, and the test puts the byte back.

use std::collections::BTreeSet;

use super::*;
use crate::diagnostic::Severity;
use crate::{Compiled, compile, compile_bytes};

/// Codes whose wrong example also, unavoidably, produces other codes, and why.
const ALSO_PRODUCED: &[(&str, &[&str], &str)] = &[
    (
        "E0005",
        &["E0001"],
        "the example is 110 syntax errors; the first 100 are reported before the stop",
    ),
    (
        "E0401",
        &["W0001"],
        "the value meant to be the output is a `let` nothing uses",
    ),
    (
        "E0402",
        &["E0201"],
        "with no input, the name an output is computed from is undefined",
    ),
];

/// The byte E0002's example stands for (see the module comment).
const LATIN1_E_ACUTE: &str = "\\xE9";

fn compile_example(code: &str, text: &str) -> Compiled {
    let text = text.trim_matches('\n');
    if code == "E0002" && text.contains(LATIN1_E_ACUTE) {
        let bytes = text.replace(LATIN1_E_ACUTE, "\u{0}");
        let bytes: Vec<u8> = bytes
            .bytes()
            .map(|b| if b == 0 { 0xE9 } else { b })
            .collect();
        compile_bytes(&bytes)
    } else {
        compile(text)
    }
}

fn codes(compiled: &Compiled) -> BTreeSet<&'static str> {
    compiled.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn every_code_has_one_explanation_in_order() {
    let explained: Vec<&str> = all().map(|e| e.code).collect();
    assert_eq!(explained, CODES);
    for code in CODES {
        assert_eq!(get(code).map(|e| e.code), Some(*code));
    }
}

#[test]
fn every_wrong_example_produces_its_code() {
    let mut failures = Vec::new();
    for explanation in all() {
        let code = explanation.code;
        if code == "E0002" {
            assert!(
                explanation.wrong.contains(LATIN1_E_ACUTE),
                "E0002 lost its byte"
            );
        }
        let compiled = compile_example(code, explanation.wrong);
        let produced = codes(&compiled);
        let report = compiled.render("wrong.nn");
        if !produced.contains(code) {
            failures.push(format!(
                "{code}: the wrong example does not produce it\n{report}"
            ));
            continue;
        }
        let allowed: BTreeSet<&str> = ALSO_PRODUCED
            .iter()
            .find(|(c, ..)| *c == code)
            .map(|(_, also, _)| also.iter().copied().collect())
            .unwrap_or_default();
        let others: BTreeSet<&str> = produced.iter().copied().filter(|c| *c != code).collect();
        if others != allowed {
            failures.push(format!(
                "{code}: the wrong example also produces {others:?} (allowed: {allowed:?})\n{report}"
            ));
        }
        // A warning's example must be a file that checks, bar the warning.
        if code.starts_with('W') && compiled.has_errors() {
            failures.push(format!("{code}: the wrong example has errors\n{report}"));
        }
        let severity = compiled
            .diagnostics
            .iter()
            .find(|d| d.code == code)
            .map(|d| d.severity);
        let expected = if code.starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        };
        if severity != Some(expected) {
            failures.push(format!("{code}: reported as {severity:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_fixed_example_checks_clean() {
    let mut failures = Vec::new();
    for explanation in all() {
        let code = explanation.code;
        let compiled = compile_example(code, explanation.fixed);
        if !compiled.diagnostics.is_empty() {
            failures.push(format!(
                "{code}: the fixed example reports\n{}",
                compiled.render("fixed.nn")
            ));
        }
        if compiled.models.is_empty() {
            failures.push(format!("{code}: the fixed example has no model"));
        }
        // A train block in the example was checked, not skipped.
        let train_blocks = compiled
            .file
            .items
            .iter()
            .filter(|item| matches!(item, crate::ast::Item::Train(_)))
            .count();
        if compiled.trains.len() != train_blocks {
            failures.push(format!(
                "{code}: a train block in the fixed example did not check"
            ));
        }
        if explanation.fixed.trim() == explanation.wrong.trim() {
            failures.push(format!("{code}: the fixed example is the wrong one"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_exceptions_are_still_needed() {
    for (code, also, why) in ALSO_PRODUCED {
        let explanation = get(code).expect("a known code");
        let produced = codes(&compile_example(code, explanation.wrong));
        for other in *also {
            assert!(
                produced.contains(other),
                "{code} no longer produces {other} ({why}); drop the exception"
            );
        }
    }
}

#[test]
fn the_prose_is_wrapped_and_titled() {
    for explanation in all() {
        let code = explanation.code;
        assert!(!explanation.title.is_empty(), "{code} has no title");
        assert!(
            !explanation.title.ends_with('.'),
            "{code}'s title is a sentence"
        );
        assert!(!explanation.text.trim().is_empty(), "{code} has no text");
        for line in explanation.text.lines() {
            assert!(
                line.chars().count() <= 76,
                "{code}: line longer than 76 columns: {line:?}"
            );
        }
    }
}

#[test]
fn render_shows_the_title_the_text_and_both_examples() {
    let explanation = get("E0301").expect("E0301 is explained");
    let text = render(explanation);
    assert!(text.starts_with("E0301: shapes do not match\n\n"), "{text}");
    assert!(
        text.contains("Erroneous code example:\n\n```\nmodel Residual {"),
        "{text}"
    );
    assert!(text.contains("Fixed:\n\n```\nmodel Residual {"), "{text}");
    assert!(text.contains("dense(64) + x") && text.contains("dense(784) + x"));
    assert!(text.ends_with("}\n```\n"), "{text}");
    assert!(!text.contains("\n\n\n"), "{text}");
}

#[test]
fn codes_are_read_in_every_spelling() {
    for query in ["E0301", "e0301", "E301", "0301", "301", " E0301\n"] {
        assert_eq!(lookup(query).map(|e| e.code), Ok("E0301"), "{query:?}");
    }
    assert_eq!(lookup("w1").map(|e| e.code), Ok("W0001"));
    assert_eq!(lookup("W0002").map(|e| e.code), Ok("W0002"));
    // A bare number is an error code, never a warning.
    assert_eq!(lookup("1").map(|e| e.code), Ok("E0001"));
}

#[test]
fn unknown_codes_name_the_nearest() {
    let unknown = lookup("E0319").unwrap_err();
    assert_eq!(unknown.normalized.as_deref(), Some("E0319"));
    assert_eq!(unknown.nearest, ["E0307", "E0308", "E0309"]);
    assert_eq!(
        unknown.to_string(),
        "no diagnostic code E0319\nthe nearest codes are: E0307, E0308, E0309"
    );

    let unknown = lookup("w7").unwrap_err();
    assert_eq!(unknown.nearest, ["W0001", "W0002"]);
    assert!(unknown.to_string().contains("W0007 (read from `w7`)"));

    // Almost a code: a letter O for a zero.
    let unknown = lookup("E03O1").unwrap_err();
    assert_eq!(unknown.normalized, None);
    assert!(unknown.nearest.contains(&"E0301"), "{:?}", unknown.nearest);
    assert!(unknown.to_string().contains("not a diagnostic code"));

    assert_eq!(lookup("").unwrap_err().to_string(), "no code given");
    assert_eq!(lookup("   ").unwrap_err().to_string(), "no code given");
    assert!(lookup("shape").unwrap_err().nearest.is_empty());
    assert!(lookup("E00001").is_err());
    assert!(lookup("E-301").is_err());
    assert!(lookup("E+301").is_err());
}

#[test]
fn any_argument_is_answered_without_panicking() {
    let huge = "E".repeat(10 << 20);
    let unknown = lookup(&huge).unwrap_err();
    // The message quotes a clipped argument, not ten megabytes.
    assert!(
        unknown.to_string().len() < 200,
        "{}",
        unknown.to_string().len()
    );
    for query in [
        "é",
        "Eé",
        "e\u{301}0301",
        "\u{0}",
        "E\u{FFFD}",
        "99999",
        "W",
        "E",
    ] {
        let _ = lookup(query).map_err(|e| e.to_string());
    }
    let wide = "é".repeat(100);
    assert!(lookup(&wide).unwrap_err().to_string().contains("..."));
}

/// The short meanings in the reference's table and the titles here are one
/// wording: each row starts with its code's title.
#[test]
fn titles_match_the_reference_table() {
    const REFERENCE: &str = include_str!("../../../docs/language.md");
    for explanation in all() {
        let code = explanation.code;
        let row = REFERENCE
            .lines()
            .find(|line| line.starts_with(&format!("| {code} |")))
            .unwrap_or_else(|| panic!("docs/language.md has no row for {code}"));
        assert!(
            row.starts_with(&format!("| {code} | {}", explanation.title)),
            "{code}: title {:?}, reference row {row:?}",
            explanation.title
        );
    }
}
