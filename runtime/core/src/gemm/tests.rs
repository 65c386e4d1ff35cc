//! sgemm against a naive f64 product, on every backend.

use super::*;
use alloc::vec::Vec;

fn naive(m: usize, n: usize, k: usize, a: &[f32], ta: Trans, b: &[f32], tb: Trans) -> Vec<f64> {
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                let x = match ta {
                    Trans::No => a[i * k + p],
                    Trans::Yes => a[p * m + i],
                };
                let y = match tb {
                    Trans::No => b[p * n + j],
                    Trans::Yes => b[j * k + p],
                };
                s += x as f64 * y as f64;
            }
            c[i * n + j] = s;
        }
    }
    c
}

fn check(backend: Backend, m: usize, n: usize, k: usize, threads: usize) {
    let par = crate::threads::Scoped(threads);
    let mut rng = crate::rng::Rng::new((m * 131 + n * 7 + k) as u64);
    let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let c0: Vec<f32> = (0..m * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    for ta in [Trans::No, Trans::Yes] {
        for tb in [Trans::No, Trans::Yes] {
            let want = naive(m, n, k, &a, ta, &b, tb);
            for accumulate in [false, true] {
                // A guard element past the end must survive.
                let mut c = c0.clone();
                c.push(7.0);
                sgemm_with(backend, m, n, k, &a, ta, &b, tb, &mut c, accumulate, &par);
                assert_eq!(c[m * n], 7.0);
                for idx in 0..m * n {
                    let w = want[idx] + if accumulate { c0[idx] as f64 } else { 0.0 };
                    let tol = 1e-5 * (k as f64 + 1.0).sqrt() * 4.0;
                    assert!(
                        (c[idx] as f64 - w).abs() <= tol,
                        "{backend:?} {m}x{n}x{k} {ta:?}{tb:?} acc={accumulate} t={threads} \
                         at {idx}: {} vs {w}",
                        c[idx]
                    );
                }
            }
        }
    }
}

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 1, 0),
    (3, 5, 0),
    (1, 17, 5),
    (17, 1, 5),
    (7, 13, 3),
    (6, 64, 16),
    (13, 33, 31),
    (5, 130, 17),
    (37, 29, 100),
    (100, 10, 128),
    (10, 128, 100),
    (64, 70, 65),
    (130, 67, 41),
];

#[test]
fn matches_naive_product_default_backend() {
    for &(m, n, k) in SHAPES {
        for threads in [1, 2] {
            check(Backend::Auto, m, n, k, threads);
        }
    }
}

#[test]
fn matches_naive_product_portable() {
    for &(m, n, k) in SHAPES {
        for threads in [1, 2] {
            check(Backend::Portable, m, n, k, threads);
        }
    }
}

#[test]
fn matches_naive_product_plain() {
    for &(m, n, k) in SHAPES {
        for threads in [1, 2] {
            check(Backend::Plain, m, n, k, threads);
        }
    }
}

#[test]
fn more_threads_than_rows_and_columns() {
    // 2·2·20000 multiply-adds is worth splitting, but only 2 ways.
    check(Backend::Auto, 2, 2, 20_000, 4);
    check(Backend::Portable, 2, 2, 20_000, 3);
}

#[test]
fn empty_dimensions_leave_c_alone() {
    let mut c = vec![3.0f32; 4];
    sgemm(
        0,
        4,
        3,
        &[],
        Trans::No,
        &[0.0; 12],
        Trans::No,
        &mut c,
        false,
        &crate::threads::Serial,
    );
    sgemm(
        4,
        0,
        3,
        &[0.0; 12],
        Trans::No,
        &[],
        Trans::No,
        &mut c,
        false,
        &crate::threads::Serial,
    );
    assert_eq!(c, [3.0; 4]);
}
