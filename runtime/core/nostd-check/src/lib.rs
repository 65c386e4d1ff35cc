//! A `#![no_std]` crate standing in for a deploy build: it runs an
//! inference [`Plan`] through `nnspec-runtime-core` in memory its caller
//! provides. Its tests check the outputs against the `std` executor, that
//! the call allocates nothing, and which crates a deploy build pulls in.
#![no_std]

use nnspec_runtime_core::infer;
use nnspec_runtime_core::plan::Plan;
use nnspec_runtime_core::threads::Serial;

/// Floats of the arena [`classify`] needs for batches of `batch` samples.
pub fn arena_len(plan: &Plan, batch: usize) -> usize {
    infer::arena_len(plan, batch, 1).expect("arena size overflows")
}

/// Runs `plan` on the `batch` samples in `input` with parameters `params`
/// on the calling thread, in `arena` (at least [`arena_len`] floats), and
/// returns the first output (`batch ×` its per-sample size), a part of
/// `arena`. Allocates nothing.
pub fn classify<'a>(
    plan: &Plan,
    params: &[f32],
    arena: &'a mut [f32],
    input: &[f32],
    batch: usize,
) -> &'a [f32] {
    arena[infer::input_range(plan, batch)].copy_from_slice(input);
    infer::run(plan, params, arena, batch, &Serial);
    &arena[infer::output_range(plan, batch, 0)]
}
