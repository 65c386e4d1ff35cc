//! FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D and the pools: both
//! paddings, strides, dilations, every fused activation; FULLY_CONNECTED
//! with its bias given, listed as omitted and left out.

use nnspec::codegen::tflite::model::{Activation, Op, Padding};

use super::build::{Arr, Graph, OpCase, Rng};
use super::reference::{self, Conv};

const ACTIVATIONS: [Activation; 3] = [Activation::None, Activation::Relu, Activation::Relu6];

/// How a FULLY_CONNECTED gets its bias.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bias {
    Given,
    /// Listed as an omitted input (-1).
    Omitted,
    /// Not listed: two inputs.
    Absent,
}

fn fully_connected(
    rng: &mut Rng,
    activation: Activation,
    bias: Bias,
    keep_num_dims: bool,
) -> OpCase {
    let name = format!("fc_{activation:?}_{bias:?}_keep{keep_num_dims}").to_lowercase();
    let (batch, ins, outs) = (3, 5, 4);
    // keep_num_dims: a [batch, 2, in] input stays [batch, 2, out].
    let x_shape: Vec<usize> = if keep_num_dims {
        vec![batch, 2, ins]
    } else {
        vec![batch, ins]
    };
    let x = rng.arr(&x_shape, -4.0, 4.0);
    let w = rng.arr(&[outs, ins], -1.0, 1.0);
    let b = rng.arr(&[outs], -2.0, 2.0);
    let mut g = Graph::new(&name);
    let input = g.input(&x);
    let weight = g.f32_constant("w", &w);
    let given = bias == Bias::Given;
    let bias_id = given.then(|| g.f32_constant("b", &b));
    let expected = reference::fully_connected(&x, &w, given.then_some(&b.data[..]), activation);
    let mut out_shape = x_shape.clone();
    *out_shape.last_mut().unwrap() = outs;
    let expected = Arr::new(&out_shape, expected.data);
    let out = g.op(
        Op::FullyConnected {
            activation,
            keep_num_dims,
        },
        if bias == Bias::Absent {
            vec![Some(input), Some(weight)]
        } else {
            vec![Some(input), Some(weight), bias_id]
        },
        &out_shape[1..],
    );
    g.finish(&[out], vec![expected], "FULLY_CONNECTED")
}

/// `[batch, h, w, c]` input, `k` outputs, a `kh x kw` window.
fn conv(
    rng: &mut Rng,
    name: &str,
    input: [usize; 4],
    k: usize,
    kernel: [usize; 2],
    conv: Conv,
    depthwise: bool,
) -> OpCase {
    let x = rng.arr(&input, -3.0, 3.0);
    let c = input[3];
    let filter_shape = if depthwise {
        vec![1, kernel[0], kernel[1], k]
    } else {
        vec![k, kernel[0], kernel[1], c]
    };
    let filter = rng.arr(&filter_shape, -1.0, 1.0);
    let b = rng.arr(&[k], -1.0, 1.0);
    let expected = reference::conv2d(&x, &filter, &b.data, &conv, depthwise);
    let mut g = Graph::new(name);
    let x_id = g.input(&x);
    let f_id = g.f32_constant("filter", &filter);
    let b_id = Some(g.f32_constant("bias", &b));
    let stride = [conv.stride[0] as u32, conv.stride[1] as u32];
    let dilation = [conv.dilation[0] as u32, conv.dilation[1] as u32];
    let op = if depthwise {
        Op::DepthwiseConv2d {
            padding: conv.padding,
            stride,
            dilation,
            depth_multiplier: (k / c) as u32,
            activation: conv.activation,
        }
    } else {
        Op::Conv2d {
            padding: conv.padding,
            stride,
            dilation,
            activation: conv.activation,
        }
    };
    let out = g.op(op, vec![Some(x_id), Some(f_id), b_id], &expected.shape[1..]);
    let builtin = if depthwise {
        "DEPTHWISE_CONV_2D"
    } else {
        "CONV_2D"
    };
    g.finish(&[out], vec![expected], builtin)
}

fn pool(
    rng: &mut Rng,
    max: bool,
    padding: Padding,
    filter: [usize; 2],
    stride: [usize; 2],
    activation: Activation,
) -> OpCase {
    let kind = if max { "max" } else { "avg" };
    let name = format!(
        "{kind}pool_{padding:?}_{}x{}_s{}_{activation:?}",
        filter[0], filter[1], stride[0]
    )
    .to_lowercase();
    let x = rng.arr(&[2, 5, 7, 3], -4.0, 8.0);
    let expected = reference::pool(&x, filter, stride, padding, max, activation);
    let filter = [filter[0] as u32, filter[1] as u32];
    let stride = [stride[0] as u32, stride[1] as u32];
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
    let builtin = if max {
        "MAX_POOL_2D"
    } else {
        "AVERAGE_POOL_2D"
    };
    super::build::unary_case(&name, op, &x, expected, builtin)
}

pub fn cases() -> Vec<OpCase> {
    let mut rng = Rng::new(13);
    let mut cases = Vec::new();
    for activation in ACTIVATIONS {
        cases.push(fully_connected(&mut rng, activation, Bias::Given, false));
    }
    cases.push(fully_connected(
        &mut rng,
        Activation::None,
        Bias::Omitted,
        false,
    ));
    cases.push(fully_connected(
        &mut rng,
        Activation::Relu6,
        Bias::Absent,
        false,
    ));
    cases.push(fully_connected(
        &mut rng,
        Activation::Relu,
        Bias::Given,
        true,
    ));
    for (i, activation) in ACTIVATIONS.into_iter().enumerate() {
        for padding in [Padding::Same, Padding::Valid] {
            for depthwise in [false, true] {
                let stride = [1 + i % 2, 1 + (i + 1) % 2];
                let dilation = if i == 2 { [2, 1] } else { [1, 1] };
                let kind = if depthwise { "dwconv" } else { "conv" };
                let name = format!(
                    "{kind}_{padding:?}_{activation:?}_s{}{}_d{}",
                    stride[0], stride[1], dilation[0]
                )
                .to_lowercase();
                let k = if depthwise { 6 } else { 4 };
                let spec = Conv {
                    stride,
                    dilation,
                    padding,
                    activation,
                };
                cases.push(conv(
                    &mut rng,
                    &name,
                    [2, 7, 6, 3],
                    k,
                    [3, 2],
                    spec,
                    depthwise,
                ));
            }
        }
    }
    for max in [true, false] {
        for padding in [Padding::Same, Padding::Valid] {
            cases.push(pool(
                &mut rng,
                max,
                padding,
                [2, 2],
                [2, 2],
                Activation::None,
            ));
            cases.push(pool(
                &mut rng,
                max,
                padding,
                [3, 2],
                [2, 1],
                Activation::Relu,
            ));
        }
        cases.push(pool(
            &mut rng,
            max,
            Padding::Same,
            [3, 3],
            [1, 1],
            Activation::Relu6,
        ));
    }
    cases
}
