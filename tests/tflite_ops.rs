//! The TFLite writer (`codegen::tflite::to_bytes`) against LiteRT: for
//! every builtin operator of `codegen::tflite::model::Op`, a tiny
//! hand-built model (f32 inputs with a dynamic batch, run at batch 2 or
//! 3, constants where the operator takes them) is written, loaded and run
//! by Google's LiteRT interpreter, and its outputs are compared with a
//! naive f64 reference written here (tests/tflite_ops/reference.rs)
//! within 1e-5 (relative above 1). Fused activations and both paddings
//! are covered. LiteRT must also report running the operator, so a file
//! it reads differently from what was meant cannot pass by accident.
//!
//! Needs `NNSPEC_PYTHON` with `ai-edge-litert` (see tests/support/
//! litert.rs); without it the LiteRT comparisons are skipped with a note,
//! except under CI.

#[path = "support/litert.rs"]
mod litert;

#[path = "tflite_ops/build.rs"]
mod build;
#[path = "tflite_ops/elementwise.rs"]
mod elementwise;
#[path = "tflite_ops/layers.rs"]
mod layers;
#[path = "tflite_ops/reference.rs"]
mod reference;
#[path = "tflite_ops/shapes.rs"]
mod shapes;

use std::path::{Path, PathBuf};

use nnspec::codegen::tflite;

use build::OpCase;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Writes every case, runs them all in one LiteRT process and checks each
/// output; returns LiteRT's reports for further checks.
fn run_cases(dir: &str, cases: &[OpCase]) -> Option<Vec<litert::Ran>> {
    let python = litert::python_or_skip(dir)?;
    let litert_cases: Vec<litert::Case> = cases
        .iter()
        .map(|case| litert::Case {
            name: case.name.clone(),
            tflite: tflite::to_bytes(&case.model)
                .unwrap_or_else(|e| panic!("{}: the writer refused the model: {e}", case.name)),
            inputs: case
                .inputs
                .iter()
                .map(|a| (a.shape.clone(), a.f32s()))
                .collect(),
        })
        .collect();
    let results = litert::run(&python, &scratch(dir), &litert_cases);
    let mut failures = Vec::new();
    let mut ran_all = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        let ran = match result {
            Ok(ran) => ran,
            Err(error) => {
                failures.push(format!("{}: LiteRT refused it: {error}", case.name));
                continue;
            }
        };
        if !ran.ops.iter().any(|op| op == case.op) {
            failures.push(format!(
                "{}: LiteRT ran {:?}, not {}",
                case.name, ran.ops, case.op
            ));
        }
        if ran.outputs.len() != case.expected.len() {
            failures.push(format!(
                "{}: {} outputs, expected {}",
                case.name,
                ran.outputs.len(),
                case.expected.len()
            ));
        }
        for (i, ((shape, got), want)) in ran.outputs.iter().zip(&case.expected).enumerate() {
            if *shape != want.shape {
                failures.push(format!(
                    "{} output {i}: shape {shape:?}, expected {:?}",
                    case.name, want.shape
                ));
                continue;
            }
            let worst = got
                .iter()
                .zip(&want.data)
                .map(|(&g, &w)| (g as f64 - w).abs() / w.abs().max(1.0))
                .enumerate()
                .fold((0, 0.0), |best, (j, e)| {
                    if e > best.1 || e.is_nan() {
                        (j, e)
                    } else {
                        best
                    }
                });
            if !(worst.1 <= case.tolerance) {
                failures.push(format!(
                    "{} output {i}: element {} is {} where the reference gives {} (error {:e} > {:e})",
                    case.name, worst.0, got[worst.0], want.data[worst.0], worst.1, case.tolerance
                ));
            }
        }
        ran_all.push(ran);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    Some(ran_all)
}

#[test]
fn layers_match_the_reference() {
    run_cases("tflite_ops_layers", &layers::cases());
}

#[test]
fn shape_operators_match_the_reference() {
    run_cases("tflite_ops_shapes", &shapes::cases());
}

#[test]
fn elementwise_operators_match_the_reference() {
    run_cases("tflite_ops_elementwise", &elementwise::cases());
}
