//! The generated int8 module of a small hand-quantized model, as an insta
//! snapshot (a reviewer sees every change to generated int8 code), and
//! `int8_module`'s refusals.

use nnspec_codegen::{Int8EmitError, RustOptions, int8_module, lower_inference};
use nnspec_runtime::plan::{BufferId, Plan, Size, Step};
use nnspec_runtime_core::quant::kernels::{pack_weights, weight_sums};
use nnspec_runtime_core::quant::plan::{QLayer, QPlan, QStep, QTensor, QTensorId};
use nnspec_runtime_core::quant::{QuantParams, Requant};

/// A convolution, pooling, a dense layer, and a sigmoid that runs in f32:
/// every kind of step, an output with int8 values (`logits`) and one
/// without (`probs`).
const TINY: &str = "
model Tiny {
    input x: f32[1, 6, 6];
    let h = x -> conv2d(2, kernel: 3, padding: 1) -> relu -> maxpool2d(2) -> flatten;
    output logits = h -> dense(3);
    output probs = logits -> sigmoid;
}
";

fn tiny_plan() -> Plan {
    let compiled = nnspec_dsl::compile(TINY);
    assert!(
        compiled.diagnostics.is_empty(),
        "{}",
        compiled.render("tiny")
    );
    lower_inference(compiled.model("Tiny").unwrap())
}

/// Quantizes `plan` by hand with made-up activation ranges (the emitter
/// prints whatever numbers it is given; calibration is not its business).
fn hand_quantized(plan: &Plan) -> QPlan {
    let params_len = nnspec_runtime::infer::params_len(plan);
    let float_params: Vec<f32> = (0..params_len)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 16.0)
        .collect();
    let mut q = QPlan {
        float: plan.clone(),
        float_params,
        tensors: vec![],
        layers: vec![],
        steps: vec![],
    };
    let mut tensor_of: Vec<Option<QTensorId>> = vec![None; plan.buffers.len()];
    let x = tensor(&mut q, &mut tensor_of, plan.inputs[0], 1.0);
    q.steps.push(QStep::Quantize {
        x: plan.inputs[0],
        y: x,
    });
    for step in &plan.forward {
        let (x, w, b, y, n, k) = match step {
            Step::Conv2d {
                x,
                weight,
                bias,
                y,
                shape,
                ..
            } => (
                *x,
                *weight,
                *bias,
                *y,
                shape.out_channels,
                shape.in_channels * shape.kernel[0] * shape.kernel[1],
            ),
            Step::Dense {
                x,
                weight,
                bias,
                y,
                in_features,
                out_features,
                ..
            } => (*x, *weight, *bias, *y, *out_features, *in_features),
            Step::MaxPool2d { x, y, shape, .. } => {
                // Max pooling keeps its input's quantization.
                let xt = tensor(&mut q, &mut tensor_of, *x, 1.0);
                let mut pooled = q.tensor(xt).clone();
                pooled.name = plan.buffer(*y).name.clone();
                pooled.per_sample = per_sample(plan, *y);
                let yt = QTensorId(q.tensors.len() as u32);
                q.tensors.push(pooled);
                tensor_of[plan.root(*y).index()] = Some(yt);
                q.steps.push(QStep::MaxPool2d {
                    x: xt,
                    y: yt,
                    shape: *shape,
                });
                continue;
            }
            other => {
                let Step::Sigmoid { x, y } = other else {
                    panic!("the tiny model has no {other:?}")
                };
                let xt = tensor(&mut q, &mut tensor_of, *x, 1.0);
                q.steps.push(QStep::Dequantize {
                    x: xt,
                    y: plan.root(*x),
                });
                q.steps.push(QStep::Float(other.clone()));
                // An output computed in f32 gets integers too (as the
                // int8 executor's plans do).
                let yt = tensor(&mut q, &mut tensor_of, *y, 1.0);
                q.steps.push(QStep::Quantize { x: *y, y: yt });
                continue;
            }
        };
        let params = q.float_params.clone();
        let range = nnspec_runtime::infer::param_range(plan, w);
        let weights = &params[range];
        let bias = b.map(|b| params[nnspec_runtime::infer::param_range(plan, b)].to_vec());
        let xt = tensor(&mut q, &mut tensor_of, x, 1.0);
        let range = 2.0 + q.layers.len() as f32;
        let yt = tensor(&mut q, &mut tensor_of, y, range);
        let (xs, ys) = (q.tensor(xt).q.scale, q.tensor(yt).q.scale);
        let mut weight = vec![0i8; n * k];
        let mut scales = vec![0f32; n];
        for c in 0..n {
            let row = &weights[c * k..(c + 1) * k];
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            scales[c] = max / 127.0;
            for i in 0..k {
                weight[c * k + i] = (row[i] / scales[c]).round() as i8;
            }
        }
        let layer = QLayer {
            name: plan.buffer(y).name.clone(),
            n,
            k,
            packed: pack_weights(&weight, n, k),
            weight_sums: weight_sums(&weight, n, k),
            bias: (0..n)
                .map(|c| {
                    bias.as_ref()
                        .map_or(0, |b| (b[c] / (xs * scales[c])).round() as i32)
                })
                .collect(),
            requant: scales
                .iter()
                .map(|s| Requant::from_real((xs * s / ys) as f64))
                .collect(),
            weight,
            weight_scale: scales,
        };
        q.layers.push(layer);
        let layer = q.layers.len() - 1;
        q.steps.push(match step {
            Step::Conv2d { shape, relu, .. } => QStep::Conv2d {
                x: xt,
                layer,
                y: yt,
                shape: *shape,
                relu: *relu,
            },
            Step::Dense { relu, .. } => QStep::Dense {
                x: xt,
                layer,
                y: yt,
                relu: *relu,
            },
            _ => unreachable!(),
        });
    }
    q
}

/// The tensor standing for buffer `b`, made with range `[-range/3, range]`
/// the first time.
fn tensor(
    q: &mut QPlan,
    tensor_of: &mut [Option<QTensorId>],
    b: BufferId,
    range: f32,
) -> QTensorId {
    let root = q.float.root(b);
    if let Some(t) = tensor_of[root.index()] {
        return t;
    }
    let id = QTensorId(q.tensors.len() as u32);
    let tensor = QTensor {
        name: q.float.buffer(root).name.clone(),
        per_sample: per_sample(&q.float, root),
        q: QuantParams::from_range(-range / 3.0, range),
    };
    q.tensors.push(tensor);
    tensor_of[root.index()] = Some(id);
    id
}

fn per_sample(plan: &Plan, b: BufferId) -> usize {
    match plan.buffer(plan.root(b)).size {
        Size::PerSample(n) | Size::Fixed(n) => n,
    }
}

fn options() -> RustOptions {
    RustOptions {
        source: "tests/emit_int8.rs".to_string(),
        ..RustOptions::default()
    }
}

#[test]
fn a_hand_quantized_model_as_rust() {
    let q = hand_quantized(&tiny_plan());
    let code = int8_module(&q, &options()).unwrap();
    assert_eq!(code, int8_module(&q, &options()).unwrap(), "deterministic");
    syn::parse_file(&code).expect("the module parses");
    insta::assert_snapshot!("Tiny", code);
}

#[test]
fn malformed_plans_and_options_are_refused() {
    let good = hand_quantized(&tiny_plan());
    let refuse = |q: &QPlan, options: &RustOptions| int8_module(q, options).unwrap_err();

    let mut q = good.clone();
    q.layers[1].bias.pop();
    let e = refuse(&q, &options());
    assert!(matches!(e, Int8EmitError::Malformed { .. }), "{e}");
    assert!(
        e.to_string().contains("bias has 2 values, 3 expected"),
        "{e}"
    );

    let mut q = good.clone();
    q.steps.push(QStep::Dense {
        x: QTensorId(0),
        layer: 9,
        y: QTensorId(1),
        relu: false,
    });
    assert!(
        refuse(&q, &options())
            .to_string()
            .contains("uses layer 9 of 2")
    );

    let mut q = good.clone();
    q.tensors[0].q.scale = f32::NAN;
    let e = refuse(&q, &options());
    assert!(e.to_string().contains("the scale of tensor 0 (`x`)"), "{e}");

    let mut q = good.clone();
    q.float_params[3] = f32::INFINITY;
    assert!(matches!(
        refuse(&q, &options()),
        Int8EmitError::NotFinite { .. }
    ));

    let mut q = good.clone();
    q.float_params.pop();
    assert!(
        refuse(&q, &options())
            .to_string()
            .contains("float parameters")
    );

    let bad_path = RustOptions {
        runtime_path: "not a path".into(),
        ..options()
    };
    assert!(matches!(
        refuse(&good, &bad_path),
        Int8EmitError::BadPath { .. }
    ));
    let std_runtime = RustOptions {
        std_runtime: Some("nnspec_runtime".into()),
        ..options()
    };
    assert!(matches!(
        refuse(&good, &std_runtime),
        Int8EmitError::Unsupported { .. }
    ));
}

#[test]
fn a_value_named_like_a_local_of_the_module_is_refused() {
    let source = "model Odd {\n    input x: f32[4];\n    output u8_values = x -> dense(2);\n}\n";
    let compiled = nnspec_dsl::compile(source);
    assert!(
        compiled.diagnostics.is_empty(),
        "{}",
        compiled.render("odd")
    );
    let q = hand_quantized(&lower_inference(compiled.model("Odd").unwrap()));
    let e = int8_module(&q, &options()).unwrap_err();
    assert_eq!(
        e,
        Int8EmitError::ReservedName {
            name: "u8_values".into()
        }
    );
}
