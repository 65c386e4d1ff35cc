//! Gradient clipping against PyTorch's numbers (`bench/pytorch_clip.py`,
//! torch 2.15): `clip_grad_norm_` over two parameters, below and above the
//! limit, and `clip_grad_value_`.

use nnspec_runtime::plan::Clip;
use nnspec_runtime::training::clip_gradients;

// Printed by bench/pytorch_clip.py.
const NORM_1: [f32; 10] = [
    0.10957791,
    -0.27394477,
    0.43831164,
    0.027394477,
    -0.16436687,
    0.6574675,
    -0.06574675,
    0.021915583,
    0.15340906,
    -0.4821428,
];
const VALUE_0_6: [f32; 10] = [0.5, -0.6, 0.6, 0.125, -0.6, 0.6, -0.3, 0.1, 0.6, -0.6];

/// The two parameters' gradients, end to end as in a gradient buffer, and
/// their places.
fn grads() -> (Vec<f32>, Vec<(usize, std::ops::Range<usize>)>) {
    let g = vec![0.5, -1.25, 2.0, 0.125, -0.75, 3.0, -0.3, 0.1, 0.7, -2.2];
    (g, vec![(0, 0..6), (1, 6..10)])
}

#[test]
fn clip_grad_norm_scales_as_pytorch() {
    let (mut g, places) = grads();
    clip_gradients(Clip::Norm { max_norm: 1.0 }, &mut g, &places);
    for (i, (got, want)) in g.iter().zip(NORM_1).enumerate() {
        assert!(
            (got - want).abs() <= 2e-7 * want.abs().max(1e-3),
            "element {i}: {got} against PyTorch's {want}"
        );
    }
    // The clipped gradients' norm is max_norm (to the 1e-6 PyTorch adds).
    let norm = g.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
}

#[test]
fn clip_grad_norm_leaves_small_gradients_alone() {
    // PyTorch: total norm 4.5630 < 100, the coefficient clamps to 1.
    let (mut g, places) = grads();
    let before = g.clone();
    clip_gradients(Clip::Norm { max_norm: 100.0 }, &mut g, &places);
    assert_eq!(g, before);
}

#[test]
fn clip_grad_value_clamps_as_pytorch() {
    let (mut g, places) = grads();
    clip_gradients(Clip::Value { clip_value: 0.6 }, &mut g, &places);
    assert_eq!(g, VALUE_0_6);
}

#[test]
fn only_the_named_parameters_are_clipped() {
    let (mut g, _) = grads();
    clip_gradients(Clip::Value { clip_value: 0.6 }, &mut g, &[(1, 6..10)]);
    assert_eq!(&g[..6], &[0.5, -1.25, 2.0, 0.125, -0.75, 3.0]);
    assert_eq!(&g[6..], &VALUE_0_6[6..]);
}
