//! Concatenation along one axis (`torch.cat(xs, dim)`), for tensors viewed
//! as `[outer, len_i, inner]`: input `i` is `[outer, lens[i], inner]` and
//! the output is `[outer, Σ lens, inner]`.

/// Copies every input into its slice of `y`.
pub fn forward(inputs: &[&[f32]], lens: &[usize], outer: usize, inner: usize, y: &mut [f32]) {
    assert_eq!(
        inputs.len(),
        lens.len(),
        "concat::forward: one length per input"
    );
    let total: usize = lens.iter().sum();
    assert_eq!(
        y.len(),
        outer * total * inner,
        "concat::forward: output length"
    );
    for (x, &len) in inputs.iter().zip(lens) {
        assert_eq!(
            x.len(),
            outer * len * inner,
            "concat::forward: input length"
        );
    }
    if y.is_empty() {
        return;
    }
    for (o, out) in y.chunks_exact_mut(total * inner).enumerate() {
        let mut at = 0;
        for (x, &len) in inputs.iter().zip(lens) {
            let n = len * inner;
            out[at..at + n].copy_from_slice(&x[o * n..(o + 1) * n]);
            at += n;
        }
    }
}

/// Copies one input, `x [outer, len, inner]`, into its slice of
/// `y [outer, total, inner]`, which starts at index `at` of the concatenated
/// axis: [`forward`] one input at a time, with no list of inputs.
pub fn forward_one(
    x: &[f32],
    at: usize,
    len: usize,
    total: usize,
    outer: usize,
    inner: usize,
    y: &mut [f32],
) {
    assert!(at + len <= total, "concat::forward_one: slice past the end");
    assert_eq!(
        y.len(),
        outer * total * inner,
        "concat::forward_one: output length"
    );
    assert_eq!(
        x.len(),
        outer * len * inner,
        "concat::forward_one: input length"
    );
    let n = len * inner;
    if n == 0 {
        return;
    }
    for (out, x) in y.chunks_exact_mut(total * inner).zip(x.chunks_exact(n)) {
        out[at * inner..at * inner + n].copy_from_slice(x);
    }
}

/// Splits `dy [outer, Σ lens, inner]` back into the inputs' gradients,
/// overwriting every `dxs[i] [outer, lens[i], inner]`.
pub fn backward(dy: &[f32], lens: &[usize], outer: usize, inner: usize, dxs: &mut [&mut [f32]]) {
    assert_eq!(
        dxs.len(),
        lens.len(),
        "concat::backward: one length per input"
    );
    let total: usize = lens.iter().sum();
    assert_eq!(
        dy.len(),
        outer * total * inner,
        "concat::backward: gradient length"
    );
    for (dx, &len) in dxs.iter().zip(lens) {
        assert_eq!(
            dx.len(),
            outer * len * inner,
            "concat::backward: input gradient length"
        );
    }
    if dy.is_empty() {
        return;
    }
    for (o, g) in dy.chunks_exact(total * inner).enumerate() {
        let mut at = 0;
        for (dx, &len) in dxs.iter_mut().zip(lens) {
            let n = len * inner;
            dx[o * n..(o + 1) * n].copy_from_slice(&g[at..at + n]);
            at += n;
        }
    }
}
