//! Every kernel tier this CPU runs, selected explicitly (never through the
//! process's tier, so the results do not depend on `NNSPEC_KERNELS`):
//!
//! * matrix products against an f64 reference, within the rounding bound
//!   of a length-`k` sum in any order, for every transpose combination,
//!   with and without accumulation, on shapes with odd remainders and on the
//!   tutorial MLP's and LeNet's products;
//! * our own kernels (AVX2, AVX-512) give the same bits on one thread and
//!   two;
//! * the element-wise kernels give the same bits on every tier.

use nnspec_runtime::cpu::{self, Tier};
use nnspec_runtime::gemm::{Backend, Trans, sgemm_with};
use nnspec_runtime::kernels::activation::{leaky_relu, relu, sigmoid, tanh};
use nnspec_runtime::kernels::{elementwise, softmax};
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::rng::Rng;

fn tiers() -> Vec<Tier> {
    cpu::supported_tiers().collect()
}

fn random(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// `op(x)[i, j]` for `x` stored row-major as `rows×cols` of `op(x)` or its
/// transpose.
fn at(x: &[f32], t: Trans, rows: usize, cols: usize, i: usize, j: usize) -> f64 {
    f64::from(match t {
        Trans::No => x[i * cols + j],
        Trans::Yes => x[j * rows + i],
    })
}

/// Checks one product of one backend against the f64 sum. The bound is
/// the classical one for a sum of `k` products plus `c0`, whatever the
/// order and whether products are fused: at most `k + 1` roundings of
/// relative size `u = 2^-24` reach any element, so
/// `|error| <= (k + 1)·u·(Σ|a||b| + |c0|)` up to second-order terms (the
/// factor 1.01 and `k + 2` cover those).
#[allow(clippy::too_many_arguments)]
fn check(backend: Backend, m: usize, n: usize, k: usize, ta: Trans, tb: Trans, threads: usize) {
    let par = Parallel::new(threads);
    let mut rng = Rng::new((m * 1_000_003 + n * 1009 + k) as u64);
    let a = random(m * k, &mut rng);
    let b = random(k * n, &mut rng);
    let c0 = random(m * n, &mut rng);
    let u = f64::from(f32::EPSILON) / 2.0;
    for accumulate in [false, true] {
        // Without accumulation C's old contents must not be read: NaN would
        // show. A guard element past the end must survive.
        let mut c = if accumulate {
            c0.clone()
        } else {
            vec![f32::NAN; m * n]
        };
        c.push(7.0);
        sgemm_with(backend, m, n, k, &a, ta, &b, tb, &mut c, accumulate, &par);
        assert_eq!(c[m * n], 7.0, "{backend:?} wrote past C");
        for i in 0..m {
            for j in 0..n {
                let (mut sum, mut mag) = (0.0f64, 0.0f64);
                for p in 0..k {
                    let x = at(&a, ta, m, k, i, p) * at(&b, tb, k, n, p, j);
                    sum += x;
                    mag += x.abs();
                }
                if accumulate {
                    sum += f64::from(c0[i * n + j]);
                    mag += f64::from(c0[i * n + j]).abs();
                }
                let got = f64::from(c[i * n + j]);
                let tol = 1.01 * (k as f64 + 2.0) * u * mag;
                assert!(
                    (got - sum).abs() <= tol,
                    "{backend:?} {m}x{n}x{k} {ta:?}{tb:?} accumulate={accumulate} \
                     threads={threads} at ({i}, {j}): {got} vs {sum} (tolerance {tol:e})"
                );
            }
        }
    }
}

const TRANS: [(Trans, Trans); 4] = [
    (Trans::No, Trans::No),
    (Trans::No, Trans::Yes),
    (Trans::Yes, Trans::No),
    (Trans::Yes, Trans::Yes),
];

/// Odd remainders of every tile size (6, 16, 64 columns; 3, 4 rows; 8 and
/// 16 along `k`), `k = 0`, and degenerate vectors.
const ODD_SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 1, 0),
    (3, 5, 0),
    (2, 3, 1),
    (1, 17, 5),
    (17, 1, 5),
    (7, 13, 3),
    (6, 16, 8),
    (5, 9, 7),
    (7, 15, 9),
    (6, 64, 16),
    (13, 33, 31),
    (5, 130, 17),
    (11, 7, 15),
    (37, 29, 100),
    (64, 70, 65),
    (130, 67, 41),
];

/// The tutorial MLP's products (batch 100, and one sample) and LeNet's
/// per-image convolution products (see runtime/benches/gemm.rs).
const MODEL_SHAPES: &[(usize, usize, usize, Trans, Trans)] = &[
    (100, 128, 784, Trans::No, Trans::Yes),
    (1, 128, 784, Trans::No, Trans::Yes),
    (128, 784, 100, Trans::Yes, Trans::No),
    (100, 784, 128, Trans::No, Trans::No),
    (100, 10, 128, Trans::No, Trans::Yes),
    (10, 128, 100, Trans::Yes, Trans::No),
    (100, 128, 10, Trans::No, Trans::No),
    (6, 784, 25, Trans::No, Trans::No),
    (16, 100, 150, Trans::No, Trans::No),
    (6, 25, 784, Trans::No, Trans::Yes),
    (16, 150, 100, Trans::No, Trans::Yes),
    (25, 784, 6, Trans::Yes, Trans::No),
    (150, 100, 16, Trans::Yes, Trans::No),
];

#[test]
fn every_tier_matches_f64_on_odd_shapes() {
    for tier in tiers() {
        for &(m, n, k) in ODD_SHAPES {
            for (ta, tb) in TRANS {
                for threads in [1, 2] {
                    check(tier.into(), m, n, k, ta, tb, threads);
                }
            }
        }
    }
}

#[test]
fn every_tier_matches_f64_on_model_shapes() {
    for tier in tiers() {
        for &(m, n, k, ta, tb) in MODEL_SHAPES {
            check(tier.into(), m, n, k, ta, tb, 2);
            // The transposes the models do not use, at the same sizes.
            let (ta, tb) = (flip(ta), flip(tb));
            check(tier.into(), m, n, k, ta, tb, 1);
        }
    }
}

/// The plain-Rust kernel the portable tier runs in a build without `std`.
#[test]
fn plain_kernel_matches_f64() {
    for &(m, n, k) in ODD_SHAPES {
        for (ta, tb) in TRANS {
            check(Backend::Plain, m, n, k, ta, tb, 2);
        }
    }
    for &(m, n, k, ta, tb) in MODEL_SHAPES {
        check(Backend::Plain, m, n, k, ta, tb, 2);
        check(Backend::Plain, m, n, k, flip(ta), flip(tb), 1);
    }
}

fn flip(t: Trans) -> Trans {
    match t {
        Trans::No => Trans::Yes,
        Trans::Yes => Trans::No,
    }
}

#[test]
fn more_threads_than_rows_and_columns() {
    // 2·2·20000 multiply-adds is worth splitting, but only 2 ways.
    for tier in tiers() {
        check(tier.into(), 2, 2, 20_000, Trans::No, Trans::Yes, 4);
        check(tier.into(), 2, 2, 20_000, Trans::Yes, Trans::No, 3);
    }
}

#[test]
fn own_kernels_give_the_same_bits_on_any_thread_count() {
    // Our kernels compute each element on one thread in an order that does
    // not depend on where the element sits in its tile; the `gemm` crate
    // (portable tier) promises nothing of the kind, so it is left out.
    let shapes = [
        (100, 128, 784, Trans::No, Trans::Yes),
        (128, 784, 100, Trans::Yes, Trans::No),
        (100, 784, 128, Trans::No, Trans::No),
        (64, 70, 65, Trans::Yes, Trans::Yes),
        (130, 67, 41, Trans::No, Trans::Yes),
        (37, 290, 100, Trans::No, Trans::No),
    ];
    for tier in tiers().into_iter().filter(|&t| t != Tier::Portable) {
        for (m, n, k, ta, tb) in shapes {
            let mut rng = Rng::new(9);
            let a = random(m * k, &mut rng);
            let b = random(k * n, &mut rng);
            let run = |threads| {
                let mut c = vec![0.0f32; m * n];
                let par = Parallel::new(threads);
                sgemm_with(tier.into(), m, n, k, &a, ta, &b, tb, &mut c, false, &par);
                c
            };
            let one = run(1);
            for threads in [2, 3] {
                assert!(
                    run(threads) == one,
                    "{tier}: {m}x{n}x{k} {ta:?}{tb:?} differs on {threads} threads"
                );
            }
        }
    }
}

/// Lengths covering the 4-, 8- and 16-lane loops and their remainders.
const LENGTHS: &[usize] = &[0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1031];

/// `f(tier)` for every tier gives the same bits as the portable tier.
fn same_on_every_tier<T: PartialEq + std::fmt::Debug>(what: &str, f: impl Fn(Tier) -> T) {
    let want = f(Tier::Portable);
    for tier in tiers() {
        assert_eq!(f(tier), want, "{what} on {tier}");
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn elementwise_kernels_give_the_same_bits_on_every_tier() {
    for &len in LENGTHS {
        let mut rng = Rng::new(len as u64 + 1);
        // Wide enough for exp to overflow, underflow and tanh to saturate,
        // with a NaN, infinities and signed zeros.
        let mut x: Vec<f32> = random(len, &mut rng).iter().map(|v| v * 100.0).collect();
        for (i, special) in [f32::NAN, -0.0, 0.0, f32::INFINITY, f32::NEG_INFINITY]
            .into_iter()
            .enumerate()
        {
            if i < len {
                x[(i * 7) % len] = special;
            }
        }
        let y = random(len, &mut rng);
        let z = vec![0.0f32; len];
        let what = |name: &str| format!("{name}, {len} elements");
        same_on_every_tier(&what("add"), |t| {
            let mut out = z.clone();
            elementwise::add::for_tier(t, &x, &y, &mut out);
            bits(&out)
        });
        same_on_every_tier(&what("add_assign"), |t| {
            let mut out = y.clone();
            elementwise::add_assign::for_tier(t, &mut out, &x);
            bits(&out)
        });
        same_on_every_tier(&what("mul"), |t| {
            let mut out = z.clone();
            elementwise::mul::for_tier(t, &x, &y, &mut out);
            bits(&out)
        });
        same_on_every_tier(&what("scale"), |t| {
            let mut out = z.clone();
            elementwise::scale::for_tier(t, &x, -0.37, &mut out);
            elementwise::scale_assign::for_tier(t, &mut out, 1.9);
            bits(&out)
        });
        same_on_every_tier(&what("axpy"), |t| {
            let mut out = y.clone();
            elementwise::axpy::for_tier(t, -0.01, &x, &mut out);
            bits(&out)
        });
        same_on_every_tier(&what("exp"), |t| {
            let mut out = x.clone();
            elementwise::exp_in_place::for_tier(t, &mut out);
            bits(&out)
        });
        same_on_every_tier(&what("relu"), |t| {
            let (mut f, mut b) = (z.clone(), z.clone());
            relu::forward::for_tier(t, &x, &mut f);
            relu::backward::for_tier(t, &f, &y, &mut b);
            let mut g = x.clone();
            relu::forward_inplace::for_tier(t, &mut g);
            let mut h = y.clone();
            relu::backward_inplace::for_tier(t, &x, &mut h);
            (bits(&f), bits(&b), bits(&g), bits(&h))
        });
        same_on_every_tier(&what("leaky_relu"), |t| {
            let (mut f, mut b) = (z.clone(), z.clone());
            leaky_relu::forward::for_tier(t, &x, &mut f, 0.01);
            leaky_relu::backward::for_tier(t, &x, &y, &mut b, 0.01);
            (bits(&f), bits(&b))
        });
        same_on_every_tier(&what("sigmoid"), |t| {
            let (mut f, mut b) = (z.clone(), z.clone());
            sigmoid::forward::for_tier(t, &x, &mut f);
            sigmoid::backward::for_tier(t, &f, &y, &mut b);
            (bits(&f), bits(&b))
        });
        same_on_every_tier(&what("tanh"), |t| {
            let (mut f, mut b) = (z.clone(), z.clone());
            tanh::forward::for_tier(t, &x, &mut f);
            tanh::backward::for_tier(t, &f, &y, &mut b);
            (bits(&f), bits(&b))
        });
        // Rows of 10 and of 17 columns (the sums run over rows).
        for cols in [10, 17] {
            let rows = len / cols;
            let (x, y) = (&x[..rows * cols], &y[..rows * cols]);
            same_on_every_tier(&what(&format!("sum_rows over {cols} columns")), |t| {
                let mut sums = vec![1.0f32; cols];
                elementwise::sum_rows::for_tier(t, y, &mut sums);
                bits(&sums)
            });
            // Softmax along the rows (inner 1) and down the columns.
            let finite: Vec<f32> = x
                .iter()
                .map(|v| if v.is_finite() { *v } else { 3.0 })
                .collect();
            same_on_every_tier(&what(&format!("softmax over {cols} columns")), |t| {
                let (mut along, mut down) =
                    (vec![0.0f32; finite.len()], vec![0.0f32; finite.len()]);
                softmax::forward::for_tier(t, &finite, &mut along, rows, cols, 1);
                softmax::forward::for_tier(t, &finite, &mut down, 1, rows, cols);
                (bits(&along), bits(&down))
            });
        }
    }
}

#[test]
fn elementwise_results_are_the_scalar_ones() {
    // Cross-tier equality could hide a shared mistake; pin the values too.
    let x: Vec<f32> = (0..37).map(|i| i as f32 * 0.75 - 13.0).collect();
    let y: Vec<f32> = (0..37).map(|i| (i % 5) as f32 - 2.5).collect();
    for tier in tiers() {
        let mut out = vec![0.0f32; x.len()];
        elementwise::add::for_tier(tier, &x, &y, &mut out);
        assert!(
            out.iter()
                .zip(x.iter().zip(&y))
                .all(|(o, (a, b))| *o == a + b)
        );
        let mut out = y.clone();
        elementwise::axpy::for_tier(tier, 0.5, &x, &mut out);
        assert!(
            out.iter()
                .zip(x.iter().zip(&y))
                .all(|(o, (a, b))| *o == b + 0.5 * a)
        );
        relu::forward::for_tier(tier, &x, &mut out);
        assert!(out.iter().zip(&x).all(|(o, a)| *o == a.max(0.0)));
    }
}
