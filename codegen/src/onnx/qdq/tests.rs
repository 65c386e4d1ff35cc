//! The QDQ graph of a hand-made int8 plan, read back node by node
//! (onnxruntime runs such graphs in tests/onnx_int8.rs).

use nnspec_dsl::ir;
use nnspec_runtime::plan::{BufferId, Plan};
use nnspec_runtime_core::quant::kernels::{pack_weights, weight_sums};
use nnspec_runtime_core::quant::plan::{QLayer, QPlan, QStep, QTensor, QTensorId};
use nnspec_runtime_core::quant::{QuantParams, Requant};

use super::super::proto::{GraphProto, data_type};
use super::super::{ExportError, Provenance, qdq_model};

const SOURCE: &str = "model Tiny {
    input x: f32[2, 3];
    output logits = x -> flatten -> dense(4) as fc1 -> relu -> dense(3) as fc2;
}
";

fn model() -> ir::Model {
    let compiled = nnspec_dsl::compile(SOURCE);
    assert!(!compiled.has_errors(), "{}", compiled.render("tiny.nn"));
    compiled.models[0].clone()
}

fn layer(name: &str, n: usize, k: usize, x_scale: f32, y_scale: f32) -> QLayer {
    let weight: Vec<i8> = (0..n * k)
        .map(|i| (i as i32 * 37 % 255 - 127) as i8)
        .collect();
    let weight_scale: Vec<f32> = (0..n).map(|c| 0.01 * (c + 1) as f32).collect();
    let bias = (0..n).map(|c| c as i32 * 100 - 150).collect();
    let requant = weight_scale
        .iter()
        .map(|&w| Requant::from_real((x_scale * w / y_scale) as f64))
        .collect();
    QLayer {
        name: name.to_string(),
        n,
        k,
        packed: pack_weights(&weight, n, k),
        weight_sums: weight_sums(&weight, n, k),
        weight,
        weight_scale,
        bias,
        requant,
    }
}

/// `x` quantized, two int8 dense layers (the first with its relu fused),
/// the output dequantized; the dense layers read `x` through `flatten`'s
/// view.
fn qplan(model: &ir::Model) -> QPlan {
    let float: Plan = crate::lower_inference(model);
    let buffer = |name: &str| {
        let index = float.buffers.iter().position(|b| b.name == name);
        BufferId(index.expect("a buffer") as u32)
    };
    let q = |scale: f32, zero_point: u8| QuantParams { scale, zero_point };
    let tensors = vec![
        QTensor {
            name: "x".into(),
            per_sample: 6,
            q: q(0.02, 60),
        },
        QTensor {
            name: "fc1".into(),
            per_sample: 4,
            q: q(0.05, 0),
        },
        QTensor {
            name: "logits".into(),
            per_sample: 3,
            q: q(0.1, 64),
        },
    ];
    let params = float.params.iter().map(|p| p.len()).sum();
    QPlan {
        steps: vec![
            QStep::Quantize {
                x: buffer("x"),
                y: QTensorId(0),
            },
            QStep::Dense {
                x: QTensorId(0),
                layer: 0,
                y: QTensorId(1),
                relu: true,
            },
            QStep::Dense {
                x: QTensorId(1),
                layer: 1,
                y: QTensorId(2),
                relu: false,
            },
            QStep::Dequantize {
                x: QTensorId(2),
                y: float.outputs[0].1,
            },
        ],
        layers: vec![
            layer("fc1", 4, 6, 0.02, 0.05),
            layer("fc2", 3, 4, 0.05, 0.1),
        ],
        tensors,
        float_params: vec![0.0; params],
        float,
    }
}

fn graph(model: &ir::Model, qplan: &QPlan) -> Result<GraphProto, ExportError> {
    let provenance = Provenance {
        source_file: "tiny.nn",
        source: SOURCE.as_bytes(),
        weights: "hand-made".into(),
    };
    let proto = qdq_model(model, qplan, &provenance)?;
    assert!(
        proto.metadata_props.iter().any(|e| e.key == "quantization"),
        "the metadata says the model is quantized"
    );
    Ok(proto.graph.expect("a graph"))
}

#[test]
fn dense_layers_become_dequantize_gemm_quantize() {
    let model = model();
    let graph = graph(&model, &qplan(&model)).expect("exports");
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(
        ops,
        [
            "Clip",
            "QuantizeLinear",
            "Reshape",
            "DequantizeLinear",
            "DequantizeLinear",
            "DequantizeLinear",
            "Gemm",
            "Relu",
            "QuantizeLinear",
            "DequantizeLinear",
            "DequantizeLinear",
            "DequantizeLinear",
            "Gemm",
            "QuantizeLinear",
            "DequantizeLinear",
            "Identity",
        ]
    );
    let initializer = |name: &str| {
        graph
            .initializer
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no initializer {name}"))
    };
    let weight = initializer("fc1.weight_quantized");
    assert_eq!(
        (weight.data_type, &weight.dims[..]),
        (data_type::INT8, &[4i64, 6][..])
    );
    let bias = initializer("fc1.bias_quantized");
    assert_eq!(
        (bias.data_type, &bias.dims[..]),
        (data_type::INT32, &[4i64][..])
    );
    // Bias scale: x_scale · w_scale[c].
    let scale = initializer("fc2.bias_scale");
    let scales: Vec<f32> = scale
        .raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(scales, [0.05 * 0.01, 0.05 * 0.02, 0.05 * 0.03]);
    let zero_point = initializer("x.zero_point");
    assert_eq!(
        (zero_point.data_type, &zero_point.raw_data[..]),
        (data_type::UINT8, &[60u8][..])
    );
    // The input saturates where nnspec's 7 bits do.
    let bound = |name: &str| {
        let raw = &initializer(name).raw_data;
        f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])
    };
    assert_eq!(bound("x.clip_min"), -60.0 * 0.02);
    assert_eq!(bound("x.clip_max"), 67.0 * 0.02);
    // Each output has a type; inputs and outputs stay f32.
    let produced = graph.node.iter().flat_map(|n| &n.output).count();
    assert_eq!(graph.value_info.len() + graph.output.len(), produced);
    assert_eq!(graph.input[0].name, "x");
    assert_eq!(graph.output[0].name, "logits");
}

#[test]
fn a_plan_of_another_model_is_refused() {
    let model = model();
    let other = nnspec_dsl::compile(&SOURCE.replace("dense(3)", "dense(5)"));
    let other = other.models[0].clone();
    let error = graph(&other, &qplan(&model)).expect_err("another model");
    assert!(
        error
            .to_string()
            .contains("was not quantized from model `Tiny`"),
        "{error}"
    );
    let mut broken = qplan(&model);
    broken.steps[1] = QStep::Dense {
        x: QTensorId(0),
        layer: 2,
        y: QTensorId(7),
        relu: false,
    };
    let error = graph(&model, &broken).expect_err("names layer 2 and tensor 7");
    assert!(error.to_string().contains("step 1 (Dense"), "{error}");
    let mut broken = qplan(&model);
    broken.steps.remove(0);
    let error = graph(&model, &broken).expect_err("reads x before it is quantized");
    assert!(
        error
            .to_string()
            .contains("quantized tensor 0 (`x`) is read before"),
        "{error}"
    );
}
