//! Which other int8 operators LiteRT takes, in the form the int8 export
//! would write them: f32 inputs -> QUANTIZE -> the operator on int8
//! tensors (with the output quantization LiteRT's kernel requires, where
//! it requires one) -> DEQUANTIZE, compared with the f64 reference on the
//! dequantized inputs within one output step (plus the f32 rounding).
//! Every int8 form here runs on LiteRT 2.3's builtin kernels and on its
//! XNNPACK delegate; SQUARE has no int8 kernel ("Type INT8 is unsupported
//! by op Square"), and DIV stops at a zero divisor ("data[i] !=
//! zero_point"). The output quantizations LiteRT requires: LOGISTIC and
//! SOFTMAX 1/256 from -128, TANH 1/128 about 0, LOG_SOFTMAX 16/256 down
//! from 127; MAXIMUM, MINIMUM, CONCATENATION and the data movements are
//! written with one quantization for inputs and output.

use nnspec::codegen::tflite::model::{Activation, Op, Tensor};

use super::build::{Arr, Graph, OpCase, Rng};
use super::int8::{Q, activation_tensor, int8_tensor, quantized_input};
use super::reference::{self, activate};

/// The operator's operands after its int8 inputs (i32 constants).
type Constants = Vec<Tensor>;

/// The f64 reference on the dequantized inputs.
type Reference = Box<dyn Fn(&[Arr]) -> Arr>;

struct Wrapped {
    name: String,
    op: Op,
    /// Each input's per-batch shape (batch first) and quantization.
    inputs: Vec<(Vec<usize>, Q)>,
    constants: Constants,
    output: Q,
    builtin: &'static str,
}

fn wrapped(rng: &mut Rng, spec: Wrapped, reference: impl Fn(&[Arr]) -> Arr) -> OpCase {
    let mut g = Graph::new(&spec.name);
    let mut dequantized = Vec::new();
    let mut operands = Vec::new();
    for (i, (shape, q)) in spec.inputs.iter().enumerate() {
        let (ints, x) = quantized_input(rng, shape, q);
        dequantized.push(Arr::new(
            shape,
            ints.iter()
                .map(|&v| (v - q.zero_point) as f64 * q.scale)
                .collect(),
        ));
        let id = g.input(&x);
        let tensor = activation_tensor(&format!("x{i}_q"), &shape[1..], q);
        operands.push(Some(g.op_to(Op::Quantize, vec![Some(id)], tensor)));
    }
    for tensor in spec.constants {
        operands.push(Some(g.constant(tensor)));
    }
    let out_q = &spec.output;
    let (lo, hi) = (
        (-128 - out_q.zero_point) as f64 * out_q.scale,
        (127 - out_q.zero_point) as f64 * out_q.scale,
    );
    let expected = reference(&dequantized).map(|v| v.clamp(lo, hi));
    let y_q = g.op_to(
        spec.op,
        operands,
        activation_tensor("y_q", &expected.shape[1..], out_q),
    );
    let y = g.op(Op::Dequantize, vec![Some(y_q)], &expected.shape[1..]);
    let mut case = g.finish(&[y], vec![expected], spec.builtin);
    case.absolute = out_q.scale * 1.01;
    case
}

fn q(scale: f64, zero_point: i32) -> Q {
    Q { scale, zero_point }
}

fn unary(
    name: &str,
    op: Op,
    builtin: &'static str,
    input: Q,
    output: Q,
    f: fn(f64) -> f64,
) -> (Wrapped, Reference) {
    let spec = Wrapped {
        name: format!("int8_{name}"),
        op,
        inputs: vec![(vec![3, 4, 6], input)],
        constants: vec![],
        output,
        builtin,
    };
    (spec, Box::new(move |x: &[Arr]| x[0].map(f)))
}

pub fn cases() -> Vec<OpCase> {
    let mut rng = Rng::new(21);
    let mut specs: Vec<(Wrapped, Reference)> = vec![
        unary("relu", Op::Relu, "RELU", q(0.05, 0), q(0.05, -128), |x| {
            x.max(0.0)
        }),
        unary(
            "relu6",
            Op::Relu6,
            "RELU6",
            q(0.05, 0),
            q(0.03, -128),
            |x| x.clamp(0.0, 6.0),
        ),
        // LOGISTIC and SOFTMAX give 1/256 steps from -128; TANH 1/128 about 0.
        unary(
            "logistic",
            Op::Logistic,
            "LOGISTIC",
            q(0.05, 3),
            q(1.0 / 256.0, -128),
            |x| 1.0 / (1.0 + (-x).exp()),
        ),
        unary(
            "tanh",
            Op::Tanh,
            "TANH",
            q(0.03, -2),
            q(1.0 / 128.0, 0),
            f64::tanh,
        ),
        unary(
            "hard_swish",
            Op::HardSwish,
            "HARD_SWISH",
            q(0.05, 0),
            q(0.05, -40),
            |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        ),
        unary(
            "leaky_relu",
            Op::LeakyRelu { alpha: 0.25 },
            "LEAKY_RELU",
            q(0.05, 0),
            q(0.05, 0),
            |x| if x > 0.0 { x } else { 0.25 * x },
        ),
        unary("elu", Op::Elu, "ELU", q(0.04, 0), q(0.04, 0), |x| {
            if x > 0.0 { x } else { x.exp() - 1.0 }
        }),
        unary(
            "gelu",
            Op::Gelu { approximate: false },
            "GELU",
            q(0.04, 0),
            q(0.03, -20),
            |x| reference::gelu(x, false),
        ),
        unary("abs", Op::Abs, "ABS", q(0.05, 0), q(0.05, -128), f64::abs),
        unary(
            "softmax",
            Op::Softmax { beta: 1.0 },
            "SOFTMAX",
            q(0.05, 0),
            q(1.0 / 256.0, -128),
            |_| 0.0,
        ),
    ];
    // SOFTMAX is along the last axis, not elementwise.
    let softmax = specs.pop().unwrap().0;
    specs.push((
        softmax,
        Box::new(|x: &[Arr]| reference::softmax(&x[0], 1.0, false)),
    ));
    // LOG_SOFTMAX gives 16/256 steps down from 127 (0 is the top).
    let (log_softmax, _) = unary(
        "log_softmax",
        Op::LogSoftmax,
        "LOG_SOFTMAX",
        q(0.05, 0),
        q(16.0 / 256.0, 127),
        |x| x,
    );
    specs.push((
        log_softmax,
        Box::new(|x: &[Arr]| reference::softmax(&x[0], 1.0, true)),
    ));
    // The maths where LiteRT has int8 kernels (not SQUARE: "Type INT8 is
    // unsupported by op Square"); positive inputs where the domain asks.
    specs.extend([
        unary("exp", Op::Exp, "EXP", q(0.02, 0), q(0.05, -128), f64::exp),
        unary("log", Op::Log, "LOG", q(0.05, -128), q(0.05, 0), |x| {
            x.max(1e-9).ln()
        }),
        unary(
            "sqrt",
            Op::Sqrt,
            "SQRT",
            q(0.05, -128),
            q(0.03, -128),
            |x| x.max(0.0).sqrt(),
        ),
        unary(
            "rsqrt",
            Op::Rsqrt,
            "RSQRT",
            q(0.05, -128),
            q(0.05, -128),
            |x| 1.0 / x.max(1e-9).sqrt(),
        ),
        unary("neg", Op::Neg, "NEG", q(0.05, 0), q(0.05, 0), |x| -x),
    ]);
    // DIV by a positive int8 constant (LiteRT stops at a zero divisor).
    let divisor: [i8; 5] = [-100, -60, 0, 50, 127];
    let divisor_q = q(0.03, -128);
    let divisor_values = Arr::new(
        &[5],
        divisor
            .iter()
            .map(|&v| (v as i32 - divisor_q.zero_point) as f64 * divisor_q.scale)
            .collect(),
    );
    specs.push((
        Wrapped {
            name: "int8_div".into(),
            op: Op::Div {
                activation: Activation::None,
            },
            inputs: vec![(vec![3, 4, 5], q(0.05, -3))],
            constants: vec![Tensor {
                data: Some(divisor.iter().map(|&v| v as u8).collect()),
                ..int8_tensor("divisor", vec![5], false, vec![0.03], vec![-128], 0)
            }],
            output: q(0.1, 0),
            builtin: "DIV",
        },
        Box::new(move |x: &[Arr]| reference::broadcast(&x[0], &divisor_values, |a, b| a / b)),
    ));

    let same = || q(0.05, -3);
    for (name, builtin, activation, f) in [
        (
            "add",
            "ADD",
            Activation::None,
            (|a, b| a + b) as fn(f64, f64) -> f64,
        ),
        ("add_relu", "ADD", Activation::Relu, |a, b| a + b),
        ("sub", "SUB", Activation::None, |a, b| a - b),
        ("mul", "MUL", Activation::None, |a, b| a * b),
        ("maximum", "MAXIMUM", Activation::None, f64::max),
        ("minimum", "MINIMUM", Activation::None, f64::min),
    ] {
        let op = match name {
            "add" | "add_relu" => Op::Add { activation },
            "sub" => Op::Sub { activation },
            "mul" => Op::Mul { activation },
            "maximum" => Op::Maximum,
            _ => Op::Minimum,
        };
        // MAXIMUM and MINIMUM compare the integers: one quantization for all.
        let (a, b, out) = if builtin.starts_with('M') && builtin != "MUL" {
            (same(), same(), same())
        } else {
            (
                q(0.05, -3),
                q(0.03, 7),
                q(if builtin == "MUL" { 0.2 } else { 0.08 }, 2),
            )
        };
        let spec = Wrapped {
            name: format!("int8_{name}"),
            op,
            inputs: vec![(vec![3, 4, 5], a), (vec![3, 4, 5], b)],
            constants: vec![],
            output: out,
            builtin,
        };
        specs.push((
            spec,
            Box::new(move |x: &[Arr]| {
                reference::broadcast(&x[0], &x[1], f).map(|v| activate(v, activation))
            }),
        ));
    }

    // Data movement keeps the input's quantization.
    let i32s = |name: &str, values: &[i32]| Tensor::i32_constant(name, &[values.len()], values);
    let moves: Vec<(Wrapped, Reference)> = vec![
        (
            Wrapped {
                name: "int8_reshape".into(),
                op: Op::Reshape,
                inputs: vec![(vec![3, 4, 6], same())],
                constants: vec![i32s("shape", &[-1, 24])],
                output: same(),
                builtin: "RESHAPE",
            },
            Box::new(|x: &[Arr]| Arr::new(&[3, 24], x[0].data.clone())),
        ),
        (
            Wrapped {
                name: "int8_transpose".into(),
                op: Op::Transpose,
                inputs: vec![(vec![3, 4, 6], same())],
                constants: vec![i32s("perm", &[0, 2, 1])],
                output: same(),
                builtin: "TRANSPOSE",
            },
            Box::new(|x: &[Arr]| reference::transpose(&x[0], &[0, 2, 1])),
        ),
        (
            Wrapped {
                name: "int8_pad".into(),
                op: Op::Pad,
                inputs: vec![(vec![3, 4, 6], same())],
                constants: vec![Tensor::i32_constant(
                    "paddings",
                    &[3, 2],
                    &[0, 0, 1, 2, 0, 1],
                )],
                output: same(),
                builtin: "PAD",
            },
            Box::new(|x: &[Arr]| reference::pad(&x[0], &[(0, 0), (1, 2), (0, 1)], 0.0)),
        ),
        (
            Wrapped {
                name: "int8_concatenation".into(),
                op: Op::Concatenation {
                    axis: 2,
                    activation: Activation::None,
                },
                inputs: vec![(vec![3, 4, 2], same()), (vec![3, 4, 3], same())],
                constants: vec![],
                output: same(),
                builtin: "CONCATENATION",
            },
            Box::new(|x: &[Arr]| reference::concatenate(&[&x[0], &x[1]], 2)),
        ),
        (
            Wrapped {
                name: "int8_mean".into(),
                op: Op::Mean { keep_dims: false },
                inputs: vec![(vec![3, 4, 6], same())],
                constants: vec![i32s("axes", &[1])],
                output: q(0.02, 1),
                builtin: "MEAN",
            },
            Box::new(|x: &[Arr]| reference::reduce(&x[0], &[1], false, true)),
        ),
        (
            Wrapped {
                name: "int8_sum".into(),
                op: Op::Sum { keep_dims: true },
                inputs: vec![(vec![3, 4, 6], same())],
                constants: vec![i32s("axes", &[2])],
                output: q(0.3, -1),
                builtin: "SUM",
            },
            Box::new(|x: &[Arr]| reference::reduce(&x[0], &[2], true, false)),
        ),
        (
            Wrapped {
                name: "int8_padv2".into(),
                op: Op::PadV2,
                inputs: vec![(vec![3, 4, 6], same())],
                constants: vec![
                    Tensor::i32_constant("paddings", &[3, 2], &[0, 0, 2, 0, 1, 1]),
                    // The pad value, an int8 scalar in the input's quantization.
                    Tensor {
                        data: Some(vec![17]),
                        ..int8_tensor("value", vec![], false, vec![0.05], vec![-3], 0)
                    },
                ],
                output: same(),
                builtin: "PADV2",
            },
            Box::new(|x: &[Arr]| {
                reference::pad(&x[0], &[(0, 0), (2, 0), (1, 1)], (17.0 + 3.0) * 0.05)
            }),
        ),
        (
            Wrapped {
                name: "int8_strided_slice".into(),
                op: Op::StridedSlice {
                    begin_mask: 1,
                    end_mask: 1,
                    shrink_axis_mask: 0,
                },
                inputs: vec![(vec![3, 4, 6], same())],
                constants: vec![
                    i32s("begin", &[0, 1, 0]),
                    i32s("end", &[0, 4, 5]),
                    i32s("strides", &[1, 2, 2]),
                ],
                output: same(),
                builtin: "STRIDED_SLICE",
            },
            Box::new(|x: &[Arr]| {
                reference::strided_slice(&x[0], &[0, 1, 0], &[0, 4, 5], &[1, 2, 2], 1, 1, 0)
            }),
        ),
        (
            Wrapped {
                name: "int8_gather".into(),
                op: Op::Gather { axis: 2 },
                inputs: vec![(vec![3, 4, 6], same())],
                constants: vec![i32s("indices", &[5, 0, 3])],
                output: same(),
                builtin: "GATHER",
            },
            Box::new(|x: &[Arr]| reference::gather(&x[0], &[5, 0, 3], 2)),
        ),
        (
            Wrapped {
                name: "int8_batch_matmul".into(),
                op: Op::BatchMatMul {
                    adj_x: false,
                    adj_y: false,
                },
                inputs: vec![(vec![3, 2, 4], q(0.05, -3)), (vec![3, 4, 5], q(0.04, 0))],
                constants: vec![],
                output: q(0.1, 4),
                builtin: "BATCH_MATMUL",
            },
            Box::new(|x: &[Arr]| reference::batch_matmul(&x[0], &x[1], false, false)),
        ),
    ];
    specs.extend(moves);
    specs
        .into_iter()
        .map(|(spec, f)| wrapped(&mut rng, spec, f))
        .collect()
}
