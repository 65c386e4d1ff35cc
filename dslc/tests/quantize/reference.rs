//! A naive int8 reference built from a QPlan's integers, one sample at a
//! time, written from the scheme's definition (not from the kernels):
//! `y = clamp(requant(Σ (x − x_zp)·w + bias) + y_zp)`, convolutions as
//! direct loops over the window with padding at the input's zero point,
//! max pooling as the max over the window.

use nnspec_runtime::quant::plan::{QPlan, QStep};
use nnspec_runtime::quant::run;
use nnspec_runtime::quant::scheme::ACT_MAX;

fn finish(acc: i64, requant: nnspec_runtime::quant::Requant, y_zp: u8, relu: bool) -> u8 {
    let v = requant.apply(i32::try_from(acc).expect("sums fit in i32")) + y_zp as i32;
    let lo = if relu { y_zp as i32 } else { 0 };
    v.clamp(lo, ACT_MAX as i32) as u8
}

/// The u8 output tensor of `q` for one sample (int8 steps only, plus
/// quantize and dequantize).
pub fn reference_u8(q: &QPlan, sample: &[f32]) -> Vec<u8> {
    let mut values: Vec<Option<Vec<u8>>> = vec![None; q.tensors.len()];
    for step in &q.steps {
        match step {
            QStep::Quantize { y, .. } => {
                let p = q.tensor(*y).q;
                values[y.index()] = Some(sample.iter().map(|&v| p.quantize(v)).collect());
            }
            QStep::Dense { x, layer, y, relu } => {
                let l = &q.layers[*layer];
                let xs = values[x.index()].clone().unwrap();
                let (x_zp, y_zp) = (q.tensor(*x).q.zero_point as i64, q.tensor(*y).q.zero_point);
                let rows = xs.len() / l.k;
                let mut out = vec![0u8; rows * l.n];
                for r in 0..rows {
                    for c in 0..l.n {
                        let acc: i64 = (0..l.k)
                            .map(|i| (xs[r * l.k + i] as i64 - x_zp) * l.weight[c * l.k + i] as i64)
                            .sum::<i64>()
                            + l.bias[c] as i64;
                        out[r * l.n + c] = finish(acc, l.requant[c], y_zp, *relu);
                    }
                }
                values[y.index()] = Some(out);
            }
            QStep::Conv2d {
                x,
                layer,
                y,
                shape: s,
                relu,
            } => {
                let l = &q.layers[*layer];
                let xs = values[x.index()].clone().unwrap();
                let (x_zp, y_zp) = (q.tensor(*x).q.zero_point, q.tensor(*y).q.zero_point);
                let (kh, kw) = (s.kernel[0], s.kernel[1]);
                let oh =
                    (s.in_h + 2 * s.padding[0] - s.dilation[0] * (kh - 1) - 1) / s.stride[0] + 1;
                let ow =
                    (s.in_w + 2 * s.padding[1] - s.dilation[1] * (kw - 1) - 1) / s.stride[1] + 1;
                let mut out = vec![0u8; s.out_channels * oh * ow];
                for c in 0..s.out_channels {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut acc = l.bias[c] as i64;
                            for ci in 0..s.in_channels {
                                for dy in 0..kh {
                                    for dx in 0..kw {
                                        let iy = (oy * s.stride[0] + dy * s.dilation[0]) as isize
                                            - s.padding[0] as isize;
                                        let ix = (ox * s.stride[1] + dx * s.dilation[1]) as isize
                                            - s.padding[1] as isize;
                                        let inside = iy >= 0
                                            && ix >= 0
                                            && (iy as usize) < s.in_h
                                            && (ix as usize) < s.in_w;
                                        let v = if inside {
                                            xs[(ci * s.in_h + iy as usize) * s.in_w + ix as usize]
                                        } else {
                                            x_zp
                                        };
                                        let w = l.weight[c * l.k + (ci * kh + dy) * kw + dx];
                                        acc += (v as i64 - x_zp as i64) * w as i64;
                                    }
                                }
                            }
                            out[(c * oh + oy) * ow + ox] = finish(acc, l.requant[c], y_zp, *relu);
                        }
                    }
                }
                values[y.index()] = Some(out);
            }
            QStep::MaxPool2d { x, y, shape: s } => {
                let xs = values[x.index()].clone().unwrap();
                let oh = (s.in_h + 2 * s.padding[0] - s.kernel[0]) / s.stride[0] + 1;
                let ow = (s.in_w + 2 * s.padding[1] - s.kernel[1]) / s.stride[1] + 1;
                let mut out = vec![0u8; s.channels * oh * ow];
                for c in 0..s.channels {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut best = None::<u8>;
                            for dy in 0..s.kernel[0] {
                                for dx in 0..s.kernel[1] {
                                    let iy =
                                        (oy * s.stride[0] + dy) as isize - s.padding[0] as isize;
                                    let ix =
                                        (ox * s.stride[1] + dx) as isize - s.padding[1] as isize;
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < s.in_h
                                        && (ix as usize) < s.in_w
                                    {
                                        let v =
                                            xs[(c * s.in_h + iy as usize) * s.in_w + ix as usize];
                                        best = Some(best.map_or(v, |b| b.max(v)));
                                    }
                                }
                            }
                            out[(c * oh + oy) * ow + ox] = best.unwrap();
                        }
                    }
                }
                values[y.index()] = Some(out);
            }
            QStep::Dequantize { .. } => {}
            QStep::Float(step) => panic!("the reference runs int8 steps, not {step:?}"),
        }
    }
    values[run::output_tensor(q, 0).unwrap().index()]
        .clone()
        .unwrap()
}
