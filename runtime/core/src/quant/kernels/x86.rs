//! The x86-64 micro-kernels (see [`super::driver`]): a block of 16 output
//! channels is two `ymm` or one `zmm` of `i32` sums; each step adds, per
//! lane, four `u8 × i8` products of one input group.
//!
//! * `avx2`: `vpmaddubsw` (pairs into `i16`, exact: `2·127·127 < 2^15`)
//!   then `vpmaddwd` against ones (into `i32`), then `vpaddd`.
//! * `avxvnni` / `avx512vl` + `avx512vnni`: 256-bit `vpdpbusd`, VEX or
//!   EVEX encoded (the same code compiled twice).
//! * `avx512vnni`: 512-bit `vpdpbusd`.
//!
//! Tile shapes keep accumulators and the panel's weight vectors in
//! registers: 16 `ymm` for the 256-bit kernels (VEX has no more), 32 `zmm`
//! for the 512-bit one.
// Constant index loops over the accumulator arrays unroll into code that
// keeps every sum in a register; iterator chains did not always.
#![allow(clippy::needless_range_loop)]

use super::driver::{Kernel, Tile, pick};
use super::epilogue::x86::{Clamp, requant8, requant16, store16, store16_512};
use super::{BLOCK_N, GROUP_K};
use core::arch::x86_64::*;

/// The activations of row `r` (of the tile), group `g`, as one word: four
/// bytes read at once for a full group, gathered one by one (zeros past
/// the end) for the `ragged` last one.
///
/// # Safety
/// Row `r` holds `t.k` bytes at `t.x + r·t.x_stride`.
#[inline(always)]
unsafe fn word(t: &Tile, r: usize, g: usize, ragged: bool) -> i32 {
    let start = r * t.x_stride + g * GROUP_K;
    if !ragged {
        // SAFETY: a full group lies inside the row.
        return unsafe { (t.x.add(start) as *const i32).read_unaligned() };
    }
    let mut bytes = [0u8; GROUP_K];
    for (j, v) in bytes.iter_mut().enumerate().take(t.k - g * GROUP_K) {
        // SAFETY: inside the row.
        *v = unsafe { *t.x.add(start + j) };
    }
    i32::from_le_bytes(bytes)
}

/// Requantizes and stores a tile's sums: block `b` of row `r` at
/// `sums[r·nb + b]`.
///
/// # Safety
/// As [`super::driver::TileFn`]; the CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn epilogue(t: &Tile, sums: &[[i32; BLOCK_N]], nb: usize) {
    let clamp = Clamp::new(t.y_zp, t.lo);
    // Row by row, block by block (no division per block: an integer
    // divide costs as much as requantizing half a block).
    let blocks = nb.min(t.cols.div_ceil(BLOCK_N));
    for (r, row) in sums.chunks_exact(nb.max(1)).enumerate() {
        for (b, s) in row.iter().enumerate().take(blocks) {
            let col = b * BLOCK_N;
            // SAFETY: one Epi per block; the output covers the tile's valid
            // channels.
            unsafe {
                let e = &*t.epi.add(b);
                let p = s.as_ptr() as *const __m256i;
                let valid = (t.cols - col).min(BLOCK_N);
                let lo = requant8(_mm256_loadu_si256(p), e, 0, clamp);
                // A layer of at most 8 channels (LeNet's first) needs one half.
                let hi = if valid > 8 {
                    requant8(_mm256_loadu_si256(p.add(1)), e, 1, clamp)
                } else {
                    _mm256_setzero_si256()
                };
                let out = t.out.add(r * t.out_rows + col * t.out_cols);
                store16(lo, hi, out, t.out_cols, valid);
            }
        }
    }
}

/// A 256-bit micro-kernel module over the step `$dot(acc, x, w)`.
macro_rules! kernel256 {
    ($name:ident, $features:literal, $dot:path, mr: $mr:literal,
     nb: $nb:expr, shapes: [$($shapes:tt)*]) => {
        pub(super) mod $name {
            use super::*;

            /// # Safety
            /// As [`super::super::driver::TileFn`]; the CPU has `$features`.
            #[target_feature(enable = $features)]
            unsafe fn tile<const MR: usize, const NB: usize>(t: &Tile) {
                let mut acc = [[[_mm256_setzero_si256(); 2]; NB]; MR];
                // Full groups, then the ragged last one (its word gathered
                // byte by byte): the branch stays out of the hot loop.
                let full = t.k / GROUP_K;
                let groups = t.k.div_ceil(GROUP_K);
                let mut step = |g: usize, ragged: bool| {
                    let mut w = [[_mm256_setzero_si256(); 2]; NB];
                    for b in 0..NB {
                        // SAFETY: block b has `groups` groups of 64 bytes.
                        unsafe {
                            let p = t.w.add(b * t.w_stride + g * BLOCK_N * GROUP_K);
                            w[b][0] = _mm256_loadu_si256(p as *const __m256i);
                            w[b][1] = _mm256_loadu_si256(p.add(32) as *const __m256i);
                        }
                    }
                    for r in 0..MR {
                        // SAFETY: row r of the tile exists.
                let xv = _mm256_set1_epi32(unsafe { word(t, r, g, ragged) });
                        for b in 0..NB {
                            acc[r][b][0] = $dot(acc[r][b][0], xv, w[b][0]);
                            acc[r][b][1] = $dot(acc[r][b][1], xv, w[b][1]);
                        }
                    }
                };
                for g in 0..full {
                    step(g, false);
                }
                if full < groups {
                    step(full, true);
                }
                // Spilled once, so the epilogue's loop need not be unrolled
                // for the accumulators to stay in registers.
                let mut sums = [[[0i32; BLOCK_N]; NB]; MR];
                for r in 0..MR {
                    for b in 0..NB {
                        // SAFETY: 64 bytes per block of sums.
                        unsafe {
                            let p = sums[r][b].as_mut_ptr() as *mut __m256i;
                            _mm256_storeu_si256(p, acc[r][b][0]);
                            _mm256_storeu_si256(p.add(1), acc[r][b][1]);
                        }
                    }
                }
                // SAFETY: forwarded.
                unsafe { epilogue(t, sums.as_flattened(), NB) };
            }

            pub(in super::super) static KERNEL: Kernel = Kernel {
                mr: $mr,
                nb: $nb,
                tile: |rows, nb| pick!(tile, rows, nb; $($shapes)*),
            };
        }
    };
}

/// `vpmaddubsw` + `vpmaddwd` + `vpaddd`.
#[inline]
#[target_feature(enable = "avx2")]
fn dot_avx2(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
    let pairs = _mm256_maddubs_epi16(x, w);
    _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

#[inline]
#[target_feature(enable = "avxvnni")]
fn dot_vex(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
    _mm256_dpbusd_avx_epi32(acc, x, w)
}

#[inline]
#[target_feature(enable = "avx512vnni,avx512vl")]
fn dot_evex(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(acc, x, w)
}

// 4 rows × 1 block: 8 accumulators, 2 weights, the broadcast, ones and a
// temporary. One row: 4 blocks (8 independent sums).
kernel256!(avx2, "avx2,fma", dot_avx2, mr: 4,
    nb: |rows| match rows { 1 => 4, 2 => 2, _ => 1 },
    shapes: [1 => [1, 2, 3, 4]; 2 => [1, 2]; 3 => [1]; 4 => [1]]);

// 3 rows × 2 blocks: 12 accumulators, 2 weights (the others straight from
// memory), the broadcast.
kernel256!(vnni_vex, "avx2,fma,avxvnni", dot_vex, mr: 3,
    nb: |rows| match rows { 1 => 4, _ => 2 },
    shapes: [1 => [1, 2, 3, 4]; 2 => [1, 2]; 3 => [1, 2]]);

kernel256!(vnni_evex, "avx2,fma,avx512f,avx512vl,avx512vnni", dot_evex, mr: 3,
    nb: |rows| match rows { 1 => 4, _ => 2 },
    shapes: [1 => [1, 2, 3, 4]; 2 => [1, 2]; 3 => [1, 2]]);

/// 512-bit `vpdpbusd`: 6 rows × 4 blocks (24 accumulators, 4 weights, the
/// broadcast); one or two rows take 8 blocks so a GEMV has 8 independent
/// sums in flight.
pub(super) mod vnni512 {
    use super::*;

    /// # Safety
    /// As [`super::super::driver::TileFn`]; the CPU has AVX512-VNNI.
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
    unsafe fn tile<const MR: usize, const NB: usize>(t: &Tile) {
        type Acc<const MR: usize, const NB: usize> = [[__m512i; NB]; MR];
        let full = t.k / GROUP_K;
        let groups = t.k.div_ceil(GROUP_K);
        let step = |acc: &mut Acc<MR, NB>, g: usize, ragged: bool| {
            let mut w = [_mm512_setzero_si512(); NB];
            for b in 0..NB {
                // SAFETY: block b has `groups` groups of 64 bytes.
                w[b] = unsafe {
                    _mm512_loadu_si512(t.w.add(b * t.w_stride + g * BLOCK_N * GROUP_K) as *const _)
                };
            }
            for r in 0..MR {
                // SAFETY: row r of the tile exists.
                let xv = _mm512_set1_epi32(unsafe { word(t, r, g, ragged) });
                for b in 0..NB {
                    acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], xv, w[b]);
                }
            }
        };
        let mut acc = [[_mm512_setzero_si512(); NB]; MR];
        let mut g = 0;
        if MR * NB <= 2 {
            // Too few sums to hide vpdpbusd's latency (a GEMV into few
            // channels): a second set takes the odd groups.
            let mut odd = [[_mm512_setzero_si512(); NB]; MR];
            while g + 2 <= full {
                step(&mut acc, g, false);
                step(&mut odd, g + 1, false);
                g += 2;
            }
            for r in 0..MR {
                for b in 0..NB {
                    acc[r][b] = _mm512_add_epi32(acc[r][b], odd[r][b]);
                }
            }
        }
        while g < full {
            step(&mut acc, g, false);
            g += 1;
        }
        if full < groups {
            step(&mut acc, full, true);
        }
        let mut sums = [[[0i32; BLOCK_N]; NB]; MR];
        for r in 0..MR {
            for b in 0..NB {
                // SAFETY: 64 bytes per block of sums.
                unsafe { _mm512_storeu_si512(sums[r][b].as_mut_ptr() as *mut _, acc[r][b]) };
            }
        }
        // SAFETY: forwarded.
        unsafe { epilogue_512(t, sums.as_flattened(), NB) };
    }

    /// [`super::epilogue`] a block per 512-bit vector. Out of line on
    /// purpose: inlined, its constants took registers from the tile's
    /// loop, whose weights then came from memory at half the speed.
    ///
    /// # Safety
    /// As [`super::super::driver::TileFn`]; the CPU has AVX-512F.
    #[inline(never)]
    #[target_feature(enable = "avx512f")]
    unsafe fn epilogue_512(t: &Tile, sums: &[[i32; BLOCK_N]], nb: usize) {
        let blocks = nb.min(t.cols.div_ceil(BLOCK_N));
        for (r, row) in sums.chunks_exact(nb.max(1)).enumerate() {
            for (b, s) in row.iter().enumerate().take(blocks) {
                let col = b * BLOCK_N;
                // SAFETY: one Epi per block; the output covers the tile's
                // valid channels.
                unsafe {
                    let acc = _mm512_loadu_si512(s.as_ptr() as *const _);
                    let q = requant16(acc, &*t.epi.add(b), t.y_zp, t.lo);
                    let out = t.out.add(r * t.out_rows + col * t.out_cols);
                    store16_512(q, out, t.out_cols, (t.cols - col).min(BLOCK_N));
                }
            }
        }
    }

    pub(in super::super) static KERNEL: Kernel = Kernel {
        mr: 6,
        nb: |rows| if rows <= 2 { 8 } else { 4 },
        tile: |rows, nb| {
            pick!(tile, rows, nb;
                1 => [1, 2, 3, 4, 5, 6, 7, 8];
                2 => [1, 2, 3, 4, 5, 6, 7, 8];
                3 => [1, 2, 3, 4]; 4 => [1, 2, 3, 4]; 5 => [1, 2, 3, 4]; 6 => [1, 2, 3, 4])
        },
    };
}
