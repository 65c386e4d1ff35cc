//! Disjointness-checked borrows: shared and exclusive views of parts of
//! one arena at once.
//!
//! A step reads some buffers and writes others, all parts of the same
//! `Vec<f32>`; the borrow checker cannot see that the parts are disjoint,
//! so these functions check it (on every borrow) and hand out the views.
//! The only `unsafe` code of step dispatch (the core's and the executor's)
//! is here.

use alloc::vec::Vec;
use core::ops::Range;

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Checks that every write range is in bounds and disjoint from every other range.
fn check_disjoint(len: usize, reads: &[Range<usize>], writes: &[Range<usize>]) {
    for (i, w) in writes.iter().enumerate() {
        assert!(w.end <= len, "buffer {w:?} out of the arena's {len}");
        for other in reads.iter().chain(&writes[i + 1..]) {
            assert!(
                !overlaps(w, other),
                "plan error: buffer {w:?} written while {other:?} is in use"
            );
        }
    }
    for r in reads {
        assert!(r.end <= len, "buffer {r:?} out of the arena's {len}");
    }
}

/// Shared views of `reads` and exclusive views of `writes`, all parts of `data`.
/// Panics (a plan bug, never user input) if a write overlaps anything.
pub fn views<const R: usize, const W: usize>(
    data: &mut [f32],
    reads: [Range<usize>; R],
    writes: [Range<usize>; W],
) -> ([&[f32]; R], [&mut [f32]; W]) {
    check_disjoint(data.len(), &reads, &writes);
    let base = data.as_mut_ptr();
    // SAFETY: every range is in bounds of `data`, and no write range
    // overlaps another range, so the exclusive views alias nothing; all
    // views live no longer than the borrow of `data`.
    unsafe {
        (
            core::array::from_fn(|i| {
                core::slice::from_raw_parts(base.add(reads[i].start), reads[i].len())
            }),
            core::array::from_fn(|i| {
                core::slice::from_raw_parts_mut(base.add(writes[i].start), writes[i].len())
            }),
        )
    }
}

/// [`views`] for a number of ranges known only at run time.
pub fn views_dyn<'a>(
    data: &'a mut [f32],
    reads: &[Range<usize>],
    writes: &[Range<usize>],
) -> (Vec<&'a [f32]>, Vec<&'a mut [f32]>) {
    check_disjoint(data.len(), reads, writes);
    let base = data.as_mut_ptr();
    // SAFETY: as in `views`.
    unsafe {
        (
            reads
                .iter()
                .map(|r| core::slice::from_raw_parts(base.add(r.start), r.len()))
                .collect(),
            writes
                .iter()
                .map(|w| core::slice::from_raw_parts_mut(base.add(w.start), w.len()))
                .collect(),
        )
    }
}

/// Two exclusive views of disjoint parts of `data`.
pub fn views_mut2(data: &mut [f32], a: Range<usize>, b: Range<usize>) -> [&mut [f32]; 2] {
    let ([], [a, b]) = views(data, [], [a, b]);
    [a, b]
}

/// `data` seen as `u32`s: the index buffers (max pooling's argmax) of
/// generated training code live in its one f32 arena.
pub fn as_u32(data: &mut [f32]) -> &mut [u32] {
    // SAFETY: `u32` and `f32` have the same size and alignment and every
    // bit pattern is valid for both; the view borrows `data` for its life.
    unsafe { core::slice::from_raw_parts_mut(data.as_mut_ptr().cast(), data.len()) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::single_range_in_vec_init)] // arrays of ranges are the API

    use super::*;
    use alloc::vec::Vec;

    #[test]
    #[should_panic(expected = "plan error")]
    fn overlapping_writes_are_refused() {
        let mut data = vec![0.0; 10];
        let _ = views(&mut data, [0..4], [3..6]);
    }

    #[test]
    fn disjoint_views_work() {
        let mut data: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let ([a, b], [c]) = views(&mut data, [0..2, 1..3], [5..7]);
        c[0] = a[0] + b[1];
        assert_eq!(data[5], 2.0);
    }
}
