//! `dslc export FILE --weights CKPT [--model NAME] -o model.onnx`: a
//! trained model as ONNX, for onnxruntime and the other runtimes that read
//! it, or (`--format tflite`, or an `-o` ending in `.tflite`) as a
//! TensorFlow Lite file for phones and TFLite Micro ([`tflite`]);
//! `--no-weights` exports the model's initial weights instead, when only
//! the graph matters. `--int8` quantizes first, calibrated as `dslc
//! quantize` does: ONNX QDQ, or TFLite's full-integer scheme.
//!
//! The checkpoint must fit the model exactly, as for `dslc eval`: every
//! tensor present with its shape, dtype and finite values, and no other
//! (an optimizer's state is not a model). The file is written under a
//! temporary name and renamed, so a failed export leaves no partial file.

mod tflite;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nnspec_codegen::onnx::{self, Provenance};
use nnspec_dsl::ir;
use nnspec_runtime::atomic_write::write_atomically;
use nnspec_runtime::data::Normalization;
use nnspec_runtime::quantize::CalibrationMethod;
use nnspec_runtime::safetensors_file::Checkpoint;

use crate::session::{self, DataSource};
use crate::{errln, outln};

/// The file format written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// ONNX (opset 17), for onnxruntime and the runtimes that read it
    Onnx,
    /// TensorFlow Lite (LiteRT), for phones and TFLite Micro
    Tflite,
}

impl Format {
    /// `.tflite` files are TFLite, everything else ONNX.
    fn of_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("tflite") => Format::Tflite,
            _ => Format::Onnx,
        }
    }
}

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
    /// Where to write the model (atomically)
    #[arg(short = 'o', long = "out")]
    out: PathBuf,
    /// `onnx` or `tflite` (default: tflite for an -o ending in .tflite, else onnx)
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Quantize to int8 first, calibrated on the training split: ONNX QDQ, or
    /// TFLite's full-integer scheme
    #[arg(long, requires = "weights")]
    int8: bool,
    /// With --int8: `digits`, a directory of MNIST-format IDX files, a CSV file
    /// or an .npz to calibrate on (default: the data the checkpoint was trained on)
    #[arg(long, requires = "int8")]
    data: Option<DataSource>,
    /// With --int8: calibration samples, the first of the training split
    /// (default: 512, or all of them when fewer)
    #[arg(long, requires = "int8", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    samples: Option<u64>,
    /// With --int8: how activation ranges are taken, `minmax` or `percentile:P`
    #[arg(long, requires = "int8")]
    calibration: Option<CalibrationMethod>,
    /// TFLite: a text file of class names, one per line in output order,
    /// packed into the file's metadata as labels.txt (default: the training
    /// data's names, when it has them)
    #[arg(long)]
    labels: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let format = args.format.unwrap_or_else(|| Format::of_path(&args.out));
    if args.labels.is_some() && format == Format::Onnx {
        return Err(
            "--labels: class names are written into TFLite metadata; add --format tflite \
                    (or an -o ending in .tflite)"
                .into(),
        );
    }
    if args.int8 {
        return run_int8(args, format);
    }
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
    if format == Format::Tflite {
        let info = tflite::AppInfo {
            provenance: &provenance,
            normalization: args
                .weights
                .as_deref()
                .and_then(|path| recorded_normalization(model, &weights, path)),
            labels: labels(args, model, &weights, args.weights.as_deref())?,
            int8: false,
        };
        let tf = nnspec_codegen::tflite::export(model, &weights).map_err(|e| e.to_string())?;
        return write_tflite(args, model, tf, &info, "f32".into());
    }
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

/// `--int8`: calibrates as `dslc quantize` does, then writes the int8
/// plan as ONNX QDQ or TFLite full-integer.
fn run_int8(args: &Args, format: Format) -> Result<ExitCode, String> {
    let job = session::load_job(&args.file, args.model.as_deref(), "not exported")?;
    let path = args.weights.as_deref().ok_or("--int8 needs --weights")?;
    let weights = checkpoint(&job.model, path)?;
    let flags = session::DataFlags {
        data: args.data.as_ref(),
        seed: None,
        normalize: None,
    };
    let method = args.calibration.unwrap_or(CalibrationMethod::MinMax);
    let cal = crate::quantize::calibrated(&job, &weights, path, flags, args.samples, method)?;
    let source = crate::source::read(&args.file)?;
    let provenance = Provenance {
        source_file: &file_name(&args.file),
        source: &source,
        weights: format!("{} quantized to int8", file_name(path)),
    };
    let how = format!(
        "int8, calibrated ({}) on {} samples of the training split of {}",
        cal.calibration, cal.samples, cal.data
    );
    match format {
        Format::Onnx => {
            let proto =
                onnx::qdq_model(&job.model, &cal.q, &provenance).map_err(|e| e.to_string())?;
            write(&args.out, &onnx::to_bytes(&proto))?;
            outln!(
                "exported model `{}` to {}: ONNX QDQ {how}",
                job.model.name,
                args.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Format::Tflite => {
            let info = tflite::AppInfo {
                provenance: &provenance,
                normalization: recorded_normalization(&job.model, &weights, path),
                labels: labels(args, &job.model, &weights, Some(path))?,
                int8: true,
            };
            let tf = nnspec_codegen::tflite::export_int8(&job.model, &cal.q)
                .map_err(|e| e.to_string())?;
            write_tflite(args, &job.model, tf, &info, how)
        }
    }
}

fn write_tflite(
    args: &Args,
    model: &ir::Model,
    tf: nnspec_codegen::tflite::TfModel,
    info: &tflite::AppInfo,
    how: String,
) -> Result<ExitCode, String> {
    let (operators, tensors) = (tf.operators.len(), tf.tensors.len());
    let bytes = tflite::file_bytes(model, tf, info)?;
    write(&args.out, &bytes)?;
    outln!(
        "exported model `{}` to {}: TFLite {how}, {operators} operators, {tensors} tensors, {} bytes{}",
        model.name,
        args.out.display(),
        bytes.len(),
        if info.labels.is_some() {
            ", labels packed"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The class names for the metadata: `--labels`, else the training
/// data's ([`data_labels`]).
fn labels(
    args: &Args,
    model: &ir::Model,
    checkpoint: &Checkpoint,
    weights: Option<&Path>,
) -> Result<Option<Vec<String>>, String> {
    match (&args.labels, weights) {
        (Some(path), _) => tflite::read_labels(path, model).map(Some),
        (None, Some(weights)) => Ok(data_labels(model, checkpoint, weights)),
        (None, None) => Ok(None),
    }
}

/// The class names of the data the checkpoint was trained on, when it has
/// them (the digits' `0`..`9`, Fashion-MNIST's, a CSV header's) and they
/// number the output's values.
fn data_labels(model: &ir::Model, checkpoint: &Checkpoint, weights: &Path) -> Option<Vec<String>> {
    let saved = crate::run_info::Saved::read(checkpoint);
    let source = crate::run_info::saved_data(saved.data.as_deref()?, weights).ok()?;
    let names: Vec<String> = match &source {
        DataSource::Digits => (0..10).map(|d| d.to_string()).collect(),
        DataSource::Path(_) => crate::predict::source_class_names(&source)?,
    };
    let output = model.outputs.first()?;
    let classes: usize = model.value(output.value).shape.dims().iter().product();
    (names.len() == classes).then_some(names)
}

/// The `.tflite` bytes of `tf` with the metadata `dslc export` writes
/// from the checkpoint at `weights` (its training data's normalization
/// and class names), for the commands that write TFLite files beside
/// their ONNX ones (`quantize`, `deploy`).
pub fn tflite_bytes(
    model: &ir::Model,
    tf: nnspec_codegen::tflite::TfModel,
    provenance: &Provenance<'_>,
    checkpoint: &Checkpoint,
    weights: &Path,
    int8: bool,
) -> Result<Vec<u8>, String> {
    let info = tflite::AppInfo {
        provenance,
        normalization: recorded_normalization(model, checkpoint, weights),
        labels: data_labels(model, checkpoint, weights),
        int8,
    };
    tflite::file_bytes(model, tf, &info)
}

/// How the checkpoint's training scaled raw inputs, for the metadata;
/// `None` (with a note) when it cannot be told, which leaves the
/// metadata without normalization rather than failing the export.
fn recorded_normalization(
    model: &ir::Model,
    checkpoint: &Checkpoint,
    path: &Path,
) -> Option<Normalization> {
    let saved = crate::run_info::Saved::read(checkpoint);
    let tokens = model
        .inputs
        .iter()
        .any(|&i| model.value(i).dtype == ir::Dtype::I64);
    if tokens {
        return None;
    }
    let source = match &saved.data {
        Some(text) => crate::run_info::saved_data(text, path).ok()?,
        None => return None,
    };
    let scaling = saved
        .normalize
        .unwrap_or_else(|| session::Scaling::default_for(&source));
    match session::normalization_for(&source, scaling, None) {
        Ok(normalization) => Some(normalization),
        Err(why) => {
            errln!("note: the metadata leaves out the input's normalization: {why}");
            None
        }
    }
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
