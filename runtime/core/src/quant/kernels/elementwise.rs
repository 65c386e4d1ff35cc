//! Quantize, dequantize and max pooling: AVX2 where the tier allows it,
//! bit for bit the scalar definitions of [`QuantParams`] and
//! [`super::portable::maxpool2d`].

use super::Int8Tier;
use crate::plan::PoolShape;
use crate::quant::scheme::QuantParams;

pub(super) fn quantize(x: &[f32], q: QuantParams, y: &mut [u8], tier: Int8Tier) {
    let len = x.len().min(y.len());
    #[cfg(target_arch = "x86_64")]
    let done = if tier >= Int8Tier::Avx512Vnni {
        // SAFETY: the AVX512-VNNI tier runs on AVX-512F CPUs only.
        unsafe { x86::quantize_512(&x[..len], q, &mut y[..len]) }
    } else if tier >= Int8Tier::Avx2 {
        // SAFETY: every tier from Avx2 up runs on AVX2 CPUs only.
        unsafe { x86::quantize(&x[..len], q, &mut y[..len]) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = {
        let _ = tier;
        0
    };
    let inverse = q.inverse_scale();
    for (y, &x) in y[done..len].iter_mut().zip(&x[done..len]) {
        *y = q.quantize_by(x, inverse);
    }
}

pub(super) fn dequantize(x: &[u8], q: QuantParams, y: &mut [f32], tier: Int8Tier) {
    let len = x.len().min(y.len());
    #[cfg(target_arch = "x86_64")]
    let done = if tier >= Int8Tier::Avx2 {
        // SAFETY: as above.
        unsafe { x86::dequantize(&x[..len], q, &mut y[..len]) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = {
        let _ = tier;
        0
    };
    for (y, &x) in y[done..len].iter_mut().zip(&x[done..len]) {
        *y = q.dequantize(x);
    }
}

/// Without padding every window lies inside the image, so the loop needs
/// no bounds tests and the compiler vectorizes the running maximum; with
/// padding, the reference loop.
pub(super) fn maxpool2d(x: &[u8], batch: usize, shape: &PoolShape, y: &mut [u8]) {
    if shape.padding != [0, 0] {
        return super::portable::maxpool2d(x, batch, shape, y);
    }
    let (h, w) = (shape.in_h, shape.in_w);
    let ([kh, kw], [sh, sw]) = (shape.kernel, shape.stride);
    let (oh, ow) = ((h - kh) / sh + 1, (w - kw) / sw + 1);
    let planes = batch * shape.channels;
    assert!(
        x.len() >= planes * h * w && y.len() >= planes * oh * ow,
        "int8 maxpool2d: buffer lengths"
    );
    for (plane, out) in x
        .chunks_exact(h * w)
        .zip(y.chunks_exact_mut(oh * ow))
        .take(planes)
    {
        for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
            for (ox, o) in out_row.iter_mut().enumerate() {
                let mut best = 0u8;
                for dy in 0..kh {
                    let row = &plane[(oy * sh + dy) * w + ox * sw..][..kw];
                    best = row.iter().fold(best, |m, &v| m.max(v));
                }
                *o = best;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::quant::scheme::{ACT_MAX, QuantParams};
    use core::arch::x86_64::*;

    /// Quantizes the longest prefix of whole 16-value chunks; returns its
    /// length. `round` to nearest even is `round_half_even`; NaN takes the
    /// zero point as [`QuantParams::quantize`] does.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn quantize(x: &[f32], q: QuantParams, y: &mut [u8]) -> usize {
        let inverse = _mm256_set1_ps(q.inverse_scale());
        let zp = _mm256_set1_ps(q.zero_point as f32);
        let max = _mm256_set1_ps(ACT_MAX as f32);
        let zero = _mm256_setzero_ps();
        // Eight values to eight i32s in 0..=ACT_MAX.
        let eight = |v: __m256| {
            let rounded = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                _mm256_mul_ps(v, inverse),
            );
            let shifted = _mm256_add_ps(rounded, zp);
            let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(shifted, shifted);
            let clamped = _mm256_min_ps(_mm256_max_ps(shifted, zero), max);
            _mm256_cvttps_epi32(_mm256_blendv_ps(clamped, zp, nan))
        };
        let chunks = x.len() / 16;
        for i in 0..chunks {
            // SAFETY: chunk i of 16 lies inside both slices.
            unsafe {
                let a = eight(_mm256_loadu_ps(x.as_ptr().add(16 * i)));
                let b = eight(_mm256_loadu_ps(x.as_ptr().add(16 * i + 8)));
                // i32 to i16 to u8 (values fit, so nothing saturates); the
                // packs work within 128-bit lanes, the permute puts the
                // 16 bytes back in order.
                let words = _mm256_packs_epi32(a, b);
                let bytes = _mm256_packus_epi16(words, words);
                let ordered =
                    _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0));
                _mm_storeu_si128(
                    y.as_mut_ptr().add(16 * i) as *mut __m128i,
                    _mm256_castsi256_si128(ordered),
                );
            }
        }
        chunks * 16
    }

    /// As [`quantize`], 16 values to a 512-bit vector and fewer steps:
    /// NaN lanes are masked to 0 by the multiply itself (0 quantizes to
    /// the zero point), the clamp to `-zp..=ACT_MAX - zp` happens before
    /// rounding (the same as after it: the bounds are integers), the
    /// conversion rounds to nearest even, and `vpmovdb` narrows the
    /// already-clamped lanes. The tutorial MLP's int8 forward pass at
    /// batch 1000 spends most of its non-GEMM time here (bench/README.md).
    #[target_feature(enable = "avx512f")]
    pub(super) fn quantize_512(x: &[f32], q: QuantParams, y: &mut [u8]) -> usize {
        let inverse = _mm512_set1_ps(q.inverse_scale());
        let lo = _mm512_set1_ps(-(q.zero_point as f32));
        let hi = _mm512_set1_ps((ACT_MAX - q.zero_point) as f32);
        let zp = _mm512_set1_epi32(q.zero_point as i32);
        let chunks = x.len() / 16;
        for i in 0..chunks {
            // SAFETY: chunk i of 16 lies inside both slices.
            unsafe {
                let v = _mm512_loadu_ps(x.as_ptr().add(16 * i));
                let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(v, v);
                let scaled = _mm512_maskz_mul_ps(ordered, v, inverse);
                let clamped = _mm512_min_ps(_mm512_max_ps(scaled, lo), hi);
                let rounded = _mm512_cvt_roundps_epi32::<
                    { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
                >(clamped);
                let bytes = _mm512_cvtepi32_epi8(_mm512_add_epi32(rounded, zp));
                _mm_storeu_si128(y.as_mut_ptr().add(16 * i) as *mut __m128i, bytes);
            }
        }
        chunks * 16
    }

    /// Dequantizes the longest prefix of whole 8-value chunks; returns its
    /// length.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dequantize(x: &[u8], q: QuantParams, y: &mut [f32]) -> usize {
        let scale = _mm256_set1_ps(q.scale);
        let zp = _mm256_set1_epi32(q.zero_point as i32);
        let chunks = x.len() / 8;
        for i in 0..chunks {
            // SAFETY: chunk i of 8 lies inside both slices.
            unsafe {
                let bytes = _mm_loadl_epi64(x.as_ptr().add(8 * i) as *const __m128i);
                let ints = _mm256_sub_epi32(_mm256_cvtepu8_epi32(bytes), zp);
                let v = _mm256_mul_ps(_mm256_cvtepi32_ps(ints), scale);
                _mm256_storeu_ps(y.as_mut_ptr().add(8 * i), v);
            }
        }
        chunks * 8
    }
}
