//! Generating Rust from `.nn` files in a build script, the prost-build way.
//!
//! In `build.rs`'s `main`:
//!
//! ```no_run
//! nnspec_codegen::build::compile(&["models/lenet.nn"]).unwrap();
//! ```
//!
//! Each model of each file becomes `$OUT_DIR/<Model>.rs` (see
//! [`crate::emit`]), which the crate includes with
//! `include!(concat!(env!("OUT_DIR"), "/LeNet.rs"))`. Files are rewritten
//! only when their text changes, so an unchanged model does not recompile
//! the crate, and cargo is told to rerun the script when an input changes.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::emit::{Nalgebra, RustOptions, golden_test};
use crate::lower::lower_inference;
use crate::model_module;

/// Options for [`Config::compile`].
#[derive(Clone, Debug)]
pub struct Config {
    out_dir: Option<PathBuf>,
    runtime_path: String,
    nalgebra: Option<String>,
    std_runtime: Option<String>,
    golden_tests: bool,
    announce: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// Output in `$OUT_DIR`, code naming the runtime `nnspec_runtime_core`,
    /// `cargo:rerun-if-changed` lines printed.
    pub fn new() -> Self {
        Config {
            out_dir: None,
            runtime_path: "nnspec_runtime_core".to_string(),
            nalgebra: None,
            std_runtime: None,
            golden_tests: false,
            announce: true,
        }
    }

    /// Writes into `dir` instead of `$OUT_DIR`.
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The path generated code names the runtime core by (for a crate
    /// that reaches it through another crate, such as `nnspec::runtime`).
    pub fn runtime_path(&mut self, path: impl Into<String>) -> &mut Self {
        self.runtime_path = path.into();
        self
    }

    /// Also generate methods taking and returning nalgebra types, naming
    /// the nalgebra crate by `path` (`nalgebra` for a direct dependency).
    pub fn nalgebra(&mut self, path: impl Into<String>) -> &mut Self {
        self.nalgebra = Some(path.into());
        self
    }

    /// Also generate safetensors loading and saving, through the `std`
    /// runtime at `path` (`nnspec_runtime`, or `nnspec::runtime` through
    /// the facade).
    pub fn std_runtime(&mut self, path: impl Into<String>) -> &mut Self {
        self.std_runtime = Some(path.into());
        self
    }

    /// Also append to each module a `#[test]` with one input and the
    /// executor's output for it (`dslc build --with-test`).
    pub fn golden_tests(&mut self, on: bool) -> &mut Self {
        self.golden_tests = on;
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (off outside build
    /// scripts).
    pub fn cargo_directives(&mut self, on: bool) -> &mut Self {
        self.announce = on;
        self
    }

    /// Checks every file and writes one module per model; the paths of the
    /// files written (or left alone because unchanged).
    pub fn compile(&self, files: &[impl AsRef<Path>]) -> Result<Vec<PathBuf>, BuildError> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        let mut written = Vec::new();
        for file in files {
            let file = file.as_ref();
            if self.announce {
                println!("cargo:rerun-if-changed={}", file.display());
            }
            let bytes = std::fs::read(file).map_err(|e| BuildError::Io(file.to_path_buf(), e))?;
            let compiled = nnspec_dsl::compile_bytes(&bytes);
            if compiled.has_errors() {
                return Err(BuildError::Model(
                    compiled.render(&file.display().to_string()),
                ));
            }
            for model in &compiled.models {
                let plan = lower_inference(model);
                let options = RustOptions {
                    runtime_path: self.runtime_path.clone(),
                    source: file.display().to_string(),
                    nalgebra: self
                        .nalgebra
                        .clone()
                        .map(|path| Nalgebra { path, gate: None }),
                    std_runtime: self.std_runtime.clone(),
                };
                let train = compiled.train(&model.name);
                let mut code = model_module(model, train, &options).map_err(BuildError::Emit)?;
                if self.golden_tests {
                    code.push('\n');
                    code.push_str(&golden_test(&plan).map_err(BuildError::Emit)?);
                }
                let path = out_dir.join(format!("{}.rs", model.name));
                write_if_changed(&path, &code).map_err(|e| BuildError::Io(path.clone(), e))?;
                written.push(path);
            }
        }
        Ok(written)
    }
}

/// [`Config::compile`] with the default options.
pub fn compile(files: &[impl AsRef<Path>]) -> Result<Vec<PathBuf>, BuildError> {
    Config::new().compile(files)
}

/// Writes `text` to `path` unless it already holds exactly that, through a
/// temporary file renamed into place (a reader never sees half a file).
fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    nnspec_runtime::atomic_write::write_atomically(path, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })
}

/// Why a build could not generate its models.
#[derive(Debug)]
pub enum BuildError {
    /// Not run by cargo (no `OUT_DIR`) and no [`Config::out_dir`].
    NoOutDir,
    /// Reading an input or writing an output failed.
    Io(PathBuf, std::io::Error),
    /// A model has errors; the rendered diagnostics.
    Model(String),
    /// The code could not be generated (a bad runtime path).
    Emit(crate::emit::EmitError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoOutDir => write!(
                f,
                "OUT_DIR is not set: call nnspec's build functions from a build script, or set Config::out_dir"
            ),
            BuildError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            BuildError::Model(diagnostics) => write!(f, "{diagnostics}"),
            BuildError::Emit(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {}
