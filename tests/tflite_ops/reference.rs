//! Naive f64 references of TFLite's float operators, written from the
//! operators' definitions (NHWC images, OHWI filters), not from LiteRT.

use nnspec::codegen::tflite::model::{Activation, Padding};

use super::build::Arr;

pub fn activate(v: f64, activation: Activation) -> f64 {
    match activation {
        Activation::None => v,
        Activation::Relu => v.max(0.0),
        Activation::Relu6 => v.clamp(0.0, 6.0),
    }
}

/// `x [n, in]` times `w [out, in]` transposed, plus `b`.
pub fn fully_connected(x: &Arr, w: &Arr, b: Option<&[f64]>, activation: Activation) -> Arr {
    let (outs, ins) = (w.shape[0], w.shape[1]);
    let rows = x.data.len() / ins;
    let mut y = Vec::with_capacity(rows * outs);
    for r in 0..rows {
        for o in 0..outs {
            let mut acc = b.map_or(0.0, |b| b[o]);
            for i in 0..ins {
                acc += x.data[r * ins + i] * w.data[o * ins + i];
            }
            y.push(activate(acc, activation));
        }
    }
    Arr::new(&[rows, outs], y)
}

/// Output size and the padding before, per TFLite's rule: `SAME` gives
/// ceil(in / stride) with the excess split, the extra at the end.
pub fn window(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> (usize, usize) {
    let effective = (kernel - 1) * dilation + 1;
    match padding {
        Padding::Valid => ((input - effective) / stride + 1, 0),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + effective).saturating_sub(input);
            (out, total / 2)
        }
    }
}

pub struct Conv {
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub padding: Padding,
    pub activation: Activation,
}

/// NHWC `x` with an OHWI filter (`depthwise`: `[1, H, W, C * m]`, output
/// channel `k` reading input channel `k / m`).
pub fn conv2d(x: &Arr, filter: &Arr, bias: &[f64], conv: &Conv, depthwise: bool) -> Arr {
    let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (outs, kh, kw) = if depthwise {
        (filter.shape[3], filter.shape[1], filter.shape[2])
    } else {
        (filter.shape[0], filter.shape[1], filter.shape[2])
    };
    let (oh, pad_h) = window(h, kh, conv.stride[0], conv.dilation[0], conv.padding);
    let (ow, pad_w) = window(w, kw, conv.stride[1], conv.dilation[1], conv.padding);
    let mut y = vec![0.0; n * oh * ow * outs];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for k in 0..outs {
                    let mut acc = bias[k];
                    for dy in 0..kh {
                        for dx in 0..kw {
                            let iy = (oy * conv.stride[0] + dy * conv.dilation[0]) as isize
                                - pad_h as isize;
                            let ix = (ox * conv.stride[1] + dx * conv.dilation[1]) as isize
                                - pad_w as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let at = ((b * h + iy as usize) * w + ix as usize) * c;
                            if depthwise {
                                let ci = k / (outs / c);
                                acc += x.data[at + ci] * filter.data[(dy * kw + dx) * outs + k];
                            } else {
                                for ci in 0..c {
                                    acc += x.data[at + ci]
                                        * filter.data[((k * kh + dy) * kw + dx) * c + ci];
                                }
                            }
                        }
                    }
                    y[((b * oh + oy) * ow + ox) * outs + k] = activate(acc, conv.activation);
                }
            }
        }
    }
    Arr::new(&[n, oh, ow, outs], y)
}

/// Max or average (over the in-bounds elements) pooling of NHWC `x`.
pub fn pool(
    x: &Arr,
    filter: [usize; 2],
    stride: [usize; 2],
    padding: Padding,
    max: bool,
    activation: Activation,
) -> Arr {
    let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (oh, pad_h) = window(h, filter[0], stride[0], 1, padding);
    let (ow, pad_w) = window(w, filter[1], stride[1], 1, padding);
    let mut y = Vec::new();
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let (mut best, mut sum, mut count) = (f64::NEG_INFINITY, 0.0, 0);
                    for dy in 0..filter[0] {
                        for dx in 0..filter[1] {
                            let iy = (oy * stride[0] + dy) as isize - pad_h as isize;
                            let ix = (ox * stride[1] + dx) as isize - pad_w as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let v = x.data[((b * h + iy as usize) * w + ix as usize) * c + ch];
                            best = best.max(v);
                            sum += v;
                            count += 1;
                        }
                    }
                    let v = if max { best } else { sum / count as f64 };
                    y.push(activate(v, activation));
                }
            }
        }
    }
    Arr::new(&[n, oh, ow, c], y)
}

/// The multi-index of flat position `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        index[d] = i % shape[d];
        i /= shape[d];
    }
    index
}

fn ravel(index: &[usize], strides: &[usize]) -> usize {
    index.iter().zip(strides).map(|(i, s)| i * s).sum()
}

pub fn transpose(x: &Arr, perm: &[usize]) -> Arr {
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let strides = x.strides();
    let n = x.data.len();
    let data = (0..n)
        .map(|i| {
            let out = unravel(i, &shape);
            let mut at = 0;
            for (d, &p) in perm.iter().enumerate() {
                at += out[d] * strides[p];
            }
            x.data[at]
        })
        .collect();
    Arr::new(&shape, data)
}

/// `paddings[d] = (before, after)`, filled with `value`.
pub fn pad(x: &Arr, paddings: &[(usize, usize)], value: f64) -> Arr {
    let shape: Vec<usize> = x
        .shape
        .iter()
        .zip(paddings)
        .map(|(s, (a, b))| s + a + b)
        .collect();
    let strides = x.strides();
    let n = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            let out = unravel(i, &shape);
            let mut inside = Vec::new();
            for (d, &o) in out.iter().enumerate() {
                let (before, _) = paddings[d];
                if o < before || o - before >= x.shape[d] {
                    return value;
                }
                inside.push(o - before);
            }
            x.data[ravel(&inside, &strides)]
        })
        .collect();
    Arr::new(&shape, data)
}

/// Along the last axis: softmax of `beta * x`, or its log.
pub fn softmax(x: &Arr, beta: f64, log: bool) -> Arr {
    let last = *x.shape.last().unwrap();
    let mut y = Vec::new();
    for row in x.data.chunks(last) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|v| (beta * (v - max)).exp()).sum();
        for v in row {
            let z = beta * (v - max);
            y.push(if log { z - sum.ln() } else { z.exp() / sum });
        }
    }
    Arr::new(&x.shape, y)
}

/// Elementwise `f(a, b)` with numpy broadcasting.
pub fn broadcast(a: &Arr, b: &Arr, f: impl Fn(f64, f64) -> f64) -> Arr {
    let rank = a.shape.len().max(b.shape.len());
    let pad = |s: &[usize]| {
        let mut p = vec![1; rank - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (sa, sb) = (pad(&a.shape), pad(&b.shape));
    let shape: Vec<usize> = sa.iter().zip(&sb).map(|(x, y)| *x.max(y)).collect();
    let (ta, tb) = (
        Arr::new(&sa, a.data.clone()).strides(),
        Arr::new(&sb, b.data.clone()).strides(),
    );
    let n = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            let index = unravel(i, &shape);
            let at = |s: &[usize], t: &[usize]| -> usize {
                index
                    .iter()
                    .enumerate()
                    .map(|(d, &k)| if s[d] == 1 { 0 } else { k * t[d] })
                    .sum()
            };
            f(a.data[at(&sa, &ta)], b.data[at(&sb, &tb)])
        })
        .collect();
    Arr::new(&shape, data)
}

pub fn concatenate(xs: &[&Arr], axis: usize) -> Arr {
    let mut shape = xs[0].shape.clone();
    shape[axis] = xs.iter().map(|x| x.shape[axis]).sum();
    let outer: usize = shape[..axis].iter().product();
    let mut data = Vec::new();
    for o in 0..outer {
        for x in xs {
            let chunk: usize = x.shape[axis..].iter().product();
            data.extend_from_slice(&x.data[o * chunk..(o + 1) * chunk]);
        }
    }
    Arr::new(&shape, data)
}

/// Sum or mean over `axes`.
pub fn reduce(x: &Arr, axes: &[usize], keep_dims: bool, mean: bool) -> Arr {
    let kept: Vec<usize> = x
        .shape
        .iter()
        .enumerate()
        .map(|(d, &s)| if axes.contains(&d) { 1 } else { s })
        .collect();
    let out = Arr::new(&kept, vec![0.0; kept.iter().product()]);
    let strides = out.strides();
    let mut data = out.data;
    for (i, &v) in x.data.iter().enumerate() {
        let mut index = unravel(i, &x.shape);
        for &a in axes {
            index[a] = 0;
        }
        data[ravel(&index, &strides)] += v;
    }
    let count: usize = axes.iter().map(|&a| x.shape[a]).product();
    if mean {
        data.iter_mut().for_each(|v| *v /= count as f64);
    }
    let shape: Vec<usize> = if keep_dims {
        kept
    } else {
        x.shape
            .iter()
            .enumerate()
            .filter(|(d, _)| !axes.contains(d))
            .map(|(_, &s)| s)
            .collect()
    };
    Arr::new(&shape, data)
}

/// Positive strides only; a masked begin/end takes the whole axis and a
/// shrunk axis keeps only `begin`.
pub fn strided_slice(
    x: &Arr,
    begin: &[i64],
    end: &[i64],
    strides: &[i64],
    begin_mask: i32,
    end_mask: i32,
    shrink: i32,
) -> Arr {
    let mut ranges = Vec::new();
    for d in 0..x.shape.len() {
        let size = x.shape[d] as i64;
        let norm = |v: i64| {
            if v < 0 {
                (v + size).max(0)
            } else {
                v.min(size)
            }
        };
        let b = if begin_mask >> d & 1 == 1 {
            0
        } else {
            norm(begin[d])
        };
        let e = if shrink >> d & 1 == 1 {
            b + 1
        } else if end_mask >> d & 1 == 1 {
            size
        } else {
            norm(end[d])
        };
        let picks: Vec<usize> = (b..e)
            .step_by(strides[d] as usize)
            .map(|v| v as usize)
            .collect();
        ranges.push(picks);
    }
    let full: Vec<usize> = ranges.iter().map(Vec::len).collect();
    let src = x.strides();
    let n = full.iter().product();
    let data = (0..n)
        .map(|i| {
            let index = unravel(i, &full);
            let at: Vec<usize> = index
                .iter()
                .enumerate()
                .map(|(d, &k)| ranges[d][k])
                .collect();
            x.data[ravel(&at, &src)]
        })
        .collect();
    let shape: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(d, _)| shrink >> d & 1 == 0)
        .map(|(_, &s)| s)
        .collect();
    Arr::new(&shape, data)
}

/// `params` indexed along `axis` by the 1-D `indices`.
pub fn gather(params: &Arr, indices: &[usize], axis: usize) -> Arr {
    let outer: usize = params.shape[..axis].iter().product();
    let inner: usize = params.shape[axis + 1..].iter().product();
    let size = params.shape[axis];
    let mut data = Vec::new();
    for o in 0..outer {
        for &i in indices {
            let start = (o * size + i) * inner;
            data.extend_from_slice(&params.data[start..start + inner]);
        }
    }
    let mut shape = params.shape.clone();
    shape[axis] = indices.len();
    Arr::new(&shape, data)
}

/// Batched `x @ y` over the last two axes (`adj_*` transposes them), the
/// batch axes broadcast.
pub fn batch_matmul(x: &Arr, y: &Arr, adj_x: bool, adj_y: bool) -> Arr {
    let swap = |a: &Arr, adj: bool| {
        if !adj {
            return a.clone();
        }
        let r = a.shape.len();
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(r - 1, r - 2);
        transpose(a, &perm)
    };
    let (x, y) = (swap(x, adj_x), swap(y, adj_y));
    let (m, k) = (x.shape[x.shape.len() - 2], x.shape[x.shape.len() - 1]);
    let n = y.shape[y.shape.len() - 1];
    let bx: usize = x.shape[..x.shape.len() - 2].iter().product();
    let by: usize = y.shape[..y.shape.len() - 2].iter().product();
    let batches = bx.max(by);
    let mut data = Vec::new();
    for b in 0..batches {
        let (xo, yo) = ((b % bx) * m * k, (b % by) * k * n);
        for i in 0..m {
            for j in 0..n {
                data.push(
                    (0..k)
                        .map(|t| x.data[xo + i * k + t] * y.data[yo + t * n + j])
                        .sum(),
                );
            }
        }
    }
    let mut shape = if bx >= by {
        x.shape[..x.shape.len() - 2].to_vec()
    } else {
        y.shape[..y.shape.len() - 2].to_vec()
    };
    shape.extend([m, n]);
    Arr::new(&shape, data)
}

/// erf to about 1e-15 (series near 0, continued fraction for the tail).
pub fn erf(x: f64) -> f64 {
    if x.abs() < 3.0 {
        // Maclaurin series: 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)).
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-17 {
            n += 1.0;
            term *= -x * x / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc by Lentz's continued fraction.
        let z = x.abs();
        let mut f = z;
        for k in (1..60).rev() {
            f = z + (k as f64 / 2.0) / f;
        }
        let erfc = (-z * z).exp() / (f * std::f64::consts::PI.sqrt());
        x.signum() * (1.0 - erfc)
    }
}

pub fn gelu(x: f64, approximate: bool) -> f64 {
    if approximate {
        let c = (2.0 / std::f64::consts::PI).sqrt();
        0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
    } else {
        0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
    }
}
