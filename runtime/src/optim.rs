//! Optimizers: PyTorch's update rules, operation for operation.
//!
//! Each follows the single-tensor path of `torch.optim` (the one PyTorch
//! takes for CPU tensors), in f32 with the scalar factors computed in f64
//! as Python does, so the updates match PyTorch's to rounding. State is kept
//! per parameter, as PyTorch's `optimizer.state[p]`; a parameter that never
//! receives a gradient is never touched, as PyTorch skips `p.grad is None`.

use crate::parallel::{Parallel, split_range};
use crate::plan::Optimizer;

/// The optimizer's state for every parameter of a model.
#[derive(Clone, Debug)]
pub struct OptimizerState {
    optimizer: Optimizer,
    /// Momentum buffer (SGD) or first moment `exp_avg` (Adam), laid out like the parameters.
    first: Vec<f32>,
    /// Second moment `exp_avg_sq` (Adam), laid out like the parameters.
    second: Vec<f32>,
    /// Steps taken per parameter (PyTorch's `state['step']`; for SGD, 0
    /// means the momentum buffer does not exist yet).
    steps: Vec<u64>,
}

impl OptimizerState {
    /// State for `params` parameters holding `len` values in all; `None`
    /// if the memory for it is not there.
    pub fn new(optimizer: Optimizer, len: usize, params: usize) -> Option<Self> {
        let needs_first = match optimizer {
            Optimizer::Sgd { momentum, .. } => momentum != 0.0,
            Optimizer::Adam { .. } | Optimizer::AdamW { .. } => true,
        };
        let needs_second = matches!(optimizer, Optimizer::Adam { .. } | Optimizer::AdamW { .. });
        let zeros = |n: usize| {
            let mut v = Vec::new();
            v.try_reserve_exact(n).ok()?;
            v.resize(n, 0.0f32);
            Some(v)
        };
        Some(OptimizerState {
            optimizer,
            first: zeros(if needs_first { len } else { 0 })?,
            second: zeros(if needs_second { len } else { 0 })?,
            steps: vec![0; params],
        })
    }

    pub fn optimizer(&self) -> Optimizer {
        self.optimizer
    }

    /// Changes the learning rate (other hyperparameters stay).
    pub fn set_lr(&mut self, lr: f32) {
        self.optimizer = self.optimizer.with_lr(lr);
    }

    /// Steps taken for parameter `param`.
    pub fn steps(&self, param: usize) -> u64 {
        self.steps[param]
    }

    /// The state buffers, for checkpoints: (first moment or momentum, second moment).
    pub fn buffers(&self) -> (&[f32], &[f32]) {
        (&self.first, &self.second)
    }

    /// Restores state saved with [`OptimizerState::buffers`] and [`OptimizerState::steps`].
    pub fn restore(&mut self, first: &[f32], second: &[f32], steps: &[u64]) -> Result<(), String> {
        if first.len() != self.first.len()
            || second.len() != self.second.len()
            || steps.len() != self.steps.len()
        {
            return Err(format!(
                "optimizer state sizes differ: expected {}/{}/{} values, found {}/{}/{}",
                self.first.len(),
                self.second.len(),
                self.steps.len(),
                first.len(),
                second.len(),
                steps.len()
            ));
        }
        self.first.copy_from_slice(first);
        self.second.copy_from_slice(second);
        self.steps.copy_from_slice(steps);
        Ok(())
    }

    /// One step for parameter number `param`, whose values are
    /// `params[offset..offset + grad.len()]`, with gradient `grad`. Large
    /// parameters are updated in slices on the threads of `par` (every
    /// element's arithmetic is the same either way).
    pub fn step(
        &mut self,
        param: usize,
        offset: usize,
        params: &mut [f32],
        grad: &[f32],
        par: &Parallel,
    ) {
        self.steps[param] += 1;
        let step = self.steps[param];
        let len = grad.len();
        let range = offset..offset + len;
        let optimizer = self.optimizer;
        let p = &mut params[range.clone()];
        let first = (!self.first.is_empty()).then(|| &mut self.first[range.clone()]);
        let second = (!self.second.is_empty()).then(|| &mut self.second[range]);
        // Below this a parallel call costs about what it saves.
        const MIN_PARALLEL: usize = 32 * 1024;
        if par.threads() == 1 || len < MIN_PARALLEL {
            update(optimizer, step, p, grad, first, second);
            return;
        }
        let p = SharedMut(p.as_mut_ptr());
        let first = first.map(|f| SharedMut(f.as_mut_ptr()));
        let second = second.map(|s| SharedMut(s.as_mut_ptr()));
        let threads = par.threads();
        par.for_each_thread(&|t| {
            let r = split_range(len, threads, t);
            // SAFETY: `split_range` gives each thread a disjoint part of
            // `0..len`, and each pointer addresses `len` elements (slices
            // of `params`, `first` and `second` borrowed for this call).
            let (p, first, second) = unsafe {
                (
                    std::slice::from_raw_parts_mut(p.at(r.start), r.len()),
                    first.map(|f| std::slice::from_raw_parts_mut(f.at(r.start), r.len())),
                    second.map(|s| std::slice::from_raw_parts_mut(s.at(r.start), r.len())),
                )
            };
            update(optimizer, step, p, &grad[r], first, second);
        });
    }
}

/// A pointer handed to the threads of one parallel update, each of which
/// touches a disjoint range behind it.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);

impl SharedMut {
    /// Through a method, so closures capture the whole (Sync) wrapper
    /// rather than the raw pointer field.
    fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: callers stay within the slice the pointer came from.
        unsafe { self.0.add(offset) }
    }
}

// SAFETY: only used by `OptimizerState::step`, whose threads write
// disjoint ranges and finish before the borrow it was made from ends.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

/// The update rule of `optimizer` on one slice of a parameter.
fn update(
    optimizer: Optimizer,
    step: u64,
    p: &mut [f32],
    grad: &[f32],
    first: Option<&mut [f32]>,
    second: Option<&mut [f32]>,
) {
    match optimizer {
        Optimizer::Sgd {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay,
        } => {
            let buf = if momentum != 0.0 { first } else { None };
            sgd(
                p,
                grad,
                buf,
                step == 1,
                lr,
                momentum,
                dampening,
                nesterov,
                weight_decay,
            );
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            let (m, v) = (
                first.expect("adam keeps exp_avg"),
                second.expect("adam keeps exp_avg_sq"),
            );
            adam(
                p,
                grad,
                m,
                v,
                step,
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                false,
            );
        }
        Optimizer::AdamW {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            let (m, v) = (
                first.expect("adamw keeps exp_avg"),
                second.expect("adamw keeps exp_avg_sq"),
            );
            adam(
                p,
                grad,
                m,
                v,
                step,
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                true,
            );
        }
    }
}

/// `torch.optim.SGD`: `d = g + wd·p`; with momentum `buf = d` on the first
/// step, else `buf = momentum·buf + (1 - dampening)·d`; `d = d + momentum·buf`
/// (Nesterov) or `d = buf`; `p -= lr·d`.
#[allow(clippy::too_many_arguments)]
fn sgd(
    p: &mut [f32],
    grad: &[f32],
    buf: Option<&mut [f32]>,
    first_step: bool,
    lr: f32,
    momentum: f32,
    dampening: f32,
    nesterov: bool,
    weight_decay: f32,
) {
    match buf {
        None => {
            for (p, &g) in p.iter_mut().zip(grad) {
                let d = if weight_decay != 0.0 {
                    g + weight_decay * *p
                } else {
                    g
                };
                *p -= lr * d;
            }
        }
        Some(buf) => {
            for ((p, &g), b) in p.iter_mut().zip(grad).zip(buf.iter_mut()) {
                let d = if weight_decay != 0.0 {
                    g + weight_decay * *p
                } else {
                    g
                };
                *b = if first_step {
                    d
                } else {
                    momentum * *b + (1.0 - dampening) * d
                };
                let d = if nesterov { d + momentum * *b } else { *b };
                *p -= lr * d;
            }
        }
    }
}

/// `torch.optim.Adam` / `AdamW`:
/// AdamW first decays `p *= 1 - lr·wd`; Adam instead adds `wd·p` to the
/// gradient. Then `m = lerp(m, g, 1 - β1)`, `v = β2·v + (1 - β2)·g²`,
/// `p -= (lr / (1 - β1ᵗ)) · m / (sqrt(v) / sqrt(1 - β2ᵗ) + eps)`.
#[allow(clippy::too_many_arguments)]
fn adam(
    p: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: u64,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decoupled: bool,
) {
    // Python computes these scalars in double precision.
    let bias_correction1 = 1.0 - (beta1 as f64).powf(step as f64);
    let bias_correction2 = 1.0 - (beta2 as f64).powf(step as f64);
    let step_size = (lr as f64 / bias_correction1) as f32;
    let bias_correction2_sqrt = bias_correction2.sqrt() as f32;
    let decay = (1.0 - lr as f64 * weight_decay as f64) as f32;
    let weight = 1.0 - beta1;
    for (((p, &g), m), v) in p.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = if decoupled {
            *p *= decay;
            g
        } else if weight_decay != 0.0 {
            g + weight_decay * *p
        } else {
            g
        };
        // torch.lerp: start + weight·(end - start)
        *m += weight * (g - *m);
        *v = *v * beta2 + (1.0 - beta2) * g * g;
        let denom = v.sqrt() / bias_correction2_sqrt + eps;
        *p -= step_size * (*m / denom);
    }
}

#[cfg(test)]
mod tests {
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
}
