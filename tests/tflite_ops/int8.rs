//! The full-integer forms: f32 input -> QUANTIZE -> an int8 operator with
//! per-channel symmetric int8 weights (FULLY_CONNECTED and CONV_2D along
//! axis 0, DEPTHWISE_CONV_2D along axis 3) and int32 biases -> int8 output,
//! compared with a Rust reference of TFLite's integer arithmetic
//! (`QuantizeMultiplier`, `MultiplyByQuantizedMultiplier` as in
//! tensorflow/lite/kernels/internal/common.h) within one step. LiteRT
//! 2.3 gave exactly the reference's integers here, on its builtin kernels
//! and on XNNPACK; the step allows for XNNPACK's f32 requantization,
//! which rounds once where the reference rounds twice.

use nnspec::codegen::tflite::model::{Activation, Op, Padding, Quantization, Tensor, TensorType};

use super::build::{Arr, Graph, OpCase, Rng};
use super::reference;

/// `m = q * 2^shift` with `q` in Q31, as TFLite's `QuantizeMultiplier`.
fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m == 0.0 {
        return (0, 0);
    }
    let bits = m.to_bits();
    let shift = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let q = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    let mut shift = shift;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    (q_fixed as i32, shift)
}

fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let mask = (1i32 << exponent) - 1;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

fn multiply_by_quantized_multiplier(x: i32, (multiplier, shift): (i32, i32)) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1 << left), multiplier),
        right,
    )
}

/// The int8 range an activation leaves, as TFLite's
/// `CalculateActivationRangeQuantized`.
fn activation_range(activation: Activation, scale: f64, zero_point: i32) -> (i32, i32) {
    let q = |v: f64| zero_point + (v / scale).round() as i32;
    match activation {
        Activation::None => (-128, 127),
        Activation::Relu => (q(0.0).max(-128), 127),
        Activation::Relu6 => (q(0.0).max(-128), q(6.0).min(127)),
    }
}

/// Per-tensor quantization of an activation.
pub struct Q {
    pub scale: f64,
    pub zero_point: i32,
}

pub fn int8_tensor(
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

pub fn activation_tensor(name: &str, per_sample: &[usize], q: &Q) -> Tensor {
    let mut shape = vec![1];
    shape.extend(per_sample.iter().map(|&d| d as i32));
    int8_tensor(
        name,
        shape,
        true,
        vec![q.scale as f32],
        vec![q.zero_point as i64],
        0,
    )
}

/// Random int8 inputs and f32 values that QUANTIZE maps onto them without
/// a rounding tie (a quarter step off the grid).
pub fn quantized_input(rng: &mut Rng, shape: &[usize], q: &Q) -> (Vec<i32>, Arr) {
    let n = shape.iter().product();
    let ints: Vec<i32> = (0..n).map(|_| (rng.unit() * 256.0) as i32 - 128).collect();
    let values = ints
        .iter()
        .map(|&i| {
            let off = if rng.unit() < 0.5 { 0.25 } else { -0.25 };
            // The ends of the range stay inside it.
            let off = if i == 127 {
                -0.25
            } else if i == -128 {
                0.25
            } else {
                off
            };
            ((i - q.zero_point) as f64 + off) * q.scale
        })
        .map(|v| v as f32 as f64)
        .collect();
    (ints, Arr::new(shape, values))
}

/// Symmetric per-channel int8 weights along `axis` of `w`, and their scales.
fn per_channel(w: &Arr, axis: usize) -> (Vec<i8>, Vec<f32>) {
    let channels = w.shape[axis];
    let inner: usize = w.shape[axis + 1..].iter().product();
    let channel = |i: usize| (i / inner) % channels;
    let mut max = vec![0.0f64; channels];
    for (i, &v) in w.data.iter().enumerate() {
        max[channel(i)] = max[channel(i)].max(v.abs());
    }
    let scales: Vec<f32> = max.iter().map(|&m| (m / 127.0) as f32).collect();
    let q = w
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| (v / scales[channel(i)] as f64).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scales)
}

/// The requantized outputs: `acc` per (position, channel) with channel
/// fastest, scaled by `s_in * s_w[c] / s_out`.
fn requantize(
    acc: &[i32],
    scales: &[f32],
    input: &Q,
    output: &Q,
    activation: Activation,
) -> Vec<f64> {
    let multipliers: Vec<(i32, i32)> = scales
        .iter()
        .map(|&s| {
            quantize_multiplier(input.scale as f32 as f64 * s as f64 / (output.scale as f32 as f64))
        })
        .collect();
    let (lo, hi) = activation_range(activation, output.scale, output.zero_point);
    acc.iter()
        .enumerate()
        .map(|(i, &a)| {
            (multiply_by_quantized_multiplier(a, multipliers[i % scales.len()]) + output.zero_point)
                .clamp(lo, hi) as f64
        })
        .collect()
}

/// One int8 layer with weights: FULLY_CONNECTED, CONV_2D or
/// DEPTHWISE_CONV_2D.
fn weighted(
    rng: &mut Rng,
    name: &str,
    op: Op,
    x_shape: &[usize],
    w_shape: &[usize],
    axis: usize,
    activation: Activation,
) -> OpCase {
    let input = Q {
        scale: 0.04,
        zero_point: 5,
    };
    let output = Q {
        scale: 0.11,
        zero_point: -7,
    };
    let (x_ints, x) = quantized_input(rng, x_shape, &input);
    let w = rng.arr(w_shape, -1.0, 1.0);
    let (w_q, w_scales) = per_channel(&w, axis);
    let channels = w_shape[axis];
    let bias: Vec<i32> = (0..channels)
        .map(|_| (rng.unit() * 2000.0) as i32 - 1000)
        .collect();
    // The accumulators, as the f64 reference on exact integers.
    let xz = Arr::new(
        x_shape,
        x_ints
            .iter()
            .map(|&v| (v - input.zero_point) as f64)
            .collect(),
    );
    let wq = Arr::new(w_shape, w_q.iter().map(|&v| v as f64).collect());
    let b: Vec<f64> = bias.iter().map(|&v| v as f64).collect();
    let acc = match &op {
        Op::FullyConnected { .. } => {
            reference::fully_connected(&xz, &wq, Some(&b), Activation::None)
        }
        Op::Conv2d {
            padding,
            stride,
            dilation,
            ..
        }
        | Op::DepthwiseConv2d {
            padding,
            stride,
            dilation,
            ..
        } => {
            let conv = reference::Conv {
                stride: stride.map(|s| s as usize),
                dilation: dilation.map(|s| s as usize),
                padding: *padding,
                activation: Activation::None,
            };
            reference::conv2d(
                &xz,
                &wq,
                &b,
                &conv,
                matches!(op, Op::DepthwiseConv2d { .. }),
            )
        }
        _ => unreachable!("a weighted operator"),
    };
    let acc_i32: Vec<i32> = acc.data.iter().map(|&v| v as i32).collect();
    let expected = Arr::new(
        &acc.shape,
        requantize(&acc_i32, &w_scales, &input, &output, activation),
    );

    let mut g = Graph::new(name);
    let x_id = g.input(&x);
    let xq = g.op_to(
        Op::Quantize,
        vec![Some(x_id)],
        activation_tensor("x_q", &x_shape[1..], &input),
    );
    let w_id = g.constant(Tensor {
        data: Some(w_q.iter().map(|&v| v as u8).collect()),
        ..int8_tensor(
            "w",
            w_shape.iter().map(|&d| d as i32).collect(),
            false,
            w_scales.clone(),
            vec![0; channels],
            axis as i32,
        )
    });
    let bias_scales: Vec<f32> = w_scales
        .iter()
        .map(|&s| (input.scale * s as f64) as f32)
        .collect();
    let b_id = g.constant(Tensor {
        quantization: Some(Quantization {
            scale: bias_scales,
            zero_point: vec![0; channels],
            quantized_dimension: 0,
        }),
        ..Tensor::i32_constant("b", &[channels], &bias)
    });
    let out = g.op_to(
        op.clone(),
        vec![Some(xq), Some(w_id), Some(b_id)],
        activation_tensor("y", &expected.shape[1..], &output),
    );
    let builtin = match op {
        Op::FullyConnected { .. } => "FULLY_CONNECTED",
        Op::Conv2d { .. } => "CONV_2D",
        _ => "DEPTHWISE_CONV_2D",
    };
    let mut case = g.finish(&[out], vec![expected], builtin);
    // One int8 step (the outputs are the int8 values themselves).
    (case.tolerance, case.absolute) = (0.0, 1.0);
    case
}

fn pool(rng: &mut Rng, max: bool, padding: Padding, activation: Activation) -> OpCase {
    let q = Q {
        scale: 0.05,
        zero_point: -3,
    };
    let (ints, x) = quantized_input(rng, &[2, 5, 6, 3], &q);
    let xi = Arr::new(&x.shape, ints.iter().map(|&v| v as f64).collect());
    let (filter, stride) = ([3, 2], [2, 2]);
    // Same scale in and out: the pool works on the integers, then clamps.
    let pooled = reference::pool(&xi, filter, stride, padding, max, Activation::None);
    let (lo, hi) = activation_range(activation, q.scale, q.zero_point);
    let expected = pooled.map(|v| {
        // TFLite's int8 average rounds half away from zero.
        (if max { v } else { v.round() }).clamp(lo as f64, hi as f64)
    });
    let kind = if max { "max" } else { "avg" };
    let mut g = Graph::new(&format!("int8_{kind}pool_{padding:?}_{activation:?}").to_lowercase());
    let x_id = g.input(&x);
    let xq = g.op_to(
        Op::Quantize,
        vec![Some(x_id)],
        activation_tensor("x_q", &[5, 6, 3], &q),
    );
    let (filter, stride) = ([3, 2], [2, 2]);
    let op = if max {
        Op::MaxPool2d {
            padding,
            stride,
            filter,
            activation,
        }
    } else {
        Op::AveragePool2d {
            padding,
            stride,
            filter,
            activation,
        }
    };
    let out = g.op_to(
        op,
        vec![Some(xq)],
        activation_tensor("y", &expected.shape[1..], &q),
    );
    let mut case = g.finish(
        &[out],
        vec![expected],
        if max {
            "MAX_POOL_2D"
        } else {
            "AVERAGE_POOL_2D"
        },
    );
    (case.tolerance, case.absolute) = (0.0, 1.0);
    case
}

pub fn cases() -> Vec<OpCase> {
    let mut rng = Rng::new(8);
    let mut cases = Vec::new();
    for activation in [Activation::None, Activation::Relu, Activation::Relu6] {
        let fc = Op::FullyConnected {
            activation,
            keep_num_dims: false,
        };
        cases.push(weighted(
            &mut rng,
            &format!("int8_fc_{activation:?}").to_lowercase(),
            fc,
            &[3, 16],
            &[5, 16],
            0,
            activation,
        ));
        for padding in [Padding::Same, Padding::Valid] {
            let conv = Op::Conv2d {
                padding,
                stride: [2, 1],
                dilation: [1, 1],
                activation,
            };
            let name = format!("int8_conv_{padding:?}_{activation:?}").to_lowercase();
            cases.push(weighted(
                &mut rng,
                &name,
                conv,
                &[2, 6, 5, 3],
                &[4, 3, 3, 3],
                0,
                activation,
            ));
            let dw = Op::DepthwiseConv2d {
                padding,
                stride: [1, 2],
                dilation: [1, 1],
                depth_multiplier: 2,
                activation,
            };
            let name = format!("int8_dwconv_{padding:?}_{activation:?}").to_lowercase();
            cases.push(weighted(
                &mut rng,
                &name,
                dw,
                &[2, 6, 5, 3],
                &[1, 3, 3, 6],
                3,
                activation,
            ));
        }
    }
    for max in [true, false] {
        for padding in [Padding::Same, Padding::Valid] {
            cases.push(pool(&mut rng, max, padding, Activation::None));
        }
        cases.push(pool(&mut rng, max, Padding::Same, Activation::Relu6));
    }
    cases
}
