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

/// Windowed products against the same product over the materialized
/// matrix, in f64: random overlapping windows, one ending exactly at the
/// end of `b`, tile-ragged shapes, both accumulate modes, 1 and 2 threads.
#[test]
fn windowed_products_match_naive_product() {
    if !windows_supported() {
        // The portable tier has no windowed kernels; conv2d builds the
        // im2col matrix there instead (tested in kernels_spatial).
        return;
    }
    let mut rng = crate::rng::Rng::new(77);
    for &(m, n, k) in &[
        (6, 896, 25),
        (16, 150, 140),
        (1, 1, 16),
        (7, 33, 17),
        (13, 70, 65),
        (3, 5, 200),
    ] {
        for nt in [false, true] {
            // nn: k windows of n floats; nt: n windows of k floats.
            let (windows, len) = if nt { (n, k) } else { (k, n) };
            let b: Vec<f32> = (0..len + 3 * windows + 5)
                .map(|_| rng.uniform(-1.0, 1.0))
                .collect();
            let mut starts: Vec<u32> = (0..windows)
                .map(|_| rng.below(b.len() - len + 1) as u32)
                .collect();
            starts[windows / 2] = (b.len() - len) as u32;
            // The matrix the windows describe, as sgemm's stored B.
            let dense: Vec<f32> = if nt {
                starts
                    .iter()
                    .flat_map(|&s| b[s as usize..][..k].iter().copied())
                    .collect()
            } else {
                starts
                    .iter()
                    .flat_map(|&s| b[s as usize..][..n].iter().copied())
                    .collect()
            };
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let tb = if nt { Trans::Yes } else { Trans::No };
            let want = naive(m, n, k, &a, Trans::No, &dense, tb);
            let c0: Vec<f32> = (0..m * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            for accumulate in [false, true] {
                for threads in [1, 2] {
                    let par = crate::threads::Scoped(threads);
                    let mut c = c0.clone();
                    c.push(7.0);
                    if nt {
                        sgemm_windows_nt(m, n, k, &a, &b, &starts, &mut c, accumulate, &par);
                    } else {
                        sgemm_windows_nn(m, n, k, &a, &b, &starts, &mut c, accumulate, &par);
                    }
                    assert_eq!(c[m * n], 7.0, "guard element");
                    for idx in 0..m * n {
                        let w = want[idx] + if accumulate { c0[idx] as f64 } else { 0.0 };
                        let tol = 1e-5 * (k as f64 + 1.0).sqrt() * 4.0;
                        assert!(
                            (c[idx] as f64 - w).abs() <= tol,
                            "{m}x{n}x{k} nt={nt} acc={accumulate} t={threads} at {idx}: {} vs {w}",
                            c[idx]
                        );
                    }
                    // The same bits as sgemm over the materialized matrix.
                    let mut d = c0.clone();
                    sgemm(m, n, k, &a, Trans::No, &dense, tb, &mut d, accumulate, &par);
                    assert_eq!(
                        c[..m * n],
                        d[..],
                        "{m}x{n}x{k} nt={nt}: windows vs materialized"
                    );
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "leaves b")]
fn a_window_past_the_end_of_b_is_refused() {
    let b = [0.0f32; 10];
    let mut c = [0.0f32; 4];
    sgemm_windows_nn(
        1,
        4,
        2,
        &[1.0, 1.0],
        &b,
        &[0, 7],
        &mut c,
        false,
        &crate::threads::Serial,
    );
}
