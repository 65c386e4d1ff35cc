//! The embedding kernels against PyTorch's `nn.Embedding`, and their
//! boundaries:
//!
//! * forward and table gradient at a fixed table, ids with repeats and an
//!   absent id, against literals printed by `bench/pytorch_embedding.py`
//!   (torch 2.15, f32): the forward copies rows, so it is exact; the
//!   gradient adds a repeated id's rows in another order than PyTorch may,
//!   so within 1e-6 relative;
//! * the threaded paths (rows of the table split over threads) give the
//!   serial bits;
//! * ids that are not ids (out of range, fractional, negative, NaN) give
//!   NaN rows and no gradient, never a read out of bounds, and
//!   `ids_to_f32` refuses them with their position;
//! * the table's gradient against central finite differences.
//!
//! One kernel body serves every tier (copies and adds), so there is no
//! tier to select.

use nnspec_runtime::kernels::embedding::{self, TokenError};
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::rng::Rng;
use nnspec_runtime::threads::Serial;

/// The output of `bench/pytorch_embedding.py`, verbatim.
#[rustfmt::skip]
#[allow(clippy::excessive_precision)]
mod pytorch {
// torch 2.15.0+cu132, f32, nn.Embedding(6, 3)
pub const IDS: [i64; 8] = [1, 3, 1, 4, 5, 0, 1, 4];
pub const WEIGHT: [f32; 18] = [0.0, -0.370000005, -0.74000001, 0.100000001, -0.219999999, -0.540000021, 0.200000003, -0.0700000003, -0.340000004, 0.300000012, 0.0799999982, -0.140000001, 0.400000006, 0.230000004, 0.0599999987, 0.5, 0.379999995, 0.25999999];
pub const DY: [f32; 24] = [-1.10000002, 0.649999976, -0.349999994, 1.39999998, 0.400000006, -0.600000024, 1.14999998, 0.150000006, -0.850000024, 0.899999976, -0.100000001, -1.10000002, 0.649999976, -0.349999994, 1.39999998, 0.400000006, -0.600000024, 1.14999998, 0.150000006, -0.850000024, 0.899999976, -0.100000001, -1.10000002, 0.649999976];
pub const Y: [f32; 24] = [0.100000001, -0.219999999, -0.540000021, 0.300000012, 0.0799999982, -0.140000001, 0.100000001, -0.219999999, -0.540000021, 0.400000006, 0.230000004, 0.0599999987, 0.5, 0.379999995, 0.25999999, 0.0, -0.370000005, -0.74000001, 0.100000001, -0.219999999, -0.540000021, 0.400000006, 0.230000004, 0.0599999987];
pub const DWEIGHT: [f32; 18] = [0.400000006, -0.600000024, 1.14999998, 0.199999958, -0.0500000715, -0.300000072, 0.0, 0.0, 0.0, 1.39999998, 0.400000006, -0.600000024, 0.799999952, -1.20000005, -0.450000048, 0.649999976, -0.349999994, 1.39999998];
}

use pytorch::*;

const NUM: usize = 6;
const DIM: usize = 3;

fn ids_f32(ids: &[i64]) -> Vec<f32> {
    ids.iter().map(|&i| i as f32).collect()
}

#[test]
fn forward_and_backward_match_pytorch() {
    let ids = ids_f32(&IDS);
    let mut y = vec![0.0; Y.len()];
    embedding::forward(&ids, &WEIGHT, &mut y, NUM, DIM, &Serial);
    assert_eq!(y, Y, "forward");
    // The gradient buffer starts dirty: backward overwrites it.
    let mut dweight = vec![f32::NAN; WEIGHT.len()];
    embedding::backward(&ids, &DY, &mut dweight, NUM, DIM, &Serial);
    for (i, (&got, &want)) in dweight.iter().zip(&DWEIGHT).enumerate() {
        assert!(
            (got - want).abs() <= 1e-6 * want.abs().max(1e-30) || got == want,
            "dweight[{i}]: {got} against PyTorch's {want}"
        );
    }
    // Id 2 appears nowhere: its row's gradient is exactly zero.
    assert_eq!(&dweight[2 * DIM..3 * DIM], &[0.0; DIM]);
}

#[test]
fn threads_give_the_serial_bits() {
    let mut rng = Rng::new(3);
    for (num, dim, count) in [(50, 64, 4096), (7, 300, 2000), (1000, 16, 10_000)] {
        // Few distinct ids, so rows repeat many times.
        let ids: Vec<f32> = (0..count).map(|_| rng.below(num) as f32).collect();
        let weight: Vec<f32> = (0..num * dim).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let dy: Vec<f32> = (0..count * dim).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let run = |par: &dyn nnspec_runtime::threads::Threads| {
            let mut y = vec![0.0; count * dim];
            let mut dweight = vec![0.0; num * dim];
            embedding::forward(&ids, &weight, &mut y, num, dim, par);
            embedding::backward(&ids, &dy, &mut dweight, num, dim, par);
            (bits(&y), bits(&dweight))
        };
        let serial = run(&Serial);
        for threads in [2, 3, 4] {
            assert_eq!(
                run(&Parallel::new(threads)),
                serial,
                "{threads} threads, num {num}"
            );
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn ids_that_are_not_ids_give_nan_rows_and_no_gradient() {
    let bad = [6.0, -1.0, 2.5, f32::NAN, f32::INFINITY, 1e30, -0.0];
    let mut y = vec![0.0; bad.len() * DIM];
    embedding::forward(&bad, &WEIGHT, &mut y, NUM, DIM, &Serial);
    for (k, row) in y.chunks(DIM).enumerate() {
        if k == bad.len() - 1 {
            // -0.0 is id 0.
            assert_eq!(row, &WEIGHT[..DIM]);
        } else {
            assert!(row.iter().all(|v| v.is_nan()), "id {}: {row:?}", bad[k]);
        }
    }
    let dy = vec![1.0; bad.len() * DIM];
    let mut dweight = vec![f32::NAN; NUM * DIM];
    embedding::backward(&bad, &dy, &mut dweight, NUM, DIM, &Serial);
    let mut want = vec![0.0; NUM * DIM];
    want[..DIM].fill(1.0);
    assert_eq!(dweight, want);
    assert_eq!(
        embedding::check_ids(&bad, NUM).unwrap_err().position,
        0,
        "the first bad id"
    );
    assert!(embedding::check_ids(&ids_f32(&IDS), NUM).is_ok());
}

#[test]
fn ids_to_f32_refuses_ids_outside_the_table() {
    let mut out = vec![0.0; 4];
    assert_eq!(embedding::ids_to_f32(&[0, 5, 3, 1], NUM, &mut out), Ok(()));
    assert_eq!(out, [0.0, 5.0, 3.0, 1.0]);
    for (ids, position, id) in [
        ([0, 6, 1, 1], 1, 6),
        ([0, 1, 2, -1], 3, -1),
        ([i64::MAX, 0, 0, 0], 0, i64::MAX),
    ] {
        let error = embedding::ids_to_f32(&ids, NUM, &mut out).unwrap_err();
        assert_eq!(
            error,
            TokenError {
                position,
                id,
                num: NUM
            }
        );
    }
    let text = TokenError {
        position: 3,
        id: -1,
        num: NUM,
    }
    .to_string();
    assert_eq!(
        text,
        "token id -1 at position 3 is not in 0..6 (the embedding's num_embeddings)"
    );
}

#[test]
fn backward_matches_finite_differences() {
    // L = Σ dy · forward(weight): exact in f64 for the ids given.
    let ids = ids_f32(&IDS);
    let loss = |weight: &[f32]| -> f64 {
        let mut y = vec![0.0; DY.len()];
        embedding::forward(&ids, weight, &mut y, NUM, DIM, &Serial);
        y.iter().zip(&DY).map(|(&y, &g)| y as f64 * g as f64).sum()
    };
    let mut dweight = vec![0.0; WEIGHT.len()];
    embedding::backward(&ids, &DY, &mut dweight, NUM, DIM, &Serial);
    let h = 1e-2f32;
    for i in 0..WEIGHT.len() {
        let mut w = WEIGHT;
        w[i] += h;
        let plus = loss(&w);
        w[i] -= 2.0 * h;
        let minus = loss(&w);
        let numeric = (plus - minus) / (2.0 * h as f64);
        assert!(
            (numeric - dweight[i] as f64).abs() <= 1e-4,
            "dweight[{i}]: {} against {numeric}",
            dweight[i]
        );
    }
}
