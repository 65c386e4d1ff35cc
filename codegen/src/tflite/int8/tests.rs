//! The int8 export of small quantized models, run by a naive interpreter
//! of TFLite's operators ([`super::reference`]) and held to nnspec's int8
//! executor bit for bit; LiteRT runs the examples in tests/tflite_int8.rs.

use nnspec_dsl::ir;
use nnspec_runtime::infer;
use nnspec_runtime::quantize::{self, CalibrationMethod};
use nnspec_runtime_core::quant::plan::{QPlan, QStep};

use super::super::model::{Activation, Op, Padding, TensorType};
use super::super::{ExportError, TfModel, export_int8};
use super::reference;

fn compile(source: &str) -> ir::Model {
    let compiled = nnspec_dsl::compile(source);
    assert!(!compiled.has_errors(), "{}", compiled.render("test.nn"));
    compiled.models[0].clone()
}

/// Deterministic values in `[-1, 1)`.
fn pattern(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// `model` with patterned weights, calibrated on `samples` patterned
/// inputs and quantized.
fn quantized(model: &ir::Model, samples: usize) -> (QPlan, Vec<f32>) {
    let plan = crate::lower_inference(model);
    let params: Vec<f32> = pattern(infer::params_len(&plan), 7)
        .iter()
        .map(|w| w * 0.4)
        .collect();
    let width: usize = plan.input_shapes[0].iter().product();
    let inputs = pattern(samples * width, 11);
    let calibration =
        quantize::calibrate(&plan, &params, &inputs, samples, CalibrationMethod::MinMax)
            .expect("calibrates");
    let qplan = quantize::build(&plan, &params, &calibration).expect("quantizes");
    (qplan, inputs)
}

/// `values` of per-sample `[C, H, W]` (or `[C, L]`) channels-last.
fn channels_last(values: &[f32], dims: &[usize]) -> Vec<f32> {
    if !(2..=3).contains(&dims.len()) {
        return values.to_vec();
    }
    let (channels, positions) = (dims[0], dims[1..].iter().product::<usize>());
    let size = channels * positions;
    let mut out = vec![0.0; values.len()];
    for (s, sample) in values.chunks(size).enumerate() {
        for c in 0..channels {
            for p in 0..positions {
                out[s * size + p * channels + c] = sample[c * positions + p];
            }
        }
    }
    out
}

/// The export run by the reference at nnspec's range equals nnspec's int8
/// executor, bit for bit (inputs past the calibrated range included:
/// both clamp them alike at that range).
fn assert_runs_as_nnspec(model: &ir::Model, samples: usize) -> TfModel {
    let (qplan, inputs) = quantized(model, samples);
    let tf = export_int8(model, &qplan).unwrap_or_else(|e| panic!("{e}"));
    let mut test = pattern(inputs.len(), 99);
    // Some inputs past the calibrated range, both ways.
    for v in test.iter_mut().step_by(13) {
        *v *= 1.5;
    }
    let want = quantize::run_int8(&qplan, &test).expect("int8 run");
    let dims = model.value(model.inputs[0]).shape.dims().to_vec();
    let got = reference::run(&tf, &channels_last(&test, &dims), samples, -1);
    let out_dims = model.value(model.outputs[0].value).shape.dims().to_vec();
    let want = channels_last(&want, &out_dims);
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{}: output {i}: TFLite {g}, nnspec {w}",
            model.name
        );
    }
    tf
}

fn op_names(tf: &TfModel) -> Vec<String> {
    tf.operators
        .iter()
        .map(|o| {
            format!("{:?}", o.op)
                .split([' ', '{'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[test]
fn an_mlp_is_quantize_fully_connected_dequantize() {
    let model = compile(
        "model Mlp {
    input x: f32[12];
    output logits = x -> dense(8) as fc1 -> relu -> dense(5) as fc2;
}",
    );
    let tf = assert_runs_as_nnspec(&model, 40);
    assert_eq!(
        op_names(&tf),
        [
            "Minimum",
            "Quantize",
            "FullyConnected",
            "FullyConnected",
            "Dequantize"
        ]
    );
    assert_eq!(
        tf.operators[2].op,
        Op::FullyConnected {
            activation: Activation::Relu,
            keep_num_dims: false
        }
    );
    let input = tf.tensor(tf.inputs[0]);
    assert_eq!(
        (input.name.as_str(), input.shape.as_slice(), input.dtype),
        ("x", &[1, 12][..], TensorType::Float32)
    );
    assert!(input.batched);
    let output = tf.tensor(tf.outputs[0]);
    assert_eq!(
        (output.name.as_str(), output.shape.as_slice(), output.dtype),
        ("logits", &[1, 5][..], TensorType::Float32)
    );
    let (qplan, _) = quantized(&model, 40);
    // Activations: the same scale, the zero point 128 lower.
    let quantized_x = tf.tensor(tf.operators[1].outputs[0]);
    let q = quantized_x.quantization.as_ref().expect("quantized");
    assert_eq!(quantized_x.dtype, TensorType::Int8);
    assert_eq!(q.scale, [qplan.tensors[0].q.scale]);
    assert_eq!(q.zero_point, [qplan.tensors[0].q.zero_point as i64 - 128]);
    // Weights per channel with zero points 0, biases at x_scale · w_scale.
    let fc1 = &tf.operators[2];
    let weight = tf.tensor(fc1.inputs[1].unwrap());
    let wq = weight.quantization.as_ref().unwrap();
    assert_eq!(
        (weight.shape.as_slice(), weight.dtype),
        (&[8, 12][..], TensorType::Int8)
    );
    assert_eq!(wq.scale, qplan.layers[0].weight_scale);
    assert_eq!(
        (wq.zero_point.as_slice(), wq.quantized_dimension),
        (&[0; 8][..], 0)
    );
    let want: Vec<u8> = qplan.layers[0].weight.iter().map(|&w| w as u8).collect();
    assert_eq!(weight.data.as_deref(), Some(&want[..]));
    let bias = tf.tensor(fc1.inputs[2].unwrap());
    assert_eq!(bias.dtype, TensorType::Int32);
    let bq = bias.quantization.as_ref().unwrap();
    let x_scale = qplan.tensors[0].q.scale;
    let scales: Vec<f32> = qplan.layers[0]
        .weight_scale
        .iter()
        .map(|w| x_scale * w)
        .collect();
    assert_eq!(bq.scale, scales);
}

/// Convolutions with `SAME` padding, with padding `SAME` cannot express
/// (a `PAD`), strided and dilated; max pooling; a dense layer reading the
/// flattened channels-last image through permuted weight columns.
#[test]
fn a_cnn_runs_as_nnspec_int8() {
    let model = compile(
        "model Cnn {
    input x: f32[2, 9, 9];
    output logits = x
        -> conv2d(4, kernel: 3, padding: 1) as c1 -> relu
        -> conv2d(3, kernel: 3, padding: 2, stride: 2) as c2
        -> conv2d(5, kernel: 2, dilation: 2) as c3 -> relu
        -> maxpool2d(2)
        -> flatten -> dense(6) as fc;
}",
    );
    let tf = assert_runs_as_nnspec(&model, 24);
    let names = op_names(&tf);
    assert_eq!(
        names,
        [
            "Minimum",
            "Quantize",
            "Conv2d",
            "Pad",
            "Conv2d",
            "Conv2d",
            "MaxPool2d",
            "FullyConnected",
            "Dequantize"
        ],
    );
    let Op::Conv2d { padding, .. } = tf.operators[2].op else {
        panic!()
    };
    assert_eq!(padding, Padding::Same);
    // The filter is OHWI.
    let filter = tf.tensor(tf.operators[2].inputs[1].unwrap());
    assert_eq!(filter.shape, [4, 3, 3, 2]);
    let input = tf.tensor(tf.inputs[0]);
    assert_eq!(input.shape, [1, 9, 9, 2]);
}

/// A dense layer at every position of a `[len, in]` input: transposed to
/// rows, `keep_num_dims`, transposed back.
#[test]
fn a_positionwise_dense_layer_runs_as_nnspec_int8() {
    let model = compile(
        "model Rows {
    input x: f32[4, 6];
    output logits = x -> dense(5) as rows -> relu -> flatten -> dense(3) as head;
}",
    );
    let tf = assert_runs_as_nnspec(&model, 16);
    assert!(tf.operators.iter().any(|o| o.op
        == Op::FullyConnected {
            activation: Activation::Relu,
            keep_num_dims: true
        }));
}

/// A one-row convolution and pooling (`[C, L]` read as the `[C, 1, L]`
/// images the int8 steps see, a RESHAPE in NHWC) before a dense layer.
#[test]
fn one_dimensional_layers_run_as_nnspec_int8() {
    let model = compile(
        "model Line {
    input x: f32[3, 10];
    output logits = x -> conv1d(4, kernel: 3, padding: 1) as conv -> relu -> maxpool1d(2)
        -> flatten -> dense(5) as head;
}",
    );
    let tf = assert_runs_as_nnspec(&model, 16);
    assert!(
        !op_names(&tf).iter().any(|op| op == "Transpose"),
        "{:?}",
        op_names(&tf)
    );
}

/// A step without an int8 kernel runs in f32 through the float export's
/// operators, after a `DEQUANTIZE` (and before a `QUANTIZE` when an int8
/// step reads its result).
#[test]
fn a_float_step_runs_in_f32_after_a_dequantize() {
    let model = compile(
        "model Sig {
    input x: f32[6];
    output y = x -> dense(4) as fc -> sigmoid as squash;
}",
    );
    let (qplan, _) = quantized(&model, 8);
    let tf = export_int8(&model, &qplan).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        op_names(&tf),
        [
            "Minimum",
            "Quantize",
            "FullyConnected",
            "Dequantize",
            "Logistic"
        ],
        "the plan's quantized copy of the output, which nothing reads, is left out"
    );
    let logistic = &tf.operators[4];
    assert_eq!(
        tf.tensor(logistic.inputs[0].unwrap()).dtype,
        TensorType::Float32
    );
    assert_eq!(tf.tensor(logistic.outputs[0]).dtype, TensorType::Float32);
    let output = tf.tensor(tf.outputs[0]);
    assert_eq!(
        (output.name.as_str(), output.dtype),
        ("y", TensorType::Float32)
    );
}

/// A layer with no int8 kernel and many f32 operators (an LSTM unrolled)
/// sits between the quantized input's `DEQUANTIZE` and the `QUANTIZE` of
/// the int8 layer after it.
#[test]
fn an_lstm_runs_in_f32_between_int8_steps() {
    let model = compile(
        "model Rnn {
    input rows: f32[4, 3];
    output logits = rows -> dense(3) as embed -> lstm(5) as rnn -> last -> dense(2) as head;
}",
    );
    let (qplan, _) = quantized(&model, 8);
    let tf = export_int8(&model, &qplan).unwrap_or_else(|e| panic!("{e}"));
    let names = op_names(&tf);
    let dequantize = names
        .iter()
        .position(|n| n == "Dequantize")
        .expect("a DEQUANTIZE");
    let quantize = names
        .iter()
        .rposition(|n| n == "Quantize")
        .expect("a QUANTIZE");
    assert!(
        names[dequantize + 1..quantize]
            .iter()
            .any(|n| n == "Logistic"),
        "{names:?}"
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("Dequantize"),
        "{names:?}"
    );
}

#[test]
fn a_plan_of_another_model_is_refused() {
    let one = compile("model A {\n    input x: f32[6];\n    output y = x -> dense(4) as fc;\n}");
    let other = compile("model A {\n    input x: f32[6];\n    output y = x -> dense(3) as fc;\n}");
    let (qplan, _) = quantized(&one, 8);
    let error = export_int8(&other, &qplan).expect_err("another model");
    assert!(matches!(error, ExportError::Mismatch(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("was not quantized from model `A`"),
        "{error}"
    );
}

/// A plan read from a file could hold a window no model has: refused,
/// not a division by zero.
#[test]
fn a_convolution_with_a_zero_stride_is_refused() {
    let model = compile(
        "model C {\n    input x: f32[1, 6, 6];\n    output y = x -> conv2d(2, kernel: 3) as conv;\n}",
    );
    let (mut qplan, _) = quantized(&model, 8);
    for step in &mut qplan.steps {
        if let QStep::Conv2d { shape, .. } = step {
            shape.stride = [0, 1];
        }
    }
    let error = export_int8(&model, &qplan).expect_err("a zero stride");
    assert!(
        error
            .to_string()
            .contains("`conv` has a window that does not fit"),
        "{error}"
    );
}

/// Token ids stay an integer input (as the float export writes it) that
/// only the float embedding reads.
#[test]
fn token_ids_reach_the_float_embedding() {
    let model = compile(
        "model Tok {
    input tokens: i64[4];
    output y = tokens -> embedding(10, 3) as emb -> flatten -> dense(2) as head;
}",
    );
    let plan = crate::lower_inference(&model);
    let params: Vec<f32> = pattern(infer::params_len(&plan), 3);
    let inputs: Vec<f32> = (0..32).map(|i| (i * 7 % 10) as f32).collect();
    let calibration = quantize::calibrate(&plan, &params, &inputs, 8, CalibrationMethod::MinMax)
        .expect("calibrates");
    let qplan = quantize::build(&plan, &params, &calibration).expect("quantizes");
    let tf = export_int8(&model, &qplan).unwrap_or_else(|e| panic!("{e}"));
    let input = tf.tensor(tf.inputs[0]);
    assert_eq!(
        (input.name.as_str(), input.shape.as_slice()),
        ("tokens", &[1, 4][..])
    );
    assert!(
        matches!(input.dtype, TensorType::Int32 | TensorType::Int64),
        "{:?}",
        input.dtype
    );
    let names = op_names(&tf);
    assert!(names.contains(&"Gather".to_string()), "{names:?}");
    assert!(names.contains(&"FullyConnected".to_string()), "{names:?}");
}
