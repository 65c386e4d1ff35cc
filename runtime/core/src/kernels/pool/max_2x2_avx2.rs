//! 2×2, stride-2 max pooling of one plane with AVX2 intrinsics: eight
//! outputs per step, the last (partial) step of a row masked.
//!
//! The auto-vectorized loop in [`super::max`] handles a row eight outputs
//! at a time too, but LeNet's rows are 14 and 5 outputs wide, so most of
//! its work fell to the scalar remainder, whose compare-and-select became
//! mispredicted branches: 14% of a LeNet training step. Here masked loads
//! let the vector loop cover whole rows of any width. Stores are whole
//! vectors: a row's last, partial one spills into the next row's outputs,
//! which are written (correctly) later; only the plane's very last vector
//! is stored lane by lane. (AMD's Zen cores run masked stores as slow
//! microcode.)
//!
//! Same semantics as the portable loop: each window is scanned in
//! row-major order, a larger value or a NaN replaces the running maximum.

use core::arch::x86_64::*;

use crate::simd::lane_mask;

/// Pools `plane` (`in_w` wide, at least `2·out.len()/ow` rows, `2·ow <=
/// in_w`) into `out` (`ow` wide), writing each maximum's position
/// `iy·in_w + ix` into `idx` when given.
///
/// # Safety
/// AVX2 must be available.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn max_pool_2x2(
    in_w: usize,
    ow: usize,
    plane: &[f32],
    out: &mut [f32],
    mut idx: Option<&mut [u32]>,
) {
    assert!(
        ow > 0 && 2 * ow <= in_w,
        "max_pool_2x2: {ow} outputs from {in_w} columns"
    );
    let oh = out.len() / ow;
    if let Some(idx) = idx.as_deref() {
        assert_eq!(idx.len(), out.len(), "max_pool_2x2: indices length");
    }
    let lanes = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    for oy in 0..oh {
        let top = &plane[2 * oy * in_w..][..2 * ow];
        let bottom = &plane[(2 * oy + 1) * in_w..][..2 * ow];
        for ox in (0..ow).step_by(8) {
            let (t0, t1) = load_pairs(&top[2 * ox..]);
            let (u0, u1) = load_pairs(&bottom[2 * ox..]);
            let at = oy * ow + ox;
            match idx.as_deref_mut() {
                None => {
                    let mut m = t0;
                    for v in [t1, u0, u1] {
                        m = _mm256_blendv_ps(m, v, takes(v, m));
                    }
                    store(out, at, m);
                }
                Some(idx) => {
                    let first =
                        _mm256_add_epi32(_mm256_set1_epi32((2 * oy * in_w + 2 * ox) as i32), lanes);
                    let w = _mm256_set1_epi32(in_w as i32);
                    let one = _mm256_set1_epi32(1);
                    let mut m = t0;
                    let mut i = _mm256_castsi256_ps(first);
                    let positions = [
                        _mm256_add_epi32(first, one),
                        _mm256_add_epi32(first, w),
                        _mm256_add_epi32(_mm256_add_epi32(first, w), one),
                    ];
                    for (v, p) in [t1, u0, u1].into_iter().zip(positions) {
                        let take = takes(v, m);
                        m = _mm256_blendv_ps(m, v, take);
                        i = _mm256_blendv_ps(i, _mm256_castsi256_ps(p), take);
                    }
                    store(out, at, m);
                    store(idx, at, _mm256_castps_si256(i));
                }
            }
        }
    }
}

/// Lanes where `v` replaces the running maximum `m`: `v > m` or `v` NaN.
#[target_feature(enable = "avx2,fma")]
fn takes(v: __m256, m: __m256) -> __m256 {
    _mm256_or_ps(
        _mm256_cmp_ps::<_CMP_GT_OQ>(v, m),
        _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
    )
}

/// The first up to 16 floats of `row` (fewer when the row is shorter) as
/// the even-indexed and the odd-indexed eight; lanes past the row's end
/// are zero.
#[target_feature(enable = "avx2,fma")]
fn load_pairs(row: &[f32]) -> (__m256, __m256) {
    let len = row.len().min(16);
    // SAFETY: the masks select the first `len` floats of `row` only.
    let (lo, hi) = unsafe {
        (
            _mm256_maskload_ps(row.as_ptr(), lane_mask(len.min(8))),
            _mm256_maskload_ps(
                row.as_ptr().add(len.min(8)),
                lane_mask(len.saturating_sub(8)),
            ),
        )
    };
    // [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6], then the middle 64-bit lanes
    // swapped: [lo0 lo2 lo4 lo6 hi0 hi2 hi4 hi6].
    let even = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
    let odd = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
    let order =
        |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)));
    (order(even), order(odd))
}

/// Eight lanes of `v` to `out[at..at + 8]`, or to what remains of `out`
/// from `at` when that is shorter (lanes past its end are dropped).
#[target_feature(enable = "avx2,fma")]
fn store<T: Copy, V>(out: &mut [T], at: usize, v: V) {
    const { assert!(size_of::<V>() == 8 * size_of::<T>()) };
    if at + 8 <= out.len() {
        // SAFETY: the eight elements from `at` lie inside `out`; `V` is a
        // 256-bit vector of eight `T`s (asserted above).
        unsafe { core::ptr::write_unaligned(out.as_mut_ptr().add(at).cast::<V>(), v) };
    } else {
        // SAFETY: as above, `V` has the layout of `[T; 8]`.
        let lanes: [T; 8] = unsafe { core::mem::transmute_copy(&v) };
        for (o, l) in out[at..].iter_mut().zip(lanes) {
            *o = l;
        }
    }
}
