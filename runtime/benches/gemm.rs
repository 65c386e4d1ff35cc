//! Matrix-multiply and thread-pool measurements behind the choices in
//! runtime/core/src/gemm/ and runtime/src/parallel.rs (bench/README.md,
//! "Matrix multiply").
//!
//! `cargo bench -p nnspec-runtime --bench gemm [-- FILTER]`; FILTER is a
//! substring of a section name: `peak`, `pool`, `mlp`, `gemm`, `pointwise`.
//! The `gemm` section times every tier this CPU runs side by side; the
//! others run at the process's tier (`NNSPEC_KERNELS`, see runtime/core/src/cpu.rs).
//!
//! The machine is shared with other work, which only ever adds time, so
//! every number is the fastest of many samples, and `NNSPEC_BENCH_ROUNDS=N`
//! repeats the `mlp` and `gemm` sections N times (spread over minutes) and
//! keeps each cell's fastest round.

use nnspec_runtime::cpu::{self, Tier};
use nnspec_runtime::gemm::{Backend, Trans, sgemm_with};
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::rng::Rng;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn rounds() -> usize {
    std::env::var("NNSPEC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// Element-wise minimum of `into` and `new` (the first round fills it).
fn keep_fastest(into: &mut Vec<f64>, new: Vec<f64>) {
    if into.is_empty() {
        *into = new;
    } else {
        for (a, b) in into.iter_mut().zip(new) {
            *a = a.min(b);
        }
    }
}

/// Seconds per call of `f`: the fastest of 40 samples of about 2 ms each.
/// The minimum, not the median, because the machine is shared: other jobs
/// only ever add time, and the fastest sample is the one they left alone.
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

fn random(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

#[allow(clippy::too_many_arguments)]
fn matrixmultiply(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    par: &Parallel,
) {
    let (a_rs, a_cs) = if ta == Trans::No { (k, 1) } else { (1, m) };
    let (b_rs, b_cs) = if tb == Trans::No { (n, 1) } else { (1, k) };
    par.for_each_chunk_mut(&mut c[..m * n], n, &|row0, chunk| {
        let rows = chunk.len() / n;
        // SAFETY: strides describe the checked slices; the chunk is rows
        // `row0..row0 + rows` of C.
        unsafe {
            matrixmultiply::sgemm(
                rows,
                k,
                n,
                1.0,
                a.as_ptr().add(row0 * a_rs),
                a_rs as isize,
                a_cs as isize,
                b.as_ptr(),
                b_rs as isize,
                b_cs as isize,
                0.0,
                chunk.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    });
}

/// The portable tier's alternative to the `gemm` crate: loops LLVM
/// vectorizes for the baseline target (a row of C += a scalar of A times a
/// row of B; a transposed B is copied to rows first, as part of the time).
#[allow(clippy::too_many_arguments)]
fn plain_loops(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    par: &Parallel,
) {
    let (a_rs, a_cs) = if ta == Trans::No { (k, 1) } else { (1, m) };
    let rows_of_b: Vec<f32>;
    let b = if tb == Trans::No {
        b
    } else {
        rows_of_b = (0..k * n).map(|i| b[(i % n) * k + i / n]).collect();
        &rows_of_b
    };
    par.for_each_chunk_mut(&mut c[..m * n], n, &|row0, chunk| {
        for (r, crow) in chunk.chunks_exact_mut(n).enumerate() {
            crow.fill(0.0);
            let i = row0 + r;
            for p in 0..k {
                let x = a[i * a_rs + p * a_cs];
                for (cv, &bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                    *cv += x * bv;
                }
            }
        }
    });
}

/// GFLOP/s per core of the FMA loop for each tier this CPU runs
/// ([`bench_peak`]); the portable tier's products use the `gemm` crate's
/// own dispatch, so its denominator is the best tier's.
struct Peaks(Vec<(Tier, f64)>);

impl Peaks {
    fn of(&self, t: Tier) -> f64 {
        self.0
            .iter()
            .find(|(p, _)| *p == t)
            .or(self.0.first())
            .map_or(f64::NAN, |p| p.1)
    }
}

fn bench_gemm(peaks: &Peaks) {
    let shapes: &[(&str, usize, usize, usize, Trans, Trans)] = &[
        ("mlp fwd X.W1^T", 100, 128, 784, Trans::No, Trans::Yes),
        ("one sample x.W1^T", 1, 128, 784, Trans::No, Trans::Yes),
        ("mlp dW1 = dY^T.X", 128, 784, 100, Trans::Yes, Trans::No),
        ("mlp dX = dY.W1", 100, 784, 128, Trans::No, Trans::No),
        ("mlp fwd H.W2^T", 100, 10, 128, Trans::No, Trans::Yes),
        ("mlp dW2 = dY^T.H", 10, 128, 100, Trans::Yes, Trans::No),
        ("mlp dH = dY.W2", 100, 128, 10, Trans::No, Trans::No),
        ("conv W.cols", 6, 784, 25, Trans::No, Trans::No),
        ("conv W.cols", 16, 100, 150, Trans::No, Trans::No),
        ("conv W.cols", 64, 196, 576, Trans::No, Trans::No),
        ("conv dW = dY.cols^T", 64, 576, 196, Trans::No, Trans::Yes),
        ("LeNet conv1 dW", 6, 25, 784, Trans::No, Trans::Yes),
        ("LeNet conv2 dW", 16, 150, 100, Trans::No, Trans::Yes),
        ("LeNet conv1 dcols", 25, 784, 6, Trans::Yes, Trans::No),
        ("LeNet conv2 dcols", 150, 100, 16, Trans::Yes, Trans::No),
        ("conv dcols = W^T.dY", 576, 196, 64, Trans::Yes, Trans::No),
    ];
    let best_tier = cpu::best_supported();
    // Columns: (header, tier whose peak is the denominator).
    let mut columns = vec![
        ("gemm crate + its rayon", best_tier),
        ("portable: gemm crate, our split", best_tier),
        ("plain loops, our split", best_tier),
        ("core plain kernel (no_std portable), our split", best_tier),
        ("matrixmultiply, our split", best_tier),
    ];
    let own: Vec<Tier> = cpu::supported_tiers()
        .filter(|&t| t != Tier::Portable)
        .collect();
    for &t in own.iter().rev() {
        columns.push((
            if t == Tier::Avx2 {
                "own AVX2"
            } else {
                "own AVX-512"
            },
            t,
        ));
    }
    let pars = [Parallel::new(1), Parallel::new(2)];
    let mut best: Vec<Vec<f64>> = vec![Vec::new(); shapes.len() * pars.len()];
    for _ in 0..rounds() {
        for (s, &(_, m, n, k, ta, tb)) in shapes.iter().enumerate() {
            let mut rng = Rng::new(1);
            let a = random(m * k, &mut rng);
            let b = random(k * n, &mut rng);
            let mut c = vec![0.0f32; m * n];
            for (p, par) in pars.iter().enumerate() {
                let mut cells = Vec::new();
                for backend in [Backend::GemmCrateRayon, Backend::Portable] {
                    cells.push(time_per_call(|| {
                        sgemm_with(backend, m, n, k, &a, ta, &b, tb, &mut c, false, par);
                        black_box(&c);
                    }));
                }
                cells.push(time_per_call(|| {
                    plain_loops(m, n, k, &a, ta, &b, tb, &mut c, par);
                    black_box(&c);
                }));
                cells.push(time_per_call(|| {
                    sgemm_with(Backend::Plain, m, n, k, &a, ta, &b, tb, &mut c, false, par);
                    black_box(&c);
                }));
                cells.push(time_per_call(|| {
                    matrixmultiply(m, n, k, &a, ta, &b, tb, &mut c, par);
                    black_box(&c);
                }));
                for &t in own.iter().rev() {
                    cells.push(time_per_call(|| {
                        sgemm_with(t.into(), m, n, k, &a, ta, &b, tb, &mut c, false, par);
                        black_box(&c);
                    }));
                }
                keep_fastest(&mut best[s * pars.len() + p], cells);
            }
        }
    }
    let headers: Vec<&str> = columns.iter().map(|c| c.0).collect();
    println!(
        "| product (m x n x k, op) | threads | {} |",
        headers.join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(columns.len()));
    for (s, &(name, m, n, k, ta, tb)) in shapes.iter().enumerate() {
        let flops = 2.0 * (m * n * k) as f64;
        for (p, par) in pars.iter().enumerate() {
            let row: Vec<String> = best[s * pars.len() + p]
                .iter()
                .zip(&columns)
                .map(|(t, &(_, tier))| {
                    let g = flops / t / 1e9;
                    let peak = peaks.of(tier) * par.threads() as f64;
                    format!("{:.1} us, {g:.0} ({:.0}%)", t * 1e6, 100.0 * g / peak)
                })
                .collect();
            let op = |t: Trans| if t == Trans::Yes { "T" } else { "N" };
            println!(
                "| {name} ({m}x{n}x{k}, {}{}) | {} | {} |",
                op(ta),
                op(tb),
                par.threads(),
                row.join(" | ")
            );
        }
    }
}

fn bench_pool() {
    let par = Parallel::new(2);
    let hot = time_per_call(|| {
        par.for_each_thread(&|i| {
            black_box(i);
        })
    });
    println!(
        "pool, 2 threads, empty task back to back: {:.2} us per call",
        hot * 1e6
    );
    let mut cold = Vec::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(2));
        let t = Instant::now();
        par.for_each_thread(&|i| {
            black_box(i);
        });
        cold.push(t.elapsed().as_secs_f64());
    }
    cold.sort_by(f64::total_cmp);
    println!(
        "pool, 2 threads, empty task after 2 ms idle (workers parked): median {:.1} us, max {:.1} us",
        cold[cold.len() / 2] * 1e6,
        cold[cold.len() - 1] * 1e6
    );
    // Both indices busy for 5 us: anything above 5 us is the hand-over to
    // the worker and back (10 us would mean the caller ran both).
    let spin = |_| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(5) {
            std::hint::spin_loop();
        }
    };
    let busy = time_per_call(|| par.for_each_thread(&spin));
    println!(
        "pool, 2 threads, 5 us task on each index: {:.2} us per call",
        busy * 1e6
    );
    let scoped = time_per_call(|| {
        std::thread::scope(|s| {
            s.spawn(|| black_box(1));
            black_box(0);
        })
    });
    println!(
        "for comparison, one scoped thread spawn+join: {:.1} us",
        scoped * 1e6
    );
}

/// One SGD step of the reference MLP (784 -> 128 -> relu -> 10, batch 100),
/// as the executor will run it, plus its parts.
fn bench_mlp() {
    use nnspec_runtime::kernels::{dense, elementwise::axpy, loss};
    let (batch, inp, hid, out) = (100, 784, 128, 10);
    let mut rng = Rng::new(5);
    let x: Vec<f32> = (0..batch * inp).map(|_| rng.next_f32()).collect();
    let labels: Vec<u32> = (0..batch).map(|_| rng.below(out) as u32).collect();
    let mut w1: Vec<f32> = random(hid * inp, &mut rng)
        .iter()
        .map(|v| v * 0.035)
        .collect();
    let mut b1 = random(hid, &mut rng);
    let mut w2: Vec<f32> = random(out * hid, &mut rng)
        .iter()
        .map(|v| v * 0.088)
        .collect();
    let mut b2 = random(out, &mut rng);
    let (mut h, mut logits, mut dlogits, mut dh) = (
        vec![0.0; batch * hid],
        vec![0.0; batch * out],
        vec![0.0; batch * out],
        vec![0.0; batch * hid],
    );
    let (mut dw1, mut db1, mut dw2, mut db2) = (
        vec![0.0; hid * inp],
        vec![0.0; hid],
        vec![0.0; out * hid],
        vec![0.0; out],
    );
    let lr = 0.01;
    const PARTS: [&str; 6] = [
        "dense1 forward + relu",
        "dense2 forward",
        "softmax cross-entropy",
        "dense2 backward (dW, db, dH)",
        "relu backward + dense1 backward (dW, db)",
        "SGD update (axpy on 101 770 parameters)",
    ];
    let mut best: Vec<Vec<f64>> = vec![Vec::new(); 2];
    for _ in 0..rounds() {
        for (slot, threads) in [1, 2].into_iter().enumerate() {
            let par = Parallel::new(threads);
            let mut part = |i: usize| match i {
                0 => dense::forward_relu(&x, &w1, Some(&b1), &mut h, batch, inp, hid, &par),
                1 => dense::forward(&h, &w2, Some(&b2), &mut logits, batch, hid, out, &par),
                2 => {
                    let l = loss::softmax_cross_entropy(
                        &logits,
                        &labels,
                        batch,
                        out,
                        Some(&mut dlogits),
                    );
                    black_box(l);
                }
                3 => dense::backward(
                    &h,
                    &w2,
                    &dlogits,
                    Some(&mut dh),
                    &mut dw2,
                    Some(&mut db2),
                    batch,
                    hid,
                    out,
                    &par,
                ),
                4 => dense::backward_relu(
                    &x,
                    &w1,
                    &h,
                    &mut dh,
                    None,
                    &mut dw1,
                    Some(&mut db1),
                    batch,
                    inp,
                    hid,
                    &par,
                ),
                _ => {
                    axpy(-lr, &dw1, &mut w1);
                    axpy(-lr, &db1, &mut b1);
                    axpy(-lr, &dw2, &mut w2);
                    axpy(-lr, &db2, &mut b2);
                }
            };
            let mut times = vec![time_per_call(|| {
                for i in 0..PARTS.len() {
                    part(i);
                }
            })];
            for i in 0..PARTS.len() {
                times.push(time_per_call(|| part(i)));
            }
            keep_fastest(&mut best[slot], times);
        }
    }
    for (slot, times) in best.iter().enumerate() {
        let t = times[0];
        println!(
            "mlp step, {} thread(s): {:.1} us per batch of {batch} = {:.0} samples/s",
            slot + 1,
            t * 1e6,
            batch as f64 / t
        );
        for (name, t) in PARTS.iter().zip(&times[1..]) {
            println!("  {name}: {:.1} us", t * 1e6);
        }
    }
}

/// 24 independent chains of 16-lane FMAs: the most a core can multiply-add
/// with AVX-512.
///
/// # Safety
/// AVX-512F must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_chains_avx512(iters: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(seed); 24];
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    let mut s = _mm512_setzero_ps();
    for x in acc {
        s = _mm512_add_ps(s, x);
    }
    _mm512_reduce_add_ps(s)
}

/// 12 independent chains of 8-lane FMAs (with the two constants, 14 of the
/// 16 ymm registers): the most a core can multiply-add with AVX2.
///
/// # Safety
/// AVX2 and FMA must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains_avx2(iters: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(seed); 12];
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut s = _mm256_setzero_ps();
    for x in acc {
        s = _mm256_add_ps(s, x);
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds the 8 floats stored.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), s) };
    lanes.iter().sum()
}

/// FP32 FMA peak of this machine for each SIMD tier it runs, one and two
/// threads; returns the one-thread figures (GFLOP/s), the denominators of
/// the gemm table.
fn bench_peak() -> Peaks {
    let mut peaks = Vec::new();
    #[cfg(target_arch = "x86_64")]
    for t in cpu::supported_tiers() {
        let iters = 10_000;
        // SAFETY (both loops): run only for tiers `supported_tiers` found.
        let (flops, f): (f64, fn(usize, f32) -> f32) = match t {
            Tier::Avx512 => ((iters * 24 * 16 * 2) as f64, |i, s| unsafe {
                fma_chains_avx512(i, s)
            }),
            Tier::Avx2 => ((iters * 12 * 8 * 2) as f64, |i, s| unsafe {
                fma_chains_avx2(i, s)
            }),
            Tier::Portable => continue,
        };
        for threads in [1, 2] {
            let par = Parallel::new(threads);
            let time = (0..rounds())
                .map(|_| {
                    time_per_call(|| {
                        par.for_each_thread(&|i| {
                            black_box(f(iters, 1.0 + i as f32));
                        })
                    })
                })
                .fold(f64::INFINITY, f64::min);
            let g = flops * threads as f64 / time / 1e9;
            println!("peak FP32 FMA, {t}, {threads} thread(s): {g:.0} GFLOP/s");
            if threads == 1 {
                peaks.push((t, g));
            }
        }
    }
    Peaks(peaks)
}

/// The pointwise kernels at the tutorial's hidden-layer size.
fn bench_pointwise() {
    use nnspec_runtime::kernels::activation::{relu, sigmoid, tanh};
    let n = 100 * 128;
    let mut rng = Rng::new(3);
    let x: Vec<f32> = random(n, &mut rng).iter().map(|v| v * 4.0).collect();
    let dy = random(n, &mut rng);
    let mut y = vec![0.0; n];
    let mut dx = vec![0.0; n];
    let line_n = |name: &str, n: usize, t: f64| {
        println!(
            "{name} on {n} elements: {:.2} us ({:.2} ns/element)",
            t * 1e6,
            t * 1e9 / n as f64
        );
    };
    let line = |name: &str, t: f64| line_n(name, n, t);
    line("relu forward", time_per_call(|| relu::forward(&x, &mut y)));
    line(
        "relu backward",
        time_per_call(|| relu::backward(&x, &dy, &mut dx)),
    );
    line(
        "sigmoid forward",
        time_per_call(|| sigmoid::forward(&x, &mut y)),
    );
    line("tanh forward", time_per_call(|| tanh::forward(&x, &mut y)));
    let w = random(101_770, &mut rng);
    let mut v = w.clone();
    line_n(
        "axpy, one thread",
        w.len(),
        time_per_call(|| nnspec_runtime::kernels::elementwise::axpy(-0.01, &w, &mut v)),
    );
    let par = Parallel::new(2);
    line_n(
        "axpy_par, two threads",
        w.len(),
        time_per_call(|| nnspec_runtime::kernels::elementwise::axpy_par(-0.01, &w, &mut v, &par)),
    );
    line(
        "tanh forward with std's f32::tanh, for comparison",
        time_per_call(|| {
            for (y, &x) in y.iter_mut().zip(&x) {
                *y = x.tanh();
            }
            black_box(&y);
        }),
    );
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let tiers: Vec<&str> = cpu::supported_tiers().map(Tier::name).collect();
    println!(
        "CPU: {model}; tiers it runs: {}; this process's tier: {}",
        tiers.join(", "),
        cpu::tier()
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average before: {}", load.trim());
    }
    let peaks = bench_peak();
    if "pointwise".contains(&filter) {
        bench_pointwise();
    }
    if "pool".contains(&filter) {
        bench_pool();
    }
    if "mlp".contains(&filter) {
        bench_mlp();
    }
    if "gemm".contains(&filter) {
        bench_gemm(&peaks);
    }
}
