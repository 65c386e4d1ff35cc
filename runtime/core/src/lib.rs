//! nnspec's runtime core: what a deployed model needs, without `std`.
//!
//! It owns the f32 kernels (forward and backward for every op of the
//! language), the matrix products under them and their CPU tiers, the
//! optimizers' update rules, the [`plan::Plan`] that lowering produces, and
//! [`infer`]: running a plan's forward steps over a caller-provided arena,
//! without allocating. It uses `alloc` only for the plan's own tables (and
//! the scratch of a few training-only kernels); threads come from the
//! caller through [`threads::Threads`].
//!
//! The `std` feature (which `nnspec-runtime` turns on) swaps in the
//! standard library where it is faster or already the reference: its float
//! functions, the `gemm` crate for the portable tier, thread-local scratch,
//! and the `NNSPEC_KERNELS` environment variable.
#![no_std]

#[macro_use]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod backward;
pub mod cpu;
pub mod forward;
pub mod gemm;
pub mod infer;
pub mod init;
pub mod kernels;
pub mod math;
pub mod optim_rules;
pub mod plan;
pub mod quant;
pub mod rng;
#[cfg(target_arch = "x86_64")]
mod simd;
pub mod threads;
pub mod training;
pub mod views;

/// `alloc`'s owning types, for generated code in crates that do not name
/// `alloc` themselves.
pub use alloc::vec::Vec;
