//! The optimizers against PyTorch's numbers, step for step.

// The expected values are PyTorch's f32 results as Python prints them.
#![allow(clippy::excessive_precision)]

use super::*;

const GRADS: [[f32; 3]; 3] = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.0, 0.2]];

/// Three steps on p = [1, -2, 0.5] with the gradients above; `expected`
/// holds what PyTorch 2.15 gives after each step (the script is in
/// bench/pytorch_optimizers.py).
fn check(optimizer: Optimizer, expected: [[f32; 3]; 3]) {
    let mut params = vec![1.0f32, -2.0, 0.5];
    let mut state = OptimizerState::new(optimizer, 3, 1).unwrap();
    for (grad, want) in GRADS.iter().zip(expected) {
        state.step(0, 0, &mut params, grad, &Parallel::single());
        for (got, want) in params.iter().zip(want) {
            assert!(
                (got - want).abs() <= 2e-7 * want.abs().max(1.0),
                "{optimizer:?}: got {params:?}, PyTorch {want:?}"
            );
        }
    }
}

fn sgd(lr: f32, momentum: f32, dampening: f32, nesterov: bool, weight_decay: f32) -> Optimizer {
    Optimizer::Sgd {
        lr,
        momentum,
        dampening,
        nesterov,
        weight_decay,
    }
}

#[test]
fn sgd_matches_pytorch() {
    check(
        sgd(0.1, 0.0, 0.0, false, 0.0),
        [
            [0.99, -1.98, 0.47],
            [0.985, -2.02, 0.48],
            [1.015, -2.02, 0.46],
        ],
    );
}

#[test]
fn sgd_momentum_matches_pytorch() {
    check(
        sgd(0.1, 0.9, 0.0, false, 0.0),
        [
            [0.99, -1.98, 0.47],
            [0.976, -2.002_000_1, 0.453],
            [0.993_400_04, -2.021_800_0, 0.417_7],
        ],
    );
}

#[test]
fn sgd_dampening_and_weight_decay_match_pytorch() {
    check(
        sgd(0.1, 0.9, 0.5, false, 0.01),
        [
            [0.989_000_02, -1.978_000_0, 0.469_500_01],
            [0.976_105_5, -1.977_211, 0.446_815_25],
            [0.979_012_4, -1.975_512_3, 0.416_175_57],
        ],
    );
}

#[test]
fn sgd_nesterov_matches_pytorch() {
    check(
        sgd(0.1, 0.9, 0.0, true, 0.1),
        [
            [0.962, -1.924, 0.433_5],
            [0.918_022_04, -1.931_044, 0.415_913_5],
            [0.931_157_4, -1.882_009_7, 0.349_084_8],
        ],
    );
}

#[test]
fn adam_matches_pytorch() {
    let adam = Optimizer::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    check(
        adam,
        [
            [0.99, -1.99, 0.49],
            [0.980_678_2, -1.993_661, 0.485_997_83],
            [0.984_150_4, -1.996_491_1, 0.479_966_97],
        ],
    );
    let adam_wd = Optimizer::Adam {
        lr: 0.01,
        beta1: 0.8,
        beta2: 0.99,
        eps: 1e-6,
        weight_decay: 0.1,
    };
    check(
        adam_wd,
        [
            [0.990_000_07, -1.99, 0.490_000_04],
            [0.980_258_9, -1.987_908_4, 0.484_900_92],
            [0.979_258_6, -1.983_637, 0.477_800_2],
        ],
    );
}

#[test]
fn adamw_matches_pytorch() {
    let adamw = Optimizer::AdamW {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
    };
    check(
        adamw,
        [
            [0.989_9, -1.989_8, 0.489_95],
            [0.980_479_2, -1.993_262, 0.485_898_82],
            [0.983_853_34, -1.995_892_8, 0.479_819_36],
        ],
    );
    let adamw_wd = Optimizer::AdamW {
        lr: 0.05,
        beta1: 0.5,
        beta2: 0.9,
        eps: 1e-4,
        weight_decay: 0.2,
    };
    check(
        adamw_wd,
        [
            [0.940_049_95, -1.930_025, 0.445_016_65],
            [0.887_858_8, -1.941_850_1, 0.432_954_34],
            [0.916_080_06, -1.939_223, 0.398_328_3],
        ],
    );
}

/// The threaded update gives the same numbers as the serial one.
#[test]
fn parallel_update_matches_serial() {
    let len = 100_003;
    let grad: Vec<f32> = (0..len).map(|i| ((i % 97) as f32 - 48.0) * 1e-3).collect();
    for optimizer in [
        sgd(0.1, 0.9, 0.1, true, 0.01),
        Optimizer::AdamW {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        },
    ] {
        let run = |par: &Parallel| {
            let mut params: Vec<f32> = (0..len).map(|i| (i % 13) as f32 * 0.1).collect();
            let mut state = OptimizerState::new(optimizer, len, 1).unwrap();
            for _ in 0..3 {
                state.step(0, 0, &mut params, &grad, par);
            }
            params
        };
        assert_eq!(
            run(&Parallel::single()),
            run(&Parallel::new(2)),
            "{optimizer:?}"
        );
    }
}

#[test]
fn parameters_keep_their_own_state() {
    let sgd = sgd(0.1, 0.9, 0.0, false, 0.0);
    let mut params = vec![1.0f32, 1.0];
    let mut state = OptimizerState::new(sgd, 2, 2).unwrap();
    // Parameter 0 steps twice, parameter 1 once: its first step must
    // initialize its momentum buffer, not blend into a stale one.
    let par = Parallel::single();
    state.step(0, 0, &mut params, &[1.0], &par);
    state.step(0, 0, &mut params, &[1.0], &par);
    state.step(1, 1, &mut params, &[1.0], &par);
    assert!((params[0] - (1.0 - 0.1 - 0.19)).abs() < 1e-6);
    assert!((params[1] - 0.9).abs() < 1e-6);
    assert_eq!((state.steps(0), state.steps(1)), (2, 1));
}
