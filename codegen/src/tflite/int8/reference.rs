//! A naive interpreter of the int8 operators the export writes, with
//! TFLite's semantics (NHWC, OHWI filters, `SAME`/`VALID`, int8 levels with
//! zero points) and nnspec's arithmetic (its quantization and its
//! requantization): what LiteRT computes, less the rounding and range
//! differences the module documents. `upper` is the highest int8 level a
//! layer's result may take (`QUANTIZE` saturates at 127, as TFLite's): -1
//! reproduces nnspec's `0..=127`, so a test can
//! hold the export's layout, weights and parameters to nnspec's int8
//! executor bit for bit without LiteRT.

use nnspec_runtime_core::quant::Requant;
use nnspec_runtime_core::quant::scheme::round_half_even;

use super::super::model::{Activation, Op, Padding, Quantization, TensorType};
use super::TfModel;

#[derive(Clone, Debug)]
enum Data {
    F32(Vec<f32>),
    Int(Vec<i32>),
}

#[derive(Clone, Debug)]
struct Value {
    shape: Vec<usize>,
    data: Data,
}

impl Value {
    fn ints(&self) -> &[i32] {
        match &self.data {
            Data::Int(v) => v,
            Data::F32(_) => panic!("an integer tensor"),
        }
    }
}

/// Runs `model` on `input` (one f32 input, `batch` samples stored as the
/// model stores them) and returns its first output.
// The reference runs the operators the int8 steps write; a float step's
// operators are the float export's, tested against LiteRT there.
#[allow(clippy::wildcard_enum_match_arm)]
pub(super) fn run(model: &TfModel, input: &[f32], batch: usize, upper: i32) -> Vec<f32> {
    let mut values: Vec<Option<Value>> = model
        .tensors
        .iter()
        .map(|t| {
            let bytes = t.data.as_ref()?;
            let shape = t.shape.iter().map(|&d| d as usize).collect();
            let data = match t.dtype {
                TensorType::Float32 => Data::F32(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                ),
                TensorType::Int32 => Data::Int(
                    bytes
                        .chunks_exact(4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                ),
                TensorType::Int8 => Data::Int(bytes.iter().map(|&b| b as i8 as i32).collect()),
                TensorType::Int64 => panic!("no int64 constants here"),
            };
            Some(Value { shape, data })
        })
        .collect();
    let input_id = model.inputs[0];
    let mut shape: Vec<usize> = model
        .tensor(input_id)
        .shape
        .iter()
        .map(|&d| d as usize)
        .collect();
    shape[0] = batch;
    values[input_id.index()] = Some(Value {
        shape,
        data: Data::F32(input.to_vec()),
    });
    for operator in &model.operators {
        let ins: Vec<Option<&Value>> = operator
            .inputs
            .iter()
            .map(|i| i.map(|i| values[i.index()].as_ref().expect("computed before use")))
            .collect();
        let out_q = model.tensor(operator.outputs[0]).quantization.as_ref();
        let in_q = operator.inputs[0].and_then(|i| model.tensor(i).quantization.as_ref());
        let x = ins[0].expect("an input");
        let result = match &operator.op {
            Op::Quantize => {
                let q = out_q.expect("quantized output");
                let Data::F32(v) = &x.data else {
                    panic!("float input")
                };
                let (inverse, zp) = (1.0 / q.scale[0], q.zero_point[0] as i32);
                let data = v
                    .iter()
                    .map(|&f| (round_half_even(f * inverse) as i32 + zp).clamp(-128, 127))
                    .collect();
                Value {
                    shape: x.shape.clone(),
                    data: Data::Int(data),
                }
            }
            Op::Dequantize => {
                let q = in_q.expect("quantized input");
                let data = x
                    .ints()
                    .iter()
                    .map(|&v| (v - q.zero_point[0] as i32) as f32 * q.scale[0])
                    .collect();
                Value {
                    shape: x.shape.clone(),
                    data: Data::F32(data),
                }
            }
            Op::FullyConnected {
                activation,
                keep_num_dims,
            } => {
                let (w, b) = (ins[1].expect("filter"), ins[2]);
                let (n, k) = (w.shape[0], w.shape[1]);
                let rows = x.ints().len() / k;
                let mut shape = if *keep_num_dims {
                    x.shape[..x.shape.len() - 1].to_vec()
                } else {
                    vec![rows]
                };
                shape.push(n);
                let weights = model
                    .tensor(operator.inputs[1].unwrap())
                    .quantization
                    .as_ref()
                    .unwrap();
                let (xq, yq) = (in_q.unwrap(), out_q.unwrap());
                let mut out = Vec::with_capacity(rows * n);
                for r in 0..rows {
                    for c in 0..n {
                        let mut acc = b.map_or(0, |b| b.ints()[c]);
                        for i in 0..k {
                            acc += (x.ints()[r * k + i] - xq.zero_point[0] as i32)
                                * w.ints()[c * k + i];
                        }
                        out.push(requantize(
                            acc,
                            xq,
                            &weights.scale,
                            c,
                            yq,
                            *activation,
                            upper,
                        ));
                    }
                }
                Value {
                    shape,
                    data: Data::Int(out),
                }
            }
            Op::Conv2d {
                padding,
                stride,
                dilation,
                activation,
            } => {
                let (w, b) = (ins[1].expect("filter"), ins[2]);
                let weights = model
                    .tensor(operator.inputs[1].unwrap())
                    .quantization
                    .as_ref()
                    .unwrap();
                let (xq, yq) = (in_q.unwrap(), out_q.unwrap());
                let [o, kh, kw, cin] = [w.shape[0], w.shape[1], w.shape[2], w.shape[3]];
                window(
                    x,
                    [kh, kw],
                    *stride,
                    *dilation,
                    *padding,
                    o,
                    |plane, inside| {
                        let mut out = Vec::with_capacity(o);
                        for c in 0..o {
                            let mut acc = b.map_or(0, |b| b.ints()[c]);
                            for (tap, at) in inside.iter().enumerate() {
                                if let Some(at) = at {
                                    for i in 0..cin {
                                        let v = plane[at * cin + i] - xq.zero_point[0] as i32;
                                        acc += v * w.ints()[(c * kh * kw + tap) * cin + i];
                                    }
                                }
                            }
                            out.push(requantize(
                                acc,
                                xq,
                                &weights.scale,
                                c,
                                yq,
                                *activation,
                                upper,
                            ));
                        }
                        out
                    },
                )
            }
            Op::MaxPool2d {
                padding,
                stride,
                filter,
                activation: _,
            } => {
                let channels = x.shape[3];
                window(
                    x,
                    [filter[0] as usize, filter[1] as usize],
                    *stride,
                    [1, 1],
                    *padding,
                    channels,
                    |plane, inside| {
                        (0..channels)
                            .map(|c| {
                                inside
                                    .iter()
                                    .flatten()
                                    .map(|at| plane[at * channels + c])
                                    .max()
                                    .expect("a window")
                            })
                            .collect()
                    },
                )
            }
            Op::Reshape => {
                let target = ins[1].unwrap().ints();
                let total = x.ints().len();
                let known: usize = target
                    .iter()
                    .filter(|&&d| d >= 0)
                    .map(|&d| d as usize)
                    .product();
                let shape = target
                    .iter()
                    .map(|&d| if d < 0 { total / known } else { d as usize })
                    .collect();
                Value {
                    shape,
                    data: x.data.clone(),
                }
            }
            Op::Transpose => {
                let perm: Vec<usize> = ins[1].unwrap().ints().iter().map(|&p| p as usize).collect();
                let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
                let strides = row_strides(&x.shape);
                let out_strides = row_strides(&shape);
                let total = x.ints().len();
                let data = (0..total)
                    .map(|flat| {
                        let source: usize = (0..shape.len())
                            .map(|a| (flat / out_strides[a]) % shape[a] * strides[perm[a]])
                            .sum();
                        x.ints()[source]
                    })
                    .collect();
                Value {
                    shape,
                    data: Data::Int(data),
                }
            }
            Op::Pad | Op::PadV2 => {
                let pads = ins[1].unwrap().ints();
                let fill = ins
                    .get(2)
                    .copied()
                    .flatten()
                    .map_or(in_q.unwrap().zero_point[0] as i32, |v| v.ints()[0]);
                let shape: Vec<usize> = (0..x.shape.len())
                    .map(|a| x.shape[a] + (pads[2 * a] + pads[2 * a + 1]) as usize)
                    .collect();
                let (strides, out_strides) = (row_strides(&x.shape), row_strides(&shape));
                let total: usize = shape.iter().product();
                let data = (0..total)
                    .map(|flat| {
                        let mut source = 0;
                        for a in 0..shape.len() {
                            let i = (flat / out_strides[a]) % shape[a];
                            let Some(i) = i
                                .checked_sub(pads[2 * a] as usize)
                                .filter(|&i| i < x.shape[a])
                            else {
                                return fill;
                            };
                            source += i * strides[a];
                        }
                        x.ints()[source]
                    })
                    .collect();
                Value {
                    shape,
                    data: Data::Int(data),
                }
            }
            Op::Minimum => {
                let Data::F32(v) = &x.data else {
                    panic!("float input")
                };
                let Data::F32(bound) = &ins[1].expect("a bound").data else {
                    panic!("float bound")
                };
                let data = v.iter().map(|&f| f.min(bound[0])).collect();
                Value {
                    shape: x.shape.clone(),
                    data: Data::F32(data),
                }
            }
            other => panic!("the reference does not run {other:?}"),
        };
        values[operator.outputs[0].index()] = Some(result);
    }
    match &values[model.outputs[0].index()]
        .as_ref()
        .expect("the output")
        .data
    {
        Data::F32(v) => v.clone(),
        Data::Int(_) => panic!("a float output"),
    }
}

fn row_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    strides
}

/// `acc` to the output's level: nnspec's multiplier and rounding, the
/// output's zero point, the activation's floor and `upper`.
fn requantize(
    acc: i32,
    xq: &Quantization,
    w_scale: &[f32],
    c: usize,
    yq: &Quantization,
    activation: Activation,
    upper: i32,
) -> i32 {
    let real = xq.scale[0] as f64 * w_scale[c] as f64 / yq.scale[0] as f64;
    let zp = yq.zero_point[0] as i32;
    let lo = match activation {
        Activation::None => -128,
        Activation::Relu => zp.max(-128),
        Activation::Relu6 => panic!("no relu6 in int8 exports"),
    };
    (Requant::from_real(real).apply(acc) + zp).clamp(lo, upper)
}

/// Applies `f` at every output position of a window over NHWC `x`: `f`
/// gets the sample's plane and, per tap in row-major order, the input
/// position it reads (`None` in the padding); it returns `channels` values.
fn window(
    x: &Value,
    kernel: [usize; 2],
    stride: [u32; 2],
    dilation: [u32; 2],
    padding: Padding,
    channels: usize,
    f: impl Fn(&[i32], &[Option<usize>]) -> Vec<i32>,
) -> Value {
    let [batch, h, w, c] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let extent = |a: usize| dilation[a] as usize * (kernel[a] - 1) + 1;
    let size = [h, w];
    let (out, before): (Vec<usize>, Vec<usize>) = (0..2)
        .map(|a| {
            let s = stride[a] as usize;
            match padding {
                Padding::Valid => ((size[a] - extent(a)) / s + 1, 0),
                Padding::Same => {
                    let out = size[a].div_ceil(s);
                    (out, ((out - 1) * s + extent(a)).saturating_sub(size[a]) / 2)
                }
            }
        })
        .unzip();
    let mut data = Vec::new();
    for n in 0..batch {
        let plane = &x.ints()[n * h * w * c..(n + 1) * h * w * c];
        for oy in 0..out[0] {
            for ox in 0..out[1] {
                let mut inside = Vec::new();
                for ky in 0..kernel[0] {
                    for kx in 0..kernel[1] {
                        let y = (oy * stride[0] as usize + ky * dilation[0] as usize)
                            .checked_sub(before[0])
                            .filter(|&y| y < h);
                        let xx = (ox * stride[1] as usize + kx * dilation[1] as usize)
                            .checked_sub(before[1])
                            .filter(|&v| v < w);
                        inside.push(y.zip(xx).map(|(y, xx)| y * w + xx));
                    }
                }
                data.extend(f(plane, &inside));
            }
        }
    }
    Value {
        shape: vec![batch, out[0], out[1], channels],
        data: Data::Int(data),
    }
}
