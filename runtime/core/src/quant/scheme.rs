//! The numbers of the int8 scheme: activation quantization parameters and
//! the fixed-point requantization multiplier (see the module above for
//! the scheme and its rounding).

/// The largest activation value: activations use 7 of `u8`'s 8 bits so
/// that AVX2's `vpmaddubsw` never saturates (see [`crate::quant`]).
pub const ACT_MAX: u8 = 127;

/// The largest weight magnitude (`-128` is never produced).
pub const WEIGHT_MAX: i8 = 127;

/// A per-tensor affine mapping: `real = (q − zero_point) · scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    pub scale: f32,
    pub zero_point: u8,
}

impl QuantParams {
    /// The parameters covering `[min, max]` (widened to include 0, so that
    /// zero — ReLU's floor, a convolution's padding — is exact) with
    /// `0..=ACT_MAX`. A range of width 0 gets scale 1.
    pub fn from_range(min: f32, max: f32) -> QuantParams {
        let min = min.min(0.0);
        let max = max.max(0.0);
        let width = max - min;
        if width.is_nan() || width <= 0.0 || !width.is_finite() {
            return QuantParams {
                scale: 1.0,
                zero_point: 0,
            };
        }
        let scale = width / ACT_MAX as f32;
        let zero = round_half_even(-min / scale).clamp(0.0, ACT_MAX as f32);
        QuantParams {
            scale,
            zero_point: zero as u8,
        }
    }

    /// `1 / scale`, the factor [`QuantParams::quantize`] multiplies by.
    #[inline]
    pub fn inverse_scale(self) -> f32 {
        1.0 / self.scale
    }

    /// One value to `0..=ACT_MAX`: `clamp(round_half_even(x · (1/scale)) +
    /// zero_point)`. NaN gives the zero point.
    ///
    /// ONNX `QuantizeLinear` divides by the scale; this multiplies by its
    /// reciprocal, as XNNPACK's conversion kernels do: a division per
    /// value was a quarter of the tutorial MLP's int8 forward pass (the
    /// divider's throughput is a fifth of the multiplier's). The two differ
    /// only where `x / scale` lies within a rounding of a half-way point, by
    /// one step, and onnxruntime running the QDQ export still agrees on
    /// the classes (tests/onnx_int8.rs).
    #[inline]
    pub fn quantize(self, x: f32) -> u8 {
        self.quantize_by(x, self.inverse_scale())
    }

    /// [`QuantParams::quantize`] with `inverse_scale` computed once for a
    /// whole slice.
    #[inline]
    pub fn quantize_by(self, x: f32, inverse_scale: f32) -> u8 {
        let q = round_half_even(x * inverse_scale) + self.zero_point as f32;
        if q.is_nan() {
            return self.zero_point;
        }
        q.clamp(0.0, ACT_MAX as f32) as u8
    }

    /// ONNX `DequantizeLinear`: `(q − zero_point) · scale`.
    #[inline]
    pub fn dequantize(self, q: u8) -> f32 {
        (q as i32 - self.zero_point as i32) as f32 * self.scale
    }
}

/// Rounds half to even without `std` (`f32::round_ties_even` needs it on
/// some targets): exact for every f32.
#[inline]
pub fn round_half_even(x: f32) -> f32 {
    // Above 2^23 every f32 is an integer already.
    if x.is_nan() || x.abs() >= 8_388_608.0 {
        return x;
    }
    let magic = 8_388_608.0f32.copysign(x);
    (x + magic) - magic
}

/// A real multiplier `m > 0` as TFLite represents it: `m ≈ multiplier ·
/// 2^(shift − 31)`, `multiplier` in `[2^30, 2^31)` (Q31).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant {
    pub multiplier: i32,
    /// Left shift when positive, right shift when negative.
    pub shift: i32,
}

impl Requant {
    /// The nearest representable multiplier to `real` (`real` must be finite
    /// and non-negative; 0 gives a multiplier that maps everything to 0).
    pub fn from_real(real: f64) -> Requant {
        if real.is_nan() || real <= 0.0 || !real.is_finite() {
            return Requant {
                multiplier: 0,
                shift: 0,
            };
        }
        // real = q · 2^shift with q in [0.5, 1).
        let mut shift = 0i32;
        let mut q = real;
        while q >= 1.0 {
            q /= 2.0;
            shift += 1;
        }
        while q < 0.5 {
            q *= 2.0;
            shift -= 1;
        }
        let mut q31 = libm::round(q * (1u64 << 31) as f64) as i64;
        if q31 == 1i64 << 31 {
            q31 /= 2;
            shift += 1;
        }
        // Shifts beyond 31 either way leave nothing of a 32-bit value.
        if shift < -31 {
            return Requant {
                multiplier: 0,
                shift: 0,
            };
        }
        Requant {
            multiplier: q31 as i32,
            shift: shift.min(30),
        }
    }

    /// `acc · real`, rounded as TFLite's `MultiplyByQuantizedMultiplier`.
    #[inline]
    pub fn apply(self, acc: i32) -> i32 {
        let left = self.shift.max(0);
        let right = (-self.shift).max(0);
        let shifted = (acc as i64) << left;
        let shifted = shifted.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul(shifted, self.multiplier),
            right,
        )
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `round(a·b / 2^31)`,
/// half away from zero, saturating the one overflowing case.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent`, half away from zero.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent <= 0 {
        return x;
    }
    let mask = (1i64 << exponent) - 1;
    let remainder = x as i64 & mask;
    let threshold = (mask >> 1) + (x < 0) as i64;
    ((x >> exponent) as i64 + (remainder > threshold) as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_even_matches_std() {
        for x in [
            0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 3.7, -3.7, 1e9, -0.0,
        ] {
            assert_eq!(round_half_even(x), x.round_ties_even(), "{x}");
        }
    }

    #[test]
    fn requant_is_close_to_the_real_product() {
        for real in [0.000_123_f64, 0.003_9, 0.25, 0.5, 0.999_999_9, 1.0, 3.75] {
            let r = Requant::from_real(real);
            for acc in [-1_000_000i32, -12_345, -1, 0, 1, 77, 12_345, 1_000_000] {
                let want = (acc as f64 * real).round();
                let got = r.apply(acc) as f64;
                assert!(
                    (got - want).abs() <= 1.0,
                    "real {real} acc {acc}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn rounding_divide_rounds_half_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
    }

    #[test]
    fn quantize_saturates_and_rounds_half_even() {
        let q = QuantParams::from_range(-1.0, 1.0);
        assert_eq!(q.quantize(1e9), ACT_MAX);
        assert_eq!(q.quantize(-1e9), 0);
        assert_eq!(q.quantize(0.0), q.zero_point);
        assert_eq!(q.quantize(f32::NAN), q.zero_point);
        let unit = QuantParams {
            scale: 1.0,
            zero_point: 10,
        };
        assert_eq!(unit.quantize(2.5), 12);
        assert_eq!(unit.quantize(3.5), 14);
    }
}
