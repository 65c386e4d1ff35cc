//! Every loss's value and gradient against PyTorch's numbers
//! (`bench/pytorch_losses.py`, torch 2.15, mean reduction) and against
//! finite differences; the regression metrics against scikit-learn's.

// The script prints every f32 with 9 significant digits, the count that
// reads back as the same f32 whatever the value; clippy would prefer the
// shortest such text, which differs from number to number.
#![allow(clippy::excessive_precision)]

use nnspec_runtime::plan::LossKind;
use nnspec_runtime::regression::RegressionMetrics;
use nnspec_runtime::rng::Rng;
use nnspec_runtime::training::{Targets, loss_of};

const Y: [f32; 12] = [
    0.5, -1.25, 2.0, 0.125, -0.75, 3.0, -0.3, 0.1, 0.7, -2.2, 1.5, 0.0,
];
const T: [f32; 12] = [
    0.25, -1.25, 0.5, 1.0, -0.5, 1.25, 0.0, 0.6, -1.2, -2.0, 3.0, 0.3,
];
const X: [f32; 12] = [
    0.5, -1.25, 2.0, 30.0, -0.75, 3.0, -0.3, -25.0, 0.7, -2.2, 1.5, 0.0,
];
const B: [f32; 12] = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
const LABELS: [u32; 4] = [2, 0, 1, 2];
const WEIGHT: [f32; 3] = [0.2, 1.0, 3.0];

// Printed by bench/pytorch_losses.py (torch 2.15.0, scikit-learn 1.9.1).
const MSE_LOSS: f64 = 1.0444271564483643;
const MSE_GRAD: [f32; 12] = [
    0.0416666679,
    0.0,
    0.25,
    -0.145833343,
    -0.0416666679,
    0.291666687,
    -0.0500000045,
    -0.0833333358,
    0.316666692,
    -0.0333333425,
    -0.25,
    -0.0500000045,
];
const L1_LOSS: f64 = 0.7770833373069763;
const L1_GRAD: [f32; 12] = [
    0.0833333358,
    0.0,
    0.0833333358,
    -0.0833333358,
    -0.0833333358,
    0.0833333358,
    -0.0833333358,
    -0.0833333358,
    0.0833333358,
    -0.0833333358,
    -0.0833333358,
    -0.0833333358,
];
const SMOOTH_L1_LOSS: f64 = 0.4441927373409271;
const SMOOTH_L1_GRAD: [f32; 12] = [
    0.020833334,
    0.0,
    0.0833333358,
    -0.0729166716,
    -0.020833334,
    0.0833333358,
    -0.0250000022,
    -0.0416666679,
    0.0833333358,
    -0.0166666713,
    -0.0833333358,
    -0.0250000022,
];
const SMOOTH_L1_HALF_LOSS: f64 = 0.5724999904632568;
const SMOOTH_L1_HALF_GRAD: [f32; 12] = [
    0.0416666679,
    0.0,
    0.0833333358,
    -0.0833333358,
    -0.0416666679,
    0.0833333358,
    -0.0500000045,
    -0.0833333358,
    0.0833333358,
    -0.0333333425,
    -0.0833333358,
    -0.0500000045,
];
const BCE_LOSS: f64 = 0.6704647541046143;
const BCE_GRAD: [f32; 12] = [
    -0.0314617194,
    0.0185583439,
    -0.00993358064,
    0.0,
    0.0267351065,
    0.0793811753,
    -0.0478702076,
    1.15732857e-12,
    -0.0276510213,
    0.00831254013,
    0.068131201,
    -0.0416666679,
];
const CE_LOSS: f64 = 1.5391368865966797;
const CE_GRAD: [f32; 12] = [
    0.0442050435,
    0.0076816855,
    -0.0518867373,
    -0.236939907,
    0.00544425659,
    0.231495649,
    0.0479836613,
    -0.178416789,
    0.130433112,
    0.00495320978,
    0.200343996,
    -0.205297217,
];
const CE_SMOOTH_LOSS: f64 = 1.5662201642990112;
const CE_SMOOTH_GRAD: [f32; 12] = [
    0.0358717106,
    -0.000651648268,
    -0.0352200717,
    -0.220273241,
    -0.00288907718,
    0.223162308,
    0.0396503285,
    -0.161750123,
    0.12209978,
    -0.00338012399,
    0.192010656,
    -0.188630551,
];
const CE_WEIGHT_LOSS: f64 = 1.0698779821395874;
const CE_WEIGHT_GRAD: [f32; 12] = [
    0.0736750737,
    0.0128028095,
    -0.0864778981,
    -0.0263266582,
    0.00060491747,
    0.02572174,
    0.0266575906,
    -0.0991204455,
    0.0724628419,
    0.0082553504,
    0.33390668,
    -0.342162043,
];
const CE_WEIGHT_SMOOTH_LOSS: f64 = 1.0306940078735352;
const CE_WEIGHT_SMOOTH_GRAD: [f32; 12] = [
    0.0639645532,
    0.00217791763,
    -0.0661424845,
    -0.02088161,
    -0.00792844221,
    0.0288100522,
    0.0269383453,
    -0.0774204507,
    0.0504820906,
    0.0055229282,
    0.289030731,
    -0.294553667,
];
const METRICS_TRUE: [f32; 10] = [3.0, -0.5, 2.0, 0.0, 7.0, 2.0, 4.5, 1.0, 1.0, 0.25];
const METRICS_PRED: [f32; 10] = [2.5, 0.0, 2.0, -0.5, 8.0, 2.0, 4.0, 1.5, 1.5, 0.0];
const SK_MAE: f64 = 0.425;
const SK_RMSE: f64 = 0.4973604328624446;
const SK_R2: f64 = 0.8533193779904307;

/// The loss and its gradient through the runtime's entry point.
fn run(kind: LossKind, weight: Option<&[f32]>, y: &[f32], targets: Targets<'_>) -> (f64, Vec<f32>) {
    let mut grad = vec![f32::NAN; y.len()];
    let mut scratch = vec![0.0; y.len()];
    let stats = loss_of(kind, weight, y, targets, Some(&mut grad), &mut scratch);
    (stats.loss, grad)
}

fn assert_matches(what: &str, (loss, grad): (f64, Vec<f32>), want_loss: f64, want_grad: &[f32]) {
    // PyTorch sums in f32, the runtime in f64: a few f32 ulps apart.
    assert!(
        (loss - want_loss).abs() <= 1e-6 * want_loss.abs().max(1.0),
        "{what}: loss {loss} against PyTorch's {want_loss}"
    );
    for (i, (got, want)) in grad.iter().zip(want_grad).enumerate() {
        assert!(
            (got - want).abs() <= 1e-6 * want.abs().max(1e-2),
            "{what}: gradient element {i}: {got} against PyTorch's {want}"
        );
    }
}

#[test]
fn element_wise_losses_match_pytorch() {
    let values = Targets::Values(&T);
    assert_matches(
        "mse",
        run(LossKind::Mse { len: 3 }, None, &Y, values),
        MSE_LOSS,
        &MSE_GRAD,
    );
    assert_matches(
        "l1",
        run(LossKind::L1 { len: 3 }, None, &Y, values),
        L1_LOSS,
        &L1_GRAD,
    );
    for (beta, want_loss, want_grad) in [
        (1.0, SMOOTH_L1_LOSS, SMOOTH_L1_GRAD),
        (0.5, SMOOTH_L1_HALF_LOSS, SMOOTH_L1_HALF_GRAD),
    ] {
        let kind = LossKind::SmoothL1 { len: 3, beta };
        assert_matches(
            "smooth_l1",
            run(kind, None, &Y, values),
            want_loss,
            &want_grad,
        );
    }
    let kind = LossKind::BceWithLogits { len: 3 };
    assert_matches(
        "bce_with_logits",
        run(kind, None, &X, Targets::Values(&B)),
        BCE_LOSS,
        &BCE_GRAD,
    );
}

/// What is checked, label smoothing, class weights, PyTorch's loss and gradient.
type Case<'a> = (&'a str, f32, Option<&'a [f32]>, f64, [f32; 12]);

#[test]
fn cross_entropy_with_smoothing_and_weights_matches_pytorch() {
    let labels = Targets::Labels(&LABELS);
    let ce = |label_smoothing| LossKind::CrossEntropy {
        classes: 3,
        label_smoothing,
    };
    let cases: [Case; 4] = [
        ("plain", 0.0, None, CE_LOSS, CE_GRAD),
        ("smoothing 0.1", 0.1, None, CE_SMOOTH_LOSS, CE_SMOOTH_GRAD),
        (
            "weights",
            0.0,
            Some(&WEIGHT),
            CE_WEIGHT_LOSS,
            CE_WEIGHT_GRAD,
        ),
        (
            "weights, smoothing 0.2",
            0.2,
            Some(&WEIGHT),
            CE_WEIGHT_SMOOTH_LOSS,
            CE_WEIGHT_SMOOTH_GRAD,
        ),
    ];
    for (what, smoothing, weight, want_loss, want_grad) in cases {
        assert_matches(
            what,
            run(ce(smoothing), weight, &Y, labels),
            want_loss,
            &want_grad,
        );
    }
    // All weights 1 is no weighting: the same as the plain kernel.
    let ones = [1.0; 3];
    assert_matches(
        "weights of 1",
        run(ce(0.0), Some(&ones), &Y, labels),
        CE_LOSS,
        &CE_GRAD,
    );
}

/// Central differences of the loss in f64 (the kernels sum in f64, and the
/// inputs are nudged in f32) against the analytic gradient.
fn finite_differences(kind: LossKind, weight: Option<&[f32]>, y: &[f32], targets: Targets<'_>) {
    let (_, grad) = run(kind, weight, y, targets);
    let h = 1e-2f32;
    for i in 0..y.len() {
        let at = |v: f32| {
            let mut y = y.to_vec();
            y[i] = v;
            run(kind, weight, &y, targets).0
        };
        let (plus, minus) = (y[i] + h, y[i] - h);
        let numeric = (at(plus) - at(minus)) / (plus - minus) as f64;
        assert!(
            (grad[i] as f64 - numeric).abs() <= 2e-3 * numeric.abs().max(0.05),
            "{kind:?}: element {i}: gradient {} against finite differences {numeric}",
            grad[i]
        );
    }
}

#[test]
fn every_gradient_agrees_with_finite_differences() {
    let mut rng = Rng::new(7);
    let y: Vec<f32> = (0..24).map(|_| rng.uniform(-3.0, 3.0)).collect();
    // Targets kept away from the kinks of l1 and smooth_l1 (|y - t| near 0
    // or beta), where differences straddle two branches.
    let t: Vec<f32> = y
        .iter()
        .enumerate()
        .map(|(i, &v)| v + if i % 2 == 0 { 0.2 } else { -2.1 } + 0.005 * i as f32)
        .collect();
    let b: Vec<f32> = (0..24).map(|i| (i % 3 == 0) as u32 as f32).collect();
    let labels: Vec<u32> = (0..6).map(|i| (i * 7 % 4) as u32).collect();
    let values = Targets::Values(&t);
    finite_differences(LossKind::Mse { len: 4 }, None, &y, values);
    finite_differences(LossKind::L1 { len: 4 }, None, &y, values);
    finite_differences(LossKind::SmoothL1 { len: 4, beta: 1.0 }, None, &y, values);
    finite_differences(LossKind::SmoothL1 { len: 4, beta: 0.5 }, None, &y, values);
    finite_differences(
        LossKind::BceWithLogits { len: 4 },
        None,
        &y,
        Targets::Values(&b),
    );
    let weight = [0.5, 2.0, 0.0, 1.5];
    for smoothing in [0.0, 0.3] {
        let kind = LossKind::CrossEntropy {
            classes: 4,
            label_smoothing: smoothing,
        };
        finite_differences(kind, None, &y, Targets::Labels(&labels));
        finite_differences(kind, Some(&weight), &y, Targets::Labels(&labels));
    }
}

#[test]
fn a_batch_whose_labels_all_weigh_zero_learns_nothing() {
    // PyTorch divides 0 by 0 (NaN); the runtime keeps training finite.
    let kind = LossKind::CrossEntropy {
        classes: 3,
        label_smoothing: 0.1,
    };
    let (loss, grad) = run(
        kind,
        Some(&[1.0, 1.0, 0.0]),
        &Y,
        Targets::Labels(&[2, 2, 2, 2]),
    );
    assert_eq!(loss, 0.0);
    assert!(grad.iter().all(|&g| g == 0.0));
}

#[test]
fn class_labels_become_targets_for_the_element_wise_losses() {
    // One logit: the label is the 0/1 target; several: its one-hot row.
    let one = [0.3f32, -1.2, 2.0];
    let (loss, _) = run(
        LossKind::BceWithLogits { len: 1 },
        None,
        &one,
        Targets::Labels(&[1, 0, 0]),
    );
    let (want, _) = run(
        LossKind::BceWithLogits { len: 1 },
        None,
        &one,
        Targets::Values(&[1.0, 0.0, 0.0]),
    );
    assert_eq!(loss, want);
    let (loss, _) = run(
        LossKind::Mse { len: 3 },
        None,
        &Y[..6],
        Targets::Labels(&[2, 0]),
    );
    let onehot = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    let (want, _) = run(
        LossKind::Mse { len: 3 },
        None,
        &Y[..6],
        Targets::Values(&onehot),
    );
    assert_eq!(loss, want);
}

#[test]
fn regression_metrics_match_scikit_learn() {
    let m = RegressionMetrics::compute(&METRICS_PRED, &METRICS_TRUE, 2).expect("metrics");
    for (what, got, want) in [
        ("MAE", m.mae, SK_MAE),
        ("RMSE", m.rmse, SK_RMSE),
        ("R²", m.r2, SK_R2),
    ] {
        assert!(
            (got - want).abs() < 1e-12,
            "{what}: {got} against scikit-learn's {want}"
        );
    }
}

#[test]
fn regression_metrics_by_hand() {
    // One target: errors 1, -1, 2 on truths 1, 2, 3 (mean 2, SS_tot 2).
    let m = RegressionMetrics::compute(&[2.0, 1.0, 5.0], &[1.0, 2.0, 3.0], 1).expect("metrics");
    assert!((m.mae - 4.0 / 3.0).abs() < 1e-12);
    assert!((m.rmse - 2.0f64.sqrt()).abs() < 1e-12);
    assert!((m.r2 - (1.0 - 6.0 / 2.0)).abs() < 1e-12);
    // A constant truth: 1 when predicted exactly, else 0 (scikit-learn).
    let exact = RegressionMetrics::compute(&[4.0, 4.0], &[4.0, 4.0], 1).expect("metrics");
    assert_eq!(exact.r2, 1.0);
    let off = RegressionMetrics::compute(&[4.0, 5.0], &[4.0, 4.0], 1).expect("metrics");
    assert_eq!(off.r2, 0.0);
    assert_eq!(RegressionMetrics::compute(&[], &[], 1), None);
}
