//! ONNX export against an independent runtime: every example model and
//! seeded random valid models, exported with perturbed weights (BatchNorm
//! statistics included), must pass `onnx.checker.check_model(full_check)`
//! and give in onnxruntime the executor's outputs within 1e-5 on random
//! inputs at batch sizes 1, 7 and 1000 (tests/onnx/conformance.py).
//!
//! The Python side needs onnx, onnxruntime and numpy: `.ci/run` makes a
//! virtual environment with them and names its interpreter in
//! `NNSPEC_PYTHON`. Without one the comparison is skipped with a note,
//! except under CI (`CI` set), where it fails. The structural checks of
//! the exports (names, opset, metadata) run either way.

#[path = "support/onnxruntime.rs"]
mod onnxruntime;
#[path = "support/random_models.rs"]
mod random_models;

use std::path::{Path, PathBuf};

use nnspec::codegen::onnx::{self, Provenance, proto};
use nnspec::dsl::ir;
use nnspec::runtime::checkpoint::state_dict;
use nnspec::runtime::exec::Executor;
use nnspec::runtime::plan::{ParamId, ParamKind};
use nnspec::runtime::rng::Rng;
use prost::Message;
use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BATCHES: [usize; 3] = [1, 7, 1000];
const TOLERANCE: f64 = 1e-5;
const RANDOM_MODELS: u64 = 100;

/// A model to export, with the file it came from.
struct Case {
    model: ir::Model,
    file: String,
    source: String,
}

fn compile(file: &str, source: &str) -> Vec<Case> {
    let compiled = nnspec::dsl::compile(source);
    assert!(!compiled.has_errors(), "{}", compiled.render(file));
    compiled
        .models
        .iter()
        .map(|model| Case {
            model: model.clone(),
            file: file.to_string(),
            source: source.to_string(),
        })
        .collect()
}

fn example_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("examples"))
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
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            compile(&name, &source)
        })
        .collect()
}

fn random_cases() -> Vec<Case> {
    let mut rng = Rng::new(2026);
    (0..RANDOM_MODELS)
        .flat_map(|i| {
            let source = random_models::random_model(&mut rng, &format!("Random{i}"));
            compile(&format!("random{i}.nn"), &source)
        })
        .collect()
}

/// An executor over the model's inference plan with its seed-0 weights
/// moved off their initial values: BatchNorm's scale, shift and running
/// statistics would otherwise be the identity, and test nothing.
fn executor(model: &ir::Model, rng: &mut Rng) -> Executor {
    let plan = nnspec::codegen::lower_inference(model);
    let mut exec = Executor::new(plan.clone(), 1000, 2).expect("fits in memory");
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

fn export(case: &Case, exec: &Executor) -> Vec<u8> {
    let provenance = Provenance {
        source_file: &case.file,
        source: case.source.as_bytes(),
        weights: "test".into(),
    };
    let proto = onnx::export(&case.model, &state_dict(exec), &provenance)
        .unwrap_or_else(|e| panic!("{}: {e}", case.model.name));
    onnx::to_bytes(&proto)
}

fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("write");
}

/// Writes the export and, per batch size, random inputs and the
/// executor's outputs; returns the manifest entry.
fn write_case(dir: &Path, index: usize, case: &Case, rng: &mut Rng) -> Value {
    let mut exec = executor(&case.model, rng);
    let name = format!("{index}-{}", case.model.name);
    std::fs::write(dir.join(format!("{name}.onnx")), export(case, &exec)).expect("write");
    let plan = exec.plan().clone();
    let mut runs = Vec::new();
    for batch in BATCHES {
        let mut inputs = Vec::new();
        for (i, &input) in case.model.inputs.iter().enumerate() {
            let values = exec.buffer_mut(plan.inputs[i], batch);
            let file = format!("{name}.b{batch}.in{i}");
            // Token ids: drawn from their table's, an int64 graph input.
            let dtype = match plan.token_bound(i) {
                Some(num) => {
                    values.iter_mut().for_each(|v| *v = rng.below(num) as f32);
                    let bytes: Vec<u8> = values
                        .iter()
                        .flat_map(|&v| (v as i64).to_le_bytes())
                        .collect();
                    std::fs::write(dir.join(&file), bytes).expect("write");
                    "int64"
                }
                None => {
                    values.iter_mut().for_each(|v| *v = rng.uniform(-1.0, 1.0));
                    write_f32(&dir.join(&file), values);
                    "float32"
                }
            };
            let value = case.model.value(input);
            let mut shape = vec![batch];
            shape.extend(value.shape.dims());
            let binding = value.binding.clone().expect("inputs are named");
            inputs.push(json!({"name": binding, "file": file, "shape": shape, "dtype": dtype}));
        }
        exec.forward(batch, false);
        let mut outputs = Vec::new();
        for (k, output) in case.model.outputs.iter().enumerate() {
            let file = format!("{name}.b{batch}.out{k}");
            write_f32(&dir.join(&file), exec.output(k, batch));
            let mut shape = vec![batch];
            shape.extend(case.model.value(output.value).shape.dims());
            outputs.push(json!({"name": output.name, "file": file, "shape": shape}));
        }
        runs.push(json!({"batch": batch, "inputs": inputs, "outputs": outputs}));
    }
    json!({"name": name, "onnx": format!("{name}.onnx"), "runs": runs})
}

/// Runs the cases through conformance.py; returns its report (empty
/// when skipped).
fn conformance(cases: &[Case], label: &str, seed: u64) -> String {
    let Some(python) = onnxruntime::python_or_skip(&format!("the {label}")) else {
        return String::new();
    };
    let dir = std::env::temp_dir().join(format!("nnspec-onnx-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rng = Rng::new(seed);
    let models: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, case)| write_case(&dir, i, case, &mut rng))
        .collect();
    let manifest = json!({"tolerance": TOLERANCE, "models": models});
    let script = Path::new(ROOT).join("tests/onnx/conformance.py");
    let report = onnxruntime::run_manifest(&python, &script, &dir, &manifest, "nnspec");
    assert!(
        report.contains(&format!("{} models", cases.len())),
        "every model was checked:\n{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    report
}

#[test]
fn example_models_run_the_same_in_onnxruntime() {
    conformance(&example_cases(), "examples", 1);
}

#[test]
fn random_models_run_the_same_in_onnxruntime() {
    let report = conformance(&random_cases(), "random", 2);
    if report.is_empty() {
        return;
    }
    // The generator reaches every operator an export uses.
    let operators = report
        .lines()
        .find_map(|l| l.strip_prefix("operators: "))
        .expect("the report lists the operators");
    for op in [
        "Gemm",
        "Conv",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Flatten",
        "Reshape",
        "Relu",
        "LeakyRelu",
        "Sigmoid",
        "Tanh",
        "Erf",
        "HardSwish",
        "Elu",
        "Softplus",
        "Greater",
        "Where",
        "Mul",
        "Div",
        "Softmax",
        "BatchNormalization",
        "LayerNormalization",
        "ConstantOfShape",
        "ReduceMean",
        "MatMul",
        "Transpose",
        "Add",
        "Concat",
        "Identity",
        "Slice",
        "LSTM",
        "Squeeze",
        "Gather",
    ] {
        assert!(
            operators.contains(&format!("{op} ")),
            "no random model exported to {op}: {operators}"
        );
    }
}

/// The random models meet the 1-D layers, which export to the same
/// operators as the 2-D ones with one spatial axis.
#[test]
fn random_models_reach_the_1d_layers() {
    let cases = random_cases();
    for layer in ["conv1d", "maxpool1d", "avgpool1d"] {
        let uses = |case: &Case| case.model.values.iter().any(|v| v.op.name() == layer);
        assert!(cases.iter().any(uses), "no random model uses {layer}");
    }
}

/// Attention's chain, causal and not, one head and several, on sequences
/// of one position and more (the random models reach it too, but rarely
/// every form).
#[test]
fn attention_runs_the_same_in_onnxruntime() {
    let source = "
model Attend {
    input x: f32[6, 8];
    let a = x -> attention(2) as attn;
    let c = (x + a) -> attention(4, causal: true) as causal_attn;
    output y = c -> attention(1, causal: true) as one_head;
}

model Single {
    input x: f32[1, 6];
    output y = x -> attention(3, causal: true);
}
";
    conformance(&compile("attention.nn", source), "attention", 3);
}

/// What the export promises, read back from its bytes: the standard
/// domain at opset 17, initializers named and shaped as the checkpoint,
/// a `batch` axis leading every input and output, a type for every
/// intermediate tensor, and where the model came from.
#[test]
fn exports_keep_checkpoint_names_and_a_dynamic_batch() {
    let mut rng = Rng::new(3);
    for case in example_cases().iter().chain(&random_cases()) {
        let exec = executor(&case.model, &mut rng);
        let model = proto::ModelProto::decode(export(case, &exec).as_slice()).expect("decodes");
        let what = &case.model.name;
        assert_eq!(model.producer_name, "nnspec");
        assert_eq!(model.ir_version, onnx::IR_VERSION);
        assert_eq!(model.opset_import.len(), 1);
        assert_eq!(model.opset_import[0].domain, "");
        assert_eq!(model.opset_import[0].version, 17);
        let meta = |key: &str| {
            model
                .metadata_props
                .iter()
                .find(|e| e.key == key)
                .map(|e| e.value.clone())
        };
        assert_eq!(meta("model").as_deref(), Some(what.as_str()));
        assert_eq!(
            meta("source_sha256"),
            Some(onnx::sha256_hex(case.source.as_bytes()))
        );
        assert_eq!(meta("source_sha256").unwrap().len(), 64);
        let graph = model.graph.expect("a graph");
        assert_eq!(&graph.name, what);
        assert!(graph.node.iter().all(|n| n.domain.is_empty()), "{what}");

        // Every parameter the inference graph reads, under its checkpoint
        // name, shape and values (num_batches_tracked is read by none).
        let weights = state_dict(&exec);
        // An LSTM's parameters are read rearranged for ONNX (its `W_l0`,
        // `R_l0`, `B_l0`), which onnxruntime's agreement checks.
        let rearranged = |name: &str| {
            let suffix = name.rsplit('.').next().unwrap_or(name);
            [
                "weight_ih_l",
                "weight_hh_l",
                "bias_ih_l",
                "bias_hh_l",
                "W_l",
                "R_l",
                "B_l",
            ]
            .iter()
            .any(|p| suffix.starts_with(p))
        };
        let mut expected: Vec<&str> = case
            .model
            .params
            .iter()
            .filter(|p| !p.name.ends_with("num_batches_tracked"))
            .map(|p| p.name.as_str())
            .filter(|name| !rearranged(name))
            .collect();
        // Layer constants besides: int64 ones (Reshape's target `.shape`,
        // Slice's bounds, Squeeze's `.axes`, Gather's `.index`), the scalars
        // of formula chains (gelu's `.half`, softplus's `.beta`), rank 0 as
        // no parameter is, and attention's `.causal_mask`.
        let constant = |t: &&proto::TensorProto| {
            t.data_type == proto::data_type::INT64
                || t.dims.is_empty()
                || t.name.ends_with(".causal_mask")
        };
        let mut found: Vec<&str> = graph
            .initializer
            .iter()
            .filter(|t| !constant(t))
            .map(|t| t.name.as_str())
            .filter(|name| !rearranged(name))
            .collect();
        expected.sort();
        found.sort();
        assert_eq!(found, expected, "{what}: initializers");
        for tensor in graph
            .initializer
            .iter()
            .filter(|t| !constant(t) && !rearranged(&t.name))
        {
            let stored = weights.get(&tensor.name).expect("in the checkpoint");
            let dims: Vec<i64> = stored.shape.iter().map(|&d| d as i64).collect();
            assert_eq!(tensor.dims, dims, "{what}: {} dims", tensor.name);
            let values: Vec<f32> = tensor
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let original = weights.f32(&tensor.name, &stored.shape).expect("f32");
            assert_eq!(values, original, "{what}: {} values", tensor.name);
        }

        use proto::tensor_shape_proto::dimension::Value as Dim;
        for info in graph.input.iter().chain(&graph.output) {
            let Some(proto::type_proto::Value::TensorType(tensor)) =
                info.r#type.as_ref().and_then(|t| t.value.clone())
            else {
                panic!("{what}: {} has no tensor type", info.name)
            };
            let dims = tensor.shape.expect("a shape").dim;
            assert_eq!(dims[0].value, Some(Dim::DimParam("batch".into())));
            assert!(
                dims[1..]
                    .iter()
                    .all(|d| matches!(d.value, Some(Dim::DimValue(n)) if n > 0))
            );
        }
        let outputs: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
        let wanted: Vec<&str> = case.model.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(outputs, wanted, "{what}: outputs keep their names");
        let intermediate = graph
            .node
            .iter()
            .flat_map(|n| &n.output)
            .filter(|name| !outputs.contains(&name.as_str()))
            .count();
        assert_eq!(graph.value_info.len(), intermediate, "{what}: value_info");
    }
}

/// Adaptive pooling exports when its windows have one size, and is
/// refused, naming the layer, when they do not (no ONNX operator computes
/// windows of several sizes).
#[test]
fn adaptive_pooling_exports_only_uniform_windows() {
    let source = "model P {
    input x: f32[2, 6, 6];
    let u = x -> adaptive_avgpool2d([3, 2]) as uniform -> flatten;
    output y = x -> adaptive_avgpool2d([4, 4]) as uneven -> flatten -> dense(12) + u;
}
";
    let case = compile("p.nn", source).remove(0);
    let exec = executor(&case.model, &mut Rng::new(1));
    let provenance = Provenance {
        source_file: &case.file,
        source: case.source.as_bytes(),
        weights: "test".into(),
    };
    let error = onnx::export(&case.model, &state_dict(&exec), &provenance)
        .expect_err("windows of several sizes");
    let message = error.to_string();
    assert!(
        message.starts_with("layer `uneven` cannot be exported")
            && message.contains("6x6 to 4x4 has windows of several sizes"),
        "{message}"
    );
    let uniform = source.replace("[4, 4]", "[2, 3]");
    let case = compile("p.nn", &uniform).remove(0);
    let exec = executor(&case.model, &mut Rng::new(1));
    let model = proto::ModelProto::decode(export(&case, &exec).as_slice()).expect("decodes");
    let graph = model.graph.expect("a graph");
    let pools: Vec<_> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "AveragePool")
        .collect();
    assert_eq!(pools.len(), 2, "both adaptive pools are AveragePool nodes");
}
