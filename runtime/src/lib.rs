//! nnspec's runtime: everything that runs a checked model.
//!
//! It owns the f32 kernels (forward and backward for every op of the
//! language), the [`plan::Plan`] that lowering produces and the executor that
//! runs it, the optimizers, parameter initialization, losses and metrics,
//! data set loaders, and safetensors checkpoints. It depends on no compiler
//! crate. The kernels, the plan, the CPU tiers and the optimizers' update
//! rules live in the `#![no_std]` crate `nnspec-runtime-core` (re-exported
//! here under their old paths); this crate adds what needs `std`: the thread
//! pool, the executor's owned storage, the training loop, data loading,
//! checkpoints, metrics and plots.

// The no_std core, under the paths every crate has always used.
pub use nnspec_runtime_core::{
    Vec, cpu, forward, gemm, infer, init, kernels, math, optim_rules, plan, rng, threads, training,
    views,
};
// The int8 scheme, plan and executor (issue 12).
pub use nnspec_runtime_core::quant;

pub mod atomic_write;
pub mod checkpoint;
pub mod data;
pub mod exec;
pub mod metrics;
pub mod optim;
pub mod parallel;
pub mod plot;
pub mod quantize;
pub mod regression;
pub mod safetensors_file;
pub mod schedule;
pub mod train;
