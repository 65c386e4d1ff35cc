//! The requantization epilogue, per block of [`BLOCK_N`] output channels:
//! [`super::portable::finish`]'s integers, scalar and in AVX2 lanes.
//!
//! The channel's constants are gathered once per block into [`Epi`]'s
//! lane arrays, so the vector code loads them whole:
//! `v = acc + (bias − x_zp·Σw)` (wrapping, as `finish`), the saturating
//! left shift, the Q31 multiply, the rounding right shift, `+ y_zp`, and
//! the clamp to `[lo, ACT_MAX]`.

use super::{BLOCK_N, PackedLayer};
use crate::quant::scheme::{ACT_MAX, Requant};

/// One block's requantization constants, one lane per output channel
/// (channels past `n` are zero and never stored).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(super) struct Epi {
    /// `bias[c] − x_zp·Σ_k W[c][k]`, wrapping like `finish`.
    pub adj: [i32; BLOCK_N],
    pub mult: [i32; BLOCK_N],
    /// `max(shift, 0)`, at most 31 (every larger shift saturates the same).
    pub left: [i32; BLOCK_N],
    /// `max(−shift, 0)`, at most 31 (the range `Requant::from_real` makes).
    pub right: [i32; BLOCK_N],
}

impl Epi {
    pub const ZERO: Epi = Epi {
        adj: [0; BLOCK_N],
        mult: [0; BLOCK_N],
        left: [0; BLOCK_N],
        right: [0; BLOCK_N],
    };

    /// The constants of block `block` of `layer` for inputs with zero
    /// point `x_zp`.
    pub fn new(layer: &PackedLayer<'_>, block: usize, x_zp: u8) -> Epi {
        let mut e = Epi::ZERO;
        let first = block * BLOCK_N;
        let lanes = BLOCK_N.min(layer.n.saturating_sub(first));
        // Sliced once so the loops have no bounds checks and vectorize
        // (a batch-1 layer builds these for every call).
        let bias = &layer.bias[first..first + lanes];
        let sums = &layer.weight_sums[first..first + lanes];
        let requant = &layer.requant[first..first + lanes];
        for ((adj, &b), &s) in e.adj.iter_mut().zip(bias).zip(sums) {
            *adj = b.wrapping_sub((x_zp as i32).wrapping_mul(s));
        }
        for (lane, r) in requant.iter().enumerate() {
            e.mult[lane] = r.multiplier;
            e.left[lane] = r.shift.clamp(0, 31);
            e.right[lane] = (-(r.shift.max(-31))).max(0);
        }
        e
    }

    /// Lane `lane`'s output for the sum `acc`, in plain Rust.
    #[inline]
    pub fn finish(&self, lane: usize, acc: i32, y_zp: u8, lo: u8) -> u8 {
        let r = Requant {
            multiplier: self.mult[lane],
            shift: self.left[lane] - self.right[lane],
        };
        let q = r
            .apply(acc.wrapping_add(self.adj[lane]))
            .saturating_add(y_zp as i32);
        q.clamp(lo as i32, ACT_MAX as i32) as u8
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::Epi;
    use crate::quant::scheme::ACT_MAX;
    use core::arch::x86_64::*;

    /// `y_zp` and the clamp floor, broadcast once per tile.
    #[derive(Clone, Copy)]
    pub struct Clamp {
        pub y_zp: __m256i,
        pub lo: __m256i,
    }

    impl Clamp {
        #[inline]
        #[target_feature(enable = "avx2")]
        pub fn new(y_zp: u8, lo: u8) -> Clamp {
            Clamp {
                y_zp: _mm256_set1_epi32(y_zp as i32),
                lo: _mm256_set1_epi32(lo as i32),
            }
        }
    }

    /// [`Epi::finish`] on lanes `8·half .. 8·half + 8` of a block.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn requant8(acc: __m256i, e: &Epi, half: usize, clamp: Clamp) -> __m256i {
        let load = |a: &[i32; 16]| {
            // SAFETY: `half` is 0 or 1, so 8 lanes from `8·half` are inside.
            unsafe { _mm256_loadu_si256(a.as_ptr().add(8 * half) as *const __m256i) }
        };
        let v = _mm256_add_epi32(acc, load(&e.adj));
        // `(v as i64) << left` clamped to i32: shift, shift back, and where
        // that loses bits take the saturated value of v's sign.
        let left = load(&e.left);
        let shifted = _mm256_sllv_epi32(v, left);
        let exact = _mm256_cmpeq_epi32(_mm256_srav_epi32(shifted, left), v);
        let saturated = _mm256_xor_si256(_mm256_srai_epi32(v, 31), _mm256_set1_epi32(i32::MAX));
        let a = _mm256_blendv_epi8(saturated, shifted, exact);
        // SaturatingRoundingDoublingHighMul: (a·b + 2^30) >> 31 rounds half
        // away from zero for either sign (the 64-bit floor of the nudged
        // product equals the truncated quotient TFLite computes). The
        // product of even lanes comes from `vpmuldq` directly, of odd lanes
        // after moving them down; bits 31..62 are the result.
        let b = load(&e.mult);
        let nudge = _mm256_set1_epi64x(1 << 30);
        let even = _mm256_add_epi64(_mm256_mul_epi32(a, b), nudge);
        let odd = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)),
            nudge,
        );
        let high = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
        // i32::MIN · i32::MIN gave 2^31, which reads as i32::MIN: flip it to
        // i32::MAX as gemmlowp saturates.
        let min = _mm256_set1_epi32(i32::MIN);
        let both_min = _mm256_and_si256(_mm256_cmpeq_epi32(a, min), _mm256_cmpeq_epi32(b, min));
        let high = _mm256_xor_si256(high, both_min);
        // RoundingDivideByPOT.
        let right = load(&e.right);
        let one = _mm256_set1_epi32(1);
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
        let remainder = _mm256_and_si256(high, mask);
        let threshold = _mm256_sub_epi32(_mm256_srli_epi32(mask, 1), _mm256_srai_epi32(high, 31));
        let q = _mm256_sub_epi32(
            _mm256_srav_epi32(high, right),
            _mm256_cmpgt_epi32(remainder, threshold),
        );
        // `q.saturating_add(y_zp)` then the clamp: capping q at ACT_MAX
        // first gives the same value and cannot overflow.
        let max = _mm256_set1_epi32(ACT_MAX as i32);
        let q = _mm256_add_epi32(_mm256_min_epi32(q, max), clamp.y_zp);
        _mm256_min_epi32(_mm256_max_epi32(q, clamp.lo), max)
    }

    /// [`requant8`] on a whole block at once, with AVX-512's masks in
    /// place of compare-and-blend: the same integers, in half the
    /// instructions (the tutorial MLP's epilogue was an eighth of its int8
    /// forward pass on the 256-bit version).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn requant16(acc: __m512i, e: &Epi, y_zp: u8, lo: u8) -> __m512i {
        let load = |a: &[i32; 16]| {
            // SAFETY: 16 lanes.
            unsafe { _mm512_loadu_si512(a.as_ptr() as *const _) }
        };
        let v = _mm512_add_epi32(acc, load(&e.adj));
        let left = load(&e.left);
        let shifted = _mm512_sllv_epi32(v, left);
        let exact = _mm512_cmpeq_epi32_mask(_mm512_srav_epi32(shifted, left), v);
        let saturated = _mm512_xor_si512(_mm512_srai_epi32(v, 31), _mm512_set1_epi32(i32::MAX));
        let a = _mm512_mask_blend_epi32(exact, saturated, shifted);
        let b = load(&e.mult);
        let nudge = _mm512_set1_epi64(1 << 30);
        let even = _mm512_add_epi64(_mm512_mul_epi32(a, b), nudge);
        let odd = _mm512_add_epi64(
            _mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32)),
            nudge,
        );
        let high = _mm512_mask_blend_epi32(
            0xAAAA,
            _mm512_srli_epi64(even, 31),
            _mm512_slli_epi64(odd, 1),
        );
        let min = _mm512_set1_epi32(i32::MIN);
        let both_min = _mm512_cmpeq_epi32_mask(a, min) & _mm512_cmpeq_epi32_mask(b, min);
        let high = _mm512_mask_mov_epi32(high, both_min, _mm512_set1_epi32(i32::MAX));
        let right = load(&e.right);
        let one = _mm512_set1_epi32(1);
        let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
        let remainder = _mm512_and_si512(high, mask);
        let threshold = _mm512_sub_epi32(_mm512_srli_epi32(mask, 1), _mm512_srai_epi32(high, 31));
        let up = _mm512_cmpgt_epi32_mask(remainder, threshold);
        let q = _mm512_mask_add_epi32(
            _mm512_srav_epi32(high, right),
            up,
            _mm512_srav_epi32(high, right),
            one,
        );
        let max = _mm512_set1_epi32(ACT_MAX as i32);
        let q = _mm512_add_epi32(_mm512_min_epi32(q, max), _mm512_set1_epi32(y_zp as i32));
        _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(lo as i32)), max)
    }

    /// Stores a block's 16 outputs (each in `0..=127`): the first `valid`
    /// channels, channel `j` at `out + j·col_stride`.
    ///
    /// # Safety
    /// Those `valid` bytes must be writable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn store16_512(q: __m512i, out: *mut u8, col_stride: usize, valid: usize) {
        // `vpmovdb` into a register, then an ordinary store: its
        // memory-destination form (masked or not) is microcoded on Zen 4
        // and made the whole GEMM twice as slow.
        let bytes = _mm512_cvtepi32_epi8(q);
        // SAFETY (all): the caller's bytes.
        if col_stride == 1 && valid >= 16 {
            unsafe { _mm_storeu_si128(out as *mut __m128i, bytes) };
        } else {
            let mut tmp = [0u8; 16];
            unsafe { _mm_storeu_si128(tmp.as_mut_ptr() as *mut __m128i, bytes) };
            for (j, &v) in tmp.iter().enumerate().take(valid) {
                unsafe { *out.add(j * col_stride) = v };
            }
        }
    }

    /// Stores a block's 16 outputs (`lo` = lanes 0..8, `hi` = 8..16, each
    /// in `0..=127`): the first `valid` channels, channel `j` at
    /// `out + j·col_stride`.
    ///
    /// # Safety
    /// Those `valid` bytes must be writable.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn store16(lo: __m256i, hi: __m256i, out: *mut u8, col_stride: usize, valid: usize) {
        // i16 in the order lo0-3 hi0-3 lo4-7 hi4-7, then 64-bit lanes 0 2 1 3.
        let words = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
        let bytes = _mm_packus_epi16(
            _mm256_castsi256_si128(words),
            _mm256_extracti128_si256(words, 1),
        );
        // SAFETY (both): the caller's bytes.
        if col_stride == 1 && valid == 16 {
            unsafe { _mm_storeu_si128(out as *mut __m128i, bytes) };
        } else {
            let mut tmp = [0u8; 16];
            unsafe { _mm_storeu_si128(tmp.as_mut_ptr() as *mut __m128i, bytes) };
            for (j, &v) in tmp.iter().enumerate().take(valid) {
                unsafe { *out.add(j * col_stride) = v };
            }
        }
    }
}
