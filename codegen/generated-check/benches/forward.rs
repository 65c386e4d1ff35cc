//! The generated tutorial MLP's forward pass: batch-1 latency and
//! batch-1000 throughput, on the process's kernel tier (prefix
//! `NNSPEC_KERNELS=avx2` to hold it there), on 1 thread and on 2.
//!
//!     cargo bench -p nnspec-generated-check --bench forward
//!
//! Each figure is the fastest of many repetitions (other work on the
//! machine only ever adds time), with the median beside it.

mod common;

use nnspec_generated_check::mnist_mlp as m;
use nnspec_runtime::parallel::Parallel;

fn main() {
    let cpu = common::cpu_name();
    println!(
        "generated MnistMlp forward; {cpu}; kernel tier {:?}",
        nnspec_runtime::cpu::tier()
    );
    let model = m::MnistMlp::new(1);
    let x = [0.25f32; 784];
    // Warm up, then batch 1 through `forward` (stack arena, one thread).
    for _ in 0..1000 {
        std::hint::black_box(model.forward(std::hint::black_box(&x)));
    }
    let (best, median) = common::time(20_000, || {
        std::hint::black_box(model.forward(std::hint::black_box(&x)));
    });
    println!(
        "batch 1: {:.2} us (median {:.2} us)",
        best.as_secs_f64() * 1e6,
        median.as_secs_f64() * 1e6
    );
    // Batch 1 on two threads: each core streams half of the first layer's
    // 401 KB of weights from its own L2.
    let par = Parallel::new(2);
    let mut arena = vec![0.0f32; m::arena_len(1, 2)];
    let mut y = [0.0f32; 10];
    for _ in 0..1000 {
        model.forward_batch(&x, &mut y, &mut arena, &par);
    }
    let (best, median) = common::time(20_000, || {
        model.forward_batch(std::hint::black_box(&x), &mut y, &mut arena, &par);
    });
    println!(
        "batch 1, 2 threads: {:.2} us (median {:.2} us)",
        best.as_secs_f64() * 1e6,
        median.as_secs_f64() * 1e6
    );
    let batch = 1000;
    let input: Vec<f32> = (0..batch * 784).map(|i| (i % 255) as f32 / 255.0).collect();
    let mut output = vec![0.0f32; batch * 10];
    for threads in [1, 2] {
        let par = Parallel::new(threads);
        let mut arena = vec![0.0f32; m::arena_len(batch, par.threads())];
        model.forward_batch(&input, &mut output, &mut arena, &par);
        let (best, median) = common::time(200, || {
            model.forward_batch(&input, &mut output, &mut arena, &par);
        });
        println!(
            "batch {batch}, {threads} thread(s): {:.1} us = {:.0} samples/s (median {:.0})",
            best.as_secs_f64() * 1e6,
            batch as f64 / best.as_secs_f64(),
            batch as f64 / median.as_secs_f64()
        );
    }
}
