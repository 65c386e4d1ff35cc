//! The optimizers' update rules: PyTorch's, operation for operation.
//!
//! Each follows the single-tensor path of `torch.optim` (the one PyTorch
//! takes for CPU tensors), in f32 with the scalar factors computed in f64
//! as Python does, so the updates match PyTorch's to rounding. These are
//! the per-element rules on one slice of a parameter; the state they
//! update (momentum, moments, step counts) is owned by the caller
//! (`nnspec_runtime::optim::OptimizerState`).

use crate::plan::Optimizer;
use crate::threads::{Threads, split_range};

/// The update rule of `optimizer` on one slice of a parameter.
pub fn update(
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

/// [`update`] on a whole parameter, in slices on the threads of `par` when
/// it is large (every element's arithmetic is the same either way, so the
/// result does not depend on the thread count).
pub fn update_par(
    optimizer: Optimizer,
    step: u64,
    p: &mut [f32],
    grad: &[f32],
    first: Option<&mut [f32]>,
    second: Option<&mut [f32]>,
    par: &dyn Threads,
) {
    let len = grad.len();
    assert_eq!(p.len(), len, "update_par: parameter and gradient lengths");
    // Below this a parallel call costs about what it saves.
    const MIN_PARALLEL: usize = 32 * 1024;
    let threads = par.threads();
    if threads == 1 || len < MIN_PARALLEL {
        update(optimizer, step, p, grad, first, second);
        return;
    }
    let p = SharedMut(p.as_mut_ptr());
    let first = first.map(|f| {
        assert_eq!(f.len(), len, "update_par: first moment length");
        SharedMut(f.as_mut_ptr())
    });
    let second = second.map(|s| {
        assert_eq!(s.len(), len, "update_par: second moment length");
        SharedMut(s.as_mut_ptr())
    });
    par.for_each_thread(&|t| {
        let r = split_range(len, threads, t);
        // SAFETY: `split_range` gives each task a disjoint part of
        // `0..len`, and each pointer addresses `len` elements (slices
        // borrowed for this call, which outlives the tasks).
        let (p, first, second) = unsafe {
            (
                core::slice::from_raw_parts_mut(p.at(r.start), r.len()),
                first.map(|f| core::slice::from_raw_parts_mut(f.at(r.start), r.len())),
                second.map(|s| core::slice::from_raw_parts_mut(s.at(r.start), r.len())),
            )
        };
        update(optimizer, step, p, &grad[r], first, second);
    });
}

/// A pointer handed to the tasks of one parallel update, each of which
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

// SAFETY: only used by `update_par`, whose tasks write disjoint ranges and
// finish before the borrow the pointer came from ends.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

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
    let bias_correction1 = 1.0 - crate::math::powf(beta1 as f64, step as f64);
    let bias_correction2 = 1.0 - crate::math::powf(beta2 as f64, step as f64);
    let step_size = (lr as f64 / bias_correction1) as f32;
    let bias_correction2_sqrt = crate::math::sqrt(bias_correction2) as f32;
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
        let denom = crate::math::sqrtf(*v) / bias_correction2_sqrt + eps;
        *p -= step_size * (*m / denom);
    }
}
