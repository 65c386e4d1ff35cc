//! `dslc build FILE --emit rust|onnx|dot|pytorch|pytorch-train [-o OUT]`: a
//! model as generated code, as an ONNX model with its initial weights, as a
//! Graphviz picture of its graph, or as a PyTorch module with its train
//! block (and a torchrun trainer).

use std::path::PathBuf;
use std::process::ExitCode;

use nnspec_codegen::{RustOptions, golden_test, lower_inference, model_module};
use nnspec_dsl::ir;
use nnspec_runtime::atomic_write::write_atomically;

use crate::errln;

/// What `dslc build` generates.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Emit {
    /// A Rust module for inference, depending on nnspec-runtime-core only
    Rust,
    /// An ONNX model with the initial weights (the train block's seed);
    /// `dslc export` exports trained ones
    Onnx,
    /// A Graphviz graph: shapes on the edges, parameter counts on the
    /// layers (`dot -Tsvg`)
    Dot,
    /// A PyTorch `nn.Module` with the train block's loss, optimizer and
    /// schedule; its state_dict names are nnspec's checkpoint names
    Pytorch,
    /// The PyTorch module and a trainer for `torchrun`
    /// (DistributedDataParallel) writing checkpoints dslc reads
    PytorchTrain,
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
    let model = choose_model(&compiled.models, args.model.as_deref(), &name)?;
    let code = match args.emit {
        Emit::Rust => rust(args, model, compiled.train(&model.name))?,
        Emit::Onnx => return onnx(args, &compiled, model, &bytes),
        Emit::Dot => {
            rust_only(args, "dot")?;
            nnspec_codegen::dot::dot(model)
        }
        Emit::Pytorch => pytorch(args, &compiled, model, false)?,
        Emit::PytorchTrain => pytorch(args, &compiled, model, true)?,
    };
    match &args.out {
        Some(path) => {
            write_atomically(path, |w| std::io::Write::write_all(w, code.as_bytes()))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        None => crate::output::out(&code),
    }
    Ok(ExitCode::SUCCESS)
}

/// The model called `wanted`, or the file's only one.
pub fn choose_model<'m>(
    models: &'m [ir::Model],
    wanted: Option<&str>,
    name: &str,
) -> Result<&'m ir::Model, String> {
    match (wanted, models) {
        (Some(wanted), models) => models
            .iter()
            .find(|m| m.name == wanted)
            .ok_or_else(|| format!("{name} has no model `{wanted}` (it has: {})", names(models))),
        (None, [one]) => Ok(one),
        (None, []) => Err(format!("no model in {name}")),
        (None, several) => Err(format!(
            "{name} defines {} models ({}): choose one with --model",
            several.len(),
            names(several)
        )),
    }
}

/// The options that shape generated Rust mean nothing for other outputs.
fn rust_only(args: &Args, emit: &str) -> Result<(), String> {
    let given = [
        ("--with-test", args.with_test),
        ("--nalgebra", args.nalgebra.is_some()),
        ("--std-runtime", args.std_runtime.is_some()),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(format!("{flag} applies to --emit rust, not --emit {emit}")),
        None => Ok(()),
    }
}

/// `--emit onnx`: the initial weights, binary, so a file or a pipe.
fn onnx(
    args: &Args,
    compiled: &nnspec_dsl::Compiled,
    model: &ir::Model,
    bytes: &[u8],
) -> Result<ExitCode, String> {
    rust_only(args, "onnx")?;
    if args.out.is_none() && crate::output::stdout_is_terminal() {
        return Err(
            "an ONNX model is binary: write it with -o FILE (or redirect standard output)".into(),
        );
    }
    let seed = crate::export::default_seed(compiled, model);
    let weights = crate::export::initial(model, seed)?;
    let provenance = nnspec_codegen::onnx::Provenance {
        source_file: &source_name(args),
        source: bytes,
        weights: format!("initialization with seed {seed}"),
    };
    let proto =
        nnspec_codegen::onnx::export(model, &weights, &provenance).map_err(|e| e.to_string())?;
    let encoded = nnspec_codegen::onnx::to_bytes(&proto);
    match &args.out {
        Some(path) => crate::export::write(path, &encoded)?,
        None => crate::output::out_bytes(&encoded),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--emit pytorch`: the module; `--emit pytorch-train` (`with_trainer`):
/// it and the torchrun trainer.
fn pytorch(
    args: &Args,
    compiled: &nnspec_dsl::Compiled,
    model: &ir::Model,
    with_trainer: bool,
) -> Result<String, String> {
    let train = compiled.train(&model.name);
    let source = source_name(args);
    let code = if with_trainer {
        rust_only(args, "pytorch-train")?;
        nnspec_codegen::pytorch::training_script(model, train, &source)
    } else {
        rust_only(args, "pytorch")?;
        nnspec_codegen::pytorch::module_file(model, train, &source)
    };
    code.map_err(|e| e.to_string())
}

fn source_name(args: &Args) -> String {
    args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

/// `--emit rust`: the model's module, inference and, when `train` (its
/// train block) is given, training.
fn rust(args: &Args, model: &ir::Model, train: Option<&ir::TrainConfig>) -> Result<String, String> {
    let plan = lower_inference(model);
    let options = RustOptions {
        runtime_path: args.runtime_path.clone(),
        source: source_name(args),
        nalgebra: args
            .nalgebra
            .clone()
            .map(|path| nnspec_codegen::emit::Nalgebra { path, gate: None }),
        std_runtime: args.std_runtime.clone(),
    };
    let mut code = match model_module(model, train, &options) {
        // The inference module is still of use (the model trains with
        // `dslc train`); only its generated training is not supported.
        Err(e @ nnspec_codegen::EmitError::UnsupportedTrainingLoss { .. }) => {
            crate::errln!("warning: {e}; writing the inference module only");
            model_module(model, None, &options).map_err(|e| e.to_string())?
        }
        result => result.map_err(|e| e.to_string())?,
    };
    if args.with_test {
        code.push('\n');
        code.push_str(&golden_test(&plan).map_err(|e| e.to_string())?);
    }
    Ok(code)
}

fn names(models: &[ir::Model]) -> String {
    models
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
