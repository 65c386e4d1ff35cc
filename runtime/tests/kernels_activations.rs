//! The smooth activations (`gelu` in both forms, `silu`, `hardswish`,
//! `elu`, `softplus`) against PyTorch, on every kernel tier this CPU runs
//! (selected explicitly, so `NNSPEC_KERNELS` does not matter):
//!
//! * forward and gradient (dy = 1) at fixed inputs against literals
//!   printed by `bench/pytorch_activations.py` (torch 2.15, f32): within
//!   1e-6 relative (`|got - want| <= 1e-6·|want|`, so exact where PyTorch
//!   gives 0), about 8 ulps, for libm's functions and PyTorch's vectorized
//!   ones round differently; where f32 cancels (gelu near -3) PyTorch's
//!   own value is further than that from the function, and there the
//!   kernel must be no further from the f64 value than PyTorch is;
//! * the same bits on every tier, on wide inputs with NaN, infinities and
//!   signed zeros;
//! * backward against central finite differences of the forward.

mod common;

use common::{check_gradient, random, weighted_sum};
use nnspec_runtime::cpu::{self, Tier};
use nnspec_runtime::kernels::activation::{elu, gelu, gelu_tanh, hardswish, silu, softplus};
use nnspec_runtime::rng::Rng;

/// The output of `bench/pytorch_activations.py`, verbatim (9 significant
/// digits for f32, as many as round-trip, and 17 for f64), so a rerun
/// diffs cleanly; one line per array.
#[rustfmt::skip]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod pytorch {
// torch 2.15.0+cu132, f32, dy = 1
pub const X: [f32; 17] = [-30.0, -20.5, -3.0, -1.0, -0.5, -0.001, 0.0, 0.001, 0.5, 1.0, 2.5, 2.625, 3.0, 19.5, 20.0, 20.5, 30.0];
pub const GELU_Y: [f32; 17] = [-0.0, -0.0, -0.00405022502, -0.158655256, -0.154268771, -0.000499601068, 0.0, 0.000500398979, 0.345731229, 0.841344714, 2.48447585, 2.61362743, 2.99594975, 19.5, 20.0, 20.5, 30.0];
pub const GELU_DX: [f32; 17] = [0.0, 0.0, -0.0119456053, -0.0833154321, 0.13250491, 0.499202192, 0.5, 0.500797808, 0.86749506, 1.08331537, 1.03761101, 1.02906847, 1.01194561, 1.0, 1.0, 1.0, 1.0];
pub const GELU_Y64: [f64; 17] = [-0.0, -0.0, -0.0040496940948903104, -0.15865525393145702, -0.15426876936299344, -0.00049960105778608897, 0.0, 0.00050039894221391105, 0.34573123063700656, 0.84134474606854304, 2.4844758366855597, 2.6136273230470923, 2.9959503059051098, 19.5, 20.0, 20.5, 30.0];
pub const GELU_DX64: [f64; 17] = [-4.420938404635643e-195, -4.5345679794316694e-91, -0.01194564720418392, -0.083315470587686347, 0.13250487534383712, 0.4992021157051586, 0.5, 0.5007978842948414, 0.86749512465616285, 1.0833154705876864, 1.0376110859081451, 1.02906852832867, 1.0119456472041839, 1.0, 1.0, 1.0, 1.0];
pub const GELU_TANH_Y: [f32; 17] = [-0.0, -0.0, -0.00363743305, -0.158807993, -0.154285997, -0.000499601068, 0.0, 0.000500398979, 0.345714003, 0.841192007, 2.48491573, 2.61409616, 2.99636269, 19.5, 20.0, 20.5, 30.0];
pub const GELU_TANH_DX: [f32; 17] = [0.0, 0.0, -0.0115842968, -0.0829640925, 0.13263011, 0.499202132, 0.5, 0.500797868, 0.86736989, 1.08296406, 1.03795171, 1.0291909, 1.01158428, 1.0, 1.0, 1.0, 1.0];
pub const GELU_TANH_Y64: [f64; 17] = [-0.0, -0.0, -0.0036373920817729943, -0.15880800939172329, -0.15428599017485606, -0.00049960105778641803, 0.0, 0.00050039894221358199, 0.34571400982514394, 0.84119199060827676, 2.4849157339100012, 2.6140960883035089, 2.9963626079182268, 19.5, 20.0, 20.5, 30.0];
pub const GELU_TANH_DX64: [f64; 17] = [0.0, 0.0, -0.011584166630969648, -0.082964083845782577, 0.13263009646535764, 0.49920211570647499, 0.5, 0.50079788429352501, 0.86736990353464238, 1.0829640838457826, 1.0379515762126661, 1.0291908494295616, 1.0115841666309695, 1.0, 1.0, 1.0, 1.0];
pub const SILU_Y: [f32; 17] = [-2.80728695e-12, -2.56281325e-08, -0.142277613, -0.268941432, -0.188770339, -0.000499750022, 0.0, 0.000500250026, 0.311229676, 0.731058598, 2.31035447, 2.44768977, 2.85772252, 19.5, 20.0, 20.5, 30.0];
pub const SILU_DX: [f32; 17] = [-2.71371077e-12, -2.43779805e-08, -0.0881041065, 0.0723294839, 0.260038823, 0.499500006, 0.5, 0.500499964, 0.739961207, 0.927670538, 1.09940112, 1.09778666, 1.08810413, 1.0, 1.0, 1.0, 1.0];
pub const SILU_Y64: [f64; 17] = [-2.8072868906517896e-12, -2.5628133728889141e-08, -0.14227761953270035, -0.2689414213699951, -0.1887703343990727, -0.00049975000002083336, 0.0, 0.00050024999997916667, 0.3112296656009273, 0.7310585786300049, 2.3103545499468914, 2.4476899357584738, 2.8577223804672998, 19.499999933733775, 19.999999958776925, 20.499999974371867, 29.999999999997197];
pub const SILU_DX64: [f64; 17] = [-2.7137106609631341e-12, -2.4377980832026195e-08, -0.088104106015169617, 0.072329488128513253, 0.26003881269734819, 0.49950000008333328, 0.5, 0.5004999999166666, 0.73996118730265192, 0.92767051187148686, 1.0994011113415267, 1.0977866649566272, 1.0881041060151693, 1.0000000628679557, 1.0000000391619202, 1.000000024377981, 1.0000000000027109];
pub const HARDSWISH_Y: [f32; 17] = [-0.0, -0.0, -0.0, -0.333333343, -0.208333328, -0.000499833375, 0.0, 0.000500166672, 0.291666657, 0.666666687, 2.29166675, 2.4609375, 3.0, 19.5, 20.0, 20.5, 30.0];
pub const HARDSWISH_DX: [f32; 17] = [0.0, 0.0, 0.0, 0.166666657, 0.333333313, 0.499666661, 0.5, 0.500333309, 0.666666687, 0.833333373, 1.33333325, 1.375, 1.0, 1.0, 1.0, 1.0, 1.0];
pub const HARDSWISH_Y64: [f64; 17] = [-0.0, -0.0, -0.0, -0.33333333333333331, -0.20833333333333334, -0.00049983333333333336, 0.0, 0.00050016666666666666, 0.29166666666666669, 0.66666666666666663, 2.2916666666666665, 2.4609375, 3.0, 19.5, 20.0, 20.5, 30.0];
pub const HARDSWISH_DX64: [f64; 17] = [0.0, 0.0, 0.0, 0.16666666666666669, 0.33333333333333337, 0.49966666666666665, 0.5, 0.5003333333333333, 0.66666666666666663, 0.83333333333333326, 1.3333333333333335, 1.375, 1.0, 1.0, 1.0, 1.0, 1.0];
pub const ELU_Y: [f32; 17] = [-1.0, -1.0, -0.950212955, -0.63212055, -0.393469334, -0.00099950016, 0.0, 0.00100000005, 0.5, 1.0, 2.5, 2.625, 3.0, 19.5, 20.0, 20.5, 30.0];
pub const ELU_DX: [f32; 17] = [9.35762291e-14, 1.25015287e-09, 0.0497870669, 0.36787945, 0.606530666, 0.99900049, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
pub const ELU_Y64: [f64; 17] = [-0.99999999999990641, -0.99999999874984713, -0.95021293163213605, -0.63212055882855767, -0.39346934028736658, -0.00099950016662500845, 0.0, 0.001, 0.5, 1.0, 2.5, 2.625, 3.0, 19.5, 20.0, 20.5, 30.0];
pub const ELU_DX64: [f64; 17] = [9.3576229688401748e-14, 1.2501528663867428e-09, 0.049787068367863944, 0.36787944117144233, 0.60653065971263342, 0.99900049983337502, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
pub const ELU_HALF_Y: [f32; 17] = [-0.5, -0.5, -0.475106478, -0.316060275, -0.196734667, -0.00049975008, 0.0, 0.00100000005, 0.5, 1.0, 2.5, 2.625, 3.0, 19.5, 20.0, 20.5, 30.0];
pub const ELU_HALF_DX: [f32; 17] = [4.67881146e-14, 6.25076435e-10, 0.0248935334, 0.183939725, 0.303265333, 0.499500245, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
pub const ELU_HALF_Y64: [f64; 17] = [-0.4999999999999532, -0.49999999937492356, -0.47510646581606802, -0.31606027941427883, -0.19673467014368329, -0.00049975008331250423, 0.0, 0.001, 0.5, 1.0, 2.5, 2.625, 3.0, 19.5, 20.0, 20.5, 30.0];
pub const ELU_HALF_DX64: [f64; 17] = [4.6788114844200874e-14, 6.2507643319337139e-10, 0.024893534183931972, 0.18393972058572117, 0.30326532985631671, 0.49950024991668751, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
pub const SOFTPLUS_Y: [f32; 17] = [9.35762291e-14, 1.25015287e-09, 0.048587352, 0.313261688, 0.474076986, 0.692647278, 0.693147182, 0.693647325, 0.974076986, 1.31326163, 2.57888985, 2.69493628, 3.04858732, 19.5, 20.0, 20.5, 30.0];
pub const SOFTPLUS_DX: [f32; 17] = [9.35762291e-14, 1.25015287e-09, 0.0474258736, 0.268941432, 0.377540678, 0.499749988, 0.5, 0.500250041, 0.622459352, 0.731058598, 0.924141824, 0.932453334, 0.952574134, 1.0, 1.0, 1.0, 1.0];
pub const SOFTPLUS_Y64: [f64; 17] = [9.3576229688397368e-14, 1.2501528656053017e-09, 0.048587351573742062, 0.31326168751822286, 0.47407698418010669, 0.69264730555994014, 0.69314718055994529, 0.69364730555994014, 0.97407698418010669, 1.3132616875182228, 2.5788897342925496, 2.6949361996449732, 3.0485873515737421, 19.500000003398267, 20.000000002061153, 20.5, 30.0];
pub const SOFTPLUS_DX64: [f64; 17] = [9.3576229688393001e-14, 1.2501528648238605e-09, 0.047425873177566788, 0.2689414213699951, 0.37754066879814546, 0.49975000002083336, 0.5, 0.50024999997916664, 0.62245933120185459, 0.7310585786300049, 0.92414181997875644, 0.93245330886037092, 0.95257412682243325, 0.99999999660173222, 0.99999999793884642, 1.0, 1.0];
pub const SOFTPLUS_BETA2_Y: [f32; 17] = [4.37825545e-27, 7.81441092e-19, 0.0012378426, 0.0634640008, 0.156630844, 0.346073836, 0.346573591, 0.347073853, 0.656630814, 1.06346405, 2.50335765, 2.625, 3.0, 19.5, 20.0, 20.5, 30.0];
pub const SOFTPLUS_BETA2_DX: [f32; 17] = [8.75651089e-27, 1.56288218e-18, 0.00247262325, 0.119202919, 0.268941432, 0.499499977, 0.5, 0.500500023, 0.731058598, 0.880797088, 0.993307173, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
pub const SOFTPLUS_BETA2_Y64: [f64; 17] = [4.37825538134826e-27, 7.814410946674944e-19, 0.0012378425688652247, 0.063464005521486247, 0.15663084375911143, 0.34607384027993099, 0.34657359027997264, 0.34707384027993099, 0.6566308437591114, 1.0634640055214863, 2.5033576742445591, 2.625, 3.0, 19.5, 20.0, 20.5, 30.0];
pub const SOFTPLUS_BETA2_DX64: [f64; 17] = [8.75651076269652e-27, 1.5628821893349888e-18, 0.0024726231566347748, 0.11920292202211755, 0.2689414213699951, 0.49950000016666657, 0.5, 0.50049999983333338, 0.7310585786300049, 0.88079707797788243, 0.99330714907571516, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
}

use pytorch::*;

type Forward = Box<dyn Fn(Tier, &[f32], &mut [f32])>;
type Backward = Box<dyn Fn(Tier, &[f32], &[f32], &mut [f32])>;

/// Every activation (with the arguments of its literals) by tier.
fn kernels() -> Vec<(&'static str, Forward, Backward)> {
    vec![
        (
            "gelu",
            Box::new(gelu::forward::for_tier),
            Box::new(gelu::backward::for_tier),
        ),
        (
            "gelu_tanh",
            Box::new(gelu_tanh::forward::for_tier),
            Box::new(gelu_tanh::backward::for_tier),
        ),
        (
            "silu",
            Box::new(silu::forward::for_tier),
            Box::new(silu::backward::for_tier),
        ),
        (
            "hardswish",
            Box::new(hardswish::forward::for_tier),
            Box::new(hardswish::backward::for_tier),
        ),
        (
            "elu",
            Box::new(|t, x, y| elu::forward::for_tier(t, x, y, 1.0)),
            Box::new(|t, x, dy, dx| elu::backward::for_tier(t, x, dy, dx, 1.0)),
        ),
        (
            "elu_half",
            Box::new(|t, x, y| elu::forward::for_tier(t, x, y, 0.5)),
            Box::new(|t, x, dy, dx| elu::backward::for_tier(t, x, dy, dx, 0.5)),
        ),
        (
            "softplus",
            Box::new(|t, x, y| softplus::forward::for_tier(t, x, y, 1.0, 20.0)),
            Box::new(|t, x, dy, dx| softplus::backward::for_tier(t, x, dy, dx, 1.0, 20.0)),
        ),
        (
            "softplus_beta2",
            Box::new(|t, x, y| softplus::forward::for_tier(t, x, y, 2.0, 5.0)),
            Box::new(|t, x, dy, dx| softplus::backward::for_tier(t, x, dy, dx, 2.0, 5.0)),
        ),
    ]
}

/// PyTorch's f32 forward and gradient, then the f64 ones.
type Literals = (
    &'static [f32; 17],
    &'static [f32; 17],
    &'static [f64; 17],
    &'static [f64; 17],
);

fn literals(name: &str) -> Literals {
    match name {
        "gelu" => (&GELU_Y, &GELU_DX, &GELU_Y64, &GELU_DX64),
        "gelu_tanh" => (&GELU_TANH_Y, &GELU_TANH_DX, &GELU_TANH_Y64, &GELU_TANH_DX64),
        "silu" => (&SILU_Y, &SILU_DX, &SILU_Y64, &SILU_DX64),
        "hardswish" => (&HARDSWISH_Y, &HARDSWISH_DX, &HARDSWISH_Y64, &HARDSWISH_DX64),
        "elu" => (&ELU_Y, &ELU_DX, &ELU_Y64, &ELU_DX64),
        "elu_half" => (&ELU_HALF_Y, &ELU_HALF_DX, &ELU_HALF_Y64, &ELU_HALF_DX64),
        "softplus" => (&SOFTPLUS_Y, &SOFTPLUS_DX, &SOFTPLUS_Y64, &SOFTPLUS_DX64),
        "softplus_beta2" => (
            &SOFTPLUS_BETA2_Y,
            &SOFTPLUS_BETA2_DX,
            &SOFTPLUS_BETA2_Y64,
            &SOFTPLUS_BETA2_DX64,
        ),
        other => panic!("no literals for {other}"),
    }
}

/// `got` is within 1e-6 relative of PyTorch's f32 `want`, or, where
/// PyTorch's f32 itself is further than that from the function (`exact`,
/// its f64 value), no further from `exact` than PyTorch is (plus 1e-6
/// relative).
fn assert_matches(got: &[f32], want: &[f32], exact: &[f64], what: &str) {
    for (i, ((&g, &w), &e)) in got.iter().zip(want).zip(exact).enumerate() {
        let (g, w) = (f64::from(g), f64::from(w));
        let near_pytorch = (g - w).abs() <= 1e-6 * w.abs();
        let as_accurate = (g - e).abs() <= (w - e).abs() + 1e-6 * e.abs();
        assert!(
            near_pytorch || as_accurate,
            "{what}[{i}] (x = {}): got {g:e}, PyTorch {w:e}, exact {e:e}",
            X[i]
        );
    }
}

#[test]
fn forward_and_backward_match_pytorch_on_every_tier() {
    for tier in cpu::supported_tiers() {
        for (name, forward, backward) in kernels() {
            let (want_y, want_dx, exact_y, exact_dx) = literals(name);
            let mut y = [f32::NAN; 17];
            forward(tier, &X, &mut y);
            assert_matches(&y, want_y, exact_y, &format!("{name} forward on {tier}"));
            let mut dx = [f32::NAN; 17];
            backward(tier, &X, &[1.0; 17], &mut dx);
            assert_matches(
                &dx,
                want_dx,
                exact_dx,
                &format!("{name} backward on {tier}"),
            );
        }
    }
}

#[test]
fn every_tier_gives_the_same_bits() {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for len in [1, 15, 16, 17, 33, 257] {
        let mut rng = Rng::new(len as u64 + 40);
        let mut x: Vec<f32> = random(len, &mut rng).iter().map(|v| v * 100.0).collect();
        let specials = [f32::NAN, -0.0, 0.0, f32::INFINITY, f32::NEG_INFINITY];
        for (x, special) in x.iter_mut().zip(specials) {
            *x = special;
        }
        let dy = random(len, &mut rng);
        for (name, forward, backward) in kernels() {
            let run = |tier| {
                let (mut y, mut dx) = (vec![0.0; len], vec![0.0; len]);
                forward(tier, &x, &mut y);
                backward(tier, &x, &dy, &mut dx);
                (bits(&y), bits(&dx))
            };
            let want = run(Tier::Portable);
            for tier in cpu::supported_tiers() {
                assert_eq!(run(tier), want, "{name} len {len} on {tier}");
            }
        }
    }
}

#[test]
fn backwards_match_finite_differences() {
    for (case, len) in [1usize, 16, 17, 100].into_iter().enumerate() {
        let mut rng = Rng::new(500 + case as u64);
        // Over ±4, nudged off hardswish's corners at ±3, elu's at 0 and
        // softplus_beta2's threshold at 2.5 so no difference step crosses
        // a kink or a jump.
        let off = |v: f32, at: f32| (v - at).abs() < 0.05;
        let x: Vec<f32> = random(len, &mut rng)
            .iter()
            .map(|v| v * 4.0)
            .map(|v| if off(v, 2.5) { v + 0.1 } else { v })
            .map(|v| {
                if (v.abs() - 3.0).abs() < 0.05 || v.abs() < 0.05 {
                    v + 0.1
                } else {
                    v
                }
            })
            .collect();
        let wts = random(len, &mut rng);
        for (name, forward, backward) in kernels() {
            let mut dx = vec![0.0; len];
            backward(Tier::Portable, &x, &wts, &mut dx);
            let loss = |x: &[f32]| {
                let mut y = vec![0.0; x.len()];
                forward(Tier::Portable, x, &mut y);
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
}
