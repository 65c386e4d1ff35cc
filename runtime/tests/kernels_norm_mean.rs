//! `layernorm` and `mean` kernels against PyTorch, on whatever kernel tier
//! `NNSPEC_KERNELS` selects (run under `avx512`, `avx2` and `portable`):
//!
//! * forward and gradients at fixed inputs against literals printed by
//!   `bench/pytorch_norm_mean.py` (torch 2.15, f32), within a few f32
//!   ulps of the values' scale (PyTorch sums rows in another order);
//! * layernorm split over threads gives the same bits as one thread;
//! * backward against central finite differences of the forward.

mod common;

use common::{check_gradient, random, weighted_sum};
use nnspec_runtime::kernels::layernorm;
use nnspec_runtime::kernels::reduce::mean;
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::rng::Rng;

/// The output of `bench/pytorch_norm_mean.py`, verbatim.
#[rustfmt::skip]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod pytorch {
// torch 2.15.0+cu132, f32
pub const LN_X: [f32; 60] = [0.0, 1.28843534, 1.97089946, 1.72641873, 0.669976294, -0.701566458, -1.74315155, -1.96490526, -1.26253331, 0.0336278006, 1.31397319, 1.97633648, 1.70919788, 0.638196707, -0.732958257, -1.75939155, -1.95835543, -1.23627424, 0.0672460943, 1.33913946, 1001.9812, 1001.69147, 1000.60626, 999.23584, 998.224854, 998.048767, 998.790344, 1000.10083, 1001.36395, 1001.98553, 1001.67334, 1000.5741, 999.204895, 998.209595, 998.056396, 998.817261, 1000.1344, 1001.38831, 1001.98932, 1001.65466, 0.00541811576, -0.00825855043, -0.0180510916, -0.0193539225, -0.0115543008, 0.00167948916, 0.0141233886, 0.0199248381, 0.0163553245, 0.0050936467, -0.00856365263, -0.0181933325, -0.0192664042, -0.0112781841, 0.002014342, 0.0143594919, 0.019951148, 0.0161594674, 0.00476773735, -0.00886633433];
pub const LN_DY: [f32; 60] = [1.0, 0.267498821, -0.856888771, -0.7259323, 0.468516678, 0.976587653, 0.0539554209, -0.947721601, -0.560984254, 0.647596359, 0.907446802, -0.162114441, -0.994177639, -0.369768262, 0.796352446, 0.795814991, -0.370593339, -0.994081557, -0.16123797, 0.907819569, 0.64691931, -0.561719298, -0.947437823, 0.0548422635, 0.976778328, 0.467731833, -0.72654289, -0.85643059, 0.268354505, 0.999999583, 0.266642928, -0.857346237, -0.725321174, 0.469301134, 0.976396203, 0.0530685373, -0.948004663, -0.560248792, 0.648272872, 0.907073259, -0.162990779, -0.994272947, -0.368942916, 0.796889365, 0.795276821, -0.371418089, -0.99398464, -0.160361364, 0.908191681, 0.646241784, -0.562453866, -0.94715327, 0.0557290614, 0.976968229, 0.466946632, -0.727152824, -0.855971694, 0.269209981, 0.99999845, 0.265786827];
pub const LN_WEIGHT: [f32; 20] = [1.0, 1.0841471, 1.09092975, 1.014112, 0.924319744, 0.904107571, 0.972058475, 1.06569862, 1.09893584, 1.04121184, 0.945597887, 0.900000989, 0.946342707, 1.04201674, 1.09906077, 1.06502879, 0.971209645, 0.903860271, 0.924901247, 1.01498771];
pub const LN_BIAS: [f32; 20] = [0.0500000007, 0.0270151179, -0.0208073426, -0.0494996272, -0.0326821804, 0.0141831106, 0.0480085127, 0.0376951136, -0.00727500161, -0.0455565117, -0.0419535749, 0.000221284907, 0.0421926975, 0.0453723408, 0.00683686091, -0.0379843973, -0.0478829741, -0.0137581676, 0.033015836, 0.0494352318];
pub const LN_Y: [f32; 60] = [-0.000101655722, 0.991166174, 1.49221766, 1.17621541, 0.372529417, -0.493586481, -1.23614085, -1.54246545, -1.07394087, -0.0721939132, 0.816590369, 1.25201237, 1.17411542, 0.478036433, -0.63557899, -1.45756423, -1.48330224, -0.873771608, 0.0320248678, 0.98960495, 1.28748536, 1.15203249, 0.294897407, -0.714341223, -1.28302777, -1.31859887, -0.887873113, -0.0253220983, 0.884906113, 1.24603927, 0.927471817, 0.240711153, -0.598413229, -1.37514806, -1.60755146, -1.0436089, -0.0828313902, 0.735227287, 1.18274486, 1.0769273, 0.450820237, -0.60065496, -1.41771436, -1.44269311, -0.786053479, 0.134421617, 1.04383492, 1.57236207, 1.29424238, 0.347579896, -0.610078096, -1.16137731, -1.25196564, -0.783316791, 0.179367051, 1.07109952, 1.35254502, 1.04404068, 0.360641927, -0.582388043];
pub const LN_DX: [f32; 60] = [0.704425335, 0.199945331, -0.686101437, -0.543780029, 0.297916532, 0.611894906, -0.00429097936, -0.781198084, -0.487102389, 0.467285365, 0.614397049, -0.11084421, -0.693174422, -0.29909125, 0.605958998, 0.575276315, -0.307160407, -0.692462742, -0.132735267, 0.660841167, 0.435130596, -0.432504654, -0.731358528, 0.0120434761, 0.590607643, 0.258654118, -0.515789986, -0.650823593, 0.18894577, 0.707040787, 0.161185265, -0.550891876, -0.499791622, 0.305160046, 0.707071781, 0.0103259087, -0.656162262, -0.363451481, 0.402538776, 0.622069359, -10.0995903, -80.6349106, -35.819912, 50.4319153, 48.044857, -23.8435555, -64.4647369, -5.37306213, 77.0655365, 49.6619987, -41.625782, -68.1053238, -3.65145874, 68.4140244, 37.0998688, -50.6403351, -52.675621, 22.9274902, 67.5977478, 15.6908731];
pub const LN_DWEIGHT: [f32; 20] = [0.685131013, 0.230625182, -0.990202069, -2.00812912, -1.76409459, -1.28736746, -0.390074521, 1.22493112, 1.83799183, 1.46792555, 1.43519878, 0.767870367, -0.774370193, -1.57025599, -1.82637215, -1.86808336, -0.652435899, 0.796658397, 1.160267, 1.59371209];
pub const LN_DBIAS: [f32; 20] = [1.48392844, -1.28849339, -2.17326951, 0.125799358, 2.24057174, 1.07290137, -1.66657209, -1.96451366, 0.615561962, 2.29383755, 0.611635804, -1.96661401, -1.66376984, 1.07650113, 2.23969531, 0.121730685, -2.17456961, -1.28512037, 1.48703337, 2.08067966];
pub const LN_PLAIN_Y: [f32; 60] = [-0.0500884801, 0.889083683, 1.38654864, 1.20834053, 0.438273728, -0.561477482, -1.32071447, -1.48235619, -0.970380008, -0.0255763493, 0.90769887, 1.39051175, 1.19578791, 0.4151088, -0.584359765, -1.33255219, -1.47758186, -0.951239169, -0.00107114948, 0.926043212, 1.2371943, 1.03745413, 0.289322466, -0.655435741, -1.35240161, -1.4737941, -0.962556779, -0.0591183901, 0.811668158, 1.2401818, 1.02495718, 0.267147809, -0.676768839, -1.36292088, -1.46853447, -0.944000781, -0.0359759592, 0.828456938, 1.24279058, 1.01208162, 0.16254437, -0.234782398, -0.519269705, -0.557118833, -0.330528677, 0.0539319068, 0.41544503, 0.583985448, 0.480286002, 0.153118074, -0.243646055, -0.523402035, -0.554576278, -0.322507083, 0.0636598691, 0.422304153, 0.584749818, 0.474596053, 0.143649936, -0.25243938];
pub const LN_PLAIN_DX: [f32; 60] = [0.703672349, 0.179830775, -0.634414911, -0.540873349, 0.321511179, 0.681108832, 0.000417318195, -0.731467366, -0.444061071, 0.447060168, 0.64650476, -0.127934277, -0.736538887, -0.289784312, 0.549484968, 0.541049719, -0.31073311, -0.759550512, -0.142255604, 0.64697367, 0.435025692, -0.399504662, -0.67030406, 0.0144867897, 0.645508766, 0.293782711, -0.526200294, -0.609841108, 0.171266079, 0.678456306, 0.171479702, -0.608340502, -0.523490906, 0.29558897, 0.644486427, 0.0113787651, -0.67282033, -0.399856567, 0.435995579, 0.612903118, -4.64969969, -29.1381607, -11.2138119, 22.6230392, 22.769249, -10.7973499, -28.5757904, -4.21424246, 26.7404022, 18.851635, -16.6007519, -28.015173, 1.09343708, 28.0544796, 13.5666351, -20.8181, -24.4220695, 8.17222023, 29.1207047, 7.45333767];
pub const MEAN_X: [f32; 24] = [0.0, 2.34998059, 2.92154288, 1.28214014, -1.32756102, -2.93259048, -2.31829429, 0.0504408479, 2.38100314, 2.90966988, 1.23635554, -1.37260675, -2.94280839, -2.28595114, 0.100867435, 2.41135335, 2.89697361, 1.19022381, -1.41726303, -2.95219517, -2.25296164, 0.151266918, 2.44102001, 2.88345909];
pub const MEAN0_Y: [f32; 8] = [0.351147383, 0.775686681, 0.61320138, -0.0133419037, -0.766265452, -0.314820141, 0.3748748, 0.780872405];
pub const MEAN0_DY: [f32; 8] = [1.0, 0.540302336, -0.416146845, -0.989992499, -0.653643608, 0.2836622, 0.960170269, 0.753902256];
pub const MEAN0_DX: [f32; 24] = [0.333333343, 0.180100784, -0.13871561, -0.32999751, 0.333333343, 0.180100784, -0.13871561, -0.32999751, 0.333333343, 0.180100784, -0.13871561, -0.32999751, -0.217881203, 0.0945540667, 0.320056766, 0.251300752, -0.217881203, 0.0945540667, 0.320056766, 0.251300752, -0.217881203, 0.0945540667, 0.320056766, 0.251300752];
pub const MEAN1_Y: [f32; 6] = [1.63841593, -1.63200116, 1.28860557, -0.679134786, -0.0705652237, 0.80569607];
pub const MEAN1_DY: [f32; 6] = [1.0, 0.540302336, -0.416146845, -0.989992499, -0.653643608, 0.2836622];
pub const MEAN1_DX: [f32; 24] = [0.25, 0.25, 0.25, 0.25, 0.135075584, 0.135075584, 0.135075584, 0.135075584, -0.104036711, -0.104036711, -0.104036711, -0.104036711, -0.247498125, -0.247498125, -0.247498125, -0.247498125, -0.163410902, -0.163410902, -0.163410902, -0.163410902, 0.07091555, 0.07091555, 0.07091555, 0.07091555];
}

use pytorch::*;

/// `|got - want| <= atol + 1e-5·|want|` everywhere.
fn close(what: &str, got: &[f32], want: &[f32], atol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + 1e-5 * w.abs(),
            "{what}[{i}]: got {g}, PyTorch {w}"
        );
    }
}

const WIDTH: usize = 20;

/// Layernorm forward and backward of `LN_X`, with the affine part or not.
fn layer_norm(affine: bool, eps: f32, par: &Parallel) -> [Vec<f32>; 5] {
    let (weight, bias) = if affine {
        (Some(&LN_WEIGHT[..]), Some(&LN_BIAS[..]))
    } else {
        (None, None)
    };
    let rows = LN_X.len() / WIDTH;
    let (mut y, mut mean, mut rstd) = (vec![0.0; LN_X.len()], vec![0.0; rows], vec![0.0; rows]);
    let stats = Some((&mut mean[..], &mut rstd[..]));
    layernorm::forward(&LN_X, weight, bias, &mut y, stats, WIDTH, eps, par);
    let mut dx = vec![0.0; LN_X.len()];
    let (mut dweight, mut dbias) = (vec![0.0; WIDTH], vec![0.0; WIDTH]);
    let grads = affine.then_some((&mut dweight[..], Some(&mut dbias[..])));
    layernorm::backward(
        &LN_X,
        weight,
        &LN_DY,
        &mean,
        &rstd,
        Some(&mut dx),
        grads,
        WIDTH,
        par,
    );
    [y, dx, dweight, dbias, mean]
}

#[test]
fn layer_norm_matches_pytorch() {
    let [y, dx, dweight, dbias, _] = layer_norm(true, 1e-5, &Parallel::single());
    // The row around 1000 holds its inputs to 6e-5: its mean, and so its
    // outputs, are known to about that (over a standard deviation of 1.4).
    close("y", &y, &LN_Y, 1e-4);
    close("dx", &dx, &LN_DX, 1e-4);
    close("dweight", &dweight, &LN_DWEIGHT, 1e-4);
    close("dbias", &dbias, &LN_DBIAS, 1e-5);
    let [y, dx, ..] = layer_norm(false, 1e-3, &Parallel::single());
    close("y (plain)", &y, &LN_PLAIN_Y, 1e-4);
    close("dx (plain)", &dx, &LN_PLAIN_DX, 1e-4);
}

#[test]
fn layer_norm_without_saved_statistics_computes_the_same() {
    let [want, ..] = layer_norm(true, 1e-5, &Parallel::single());
    let mut y = vec![0.0; LN_X.len()];
    let par = Parallel::single();
    layernorm::forward(
        &LN_X,
        Some(&LN_WEIGHT),
        Some(&LN_BIAS),
        &mut y,
        None,
        WIDTH,
        1e-5,
        &par,
    );
    assert_eq!(y, want);
}

/// Large enough to split over threads: rows to threads, the parameter
/// gradients' columns to threads; same bits as one thread.
#[test]
fn layer_norm_threads_give_the_same_bits() {
    let mut rng = Rng::new(7);
    let (rows, width) = (700, 100);
    let x = random(rows * width, &mut rng);
    let dy = random(rows * width, &mut rng);
    let (w, b) = (random(width, &mut rng), random(width, &mut rng));
    let run = |par: &Parallel| {
        let mut y = vec![0.0; x.len()];
        let (mut m, mut s) = (vec![0.0; rows], vec![0.0; rows]);
        layernorm::forward(
            &x,
            Some(&w),
            Some(&b),
            &mut y,
            Some((&mut m, &mut s)),
            width,
            1e-5,
            par,
        );
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; width], vec![0.0; width]);
        let grads = Some((&mut dw[..], Some(&mut db[..])));
        layernorm::backward(&x, Some(&w), &dy, &m, &s, Some(&mut dx), grads, width, par);
        [y, dx, dw, db]
    };
    assert_eq!(run(&Parallel::single()), run(&Parallel::new(3)));
}

#[test]
fn layer_norm_backward_matches_finite_differences() {
    let mut rng = Rng::new(3);
    let (rows, width) = (3, 37);
    let x = random(rows * width, &mut rng);
    let dy = random(rows * width, &mut rng);
    let (w, b) = (random(width, &mut rng), random(width, &mut rng));
    let par = Parallel::single();
    let forward = |x: &[f32], w: &[f32], b: &[f32]| {
        let mut y = vec![0.0; x.len()];
        layernorm::forward(x, Some(w), Some(b), &mut y, None, width, 1e-5, &par);
        weighted_sum(&y, &dy)
    };
    let mut y = vec![0.0; x.len()];
    let (mut m, mut s) = (vec![0.0; rows], vec![0.0; rows]);
    layernorm::forward(
        &x,
        Some(&w),
        Some(&b),
        &mut y,
        Some((&mut m, &mut s)),
        width,
        1e-5,
        &par,
    );
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; width], vec![0.0; width]);
    let grads = Some((&mut dw[..], Some(&mut db[..])));
    layernorm::backward(&x, Some(&w), &dy, &m, &s, Some(&mut dx), grads, width, &par);
    check_gradient("dx", &x, &dx, |x| forward(x, &w, &b), 1e-2, 2e-3, 1e-2);
    check_gradient("dweight", &w, &dw, |w| forward(&x, w, &b), 1e-2, 2e-3, 1e-2);
    check_gradient("dbias", &b, &db, |b| forward(&x, &w, b), 1e-2, 2e-3, 1e-2);
}

#[test]
fn mean_matches_pytorch() {
    // [2, 3, 4] per sample batch of 2: axis 0 is `[outer 1, 3, inner 4]`,
    // axis 1 is `[outer 3, 4, inner 1]`, each times the batch.
    // (y, dy, dx, [outer, axis_len, inner]) of each axis.
    type Case<'a> = (&'a [f32], &'a [f32], &'a [f32], [usize; 3]);
    let cases: [Case; 2] = [
        (&MEAN0_Y, &MEAN0_DY, &MEAN0_DX, [2, 3, 4]),
        (&MEAN1_Y, &MEAN1_DY, &MEAN1_DX, [6, 4, 1]),
    ];
    for (want_y, dy, want_dx, [outer, axis_len, inner]) in cases {
        let mut y = vec![0.0; want_y.len()];
        mean::forward(&MEAN_X, &mut y, outer, axis_len, inner);
        close("mean y", &y, want_y, 1e-6);
        let mut dx = vec![0.0; MEAN_X.len()];
        mean::backward(dy, &mut dx, outer, axis_len, inner);
        close("mean dx", &dx, want_dx, 0.0);
    }
}

#[test]
fn mean_backward_matches_finite_differences() {
    let mut rng = Rng::new(5);
    for [outer, axis_len, inner] in [[2, 40, 1], [3, 5, 7]] {
        let x = random(outer * axis_len * inner, &mut rng);
        let dy = random(outer * inner, &mut rng);
        let loss = |x: &[f32]| {
            let mut y = vec![0.0; outer * inner];
            mean::forward(x, &mut y, outer, axis_len, inner);
            weighted_sum(&y, &dy)
        };
        let mut dx = vec![0.0; x.len()];
        mean::backward(&dy, &mut dx, outer, axis_len, inner);
        check_gradient("mean dx", &x, &dx, loss, 1e-2, 1e-4, 1e-3);
    }
}
