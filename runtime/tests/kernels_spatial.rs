//! Spatial kernels: conv2d, max/avg pooling, batch norm.
//!
//! Three oracles: naive direct loops written here (forward, many random
//! geometries), central finite differences (every backward), and literal
//! numbers computed with PyTorch 2.15 for small fixed cases (semantics:
//! output-size formulas, padding, tie-breaking, divisors, running stats).
//! The literal inputs are simple patterns of exactly representable values so
//! they can be rebuilt bit-for-bit on both sides.

mod common;

use common::{check_gradient, random, weighted_sum};
use nnspec_runtime::kernels::batchnorm::{
    BatchNormGeometry, batch_norm_backward, batch_norm_forward_eval, batch_norm_forward_train,
};
use nnspec_runtime::kernels::conv2d::{
    Conv2dGeometry, conv2d_backward, conv2d_forward, conv2d_forward_in, conv2d_relu_forward_in,
    forward_scratch_len,
};
use nnspec_runtime::kernels::pool::{
    Pool2dGeometry, avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward,
    max_pool2d_forward,
};
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::rng::Rng;

// ---------------------------------------------------------------- helpers

/// `((i·mul) mod modulus - offset)·scale`, the same pattern the PyTorch
/// script used to build its inputs.
fn pattern(len: usize, mul: usize, modulus: usize, offset: f32, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|i| (((i * mul) % modulus) as f32 - offset) * scale)
        .collect()
}

fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

fn assert_close_f64(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= atol + rtol * w.abs(),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

/// Distinct values (a shuffled ramp with steps of 0.01), so that no pooling
/// window has a tie and a finite-difference step of 1e-3 never changes which
/// element is the maximum.
fn distinct(len: usize, rng: &mut Rng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..len)
        .map(|i| (i as f32 - len as f32 / 2.0) * 0.01)
        .collect();
    rng.shuffle(&mut v);
    v
}

// ------------------------------------------------------------------ conv2d

/// Direct convolution in f64, straight from the definition.
fn conv_reference(g: &Conv2dGeometry, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f64> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let [kh, kw] = g.kernel;
    let mut y = Vec::with_capacity(g.output_len());
    for n in 0..g.batch {
        for oc in 0..g.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[oc] as f64);
                    for c in 0..g.in_channels {
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (oy * g.stride[0] + i * g.dilation[0]) as isize
                                    - g.padding[0] as isize;
                                let ix = (ox * g.stride[1] + j * g.dilation[1]) as isize
                                    - g.padding[1] as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_h as isize
                                    || ix >= g.in_w as isize
                                {
                                    continue;
                                }
                                let xv = x[((n * g.in_channels + c) * g.in_h + iy as usize)
                                    * g.in_w
                                    + ix as usize];
                                let wv = w[((oc * g.in_channels + c) * kh + i) * kw + j];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    y.push(acc);
                }
            }
        }
    }
    y
}

fn conv_fits(g: &Conv2dGeometry) -> bool {
    (0..2).all(|a| {
        let input = [g.in_h, g.in_w][a];
        input + 2 * g.padding[a] > g.dilation[a] * (g.kernel[a] - 1)
    })
}

fn random_conv_geometry(rng: &mut Rng) -> Conv2dGeometry {
    loop {
        let g = Conv2dGeometry {
            batch: 1 + rng.below(3),
            in_channels: 1 + rng.below(4),
            in_h: 1 + rng.below(9),
            in_w: 1 + rng.below(9),
            out_channels: 1 + rng.below(5),
            kernel: [1 + rng.below(4), 1 + rng.below(4)],
            stride: [1 + rng.below(3), 1 + rng.below(3)],
            padding: [rng.below(3), rng.below(3)],
            dilation: [1 + rng.below(2), 1 + rng.below(2)],
        };
        if conv_fits(&g) {
            return g;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn conv(
    batch: usize,
    in_channels: usize,
    in_hw: [usize; 2],
    out_channels: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
) -> Conv2dGeometry {
    Conv2dGeometry {
        batch,
        in_channels,
        in_h: in_hw[0],
        in_w: in_hw[1],
        out_channels,
        kernel,
        stride,
        padding,
        dilation,
    }
}

#[test]
fn conv2d_output_size_follows_pytorch() {
    // floor((in + 2p - d(k-1) - 1)/s) + 1
    let g = conv(1, 1, [7, 10], 1, [3, 4], [2, 3], [1, 2], [2, 1]);
    assert_eq!((g.out_h(), g.out_w()), (3, 4));
    let g = conv(1, 1, [2, 3], 1, [4, 5], [1, 1], [2, 2], [1, 1]);
    assert_eq!((g.out_h(), g.out_w()), (3, 3));
    let g = conv(1, 1, [5, 5], 1, [1, 1], [2, 2], [0, 0], [1, 1]);
    assert_eq!((g.out_h(), g.out_w()), (3, 3));
}

#[test]
#[should_panic(expected = "larger than padded input")]
fn conv2d_rejects_a_kernel_that_does_not_fit() {
    conv(1, 1, [2, 2], 1, [3, 3], [1, 1], [0, 0], [1, 1]).validate();
}

#[test]
fn conv2d_forward_matches_direct_convolution_on_random_geometries() {
    let mut rng = Rng::new(20);
    let pars = [Parallel::single(), Parallel::new(2)];
    // One scratch for all calls: it must cope with growing and with
    // leftovers from larger geometries.
    let mut scratch = Vec::new();
    for case in 0..300 {
        let g = random_conv_geometry(&mut rng);
        let x = random(g.input_len(), &mut rng);
        let w = random(g.weight_len(), &mut rng);
        let b = random(g.out_channels, &mut rng);
        let with_bias = case % 3 != 0;
        let bias = with_bias.then_some(&b[..]);
        let want = conv_reference(&g, &x, &w, bias);
        for par in &pars {
            let mut y = vec![f32::NAN; g.output_len()];
            conv2d_forward(&g, &x, &w, bias, &mut y, &mut scratch, par);
            assert_close_f64(
                &format!("case {case} {g:?} threads {}", par.threads()),
                &y,
                &want,
                1e-5,
                1e-5,
            );
        }
    }
}

#[test]
fn conv2d_with_relu_is_the_relu_of_conv2d_bit_for_bit() {
    // Both paths (windowed for stride 1 on the x86 tiers, im2col
    // otherwise), with and without bias.
    let mut rng = Rng::new(23);
    let par = Parallel::new(2);
    for case in 0..100 {
        let g = random_conv_geometry(&mut rng);
        let x = random(g.input_len(), &mut rng);
        let w = random(g.weight_len(), &mut rng);
        let b = random(g.out_channels, &mut rng);
        let bias = (case % 2 == 0).then_some(&b[..]);
        let mut scratch = vec![0.0; forward_scratch_len(&g, par.threads())];
        let mut plain = vec![f32::NAN; g.output_len()];
        conv2d_forward_in(&g, &x, &w, bias, &mut plain, &mut scratch, &par);
        let want: Vec<u32> = plain
            .iter()
            .map(|&v| if v < 0.0 { 0.0f32 } else { v }.to_bits())
            .collect();
        let mut fused = vec![f32::NAN; g.output_len()];
        conv2d_relu_forward_in(&g, &x, &w, bias, &mut fused, &mut scratch, &par);
        let got: Vec<u32> = fused.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want, "case {case} {g:?}");
        assert!(fused.iter().all(|&v| v >= 0.0), "case {case}: no negatives");
    }
}

#[test]
fn conv2d_forward_matches_direct_convolution_on_larger_batches() {
    // Batches that do not divide evenly among the threads, and pointwise
    // and im2col paths under the batch split.
    let mut rng = Rng::new(21);
    let par = Parallel::new(2);
    let mut scratch = Vec::new();
    for g in [
        conv(5, 3, [9, 8], 4, [3, 3], [1, 1], [1, 1], [1, 1]),
        conv(7, 6, [6, 5], 5, [1, 1], [1, 1], [0, 0], [1, 1]),
        conv(4, 2, [10, 7], 3, [2, 3], [2, 1], [0, 1], [2, 1]),
    ] {
        let x = random(g.input_len(), &mut rng);
        let w = random(g.weight_len(), &mut rng);
        let b = random(g.out_channels, &mut rng);
        let mut y = vec![f32::NAN; g.output_len()];
        conv2d_forward(&g, &x, &w, Some(&b), &mut y, &mut scratch, &par);
        let want = conv_reference(&g, &x, &w, Some(&b));
        assert_close_f64(&format!("{g:?}"), &y, &want, 1e-5, 1e-5);
    }
}

#[test]
fn conv2d_forward_matches_pytorch() {
    let par = Parallel::single();
    let mut scratch = Vec::new();

    // F.conv2d(x, w, b, stride=(2,1), padding=(1,1), dilation=(1,2))
    let g = conv(1, 2, [4, 5], 2, [3, 2], [2, 1], [1, 1], [1, 2]);
    let x = pattern(40, 7, 11, 5.0, 0.25);
    let w = pattern(24, 5, 7, 3.0, 0.125);
    let mut y = vec![0.0; g.output_len()];
    conv2d_forward(&g, &x, &w, Some(&[0.5, -0.25]), &mut y, &mut scratch, &par);
    #[rustfmt::skip]
    let want = [
        0.59375, -0.0625, 0.6875, 0.40625, 0.0, 1.34375, 0.96875, -1.09375, 0.96875, 0.625,
        -0.28125, 0.78125, 0.03125, -0.03125, -0.53125, -0.75, 0.09375, 1.25, -0.34375, 0.15625,
    ];
    // Every product and partial sum is a short binary fraction: exact.
    assert_eq!(y, want);

    // Kernel larger than the input: F.conv2d(x, w, stride=(1,2), padding=(1,2))
    let g = conv(2, 1, [2, 3], 2, [3, 4], [1, 2], [1, 2], [1, 1]);
    let x = pattern(12, 3, 7, 3.0, 0.5);
    let w = pattern(24, 5, 9, 4.0, 0.25);
    let mut y = vec![0.0; g.output_len()];
    conv2d_forward(&g, &x, &w, None, &mut y, &mut scratch, &par);
    #[rustfmt::skip]
    let want = [
        -0.5, -0.875, 2.25, 1.625, 2.5, -1.625, -0.375, 0.875,
        -0.875, -0.625, -2.0, -2.25, -2.0, -1.375, -0.875, 1.5,
    ];
    assert_eq!(y, want);

    // F.conv2d(x, w, b, stride=2, padding=2, dilation=2) on inexact values:
    // x = sin(0.37·i), w = cos(0.91·i), computed in f64 and rounded.
    let g = conv(2, 3, [6, 7], 2, [3, 2], [2, 2], [2, 2], [2, 2]);
    let x: Vec<f32> = (0..g.input_len())
        .map(|i| (i as f64 * 0.37).sin() as f32)
        .collect();
    let w: Vec<f32> = (0..g.weight_len())
        .map(|i| (i as f64 * 0.91).cos() as f32)
        .collect();
    let mut y = vec![0.0; g.output_len()];
    conv2d_forward(&g, &x, &w, Some(&[0.1, -0.2]), &mut y, &mut scratch, &par);
    #[rustfmt::skip]
    let want = [
        0.20184398, 0.15661977, 0.028886989, -0.06164918,
        0.05129239, 0.16091996, 0.5794011, 0.81159127,
        0.6715743, 0.22475982, 0.014072999, -0.11182792,
        -0.04155939, 0.10275369, 0.16110653, -0.28842604,
        -0.284032, -0.10536242, 0.023805797, -0.07166907,
        -0.13405535, -0.41737407, -0.7702293, -0.8248185,
        -0.44384354, -0.20819059, -0.11310493, -0.13901554,
        -0.19682483, -0.25922927, -0.03933034, -0.03044442,
        0.0841268, 0.20700076, 0.12932318, 0.22777656,
        -0.06377373, -0.4901472, -0.60783654, -0.16496876,
        0.17526276, 0.29614732, 0.30079257, 0.20041075,
        0.11404544, -0.06747204, -0.014209837, -0.17265895,
        -0.34540913, -0.30141774, -0.37507665, -0.30301955,
        0.1534772, 0.42508322, 0.16485353, -0.20652059,
        -0.27837557, -0.28337944, -0.24477053, -0.19435667,
    ];
    assert_close("dilated conv", &y, &want, 1e-6, 1e-5);
}

/// Geometries for the gradient checks, named for the failure message.
fn conv_gradient_cases() -> Vec<(String, Conv2dGeometry)> {
    let fixed = [
        (
            "3x3 stride 2 padding 1",
            conv(2, 3, [7, 6], 4, [3, 3], [2, 2], [1, 1], [1, 1]),
        ),
        (
            "2x3 dilation 2, mixed stride",
            conv(3, 2, [8, 7], 3, [2, 3], [1, 2], [2, 1], [2, 2]),
        ),
        (
            "1x1 pointwise",
            conv(3, 4, [5, 4], 3, [1, 1], [1, 1], [0, 0], [1, 1]),
        ),
        (
            "1x1 stride 2",
            conv(1, 3, [5, 6], 2, [1, 1], [2, 2], [0, 0], [1, 1]),
        ),
        (
            "kernel larger than input",
            conv(1, 2, [2, 3], 2, [4, 5], [1, 1], [2, 2], [1, 1]),
        ),
        (
            "5x2 stride 3, dilated width",
            conv(3, 1, [9, 5], 2, [5, 2], [3, 1], [0, 1], [1, 2]),
        ),
        (
            "1x3 batch 1",
            conv(1, 2, [4, 9], 3, [1, 3], [1, 2], [0, 1], [1, 1]),
        ),
    ];
    // Plus random ones, with a fixed seed so failures reproduce.
    let mut rng = Rng::new(24);
    let random = (0..6).map(|i| (format!("random #{i}"), random_conv_geometry(&mut rng)));
    fixed
        .into_iter()
        .map(|(name, g)| (name.to_string(), g))
        .chain(random)
        .collect()
}

#[test]
fn conv2d_backward_matches_finite_differences() {
    let mut rng = Rng::new(22);
    let single = Parallel::single();
    let par = Parallel::new(2);
    let mut scratch = Vec::new();
    for (name, g) in conv_gradient_cases() {
        let x = random(g.input_len(), &mut rng);
        let w = random(g.weight_len(), &mut rng);
        let b = random(g.out_channels, &mut rng);
        let dy = random(g.output_len(), &mut rng);
        let mut dx = vec![f32::NAN; g.input_len()];
        let mut dw = vec![f32::NAN; g.weight_len()];
        let mut db = vec![f32::NAN; g.out_channels];
        conv2d_backward(
            &g,
            &x,
            &w,
            &dy,
            Some(&mut dx),
            &mut dw,
            Some(&mut db),
            &mut scratch,
            &par,
        );
        let mut fwd_scratch = Vec::new();
        let mut loss = |x: &[f32], w: &[f32], b: &[f32]| {
            let mut y = vec![0.0; g.output_len()];
            conv2d_forward(&g, x, w, Some(b), &mut y, &mut fwd_scratch, &single);
            weighted_sum(&y, &dy)
        };
        let (eps, atol, rtol) = (1e-2, 1e-3, 1e-3);
        check_gradient(
            &format!("{name}: dx"),
            &x,
            &dx,
            |x| loss(x, &w, &b),
            eps,
            atol,
            rtol,
        );
        check_gradient(
            &format!("{name}: dweight"),
            &w,
            &dw,
            |w| loss(&x, w, &b),
            eps,
            atol,
            rtol,
        );
        check_gradient(
            &format!("{name}: dbias"),
            &b,
            &db,
            |b| loss(&x, &w, b),
            eps,
            atol,
            rtol,
        );
    }
}

#[test]
fn conv2d_backward_without_bias_or_dx_and_thread_counts_agree() {
    let mut rng = Rng::new(23);
    let pars = [Parallel::single(), Parallel::new(2)];
    let mut scratch = Vec::new();
    for (name, g) in conv_gradient_cases().into_iter().chain([
        (
            "batch 5".to_string(),
            conv(5, 3, [6, 6], 4, [3, 3], [1, 1], [1, 1], [1, 1]),
        ),
        (
            "batch 4 pointwise".to_string(),
            conv(4, 5, [3, 4], 2, [1, 1], [1, 1], [0, 0], [1, 1]),
        ),
    ]) {
        let x = random(g.input_len(), &mut rng);
        let w = random(g.weight_len(), &mut rng);
        let dy = random(g.output_len(), &mut rng);
        let mut reference: Option<(Vec<f32>, Vec<f32>, Vec<f32>)> = None;
        for par in &pars {
            let mut dx = vec![f32::NAN; g.input_len()];
            let mut dw = vec![f32::NAN; g.weight_len()];
            let mut db = vec![f32::NAN; g.out_channels];
            conv2d_backward(
                &g,
                &x,
                &w,
                &dy,
                Some(&mut dx),
                &mut dw,
                Some(&mut db),
                &mut scratch,
                par,
            );
            // Without dx and dbias, dweight must not change.
            let mut dw_only = vec![f32::NAN; g.weight_len()];
            conv2d_backward(&g, &x, &w, &dy, None, &mut dw_only, None, &mut scratch, par);
            assert_eq!(dw, dw_only, "{name}: dweight without dx");
            match &reference {
                None => reference = Some((dx, dw, db)),
                Some((rdx, rdw, rdb)) => {
                    let what = format!("{name}: threads {}", par.threads());
                    assert_close(&format!("{what}: dx"), &dx, rdx, 1e-5, 1e-5);
                    assert_close(&format!("{what}: dweight"), &dw, rdw, 1e-5, 1e-5);
                    assert_close(&format!("{what}: dbias"), &db, rdb, 1e-5, 1e-5);
                }
            }
        }
    }
}

#[test]
fn conv2d_empty_batch_zeroes_the_parameter_gradients() {
    let g = conv(0, 2, [4, 4], 3, [3, 3], [1, 1], [1, 1], [1, 1]);
    let w = vec![1.0; g.weight_len()];
    let mut dw = vec![f32::NAN; g.weight_len()];
    let mut db = vec![f32::NAN; 3];
    let mut y: [f32; 0] = [];
    conv2d_forward(
        &g,
        &[],
        &w,
        None,
        &mut y,
        &mut Vec::new(),
        &Parallel::single(),
    );
    conv2d_backward(
        &g,
        &[],
        &w,
        &[],
        Some(&mut [][..]),
        &mut dw,
        Some(&mut db),
        &mut Vec::new(),
        &Parallel::single(),
    );
    assert!(dw.iter().chain(&db).all(|&v| v == 0.0));
}

// ----------------------------------------------------------------- pooling

fn pool(
    batch: usize,
    channels: usize,
    in_hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    ceil_mode: bool,
) -> Pool2dGeometry {
    Pool2dGeometry {
        batch,
        channels,
        in_h: in_hw[0],
        in_w: in_hw[1],
        kernel,
        stride,
        padding,
        ceil_mode,
    }
}

/// Output windows along one axis straight from PyTorch's definitions:
/// `(first input, end input (exclusive), divisor with padding)` per output,
/// in input coordinates clipped to the input.
fn reference_windows(
    input: usize,
    k: usize,
    s: usize,
    p: usize,
    ceil_mode: bool,
) -> Vec<(usize, usize, usize)> {
    let span = (input + 2 * p - k) as f64 / s as f64;
    let mut out = if ceil_mode { span.ceil() } else { span.floor() } as usize + 1;
    if ceil_mode && (out - 1) * s >= input + p {
        out -= 1;
    }
    (0..out)
        .map(|o| {
            let start = (o * s) as isize - p as isize;
            let end = (start + k as isize).min((input + p) as isize);
            let size = (end - start) as usize;
            (
                start.max(0) as usize,
                end.min(input as isize) as usize,
                size,
            )
        })
        .collect()
}

/// Naive max and average pooling: (max, index of the first max, avg with
/// padding counted, avg without).
fn pool_reference(g: &Pool2dGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>, Vec<f64>, Vec<f64>) {
    let rows = reference_windows(g.in_h, g.kernel[0], g.stride[0], g.padding[0], g.ceil_mode);
    let cols = reference_windows(g.in_w, g.kernel[1], g.stride[1], g.padding[1], g.ceil_mode);
    let (mut max, mut arg, mut avg_in, mut avg_ex) = (vec![], vec![], vec![], vec![]);
    for plane in x.chunks(g.in_h * g.in_w) {
        for &(y0, y1, hs) in &rows {
            for &(x0, x1, ws) in &cols {
                // PyTorch's CPU kernel: from -inf at the first valid
                // element, take anything larger, and any NaN.
                let mut best = (f32::NEG_INFINITY, (y0 * g.in_w + x0) as u32);
                let mut sum = 0.0f64;
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let v = plane[iy * g.in_w + ix];
                        sum += v as f64;
                        if v > best.0 || v.is_nan() {
                            best = (v, (iy * g.in_w + ix) as u32);
                        }
                    }
                }
                max.push(best.0);
                arg.push(best.1);
                avg_in.push(sum / (hs * ws) as f64);
                avg_ex.push(sum / ((y1 - y0) * (x1 - x0)) as f64);
            }
        }
    }
    (max, arg, avg_in, avg_ex)
}

fn random_pool_geometry(rng: &mut Rng) -> Pool2dGeometry {
    loop {
        let kernel = [1 + rng.below(4), 1 + rng.below(4)];
        let g = pool(
            1 + rng.below(3),
            1 + rng.below(3),
            [1 + rng.below(9), 1 + rng.below(9)],
            kernel,
            [1 + rng.below(3), 1 + rng.below(3)],
            [rng.below(kernel[0] / 2 + 1), rng.below(kernel[1] / 2 + 1)],
            rng.below(2) == 1,
        );
        if g.in_h + 2 * g.padding[0] >= g.kernel[0] && g.in_w + 2 * g.padding[1] >= g.kernel[1] {
            return g;
        }
    }
}

#[test]
fn pooling_forward_matches_direct_loops_on_random_geometries() {
    let mut rng = Rng::new(30);
    let par = Parallel::single();
    for case in 0..300 {
        let g = random_pool_geometry(&mut rng);
        // Coarse values so ties are common and tie-breaking gets exercised.
        let x: Vec<f32> = (0..g.input_len())
            .map(|_| rng.below(5) as f32 - 2.0)
            .collect();
        let (max, arg, avg_in, avg_ex) = pool_reference(&g, &x);
        let what = format!("case {case} {g:?}");
        let mut y = vec![f32::NAN; g.output_len()];
        let mut idx = vec![u32::MAX; g.output_len()];
        max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &par);
        assert_eq!(y, max, "{what}: max");
        assert_eq!(idx, arg, "{what}: argmax");
        avg_pool2d_forward(&g, true, &x, &mut y, &par);
        assert_close_f64(&format!("{what}: avg incl. pad"), &y, &avg_in, 1e-6, 1e-6);
        avg_pool2d_forward(&g, false, &x, &mut y, &par);
        assert_close_f64(&format!("{what}: avg excl. pad"), &y, &avg_ex, 1e-6, 1e-6);
    }
}

/// Bit patterns, so NaNs compare equal to themselves.
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn pooling_loop_orders_match_direct_loops() {
    // The kernels pick a loop order by geometry: the 2×2 stride-2 special
    // case, row-wise (with 64-output blocks), or per output (narrow rows,
    // wide kernels, rows over 1024 outputs). Values include ties, -inf and
    // NaN, which each order must treat as PyTorch does.
    let mut rng = Rng::new(34);
    let par = Parallel::single();
    let palette = [0.0, 1.0, -1.0, 2.0, f32::NEG_INFINITY, f32::NAN];
    let geometries = [
        pool(2, 3, [8, 10], [2, 2], [2, 2], [0, 0], false),
        pool(1, 2, [7, 9], [2, 2], [2, 2], [0, 0], false),
        pool(1, 2, [7, 9], [2, 2], [2, 2], [0, 0], true),
        pool(1, 2, [6, 8], [2, 2], [2, 2], [1, 1], false),
        pool(1, 1, [5, 300], [3, 3], [2, 2], [1, 1], false),
        pool(1, 1, [4, 200], [2, 3], [1, 1], [1, 1], true),
        pool(1, 1, [3, 2100], [2, 2], [1, 2], [0, 1], false),
        pool(2, 2, [9, 40], [3, 17], [2, 1], [1, 8], false),
        pool(1, 3, [7, 7], [7, 7], [1, 1], [0, 0], false),
        pool(2, 2, [16, 16], [3, 3], [1, 1], [1, 1], false),
        // The 2×2 special case at the widths of LeNet's poolings (14 and 5
        // outputs), around the 8-output vector step, and with an odd row.
        pool(2, 3, [28, 28], [2, 2], [2, 2], [0, 0], false),
        pool(2, 3, [10, 10], [2, 2], [2, 2], [0, 0], false),
        pool(1, 2, [4, 16], [2, 2], [2, 2], [0, 0], false),
        pool(1, 2, [4, 17], [2, 2], [2, 2], [0, 0], false),
        pool(1, 2, [5, 34], [2, 2], [2, 2], [0, 0], false),
        pool(1, 2, [2, 2], [2, 2], [2, 2], [0, 0], false),
    ];
    for g in geometries {
        for dense_specials in [false, true] {
            let x: Vec<f32> = (0..g.input_len())
                .map(|_| {
                    if dense_specials || rng.below(50) == 0 {
                        palette[rng.below(palette.len())]
                    } else {
                        rng.below(7) as f32 - 3.0
                    }
                })
                .collect();
            let (max, arg, _, _) = pool_reference(&g, &x);
            let what = format!("{g:?} specials {dense_specials}");
            let mut y = vec![0.0; g.output_len()];
            let mut idx = vec![u32::MAX; g.output_len()];
            max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &par);
            assert_eq!(bits(&y), bits(&max), "{what}: max");
            assert_eq!(idx, arg, "{what}: argmax");
            let mut y_only = vec![0.0; g.output_len()];
            max_pool2d_forward(&g, &x, &mut y_only, None, &par);
            assert_eq!(bits(&y_only), bits(&max), "{what}: max without indices");
            if !dense_specials {
                // Finite inputs only for the averages.
                let x: Vec<f32> = x
                    .iter()
                    .map(|v| if v.is_finite() { *v } else { 0.5 })
                    .collect();
                let (_, _, avg_in, avg_ex) = pool_reference(&g, &x);
                avg_pool2d_forward(&g, true, &x, &mut y, &par);
                assert_close_f64(&format!("{what}: avg incl. pad"), &y, &avg_in, 1e-6, 1e-6);
                avg_pool2d_forward(&g, false, &x, &mut y, &par);
                assert_close_f64(&format!("{what}: avg excl. pad"), &y, &avg_ex, 1e-6, 1e-6);
            }
        }
    }
}

#[test]
fn pooling_backward_loop_orders_match_finite_differences() {
    let mut rng = Rng::new(35);
    let single = Parallel::single();
    for g in [
        pool(1, 1, [5, 150], [3, 3], [2, 2], [1, 1], false),
        pool(1, 1, [3, 1100], [2, 2], [1, 2], [0, 1], false),
        pool(1, 2, [9, 40], [3, 17], [2, 1], [1, 8], true),
        pool(2, 2, [8, 10], [2, 2], [2, 2], [0, 0], false),
    ] {
        let x = distinct(g.input_len(), &mut rng);
        let dy = random(g.output_len(), &mut rng);
        let mut y = vec![0.0; g.output_len()];
        let mut idx = vec![0; g.output_len()];
        max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &single);
        let mut dx = vec![f32::NAN; g.input_len()];
        max_pool2d_backward(&g, &dy, &idx, &mut dx, &single);
        let loss = |x: &[f32]| {
            let mut y = vec![0.0; g.output_len()];
            max_pool2d_forward(&g, x, &mut y, None, &single);
            weighted_sum(&y, &dy)
        };
        check_gradient(&format!("max {g:?}"), &x, &dx, loss, 1e-3, 1e-3, 1e-3);
        for include_pad in [true, false] {
            avg_pool2d_backward(&g, include_pad, &dy, &mut dx, &single);
            let loss = |x: &[f32]| {
                let mut y = vec![0.0; g.output_len()];
                avg_pool2d_forward(&g, include_pad, x, &mut y, &single);
                weighted_sum(&y, &dy)
            };
            let what = format!("avg {g:?} include_pad={include_pad}");
            check_gradient(&what, &x, &dx, loss, 1e-2, 1e-3, 1e-3);
        }
    }
}

#[test]
fn max_pool2d_matches_pytorch() {
    let par = Parallel::single();

    // F.max_pool2d(x, 3, 2, 1, return_indices=True) on [1, 2, 5, 5] values
    // in {-4, ..., 0}: many ties, and windows on the border where only the
    // -inf padding could beat a negative value.
    let g = pool(1, 2, [5, 5], [3, 3], [2, 2], [1, 1], false);
    let x = pattern(50, 7, 5, 4.0, 1.0);
    let mut y = vec![0.0; g.output_len()];
    let mut idx = vec![0; g.output_len()];
    max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &par);
    #[rustfmt::skip]
    assert_eq!(y, [
        -2.0, 0.0, -1.0, -2.0, 0.0, -1.0, -2.0, 0.0, -1.0,
        -2.0, 0.0, -1.0, -2.0, 0.0, -1.0, -2.0, 0.0, -1.0,
    ]);
    assert_eq!(
        idx,
        [1, 2, 4, 6, 7, 9, 16, 17, 19, 1, 2, 4, 6, 7, 9, 16, 17, 19]
    );

    // ceil_mode=True adds a last, partial window: F.max_pool2d(x, 2, 2, 0,
    // ceil_mode=True) on [1, 1, 5, 5].
    let g = pool(1, 1, [5, 5], [2, 2], [2, 2], [0, 0], true);
    assert_eq!((g.out_h(), g.out_w()), (3, 3));
    let x = pattern(25, 11, 13, 6.0, 0.5);
    let mut y = vec![0.0; 9];
    let mut idx = vec![0; 9];
    max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &par);
    assert_eq!(y, [2.5, 3.0, 1.0, 1.5, -0.5, 2.5, 3.0, 1.0, -1.0]);
    assert_eq!(idx, [1, 7, 9, 15, 17, 14, 20, 22, 24]);

    // Non-square kernel, stride and padding: F.max_pool2d(x, (2, 3), (1, 2),
    // (1, 1)) on [1, 1, 4, 5].
    let g = pool(1, 1, [4, 5], [2, 3], [1, 2], [1, 1], false);
    let x = pattern(20, 3, 7, 5.0, 1.0);
    let mut y = vec![0.0; g.output_len()];
    let mut idx = vec![0; g.output_len()];
    max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &par);
    #[rustfmt::skip]
    assert_eq!(y, [
        -2.0, 1.0, 0.0, -1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0,
    ]);
    assert_eq!(idx, [1, 2, 4, 6, 2, 9, 11, 11, 9, 16, 16, 18, 16, 16, 18]);
}

#[test]
fn max_pool2d_propagates_nan_and_handles_all_minus_infinity() {
    let par = Parallel::single();
    let g = pool(1, 1, [2, 3], [2, 3], [2, 3], [0, 0], false);
    let mut y = [0.0];
    let mut idx = [9];
    // PyTorch: a NaN wins, and a later NaN replaces an earlier one.
    let x = [1.0, f32::NAN, 5.0, f32::NAN, 2.0, 3.0];
    max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &par);
    assert!(y[0].is_nan());
    assert_eq!(idx, [3]);
    // Nothing beats the initial -inf: the index stays at the first element.
    let x = [f32::NEG_INFINITY; 6];
    max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &par);
    assert_eq!((y[0], idx[0]), (f32::NEG_INFINITY, 0));
}

#[test]
fn avg_pool2d_matches_pytorch() {
    let par = Parallel::single();

    // F.avg_pool2d(x, (3, 2), (2, 2), (1, 1), count_include_pad=...) on [1, 2, 4, 5]
    let g = pool(1, 2, [4, 5], [3, 2], [2, 2], [1, 1], false);
    let x = pattern(40, 7, 11, 5.0, 0.25);
    let mut y = vec![0.0; g.output_len()];
    avg_pool2d_forward(&g, true, &x, &mut y, &par);
    #[rustfmt::skip]
    let want = [
        -0.33333334, 0.16666667, 0.20833333, -0.125, 0.083333336,
        -0.083333336, 0.33333334, -0.33333334, 0.16666667,
        -0.041666668, 0.25, 0.083333336,
    ];
    assert_close("count_include_pad", &y, &want, 1e-7, 1e-6);
    avg_pool2d_forward(&g, false, &x, &mut y, &par);
    #[rustfmt::skip]
    let want = [
        -1.0, 0.25, 0.3125, -0.25, 0.083333336, -0.083333336, 1.0, -0.5, 0.25,
        -0.083333336, 0.25, 0.083333336,
    ];
    assert_close("exclude pad", &y, &want, 1e-7, 1e-6);

    // ceil_mode: the last window hangs over the padding, and PyTorch's
    // "include pad" divisor counts the padding but not the overhang.
    // F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=...) on [1, 1, 6, 6]
    let g = pool(1, 1, [6, 6], [3, 3], [2, 2], [1, 1], true);
    assert_eq!((g.out_h(), g.out_w()), (4, 4));
    let x = pattern(36, 11, 13, 6.0, 0.5);
    let mut y = vec![0.0; 16];
    avg_pool2d_forward(&g, true, &x, &mut y, &par);
    #[rustfmt::skip]
    let want = [
        0.0, 1.1666666, -0.16666667, -0.41666666, -0.9444444,
        1.0555556, 0.5, -0.25, -1.0, -0.11111111, 1.5, 0.25, -0.33333334,
        -0.16666667, 1.0, 0.25,
    ];
    assert_close("ceil_mode include pad", &y, &want, 1e-7, 1e-6);
    avg_pool2d_forward(&g, false, &x, &mut y, &par);
    #[rustfmt::skip]
    let want = [
        0.0, 1.75, -0.25, -1.25, -1.4166666, 1.0555556, 0.5, -0.5, -1.5,
        -0.11111111, 1.5, 0.5, -1.0, -0.33333334, 2.0, 1.0,
    ];
    assert_close("ceil_mode exclude pad", &y, &want, 1e-7, 1e-6);
}

fn pool_gradient_cases() -> Vec<(String, Pool2dGeometry)> {
    let fixed = [
        (
            "3x3 stride 2 padding 1",
            pool(2, 3, [7, 6], [3, 3], [2, 2], [1, 1], false),
        ),
        (
            "2x3 overlapping, padded",
            pool(1, 2, [5, 8], [2, 3], [1, 2], [1, 1], false),
        ),
        (
            "ceil_mode batch 3",
            pool(3, 1, [6, 6], [3, 3], [2, 2], [1, 1], true),
        ),
        (
            "2x2 stride 2",
            pool(3, 2, [6, 4], [2, 2], [2, 2], [0, 0], false),
        ),
        (
            "4x1 batch 1",
            pool(1, 2, [9, 3], [4, 1], [2, 1], [2, 0], false),
        ),
    ];
    let mut rng = Rng::new(36);
    let random = (0..6).map(|i| (format!("random #{i}"), random_pool_geometry(&mut rng)));
    fixed
        .into_iter()
        .map(|(name, g)| (name.to_string(), g))
        .chain(random)
        .collect()
}

#[test]
fn max_pool2d_backward_matches_finite_differences() {
    let mut rng = Rng::new(31);
    let single = Parallel::single();
    let par = Parallel::new(2);
    for (name, g) in pool_gradient_cases() {
        let x = distinct(g.input_len(), &mut rng);
        let dy = random(g.output_len(), &mut rng);
        let mut y = vec![0.0; g.output_len()];
        let mut idx = vec![0; g.output_len()];
        max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &par);
        let mut dx = vec![f32::NAN; g.input_len()];
        max_pool2d_backward(&g, &dy, &idx, &mut dx, &par);
        let loss = |x: &[f32]| {
            let mut y = vec![0.0; g.output_len()];
            max_pool2d_forward(&g, x, &mut y, None, &single);
            weighted_sum(&y, &dy)
        };
        check_gradient(&format!("max {name}: dx"), &x, &dx, loss, 1e-3, 1e-3, 1e-3);
    }
}

#[test]
fn avg_pool2d_backward_matches_finite_differences() {
    let mut rng = Rng::new(32);
    let single = Parallel::single();
    let par = Parallel::new(2);
    for (name, g) in pool_gradient_cases() {
        for include_pad in [true, false] {
            let x = random(g.input_len(), &mut rng);
            let dy = random(g.output_len(), &mut rng);
            let mut dx = vec![f32::NAN; g.input_len()];
            avg_pool2d_backward(&g, include_pad, &dy, &mut dx, &par);
            let loss = |x: &[f32]| {
                let mut y = vec![0.0; g.output_len()];
                avg_pool2d_forward(&g, include_pad, x, &mut y, &single);
                weighted_sum(&y, &dy)
            };
            let what = format!("avg {name} include_pad={include_pad}: dx");
            check_gradient(&what, &x, &dx, loss, 1e-2, 1e-3, 1e-3);
        }
    }
}

#[test]
fn pooling_on_many_threads_matches_one_thread() {
    // Large enough for the kernels to split the planes among threads.
    let mut rng = Rng::new(33);
    let g = pool(4, 13, [40, 36], [3, 3], [2, 2], [1, 1], false);
    let x = random(g.input_len(), &mut rng);
    let dy = random(g.output_len(), &mut rng);
    let mut results = Vec::new();
    for par in [Parallel::single(), Parallel::new(2)] {
        let mut y = vec![f32::NAN; g.output_len()];
        let mut idx = vec![0; g.output_len()];
        let mut dx = vec![f32::NAN; g.input_len()];
        max_pool2d_forward(&g, &x, &mut y, Some(&mut idx), &par);
        max_pool2d_backward(&g, &dy, &idx, &mut dx, &par);
        let mut ya = vec![f32::NAN; g.output_len()];
        let mut dxa = vec![f32::NAN; g.input_len()];
        avg_pool2d_forward(&g, true, &x, &mut ya, &par);
        avg_pool2d_backward(&g, false, &dy, &mut dxa, &par);
        results.push((y, idx, dx, ya, dxa));
    }
    assert!(
        results[0] == results[1],
        "pooling differs between 1 and 2 threads"
    );
    let (max, arg, avg, _) = pool_reference(&g, &x);
    assert_eq!(results[1].0, max);
    assert_eq!(results[1].1, arg);
    assert_close_f64("avg", &results[1].3, &avg, 1e-6, 1e-6);
}

#[test]
#[should_panic(expected = "at most half the kernel")]
fn pooling_rejects_padding_over_half_the_kernel() {
    pool(1, 1, [5, 5], [3, 3], [1, 1], [2, 0], false).validate();
}

// -------------------------------------------------------------- batch norm

fn bn(batch: usize, channels: usize, spatial: usize) -> BatchNormGeometry {
    BatchNormGeometry {
        batch,
        channels,
        spatial,
    }
}

#[test]
fn batch_norm2d_matches_pytorch() {
    // nn.BatchNorm2d(3) (eps 1e-5, momentum 0.1, running stats 0 and 1),
    // weight [1.5, -0.5, 2], bias [0.25, 0, -1]; one training step on a
    // [2, 3, 2, 2] input, then eval on the same input.
    let par = Parallel::single();
    let g = bn(2, 3, 4);
    let x = pattern(24, 37, 23, 5.0, 0.125);
    let (gamma, beta) = ([1.5, -0.5, 2.0], [0.25, 0.0, -1.0]);
    let (mut rm, mut rv) = (vec![0.0; 3], vec![1.0; 3]);
    let mut y = vec![0.0; 24];
    let (mut mean, mut invstd) = (vec![0.0; 3], vec![0.0; 3]);
    batch_norm_forward_train(
        &g,
        &x,
        &gamma,
        &beta,
        1e-5,
        0.1,
        Some((&mut rm, &mut rv)),
        &mut y,
        &mut mean,
        &mut invstd,
        &par,
    );
    #[rustfmt::skip]
    let want = [
        -1.8848535, 1.0670427, -0.83060485, 2.1212914,
        0.12048189, 0.8433733, -0.28112444, 0.44176698,
        1.8213644, -0.71786356, -3.2570915, 0.69281864,
        -0.4089054, 2.542991, 0.6453433, -1.2523043,
        -0.44176698, 0.2811244, -0.8433733, -0.12048191,
        -2.6928186, 1.2570915, -1.2821364, -3.8213644,
    ];
    assert_close("train y", &y, &want, 1e-5, 1e-5);
    assert_close(
        "running_mean",
        &rm,
        &[0.0640625, 0.081250004, 0.0625],
        1e-7,
        1e-6,
    );
    assert_close(
        "running_var",
        &rv,
        &[0.99037385, 0.9691964, 0.98973215],
        1e-7,
        1e-6,
    );

    batch_norm_forward_eval(&g, &x, &gamma, &beta, &rm, &rv, 1e-5, &mut y, &par);
    #[rustfmt::skip]
    let want = [
        -0.78859943, 1.8491135, 0.15344088, 2.7911537,
        -0.2761602, 0.29520577, -0.5935857, -0.022219785,
        2.6437364, 0.3821069, -1.8795226, 1.6385677,
        0.530257, 3.16797, 1.4722973, -0.22337525,
        -0.72055596, -0.14919001, -1.0379815, -0.46661556,
        -1.3769383, 2.1411521, -0.12047744, -2.382107,
    ];
    assert_close("eval y", &y, &want, 1e-5, 1e-5);
}

#[test]
fn batch_norm1d_matches_pytorch_with_a_large_mean() {
    // nn.BatchNorm1d(4, eps=1e-3, momentum=0.3) with weight [1, 0.5, -2, 3],
    // bias [0, 1, 0.5, -0.5], running mean [99, 100, 101, 0] and var
    // [1, 2, 0.5, 4]; input [5, 4] around 100 with a spread of about 1, so a
    // one-pass E[x²] - E[x]² in f32 would lose most digits.
    let par = Parallel::single();
    let g = bn(5, 4, 1);
    let x: Vec<f32> = (0..20)
        .map(|i| ((i * 29) % 19) as f32 * 0.25 - 2.25 + 100.0)
        .collect();
    #[rustfmt::skip]
    assert_eq!(x, [
        97.75, 100.25, 98.0, 100.5, 98.25, 100.75, 98.5, 101.0, 98.75, 101.25,
        99.0, 101.5, 99.25, 101.75, 99.5, 102.0, 99.75, 102.25, 100.0, 97.75,
    ]);
    let (gamma, beta) = ([1.0, 0.5, -2.0, 3.0], [0.0, 1.0, 0.5, -0.5]);
    let (mut rm, mut rv) = (vec![99.0, 100.0, 101.0, 0.0], vec![1.0, 2.0, 0.5, 4.0]);
    let mut y = vec![0.0; 20];
    let (mut mean, mut invstd) = (vec![0.0; 4], vec![0.0; 4]);
    batch_norm_forward_train(
        &g,
        &x,
        &gamma,
        &beta,
        1e-3,
        0.3,
        Some((&mut rm, &mut rv)),
        &mut y,
        &mut mean,
        &mut invstd,
        &par,
    );
    #[rustfmt::skip]
    let want = [
        -1.4127979, 0.29359648, 3.325616, -0.6008878,
        -0.7063971, 0.6467968, 1.9128144, 0.40789318,
        3.6358833e-06, 0.99999726, 0.5000129, 1.4166741,
        0.7064044, 1.3531976, -0.9127886, 2.425455,
        1.4128051, 1.706398, -2.3255901, -6.1491833,
    ];
    // PyTorch itself rounds the mean to f32 near 100 (ulp 8e-6).
    assert_close("train y", &y, &want, 5e-5, 1e-5);
    assert_close(
        "running_mean",
        &rm,
        &[98.924995, 100.375, 100.399994, 30.165003],
        0.0,
        1e-6,
    );
    assert_close(
        "running_var",
        &rv,
        &[0.8875, 1.5875, 0.5375, 3.62875],
        0.0,
        1e-5,
    );

    batch_norm_forward_eval(&g, &x, &gamma, &beta, &rm, &rv, 1e-3, &mut y, &par);
    #[rustfmt::skip]
    let want = [
        -1.246542, 0.9504096, 7.041034, 110.25271,
        -0.71609586, 1.148766, 5.678313, 111.04003,
        -0.1856497, 1.3471226, 4.315591, 111.827354,
        0.34479648, 1.545479, 2.9528694, 112.61468,
        0.87524265, 1.7438354, 1.590148, 105.92243,
    ];
    assert_close("eval y", &y, &want, 5e-5, 1e-5);
}

fn bn_gradient_cases() -> Vec<(String, BatchNormGeometry)> {
    let fixed = [
        ("2d batch 3", bn(3, 3, 20)),
        ("1d 20 features (two channel blocks)", bn(8, 20, 1)),
        ("batch 1", bn(1, 2, 12)),
        ("1d [N, C, L]", bn(4, 5, 3)),
        // Over the size at which the kernels split work among threads.
        ("large, split among threads", bn(4, 40, 512)),
    ];
    // At least 8 values per channel: with fewer, normalization is so
    // nonlinear that central differences stop approximating the gradient.
    let mut rng = Rng::new(43);
    let random = (0..4).map(|i| {
        let (batch, spatial) = loop {
            let (b, s) = (1 + rng.below(6), 1 + rng.below(12));
            if b * s >= 8 {
                break (b, s);
            }
        };
        let g = bn(batch, 1 + rng.below(24), spatial);
        (format!("random #{i} {g:?}"), g)
    });
    fixed
        .into_iter()
        .map(|(name, g)| (name.to_string(), g))
        .chain(random)
        .collect()
}

#[test]
fn batch_norm_backward_matches_finite_differences() {
    let mut rng = Rng::new(40);
    let single = Parallel::single();
    let par = Parallel::new(2);
    for (name, g) in bn_gradient_cases() {
        let c = g.channels;
        // An offset per channel: the gradient must not depend on it.
        let x: Vec<f32> = random(g.len(), &mut rng)
            .iter()
            .enumerate()
            .map(|(i, &v)| v + (i / g.spatial % c % 4) as f32 * 0.5)
            .collect();
        let gamma: Vec<f32> = (0..c).map(|_| rng.uniform(0.5, 2.0)).collect();
        let beta = random(c, &mut rng);
        let dy = random(g.len(), &mut rng);
        let (mut mean, mut invstd) = (vec![0.0; c], vec![0.0; c]);
        let mut y = vec![0.0; g.len()];
        batch_norm_forward_train(
            &g,
            &x,
            &gamma,
            &beta,
            1e-5,
            0.1,
            None,
            &mut y,
            &mut mean,
            &mut invstd,
            &par,
        );
        let mut dx = vec![f32::NAN; g.len()];
        let (mut dgamma, mut dbeta) = (vec![f32::NAN; c], vec![f32::NAN; c]);
        batch_norm_backward(
            &g,
            &x,
            &dy,
            &gamma,
            &mean,
            &invstd,
            &mut dx,
            &mut dgamma,
            &mut dbeta,
            &par,
        );
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| {
            let (mut mean, mut invstd) = (vec![0.0; c], vec![0.0; c]);
            let mut y = vec![0.0; g.len()];
            batch_norm_forward_train(
                &g,
                x,
                gamma,
                beta,
                1e-5,
                0.1,
                None,
                &mut y,
                &mut mean,
                &mut invstd,
                &single,
            );
            weighted_sum(&y, &dy)
        };
        check_gradient(
            &format!("{name}: dx"),
            &x,
            &dx,
            |x| loss(x, &gamma, &beta),
            // Small enough for the curvature, large enough for f32 noise.
            3e-3,
            2e-3,
            1e-2,
        );
        check_gradient(
            &format!("{name}: dgamma"),
            &gamma,
            &dgamma,
            |gm| loss(&x, gm, &beta),
            1e-2,
            2e-3,
            1e-3,
        );
        check_gradient(
            &format!("{name}: dbeta"),
            &beta,
            &dbeta,
            |bt| loss(&x, &gamma, bt),
            1e-2,
            2e-3,
            1e-3,
        );
    }
}

#[test]
fn batch_norm_thread_counts_and_running_stats_options_agree() {
    let mut rng = Rng::new(41);
    for (name, g) in bn_gradient_cases() {
        let c = g.channels;
        let x = random(g.len(), &mut rng);
        let gamma = random(c, &mut rng);
        let beta = random(c, &mut rng);
        let dy = random(g.len(), &mut rng);
        let mut results = Vec::new();
        for (par, track) in [
            (Parallel::single(), true),
            (Parallel::new(2), true),
            (Parallel::new(2), false),
        ] {
            let (mut rm, mut rv) = (vec![0.5; c], vec![2.0; c]);
            let (mut mean, mut invstd) = (vec![f32::NAN; c], vec![f32::NAN; c]);
            let mut y = vec![f32::NAN; g.len()];
            let running = track.then_some((&mut rm[..], &mut rv[..]));
            batch_norm_forward_train(
                &g,
                &x,
                &gamma,
                &beta,
                1e-5,
                0.1,
                running,
                &mut y,
                &mut mean,
                &mut invstd,
                &par,
            );
            let mut y_eval = vec![f32::NAN; g.len()];
            batch_norm_forward_eval(&g, &x, &gamma, &beta, &rm, &rv, 1e-5, &mut y_eval, &par);
            let mut dx = vec![f32::NAN; g.len()];
            let (mut dgamma, mut dbeta) = (vec![f32::NAN; c], vec![f32::NAN; c]);
            batch_norm_backward(
                &g,
                &x,
                &dy,
                &gamma,
                &mean,
                &invstd,
                &mut dx,
                &mut dgamma,
                &mut dbeta,
                &par,
            );
            if !track {
                assert!(rm.iter().all(|&v| v == 0.5) && rv.iter().all(|&v| v == 2.0));
            }
            let tracked = track.then_some((rm, rv, y_eval));
            results.push(((y, mean, invstd, dx, dgamma, dbeta), tracked));
        }
        // Every channel is reduced in the same order whatever the split.
        assert!(results[0] == results[1], "{name}: 1 vs 2 threads");
        assert!(
            results[1].0 == results[2].0,
            "{name}: with and without running stats"
        );
    }
}

#[test]
fn batch_norm_statistics_survive_a_large_offset() {
    // Values 1000 + small: a one-pass f32 variance would be mostly rounding.
    let g = bn(64, 2, 8);
    let mut rng = Rng::new(42);
    let noise = random(g.len(), &mut rng);
    let x: Vec<f32> = noise.iter().map(|&v| 1000.0 + v * 0.01).collect();
    let n = g.batch * g.spatial;
    let mut want_var = [0.0f64; 2];
    let mut want_mean = [0.0f64; 2];
    for ch in 0..2 {
        let vals: Vec<f64> = (0..g.batch)
            .flat_map(|b| x[(b * 2 + ch) * 8..][..8].iter().map(|&v| v as f64))
            .collect();
        want_mean[ch] = vals.iter().sum::<f64>() / n as f64;
        want_var[ch] = vals
            .iter()
            .map(|v| (v - want_mean[ch]).powi(2))
            .sum::<f64>()
            / n as f64;
    }
    let (mut rm, mut rv) = (vec![0.0; 2], vec![0.0; 2]);
    let (mut mean, mut invstd) = (vec![0.0; 2], vec![0.0; 2]);
    let mut y = vec![0.0; g.len()];
    batch_norm_forward_train(
        &g,
        &x,
        &[1.0, 1.0],
        &[0.0, 0.0],
        0.0,
        1.0,
        Some((&mut rm, &mut rv)),
        &mut y,
        &mut mean,
        &mut invstd,
        &Parallel::single(),
    );
    for ch in 0..2 {
        let unbiased = want_var[ch] * n as f64 / (n - 1) as f64;
        assert!(
            (rv[ch] as f64 / unbiased - 1.0).abs() < 1e-5,
            "running_var {rv:?} vs {unbiased}"
        );
        let var_from_invstd = 1.0 / (invstd[ch] as f64).powi(2);
        assert!((var_from_invstd / want_var[ch] - 1.0).abs() < 1e-5);
        assert!((mean[ch] as f64 - want_mean[ch]).abs() < 1e-4);
    }
}

#[test]
#[should_panic(expected = "more than 1 value per channel")]
fn batch_norm_refuses_one_value_per_channel_in_training() {
    let g = bn(1, 2, 1);
    let (mut y, mut m, mut s) = (vec![0.0; 2], vec![0.0; 2], vec![0.0; 2]);
    batch_norm_forward_train(
        &g,
        &[1.0, 2.0],
        &[1.0, 1.0],
        &[0.0, 0.0],
        1e-5,
        0.1,
        None,
        &mut y,
        &mut m,
        &mut s,
        &Parallel::single(),
    );
}
