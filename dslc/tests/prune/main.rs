//! `dslc prune`: magnitude pruning held to independent oracles.
//!
//! - Structured: the units removed are the ones a naive f64 L2 ranking in
//!   oracle.rs picks, and the smaller model computes what the original
//!   computes with those units' outgoing weights zeroed (evaluated by
//!   `dslc eval` on the original model file); with fine-tuning the
//!   tutorial's digits MLP keeps its accuracy within a point, and its
//!   written files check, evaluate and shrink as printed.
//! - Unstructured: exactly `round(S·n)` zeros per weight, all of them no
//!   larger than any weight kept, biases untouched; S = 0 changes no bit;
//!   S = 1 leaves the biases; fine-tuning keeps pruned weights at zero.
//! - fp16: F16 in the file, half the size, values within half precision's
//!   rounding, accuracy within 0.2 points.
//! - Structures that keep a layer whole are reported and left as they are.

#[path = "../common/mod.rs"]
mod common;
mod oracle;
mod structured;
mod unstructured;
