//! Embedding: rows of a `[num, dim]` table picked by token ids, and the
//! table's gradient, added into the rows the ids picked.
//!
//! Token ids travel through the f32 arena as exact integers (f32 holds
//! every integer up to 2^24, the checker's bound on `num`). The public
//! boundaries refuse ids that are not ids ([`check_ids`]); the kernels stay
//! total anyway: an id that is not an integer in `0..num` picks no row, its
//! output is NaN (so it shows rather than passing for a token) and its
//! gradient is dropped. Nothing is ever read out of bounds.

use core::fmt;

use crate::threads::{Threads, for_each_chunk_mut};

/// The row of the table `id` picks, if it is an integer in `0..num`.
#[inline]
pub fn row(id: f32, num: usize) -> Option<usize> {
    // `as` saturates (NaN to 0); comparing back catches fractions, NaN and
    // negatives.
    let index = id as usize;
    (index < num && index as f32 == id).then_some(index)
}

/// A token id that is not one: its position among the ids and its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BadId {
    pub position: usize,
    pub value: f32,
}

/// The first id of `ids` that is not an integer in `0..num`, if any.
pub fn check_ids(ids: &[f32], num: usize) -> Result<(), BadId> {
    match ids.iter().position(|&id| row(id, num).is_none()) {
        None => Ok(()),
        Some(position) => Err(BadId {
            position,
            value: ids[position],
        }),
    }
}

/// A token id refused at a public boundary (the executor's
/// `set_tokens`, a generated model's `forward`): its position among the
/// ids given, its value, and how many ids the table has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenError {
    pub position: usize,
    pub id: i64,
    pub num: usize,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "token id {} at position {} is not in 0..{} (the embedding's num_embeddings)",
            self.id, self.position, self.num
        )
    }
}

impl core::error::Error for TokenError {}

/// Writes token ids as the f32 the arena carries them in (exact: ids are
/// below `num` ≤ 2^24), refusing any outside `0..num`; `out` is then
/// untouched past the first bad id.
pub fn ids_to_f32(ids: &[i64], num: usize, out: &mut [f32]) -> Result<(), TokenError> {
    assert_eq!(ids.len(), out.len(), "ids_to_f32: lengths");
    for (position, (&id, out)) in ids.iter().zip(out).enumerate() {
        if !(0..num as i64).contains(&id) {
            return Err(TokenError { position, id, num });
        }
        *out = id as f32;
    }
    Ok(())
}

/// `y[i, :] = weight[ids[i], :]` for every id (all samples' ids in a row).
pub fn forward(
    ids: &[f32],
    weight: &[f32],
    y: &mut [f32],
    num: usize,
    dim: usize,
    par: &dyn Threads,
) {
    assert_eq!(weight.len(), num * dim, "embedding: table");
    assert_eq!(y.len(), ids.len() * dim, "embedding: output");
    // Below this many floats a parallel call costs about what it saves.
    const MIN_PARALLEL: usize = 64 * 1024;
    let gather = |first: usize, out: &mut [f32]| {
        for (&id, out) in ids[first..].iter().zip(out.chunks_exact_mut(dim)) {
            match row(id, num) {
                Some(r) => out.copy_from_slice(&weight[r * dim..(r + 1) * dim]),
                None => out.fill(f32::NAN),
            }
        }
    };
    if dim == 0 {
        return;
    }
    if par.threads() == 1 || y.len() < MIN_PARALLEL {
        gather(0, y);
    } else {
        for_each_chunk_mut(par, y, dim, &gather);
    }
}

/// `dweight = Σ_i onehot(ids[i]) ⊗ dy[i, :]`: zeroes the table's gradient
/// (backward kernels overwrite, and the optimizer reads every row anyway)
/// and adds each id's output gradient into its row; repeated ids add up.
///
/// Threads split the table's rows: each zeroes its rows and adds the ids
/// that fall in them, in the ids' order, so two ids of one row never race
/// and the sums do not depend on the thread count.
pub fn backward(
    ids: &[f32],
    dy: &[f32],
    dweight: &mut [f32],
    num: usize,
    dim: usize,
    par: &dyn Threads,
) {
    assert_eq!(dweight.len(), num * dim, "embedding backward: table");
    assert_eq!(dy.len(), ids.len() * dim, "embedding backward: dy");
    if dim == 0 {
        return;
    }
    let scatter = |first_row: usize, rows: &mut [f32]| {
        rows.fill(0.0);
        let mine = first_row..first_row + rows.len() / dim;
        for (&id, g) in ids.iter().zip(dy.chunks_exact(dim)) {
            if let Some(r) = row(id, num).filter(|r| mine.contains(r)) {
                let at = (r - first_row) * dim;
                for (w, &g) in rows[at..at + dim].iter_mut().zip(g) {
                    *w += g;
                }
            }
        }
    };
    // Below this many floats (table and gradients) a parallel call costs
    // about what it saves.
    const MIN_PARALLEL: usize = 64 * 1024;
    if par.threads() == 1 || dweight.len() + dy.len() < MIN_PARALLEL {
        scatter(0, dweight);
    } else {
        for_each_chunk_mut(par, dweight, dim, &scatter);
    }
}
