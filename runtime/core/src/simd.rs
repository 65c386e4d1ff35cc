//! Small helpers shared by the hand-written AVX2 kernels (matrix products,
//! pooling).

use core::arch::x86_64::*;

/// All-ones in the first `lanes` (0 to 8) of 8 lanes: the mask of
/// `maskload`/`maskstore`, which neither read nor write the other lanes.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn lane_mask(lanes: usize) -> __m256i {
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(lanes as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}
