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

/// nalgebra, whose vectors and matrices generated models also take and
/// return (the `nalgebra` feature, on by default).
#[cfg(feature = "nalgebra")]
pub use nalgebra;

/// Expands its input when the `nalgebra` feature is on: the `model!`
/// expansion wraps its nalgebra methods in it, so it compiles either way.
#[cfg(feature = "nalgebra")]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_nalgebra {
    ($($tokens:tt)*) => { $($tokens)* };
}

/// Expands its input when the `nalgebra` feature is on (it is off).
#[cfg(not(feature = "nalgebra"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_nalgebra {
    ($($tokens:tt)*) => {};
}

/// Generating models from `.nn` files in a build script (see
/// [`codegen::build`]); `compile` writes code that names the runtime
/// through this crate, for [`include_model!`].
pub mod build {
    pub use nnspec_codegen::build::{BuildError, Config};

    /// [`Config::compile`] with the runtime named through `nnspec` (and
    /// safetensors loading): one `$OUT_DIR/<Model>.rs` per model, for
    /// [`crate::include_model!`].
    pub fn compile(
        files: &[impl AsRef<std::path::Path>],
    ) -> Result<Vec<std::path::PathBuf>, BuildError> {
        Config::new()
            .runtime_path("::nnspec::runtime")
            .std_runtime("::nnspec::runtime")
            .compile(files)
    }
}

/// Includes the module a build script generated for model `Name`
/// (`nnspec::build::compile` in `build.rs`):
/// `mod lenet { nnspec::include_model!("LeNet"); }`.
#[macro_export]
macro_rules! include_model {
    ($model:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $model, ".rs"));
    };
}
