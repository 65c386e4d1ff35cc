//! Where the time of one training step goes, through the whole stack
//! (plan, executor, kernels): gather, forward, loss, backward, update, at
//! the model's own batch size, on 1 and 2 threads. The tutorial MLP by
//! default; `lenet` for examples/lenet.nn:
//!
//!     cargo bench -p nnspec-codegen --bench train_step [-- lenet]
//!
//! The batches come from 6000 random samples (19 MB for the MLP);
//! `TRAIN_STEP_SAMPLES=60000` makes the data set as large as MNIST's.
//!
//! It lives in the codegen crate, the lowest one that can both build a plan
//! from source (dsl, codegen) and run it (runtime).
//!
//! Each phase is the fastest of many repetitions (other work on the machine
//! only ever adds time).

use std::time::{Duration, Instant};

use nnspec_codegen as codegen;
use nnspec_dsl as dsl;
use nnspec_runtime::data::Dataset;
use nnspec_runtime::exec::Executor;
use nnspec_runtime::rng::Rng;

fn main() {
    let lenet = std::env::args().skip(1).any(|a| a == "lenet");
    let (source, name, shape, steps) = if lenet {
        (
            include_str!("../../examples/lenet.nn"),
            "LeNet",
            vec![1, 28, 28],
            300,
        )
    } else {
        (
            include_str!("../../examples/mnist_mlp.nn"),
            "MnistMlp",
            vec![784],
            2000,
        )
    };
    let compiled = dsl::compile(source);
    let model = compiled.model(name).unwrap();
    let config = compiled.train(name).unwrap();
    let batch = config.batch;
    let mut rng = Rng::new(1);
    // `TRAIN_STEP_SAMPLES=60000`: gather from a data set as large as
    // MNIST's (188 MB), far out of the caches, as `dslc train` does.
    let n = std::env::var("TRAIN_STEP_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6000usize);
    let features: Vec<f32> = (0..n * 784).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let labels: Vec<u32> = (0..n).map(|_| rng.below(10) as u32).collect();
    let data = Dataset::new(features, labels, shape, 10, None, "random").unwrap();
    println!(
        "{name}, batch {batch}, kernel tier {:?}",
        nnspec_runtime::cpu::tier()
    );
    for threads in [1, 2] {
        let plan = codegen::lower_training(model, config);
        let mut exec = Executor::new(plan, batch, threads).expect("fits in memory");
        exec.init_params(0);
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        let mut best = [Duration::MAX; 6];
        for round in 0..steps {
            let chunk = &order[(round % (n / batch)) * batch..][..batch];
            let t0 = Instant::now();
            exec.load_batch(&data, chunk);
            let t1 = Instant::now();
            exec.forward(batch, true);
            let t2 = Instant::now();
            exec.loss(batch, true);
            let t3 = Instant::now();
            exec.backward(batch);
            let t4 = Instant::now();
            exec.update();
            let t5 = Instant::now();
            for (slot, d) in
                best.iter_mut()
                    .zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0])
            {
                *slot = (*slot).min(d);
            }
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "threads {threads}: gather {:.1} us, forward {:.1}, loss {:.1}, backward {:.1}, update {:.1}; step {:.1} us = {:.0} samples/s",
            us(best[0]),
            us(best[1]),
            us(best[2]),
            us(best[3]),
            us(best[4]),
            us(best[5]),
            batch as f64 / best[5].as_secs_f64()
        );
    }
}
