//! `nn.LSTM` (batch first) against PyTorch, on the process's kernel tier
//! (run under `NNSPEC_KERNELS=avx512`, `avx2` and `portable`):
//!
//! * forward and every gradient of one and of two layers at fixed values
//!   against literals printed by `bench/pytorch_lstm.py` (torch 2.15, f32),
//!   within 2e-6 absolute and 1e-5 relative (the sums run in another
//!   order, and the gates' sigmoid and tanh are not libm's);
//! * backward against central finite differences of the forward, for the
//!   input and every parameter;
//! * the same bits on several threads as on one, at a batch whose steps
//!   split their gate passes over the threads;
//! * `last` forward and backward.

mod common;

use std::ops::Range;

use common::{check_gradient, random, weighted_sum};
use nnspec_runtime::kernels::last;
use nnspec_runtime::kernels::lstm::{self, LstmGeometry, LstmSaved, LstmState};
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::rng::Rng;
use nnspec_runtime::threads::{Serial, Threads};

/// The output of `bench/pytorch_lstm.py`, verbatim.
#[rustfmt::skip]
#[allow(clippy::excessive_precision)]
mod pytorch {
// torch 2.15.0+cu132, f32, batch 2, len 3, features 4, hidden 3
pub const L1_Y: [f32; 18] = [0.240544647, 0.0192080624, -0.0055835573, 0.157698616, 0.11700204, 0.00811877474, 0.23635827, 0.0517661162, 0.0781424493, 0.0759714618, 0.0820410624, 0.000330802868, 0.11911054, 0.067025207, 0.0543090329, 0.219951749, 0.0478290282, 0.0236500259];
pub const L1_DX: [f32; 24] = [0.0415656976, 0.0475125611, 0.031113524, 8.13067236e-05, -0.0264791548, -0.0184114799, -0.00168459327, 0.0158345774, -0.00936090853, 0.00733740162, 0.0205848254, 0.0241508745, -0.0017428092, 0.0155274551, 0.0254949145, 0.0234717187, -0.0457421504, -0.0385565981, -0.0132372677, 0.0183077529, -0.0483389199, -0.0378509313, -0.00956105627, 0.0232255347];
pub const L1_D_WEIGHT_IH_L0: [f32; 48] = [0.0228681453, 0.0297791995, 0.0226846319, 0.00492112897, 0.00194839772, 0.010971779, 0.0148349619, 0.0117210308, -0.0193746947, -0.00559755834, 0.0108121959, 0.0221368056, 0.00585601898, 0.0122246509, 0.0128438398, 0.0074223699, 0.00465659797, 0.00570727326, 0.00407372927, 0.000524246716, 0.00324012223, 0.00330781564, 0.00181979185, -0.000524108473, 0.0482369699, 0.0396690741, 0.0124441963, -0.0206333827, 0.0100458916, 0.0161589738, 0.0146722384, 0.00628492143, 0.000944355153, 0.00825790036, 0.0116876299, 0.00962047931, 0.0389626995, 0.0646702647, 0.0599623881, 0.0270532686, 0.0164772589, 0.0291412435, 0.0280996468, 0.0138423489, 0.00194462831, 0.0105503034, 0.0141940052, 0.0111620454];
pub const L1_D_WEIGHT_HH_L0: [f32; 36] = [-0.00235650246, 0.000740531017, 0.001060109, -0.00198782911, 0.000887264847, 0.000847549236, 0.00477035204, 0.00330125098, -0.000393730967, -0.00195280812, 0.000865898852, 0.000716917042, 0.000594339683, 0.000581503671, 0.000348201604, 0.00122151058, 0.000796493783, 0.000391072943, 0.000169118299, 0.00317192124, 0.00299597369, -0.00404469296, -0.000627569505, 0.000426127575, 0.0210890565, 0.0130721824, 0.00346712582, -0.0103641758, 0.000348774483, 0.0018878564, -0.00377031346, 0.00159226311, 0.00151588023, 0.00479988148, 0.0033443931, 0.00073136267];
pub const L1_D_BIAS_IH_L0: [f32; 12] = [0.0110642109, -0.0180441029, 0.0330624431, -0.00336799584, 0.00302555505, 0.00952412188, 0.0744069219, -0.035224624, 0.107855618, -0.00107125286, -0.0137544218, 0.0309514813];
pub const L1_D_BIAS_HH_L0: [f32; 12] = [0.0110642109, -0.0180441029, 0.0330624431, -0.00336799584, 0.00302555505, 0.00952412188, 0.0744069219, -0.035224624, 0.107855618, -0.00107125286, -0.0137544218, 0.0309514813];
pub const L2_Y: [f32; 18] = [-0.332524836, -0.0321015455, 0.197048798, -0.451072067, -0.129953161, 0.254041731, -0.491300255, -0.18266052, 0.299741179, -0.331873298, -0.0501355305, 0.180502906, -0.449031353, -0.146175906, 0.251741022, -0.489159793, -0.1977465, 0.316460639];
pub const L2_DX: [f32; 24] = [-0.00467617437, -0.00669974741, -0.00557232415, -0.00182414975, -0.00225832826, -0.000766876445, 0.00108524947, 0.00242696493, 0.0141336266, 0.0125171142, 0.00501360651, -0.00484787766, 0.00301432586, 0.00097733154, -0.00151931727, -0.00330140744, -0.00354070496, -0.00469801761, -0.00364578003, -0.000878874853, 0.00103215, 0.00682441192, 0.00940704625, 0.00756539823];
pub const L2_D_WEIGHT_IH_L0: [f32; 48] = [-0.000227164099, 0.00183278264, 0.00303074322, 0.00280329795, -0.000801449118, 0.00155852712, 0.00318550388, 0.00331428857, 0.00387766515, 0.00157767953, -0.00146431336, -0.00381761673, 0.00165759819, 0.00298088626, 0.00290221698, 0.00145858969, 0.000714524533, 0.000705818762, 0.0003651554, -0.000147246203, -0.000450712745, -0.000454122666, -0.000243951625, 8.09536941e-05, 0.00792101491, 0.00737331528, 0.00335783069, -0.00223689456, 0.00232414971, 0.00322472467, 0.00260866177, 0.000765704492, -0.000352231902, -0.00138193695, -0.00176169514, -0.00131290045, 0.00337678147, 0.00849248283, 0.00961403735, 0.00621395977, 0.00161249051, 0.00356915244, 0.00384718622, 0.00231582834, 0.000980285229, -0.000634741678, -0.00195123965, -0.00235003908];
pub const L2_D_WEIGHT_HH_L0: [f32; 36] = [0.00143644703, 0.00132570101, 0.000407265004, -0.0011634914, -0.000111132911, 4.85758974e-05, -0.000904358982, -0.000628517824, 5.82507455e-05, 0.000547116389, 0.000624047709, 0.000268101197, -0.000217455963, -8.13443767e-05, 1.39731947e-05, -0.000158552299, -0.000105558756, -5.36422885e-05, 0.00211710716, 0.00162261329, 0.00117679895, -0.00168889028, -0.000506529002, 4.08869564e-05, -0.00318207126, -0.00191366277, -0.00046577616, 0.000628910144, 0.00163856754, 0.000699703523, -0.00163422665, -0.000257974898, 7.5852091e-05, -0.000905829191, -0.000635756762, -9.62194463e-05];
pub const L2_D_BIAS_IH_L0: [f32; 12] = [0.00322668906, -0.00846886728, -0.00711510237, 0.00546358805, -0.0016783243, -0.00126313104, 0.00766136171, -0.0122304671, -0.0218733586, 0.00137960981, -0.00860693771, -0.00689553283];
pub const L2_D_BIAS_HH_L0: [f32; 12] = [0.00322668906, -0.00846886728, -0.00711510237, 0.00546358805, -0.0016783243, -0.00126313104, 0.00766136171, -0.0122304671, -0.0218733586, 0.00137960981, -0.00860693771, -0.00689553283];
pub const L2_D_WEIGHT_IH_L1: [f32; 36] = [0.00014779967, 0.00354057364, 0.000625240151, -0.00595257804, 0.00081461732, -0.0013140603, 0.00720532937, -0.00042514145, 0.00353634916, 0.000258161424, 0.00379540795, 9.9883342e-05, -0.00522027444, -0.000724684622, -0.00108808675, 0.010303868, 0.0016327526, 0.00232289685, -0.0038350306, -0.0128167188, -0.00240277383, 0.0107973889, -0.0271153878, 0.00967978407, 0.0156922508, -0.00486401655, 0.0115871755, -0.0033121442, 0.00754503021, 0.00147320179, -0.00760513265, 0.00129164825, -0.00152456225, 0.012246849, -0.00160989515, 0.00460131606];
pub const L2_D_WEIGHT_HH_L1: [f32; 36] = [-0.0084213037, 0.00106336561, 0.00485904468, 0.0106757907, 0.00529905548, -0.00594236748, -0.0290011372, -0.0100794993, 0.0162483752, -0.00410205685, 0.00242723315, 0.00243028812, 0.00983162038, 0.00345171778, -0.00552095333, -0.0197788961, -0.00666280789, 0.0110871606, 0.0299865287, -0.00329767703, -0.0172189884, -0.0529953837, -0.042041529, 0.0288266465, -0.0914459899, -0.0324935652, 0.051205866, -0.0197952278, 0.00286408025, 0.0114379097, 0.0122910319, 0.00671168277, -0.00682924408, -0.0364067145, -0.0146147897, 0.0203260388];
pub const L2_D_BIAS_IH_L1: [f32; 12] = [0.0200537462, -0.0115865581, 0.00876833126, 0.0249856152, -0.0199567601, 0.0414091274, -0.0880444348, -0.176423758, -0.0267076567, 0.0266402494, -0.0137698762, 0.0167296417];
pub const L2_D_BIAS_HH_L1: [f32; 12] = [0.0200537462, -0.0115865581, 0.00876833126, 0.0249856152, -0.0199567601, 0.0414091274, -0.0880444348, -0.176423758, -0.0267076567, 0.0266402494, -0.0137698762, 0.0167296417];
}

use pytorch::*;

/// `0.6 · sin(0.7·i + phase)`, as `bench/pytorch_lstm.py`'s `value`.
fn value(n: usize, phase: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (0.6 * (0.7 * i as f64 + phase).sin()) as f32)
        .collect()
}

/// The parameters' lengths in state_dict order.
fn param_lens(g: &LstmGeometry) -> Vec<usize> {
    let h = g.hidden;
    (0..g.layers)
        .flat_map(|k| {
            let width = if k == 0 { g.input } else { h };
            [4 * h * width, 4 * h * h, 4 * h, 4 * h]
        })
        .collect()
}

fn ranges(lens: &[usize]) -> Vec<Range<usize>> {
    let mut at = 0;
    lens.iter()
        .map(|&n| {
            at += n;
            at - n..at
        })
        .collect()
}

/// Everything one forward and backward pass gives.
struct Run {
    y: Vec<f32>,
    dx: Vec<f32>,
    grads: Vec<f32>,
}

fn saved(g: &LstmGeometry) -> [Vec<f32>; 4] {
    let [input, gates, states] = g.saved_lens();
    [
        vec![0.0; input],
        vec![0.0; gates],
        vec![0.0; states],
        vec![0.0; states],
    ]
}

fn forward(
    g: &LstmGeometry,
    x: &[f32],
    values: &[f32],
    par: &dyn Threads,
) -> (Vec<f32>, [Vec<f32>; 4]) {
    let at = ranges(&param_lens(g));
    let mut y = vec![0.0; g.batch * g.len * g.hidden];
    let [mut input, mut gates, mut cells, mut hidden] = saved(g);
    let state = LstmState {
        input: &mut input,
        gates: &mut gates,
        cells: &mut cells,
        hidden: &mut hidden,
    };
    lstm::forward(g, x, values, &|i| at[i].clone(), &mut y, state, par);
    (y, [input, gates, cells, hidden])
}

fn run(g: &LstmGeometry, x: &[f32], values: &[f32], r: &[f32], par: &dyn Threads) -> Run {
    let at = ranges(&param_lens(g));
    let (y, [input, mut gates, cells, hidden]) = forward(g, x, values, par);
    let mut dx = vec![0.0; x.len()];
    let mut grads = vec![f32::NAN; values.len()];
    let mut scratch = vec![f32::NAN; lstm::backward_scratch_len(g)];
    let saved = LstmSaved {
        input: &input,
        cells: &cells,
        hidden: &hidden,
    };
    let at = |i: usize| at[i].clone();
    lstm::backward(
        g,
        values,
        &at,
        r,
        Some(&mut dx),
        &mut grads,
        saved,
        &mut gates,
        &mut scratch,
        par,
    );
    Run { y, dx, grads }
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 2e-6 + 1e-5 * b.abs(),
            "{what}[{i}]: got {a}, PyTorch {b}"
        );
    }
}

const SMALL: LstmGeometry = LstmGeometry {
    batch: 2,
    len: 3,
    input: 4,
    hidden: 3,
    layers: 1,
};

fn pytorch_case(layers: usize, want: &[&[f32]]) {
    let g = LstmGeometry { layers, ..SMALL };
    let lens = param_lens(&g);
    let values: Vec<f32> = lens
        .iter()
        .enumerate()
        .flat_map(|(k, &n)| value(n, 1.0 + k as f64))
        .collect();
    let x = value(g.batch * g.len * g.input, 0.25);
    let r = value(g.batch * g.len * g.hidden, 2.5);
    let got = run(&g, &x, &values, &r, &Serial);
    close("y", &got.y, want[0]);
    close("dx", &got.dx, want[1]);
    for (k, range) in ranges(&lens).into_iter().enumerate() {
        close(&format!("param {k}"), &got.grads[range], want[2 + k]);
    }
}

#[test]
fn one_layer_matches_pytorch() {
    pytorch_case(
        1,
        &[
            &L1_Y,
            &L1_DX,
            &L1_D_WEIGHT_IH_L0,
            &L1_D_WEIGHT_HH_L0,
            &L1_D_BIAS_IH_L0,
            &L1_D_BIAS_HH_L0,
        ],
    );
}

#[test]
fn two_layers_match_pytorch() {
    pytorch_case(
        2,
        &[
            &L2_Y,
            &L2_DX,
            &L2_D_WEIGHT_IH_L0,
            &L2_D_WEIGHT_HH_L0,
            &L2_D_BIAS_IH_L0,
            &L2_D_BIAS_HH_L0,
            &L2_D_WEIGHT_IH_L1,
            &L2_D_WEIGHT_HH_L1,
            &L2_D_BIAS_IH_L1,
            &L2_D_BIAS_HH_L1,
        ],
    );
}

#[test]
fn gradients_match_finite_differences() {
    let g = LstmGeometry {
        batch: 3,
        len: 4,
        input: 5,
        hidden: 6,
        layers: 2,
    };
    let mut rng = Rng::new(11);
    let values = random(param_lens(&g).iter().sum(), &mut rng);
    let x = random(g.batch * g.len * g.input, &mut rng);
    let r = random(g.batch * g.len * g.hidden, &mut rng);
    let got = run(&g, &x, &values, &r, &Serial);
    let loss_x = |x: &[f32]| weighted_sum(&forward(&g, x, &values, &Serial).0, &r);
    check_gradient("dx", &x, &got.dx, loss_x, 1e-2, 1e-3, 1e-2);
    let loss_w = |v: &[f32]| weighted_sum(&forward(&g, &x, v, &Serial).0, &r);
    check_gradient("parameters", &values, &got.grads, loss_w, 1e-2, 1e-3, 1e-2);
}

#[test]
fn threads_give_the_same_bits() {
    let g = LstmGeometry {
        batch: 70,
        len: 3,
        input: 9,
        hidden: 256,
        layers: 2,
    };
    let mut rng = Rng::new(5);
    let values: Vec<f32> = random(param_lens(&g).iter().sum(), &mut rng)
        .iter()
        .map(|v| v * 0.1)
        .collect();
    let x = random(g.batch * g.len * g.input, &mut rng);
    let r = random(g.batch * g.len * g.hidden, &mut rng);
    let one = run(&g, &x, &values, &r, &Serial);
    let two = run(&g, &x, &values, &r, &Parallel::new(3));
    assert!(
        one.y
            .iter()
            .zip(&two.y)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert!(
        one.dx
            .iter()
            .zip(&two.dx)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert!(
        one.grads
            .iter()
            .zip(&two.grads)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
}

#[test]
fn last_takes_the_last_step() {
    // Two samples of [3, 2].
    let x = [
        1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
    ];
    let mut y = [0.0; 4];
    last::forward(&x, &mut y, 3, 2);
    assert_eq!(y, [5.0, 6.0, 11.0, 12.0]);
    let mut dx = [f32::NAN; 12];
    last::backward(&[1.0, -1.0, 2.0, -2.0], &mut dx, 3, 2);
    assert_eq!(
        dx,
        [0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 2.0, -2.0]
    );
}
