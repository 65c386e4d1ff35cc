//! Every op in the registry (`dsl::ops::LAYERS`) is tested and documented
//! everywhere an op must be: a PyTorch-checked shape row, a whole-model
//! gradient check, a section of the language reference, and a UI case whose
//! diagnostic points at it. A new op fails here until it has all four
//! (docs/architecture.md, "Adding an op").

use std::collections::BTreeSet;
use std::path::Path;

use nnspec::dsl;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn layer_names() -> Vec<&'static str> {
    let names: Vec<&str> = dsl::ops::names().collect();
    assert!(
        names.len() >= 15,
        "the registry lists the language's layers"
    );
    names
}

/// The layer of a shape-table row: its name without arguments.
fn row_layer(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let layer = line.split('|').nth(1)?.trim();
    Some(layer.split('(').next().unwrap_or(layer).trim())
}

#[test]
fn every_op_has_a_shape_row_checked_against_pytorch() {
    let table = read("tests/shape_table.txt");
    let covered: BTreeSet<&str> = table.lines().filter_map(row_layer).collect();
    let missing: Vec<_> = layer_names()
        .into_iter()
        .filter(|name| !covered.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "tests/shape_table.txt has no row for {missing:?} (add one and run bench/pytorch_shapes.py)"
    );
}

/// The model sources tests/gradients.rs differentiates: the examples it
/// lists, and the string literals it passes to `check_source`.
fn gradient_models() -> Vec<String> {
    let text = read("tests/gradients.rs");
    let mut sources = Vec::new();
    let examples = text
        .split_once("for example in [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("gradients.rs lists the example models");
    for example in examples.split(',') {
        let name = example.trim().trim_matches('"');
        if !name.is_empty() {
            sources.push(read(&format!("examples/{name}.nn")));
        }
    }
    for (index, call) in text.match_indices("check_source(") {
        // Calls with a literal (not the function's own definition).
        let rest = text[index + call.len()..].trim_start();
        let Some(body) = rest.strip_prefix('"') else {
            continue;
        };
        // The models hold no quotes, so the literal ends at the next one.
        if let Some(end) = body.find('"') {
            sources.push(body[..end].to_string());
        }
    }
    assert!(sources.len() >= 8, "found the gradient models");
    sources
}

#[test]
fn every_op_has_a_whole_model_gradient_check() {
    let mut covered = BTreeSet::new();
    for source in gradient_models() {
        let compiled = dsl::compile(&source);
        assert!(!compiled.has_errors(), "{}", compiled.render("gradients"));
        for model in &compiled.models {
            covered.extend(model.values.iter().map(|v| v.op.name()));
        }
    }
    let missing: Vec<_> = layer_names()
        .into_iter()
        .filter(|name| !covered.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "no model in tests/gradients.rs uses {missing:?}"
    );
}

#[test]
fn every_op_has_a_reference_section() {
    let reference = read("docs/language.md");
    for name in layer_names() {
        assert!(
            reference
                .lines()
                .any(|line| line.starts_with("### ") && line.contains(&format!("`{name}"))),
            "docs/language.md has no section for `{name}`"
        );
    }
}

/// Where, in a quoted source line, the op's call sits: from its name to
/// the matching parenthesis (or the name alone without arguments).
fn call_extents(line: &str, name: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = line.chars().collect();
    let needle: Vec<char> = name.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut extents = Vec::new();
    for start in 0..chars.len() {
        let end = start + needle.len();
        if end > chars.len() || chars[start..end] != needle[..] {
            continue;
        }
        let before_ok = start == 0 || !is_word(chars[start - 1]);
        let after_ok = end == chars.len() || !is_word(chars[end]);
        if !(before_ok && after_ok) {
            continue;
        }
        let mut stop = end;
        if chars.get(end) == Some(&'(') {
            let mut depth = 0;
            for (i, &c) in chars.iter().enumerate().skip(end) {
                depth += i32::from(c == '(') - i32::from(c == ')');
                if depth == 0 {
                    stop = i + 1;
                    break;
                }
            }
        }
        extents.push((start, stop));
    }
    extents
}

/// Whether a rendered report points into a call of `name`: the message
/// names it in backticks, or a label's carets fall inside its call.
fn report_points_at(report: &str, name: &str) -> bool {
    let lines: Vec<&str> = report.lines().collect();
    if lines
        .iter()
        .any(|l| l.starts_with("error[") || l.starts_with("warning["))
        && lines.iter().any(|l| {
            (l.starts_with("error[") || l.starts_with("warning["))
                && (l.contains(&format!("`{name}`")) || l.contains(&format!("`{name}(")))
        })
    {
        return true;
    }
    for pair in lines.windows(2) {
        let (source, labels) = (pair[0], pair[1]);
        let (Some((_, text)), Some((_, marks))) = (source.split_once('│'), labels.split_once('│'))
        else {
            continue;
        };
        let carets: Vec<usize> = marks
            .chars()
            .enumerate()
            .filter(|&(_, c)| c == '^')
            .map(|(i, _)| i)
            .collect();
        if carets.is_empty() {
            continue;
        }
        if call_extents(text, name)
            .iter()
            .any(|&(start, stop)| carets.iter().any(|&c| (start..stop).contains(&c)))
        {
            return true;
        }
    }
    false
}

#[test]
fn every_op_has_a_diagnostic_case() {
    let dir = Path::new(ROOT).join("tests/snapshots");
    let reports: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/snapshots")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let file = path.file_name()?.to_str()?;
            (file.starts_with("ui__") && file.ends_with(".snap"))
                .then(|| std::fs::read_to_string(&path).ok())
                .flatten()
        })
        .collect();
    assert!(reports.len() >= 100, "found the UI snapshots");
    let missing: Vec<_> = layer_names()
        .into_iter()
        .filter(|name| !reports.iter().any(|r| report_points_at(r, name)))
        .collect();
    assert!(
        missing.is_empty(),
        "no case in tests/ui reports a problem at {missing:?}"
    );
}

#[test]
fn the_pointing_rule_reads_reports_as_rendered() {
    let report = "error[E0006]: number literal out of range\n  ┌─ f.nn:5:32\n  │\n5 │     output y = x -> leaky_relu(1e400);\n  │                                ^^^^^ not finite\n";
    assert!(report_points_at(report, "leaky_relu"));
    assert!(!report_points_at(report, "relu"));
    assert!(!report_points_at(report, "dense"));
}

#[test]
fn every_loss_is_documented_and_differentiated() {
    let reference = read("docs/language.md");
    let gradients = read("tests/gradients.rs");
    for name in dsl::ops::LOSS_NAMES {
        assert!(
            reference.contains(&format!("`{name}`")),
            "docs/language.md does not describe the `{name}` loss"
        );
        let loss = dsl::ir::Loss::from_name(name).expect("a registered loss");
        // Cross-entropy is check_source's default; others need a train block.
        assert!(
            loss == dsl::ir::Loss::cross_entropy() || gradients.contains(&format!("loss: {name}")),
            "no model in tests/gradients.rs trains with `{name}`"
        );
    }
}

#[test]
fn matches_over_ops_and_steps_admit_no_catch_all_arm() {
    // Clippy (run with -D warnings in CI) enforces the lint these modules
    // declare; this keeps the declarations from being dropped.
    for module in [
        "dsl/src/ops/mod.rs",
        "codegen/src/lower/mod.rs",
        "codegen/src/onnx/mod.rs",
        "runtime/core/src/plan/mod.rs",
        "runtime/core/src/forward.rs",
        "runtime/core/src/backward.rs",
        "runtime/src/exec/mod.rs",
    ] {
        assert!(
            read(module).contains("#![deny(clippy::wildcard_enum_match_arm)]"),
            "{module} no longer denies wildcard arms"
        );
    }
}

#[test]
fn no_source_file_is_over_about_500_lines() {
    fn walk(dir: &Path, found: &mut Vec<(String, usize)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if name != "tests" && name != "target" {
                    walk(&path, found);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" {
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                found.push((path.display().to_string(), lines));
            }
        }
    }
    let mut files = Vec::new();
    for krate in [
        "dsl/src",
        "codegen/src",
        "runtime/src",
        "runtime/core/src",
        "dslc/src",
        "macros/src",
        "src",
    ] {
        walk(&Path::new(ROOT).join(krate), &mut files);
    }
    assert!(files.len() > 50, "found the sources");
    let long: Vec<_> = files.iter().filter(|(_, lines)| *lines > 550).collect();
    assert!(long.is_empty(), "split these by job: {long:?}");
}
