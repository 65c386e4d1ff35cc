//! Post-training int8 quantization: the integer scheme, the int8 Plan
//! ([`plan::QPlan`]) and its kernels.
//!
//! # The scheme
//!
//! * **Activations** are `u8` with a per-tensor scale and zero point
//!   (asymmetric), restricted to `0..=`[`ACT_MAX`] (7 bits). The range is
//!   chosen so that AVX2's `vpmaddubsw`, which adds two `u8 × i8`
//!   products in saturating `i16`, never saturates: `127·127·2 = 32 258 <
//!   32 767`. Every tier (VNNI's `vpdpbusd`, AVX2's `vpmaddubsw` +
//!   `vpmaddwd`, portable) therefore computes the same exact `i32` sums and
//!   gives the same integers. (fbgemm and oneDNN instead let `vpmaddubsw`
//!   saturate or halve the weights; onnxruntime calls its variant
//!   `reduce_range`.)
//! * **Weights** are `i8`, symmetric, one scale per output channel, in
//!   `-127..=127` (`-128` is never used, so negation cannot overflow).
//! * **Bias** is `i32` at scale `x_scale · w_scale[c]`, zero point 0.
//! * **Accumulation** is `i32`: `acc = Σ x_q·w_q − x_zp·Σ w_q + bias_q`.
//! * **Requantization** is integer-only, TFLite's: the real multiplier
//!   `x_scale · w_scale[c] / y_scale` as a Q31 fixed-point multiplier and a
//!   power-of-two shift ([`scheme::Requant`]), then `+ y_zp` and a clamp to
//!   `[lo, ACT_MAX]` (`lo = y_zp` for a fused ReLU, else 0).
//!
//! Rounding, everywhere: quantizing a float multiplies it by the
//! reciprocal of the scale and rounds half to even (ONNX `QuantizeLinear`
//! divides; see [`QuantParams::quantize`] for why); the fixed-point multiply rounds half away from zero
//! (`SaturatingRoundingDoublingHighMul`), and the shift rounds half away
//! from zero (`RoundingDivideByPOT`), as gemmlowp and TFLite do.

pub mod kernels;
pub mod plan;
pub mod run;
pub mod scheme;

pub use scheme::{ACT_MAX, QuantParams, Requant};
