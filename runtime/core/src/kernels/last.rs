//! `last`: the last step of each sequence, `x[:, -1, :]`.

/// `y [batch, features] = x [batch, len, features]` at step `len - 1`.
pub fn forward(x: &[f32], y: &mut [f32], len: usize, features: usize) {
    let sample = len * features;
    assert!(len > 0 && features > 0, "last: empty sequence");
    assert_eq!(x.len() / sample * features, y.len(), "last: lengths");
    for (x, y) in x.chunks_exact(sample).zip(y.chunks_exact_mut(features)) {
        y.copy_from_slice(&x[sample - features..]);
    }
}

/// `dx [batch, len, features]`: `dy` at the last step, zero elsewhere.
pub fn backward(dy: &[f32], dx: &mut [f32], len: usize, features: usize) {
    let sample = len * features;
    assert!(len > 0 && features > 0, "last: empty sequence");
    assert_eq!(dx.len() / sample * features, dy.len(), "last: lengths");
    for (dx, dy) in dx.chunks_exact_mut(sample).zip(dy.chunks_exact(features)) {
        let (earlier, last) = dx.split_at_mut(sample - features);
        earlier.fill(0.0);
        last.copy_from_slice(dy);
    }
}
