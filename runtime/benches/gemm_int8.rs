//! The int8 kernels against the f32 ones on the tutorial MLP's layers
//! (784→128 with ReLU, 128→10), at batch 1 and 1000, on one thread: every
//! int8 tier this CPU runs, forced in turn, next to the f32
//! `kernels::dense::forward` of the same shape at the process's tier; and
//! the whole batch-1 int8 forward (quantize the input, both layers,
//! dequantize the logits), the latency issue 12 asks to keep under 1.5 us.
//!
//! `cargo bench -p nnspec-runtime --bench gemm_int8`. Numbers are the
//! fastest of many samples (the machine is shared; others only add time).

use nnspec_runtime::cpu;
use nnspec_runtime::kernels::dense;
use nnspec_runtime::plan::ConvShape;
use nnspec_runtime::rng::Rng;
use nnspec_runtime::threads::Serial;
use nnspec_runtime_core::quant::kernels::{
    self, PackedLayer, force_int8_tier, supported_int8_tiers,
};
use nnspec_runtime_core::quant::{QuantParams, Requant};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Seconds per call of `f`: the fastest of 40 samples of about 2 ms each.
fn time_per_call(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < Duration::from_millis(20) || calls < 3 {
        f();
        calls += 1;
    }
    let per_sample =
        ((0.002 / (start.elapsed().as_secs_f64() / calls as f64)).ceil() as u32).max(1);
    (0..40)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_sample {
                f();
            }
            t.elapsed().as_secs_f64() / per_sample as f64
        })
        .fold(f64::INFINITY, f64::min)
}

struct Int8Layer {
    n: usize,
    k: usize,
    packed: Vec<i8>,
    sums: Vec<i32>,
    bias: Vec<i32>,
    requant: Vec<Requant>,
}

impl Int8Layer {
    fn new(n: usize, k: usize, rng: &mut Rng) -> Int8Layer {
        let weight: Vec<i8> = (0..n * k)
            .map(|_| (rng.below(255) as i32 - 127) as i8)
            .collect();
        Int8Layer {
            n,
            k,
            packed: kernels::pack_weights(&weight, n, k),
            sums: kernels::weight_sums(&weight, n, k),
            bias: (0..n).map(|_| rng.below(20_001) as i32 - 10_000).collect(),
            requant: vec![Requant::from_real(1.0 / (127.0 * (k as f64).sqrt())); n],
        }
    }

    fn view(&self) -> PackedLayer<'_> {
        PackedLayer {
            n: self.n,
            k: self.k,
            packed: &self.packed,
            weight_sums: &self.sums,
            bias: &self.bias,
            requant: &self.requant,
        }
    }
}

fn main() {
    let mut rng = Rng::new(1);
    let tiers: Vec<_> = supported_int8_tiers().collect();
    println!(
        "int8 tiers this CPU runs: {}; f32 tier {}",
        tiers
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", "),
        cpu::tier()
    );
    // The MLP's layers, and 784→32 whose 25 KB of weights fit in L1 (a
    // batch-1 layer streams its weights once per call: 784→128's 100 KB
    // come from L2, and that bandwidth bounds it on every tier).
    let shapes = [(784usize, 128usize), (128, 10), (784, 32)];
    let layers: Vec<Int8Layer> = shapes
        .iter()
        .map(|&(k, n)| Int8Layer::new(n, k, &mut rng))
        .collect();
    println!("\nGOP/s (2·rows·n·k per call), one thread");
    print!("{:<18}", "layer");
    for t in &tiers {
        print!("{:>12}", t.name());
    }
    println!("{:>12}{:>12}", "f32", "best/f32");
    for rows in [1usize, 1000] {
        for (layer, &(k, n)) in layers.iter().zip(&shapes) {
            if rows > 1 && n == 32 {
                continue;
            }
            let ops = 2.0 * (rows * n * k) as f64;
            let x: Vec<u8> = (0..rows * k).map(|_| rng.below(128) as u8).collect();
            let mut y = vec![0u8; rows * n];
            print!("{:<18}", format!("{rows}x{k}->{n}"));
            let mut best: f64 = 0.0;
            for &t in &tiers {
                force_int8_tier(t);
                let secs = time_per_call(|| {
                    kernels::dense(
                        black_box(&x),
                        rows,
                        &layer.view(),
                        3,
                        0,
                        true,
                        &mut y,
                        &Serial,
                    );
                    black_box(&y);
                });
                best = best.max(ops / secs);
                print!("{:>12.1}", ops / secs / 1e9);
            }
            let xf: Vec<f32> = (0..rows * k).map(|_| rng.uniform(0.0, 1.0)).collect();
            let wf: Vec<f32> = (0..n * k).map(|_| rng.uniform(-0.1, 0.1)).collect();
            let bf = vec![0.01f32; n];
            let mut yf = vec![0f32; rows * n];
            let secs = time_per_call(|| {
                dense::forward(black_box(&xf), &wf, Some(&bf), &mut yf, rows, k, n, &Serial);
                black_box(&yf);
            });
            println!("{:>12.1}{:>11.2}x", ops / secs / 1e9, best / (ops / secs));
        }
    }
    println!("\nLeNet's convolutions, 64 images, GOP/s, one thread");
    let conv = |in_channels, in_hw, out_channels, padding| ConvShape {
        in_channels,
        in_h: in_hw,
        in_w: in_hw,
        out_channels,
        kernel: [5, 5],
        stride: [1, 1],
        padding: [padding; 2],
        dilation: [1, 1],
    };
    for (name, shape) in [
        ("conv1 1->6 28x28", conv(1, 28, 6, 2)),
        ("conv2 6->16 14x14", conv(6, 14, 16, 0)),
    ] {
        let k = shape.in_channels * 25;
        let layer = Int8Layer::new(shape.out_channels, k, &mut rng);
        let batch = 64;
        let x: Vec<u8> = (0..batch * shape.in_channels * shape.in_h * shape.in_w)
            .map(|_| rng.below(128) as u8)
            .collect();
        let pixels = (shape.in_h + 2 * shape.padding[0] - 4).pow(2);
        let mut y = vec![0u8; batch * shape.out_channels * pixels];
        let mut scratch = vec![0u8; kernels::conv2d_scratch_len(&shape)];
        let ops = 2.0 * (batch * pixels * k * shape.out_channels) as f64;
        print!("{name:<18}");
        for &t in &tiers {
            force_int8_tier(t);
            let secs = time_per_call(|| {
                kernels::conv2d(
                    black_box(&x),
                    batch,
                    &shape,
                    &layer.view(),
                    3,
                    0,
                    true,
                    &mut y,
                    &mut scratch,
                    &Serial,
                );
                black_box(&y);
            });
            print!("{:>12.1}", ops / secs / 1e9);
        }
        println!();
    }
    println!(
        "\nbatch-1 int8 MLP forward (quantize 784, 784->128 relu, 128->10, dequantize 10), one thread"
    );
    let input: Vec<f32> = (0..784).map(|_| rng.uniform(0.0, 1.0)).collect();
    let q_in = QuantParams::from_range(0.0, 1.0);
    let q_out = QuantParams {
        scale: 0.1,
        zero_point: 64,
    };
    let (mut xq, mut h, mut o, mut logits) = (
        vec![0u8; 784],
        vec![0u8; 128],
        vec![0u8; 10],
        vec![0f32; 10],
    );
    for &t in &tiers {
        force_int8_tier(t);
        let secs = time_per_call(|| {
            kernels::quantize(black_box(&input), q_in, &mut xq);
            kernels::dense(
                &xq,
                1,
                &layers[0].view(),
                q_in.zero_point,
                0,
                true,
                &mut h,
                &Serial,
            );
            kernels::dense(&h, 1, &layers[1].view(), 0, 64, false, &mut o, &Serial);
            kernels::dequantize(&o, q_out, &mut logits);
            black_box(&logits);
        });
        let quantize = time_per_call(|| {
            kernels::quantize(black_box(&input), q_in, &mut xq);
            black_box(&xq);
        });
        let first = time_per_call(|| {
            kernels::dense(
                black_box(&xq),
                1,
                &layers[0].view(),
                q_in.zero_point,
                0,
                true,
                &mut h,
                &Serial,
            );
            black_box(&h);
        });
        println!(
            "{:<12}{:>8.3} us   (quantize {:.3} us, 784->128 {:.3} us)",
            t.name(),
            secs * 1e6,
            quantize * 1e6,
            first * 1e6
        );
    }
}
