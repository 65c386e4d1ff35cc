//! Issue 8 asks generated code to call the runtime's kernels or emit its
//! own loops with every size a constant, "whichever measures faster". This
//! measures the alternative the emitter does not take: the tutorial MLP's
//! forward pass as emitted loops, every size a const generic, exactly what
//! an emitter would print, against the generated code (literal sizes
//! passed to the runtime's kernels), same weights, same process.
//!
//!     cargo bench -p nnspec-generated-check --bench emitted_loops
//!
//! The loops are compiled as generated code is, for the crate's target
//! (baseline x86-64 unless the user sets `-C target-cpu`); the runtime's
//! kernels pick AVX2 or AVX-512 at run time. Outputs are compared too, so
//! the loops are known to compute the same function.

mod common;

use nnspec_generated_check::mnist_mlp as m;
use nnspec_runtime::threads::Serial;

/// `y = relu?(x W^T + b)` for a batch, every size a constant: the loop
/// nest an emitter would print for a dense layer.
fn dense<const IN: usize, const OUT: usize, const RELU: bool>(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
) {
    assert_eq!(w.len(), IN * OUT, "weights");
    for (x, y) in x.chunks_exact(IN).zip(y.chunks_exact_mut(OUT)) {
        let x: &[f32; IN] = x.try_into().expect("a row");
        for (o, y) in y.iter_mut().enumerate() {
            let row: &[f32; IN] = w[o * IN..][..IN].try_into().expect("a row");
            // Eight partial sums, so the compiler may vectorize without
            // reassociating one chain.
            let mut acc = [0.0f32; 8];
            for (r, v) in row.chunks_exact(8).zip(x.chunks_exact(8)) {
                for ((a, &r), &v) in acc.iter_mut().zip(r).zip(v) {
                    *a += r * v;
                }
            }
            let tail = (IN / 8) * 8;
            let rest: f32 = row[tail..].iter().zip(&x[tail..]).map(|(r, v)| r * v).sum();
            let sum = acc.iter().sum::<f32>() + rest + b[o];
            *y = if RELU { sum.max(0.0) } else { sum };
        }
    }
}

fn emitted_forward(w: &[f32], x: &[f32], hidden: &mut [f32], y: &mut [f32]) {
    dense::<784, 128, true>(
        x,
        &w[m::params::FC1_WEIGHT],
        &w[m::params::FC1_BIAS],
        hidden,
    );
    dense::<128, 10, false>(
        hidden,
        &w[m::params::FC2_WEIGHT],
        &w[m::params::FC2_BIAS],
        y,
    );
}

fn main() {
    let cpu = common::cpu_name();
    println!(
        "MnistMlp forward: emitted const-size loops against generated kernel calls; {cpu}; kernel tier {:?}; loops compiled for {}",
        nnspec_runtime::cpu::tier(),
        if cfg!(target_feature = "avx512f") {
            "AVX-512"
        } else if cfg!(target_feature = "avx2") {
            "AVX2"
        } else {
            "the baseline (SSE2)"
        }
    );
    let model = m::MnistMlp::new(1);
    let w = model.weights();
    for (batch, reps) in [(1usize, 20_000usize), (1000, 100)] {
        let x: Vec<f32> = (0..batch * 784).map(|i| (i % 255) as f32 / 255.0).collect();
        let (mut ours, mut loops) = (vec![0.0f32; batch * 10], vec![0.0f32; batch * 10]);
        let mut hidden = vec![0.0f32; batch * 128];
        let mut arena = vec![0.0f32; m::arena_len(batch, 1)];
        model.forward_batch(&x, &mut ours, &mut arena, &Serial);
        emitted_forward(w, &x, &mut hidden, &mut loops);
        let worst = ours
            .iter()
            .zip(&loops)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "the loops compute another function: {worst}");
        let mut ratios = Vec::new();
        for round in 0..5 {
            let mut a = || model.forward_batch(&x, &mut ours, &mut arena, &Serial);
            let mut b = || emitted_forward(w, &x, &mut hidden, &mut loops);
            let (k, l) = if round % 2 == 0 {
                let k = common::time(reps, &mut a);
                (k, common::time(reps, &mut b))
            } else {
                let l = common::time(reps, &mut b);
                (common::time(reps, &mut a), l)
            };
            let ratio = l.0.as_secs_f64() / k.0.as_secs_f64();
            ratios.push(ratio);
            println!(
                "batch {batch:>4}, round {}: kernel calls {:.2} us, emitted loops {:.2} us: loops/kernels {ratio:.2}",
                round + 1,
                k.0.as_secs_f64() * 1e6,
                l.0.as_secs_f64() * 1e6
            );
        }
        ratios.sort_by(f64::total_cmp);
        println!("batch {batch}: median loops/kernels {:.2}", ratios[2]);
    }
}
