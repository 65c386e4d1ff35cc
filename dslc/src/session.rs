//! What `train` and `eval` share: choosing the model and its train block,
//! loading the data, building the executor, reading checkpoints.

use std::path::{Path, PathBuf};

use nnspec_dsl::ir;
use nnspec_runtime::data::{self, Normalization, Split, idx};
use nnspec_runtime::exec::Executor;
use nnspec_runtime::safetensors_file::Checkpoint;

/// A checked model with its train block (flags applied).
pub struct Job {
    pub model: ir::Model,
    pub config: ir::TrainConfig,
}

/// Compiles `file` and picks the model: `--model`, the only model, or
/// the only model with a train block. Diagnostics go to stderr; with
/// errors, the message ends with `stopped` ("nothing to train").
pub fn load_job(file: &Path, model: Option<&str>, stopped: &str) -> Result<Job, String> {
    let bytes = crate::source::read(file)?;
    let compiled = nnspec_dsl::compile_bytes(&bytes);
    let name = file.display().to_string();
    crate::err!("{}", crate::colour::diagnostics(&compiled.render(&name)));
    if compiled.has_errors() {
        let errors = compiled.error_count();
        return Err(format!(
            "{name}: {errors} error{}; {stopped}",
            crate::check::plural(errors)
        ));
    }
    let names: Vec<&str> = compiled.models.iter().map(|m| m.name.as_str()).collect();
    let chosen = match model {
        Some(wanted) => compiled.model(wanted).ok_or_else(|| {
            format!(
                "{name} has no model `{wanted}` (it has: {})",
                names.join(", ")
            )
        })?,
        None => match (compiled.models.as_slice(), compiled.trains.as_slice()) {
            ([only], _) => only,
            (_, [train]) => compiled
                .model(&train.model)
                .expect("train blocks name checked models"),
            ([], _) => return Err(format!("{name} has no model")),
            _ => {
                return Err(format!(
                    "{name} has {} models; choose one with --model ({})",
                    names.len(),
                    names.join(", ")
                ));
            }
        },
    };
    let config = compiled.train(&chosen.name).cloned().ok_or_else(|| {
        format!(
            "model `{0}` has no train block; add one to {name}, for example\n\n    train {0} {{\n        loss: cross_entropy,\n        optimizer: sgd(lr: 0.01),\n        batch: 32,\n        epochs: 10,\n    }}",
            chosen.name
        )
    })?;
    if chosen.inputs.len() != 1 {
        return Err(format!(
            "model `{}` has {} inputs; training reads one input per sample",
            chosen.name,
            chosen.inputs.len()
        ));
    }
    Ok(Job {
        model: chosen.clone(),
        config,
    })
}

/// Where the data come from (`--data`).
#[derive(Clone, Debug)]
pub enum DataSource {
    /// The UCI digits embedded in nnspec (split 80/20 by the seed).
    Digits,
    /// A directory of MNIST-format IDX files, a CSV file (split 80/20),
    /// or a NumPy `.npz` (split 80/20 unless it has `x_test`/`y_test`).
    Path(PathBuf),
}

impl std::str::FromStr for DataSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "digits" {
            Ok(DataSource::Digits)
        } else if s.is_empty() {
            Err("a data set is `digits` or a path".into())
        } else {
            Ok(DataSource::Path(PathBuf::from(s)))
        }
    }
}

impl std::fmt::Display for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSource::Digits => f.write_str("digits"),
            DataSource::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The share of a data set without its own test split that is held out.
pub const TEST_FRACTION: f64 = 0.2;

/// How input values are scaled (`--normalize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scaling {
    /// The PyTorch tutorial's `(x / max - 0.5) / 0.5`: values in [-1, 1]
    Tutorial,
    /// `x / max`: values in [0, 1]
    Unit,
    /// Values as stored
    None,
}

impl std::fmt::Display for Scaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scaling::Tutorial => "tutorial",
            Scaling::Unit => "unit",
            Scaling::None => "none",
        })
    }
}

impl std::str::FromStr for Scaling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Scaling as clap::ValueEnum>::from_str(s, false)
    }
}

impl Scaling {
    /// The default for a source: the tutorial's for images (IDX, and
    /// `uint8` features of an `.npz`) and the digits, values as stored for
    /// CSV files and float features.
    pub fn default_for(source: &DataSource) -> Scaling {
        match source {
            DataSource::Path(path) if is_npz(path) && data::npz::npz_features_are_bytes(path) => {
                Scaling::Tutorial
            }
            DataSource::Path(path) if path.is_file() => Scaling::None,
            _ => Scaling::Tutorial,
        }
    }

    /// The normalization for values in `[0, max]`.
    pub fn normalization(self, max: f32) -> Normalization {
        match self {
            Scaling::Tutorial => Normalization::symmetric(max),
            Scaling::Unit => Normalization::Scale { max },
            Scaling::None => Normalization::None,
        }
    }
}

/// How many token ids the model's input takes (`0..n`), if its input is
/// token ids (declared i64, read by an embedding).
pub fn token_bound(model: &ir::Model, plan: &nnspec_runtime::plan::Plan) -> Option<usize> {
    let input = model.value(*model.inputs.first()?);
    (input.dtype == ir::Dtype::I64).then(|| {
        plan.token_bound(0)
            .unwrap_or(nnspec_dsl::ops::MAX_NUM_EMBEDDINGS)
    })
}

/// The scaling of a model's inputs: token ids are never scaled, so for
/// them `--normalize` may only be `none`.
pub fn input_scaling(
    asked: Option<Scaling>,
    tokens: Option<usize>,
    default: impl FnOnce() -> Scaling,
) -> Result<Scaling, String> {
    match (tokens, asked) {
        (None, asked) => Ok(asked.unwrap_or_else(default)),
        (Some(_), None | Some(Scaling::None)) => Ok(Scaling::None),
        (Some(_), Some(other)) => Err(format!(
            "--normalize {other}: the model's input is token ids (i64), which are never scaled; leave --normalize out"
        )),
    }
}

/// Loads an `.npz` archive: token ids of any integer type when the model
/// reads tokens, features otherwise.
pub fn load_npz(path: &Path, tokens: Option<usize>) -> Result<data::npz::NpzData, String> {
    match tokens {
        Some(_) => data::npz::load_npz_tokens(path),
        None => data::npz::load_npz(path),
    }
    .map_err(|e| e.to_string())
}

/// Refuses data whose values are not token ids in `0..num` (when the model
/// reads tokens), naming the file, sample and column.
pub fn check_tokens(set: &data::Dataset, tokens: Option<usize>) -> Result<(), String> {
    match tokens {
        Some(num) => set.check_tokens(num).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// Loads the data and shapes the samples like the model's input.
///
/// `scaling` maps values from `[0, max]`, where `max` is 255 for IDX pixels,
/// 16 for the digits, and the largest value of the file for CSV data. A
/// directory whose name contains "fashion" gets Fashion-MNIST's class names.
/// With `tokens` (the model reads token ids `0..n`), every value must be
/// one ([`check_tokens`]).
pub fn load_data(
    source: &DataSource,
    seed: u64,
    (input_shape, tokens): (&[usize], Option<usize>),
    scaling: Scaling,
    target: Option<&crate::regression::TargetList>,
) -> Result<Split, String> {
    let mut split = match source {
        // Float targets: only features are scaled, and the split is a
        // plain seeded shuffle (there are no classes to stratify).
        _ if let Some(target) = target => {
            let mut all = crate::regression::load(source, target)?;
            scale_csv(&mut all.features, scaling, source)?;
            check_tokens(&all, tokens)?;
            data::train_test_split(&all, TEST_FRACTION, seed).map_err(|e| e.to_string())?
        }
        DataSource::Digits => {
            let digits = data::digits::digits_with(&scaling.normalization(16.0))
                .map_err(|e| e.to_string())?;
            check_tokens(&digits, tokens)?;
            data::train_test_split(&digits, TEST_FRACTION, seed).map_err(|e| e.to_string())?
        }
        DataSource::Path(path) if path.is_dir() => {
            let fashion = path.to_string_lossy().to_lowercase().contains("fashion");
            let names = fashion.then(idx::fashion_mnist_class_names);
            idx::load_dir(path, &scaling.normalization(255.0), names).map_err(|e| e.to_string())?
        }
        DataSource::Path(path) if is_npz(path) => {
            let npz = load_npz(path, tokens)?;
            let mut parts = [Some(npz.train), npz.test];
            let values = parts.iter().flatten().flat_map(|d| &d.features);
            let max = if npz.bytes { 255.0 } else { largest(values) };
            let norm = scaling_with_max(scaling, max, path)?;
            for part in parts.iter_mut().flatten() {
                norm.apply_slice(&mut part.features);
                check_tokens(part, tokens)?;
            }
            match parts {
                [Some(train), Some(test)] => Split { train, test },
                [Some(all), None] => {
                    data::train_test_split(&all, TEST_FRACTION, seed).map_err(|e| e.to_string())?
                }
                _ => unreachable!("the training part is always there"),
            }
        }
        DataSource::Path(path) if path.is_file() => {
            let mut all =
                data::csv::load_csv(path, &Normalization::None).map_err(|e| e.to_string())?;
            scale_csv(&mut all.features, scaling, source)?;
            check_tokens(&all, tokens)?;
            data::train_test_split(&all, TEST_FRACTION, seed).map_err(|e| e.to_string())?
        }
        DataSource::Path(path) => {
            return Err(format!(
                "data {}: no such file or directory (give `digits`, a directory of IDX files, or a CSV file)",
                path.display()
            ));
        }
    };
    // Checked before splitting, so samples are counted in the file; IDX
    // files come split.
    if matches!(source, DataSource::Path(path) if path.is_dir()) {
        check_tokens(&split.train, tokens)?;
        check_tokens(&split.test, tokens)?;
    }
    for part in [&mut split.train, &mut split.test] {
        if part.sample_shape != input_shape {
            part.reshape_to(input_shape).map_err(|e| e.to_string())?;
        }
    }
    Ok(split)
}

/// Whether a data file is a NumPy archive (by its extension).
pub fn is_npz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// The largest absolute value, the `max` that scales file data.
pub fn largest<'a>(values: impl IntoIterator<Item = &'a f32>) -> f32 {
    values.into_iter().fold(0.0f32, |m, &v| m.max(v.abs()))
}

/// `scaling` for data whose largest absolute value is `max`.
pub fn scaling_with_max(scaling: Scaling, max: f32, path: &Path) -> Result<Normalization, String> {
    if scaling != Scaling::None && max == 0.0 {
        return Err(format!(
            "data {}: every value is 0; nothing to scale (use --normalize none)",
            path.display()
        ));
    }
    Ok(scaling.normalization(max))
}

/// Scales a CSV file's features from `[0, max]`, `max` their largest magnitude.
fn scale_csv(features: &mut [f32], scaling: Scaling, source: &DataSource) -> Result<(), String> {
    let path = match source {
        DataSource::Path(path) => path.as_path(),
        DataSource::Digits => Path::new("digits"),
    };
    scaling_with_max(scaling, largest(&*features), path)?.apply_slice(features);
    Ok(())
}

/// Class names for reports: the data's, numbered past their end when the
/// model scores more classes than the data names (PyTorch allows that).
pub fn class_names(
    data: &nnspec_runtime::data::Dataset,
    plan: &nnspec_runtime::plan::Plan,
) -> Option<Vec<String>> {
    names_for_plan(data.class_names.clone(), plan)
}

/// `names` cut or numbered to the model's outputs (see [`class_names`]).
pub fn names_for_plan(
    names: Option<Vec<String>>,
    plan: &nnspec_runtime::plan::Plan,
) -> Option<Vec<String>> {
    let classes = match plan.loss.as_ref()?.kind {
        // One logit: the classes 0 and 1.
        nnspec_runtime::plan::LossKind::BceWithLogits { len: 1 } => 2,
        kind => kind.width(),
    };
    let mut names = names?;
    names.truncate(classes);
    names.extend((names.len()..classes).map(|c| c.to_string()));
    Some(names)
}

/// Reads a checkpoint, with the file named in any error.
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, String> {
    Checkpoint::load(path).map_err(|e| e.to_string())
}

/// The executor for `plan` with the weights of `checkpoint` (eval,
/// predict).
pub fn restore(
    plan: nnspec_runtime::plan::Plan,
    checkpoint: &Checkpoint,
    capacity: usize,
    threads: usize,
) -> Result<Executor, String> {
    let mut exec = executor(plan, capacity, threads)?;
    nnspec_runtime::checkpoint::load_state_dict(&mut exec, checkpoint)
        .map_err(|e| e.to_string())?;
    Ok(exec)
}

/// Builds the executor, refusing a model whose memory would exceed what
/// the machine has available (the kernel would kill the process instead
/// of failing an allocation).
pub fn executor(
    plan: nnspec_runtime::plan::Plan,
    capacity: usize,
    threads: usize,
) -> Result<Executor, String> {
    let model = plan.model.clone();
    let needed = Executor::memory_needed(&plan, capacity);
    if let Some(available) = available_memory()
        && needed.is_none_or(|n| n > available)
    {
        let gib = |b: usize| b as f64 / (1u64 << 30) as f64;
        return Err(format!(
            "model `{model}` with batches of {capacity} needs {} of memory for its parameters, gradients, optimizer state and buffers; {:.1} GiB are available",
            needed.map_or("more than 2^64 bytes".to_string(), |n| format!(
                "{:.1} GiB",
                gib(n)
            )),
            gib(available)
        ));
    }
    Executor::new(plan, capacity, threads).map_err(|e| e.to_string())
}

/// `MemAvailable` from /proc/meminfo, where there is one.
fn available_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The threads to use: `--threads`, or every core. More threads than
/// cores only make the threads wait for each other (half speed at twice
/// the cores), so they are reduced to the cores, with a note.
pub fn threads(flag: Option<usize>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match flag {
        Some(asked) if asked > cores => {
            crate::errln!(
                "note: --threads {asked} is more than the {cores} core{} here; using {cores}",
                crate::check::plural(cores)
            );
            cores
        }
        Some(asked) => asked.max(1),
        None => cores,
    }
}

/// The normalization `load_data` applies to `source` with `scaling`, for
/// data given in its raw units (`predict`'s inputs, a validation file). For a CSV file or the
/// float features of an `.npz`, the scale is the data's largest value,
/// which is not recorded, so the file is read again (only when scaling).
pub fn normalization_for(
    source: &DataSource,
    scaling: Scaling,
    target: Option<&crate::regression::TargetList>,
) -> Result<Normalization, String> {
    let path = match source {
        _ if scaling == Scaling::None => return Ok(Normalization::None),
        DataSource::Digits => return Ok(scaling.normalization(16.0)),
        DataSource::Path(path) if path.is_dir() => return Ok(scaling.normalization(255.0)),
        DataSource::Path(path) => path,
    };
    let max = if let Some(target) = target {
        // The features only: the target columns are not scaled.
        largest(&crate::regression::load(source, target)?.features)
    } else if is_npz(path) {
        let npz = data::npz::load_npz(path).map_err(|e| e.to_string())?;
        if npz.bytes {
            255.0
        } else {
            let parts = std::iter::once(&npz.train).chain(&npz.test);
            largest(parts.flat_map(|d| &d.features))
        }
    } else {
        largest(
            &data::csv::load_csv(path, &Normalization::None)
                .map_err(|e| e.to_string())?
                .features,
        )
    };
    scaling_with_max(scaling, max, path)
}

/// Flags that may replace what a checkpoint records about its data.
#[derive(Default)]
pub struct DataFlags<'a> {
    pub data: Option<&'a DataSource>,
    pub seed: Option<u64>,
    pub normalize: Option<Scaling>,
}

/// The data `checkpoint` was trained on, split and scaled as it was (the
/// seed draws the 80/20 split), with `--data` in place of its data; a
/// `--seed` or `--normalize` that differs from the checkpoint's is refused
/// (it would test on training samples, or on inputs scaled another way).
/// For the commands that measure a trained model: `quantize`, `deploy`.
pub fn recorded_split(
    job: &Job,
    checkpoint: &Checkpoint,
    weights: &Path,
    flags: DataFlags,
) -> Result<(DataSource, data::Split), String> {
    use crate::run_info::{self, Saved, agree};
    let saved = Saved::read(checkpoint);
    let seed = agree("seed", flags.seed, saved.seed, weights, run_info::SEED_WHY)?
        .unwrap_or(job.config.seed);
    let source = match (flags.data, &saved.data) {
        (Some(data), _) => run_info::resolve(data),
        (None, Some(text)) => run_info::saved_data(text, weights)?,
        (None, None) => DataSource::Digits,
    };
    let plan = nnspec_codegen::lower_inference(&job.model);
    let tokens = token_bound(&job.model, &plan);
    let normalize = agree(
        "normalize",
        flags.normalize,
        saved.normalize,
        weights,
        run_info::NORMALIZE_WHY,
    )?;
    let scaling = input_scaling(normalize, tokens, || Scaling::default_for(&source))?;
    crate::regression::check_loss(&job.config, None)?;
    let split = load_data(
        &source,
        seed,
        (&plan.input_shapes[0].clone(), tokens),
        scaling,
        None,
    )?;
    Ok((source, split))
}
