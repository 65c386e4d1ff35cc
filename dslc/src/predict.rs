//! `dslc predict FILE --weights CKPT --input PATH [-o out.csv]`: the
//! model's predictions for unlabelled inputs.
//!
//! Inputs are given in the training data's raw units and converted as the
//! training data were: the checkpoint's recorded scaling (`normalize`) with
//! the training data's scale (16 for the digits, 255 for IDX images and
//! `uint8` arrays, the file's largest value for CSV and float `.npz` data,
//! which is read again for it). Accepted inputs:
//!
//! - a CSV file: one sample per row, the model's number of features, or
//!   one more (a label column, ignored); an all-text first line is a header;
//! - an IDX images file (MNIST's `t10k-images-idx3-ubyte`, raw or gzip);
//! - a `.npy` array `[N, ...]` (N samples) of float32, float64 or uint8
//!   (any integer type for a model reading token ids), or
//!   an `.npz` holding one as `x`, `x_test`, or as its only array;
//! - a PNG image or a directory of them (sorted by name; other files
//!   ignored), as [`nnspec_runtime::data::png`] describes.
//!
//! Output: per sample its index (and file, for PNGs), the predicted class
//! and the softmax probability of each class (cross-entropy models), the
//! sigmoid probability of each logit (`bce_with_logits`; one logit also
//! predicts class 1 at p >= 0.5), or the raw output values (regression);
//! CSV or JSON, written atomically to
//! `-o` or printed. Every input is read and checked before anything is
//! written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nnspec_runtime::data::{self, csv, idx, npy, npz};
use nnspec_runtime::metrics::argmax;
use nnspec_runtime::plan::LossKind;

use crate::errln;
use crate::run_info::Saved;
use crate::session::{self, DataSource, Scaling};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// The model file
    file: PathBuf,
    /// The checkpoint (model.safetensors) to predict with
    #[arg(long)]
    weights: PathBuf,
    /// The inputs: a CSV file, an IDX images file, a .npy or .npz array, a PNG file or a
    /// directory of PNG files
    #[arg(long)]
    input: PathBuf,
    /// Where to write the predictions (default: stdout); the extension .csv or .json picks the
    /// format
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Output format (default: by the -o extension, else CSV)
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Which model of the file (default: the only one, or the only one with a train block)
    #[arg(long)]
    model: Option<String>,
    /// Samples per forward pass
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// Threads (default: every core; more than the cores are reduced to them)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
}

/// The inputs, in raw units, one sample after another.
pub(crate) struct Inputs {
    pub(crate) features: Vec<f32>,
    pub(crate) count: usize,
    /// The file of each sample (PNG inputs).
    files: Option<Vec<PathBuf>>,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let format = output_format(args.format, args.output.as_deref())?;
    let job = session::load_job(&args.file, args.model.as_deref(), "predict stopped")?;
    let checkpoint = session::read_checkpoint(&args.weights)?;
    nnspec_runtime::checkpoint::check_model(&checkpoint, &job.config.model)
        .map_err(|e| e.to_string())?;
    let saved = Saved::read(&checkpoint);
    let source = match &saved.data {
        Some(text) => text.parse::<DataSource>().map_err(|e| {
            format!(
                "data `{text}` from checkpoint {}: {e}",
                args.weights.display()
            )
        })?,
        None => DataSource::Digits,
    };
    let plan = nnspec_codegen::lower_training(&job.model, &job.config);
    let tokens = session::token_bound(&job.model, &plan);
    // Token ids are never scaled, whatever a checkpoint from elsewhere says.
    let scaling = session::input_scaling(saved.normalize, tokens, || Scaling::default_for(&source))
        .unwrap_or(Scaling::None);
    let norm =
        session::normalization_for(&source, scaling, saved.target.as_ref()).map_err(|e| {
            format!(
                "{e}\n(the inputs are scaled as {} scaled its training data {source})",
                args.weights.display()
            )
        })?;

    let input_shape = plan.input_shapes[0].clone();
    let kind = plan
        .loss
        .as_ref()
        .ok_or_else(|| {
            format!(
                "model `{}` has no loss; nothing to predict",
                job.config.model
            )
        })?
        .kind;
    let names = session::names_for_plan(source_class_names(&source), &plan);
    let mut inputs = read_inputs(&args.input, &input_shape, tokens.is_some())?;
    norm.apply_slice(&mut inputs.features);
    if let Some(num) = tokens {
        let name = args.input.display().to_string();
        data::tokens::check_tokens(
            &inputs.features,
            inputs.features.len() / inputs.count,
            num,
            &name,
        )
        .map_err(|e| e.to_string())?;
    }

    let threads = session::threads(args.threads.map(|t| t as usize));
    let capacity = (args.batch as usize).min(inputs.count).max(1);
    let mut exec = session::restore(plan, &checkpoint, capacity, threads)?;
    let output_id = exec.plan().loss.as_ref().expect("checked above").output;
    let width = kind.width();
    let sample_len = inputs.features.len() / inputs.count;
    let mut outputs = Vec::with_capacity(inputs.count * width);
    for chunk in inputs.features.chunks(capacity * sample_len) {
        let n = chunk.len() / sample_len;
        exec.input_mut(n).copy_from_slice(chunk);
        exec.forward(n, false);
        outputs.extend_from_slice(exec.buffer(output_id, n));
    }
    let text = match format {
        Format::Csv => render_csv(&outputs, width, kind, &names, inputs.files.as_deref()),
        Format::Json => render_json(&outputs, width, kind, &names, inputs.files.as_deref()),
    };
    match &args.output {
        Some(path) => {
            nnspec_runtime::atomic_write::write_atomically(path, |w| w.write_all(text.as_bytes()))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            errln!("wrote {} predictions to {}", inputs.count, path.display());
        }
        None => crate::output::out(&text),
    }
    Ok(ExitCode::SUCCESS)
}

/// The format: `--format`, else the `-o` extension, else CSV.
fn output_format(flag: Option<Format>, output: Option<&Path>) -> Result<Format, String> {
    if let Some(format) = flag {
        return Ok(format);
    }
    let Some(path) = output else {
        return Ok(Format::Csv);
    };
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    match ext.as_deref() {
        Some("csv") => Ok(Format::Csv),
        Some("json") => Ok(Format::Json),
        _ => Err(format!(
            "-o {}: cannot tell the format from the extension (.csv or .json); give --format csv or --format json",
            path.display()
        )),
    }
}

/// Reads the inputs at `path` for a model input of shape `input`.
/// `tokens`: the model reads token ids, so `.npy`/`.npz` arrays of any
/// integer type are read too.
pub(crate) fn read_inputs(path: &Path, input: &[usize], tokens: bool) -> Result<Inputs, String> {
    let sample_len: usize = input.iter().product();
    let name = path.display().to_string();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if !path.exists() {
        return Err(format!("input {name}: no such file or directory"));
    }
    let e = |e: data::DataError| e.to_string();
    if path.is_dir() || ext == "png" {
        let images = data::png::load(path, input).map_err(e)?;
        return Ok(Inputs {
            features: images.pixels.iter().map(|&p| f32::from(p)).collect(),
            count: images.files.len(),
            files: Some(images.files),
        });
    }
    let bytes = std::fs::read(path).map_err(|err| format!("{name}: cannot read: {err}"))?;
    let array = match ext.as_str() {
        "npy" => Some(npy::parse_npy(&bytes, &name).map_err(e)?),
        "npz" => {
            let arrays = npz::parse_npz(&bytes, &name).map_err(e)?;
            Some(npz::npz_features(arrays).map_err(|err| format!("{name}: {err}"))?)
        }
        _ => None,
    };
    if let Some(array) = array {
        let read = if tokens {
            npz::token_features
        } else {
            npz::features
        };
        let (features, _) = read(&array, "features").map_err(|err| format!("{name}: {err}"))?;
        let count = match array.shape.split_first() {
            Some((&n, rest)) if rest.iter().product::<usize>() == sample_len => n,
            _ => {
                return Err(format!(
                    "{name}: the array has shape {:?}; the model takes samples of shape {input:?} ({sample_len} values), so it must be [N, ...] with {sample_len} values per sample",
                    array.shape
                ));
            }
        };
        return nonempty(&name, features, count);
    }
    let idx_magic = bytes.starts_with(&[0, 0, 8, 3]);
    if idx_magic || name.contains("idx3") {
        let images = idx::parse_images(&bytes, &name).map_err(e)?;
        if images.rows * images.cols != sample_len {
            return Err(format!(
                "{name}: the images are {}x{} ({} values), but the model's input {input:?} takes {sample_len} values",
                images.cols,
                images.rows,
                images.rows * images.cols
            ));
        }
        let features = images.pixels.iter().map(|&p| f32::from(p)).collect();
        return nonempty(&name, features, images.count);
    }
    let (features, count) = csv::parse_features(&bytes, &name, sample_len).map_err(e)?;
    nonempty(&name, features, count)
}

fn nonempty(name: &str, features: Vec<f32>, count: usize) -> Result<Inputs, String> {
    if count == 0 {
        return Err(format!("{name}: holds no samples"));
    }
    Ok(Inputs {
        features,
        count,
        files: None,
    })
}

/// How a model's outputs read, by its loss.
#[derive(Clone, Copy, PartialEq)]
enum Reading {
    /// Class scores: softmax probabilities, the most probable class.
    Softmax,
    /// Independent logits (`bce_with_logits`): a sigmoid probability each;
    /// one logit is a binary classifier (class 1 when p >= 0.5).
    Sigmoid { binary: bool },
    /// Values as they are (regression).
    Values,
}

impl Reading {
    fn of(kind: LossKind) -> Reading {
        match kind {
            LossKind::CrossEntropy { .. } => Reading::Softmax,
            LossKind::BceWithLogits { len } => Reading::Sigmoid { binary: len == 1 },
            LossKind::Mse { .. } | LossKind::L1 { .. } | LossKind::SmoothL1 { .. } => {
                Reading::Values
            }
        }
    }

    /// The column name of output `c`.
    fn label(self, names: &Option<Vec<String>>, c: usize) -> String {
        match self {
            Reading::Softmax => format!("p_{}", class_name(names, c)),
            Reading::Sigmoid { binary: true } => format!("p_{}", class_name(names, 1)),
            Reading::Sigmoid { binary: false } => format!("p_{}", class_name(names, c)),
            Reading::Values => format!("output_{c}"),
        }
    }

    /// Whether the outputs name a class ([`Reading::predicted`] is some).
    fn predicts(self) -> bool {
        matches!(self, Reading::Softmax | Reading::Sigmoid { binary: true })
    }

    /// The predicted class, where there is one.
    fn predicted(self, row: &[f32]) -> Option<usize> {
        match self {
            Reading::Softmax => Some(argmax(row)),
            // A logit of at least 0 is a probability of at least 0.5.
            Reading::Sigmoid { binary: true } => Some(usize::from(row[0] >= 0.0)),
            Reading::Sigmoid { binary: false } | Reading::Values => None,
        }
    }

    /// The row's probabilities, or its values.
    fn values(self, row: &[f32]) -> Vec<f64> {
        match self {
            Reading::Softmax => softmax(row),
            Reading::Sigmoid { .. } => row
                .iter()
                .map(|&x| 1.0 / (1.0 + (-f64::from(x)).exp()))
                .collect(),
            Reading::Values => row.iter().map(|&v| f64::from(v)).collect(),
        }
    }
}

/// Softmax in f64 (stable: the largest logit is subtracted first).
fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
    let exps: Vec<f64> = logits.iter().map(|&x| (f64::from(x) - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

fn class_name(names: &Option<Vec<String>>, class: usize) -> String {
    names
        .as_ref()
        .and_then(|n| n.get(class).cloned())
        .unwrap_or_else(|| class.to_string())
}

/// A CSV cell: quoted when it holds a comma, quote or line break.
fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn render_csv(
    outputs: &[f32],
    width: usize,
    kind: LossKind,
    names: &Option<Vec<String>>,
    files: Option<&[PathBuf]>,
) -> String {
    let mut text = String::from("index");
    if files.is_some() {
        text.push_str(",file");
    }
    let reading = Reading::of(kind);
    let classify = reading.predicts();
    if classify {
        text.push_str(",predicted");
    }
    for c in 0..width {
        let _ = write!(text, ",{}", cell(&reading.label(names, c)));
    }
    text.push('\n');
    for (i, row) in outputs.chunks_exact(width).enumerate() {
        let _ = write!(text, "{i}");
        if let Some(files) = files {
            let _ = write!(text, ",{}", cell(&files[i].display().to_string()));
        }
        if let Some(class) = reading.predicted(row) {
            let _ = write!(text, ",{}", cell(&class_name(names, class)));
        }
        if reading == Reading::Values {
            // As computed (f32), not widened.
            for v in row {
                let _ = write!(text, ",{v}");
            }
        } else {
            for p in reading.values(row) {
                let _ = write!(text, ",{p}");
            }
        }
        text.push('\n');
    }
    text
}

fn render_json(
    outputs: &[f32],
    width: usize,
    kind: LossKind,
    names: &Option<Vec<String>>,
    files: Option<&[PathBuf]>,
) -> String {
    use serde_json::{Value, json};
    let reading = Reading::of(kind);
    let predictions: Vec<Value> = outputs
        .chunks_exact(width)
        .enumerate()
        .map(|(i, row)| {
            let mut entry = serde_json::Map::new();
            entry.insert("index".into(), json!(i));
            if let Some(files) = files {
                entry.insert("file".into(), json!(files[i].display().to_string()));
            }
            if let Some(class) = reading.predicted(row) {
                entry.insert("predicted".into(), json!(class_name(names, class)));
            }
            if reading != Reading::Values {
                entry.insert("probabilities".into(), json!(reading.values(row)));
            } else {
                // Non-finite outputs have no JSON number; null says so.
                let values: Vec<Value> = row.iter().map(|&v| json!(v)).collect();
                entry.insert("outputs".into(), Value::Array(values));
            }
            Value::Object(entry)
        })
        .collect();
    let mut doc = serde_json::Map::new();
    if reading == Reading::Softmax {
        let classes: Vec<String> = (0..width).map(|c| class_name(names, c)).collect();
        doc.insert("classes".into(), json!(classes));
    }
    doc.insert("predictions".into(), Value::Array(predictions));
    let mut text = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
    text.push('\n');
    text
}

/// The class names a data source has, without loading its samples:
/// Fashion-MNIST's for a directory named so, a scikit-learn CSV header's.
pub fn source_class_names(source: &DataSource) -> Option<Vec<String>> {
    let DataSource::Path(path) = source else {
        return None;
    };
    if path.is_dir() {
        let fashion = path.to_string_lossy().to_lowercase().contains("fashion");
        return fashion.then(idx::fashion_mnist_class_names);
    }
    if session::is_npz(path) {
        return None;
    }
    // Only the header matters; a CSV's first line is short.
    let mut first = String::new();
    let file = std::fs::File::open(path).ok()?;
    std::io::BufRead::read_line(&mut std::io::BufReader::new(file), &mut first).ok()?;
    let cells: Vec<&str> = first.trim().split(',').map(str::trim).collect();
    let numeric = |c: &&str| c.parse::<f64>().is_ok();
    (cells.len() >= 3
        && cells[..2].iter().all(|c| c.parse::<usize>().is_ok())
        && !cells[2..].iter().any(numeric))
    .then(|| cells[2..].iter().map(|c| c.to_string()).collect())
}
