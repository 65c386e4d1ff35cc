//! The float export at the level of its plain data: which operators a
//! model becomes, in which layout, with which weights. Its numbers are
//! held to the executor through LiteRT by tests/tflite_float.rs.

use nnspec_dsl::ir::ValueId;

use super::Builder;
use super::layout::Layout;
use crate::onnx::initial_weights;
use crate::tflite::ExportError;
use crate::tflite::model::{Op, TensorType};

fn compile(source: &str) -> nnspec_dsl::ir::Model {
    let compiled = nnspec_dsl::compile(source);
    assert!(!compiled.has_errors(), "{}", compiled.render("test.nn"));
    compiled.models[0].clone()
}

fn op_names(source: &str) -> Vec<String> {
    let model = compile(source);
    let weights = initial_weights(&model, 1).expect("weights");
    let tf = super::model(&model, &weights).expect("exports");
    tf.operators
        .iter()
        .map(|op| {
            format!("{:?}", op.op)
                .split([' ', '{'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[test]
fn lenet_is_nhwc_with_the_flatten_folded_into_the_dense_weight() {
    let ops = op_names(
        "model L { input x: f32[1, 12, 12];
           output y = x -> conv2d(4, kernel: 5, padding: 2) -> relu -> maxpool2d(2)
                        -> flatten -> dense(3); }",
    );
    assert_eq!(
        ops,
        ["Conv2d", "MaxPool2d", "Reshape", "FullyConnected"],
        "SAME padding, the ReLU fused, no PAD and no TRANSPOSE"
    );
}

#[test]
fn the_dense_columns_follow_the_nhwc_order() {
    let model = compile(
        "model F { input x: f32[2, 1, 3]; output y = x -> flatten -> dense(1, bias: false) as fc; }",
    );
    let weights = initial_weights(&model, 3).expect("weights");
    let tf = model_of(&model, &weights);
    let original = weights.f32("fc.weight", &[1, 6]).expect("weight").to_vec();
    let weight = tf
        .tensors
        .iter()
        .find(|t| t.name == "fc.weight")
        .expect("the weight keeps its name");
    let stored: Vec<f32> = weight
        .data
        .as_ref()
        .expect("a constant")
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // HWC order of a [C=2, H=1, W=3] image: c0w0 c1w0 c0w1 c1w1 ...
    let expected: Vec<f32> = [0, 3, 1, 4, 2, 5].iter().map(|&i| original[i]).collect();
    assert_eq!(stored, expected);
    assert_eq!(
        tf.tensor(tf.inputs[0]).shape,
        vec![1, 1, 3, 2],
        "the input is NHWC"
    );
}

fn model_of(
    model: &nnspec_dsl::ir::Model,
    weights: &nnspec_runtime::safetensors_file::Checkpoint,
) -> crate::tflite::TfModel {
    super::model(model, weights).expect("exports")
}

#[test]
fn batchnorm_folds_into_the_convolution_it_alone_reads() {
    let ops = op_names(
        "model B { input x: f32[3, 8, 8];
           let h = x -> conv2d(4, kernel: 3, stride: 2, padding: 1, bias: false) -> batchnorm;
           output y = h -> hardswish -> conv2d(4, kernel: 3, groups: 4) -> global_avgpool2d
                        -> flatten -> dense(2) -> batchnorm; }",
    );
    assert_eq!(
        ops,
        [
            "Pad",
            "Conv2d",
            "HardSwish",
            "DepthwiseConv2d",
            "Mean",
            "Reshape",
            "FullyConnected"
        ],
    );
}

#[test]
fn a_batchnorm_read_elsewhere_too_stays_a_mul_and_add() {
    let ops = op_names(
        "model B { input x: f32[6];
           let h = x -> dense(6);
           output y = (h -> batchnorm) + h; }",
    );
    assert_eq!(ops, ["FullyConnected", "Mul", "Add", "Add"]);
    // A residual sum absorbs the ReLU that alone reads it.
    let model = compile("model R { input x: f32[6]; output y = relu(x -> dense(6) + x); }");
    let weights = initial_weights(&model, 1).expect("weights");
    let tf = super::model(&model, &weights).expect("exports");
    let last = &tf.operators.last().expect("operators").op;
    assert_eq!(
        last,
        &Op::Add {
            activation: crate::tflite::model::Activation::Relu
        }
    );
}

#[test]
fn softmax_and_mean_take_their_axes_where_the_layout_puts_them() {
    let ops = op_names(
        "model S { input x: f32[3, 4];
           output y = x -> softmax(axis: 0) -> mean(axis: 1); }",
    );
    // [C=3, L=4] arrives as [L, C]: axis 0 is already last.
    assert_eq!(ops, ["Softmax", "Mean"]);
    let ops = op_names("model S { input x: f32[3, 4]; output y = x -> softmax(axis: 1); }");
    // Axis 1 moves last for the softmax, and back for the output.
    assert_eq!(ops, ["Transpose", "Softmax", "Transpose"]);
}

#[test]
fn a_refusal_names_the_layer_and_its_op() {
    // Every layer exports today; a rule answering `Unsupported` is
    // reported through this.
    let model = compile("model R { input x: f32[5, 8]; output y = x -> lstm(4) as rnn -> last; }");
    let builder = Builder::new(&model);
    let error = builder.unsupported(ValueId(1), "the reason".into());
    assert!(matches!(
        &error,
        ExportError::Unsupported { layer, op, .. } if layer == "rnn" && op == "lstm"
    ));
    assert_eq!(
        error.to_string(),
        "layer `rnn` (lstm) cannot be exported to TFLite: the reason"
    );
}

#[test]
fn adaptive_pools_with_uneven_windows_average_rows_then_columns() {
    let ops =
        op_names("model A { input x: f32[2, 5, 9]; output y = x -> adaptive_avgpool2d([2, 2]); }");
    let slices = ops.iter().filter(|op| *op == "StridedSlice").count();
    let means = ops.iter().filter(|op| *op == "Mean").count();
    assert_eq!((slices, means), (4, 4), "{ops:?}");
}

#[test]
fn a_caller_can_set_where_a_value_is_read() {
    let model = compile("model M { input x: f32[4]; output y = x -> relu -> sigmoid; }");
    let weights = initial_weights(&model, 1).expect("weights");
    let mut builder = Builder::new(&model);
    builder.inputs();
    let x = builder.stored(ValueId(0)).expect("the input").tensor;
    builder.set_value(ValueId(1), x, Layout::natural(1));
    builder.value(ValueId(2), &weights).expect("sigmoid");
    builder.outputs();
    let tf = builder.finish();
    assert_eq!(tf.operators.len(), 1, "only the sigmoid is appended");
    assert_eq!(tf.operators[0].inputs, vec![Some(x)]);
    assert_eq!(tf.tensor(tf.outputs[0]).name, "y");
    assert_eq!(tf.tensor(tf.inputs[0]).dtype, TensorType::Float32);
    assert!(matches!(tf.operators[0].op, Op::Logistic));
}

#[test]
fn grouped_convolutions_run_per_group_on_sliced_channels() {
    let ops = op_names(
        "model G { input x: f32[4, 5, 5];
           output y = x -> conv2d(6, kernel: 3, padding: 1, stride: 2, groups: 2); }",
    );
    // On an odd size, stride 2 with padding 1 places SAME's windows.
    assert_eq!(
        ops,
        [
            "StridedSlice",
            "StridedSlice",
            "Conv2d",
            "Conv2d",
            "Concatenation"
        ]
    );
}

#[test]
fn a_relu_fuses_into_the_layer_it_alone_reads_unless_fusion_is_off() {
    let source = "model R { input x: f32[3, 6, 6];
        let c = x -> conv2d(4, kernel: 3) -> batchnorm -> relu;
        output y = c -> flatten -> dense(5) -> relu;
        output z = c -> global_avgpool2d; }";
    let model = compile(source);
    let weights = initial_weights(&model, 1).expect("weights");
    let tf = super::model(&model, &weights).expect("exports");
    let activations: Vec<String> = tf.operators.iter().map(|o| format!("{:?}", o.op)).collect();
    // The conv's result is read twice through the ReLU: the ReLU is the
    // only reader of the batchnorm, which is the only reader of the conv.
    assert!(
        activations[0].starts_with("Conv2d") && activations[0].contains("Relu"),
        "{activations:?}"
    );
    assert!(
        activations
            .iter()
            .any(|a| a.starts_with("FullyConnected") && a.contains("Relu")),
        "{activations:?}"
    );
    assert!(
        !activations
            .iter()
            .any(|a| a == "Relu" || a == "Mul { activation: None }")
    );
    let mut builder = Builder::new(&model).without_fusion();
    builder.inputs();
    for index in 0..model.values.len() {
        builder
            .value(ValueId(index as u32), &weights)
            .expect("value");
    }
    let plain = builder.finish();
    let relus = plain
        .operators
        .iter()
        .filter(|o| matches!(o.op, Op::Relu))
        .count();
    let muls = plain
        .operators
        .iter()
        .filter(|o| matches!(o.op, Op::Mul { .. }))
        .count();
    assert_eq!((relus, muls), (2, 1), "every layer its own operators");
}
