//! From the checked IR to something that runs.
//!
//! - [`lower`]: IR to a [`nnspec_runtime::plan::Plan`]: forward steps, the
//!   backward pass by reverse-mode differentiation, the loss, parameter
//!   initialization and the buffer layout. The runtime's executor runs it.

pub mod lower;

pub use lower::{lower_inference, lower_training};
