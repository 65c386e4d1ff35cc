//! The written file read back field by field by the flatc-generated
//! Python reader that ships with LiteRT (tests/tflite/read_back.py), which
//! knows the schema's field ids independently of the Rust writer: buffers
//! (the empty sentinel, one per constant and metadata entry, 16-byte
//! aligned), metadata, operator codes (GELU's code above 127), versions,
//! tensors with shape signatures and per-channel quantization, operator
//! options, the signature.

use std::process::Command;

use nnspec::codegen::tflite::model::{Activation, Op, Quantization, Tensor, TensorType, TfModel};
use serde_json::Value;

fn int8(
    name: &str,
    shape: Vec<i32>,
    batched: bool,
    scale: Vec<f32>,
    zero_point: Vec<i64>,
    dim: i32,
) -> Tensor {
    Tensor {
        name: name.into(),
        shape,
        batched,
        dtype: TensorType::Int8,
        data: None,
        quantization: Some(Quantization {
            scale,
            zero_point,
            quantized_dimension: dim,
        }),
    }
}

/// f32 x -> QUANTIZE -> int8 FULLY_CONNECTED (per-channel weights, int32
/// bias) -> DEQUANTIZE -> y, and x -> GELU -> z; two metadata entries.
pub fn model() -> TfModel {
    let mut m = TfModel {
        description: "nnspec 0.1.0".into(),
        name: "Probe".into(),
        ..TfModel::default()
    };
    let x = m.push_tensor(Tensor::activation("x", &[4]));
    let xq = m.push_tensor(int8("x_q", vec![1, 4], true, vec![0.05], vec![3], 0));
    let w = m.push_tensor(Tensor {
        data: Some(
            [1i8, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12]
                .iter()
                .map(|&v| v as u8)
                .collect(),
        ),
        ..int8(
            "w",
            vec![3, 4],
            false,
            vec![0.01, 0.02, 0.03],
            vec![0, 0, 0],
            0,
        )
    });
    let b = m.push_tensor(Tensor {
        quantization: Some(Quantization {
            scale: vec![0.0005, 0.001, 0.0015],
            zero_point: vec![0, 0, 0],
            quantized_dimension: 0,
        }),
        ..Tensor::i32_constant("b", &[3], &[100, -200, 300])
    });
    let hq = m.push_tensor(int8("h_q", vec![1, 3], true, vec![0.02], vec![-5], 0));
    let y = m.push_tensor(Tensor::activation("y", &[3]));
    let z = m.push_tensor(Tensor::activation("z", &[4]));
    m.push_operator(Op::Quantize, vec![Some(x)], vec![xq]);
    m.push_operator(
        Op::FullyConnected {
            activation: Activation::Relu6,
            keep_num_dims: false,
        },
        vec![Some(xq), Some(w), Some(b)],
        vec![hq],
    );
    m.push_operator(Op::Dequantize, vec![Some(hq)], vec![y]);
    m.push_operator(Op::Gelu { approximate: true }, vec![Some(x)], vec![z]);
    m.inputs = vec![x];
    m.outputs = vec![y, z];
    m.metadata = vec![
        (
            "nnspec".into(),
            br#"{"classes": ["a", "b", "c"], "mean": 0.5}"#.to_vec(),
        ),
        ("second".into(), vec![0, 1, 2, 255]),
    ];
    m
}

fn read_back(python: &std::path::Path, file: &std::path::Path) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tflite/read_back.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(file)
        .output()
        .expect("run read_back.py");
    assert!(
        output.status.success(),
        "read_back.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let all: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    all[file.to_str().unwrap()].clone()
}

fn bytes_of(buffer: &Value) -> Vec<u8> {
    buffer["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect()
}

pub fn check(python: &std::path::Path, dir: &std::path::Path) {
    let model = model();
    let bytes = nnspec::codegen::tflite::to_bytes(&model).expect("write");
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("probe.tflite");
    std::fs::write(&file, &bytes).unwrap();
    let file_json = read_back(python, &file);
    let f = &file_json;
    assert_eq!(f["identifier"], "TFL3");
    assert_eq!(f["version"], 3);
    assert_eq!(f["description"], "nnspec 0.1.0");

    // Buffers: 0 is the empty sentinel; each constant and each metadata
    // entry has its own, aligned to 16 bytes.
    let buffers = f["buffers"].as_array().unwrap();
    assert!(
        buffers[0]["data"].is_null(),
        "buffer 0 is empty: {}",
        buffers[0]
    );
    assert_eq!(buffers.len(), 1 + 2 + 2, "sentinel, w, b, two metadata");
    for buffer in &buffers[1..] {
        assert_eq!(buffer["offset"].as_u64().unwrap() % 16, 0, "{buffer}");
    }
    let graph = &f["subgraphs"][0];
    assert_eq!(graph["name"], "Probe");
    let tensors = graph["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), model.tensors.len());
    let mut seen = std::collections::BTreeSet::new();
    for (t, written) in tensors.iter().zip(&model.tensors) {
        assert_eq!(t["name"], written.name.as_str());
        assert_eq!(t["shape"], serde_json::json!(written.shape));
        assert_eq!(t["has_rank"], true);
        let buffer = t["buffer"].as_u64().unwrap() as usize;
        match &written.data {
            None => assert_eq!(buffer, 0, "{}: activations use the sentinel", written.name),
            Some(data) => {
                assert!(
                    buffer > 0 && seen.insert(buffer),
                    "{}: a buffer of its own",
                    written.name
                );
                assert_eq!(&bytes_of(&buffers[buffer]), data, "{}", written.name);
            }
        }
        if written.batched {
            let mut signature = written.shape.clone();
            signature[0] = -1;
            assert_eq!(
                t["shape_signature"],
                serde_json::json!(signature),
                "{}",
                written.name
            );
        } else {
            assert!(t["shape_signature"].is_null(), "{}", written.name);
        }
        let dtype = match written.dtype {
            TensorType::Float32 => 0,
            TensorType::Int32 => 2,
            TensorType::Int64 => 4,
            TensorType::Int8 => 9,
        };
        assert_eq!(t["type"], dtype, "{}", written.name);
        match &written.quantization {
            None => assert!(t["quantization"].is_null()),
            Some(q) => {
                let got = &t["quantization"];
                let scale: Vec<f32> = got["scale"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect();
                assert_eq!(scale, q.scale, "{}", written.name);
                assert_eq!(got["zero_point"], serde_json::json!(q.zero_point));
                assert_eq!(got["quantized_dimension"], q.quantized_dimension);
            }
        }
    }

    // Metadata: the names, and the bytes back from their buffers.
    let metadata = f["metadata"].as_array().unwrap();
    assert_eq!(metadata.len(), model.metadata.len());
    for (entry, (name, data)) in metadata.iter().zip(&model.metadata) {
        assert_eq!(entry["name"], name.as_str());
        let buffer = entry["buffer"].as_u64().unwrap() as usize;
        assert!(
            buffer > 0 && seen.insert(buffer),
            "{name}: a buffer of its own"
        );
        assert_eq!(&bytes_of(&buffers[buffer]), data, "{name}");
    }

    // Operator codes: one per operator here, GELU (150) past the byte.
    let codes: Vec<(i64, i64, i64)> = f["operator_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let get = |k: &str| c[k].as_i64().unwrap();
            (
                get("deprecated_builtin_code"),
                get("builtin_code"),
                get("version"),
            )
        })
        .collect();
    // QUANTIZE 1; int8 FULLY_CONNECTED 4; DEQUANTIZE of int8 2; GELU.
    assert_eq!(
        codes,
        vec![(114, 114, 1), (9, 9, 4), (6, 6, 2), (127, 150, 1)]
    );

    let operators = graph["operators"].as_array().unwrap();
    let fc = &operators[1];
    assert_eq!(fc["opcode_index"], 1);
    assert_eq!(fc["inputs"], serde_json::json!([1, 2, 3]));
    assert_eq!(fc["outputs"], serde_json::json!([4]));
    assert_eq!(fc["options"]["type"], "FullyConnectedOptions");
    assert_eq!(fc["options"]["FusedActivationFunction"], 3, "RELU6");
    assert_eq!(fc["options"]["KeepNumDims"], false);
    assert_eq!(operators[3]["options"]["type"], "GeluOptions");
    assert_eq!(operators[3]["options"]["Approximate"], true);
    assert_eq!(operators[0]["options"]["type"], "QuantizeOptions");
    assert_eq!(graph["inputs"], serde_json::json!([0]));
    assert_eq!(graph["outputs"], serde_json::json!([5, 6]));

    let signature = &f["signature_defs"][0];
    assert_eq!(signature["key"], "serving_default");
    assert_eq!(signature["inputs"], serde_json::json!([["x", 0]]));
    assert_eq!(
        signature["outputs"],
        serde_json::json!([["y", 5], ["z", 6]])
    );
}
