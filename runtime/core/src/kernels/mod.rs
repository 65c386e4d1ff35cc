//! f32 kernels: forward and backward for every op of the language.
//!
//! Every kernel works on plain row-major slices (NCHW for images; the batch
//! is the leading dimension) with its dimensions passed explicitly, so the
//! executor, generated code and tests can all call it the same way. Backward
//! kernels overwrite their gradient outputs; where a value feeds several
//! consumers, the Plan sums the per-consumer gradients with a separate step.

pub mod activation;
pub mod attention;
pub mod batchnorm;
pub mod concat;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod elementwise;
pub mod embedding;
pub mod last;
pub mod layernorm;
pub mod loss;
pub mod loss_targets;
pub mod lstm;
pub mod pool;
pub mod reduce;
pub mod softmax;
mod window;
