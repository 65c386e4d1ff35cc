//! f32 storage that starts on a cache line.
//!
//! The matrix kernels read rows of activations and weights with unaligned
//! vector loads. When a row starts inside a cache line, every other 32-byte
//! load (AVX2) or every 64-byte load (AVX-512) spans two lines. A `Vec<f32>`
//! as large as the executor's storage comes from the allocator's `mmap` path
//! and starts 16 bytes past a page boundary, so every row of the tutorial
//! MLP's input (784 floats, 49 lines) was split that way. With the storage
//! on a line and every buffer and parameter starting on one (`layout`), one
//! training step of the MLP on one thread went from 467 to 443-448 us at
//! AVX2 (`cargo bench -p nnspec-codegen --bench train_step`, fastest of
//! 2000), and `dslc train` ran 4-14% faster in 6 paired runs.
//!
//! Where data sit does not change any result: the kernels sum every element
//! in the same order whatever the addresses.

use core::ops::{Deref, DerefMut};

/// Floats per cache line (64 bytes): buffers and parameters start at
/// multiples of this.
pub(super) const LINE_FLOATS: usize = 16;

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([f32; LINE_FLOATS]);

/// `len` floats starting on a 64-byte boundary; derefs to `[f32]`.
pub(super) struct AlignedF32 {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedF32 {
    /// `len` zeros, or `None` if the memory is not there (instead of
    /// aborting).
    pub(super) fn zeroed(len: usize) -> Option<AlignedF32> {
        let lines_len = len.div_ceil(LINE_FLOATS);
        let mut lines = Vec::new();
        lines.try_reserve_exact(lines_len).ok()?;
        lines.resize(lines_len, Line([0.0; LINE_FLOATS]));
        Some(AlignedF32 { lines, len })
    }
}

impl Deref for AlignedF32 {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]` and exactly 64 bytes
        // (no padding), so `lines` is `lines.len() * 16 >= len` initialized
        // floats in a row, borrowed as long as `self`.
        unsafe { core::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl DerefMut for AlignedF32 {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as for `deref`, with the unique borrow of `self`.
        unsafe { core::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_line_holds_zeros_and_takes_writes() {
        for len in [0, 1, 15, 16, 17, 100_000] {
            let mut v = AlignedF32::zeroed(len).unwrap();
            assert_eq!(v.len(), len);
            assert_eq!(v.as_ptr() as usize % 64, 0, "len {len}");
            assert!(v.iter().all(|&x| x == 0.0));
            if len > 0 {
                v[len - 1] = 2.5;
                assert_eq!(v[len - 1], 2.5);
                assert_eq!(v.iter().filter(|&&x| x != 0.0).count(), 1);
            }
        }
    }
}
