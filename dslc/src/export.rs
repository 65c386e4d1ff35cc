//! `dslc export FILE --weights CKPT [--model NAME] -o model.onnx`: a
//! trained model as ONNX, for onnxruntime and the other runtimes that read
//! it; `--no-weights` exports the model's initial weights instead, when
//! only the graph matters.
//!
//! The checkpoint must fit the model exactly, as for `dslc eval`: every
//! tensor present with its shape, dtype and finite values, and no other
//! (an optimizer's state is not a model). The file is written under a
//! temporary name and renamed, so a failed export leaves no partial file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nnspec_codegen::onnx::{self, Provenance};
use nnspec_dsl::ir;
use nnspec_runtime::atomic_write::write_atomically;
use nnspec_runtime::safetensors_file::Checkpoint;

use crate::{errln, outln};

#[derive(clap::Args)]
pub struct Args {
    /// The model file
    file: PathBuf,
    /// The checkpoint to export (model.safetensors, written by `dslc train`)
    #[arg(long, required_unless_present = "no_weights")]
    weights: Option<PathBuf>,
    /// Export the model's initial weights (its seed's initialization), for
    /// when only the graph matters
    #[arg(long, conflicts_with = "weights")]
    no_weights: bool,
    /// Seed of the initial weights with --no-weights (default: the train
    /// block's seed, else 0)
    #[arg(long, requires = "no_weights", value_parser = crate::seed, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// The model to export, when the file defines several
    #[arg(long)]
    model: Option<String>,
    /// Where to write the ONNX model (atomically)
    #[arg(short = 'o', long = "out")]
    out: PathBuf,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let bytes = crate::source::read(&args.file)?;
    let compiled = nnspec_dsl::compile_bytes(&bytes);
    let name = args.file.display().to_string();
    crate::err!("{}", crate::colour::diagnostics(&compiled.render(&name)));
    if compiled.has_errors() {
        errln!("error: {name}: not exported, it has errors");
        return Ok(ExitCode::FAILURE);
    }
    let model = crate::build::choose_model(&compiled.models, args.model.as_deref(), &name)?;
    let (weights, described) = match &args.weights {
        Some(path) => (checkpoint(model, path)?, file_name(path)),
        None => {
            let seed = args.seed.unwrap_or_else(|| default_seed(&compiled, model));
            (
                initial(model, seed)?,
                format!("initialization with seed {seed}"),
            )
        }
    };
    let provenance = Provenance {
        source_file: &file_name(&args.file),
        source: &bytes,
        weights: described,
    };
    let proto = onnx::export(model, &weights, &provenance).map_err(|e| e.to_string())?;
    write(&args.out, &onnx::to_bytes(&proto))?;
    let graph = proto.graph.unwrap_or_default();
    outln!(
        "exported model `{}` to {}: {} nodes, {} parameters in {} initializers, opset {}",
        model.name,
        args.out.display(),
        graph.node.len(),
        model.parameter_count(),
        graph.initializer.len(),
        onnx::OPSET
    );
    Ok(ExitCode::SUCCESS)
}

/// The checkpoint at `path`, once it is known to fit `model` exactly:
/// the model's own loader checks every tensor (and names the one at fault).
fn checkpoint(model: &ir::Model, path: &Path) -> Result<Checkpoint, String> {
    let checkpoint = crate::session::read_checkpoint(path)?;
    nnspec_runtime::checkpoint::check_model(&checkpoint, &model.name).map_err(|e| e.to_string())?;
    // A training state holds the optimizer's state beside the weights
    // (`fc1.weight.step`, `.momentum_buffer`, `.exp_avg`, `.exp_avg_sq`,
    // PyTorch's names), which would otherwise read as a list of unknown
    // names. (Its metadata cannot tell it apart: `dslc train` records the
    // run's settings, epochs included, in model.safetensors too.)
    const OPTIMIZER_SUFFIXES: [&str; 4] = [".step", ".momentum_buffer", ".exp_avg", ".exp_avg_sq"];
    let optimizer_state = checkpoint
        .iter()
        .any(|(name, _)| OPTIMIZER_SUFFIXES.iter().any(|s| name.ends_with(s)));
    if optimizer_state {
        return Err(format!(
            "{} is a training state (weights and optimizer state, for --resume); export the \
             weights alone: model.safetensors in the same run directory",
            path.display()
        ));
    }
    let plan = nnspec_codegen::lower_inference(model);
    let mut exec = crate::session::executor(plan, 1, 1)?;
    nnspec_runtime::checkpoint::load_state_dict(&mut exec, &checkpoint)
        .map_err(|e| e.to_string())?;
    Ok(checkpoint)
}

/// The seed's initialization, as training starts from it.
pub fn initial(model: &ir::Model, seed: u64) -> Result<Checkpoint, String> {
    onnx::initial_weights(model, seed).map_err(|e| e.to_string())
}

/// The seed training would start from: the train block's, else the
/// language's default (0).
pub fn default_seed(compiled: &nnspec_dsl::Compiled, model: &ir::Model) -> u64 {
    compiled.train(&model.name).map_or(0, |train| train.seed)
}

/// `path`'s last component, as the metadata records it.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

/// Writes an ONNX file atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    write_atomically(path, |w| w.write_all(bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
