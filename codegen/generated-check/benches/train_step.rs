//! Generated `train_step` against the executor's, the same step of the
//! same model on the same batch, timed in alternating rounds in one
//! process (so a slow spell of the machine hits both): the tutorial MLP at
//! batch 100 and LeNet at batch 64, on the process's kernel tier (prefix
//! `NNSPEC_KERNELS=avx2` to hold it there), on 1 thread and on 2.
//!
//!     cargo bench -p nnspec-generated-check --bench train_step
//!
//! Both call the same kernels; the difference is what the executor adds
//! around them (step dispatch through the Plan, per-step scratch vectors,
//! a buffer per value instead of an arena planned by liveness).

mod common;

use std::time::Instant;

use nnspec_generated_check::{lenet, mnist_mlp};
use nnspec_runtime::exec::Executor;
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::plan::Plan;
use nnspec_runtime::rng::Rng;

fn training_plan(file: &str, model: &str) -> Plan {
    let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(path).expect("example model");
    let compiled = nnspec_dsl::compile(&source);
    let config = compiled.train(model).expect("a train block");
    nnspec_codegen::lower_training(compiled.model(model).expect("model"), config)
}

/// Median of per-round ratios and the two medians, over `rounds` rounds of
/// `steps` steps each of `generated` and `executor`, alternating.
fn compare(rounds: usize, steps: usize, mut generated: impl FnMut(), mut executor: impl FnMut()) {
    let mut per_round = Vec::new();
    let (mut g_times, mut e_times) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let run = |f: &mut dyn FnMut()| {
            let t = Instant::now();
            for _ in 0..steps {
                f();
            }
            t.elapsed().as_secs_f64() / steps as f64
        };
        // Alternate which goes first.
        let (g, e) = if round % 2 == 0 {
            let g = run(&mut generated);
            (g, run(&mut executor))
        } else {
            let e = run(&mut executor);
            (run(&mut generated), e)
        };
        per_round.push(e / g);
        g_times.push(g);
        e_times.push(e);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (g, e, r) = (
        median(&mut g_times),
        median(&mut e_times),
        median(&mut per_round),
    );
    println!(
        "  generated {:.1} us/step, executor {:.1} us/step: executor/generated {:.3} (median of per-round ratios)",
        g * 1e6,
        e * 1e6,
        r
    );
}

macro_rules! bench_model {
    ($m:ident, $ty:ident, $file:literal, $name:literal, $batch:expr, $classes:expr) => {{
        let batch: usize = $batch;
        let plan = training_plan($file, $name);
        let mut rng = Rng::new(1);
        let x: Vec<f32> = (0..batch * $m::X_LEN)
            .map(|_| rng.uniform(0.0, 1.0))
            .collect();
        let labels: Vec<u32> = (0..batch).map(|_| rng.below($classes) as u32).collect();
        for threads in [1, 2] {
            println!("{} batch {batch}, {threads} thread(s):", $name);
            let par = Parallel::new(threads);
            let mut model = $m::$ty::new(0);
            let mut state = $m::training::state(0);
            let mut arena = vec![0.0f32; $m::training::arena_len(batch, threads)];
            let mut exec = Executor::new(plan.clone(), batch, threads).expect("fits");
            exec.init_params(0);
            let (xs, ls) = exec.batch_slots(batch);
            xs.copy_from_slice(&x);
            ls.copy_from_slice(&labels);
            for _ in 0..20 {
                model.train_step(&x, &labels, &mut state, &mut arena, &par);
                exec.train_step(batch);
            }
            compare(
                30,
                20,
                || {
                    std::hint::black_box(
                        model.train_step(&x, &labels, &mut state, &mut arena, &par),
                    );
                },
                || {
                    std::hint::black_box(exec.train_step(batch));
                },
            );
        }
    }};
}

fn main() {
    let cpu = common::cpu_name();
    println!(
        "generated train_step against the executor's; {cpu}; kernel tier {:?}",
        nnspec_runtime::cpu::tier()
    );
    bench_model!(mnist_mlp, MnistMlp, "mnist_mlp.nn", "MnistMlp", 100, 10);
    bench_model!(lenet, LeNet, "lenet.nn", "LeNet", 64, 10);
}
