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

// Not reformatted here: the support module keeps its own layout.
#[rustfmt::skip]
#[path = "support/litert.rs"]
mod litert;

#[path = "tflite_ops/build.rs"]
mod build;
#[path = "tflite_ops/elementwise.rs"]
mod elementwise;
#[path = "tflite_ops/int8.rs"]
mod int8;
#[path = "tflite_ops/int8_ops.rs"]
mod int8_ops;
#[path = "tflite_ops/layers.rs"]
mod layers;
#[path = "tflite_ops/reference.rs"]
mod reference;
#[path = "tflite_ops/shapes.rs"]
mod shapes;
#[path = "tflite_ops/structure.rs"]
mod structure;

use std::path::{Path, PathBuf};

use nnspec::codegen::tflite;
use nnspec::codegen::tflite::model::Op;

use build::OpCase;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Writes every case, runs them all through LiteRT twice, with its
/// default XNNPACK delegate and on its builtin kernels alone, and checks
/// each output of both; returns LiteRT's (delegated) reports.
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
    let builtin =
        litert::run_builtin_kernels(&python, &scratch(&format!("{dir}_builtin")), &litert_cases);
    let delegated = litert::run(&python, &scratch(dir), &litert_cases);
    let mut failures = Vec::new();
    for (case, result) in cases.iter().zip(builtin) {
        check(case, result, "builtin kernels", &mut failures);
    }
    let ran: Vec<litert::Ran> = cases
        .iter()
        .zip(delegated)
        .filter_map(|(case, result)| check(case, result, "XNNPACK", &mut failures))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures in {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    Some(ran)
}

/// Compares one case's LiteRT result with its reference, noting failures.
fn check(
    case: &OpCase,
    result: Result<litert::Ran, String>,
    how: &str,
    failures: &mut Vec<String>,
) -> Option<litert::Ran> {
    let name = format!("{} ({how})", case.name);
    let ran = match result {
        Ok(ran) => ran,
        Err(error) => {
            failures.push(format!("{name}: LiteRT refused it: {error}"));
            return None;
        }
    };
    if !ran.ops.iter().any(|op| op == case.op) {
        failures.push(format!("{name}: LiteRT ran {:?}, not {}", ran.ops, case.op));
    }
    // The batch stays open: LiteRT sees -1 in every input's signature.
    for detail in ran.report["inputs_detail"].as_array().into_iter().flatten() {
        if detail["shape_signature"][0] != -1 {
            failures.push(format!(
                "{name}: input signature {}",
                detail["shape_signature"]
            ));
        }
    }
    if ran.outputs.len() != case.expected.len() {
        failures.push(format!(
            "{name}: {} outputs, expected {}",
            ran.outputs.len(),
            case.expected.len()
        ));
    }
    for (i, ((shape, got), want)) in ran.outputs.iter().zip(&case.expected).enumerate() {
        if *shape != want.shape {
            failures.push(format!(
                "{name} output {i}: shape {shape:?}, expected {:?}",
                want.shape
            ));
            continue;
        }
        // How far past its allowance each element is (1 = at the limit).
        let allowed = |w: f64| case.tolerance * w.abs().max(1.0) + case.absolute;
        let (at, worst) = got
            .iter()
            .zip(&want.data)
            .map(|(&g, &w)| (g as f64 - w).abs() / allowed(w))
            .enumerate()
            .fold((0, 0.0), |best, (j, e)| {
                if e > best.1 || e.is_nan() {
                    (j, e)
                } else {
                    best
                }
            });
        if worst.is_nan() || worst > 1.0 {
            let w = want.data[at];
            failures.push(format!(
                "{name} output {i}: element {at} is {} where the reference gives {w} (allowed error {:e})",
                got[at],
                allowed(w)
            ));
        }
    }
    Some(ran)
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

#[test]
fn int8_layers_match_tflite_integer_arithmetic() {
    run_cases("tflite_ops_int8", &int8::cases());
}

#[test]
fn other_int8_operators_match_the_reference() {
    run_cases("tflite_ops_int8_ops", &int8_ops::cases());
}

#[test]
fn the_file_reads_back_with_the_schema_reader_and_its_metadata() {
    let Some(python) = litert::python_or_skip("tflite_ops_structure") else {
        return;
    };
    structure::check(&python, &scratch("tflite_ops_structure"));
}

/// The schema's name of every `Op` variant; the match is exhaustive, so a
/// new variant does not compile until it is named here (and then fails
/// [`every_op_variant_has_a_case`] until it has a case).
fn builtin(op: &Op) -> &'static str {
    match op {
        Op::FullyConnected { .. } => "FULLY_CONNECTED",
        Op::Conv2d { .. } => "CONV_2D",
        Op::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
        Op::MaxPool2d { .. } => "MAX_POOL_2D",
        Op::AveragePool2d { .. } => "AVERAGE_POOL_2D",
        Op::Reshape => "RESHAPE",
        Op::Transpose => "TRANSPOSE",
        Op::Pad => "PAD",
        Op::PadV2 => "PADV2",
        Op::Softmax { .. } => "SOFTMAX",
        Op::LogSoftmax => "LOG_SOFTMAX",
        Op::Relu => "RELU",
        Op::Relu6 => "RELU6",
        Op::Logistic => "LOGISTIC",
        Op::Tanh => "TANH",
        Op::HardSwish => "HARD_SWISH",
        Op::Elu => "ELU",
        Op::Gelu { .. } => "GELU",
        Op::LeakyRelu { .. } => "LEAKY_RELU",
        Op::Exp => "EXP",
        Op::Log => "LOG",
        Op::Sqrt => "SQRT",
        Op::Rsqrt => "RSQRT",
        Op::Square => "SQUARE",
        Op::Abs => "ABS",
        Op::Neg => "NEG",
        Op::Add { .. } => "ADD",
        Op::Sub { .. } => "SUB",
        Op::Mul { .. } => "MUL",
        Op::Div { .. } => "DIV",
        Op::Maximum => "MAXIMUM",
        Op::Minimum => "MINIMUM",
        Op::Concatenation { .. } => "CONCATENATION",
        Op::Mean { .. } => "MEAN",
        Op::Sum { .. } => "SUM",
        Op::StridedSlice { .. } => "STRIDED_SLICE",
        Op::Gather { .. } => "GATHER",
        Op::BatchMatMul { .. } => "BATCH_MATMUL",
        Op::Quantize => "QUANTIZE",
        Op::Dequantize => "DEQUANTIZE",
    }
}

#[test]
fn every_op_variant_has_a_case() {
    let all = [
        "FULLY_CONNECTED",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
        "RESHAPE",
        "TRANSPOSE",
        "PAD",
        "PADV2",
        "SOFTMAX",
        "LOG_SOFTMAX",
        "RELU",
        "RELU6",
        "LOGISTIC",
        "TANH",
        "HARD_SWISH",
        "ELU",
        "GELU",
        "LEAKY_RELU",
        "EXP",
        "LOG",
        "SQRT",
        "RSQRT",
        "SQUARE",
        "ABS",
        "NEG",
        "ADD",
        "SUB",
        "MUL",
        "DIV",
        "MAXIMUM",
        "MINIMUM",
        "CONCATENATION",
        "MEAN",
        "SUM",
        "STRIDED_SLICE",
        "GATHER",
        "BATCH_MATMUL",
        "QUANTIZE",
        "DEQUANTIZE",
    ];
    let cases: Vec<OpCase> = [layers::cases(), shapes::cases(), elementwise::cases()]
        .into_iter()
        .flatten()
        .collect();
    let mut tested = std::collections::BTreeSet::new();
    for case in &cases {
        let ops: Vec<&str> = case
            .model
            .operators
            .iter()
            .map(|o| builtin(&o.op))
            .collect();
        assert!(
            ops.contains(&case.op),
            "{}: checks {} but runs {ops:?}",
            case.name,
            case.op
        );
        tested.insert(case.op);
    }
    let missing: Vec<&&str> = all.iter().filter(|op| !tested.contains(*op)).collect();
    assert!(missing.is_empty(), "no LiteRT case for {missing:?}");
    // And the list is every variant: each name comes from `builtin`.
    assert_eq!(tested.len(), all.len());
}
