//! nnspec's runtime: everything that runs a checked model.
//!
//! It owns the f32 kernels (forward and backward for every op of the
//! language), the [`plan::Plan`] that lowering produces and the executor that
//! runs it, the optimizers, parameter initialization, losses and metrics,
//! data set loaders, and safetensors checkpoints. It depends on no compiler
//! crate: generated code and deployed binaries link this crate alone.

extern crate alloc;

pub mod atomic_write;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod exec;
pub mod gemm;
pub mod kernels;
pub mod math;
pub mod metrics;
pub mod optim;
pub mod optim_rules;
pub mod parallel;
pub mod plan;
pub mod plot;
pub mod rng;
pub mod safetensors_file;
pub mod threads;
pub mod train;
