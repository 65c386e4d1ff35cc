//! What windowed ops (convolution, pooling) share: which outputs of a row
//! see a given kernel offset inside the input.

/// The outputs `o` in `0..out` whose input coordinate `o·stride + offset - pad`
/// lies in `0..input`, as a half-open range.
pub(crate) fn valid_outputs(
    out: usize,
    input: usize,
    stride: usize,
    pad: usize,
    offset: usize,
) -> (usize, usize) {
    let lo = pad.saturating_sub(offset).div_ceil(stride).min(out);
    let hi = (input + pad)
        .saturating_sub(offset)
        .div_ceil(stride)
        .clamp(lo, out);
    (lo, hi)
}
