//! The activations, the unary maths, the binary operators with
//! broadcasting and fused activations, SOFTMAX, LOG_SOFTMAX, and QUANTIZE
//! and DEQUANTIZE between f32 and int8.

use nnspec::codegen::tflite::model::{Activation, Op, Quantization, Tensor, TensorType};

use super::build::{Arr, Graph, OpCase, Rng, unary_case};
use super::reference::{self, activate};

fn unaries(rng: &mut Rng) -> Vec<OpCase> {
    type Unary = (&'static str, Op, fn(f64) -> f64, bool);
    let table: Vec<Unary> = vec![
        ("RELU", Op::Relu, |x| x.max(0.0), false),
        ("RELU6", Op::Relu6, |x| x.clamp(0.0, 6.0), false),
        (
            "LOGISTIC",
            Op::Logistic,
            |x| 1.0 / (1.0 + (-x).exp()),
            false,
        ),
        ("TANH", Op::Tanh, f64::tanh, false),
        (
            "HARD_SWISH",
            Op::HardSwish,
            |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            false,
        ),
        (
            "ELU",
            Op::Elu,
            |x| if x > 0.0 { x } else { x.exp() - 1.0 },
            false,
        ),
        (
            "GELU",
            Op::Gelu { approximate: false },
            |x| reference::gelu(x, false),
            false,
        ),
        (
            "GELU",
            Op::Gelu { approximate: true },
            |x| reference::gelu(x, true),
            false,
        ),
        (
            "LEAKY_RELU",
            Op::LeakyRelu { alpha: 0.25 },
            |x| if x > 0.0 { x } else { 0.25 * x },
            false,
        ),
        ("EXP", Op::Exp, f64::exp, false),
        ("LOG", Op::Log, f64::ln, true),
        ("SQRT", Op::Sqrt, f64::sqrt, true),
        ("RSQRT", Op::Rsqrt, |x| 1.0 / x.sqrt(), true),
        ("SQUARE", Op::Square, |x| x * x, false),
        ("ABS", Op::Abs, f64::abs, false),
        ("NEG", Op::Neg, |x| -x, false),
    ];
    table
        .into_iter()
        .enumerate()
        .map(|(i, (builtin, op, f, positive))| {
            let x = if positive {
                rng.arr(&[3, 4, 5], 0.05, 9.0)
            } else {
                rng.arr(&[3, 4, 5], -7.0, 7.0)
            };
            let name = format!("{}_{i}", builtin.to_lowercase());
            unary_case(&name, op, &x, x.map(f), builtin)
        })
        .collect()
}

fn softmaxes(rng: &mut Rng) -> Vec<OpCase> {
    let mut cases = Vec::new();
    for beta in [1.0f32, 0.5] {
        let x = rng.arr(&[3, 2, 7], -6.0, 6.0);
        let expected = reference::softmax(&x, beta as f64, false);
        cases.push(unary_case(
            &format!("softmax_beta{beta}"),
            Op::Softmax { beta },
            &x,
            expected,
            "SOFTMAX",
        ));
    }
    let x = rng.arr(&[2, 9], -6.0, 6.0);
    let expected = reference::softmax(&x, 1.0, true);
    cases.push(unary_case(
        "log_softmax",
        Op::LogSoftmax,
        &x,
        expected,
        "LOG_SOFTMAX",
    ));
    cases
}

type Binary = fn(f64, f64) -> f64;
/// The builtin's name, the operator with a fused activation, the maths.
type BinaryOp = (&'static str, fn(Activation) -> Op, Binary);

fn binaries(rng: &mut Rng) -> Vec<OpCase> {
    let mut cases = Vec::new();
    let table: Vec<BinaryOp> = vec![
        ("ADD", |activation| Op::Add { activation }, |a, b| a + b),
        ("SUB", |activation| Op::Sub { activation }, |a, b| a - b),
        ("MUL", |activation| Op::Mul { activation }, |a, b| a * b),
        ("DIV", |activation| Op::Div { activation }, |a, b| a / b),
        ("MAXIMUM", |_| Op::Maximum, f64::max),
        ("MINIMUM", |_| Op::Minimum, f64::min),
    ];
    for (builtin, make, f) in table {
        let fused = !matches!(make(Activation::None), Op::Maximum | Op::Minimum);
        let activations: &[Activation] = if fused {
            &[Activation::None, Activation::Relu, Activation::Relu6]
        } else {
            &[Activation::None]
        };
        for (i, &activation) in activations.iter().enumerate() {
            let a = rng.arr(&[3, 4, 5], -5.0, 5.0);
            // The divisor stays away from 0.
            let mut b = rng.arr(&[3, 4, 5], 0.5, 3.0);
            if builtin != "DIV" {
                b = rng.arr(&[3, 4, 5], -5.0, 5.0);
            }
            let mut g =
                Graph::new(&format!("{}_{activation:?}", builtin.to_lowercase()).to_lowercase());
            let (ia, ib) = (g.input(&a), g.input(&b));
            let expected = reference::broadcast(&a, &b, f).map(|v| activate(v, activation));
            let out = g.op(make(activation), vec![Some(ia), Some(ib)], &[4, 5]);
            cases.push(g.finish(&[out], vec![expected], builtin));
            if i == 0 {
                // A constant broadcast along the last axis, on either side.
                let c = rng.arr(&[5], 0.5, 3.0);
                for constant_first in [false, true] {
                    let name = format!("{}_broadcast_{constant_first}", builtin.to_lowercase());
                    let mut g = Graph::new(&name);
                    let ia = g.input(&a);
                    let ic = g.f32_constant("c", &c);
                    let (inputs, expected) = if constant_first {
                        (vec![Some(ic), Some(ia)], reference::broadcast(&c, &a, f))
                    } else {
                        (vec![Some(ia), Some(ic)], reference::broadcast(&a, &c, f))
                    };
                    let out = g.op(make(activation), inputs, &[4, 5]);
                    cases.push(g.finish(&[out], vec![expected], builtin));
                }
            }
        }
    }
    cases
}

/// TFLite's affine quantization: round half away from zero, then clamp.
fn quantize(x: f64, scale: f64, zero_point: i64) -> f64 {
    ((x / scale).round() as i64 + zero_point).clamp(-128, 127) as f64
}

fn int8_activation(name: &str, per_sample: &[usize], scale: f32, zero_point: i64) -> Tensor {
    Tensor {
        dtype: TensorType::Int8,
        quantization: Some(Quantization {
            scale: vec![scale],
            zero_point: vec![zero_point],
            quantized_dimension: 0,
        }),
        ..Tensor::activation(name, per_sample)
    }
}

fn quantize_cases(rng: &mut Rng) -> Vec<OpCase> {
    let (scale, zero_point) = (0.0625f32, -3);
    // Values a quarter step off the grid, so rounding has no ties, and
    // some past the int8 range on both sides, so clamping is tested.
    let steps: Vec<f64> = (0..60)
        .map(|_| {
            (rng.uniform(-150.0, 150.0).round() + if rng.unit() < 0.5 { 0.25 } else { -0.25 })
                * scale as f64
        })
        .collect();
    let x = Arr::new(&[3, 20], steps);
    let q = x.map(|v| quantize(v, scale as f64, zero_point));

    let mut g = Graph::new("quantize");
    let input = g.input(&x);
    let out = g.op_to(
        Op::Quantize,
        vec![Some(input)],
        int8_activation("q", &[20], scale, zero_point),
    );
    let mut cases = vec![g.finish(&[out], vec![q.clone()], "QUANTIZE")];

    let mut g = Graph::new("dequantize");
    let input = g.input(&x);
    let quantized = g.op_to(
        Op::Quantize,
        vec![Some(input)],
        int8_activation("q", &[20], scale, zero_point),
    );
    let out = g.op(Op::Dequantize, vec![Some(quantized)], &[20]);
    let expected = q.map(|v| (v - zero_point as f64) * scale as f64);
    cases.push(g.finish(&[out], vec![expected], "DEQUANTIZE"));
    cases
}

pub fn cases() -> Vec<OpCase> {
    let mut rng = Rng::new(7);
    let mut cases = unaries(&mut rng);
    cases.extend(softmaxes(&mut rng));
    cases.extend(binaries(&mut rng));
    cases.extend(quantize_cases(&mut rng));
    cases
}
