//! Splitting a data set (train/test, train/validation) and the
//! per-epoch shuffles.

use super::{DataError, Dataset, Split};
use crate::rng::Rng;

/// Splits a data set that has no test set into a training and a test set.
///
/// Stratified: each class contributes to the test set in proportion to its
/// size. The test set has `ceil(test_fraction × len)` samples (as
/// scikit-learn's `train_test_split` with a float `test_size`), distributed
/// over the classes by largest remainder (ties to the lower class). Which
/// samples of a class go to the test set is decided by shuffling the class's
/// indices with [`Rng::new(seed)`](Rng::new), class after class, so the
/// split depends only on the labels, the fraction and the seed. Both halves
/// keep the original sample order. A data set with float targets has no
/// classes: its split is the same seeded shuffle over all samples.
pub fn train_test_split(ds: &Dataset, test_fraction: f64, seed: u64) -> Result<Split, DataError> {
    held_out_split(ds, test_fraction, seed, "test")
}

/// Holds out a validation set from a training set: [`train_test_split`]'s
/// stratified split with its own stream of the seed (so the validation
/// samples are not chosen by the same shuffle as the test samples were).
/// The result's `test` is the validation set.
pub fn validation_split(train: &Dataset, fraction: f64, seed: u64) -> Result<Split, DataError> {
    held_out_split(train, fraction, seed ^ 0x5641_4C49_4441_5445, "validation")
}

fn held_out_split(
    ds: &Dataset,
    test_fraction: f64,
    seed: u64,
    part: &'static str,
) -> Result<Split, DataError> {
    // NaN fails the range test too.
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(DataError::BadTestFraction {
            dataset: ds.source.clone(),
            part,
            fraction: test_fraction,
        });
    }
    let n = ds.len();
    let n_test = (n as f64 * test_fraction).ceil() as usize;
    if n_test == 0 || n_test >= n {
        return Err(DataError::EmptySplit {
            dataset: ds.source.clone(),
            part,
            samples: n,
            fraction: test_fraction,
            train: n.saturating_sub(n_test),
            test: n_test.min(n),
        });
    }
    let classes = ds
        .labels
        .iter()
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(0)
        .max(ds.classes);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in ds.labels.iter().enumerate() {
        // Float targets have no classes to stratify by: one group, so the
        // split is a plain seeded shuffle.
        let group = if ds.targets.is_some() { 0 } else { l as usize };
        by_class[group].push(i);
    }
    // Quotas: floor of the exact share, then the remaining samples to the
    // classes with the largest fractional parts.
    let mut quota: Vec<usize> = by_class.iter().map(|c| c.len() * n_test / n).collect();
    let assigned: usize = quota.iter().sum();
    let mut order: Vec<usize> = (0..classes).collect();
    // The fractional part of c.len() * n_test / n, as a numerator over n.
    order.sort_by_key(|&c| std::cmp::Reverse(by_class[c].len() * n_test % n));
    for &c in order.iter().take(n_test - assigned) {
        quota[c] += 1;
    }
    let mut rng = Rng::new(seed);
    let mut is_test = vec![false; n];
    for (members, &q) in by_class.iter_mut().zip(&quota) {
        rng.shuffle(members);
        for &i in &members[..q] {
            is_test[i] = true;
        }
    }
    let (test_idx, train_idx): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| is_test[i]);
    Ok(Split {
        train: ds.subset(&train_idx, format!("{} (train split)", ds.source)),
        test: ds.subset(&test_idx, format!("{} ({part} split)", ds.source)),
    })
}

/// A random permutation of `0..n` for one epoch.
pub fn epoch_permutation(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut perm = Vec::with_capacity(n);
    refill_permutation(&mut perm, n, rng);
    perm
}

/// Like [`epoch_permutation`], reusing `perm`'s allocation: sets it to
/// `0..n` and shuffles it (Fisher-Yates with [`Rng::shuffle`]).
pub fn refill_permutation(perm: &mut Vec<usize>, n: usize, rng: &mut Rng) {
    perm.clear();
    perm.extend(0..n);
    rng.shuffle(perm);
}
