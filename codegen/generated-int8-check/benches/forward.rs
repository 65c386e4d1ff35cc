//! The generated int8 tutorial MLP (examples/mnist_mlp.nn, seeded weights,
//! quantized by the build script) next to the generated f32 one with the
//! same weights: batch-1 latency and batch-1000 throughput on one thread,
//! on the process's kernel tiers (`NNSPEC_KERNELS` holds the f32 tier,
//! `NNSPEC_INT8_KERNELS` the int8 one where the tiered kernels exist).
//!
//!     cargo bench -p nnspec-generated-int8-check --bench forward
//!
//! Each figure is the fastest of many repetitions (other work on the
//! machine only ever adds time), with the median beside it.

#[path = "../../generated-check/benches/common/mod.rs"]
mod common;
// The bench needs the plans' weights and inputs, not the quantization.
#[allow(dead_code)]
#[path = "../plans.rs"]
mod plans;

use nnspec_generated_int8_check::{mnist_mlp as int8, mnist_mlp_f32 as f32m};
use nnspec_runtime::threads::Serial;

fn report(what: &str, batch: usize, best: std::time::Duration, median: std::time::Duration) {
    if batch == 1 {
        println!(
            "{what}, batch 1: {:.3} us (median {:.3} us)",
            best.as_secs_f64() * 1e6,
            median.as_secs_f64() * 1e6
        );
    } else {
        println!(
            "{what}, batch {batch}: {:.1} us = {:.0} samples/s (median {:.0})",
            best.as_secs_f64() * 1e6,
            batch as f64 / best.as_secs_f64(),
            batch as f64 / median.as_secs_f64()
        );
    }
}

fn main() {
    println!(
        "generated MnistMlp forward, int8 and f32; {}; f32 kernel tier {:?}",
        common::cpu_name(),
        nnspec_runtime::cpu::tier()
    );
    let dir = env!("CARGO_MANIFEST_DIR");
    let plan = plans::float_plan(dir, "../../examples/mnist_mlp.nn", "MnistMlp");
    let weights = plans::seeded_params(&plan, plans::WEIGHT_SEED);
    let f32_model = f32m::MnistMlp::from_weights(weights.as_slice()).expect("WEIGHTS_LEN");
    let x = [0.25f32; 784];

    // Batch 1: `forward`, stack arenas, one thread.
    let (best, median) = common::time(50_000, || {
        std::hint::black_box(int8::MnistMlp.forward(std::hint::black_box(&x)));
    });
    report("int8", 1, best, median);
    let (best, median) = common::time(50_000, || {
        std::hint::black_box(f32_model.forward(std::hint::black_box(&x)));
    });
    report("f32 ", 1, best, median);

    // Batch 1000 over caller arenas, one thread.
    let batch = 1000;
    let input = plans::inputs(&plan, batch, 5, 0.0, 1.0);
    let mut output = vec![0.0f32; batch * 10];
    let mut arena = vec![0u8; int8::arena_len(batch)];
    let mut float_arena = vec![0.0f32; int8::float_arena_len(batch, 1)];
    let (int8_best, median) = common::time(300, || {
        int8::MnistMlp.forward_batch(&input, &mut output, &mut arena, &mut float_arena, &Serial);
    });
    report("int8", batch, int8_best, median);
    let mut f32_arena = vec![0.0f32; f32m::arena_len(batch, 1)];
    let (f32_best, median) = common::time(300, || {
        f32_model.forward_batch(&input, &mut output, &mut f32_arena, &Serial);
    });
    report("f32 ", batch, f32_best, median);
    println!(
        "int8 / f32 throughput at batch {batch}: {:.2}x",
        f32_best.as_secs_f64() / int8_best.as_secs_f64()
    );
}
