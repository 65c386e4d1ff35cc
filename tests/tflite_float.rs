//! The f32 TFLite export against Google's LiteRT interpreter: every
//! example model the language can export, and small models covering every
//! exportable op, exported with perturbed weights (BatchNorm statistics
//! included), must give in LiteRT the executor's outputs within 1e-5 (of
//! the value's magnitude where it exceeds 1) on random inputs at batch 1, 3
//! and 7, images fed NHWC, on LiteRT's XNNPACK delegate and on its
//! builtin kernels alone; so must seeded random models (the ONNX
//! conformance test's generator). A layer that cannot export must fail
//! naming the layer and its op.
//!
//! LiteRT comes from `NNSPEC_PYTHON` (tests/support/litert.rs); without
//! it the comparison is skipped with a note, except under CI. The export's
//! own checks (the refusals, no `TRANSPOSE` where a weight absorbs it)
//! run either way.

#[path = "support/litert.rs"]
mod litert;
#[path = "support/random_models.rs"]
mod random_models;

use std::path::PathBuf;

use nnspec::codegen::tflite::{self, ExportError};
use nnspec::dsl::ir;
use nnspec::runtime::checkpoint::state_dict;
use nnspec::runtime::exec::Executor;
use nnspec::runtime::plan::{ParamId, ParamKind};
use nnspec::runtime::rng::Rng;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BATCHES: [usize; 3] = [1, 3, 7];
const TOLERANCE: f32 = 1e-5;
const RANDOM_MODELS: u64 = 100;

/// Small models over every op the export writes, beside the examples.
const OP_MODELS: &str = "
model Pools {
    input x: f32[3, 9, 9];
    let a = x -> avgpool2d(3, stride: 2, padding: 1) -> leaky_relu(0.1);
    let m = x -> maxpool2d(3, stride: 2, padding: 1) -> elu;
    output y = concat(a, m, axis: 0) -> softmax(axis: 0);
    output z = x -> avgpool2d(2) -> maxpool2d(3, stride: 1, padding: 1) -> mean(axis: 1);
    output w = x -> adaptive_avgpool2d([2, 4]);
    // On an even size, stride 2 with padding 1 is no SAME: PADV2 (-inf).
    output v = x -> avgpool2d(2, stride: 1) -> maxpool2d(3, stride: 2, padding: 1);
}
model Convs {
    input x: f32[2, 10, 7];
    let c = x -> conv2d(6, kernel: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [1, 2])
              -> batchnorm -> sigmoid;
    let d = c -> conv2d(12, kernel: 3, padding: 1, groups: 6, bias: false) -> tanh;
    output y = d -> adaptive_avgpool2d([1, 5]) -> gelu;
    output z = d -> global_avgpool2d -> flatten -> dense(4) -> silu;
    output w = c -> conv2d(4, kernel: 3, stride: 2, padding: 1, groups: 2) -> batchnorm;
}
model OneRow {
    input x: f32[3, 12];
    let h = x -> conv1d(5, kernel: 3, padding: 1) -> hardswish -> maxpool1d(2)
              -> conv1d(4, kernel: 2, stride: 2, dilation: 2) -> avgpool1d(2, padding: 1);
    output y = h -> softplus;
    output z = h -> flatten -> batchnorm -> dense(3, bias: false);
}
model Elementwise {
    input a: f32[6];
    input b: f32[6];
    let s = a + b;
    let p = a * (b -> elu(alpha: 0.5));
    output y = concat(s, p, axis: 0) -> softplus(beta: 2.0) -> gelu(approximate: tanh);
    output w = a -> softplus(beta: 0.5, threshold: 0.25);
    output z = (s -> dropout(0.5)) * (p -> relu);
}
model Sequence {
    input x: f32[5, 8];
    let h = x -> dense(6) -> layernorm -> reshape([6, 5]) -> softmax(axis: 1);
    output y = h -> layernorm(elementwise_affine: false) -> mean(axis: 0);
    output z = h -> batchnorm;
}
model Attend {
    input tokens: i64[6];
    let e = tokens -> embedding(20, 8);
    output y = e -> attention(2, causal: true) -> last;
    output z = e -> attention(4) -> gelu -> mean(axis: 0);
}
model Recurrent {
    input x: f32[3, 7];
    output y = x -> lstm(5, layers: 2) -> last;
    output z = x -> lstm(4) -> dense(2);
}
";

struct Case {
    model: ir::Model,
    label: String,
}

fn compile(label: &str, source: &str) -> Vec<Case> {
    let compiled = nnspec::dsl::compile(source);
    assert!(!compiled.has_errors(), "{}", compiled.render(label));
    compiled
        .models
        .iter()
        .map(|model| Case {
            model: model.clone(),
            label: format!("{label}-{}", model.name),
        })
        .collect()
}

fn example_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(PathBuf::from(ROOT).join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "found the example models");
    files
        .iter()
        .flat_map(|path| {
            let source = std::fs::read_to_string(path).expect("example");
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            compile(&stem, &source)
        })
        .collect()
}

/// An executor over the model's inference plan with its seed-0 weights
/// moved off their initial values: BatchNorm's scale, shift and running
/// statistics would otherwise be the identity, and test nothing.
fn executor(model: &ir::Model, rng: &mut Rng) -> Executor {
    let plan = nnspec::codegen::lower_inference(model);
    let mut exec = Executor::new(plan.clone(), 16, 1).expect("fits in memory");
    exec.init_params(0);
    for (i, param) in plan.params.iter().enumerate() {
        let range = match param.name.rsplit('.').next() {
            Some("running_var") => (0.5, 2.0),
            Some("running_mean") | Some("bias") => (-0.5, 0.5),
            Some("weight") if param.shape.len() == 1 => (0.5, 1.5),
            _ => (f32::NAN, f32::NAN),
        };
        match param.kind {
            ParamKind::Counter => continue,
            ParamKind::Trainable | ParamKind::State => {}
        }
        for v in exec.param_mut(ParamId(i as u32)) {
            *v = if range.0.is_nan() {
                *v + rng.uniform(-0.05, 0.05)
            } else {
                rng.uniform(range.0, range.1)
            };
        }
    }
    exec
}

/// What the executor computes for one batch, and the LiteRT case.
struct Run {
    label: String,
    /// Each output's per-sample shape and the executor's values
    /// (nnspec's order).
    expected: Vec<(Vec<usize>, Vec<f32>)>,
    case: litert::Case,
}

fn runs(case: &Case, rng: &mut Rng) -> Result<Vec<Run>, ExportError> {
    let mut exec = executor(&case.model, rng);
    let exported = tflite::export(&case.model, &state_dict(&exec))?;
    let bytes = tflite::to_bytes(&exported)?;
    let plan = exec.plan().clone();
    let mut runs = Vec::new();
    for batch in BATCHES {
        let mut inputs = Vec::new();
        for (i, &input) in case.model.inputs.iter().enumerate() {
            let per_sample = case.model.value(input).shape.dims().to_vec();
            let values = exec.buffer_mut(plan.inputs[i], batch);
            let mut shape = vec![batch];
            let nhwc = match plan.token_bound(i) {
                // Token ids: the export's input is int32, which run.py
                // reads from the file's bytes; an f32 with the id's bits
                // writes exactly those bytes.
                Some(num) => {
                    values.iter_mut().for_each(|v| *v = rng.below(num) as f32);
                    shape.extend(&per_sample);
                    inputs.push((
                        shape,
                        values.iter().map(|&v| f32::from_bits(v as u32)).collect(),
                    ));
                    continue;
                }
                None => {
                    values.iter_mut().for_each(|v| *v = rng.uniform(-2.0, 2.0));
                    litert::channels_last(values, &per_sample)
                }
            };
            shape.extend(match per_sample.len() {
                2 => vec![per_sample[1], per_sample[0]],
                3 => vec![per_sample[1], per_sample[2], per_sample[0]],
                _ => per_sample.clone(),
            });
            inputs.push((shape, nhwc));
        }
        exec.forward(batch, false);
        let expected = case
            .model
            .outputs
            .iter()
            .enumerate()
            .map(|(k, output)| {
                let shape = case.model.value(output.value).shape.dims().to_vec();
                (shape, exec.output(k, batch).to_vec())
            })
            .collect();
        let label = format!("{}-b{batch}", case.label);
        let case = litert::Case {
            name: label.clone(),
            tflite: bytes.clone(),
            inputs,
        };
        runs.push(Run {
            label,
            expected,
            case,
        });
    }
    Ok(runs)
}

/// Runs every case's batches through LiteRT and compares; returns the
/// operators LiteRT ran per case label.
fn compare(cases: &[Case], seed: u64, tag: &str) -> Vec<(String, Vec<String>)> {
    let mut rng = Rng::new(seed);
    let runs: Vec<Run> = cases
        .iter()
        .flat_map(|case| runs(case, &mut rng).unwrap_or_else(|e| panic!("{}: {e}", case.label)))
        .collect();
    let Some(python) = litert::python_or_skip(tag) else {
        return Vec::new();
    };
    let litert_cases: Vec<litert::Case> = runs
        .iter()
        .map(|run| litert::Case {
            name: run.case.name.clone(),
            tflite: run.case.tflite.clone(),
            inputs: run.case.inputs.clone(),
        })
        .collect();
    // With the XNNPACK delegate (LiteRT's default on a CPU) and on the
    // builtin kernels alone (a device without it); the operators reported
    // are the builtin run's, since the delegate hides the ones it takes.
    let mut ops = Vec::new();
    for delegates in [true, false] {
        let mode = if delegates { "xnnpack" } else { "builtin" };
        let dir =
            std::env::temp_dir().join(format!("nnspec-tflite-{tag}-{mode}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let results = if delegates {
            litert::run(&python, &dir, &litert_cases)
        } else {
            litert::run_builtin_kernels(&python, &dir, &litert_cases)
        };
        ops = check(&runs, results, mode);
        let _ = std::fs::remove_dir_all(&dir);
    }
    ops
}

/// Compares LiteRT's outputs with the executor's; returns the operators
/// LiteRT ran per run.
fn check(
    runs: &[Run],
    results: Vec<Result<litert::Ran, String>>,
    mode: &str,
) -> Vec<(String, Vec<String>)> {
    let mut ops = Vec::new();
    for (run, result) in runs.iter().zip(results) {
        let label = format!("{} ({mode})", run.label);
        let ran = result.unwrap_or_else(|e| panic!("{label}: LiteRT refused the model: {e}"));
        assert_eq!(ran.outputs.len(), run.expected.len(), "{label}: outputs");
        for (k, ((shape, expected), (_, got))) in run.expected.iter().zip(&ran.outputs).enumerate()
        {
            let got = litert::channels_first(got, shape);
            assert_eq!(got.len(), expected.len(), "{label} output {k}: length");
            for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
                let allowed = TOLERANCE * e.abs().max(1.0);
                assert!(
                    (g - e).abs() <= allowed,
                    "{label} output {k}[{i}]: LiteRT {g}, executor {e}"
                );
            }
        }
        let batch = &ran.report["inputs_detail"][0]["shape_signature"][0];
        assert_eq!(batch.as_i64(), Some(-1), "{label}: the batch is dynamic");
        ops.push((run.label.clone(), ran.ops));
    }
    ops
}

/// The examples the language can export, and the refusal of the others
/// (none today: every layer exports).
fn exportable_examples() -> Vec<Case> {
    let mut exportable = Vec::new();
    for case in example_cases() {
        let exec = executor(&case.model, &mut Rng::new(1));
        match tflite::export(&case.model, &state_dict(&exec)) {
            Ok(_) => exportable.push(case),
            Err(ExportError::Unsupported { layer, op, reason }) => {
                let value = case.model.values.iter().find(|v| v.layer == layer);
                let value = value.unwrap_or_else(|| panic!("{}: no layer {layer}", case.label));
                assert_eq!(
                    value.op.name(),
                    op,
                    "{}: the refusal names the op",
                    case.label
                );
                assert!(!reason.is_empty());
                eprintln!(
                    "{}: not exportable: layer `{layer}` ({op}): {reason}",
                    case.label
                );
            }
            Err(other) => panic!("{}: {other}", case.label),
        }
    }
    exportable
}

#[test]
fn example_models_run_the_same_in_litert() {
    let cases = exportable_examples();
    let names: Vec<&str> = cases.iter().map(|c| c.model.name.as_str()).collect();
    for wanted in [
        "MnistMlp",
        "LeNet",
        "MiniInception",
        "MobileNet",
        "DigitsResNet",
        "DigitsTransformer",
        "DigitsLstm",
    ] {
        assert!(names.contains(&wanted), "{wanted} exports: {names:?}");
    }
    let ops = compare(&cases, 13, "examples");
    for (label, ops) in ops {
        // Every layout change of these CNNs and MLPs folds into weights
        // (attention splits its heads with TRANSPOSE).
        if label.contains("Transformer") || label.contains("Lstm") {
            continue;
        }
        assert!(
            !ops.iter().any(|op| op == "TRANSPOSE"),
            "{label} runs a TRANSPOSE: {ops:?}"
        );
    }
}

#[test]
fn random_models_run_the_same_in_litert() {
    // The ONNX conformance test's generator: every layer, on vectors,
    // sequences and images, with residual sums, concatenations, reshapes
    // and several inputs and outputs.
    let mut rng = Rng::new(2026);
    let cases: Vec<Case> = (0..RANDOM_MODELS)
        .flat_map(|i| {
            let source = random_models::random_model(&mut rng, &format!("Random{i}"));
            compile(&format!("random{i}"), &source)
        })
        .collect();
    compare(&cases, 47, "random");
}

#[test]
fn every_exportable_op_runs_the_same_in_litert() {
    let cases = compile("ops", OP_MODELS);
    let ops = compare(&cases, 31, "ops");
    let ran: Vec<&str> = ops
        .iter()
        .flat_map(|(_, ops)| ops.iter().map(String::as_str))
        .collect();
    if ops.is_empty() {
        return;
    }
    for wanted in [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "PAD",
        "PADV2",
        "CONCATENATION",
        "SOFTMAX",
        "MEAN",
        "LEAKY_RELU",
        "ELU",
        "GELU",
        "LOGISTIC",
        "TANH",
        "HARD_SWISH",
        "FULLY_CONNECTED",
        "GATHER",
        "BATCH_MATMUL",
        "STRIDED_SLICE",
        "RSQRT",
        "MUL",
        "ADD",
    ] {
        assert!(ran.contains(&wanted), "no model ran {wanted}: {ran:?}");
    }
}

#[test]
fn every_layer_of_the_language_exports() {
    // The ops models and the examples cover every layer: none is refused
    // (a refusal names the layer and its op: exportable_examples and the
    // export's unit tests check that wording).
    let mut layers: Vec<&str> = example_cases()
        .iter()
        .chain(&compile("ops", OP_MODELS))
        .flat_map(|case| {
            case.model
                .values
                .iter()
                .map(|v| v.op.name())
                .collect::<Vec<_>>()
        })
        .collect();
    layers.sort_unstable();
    layers.dedup();
    for name in nnspec::dsl::ops::names() {
        assert!(layers.contains(&name), "no test model uses `{name}`");
    }
}
