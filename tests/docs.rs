//! The language reference documents every layer, argument and diagnostic code.

use nnspec::dsl;

const REFERENCE: &str = include_str!("../docs/language.md");

#[test]
fn every_layer_and_argument_is_documented() {
    for layer in dsl::ops::LAYERS {
        let name = layer.name();
        let heading = REFERENCE
            .lines()
            .find(|line| line.starts_with("### ") && line.contains(&format!("`{name}")))
            .unwrap_or_else(|| panic!("docs/language.md has no section for `{name}`"));
        for arg in layer.signature.args {
            assert!(
                heading.contains(arg.name),
                "the `{name}` heading does not list `{}`",
                arg.name
            );
        }
    }
}

#[test]
fn every_diagnostic_code_is_documented() {
    for code in dsl::error::CODES {
        assert!(
            REFERENCE.contains(&format!("| {code} |")),
            "docs/language.md does not explain {code}"
        );
    }
}

#[test]
fn every_optimizer_clip_schedule_and_early_stopping_argument_is_documented() {
    use dsl::check::{
        ADAM, ADAMW, CLIP_BY_VALUE, CLIP_NORM, COSINE, EXPONENTIAL, MULTISTEP, ONE_CYCLE, PLATEAU,
        SGD, STEP, STOP_ON_VAL_ACCURACY, STOP_ON_VAL_LOSS,
    };
    for signature in [
        SGD,
        ADAM,
        ADAMW,
        CLIP_NORM,
        CLIP_BY_VALUE,
        STEP,
        MULTISTEP,
        EXPONENTIAL,
        COSINE,
        ONE_CYCLE,
        PLATEAU,
        STOP_ON_VAL_LOSS,
        STOP_ON_VAL_ACCURACY,
    ] {
        let row = REFERENCE
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", signature.name)))
            .unwrap_or_else(|| panic!("no row for `{}`", signature.name));
        for arg in signature.args {
            assert!(
                row.contains(&format!("`{}`", arg.name)),
                "`{}` row lacks `{}`",
                signature.name,
                arg.name
            );
        }
    }
}

/// The examples in the reference are valid programs.
#[test]
fn the_reference_examples_check() {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in REFERENCE.lines() {
        match (&mut current, line.trim_start().starts_with("```")) {
            (None, true) => current = Some(String::new()),
            (Some(block), true) => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), false) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, false) => {}
        }
    }
    let programs: Vec<&String> = blocks
        .iter()
        .filter(|b| b.contains("model ") && b.contains("input "))
        .collect();
    assert!(!programs.is_empty());
    for program in programs {
        let compiled = dsl::compile(program);
        assert!(
            !compiled.has_errors(),
            "{program}\n{}",
            compiled.render("language.md")
        );
    }
}
