//! nnspec: describe a neural network once in the `.nn` language, then check,
//! train, evaluate and deploy it from Rust.
//!
//! This facade re-exports the crates users need: the language front end
//! ([`dsl`]), lowering and code generation ([`codegen`]), the runtime
//! ([`runtime`]), and the [`model!`] macro, whose expansion names the
//! runtime through this crate (`::nnspec::runtime`).

pub use nnspec_codegen as codegen;
pub use nnspec_dsl as dsl;
pub use nnspec_runtime as runtime;

pub use nnspec_macros::model;
