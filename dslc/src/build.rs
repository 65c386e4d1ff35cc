//! `dslc build FILE --emit rust [-o OUT]`: a model as generated code.

use std::path::PathBuf;
use std::process::ExitCode;

use nnspec_codegen::{RustOptions, golden_test, lower_inference, model_module};
use nnspec_runtime::atomic_write::write_atomically;

use crate::errln;

/// What `dslc build` generates.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Emit {
    /// A Rust module for inference, depending on nnspec-runtime-core only
    Rust,
}

#[derive(clap::Args)]
pub struct Args {
    /// The model file
    file: PathBuf,
    /// What to generate
    #[arg(long, value_enum, default_value = "rust")]
    emit: Emit,
    /// Write here (atomically) instead of to standard output
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// The model to generate, when the file defines several
    #[arg(long)]
    model: Option<String>,
    /// The path the generated code names the runtime core by
    #[arg(long, default_value = "nnspec_runtime_core")]
    runtime_path: String,
    /// Also emit methods taking and returning nalgebra vectors and
    /// matrices, naming the nalgebra crate by PATH (default: nalgebra)
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "nalgebra")]
    nalgebra: Option<String>,
    /// Also emit safetensors loading and saving (load_safetensors,
    /// save_safetensors), through the std runtime at PATH (nnspec_runtime,
    /// or nnspec::runtime through the facade)
    #[arg(long, value_name = "PATH")]
    std_runtime: Option<String>,
    /// Also emit a #[test] holding one input and the executor's output for
    /// it (weights of new(7)), so the generated code checks itself
    #[arg(long)]
    with_test: bool,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let bytes = crate::source::read(&args.file)?;
    let compiled = nnspec_dsl::compile_bytes(&bytes);
    let name = args.file.display().to_string();
    crate::err!("{}", crate::colour::diagnostics(&compiled.render(&name)));
    if compiled.has_errors() {
        errln!("error: {name}: not built, it has errors");
        return Ok(ExitCode::FAILURE);
    }
    let model = match (&args.model, compiled.models.as_slice()) {
        (Some(wanted), models) => models
            .iter()
            .find(|m| &m.name == wanted)
            .ok_or_else(|| format!("{name} has no model `{wanted}` (it has: {})", names(models)))?,
        (None, [one]) => one,
        (None, []) => return Err(format!("no model in {name}")),
        (None, several) => {
            return Err(format!(
                "{name} defines {} models ({}): choose one with --model",
                several.len(),
                names(several)
            ));
        }
    };
    let plan = lower_inference(model);
    let mut code = match args.emit {
        Emit::Rust => model_module(
            model,
            compiled.train(&model.name),
            &RustOptions {
                runtime_path: args.runtime_path.clone(),
                source: args
                    .file
                    .file_name()
                    .map_or(name.clone(), |f| f.to_string_lossy().into_owned()),
                nalgebra: args
                    .nalgebra
                    .clone()
                    .map(|path| nnspec_codegen::emit::Nalgebra { path, gate: None }),
                std_runtime: args.std_runtime.clone(),
            },
        )
        .map_err(|e| e.to_string())?,
    };
    if args.with_test {
        code.push('\n');
        code.push_str(&golden_test(&plan).map_err(|e| e.to_string())?);
    }
    match &args.out {
        Some(path) => {
            write_atomically(path, |w| std::io::Write::write_all(w, code.as_bytes()))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        None => crate::output::out(&code),
    }
    Ok(ExitCode::SUCCESS)
}

fn names(models: &[nnspec_dsl::ir::Model]) -> String {
    models
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
