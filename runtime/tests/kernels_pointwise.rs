//! Gradient and semantics tests for the dense, activation, softmax, loss,
//! dropout, elementwise and concat kernels.
//!
//! Backward kernels are checked against central finite differences of an
//! f64 scalar loss computed with the forward kernels (tests/common); forward
//! kernels against literal values computed with PyTorch 2 (quoted in each
//! test) or worked out by hand.

mod common;

use common::{check_gradient, random, weighted_sum};
use nnspec_runtime::kernels::activation::{leaky_relu, relu, sigmoid, tanh};
use nnspec_runtime::kernels::{concat, dense, dropout, elementwise, loss, softmax};
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::rng::Rng;

/// Lengths that exercise the 16-lane AVX-512 and 4-lane SSE loops and their
/// remainders.
const LENGTHS: &[usize] = &[1, 3, 15, 16, 17, 33, 100, 257];

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// Random values in ±[0.1, 1): away from the kink of relu-like functions,
/// so a finite-difference step never crosses it.
fn away_from_zero(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let v = rng.uniform(0.1, 1.0);
            if rng.next_f32() < 0.5 { -v } else { v }
        })
        .collect()
}

// ---------------------------------------------------------------- dense

fn dense_loss(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    wts: &[f32],
    (batch, inf, outf): (usize, usize, usize),
) -> f64 {
    let mut y = vec![0.0; batch * outf];
    dense::forward(x, w, Some(b), &mut y, batch, inf, outf, &Parallel::single());
    weighted_sum(&y, wts)
}

#[test]
fn dense_backward_matches_finite_differences() {
    let shapes = [
        (1, 1, 1),
        (3, 5, 7),
        (7, 33, 17),
        (13, 65, 31),
        (20, 100, 10),
        (4, 16, 130),
    ];
    for (case, &(batch, inf, outf)) in shapes.iter().enumerate() {
        for threads in [1, 2] {
            let par = Parallel::new(threads);
            let mut rng = Rng::new(100 + case as u64);
            let x = random(batch * inf, &mut rng);
            let w = random(outf * inf, &mut rng);
            let b = random(outf, &mut rng);
            let wts = random(batch * outf, &mut rng);
            let dims = (batch, inf, outf);
            let (mut dx, mut dw, mut db) =
                (vec![9.0; x.len()], vec![9.0; w.len()], vec![9.0; b.len()]);
            dense::backward(
                &x,
                &w,
                &wts,
                Some(&mut dx),
                &mut dw,
                Some(&mut db),
                batch,
                inf,
                outf,
                &par,
            );
            let what = format!("dense {dims:?} threads {threads}");
            check_gradient(
                &format!("{what} dx"),
                &x,
                &dx,
                |x| dense_loss(x, &w, &b, &wts, dims),
                1e-2,
                1e-3,
                1e-3,
            );
            check_gradient(
                &format!("{what} dweight"),
                &w,
                &dw,
                |w| dense_loss(&x, w, &b, &wts, dims),
                1e-2,
                1e-3,
                1e-3,
            );
            check_gradient(
                &format!("{what} dbias"),
                &b,
                &db,
                |b| dense_loss(&x, &w, b, &wts, dims),
                1e-2,
                1e-3,
                1e-3,
            );
        }
    }
}

#[test]
fn dense_forward_literal_and_no_bias() {
    // x = [[1, 2], [3, -1]], W = [[1, 0], [2, 1], [-1, 1]], b = [0.5, 0, -1]
    let x = [1.0, 2.0, 3.0, -1.0];
    let w = [1.0, 0.0, 2.0, 1.0, -1.0, 1.0];
    let b = [0.5, 0.0, -1.0];
    let mut y = [0.0; 6];
    dense::forward(&x, &w, Some(&b), &mut y, 2, 2, 3, &Parallel::single());
    assert_eq!(y, [1.5, 4.0, 0.0, 3.5, 5.0, -5.0]);
    dense::forward(&x, &w, None, &mut y, 2, 2, 3, &Parallel::single());
    assert_eq!(y, [1.0, 4.0, 1.0, 3.0, 5.0, -4.0]);
    dense::forward_relu(&x, &w, Some(&b), &mut y, 2, 2, 3, &Parallel::single());
    assert_eq!(y, [1.5, 4.0, 0.0, 3.5, 5.0, 0.0]);
}

#[test]
fn dense_threads_agree_at_the_tutorial_shape() {
    let (batch, inf, outf) = (100, 784, 128);
    let mut rng = Rng::new(9);
    let x = random(batch * inf, &mut rng);
    let w = random(outf * inf, &mut rng);
    let b = random(outf, &mut rng);
    let dy = random(batch * outf, &mut rng);
    let run = |threads| {
        let par = Parallel::new(threads);
        let mut y = vec![0.0; batch * outf];
        dense::forward(&x, &w, Some(&b), &mut y, batch, inf, outf, &par);
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; outf]);
        dense::backward(
            &x,
            &w,
            &dy,
            Some(&mut dx),
            &mut dw,
            Some(&mut db),
            batch,
            inf,
            outf,
            &par,
        );
        (y, dx, dw, db)
    };
    let one = run(1);
    let two = run(2);
    if nnspec_runtime::gemm::uses_avx512() {
        // Our kernels compute each output element on one thread in the same
        // order whatever the split, so it must not change a single bit.
        assert_eq!(one, two);
    } else {
        for (a, b) in [
            (&one.0, &two.0),
            (&one.1, &two.1),
            (&one.2, &two.2),
            (&one.3, &two.3),
        ] {
            assert!(
                a.iter()
                    .zip(b)
                    .all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + x.abs()))
            );
        }
    }
    // Spot-check against a direct sum.
    for (i, j) in [(0, 0), (99, 127), (42, 7)] {
        let s: f64 = (0..inf)
            .map(|k| x[i * inf + k] as f64 * w[j * inf + k] as f64)
            .sum();
        let want = s + b[j] as f64;
        assert!(
            (one.0[i * outf + j] as f64 - want).abs() < 1e-4,
            "y[{i},{j}]"
        );
    }
}

fn dense_relu_loss(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    wts: &[f32],
    (batch, inf, outf): (usize, usize, usize),
) -> f64 {
    let mut y = vec![0.0; batch * outf];
    dense::forward_relu(x, w, Some(b), &mut y, batch, inf, outf, &Parallel::single());
    weighted_sum(&y, wts)
}

#[test]
fn fused_dense_relu_backward_matches_finite_differences() {
    for (case, &(batch, inf, outf)) in [(2, 3, 4), (5, 17, 9), (9, 40, 33)].iter().enumerate() {
        let mut rng = Rng::new(200 + case as u64);
        let x = random(batch * inf, &mut rng);
        let w = random(outf * inf, &mut rng);
        let b = random(outf, &mut rng);
        let wts = random(batch * outf, &mut rng);
        let dims = (batch, inf, outf);
        let mut y = vec![0.0; batch * outf];
        dense::forward_relu(
            &x,
            &w,
            Some(&b),
            &mut y,
            batch,
            inf,
            outf,
            &Parallel::single(),
        );
        let mut dy = wts.clone();
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; outf]);
        dense::backward_relu(
            &x,
            &w,
            &y,
            &mut dy,
            Some(&mut dx),
            &mut dw,
            Some(&mut db),
            batch,
            inf,
            outf,
            &Parallel::new(2),
        );
        // A small step keeps pre-activations from crossing zero.
        let eps = 1e-3;
        check_gradient(
            "dense+relu dx",
            &x,
            &dx,
            |x| dense_relu_loss(x, &w, &b, &wts, dims),
            eps,
            2e-3,
            1e-2,
        );
        check_gradient(
            "dense+relu dw",
            &w,
            &dw,
            |w| dense_relu_loss(&x, w, &b, &wts, dims),
            eps,
            2e-3,
            1e-2,
        );
        check_gradient(
            "dense+relu db",
            &b,
            &db,
            |b| dense_relu_loss(&x, &w, b, &wts, dims),
            eps,
            2e-3,
            1e-2,
        );
    }
}

// ----------------------------------------------------------- activations

/// Checks `backward` of a pointwise activation (given forward output and
/// input) against finite differences on every length of [`LENGTHS`].
fn check_activation(
    name: &str,
    forward: impl Fn(&[f32], &mut [f32]),
    backward: impl Fn(&[f32], &[f32], &[f32], &mut [f32]),
) {
    for (case, &len) in LENGTHS.iter().enumerate() {
        let mut rng = Rng::new(300 + case as u64);
        let x: Vec<f32> = away_from_zero(len, &mut rng)
            .iter()
            .map(|v| v * 3.0)
            .collect();
        let wts = random(len, &mut rng);
        let mut y = vec![0.0; len];
        forward(&x, &mut y);
        let mut dx = vec![9.0; len];
        backward(&x, &y, &wts, &mut dx);
        let loss = |x: &[f32]| {
            let mut y = vec![0.0; x.len()];
            forward(x, &mut y);
            weighted_sum(&y, &wts)
        };
        check_gradient(
            &format!("{name} len {len}"),
            &x,
            &dx,
            loss,
            1e-2,
            1e-3,
            1e-3,
        );
    }
}

#[test]
fn activation_backwards_match_finite_differences() {
    check_activation("relu", relu::forward, |_, y, dy, dx| {
        relu::backward(y, dy, dx)
    });
    check_activation(
        "leaky_relu",
        |x, y| leaky_relu::forward(x, y, 0.07),
        |x, _, dy, dx| leaky_relu::backward(x, dy, dx, 0.07),
    );
    check_activation("sigmoid", sigmoid::forward, |_, y, dy, dx| {
        sigmoid::backward(y, dy, dx)
    });
    check_activation("tanh", tanh::forward, |_, y, dy, dx| {
        tanh::backward(y, dy, dx)
    });
    // The in-place relu variants agree with the out-of-place ones.
    let mut rng = Rng::new(7);
    let x = random(101, &mut rng);
    let dy = random(101, &mut rng);
    let (mut y, mut dx) = (vec![0.0; 101], vec![0.0; 101]);
    relu::forward(&x, &mut y);
    relu::backward(&y, &dy, &mut dx);
    let mut y2 = x.clone();
    relu::forward_inplace(&mut y2);
    let mut dx2 = dy.clone();
    relu::backward_inplace(&y2, &mut dx2);
    assert_eq!((y, dx), (y2, dx2));
}

#[test]
fn activation_forward_literals() {
    let mut y = [0.0; 5];
    // torch.sigmoid(tensor([-100., -2., 0., 0.5, 30.]))
    sigmoid::forward(&[-100.0, -2.0, 0.0, 0.5, 30.0], &mut y);
    assert_close(
        &y,
        &[0.0, 0.11920291930437088, 0.5, 0.622459352016449, 1.0],
        1e-7,
        "sigmoid",
    );
    // torch.tanh(tensor([-3., -0.5, 0., 1., 20.]))
    tanh::forward(&[-3.0, -0.5, 0.0, 1.0, 20.0], &mut y);
    assert_close(
        &y,
        &[
            -0.9950547814369202,
            -0.46211716532707214,
            0.0,
            0.7615941762924194,
            1.0,
        ],
        1e-7,
        "tanh",
    );
    // F.leaky_relu(tensor([-2., 0., 3.]), 0.1)
    let mut y3 = [0.0; 3];
    leaky_relu::forward(&[-2.0, 0.0, 3.0], &mut y3, 0.1);
    assert_close(&y3, &[-0.20000000298023224, 0.0, 3.0], 0.0, "leaky_relu");
    // PyTorch: relu'(0) = 0; leaky_relu'(0) = slope; relu keeps NaN.
    let mut d = [0.0; 3];
    relu::forward(&[-1.0, 0.0, 2.0], &mut y3);
    assert_eq!(y3, [0.0, 0.0, 2.0]);
    relu::backward(&y3, &[1.0, 1.0, 1.0], &mut d);
    assert_eq!(d, [0.0, 0.0, 1.0]);
    leaky_relu::backward(&[-1.0, 0.0, 2.0], &[1.0, 1.0, 1.0], &mut d, 0.25);
    assert_eq!(d, [0.25, 0.25, 1.0]);
    relu::forward(&[f32::NAN, -1.0, 1.0], &mut y3);
    assert!(y3[0].is_nan() && y3[1] == 0.0);
    // sigmoid'(0) = 1/4, tanh'(0) = 1
    let mut d1 = [0.0];
    sigmoid::backward(&[0.5], &[2.0], &mut d1);
    assert_eq!(d1, [0.5]);
    tanh::backward(&[0.0], &[2.0], &mut d1);
    assert_eq!(d1, [2.0]);
}

#[test]
fn sigmoid_and_tanh_are_accurate_everywhere() {
    // Against f64 references over a dense grid plus the hard spots: tiny
    // arguments (relative accuracy of tanh), the polynomial/exp switch of
    // tanh at 0.625, saturation.
    let mut xs: Vec<f32> = (-20_000..=20_000).map(|i| i as f32 * 0.0007).collect();
    xs.extend([
        1e-30,
        -1e-8,
        1e-5,
        0.624_999_9,
        0.625,
        0.625_000_1,
        9.0,
        44.0,
        100.0,
        -100.0,
    ]);
    let mut y = vec![0.0; xs.len()];
    tanh::forward(&xs, &mut y);
    for (&x, &t) in xs.iter().zip(&y) {
        let want = (x as f64).tanh();
        let err = (t as f64 - want).abs() / want.abs().max(1e-30);
        assert!(err < 4e-7, "tanh({x}) = {t}, want {want}");
    }
    sigmoid::forward(&xs, &mut y);
    for (&x, &s) in xs.iter().zip(&y) {
        let want = 1.0 / (1.0 + (-(x as f64)).exp());
        let err = (s as f64 - want).abs() / want;
        assert!(
            err < 4e-7 || (s == 0.0 && want < 1e-37),
            "sigmoid({x}) = {s}, want {want}"
        );
    }
}

// --------------------------------------------------------------- softmax

#[test]
fn softmax_forward_literals() {
    // torch.softmax(tensor([1., 2., 3., 4.]), 0)
    let mut y = [0.0; 4];
    softmax::forward(&[1.0, 2.0, 3.0, 4.0], &mut y, 1, 4, 1);
    assert_close(
        &y,
        &[
            0.032058604061603546,
            0.08714432269334793,
            0.23688283562660217,
            0.6439142823219299,
        ],
        1e-7,
        "softmax row",
    );
    // torch.softmax(torch.arange(12.).reshape(2, 3, 2) * 0.5 - 2, 1)
    let x: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
    let mut y = vec![0.0; 12];
    softmax::forward(&x, &mut y, 2, 3, 2);
    let (a, b, c) = (0.09003057330846786, 0.2447284758090973, 0.6652409434318542);
    assert_close(
        &y,
        &[a, a, b, b, c, c, a, a, b, b, c, c],
        1e-7,
        "softmax axis 1",
    );
    // Stable for huge logits: exp(1000) would overflow without the max.
    let mut y = [0.0; 3];
    softmax::forward(&[1000.0, 1000.0, -1000.0], &mut y, 1, 3, 1);
    assert_eq!(y, [0.5, 0.5, 0.0]);
}

#[test]
fn softmax_backward_matches_finite_differences() {
    let shapes = [
        (1, 1, 1),
        (3, 5, 1),
        (2, 4, 3),
        (4, 17, 5),
        (1, 33, 1),
        (2, 10, 16),
        // More columns than the kernel keeps on its stack at once (64).
        (2, 3, 70),
    ];
    for (case, &(outer, axis, inner)) in shapes.iter().enumerate() {
        let n = outer * axis * inner;
        let mut rng = Rng::new(400 + case as u64);
        let x: Vec<f32> = random(n, &mut rng).iter().map(|v| v * 4.0).collect();
        let wts = random(n, &mut rng);
        let mut y = vec![0.0; n];
        softmax::forward(&x, &mut y, outer, axis, inner);
        for o in 0..outer {
            for i in 0..inner {
                let s: f32 = (0..axis).map(|a| y[(o * axis + a) * inner + i]).sum();
                assert!((s - 1.0).abs() < 1e-5);
            }
        }
        let mut dx = vec![9.0; n];
        softmax::backward(&y, &wts, &mut dx, outer, axis, inner);
        let loss = |x: &[f32]| {
            let mut y = vec![0.0; n];
            softmax::forward(x, &mut y, outer, axis, inner);
            weighted_sum(&y, &wts)
        };
        let what = format!("softmax {outer}x{axis}x{inner}");
        check_gradient(&what, &x, &dx, loss, 1e-2, 1e-4, 1e-3);
    }
}

// ------------------------------------------------------------------ losses

#[test]
fn cross_entropy_literal() {
    // F.cross_entropy(tensor([[1., 2., .5], [-1., 0., 3.]]), tensor([1, 0]))
    // = 2.2651264667510986, and its gradient:
    let logits = [1.0, 2.0, 0.5, -1.0, 0.0, 3.0];
    let mut d = [9.0; 6];
    let l = loss::softmax_cross_entropy(&logits, &[1, 0], 2, 3, Some(&mut d));
    assert!((l - 2.2651264667510986).abs() < 1e-6, "{l}");
    assert_close(
        &d,
        &[
            0.11561194062232971,
            -0.18573415279388428,
            0.07012218981981277,
            -0.4914260804653168,
            0.023306312039494514,
            0.4681197702884674,
        ],
        1e-7,
        "cross-entropy gradient",
    );
    assert_eq!(loss::softmax_cross_entropy(&logits, &[1, 0], 2, 3, None), l);
    // F.cross_entropy(tensor([[1000., 0., -1000.]]), tensor([2])) = 2000.
    let l = loss::softmax_cross_entropy(&[1000.0, 0.0, -1000.0], &[2], 1, 3, None);
    assert_eq!(l, 2000.0);
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    for (case, &(batch, classes)) in [(1, 1), (1, 2), (3, 10), (17, 5), (100, 10)]
        .iter()
        .enumerate()
    {
        let mut rng = Rng::new(500 + case as u64);
        let logits: Vec<f32> = random(batch * classes, &mut rng)
            .iter()
            .map(|v| v * 3.0)
            .collect();
        let labels: Vec<u32> = (0..batch).map(|_| rng.below(classes) as u32).collect();
        let mut d = vec![9.0; logits.len()];
        loss::softmax_cross_entropy(&logits, &labels, batch, classes, Some(&mut d));
        check_gradient(
            &format!("cross-entropy {batch}x{classes}"),
            &logits,
            &d,
            |l| loss::softmax_cross_entropy(l, &labels, batch, classes, None),
            1e-2,
            1e-5,
            1e-3,
        );
    }
}

#[test]
#[should_panic(expected = "out of range")]
fn cross_entropy_rejects_bad_label() {
    loss::softmax_cross_entropy(&[0.0, 1.0], &[2], 1, 2, None);
}

#[test]
fn mse_literal_and_gradient() {
    // F.mse_loss(tensor([1., 2., 3.]), tensor([.5, 2.5, 5.])) = 4.5 / 3
    let mut d = [0.0; 3];
    let l = loss::mse(&[1.0, 2.0, 3.0], &[0.5, 2.5, 5.0], Some(&mut d));
    assert!((l - 1.5).abs() < 1e-12);
    assert_close(
        &d,
        &[1.0 / 3.0, -1.0 / 3.0, -4.0 / 3.0],
        1e-7,
        "mse gradient",
    );
    for &len in LENGTHS {
        let mut rng = Rng::new(len as u64);
        let y = random(len, &mut rng);
        let t = random(len, &mut rng);
        let mut d = vec![9.0; len];
        loss::mse(&y, &t, Some(&mut d));
        check_gradient("mse", &y, &d, |y| loss::mse(y, &t, None), 1e-2, 1e-6, 1e-3);
    }
}

#[test]
fn count_correct_follows_torch_argmax() {
    // torch.argmax(tensor([[1, 3, 3], [nan, 1, 2], [0, nan, 5]]), 1) = [1, 0, 1]
    let logits = [1.0, 3.0, 3.0, f32::NAN, 1.0, 2.0, 0.0, f32::NAN, 5.0];
    assert_eq!(loss::argmax(&logits[0..3]), 1);
    assert_eq!(loss::argmax(&logits[3..6]), 0);
    assert_eq!(loss::argmax(&logits[6..9]), 1);
    assert_eq!(loss::count_correct(&logits, &[1, 0, 1], 3, 3), 3);
    assert_eq!(loss::count_correct(&logits, &[2, 2, 2], 3, 3), 0);
    assert_eq!(loss::count_correct(&[0.1, 0.9, 0.8, 0.2], &[1, 0], 2, 2), 2);
}

// ----------------------------------------------------------------- dropout

#[test]
fn dropout_semantics() {
    let x: Vec<f32> = (0..10_001).map(|i| i as f32 * 0.01 + 1.0).collect();
    let (mut y, mut mask) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    // p = 0 is the identity and leaves the generator untouched.
    let mut rng = Rng::new(3);
    dropout::forward(&x, &mut y, &mut mask, 0.0, &mut rng);
    assert_eq!(y, x);
    assert_eq!(rng.next_u64(), Rng::new(3).next_u64());
    // p = 0.3: survivors scaled by 1/0.7, about 30 % dropped.
    let mut rng = Rng::new(4);
    dropout::forward(&x, &mut y, &mut mask, 0.3, &mut rng);
    let scale = 1.0 / 0.7f32;
    let dropped = mask.iter().filter(|&&m| m == 0.0).count();
    assert!(mask.iter().all(|&m| m == 0.0 || m == scale));
    assert!((2_800..3_200).contains(&dropped), "{dropped}");
    for i in 0..x.len() {
        assert_eq!(y[i], x[i] * mask[i]);
    }
    // Same generator state, same mask.
    let (mut y2, mut mask2) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    dropout::forward(&x, &mut y2, &mut mask2, 0.3, &mut Rng::new(4));
    assert_eq!(mask, mask2);
}

#[test]
fn dropout_backward_matches_finite_differences() {
    for &len in LENGTHS {
        let rng = Rng::new(600 + len as u64);
        let x = random(len, &mut Rng::new(len as u64));
        let wts = random(len, &mut Rng::new(1 + len as u64));
        let (mut y, mut mask) = (vec![0.0; len], vec![0.0; len]);
        dropout::forward(&x, &mut y, &mut mask, 0.4, &mut rng.clone());
        let mut dx = vec![9.0; len];
        dropout::backward(&mask, &wts, &mut dx);
        let loss = |x: &[f32]| {
            let (mut y, mut m) = (vec![0.0; len], vec![0.0; len]);
            dropout::forward(x, &mut y, &mut m, 0.4, &mut rng.clone());
            weighted_sum(&y, &wts)
        };
        check_gradient(
            &format!("dropout len {len}"),
            &x,
            &dx,
            loss,
            1e-2,
            1e-5,
            1e-4,
        );
    }
}

#[test]
#[should_panic(expected = "outside [0, 1)")]
fn dropout_rejects_p_one() {
    dropout::forward(&[1.0], &mut [0.0], &mut [0.0], 1.0, &mut Rng::new(0));
}

// ------------------------------------------------------------------ concat

#[test]
fn concat_literal_and_round_trip() {
    // torch.cat([a (2x1x2), b (2x2x2)], dim=1)
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0];
    let mut y = [0.0; 12];
    concat::forward(&[&a, &b], &[1, 2], 2, 2, &mut y);
    assert_eq!(
        y,
        [
            1.0, 2.0, 10.0, 11.0, 12.0, 13.0, 3.0, 4.0, 14.0, 15.0, 16.0, 17.0
        ]
    );
    let (mut da, mut db) = ([0.0; 4], [0.0; 8]);
    concat::backward(&y, &[1, 2], 2, 2, &mut [&mut da, &mut db]);
    assert_eq!((da, db), (a, b));
}

#[test]
fn concat_backward_matches_finite_differences() {
    let (outer, inner, lens) = (3, 5, [2usize, 1, 4]);
    let total: usize = lens.iter().sum();
    let mut rng = Rng::new(700);
    let xs: Vec<Vec<f32>> = lens
        .iter()
        .map(|&l| random(outer * l * inner, &mut rng))
        .collect();
    let wts = random(outer * total * inner, &mut rng);
    let mut grads: Vec<Vec<f32>> = xs.iter().map(|x| vec![9.0; x.len()]).collect();
    {
        let mut refs: Vec<&mut [f32]> = grads.iter_mut().map(|g| g.as_mut_slice()).collect();
        concat::backward(&wts, &lens, outer, inner, &mut refs);
    }
    for which in 0..lens.len() {
        let loss = |x: &[f32]| {
            let inputs: Vec<&[f32]> = (0..lens.len())
                .map(|i| if i == which { x } else { xs[i].as_slice() })
                .collect();
            let mut y = vec![0.0; outer * total * inner];
            concat::forward(&inputs, &lens, outer, inner, &mut y);
            weighted_sum(&y, &wts)
        };
        check_gradient(
            &format!("concat input {which}"),
            &xs[which],
            &grads[which],
            loss,
            1e-2,
            1e-5,
            1e-4,
        );
    }
}

// ------------------------------------------------------------- elementwise

#[test]
fn elementwise_odd_lengths() {
    for &len in LENGTHS {
        let mut rng = Rng::new(800 + len as u64);
        let a = random(len, &mut rng);
        let b = random(len, &mut rng);
        let mut y = vec![0.0; len];
        elementwise::add(&a, &b, &mut y);
        assert!((0..len).all(|i| y[i] == a[i] + b[i]));
        elementwise::add_assign(&mut y, &a);
        assert!((0..len).all(|i| y[i] == (a[i] + b[i]) + a[i]));
        let mut s = vec![0.0; 1];
        elementwise::sum_rows(&a, &mut s);
        let want: f64 = a.iter().map(|&v| v as f64).sum();
        assert!((s[0] as f64 - want).abs() < 1e-4);
    }
}

// ------------------------------------------------------------ whole step

/// One training step of a 6 -> 5 -> relu -> 3 MLP on a batch of 4, every
/// number compared with PyTorch:
///
/// ```python
/// x  = tensor([sin(0.37 i + 0.1) for i in range(24)]).reshape(4, 6)
/// w1 = tensor([cos(0.13 j) * 0.3 for j in range(30)]).reshape(5, 6)
/// b1 = tensor([0.01 j for j in range(5)])
/// w2 = tensor([sin(0.29 j + 0.5) * 0.4 for j in range(15)]).reshape(3, 5)
/// b2 = tensor([-0.02 j for j in range(3)])
/// loss = F.cross_entropy(relu(x @ w1.T + b1) @ w2.T + b2, tensor([0, 2, 1, 2]))
/// loss.backward(); then SGD with lr 0.01 and the loss again
/// ```
#[test]
fn mlp_step_matches_pytorch() {
    let (batch, inp, hid, out) = (4, 6, 5, 3);
    let f = |v: f64| v as f32;
    let x: Vec<f32> = (0..batch * inp)
        .map(|i| f((0.37 * i as f64 + 0.1).sin()))
        .collect();
    let mut w1: Vec<f32> = (0..hid * inp)
        .map(|j| f((0.13 * j as f64).cos() * 0.3))
        .collect();
    let mut b1: Vec<f32> = (0..hid).map(|j| f(0.01 * j as f64)).collect();
    let mut w2: Vec<f32> = (0..out * hid)
        .map(|j| f((0.29 * j as f64 + 0.5).sin() * 0.4))
        .collect();
    let mut b2: Vec<f32> = (0..out).map(|j| f(-0.02 * j as f64)).collect();
    let labels = [0u32, 2, 1, 2];
    let par = Parallel::new(2);

    let mut h = vec![0.0; batch * hid];
    let mut logits = vec![0.0; batch * out];
    let forward =
        |w1: &[f32], b1: &[f32], w2: &[f32], b2: &[f32], h: &mut [f32], logits: &mut [f32]| {
            dense::forward_relu(&x, w1, Some(b1), h, batch, inp, hid, &par);
            dense::forward(h, w2, Some(b2), logits, batch, hid, out, &par);
        };
    forward(&w1, &b1, &w2, &b2, &mut h, &mut logits);
    assert_close(
        &h,
        &[
            1.1223556995391846,
            0.4566296637058258,
            0.0,
            0.0,
            0.0,
            0.0,
            0.14044539630413055,
            0.27512097358703613,
            0.2622924745082855,
            0.11515874415636063,
            0.0,
            0.0,
            0.19885769486427307,
            0.8886564373970032,
            1.0820033550262451,
            1.3248716592788696,
            0.6102790832519531,
            0.0,
            0.0,
            0.0,
        ],
        1e-6,
        "hidden activations",
    );
    let mut dlogits = vec![0.0; batch * out];
    let loss = loss::softmax_cross_entropy(&logits, &labels, batch, out, Some(&mut dlogits));
    assert!((loss - 1.3582667112350464).abs() < 1e-6, "loss {loss}");

    let (mut dh, mut dw2, mut db2) = (vec![0.0; batch * hid], vec![0.0; out * hid], vec![0.0; out]);
    dense::backward(
        &h,
        &w2,
        &dlogits,
        Some(&mut dh),
        &mut dw2,
        Some(&mut db2),
        batch,
        hid,
        out,
        &par,
    );
    let (mut dw1, mut db1) = (vec![0.0; hid * inp], vec![0.0; hid]);
    dense::backward_relu(
        &x,
        &w1,
        &h,
        &mut dh,
        None,
        &mut dw1,
        Some(&mut db1),
        batch,
        inp,
        hid,
        &par,
    );
    assert_close(
        &dw2,
        &[
            -0.05868025869131088,
            -0.0028259754180908203,
            0.05811309441924095,
            0.15938548743724823,
            0.17288446426391602,
            0.27590128779411316,
            0.13282522559165955,
            -0.010771140456199646,
            -0.13329000771045685,
            -0.18026940524578094,
            -0.21722102165222168,
            -0.12999925017356873,
            -0.04734195023775101,
            -0.026095468550920486,
            0.007384952157735825,
        ],
        1e-6,
        "dw2",
    );
    assert_close(
        &db2,
        &[
            0.1837625503540039,
            0.13710397481918335,
            -0.32086649537086487,
        ],
        1e-6,
        "db2",
    );
    assert_close(
        &db1,
        &[
            0.08642605692148209,
            0.18076255917549133,
            0.11780378222465515,
            0.14731277525424957,
            0.16451933979988098,
        ],
        1e-6,
        "db1",
    );
    assert_close(
        &dw1,
        &[
            0.03783440217375755,
            0.06323756277561188,
            0.08008180558681488,
            0.08608736842870712,
            0.08044139295816422,
            0.06390806287527084,
            0.11714130640029907,
            0.11136961728334427,
            0.09052455425262451,
            0.05742744356393814,
            0.016557782888412476,
            -0.026552900671958923,
            0.07946386188268661,
            0.045802656561136246,
            0.005942275281995535,
            -0.03472236543893814,
            -0.07068749517202377,
            -0.09708540886640549,
            0.06285780668258667,
            0.027152569964528084,
            -0.012227633036673069,
            -0.049952879548072815,
            -0.08091724663972855,
            -0.10092984139919281,
            0.041002340614795685,
            0.006234914064407349,
            -0.029376383870840073,
            -0.061011720448732376,
            -0.08438941091299057,
            -0.09634539484977722,
        ],
        1e-6,
        "dw1",
    );

    for (p, g) in [
        (&mut w1, &dw1),
        (&mut b1, &db1),
        (&mut w2, &dw2),
        (&mut b2, &db2),
    ] {
        elementwise::axpy(-0.01, g, p);
    }
    forward(&w1, &b1, &w2, &b2, &mut h, &mut logits);
    let after = loss::softmax_cross_entropy(&logits, &labels, batch, out, None);
    assert!(
        (after - 1.3515832424163818).abs() < 1e-6,
        "loss after SGD {after}"
    );
}

#[test]
fn relu_backward_in_place_on_threads_is_the_serial_one() {
    // Long enough to be split (the fused conv2d+relu's gradient), and a
    // length no thread count divides.
    let mut rng = Rng::new(41);
    let n = (1 << 17) + 13;
    let y: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let dy: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let mut want = dy.clone();
    relu::backward_inplace(&y, &mut want);
    for threads in [1, 2, 3] {
        let mut got = dy.clone();
        relu::backward_inplace_par(&y, &mut got, &Parallel::new(threads));
        assert_eq!(got, want, "{threads} threads");
    }
    assert!(want.iter().zip(&y).all(|(g, &y)| y > 0.0 || *g == 0.0));
}
