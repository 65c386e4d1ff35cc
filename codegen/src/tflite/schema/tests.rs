//! The writer's checks: every malformed model is an error naming what is
//! wrong, never a panic or a file LiteRT would choke on. (The files
//! themselves are checked against LiteRT in tests/tflite_ops.rs.)

use super::*;
use crate::tflite::model::{Activation, Op, Padding, Quantization, Tensor, TensorId};

/// input `[batch, 4]` -> FULLY_CONNECTED (weights `[3, 4]`, bias) -> output.
fn dense() -> TfModel {
    let mut model = TfModel {
        description: "nnspec test".into(),
        name: "dense".into(),
        ..TfModel::default()
    };
    let x = model.push_tensor(Tensor::activation("x", &[4]));
    let w = model.push_tensor(Tensor::f32_constant("w", &[3, 4], &[0.5; 12]));
    let b = model.push_tensor(Tensor::f32_constant("b", &[3], &[1.0; 3]));
    let y = model.push_tensor(Tensor::activation("y", &[3]));
    model.push_operator(
        Op::FullyConnected {
            activation: Activation::Relu,
            keep_num_dims: false,
        },
        vec![Some(x), Some(w), Some(b)],
        vec![y],
    );
    model.inputs = vec![x];
    model.outputs = vec![y];
    model.metadata = vec![("nnspec".into(), b"{\"classes\": 3}".to_vec())];
    model
}

fn mismatch(model: &TfModel) -> String {
    match write(model) {
        Err(ExportError::Mismatch(reason)) => reason,
        Err(other) => panic!("expected a mismatch, got {other}"),
        Ok(_) => panic!("the writer accepted a malformed model"),
    }
}

fn assert_mentions(reason: &str, words: &[&str]) {
    for word in words {
        assert!(
            reason.contains(word),
            "`{reason}` does not mention `{word}`"
        );
    }
}

#[test]
fn a_well_formed_model_is_a_tflite_file() {
    let bytes = write(&dense()).unwrap();
    assert!(flatbuffers::buffer_has_identifier(&bytes, "TFL3", false));
    // The f32 weights are in the file, 16-byte aligned from its start.
    let weights: Vec<u8> = [0.5f32; 12].iter().flat_map(|v| v.to_le_bytes()).collect();
    let at = bytes
        .windows(weights.len())
        .position(|w| w == weights.as_slice())
        .expect("the weights are in the file");
    assert_eq!(at % 16, 0, "Buffer.data is force_align: 16");
    assert!(bytes.len() <= size_bound(&dense()));
}

#[test]
fn the_size_bound_covers_the_file() {
    let mut model = dense();
    // Long names, a quantized tensor and big metadata move every term.
    model.tensors[0].name = "x".repeat(1000);
    model.tensors[1].quantization = Some(Quantization {
        scale: vec![0.1, 0.2, 0.3],
        zero_point: vec![0, 0, 0],
        quantized_dimension: 0,
    });
    model.metadata.push(("big".into(), vec![7; 100_003]));
    let bytes = write(&model).unwrap();
    assert!(
        bytes.len() <= size_bound(&model),
        "{} > {}",
        bytes.len(),
        size_bound(&model)
    );
}

#[test]
fn past_two_gigabytes_is_too_large() {
    assert!(fits(MAX_BYTES).is_ok());
    match fits(MAX_BYTES + 1) {
        Err(ExportError::TooLarge { bytes }) => assert_eq!(bytes, MAX_BYTES + 1),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn a_tensor_id_out_of_range_is_named() {
    let mut model = dense();
    model.operators[0].inputs[1] = Some(TensorId(99));
    assert_mentions(
        &mismatch(&model),
        &[
            "operator 0",
            "FULLY_CONNECTED",
            "input 1",
            "tensor 99",
            "4 tensors",
        ],
    );

    let mut model = dense();
    model.operators[0].outputs[0] = TensorId(4);
    assert_mentions(&mismatch(&model), &["output 0", "tensor 4"]);

    let mut model = dense();
    model.inputs.push(TensorId(17));
    assert_mentions(&mismatch(&model), &["model input 1", "tensor 17"]);

    let mut model = dense();
    model.outputs[0] = TensorId(5);
    assert_mentions(&mismatch(&model), &["model output 0", "tensor 5"]);
}

#[test]
fn a_constant_of_the_wrong_length_is_named() {
    let mut model = dense();
    model.tensors[1].data.as_mut().unwrap().pop();
    assert_mentions(&mismatch(&model), &["`w`", "47 bytes", "48"]);

    let mut model = dense();
    model.tensors[2].dtype = TensorType::Int64;
    assert_mentions(&mismatch(&model), &["`b`", "12 bytes", "24"]);

    let mut model = dense();
    model.tensors[1].shape = vec![3, -4];
    assert_mentions(&mismatch(&model), &["`w`", "-4"]);

    let mut model = dense();
    model.tensors[1].batched = true;
    assert_mentions(&mismatch(&model), &["`w`", "batch"]);
}

#[test]
fn a_quantization_that_disagrees_with_its_tensor_is_named() {
    let quantized = |scale: Vec<f32>, zero_point: Vec<i64>, quantized_dimension: i32| {
        let mut model = dense();
        model.tensors[1].quantization = Some(Quantization {
            scale,
            zero_point,
            quantized_dimension,
        });
        model
    };
    // Per-channel along axis 0 (3 outputs) is fine; so is one scale.
    write(&quantized(vec![0.1; 3], vec![0; 3], 0)).unwrap();
    write(&quantized(vec![0.1], vec![0], 0)).unwrap();
    let reason = mismatch(&quantized(vec![0.1; 3], vec![0; 2], 0));
    assert_mentions(&reason, &["`w`", "3 quantization scales", "2 zero points"]);
    let reason = mismatch(&quantized(vec![0.1; 4], vec![0; 4], 0));
    assert_mentions(
        &reason,
        &["`w`", "4 quantization scales", "dimension 0", "size 3"],
    );
    let reason = mismatch(&quantized(vec![0.1; 4], vec![0; 4], 2));
    assert_mentions(&reason, &["`w`", "dimension 2", "rank 2"]);
    let reason = mismatch(&quantized(vec![], vec![], 0));
    assert_mentions(&reason, &["`w`", "no quantization scale"]);
    let reason = mismatch(&quantized(vec![f32::NAN], vec![0], 0));
    assert_mentions(&reason, &["`w`", "NaN"]);
}

#[test]
fn reading_a_tensor_before_it_is_defined_is_named() {
    let mut model = dense();
    // A RELU after the FC whose output feeds the FC: out of order.
    let z = model.push_tensor(Tensor::activation("z", &[3]));
    model.operators.insert(
        0,
        crate::tflite::model::Operator {
            op: Op::Relu,
            inputs: vec![Some(TensorId(3))],
            outputs: vec![z],
        },
    );
    assert_mentions(
        &mismatch(&model),
        &["operator 0 (RELU)", "tensor 3", "`y`", "before"],
    );

    // An activation nothing computes, as an output.
    let mut model = dense();
    let orphan = model.push_tensor(Tensor::activation("orphan", &[2]));
    model.outputs.push(orphan);
    assert_mentions(
        &mismatch(&model),
        &["model output 1", "`orphan`", "no operator"],
    );

    // An operator overwriting a constant.
    let mut model = dense();
    model.operators[0].outputs = vec![TensorId(2)];
    assert_mentions(&mismatch(&model), &["FULLY_CONNECTED", "`b`", "already"]);
}

#[test]
fn operands_litert_cannot_take_are_named() {
    let mut model = dense();
    model.operators[0].inputs.push(Some(TensorId(2)));
    assert_mentions(
        &mismatch(&model),
        &["FULLY_CONNECTED", "4 inputs", "2 to 3"],
    );

    let mut model = dense();
    model.operators[0].inputs[1] = None;
    assert_mentions(&mismatch(&model), &["omits input 1"]);

    // A convolution without bias (LiteRT refuses or crashes).
    let mut model = dense();
    model.operators[0].op = Op::Conv2d {
        padding: Padding::Same,
        stride: [1, 1],
        dilation: [1, 1],
        activation: Activation::None,
    };
    model.operators[0].inputs[2] = None;
    assert_mentions(&mismatch(&model), &["CONV_2D", "omits input 2"]);

    let mut model = dense();
    model.operators[0].op = Op::Concatenation {
        axis: 1,
        activation: Activation::Relu6,
    };
    model.operators[0].inputs.truncate(1);
    assert_mentions(&mismatch(&model), &["CONCATENATION", "Relu6"]);

    let mut model = dense();
    model.operators[0].outputs.push(TensorId(0));
    assert_mentions(&mismatch(&model), &["2 outputs"]);
}

#[test]
fn a_constant_as_model_input_is_named() {
    let mut model = dense();
    model.inputs.push(TensorId(1));
    assert_mentions(&mismatch(&model), &["model input 1", "`w`", "constant"]);
}

#[test]
fn versions_follow_the_operand_types() {
    let sig = |inputs: Vec<Option<&'static Tensor>>, output: &'static Tensor| options::Signature {
        inputs,
        outputs: vec![output],
    };
    let leak = |t: Tensor| -> &'static Tensor { Box::leak(Box::new(t)) };
    let int8 = |name: &str, scales: usize| {
        leak(Tensor {
            dtype: TensorType::Int8,
            quantization: Some(Quantization {
                scale: vec![0.1; scales],
                zero_point: vec![0; scales],
                quantized_dimension: 0,
            }),
            ..Tensor::activation(name, &[scales])
        })
    };
    let f32 = |name: &str| leak(Tensor::activation(name, &[4]));
    let fc = Op::FullyConnected {
        activation: Activation::None,
        keep_num_dims: false,
    };
    let int8_fc = sig(
        vec![Some(int8("x", 1)), Some(int8("w", 3)), Some(f32("b"))],
        int8("y", 1),
    );
    assert_eq!(options::version(&fc, &int8_fc), 4);
    let float_fc = sig(vec![Some(f32("x")), Some(f32("w")), None], f32("y"));
    assert_eq!(options::version(&fc, &float_fc), 1);
    let two_inputs = sig(vec![Some(f32("x")), Some(f32("w"))], f32("y"));
    assert_eq!(options::version(&fc, &two_inputs), 6);
    let conv = Op::Conv2d {
        padding: Padding::Valid,
        stride: [1, 1],
        dilation: [1, 1],
        activation: Activation::None,
    };
    assert_eq!(options::version(&conv, &int8_fc), 3);
    let dequantize = sig(vec![Some(int8("q", 1))], f32("y"));
    assert_eq!(options::version(&Op::Dequantize, &dequantize), 2);
}
