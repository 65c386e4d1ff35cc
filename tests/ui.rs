//! UI tests for the `.nn` front end: every file in `tests/ui/` is a model
//! the front end must reject (or, for the warning cases, warn about).
//!
//! For each `tests/ui/NAME.nn` this test
//!
//! 1. compiles the file's bytes and requires at least one error (a file
//!    that only expects warnings must produce only warnings);
//! 2. compares the `(code, line, column)` of every diagnostic with the
//!    file's leading `// expect: E0301 at 4:20` lines, so each diagnostic's
//!    position is checked independently of the snapshots. The comparison
//!    counts: two diagnostics with one code at one place (`train` missing
//!    both `loss` and `optimizer`) need two expect lines, and a diagnostic
//!    reported twice is a failure;
//! 3. snapshots the rendered report as `tests/snapshots/ui__NAME.snap`.
//!
//! Together the files must produce every code the front end defines
//! (`dsl::error::CODES`), and no other.
//!
//! To add a case: write the file with its expect lines, run
//! `cargo test --test ui`, read the new snapshot, then accept it with
//! `cargo insta accept` (or `INSTA_UPDATE=always cargo test --test ui`).

use std::collections::BTreeSet;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use nnspec::dsl::{self, diagnostic::Severity};

/// `(code, line, column)` as written in a test.
type Expect = (&'static str, usize, usize);

/// Files that are not UTF-8 cannot carry their own expect lines.
const NON_UTF8: &[(&str, &[Expect])] = &[("non_utf8.nn", &[("E0002", 4, 33)])];

/// `(code, line, column)`, 1-based, sorted; a multiset.
type Expected = Vec<(String, usize, usize)>;

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

/// The `.nn` files of `tests/ui`, sorted by name.
fn ui_files() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(ui_dir())
        .expect("tests/ui exists")
        .map(|entry| entry.expect("readable directory entry").file_name())
        .map(|name| name.into_string().expect("UTF-8 file name"))
        .filter(|name| name.ends_with(".nn"))
        .collect();
    names.sort();
    names
}

/// Parses the leading comment block: an optional free-text first line,
/// then `// expect: CODE at LINE:COL` lines. Expect lines anywhere else
/// are a mistake in the test file.
fn expectations(name: &str, text: &str) -> Result<Expected, String> {
    let mut expected = Expected::new();
    let mut in_header = true;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let is_expect = trimmed.starts_with("// expect:");
        in_header &= trimmed.starts_with("//");
        if !is_expect {
            continue;
        }
        if !in_header {
            return Err(format!(
                "{name}:{}: expect line after the leading comments",
                index + 1
            ));
        }
        let parsed = parse_expect(trimmed["// expect:".len()..].trim());
        let Some(entry) = parsed else {
            return Err(format!(
                "{name}:{}: malformed expect line {line:?}; the form is `// expect: E0301 at 4:20`",
                index + 1
            ));
        };
        expected.push(entry);
    }
    expected.sort();
    Ok(expected)
}

fn parse_expect(rest: &str) -> Option<(String, usize, usize)> {
    let (code, position) = rest.split_once(" at ")?;
    let (line, col) = position.trim().split_once(':')?;
    let code = code.trim();
    let well_formed = code.len() == 5
        && (code.starts_with('E') || code.starts_with('W'))
        && code[1..].chars().all(|c| c.is_ascii_digit());
    well_formed.then_some(())?;
    Some((code.to_string(), line.parse().ok()?, col.parse().ok()?))
}

/// The entries of `a` not matched one for one in `b`.
fn difference(a: &Expected, b: &Expected) -> Expected {
    let mut rest = b.clone();
    a.iter()
        .filter(|entry| match rest.iter().position(|r| r == *entry) {
            Some(i) => {
                rest.remove(i);
                false
            }
            None => true,
        })
        .cloned()
        .collect()
}

fn show(set: &Expected) -> String {
    set.iter()
        .map(|(code, line, col)| format!("    {code} at {line}:{col}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What one file produced.
struct Outcome {
    actual: Expected,
    errors: usize,
    rendered: String,
}

fn compile(name: &str, bytes: &[u8]) -> Outcome {
    let compiled = dsl::compile_bytes(bytes);
    let mut actual: Expected = compiled
        .diagnostics
        .iter()
        .map(|d| {
            let (line, col) = dsl::diagnostic::location(&compiled.source, d.primary.span);
            (d.code.to_string(), line, col)
        })
        .collect();
    actual.sort();
    let errors = compiled
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    Outcome {
        actual,
        errors,
        rendered: compiled.render(&format!("tests/ui/{name}")),
    }
}

/// Checks steps 1 and 2 for one file; returns the failure, if any.
fn check_file(name: &str, expected: &Expected, outcome: &Outcome) -> Option<String> {
    let expects_error = expected.iter().any(|(code, ..)| code.starts_with('E'));
    if expected.is_empty() {
        return Some(format!("{name}: no `// expect:` lines"));
    }
    if expects_error && outcome.errors == 0 {
        return Some(format!(
            "{name}: expected errors, the front end reported none\n{}",
            outcome.rendered
        ));
    }
    if !expects_error && outcome.errors > 0 {
        return Some(format!(
            "{name}: a warning-only case produced errors\n{}",
            outcome.rendered
        ));
    }
    if outcome.actual != *expected {
        return Some(format!(
            "{name}: diagnostics differ from the expect lines\n  missing:\n{}\n  unexpected:\n{}\n{}",
            show(&difference(expected, &outcome.actual)),
            show(&difference(&outcome.actual, expected)),
            outcome.rendered
        ));
    }
    None
}

#[test]
fn ui() {
    let files = ui_files();
    assert!(files.len() >= 45, "only {} UI cases", files.len());
    for (listed, _) in NON_UTF8 {
        assert!(
            files.iter().any(|f| f == listed),
            "{listed} is listed but not in tests/ui"
        );
    }

    let mut failures = Vec::new();
    let mut seen_codes = BTreeSet::new();
    let mut to_snapshot = Vec::new();
    for name in &files {
        let bytes = fs::read(ui_dir().join(name)).expect("readable UI case");
        let text = String::from_utf8_lossy(&bytes);
        let mut expected = match expectations(name, &text) {
            Ok(expected) => expected,
            Err(failure) => {
                failures.push(failure);
                continue;
            }
        };
        if let Some((_, special)) = NON_UTF8.iter().find(|(n, _)| n == name) {
            if !expected.is_empty() {
                failures.push(format!("{name}: its expect lines belong in NON_UTF8"));
            }
            expected = special
                .iter()
                .map(|&(code, line, col)| (code.to_string(), line, col))
                .collect();
        } else if std::str::from_utf8(&bytes).is_err() {
            failures.push(format!("{name}: not UTF-8; list it in NON_UTF8"));
            continue;
        }
        let outcome = compile(name, &bytes);
        match check_file(name, &expected, &outcome) {
            Some(failure) => failures.push(failure),
            None => seen_codes.extend(outcome.actual.iter().map(|(code, ..)| code.clone())),
        }
        let title = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("//")
            .trim();
        to_snapshot.push((name.clone(), title.to_string(), outcome.rendered));
    }

    // The one list of codes is the front end's own.
    let all: BTreeSet<String> = dsl::error::CODES.iter().map(|c| c.to_string()).collect();
    let missing: Vec<&String> = all.difference(&seen_codes).collect();
    if !missing.is_empty() {
        failures.push(format!("no checked case produces {missing:?}"));
    }
    let unknown: Vec<&String> = seen_codes.difference(&all).collect();
    if !unknown.is_empty() {
        failures.push(format!(
            "codes {unknown:?} are not in dsl::error::CODES; add them"
        ));
    }

    // Snapshots of the rendered reports; all mismatches are collected
    // (each leaves a `.snap.new` to review) before the test fails.
    for (name, title, rendered) in to_snapshot {
        let stem = name.trim_end_matches(".nn").to_string();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            insta::with_settings!({
                description => title.as_str(),
                input_file => ui_dir().join(&name),
                omit_expression => true,
            }, {
                insta::assert_snapshot!(stem.as_str(), rendered);
            });
        }));
        if result.is_err() {
            failures.push(format!("{name}: snapshot differs (review the .snap.new)"));
        }
    }

    // A snapshot without its case is stale.
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    if let Ok(entries) = fs::read_dir(&snapshots) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = file
                .strip_prefix("ui__")
                .and_then(|f| f.strip_suffix(".snap"))
            else {
                continue;
            };
            let case = format!("{stem}.nn");
            if !files.contains(&case) {
                failures.push(format!("stale snapshot {file}: no snapshotted case {case}"));
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} UI failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn expect_lines_parse() {
    assert_eq!(
        parse_expect("E0301 at 4:20"),
        Some(("E0301".to_string(), 4, 20))
    );
    assert_eq!(
        parse_expect("W0002 at 12:1"),
        Some(("W0002".to_string(), 12, 1))
    );
    assert_eq!(parse_expect("E301 at 4:20"), None);
    assert_eq!(parse_expect("E0301 4:20"), None);
    assert_eq!(parse_expect("E0301 at 4"), None);
    assert!(expectations("x.nn", "// t\nmodel M {}\n// expect: E0001 at 1:1\n").is_err());
    let twice = "// t\n// expect: E0504 at 5:7\n// expect: E0504 at 5:7\nmodel M {}\n";
    assert_eq!(expectations("x.nn", twice).map(|e| e.len()), Ok(2));
    let (a, b) = (
        vec![("E0001".to_string(), 1, 1); 2],
        vec![("E0001".to_string(), 1, 1)],
    );
    assert_eq!(difference(&a, &b).len(), 1);
    assert!(difference(&b, &a).is_empty());
}
