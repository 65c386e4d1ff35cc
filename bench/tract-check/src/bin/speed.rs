//! The tutorial MLP's forward pass: nnspec's generated code (from
//! `model!`) against tract running the same model exported to ONNX, in
//! one process, alternating rounds.
//!
//! ```text
//! cargo run --release --manifest-path bench/tract-check/Cargo.toml --bin speed
//! ```
//!
//! Batch 1 (latency) and batch 1000 (throughput), on one thread: tract's
//! plan runs on the calling thread. Each figure is the best of many calls
//! (other work on the machine only ever adds time) with the median; the
//! ratio is tract's best over nnspec's best, per round, then the median
//! of the rounds. The CPU and nnspec's kernel tier are printed first.

use std::time::Duration;

// The generated-code benchmarks' timing (best and median of many calls).
#[path = "../../../../codegen/generated-check/benches/common/mod.rs"]
mod common;

use common::time;
use nnspec::codegen::onnx::{self, Provenance};
use nnspec::runtime::threads::Serial;
use tract_onnx::prelude::*;

nnspec::model! {
    model MnistMlp {
        input x: f32[784];
        output logits = x -> dense(128) as fc1 -> relu -> dense(10) as fc2;
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() -> TractResult<()> {
    let cpu = common::cpu_name();
    println!(
        "MnistMlp forward, generated code against tract; {cpu}; nnspec kernel tier {:?}",
        nnspec::runtime::cpu::tier()
    );
    let compiled = nnspec::dsl::compile(mnist_mlp::SOURCE);
    let model = compiled.model("MnistMlp").expect("the model");
    // The same weights on both sides: the seed's initialization.
    let weights = onnx::initial_weights(model, 1)?;
    let net = MnistMlp::new(1);
    let provenance = Provenance {
        source_file: "model!",
        source: mnist_mlp::SOURCE.as_bytes(),
        weights: "seed 1".into(),
    };
    let bytes = onnx::to_bytes(&onnx::export(model, &weights, &provenance)?);
    let runnable = tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())?
        .into_optimized()?
        .into_runnable()?;

    let mut ratios: Vec<(usize, f64)> = Vec::new();
    for round in 0..5 {
        for (batch, reps) in [(1usize, 20_000usize), (1000, 200)] {
            let x: Vec<f32> = (0..batch * 784).map(|i| (i % 255) as f32 / 255.0).collect();
            let input: TValue = Tensor::from_shape(&[batch, 784], &x)?.into_tvalue();
            let mut y = vec![0.0f32; batch * 10];
            let mut arena = vec![0.0f32; mnist_mlp::arena_len(batch, 1)];
            let mut ours = || {
                net.forward_batch(&x, &mut y, &mut arena, &Serial);
                std::hint::black_box(&y);
            };
            let mut theirs = || {
                let out = runnable.run(tvec!(input.clone())).expect("tract runs");
                std::hint::black_box(out);
            };
            let (a, b) = if round % 2 == 0 {
                let a = time(reps, &mut ours);
                (a, time(reps, &mut theirs))
            } else {
                let b = time(reps, &mut theirs);
                (time(reps, &mut ours), b)
            };
            let ratio = b.0.as_secs_f64() / a.0.as_secs_f64();
            ratios.push((batch, ratio));
            println!(
                "round {}: batch {batch:>4}, 1 thread: nnspec {:.2} us (median {:.2}), tract {:.2} us (median {:.2}): tract/nnspec {ratio:.2}",
                round + 1,
                us(a.0),
                us(a.1),
                us(b.0),
                us(b.1),
            );
        }
    }
    for batch in [1, 1000] {
        let mut r: Vec<f64> = ratios
            .iter()
            .filter(|(b, _)| *b == batch)
            .map(|(_, r)| *r)
            .collect();
        r.sort_by(f64::total_cmp);
        println!(
            "batch {batch}: median tract/nnspec {:.2} (>1: nnspec faster)",
            r[r.len() / 2]
        );
    }
    Ok(())
}
