//! `dslc train FILE`: train a model, evaluate it, write its checkpoint,
//! metrics and plots.

use std::path::PathBuf;
use std::process::ExitCode;

use nnspec_runtime::checkpoint;
use nnspec_runtime::exec::Executor;
use nnspec_runtime::metrics::EpochRecord;
use nnspec_runtime::plan::ParamKind;
use nnspec_runtime::train::{self, FitOptions};

use crate::progress::Progress;
use crate::report::{self, Metrics};
use crate::session::{self, DataSource, Scaling};

#[derive(clap::Args)]
pub struct Args {
    /// The model file
    file: PathBuf,
    /// Which model of the file to train (default: the only one, or the only one with a train block)
    #[arg(long)]
    model: Option<String>,
    /// `digits` (embedded, no download), a directory of MNIST-format IDX files, or a CSV file
    #[arg(long, default_value = "digits")]
    data: DataSource,
    /// Epochs (default: the train block's)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    epochs: Option<u64>,
    /// Samples per step (default: the train block's)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: Option<u64>,
    /// Learning rate (default: the optimizer's in the train block)
    #[arg(long, value_parser = crate::positive_float, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Input scaling (default: tutorial for images and the digits, none for CSV)
    #[arg(long, value_enum)]
    normalize: Option<Scaling>,
    /// Seed for initialization, shuffling, dropout and the train/test split
    #[arg(long)]
    seed: Option<u64>,
    /// Threads (default: every core)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Where to write model.safetensors, optimizer.safetensors, metrics.json, curves.png, confusion.png
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Continue the run checkpointed in --out up to the epoch count
    #[arg(long)]
    resume: bool,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let mut job = session::load_job(&args.file, args.model.as_deref())?;
    let config = &mut job.config;
    if let Some(epochs) = args.epochs {
        config.epochs = epochs as usize;
    }
    if let Some(batch) = args.batch {
        config.batch = batch as usize;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(lr) = args.lr {
        config.optimizer = config.optimizer.with_lr(lr);
    }
    let config = job.config.clone();
    let threads = session::threads(args.threads.map(|t| t as usize));
    let plan = nnspec_codegen::lower_training(&job.model, &config);
    let input_shape = plan.input_shapes[0].clone();
    let scaling = args
        .normalize
        .unwrap_or_else(|| Scaling::default_for(&args.data));
    let split = session::load_data(&args.data, config.seed, &input_shape, scaling)?;
    let class_names = session::class_names(&split.train, &plan);

    // No batch larger than the data: a huge `batch:` must not allocate for nothing.
    let capacity = config
        .batch
        .min(split.train.len().max(split.test.len()))
        .max(1);
    let mut exec = session::executor(plan, capacity, threads)?;
    exec.init_params(config.seed);
    train::check_fits(&exec, &split.train).map_err(|e| e.to_string())?;
    train::check_fits(&exec, &split.test).map_err(|e| e.to_string())?;
    if !exec
        .plan()
        .params
        .iter()
        .any(|p| p.kind == ParamKind::Trainable)
    {
        eprintln!(
            "warning: model `{}` has no trainable parameters; training changes nothing",
            config.model
        );
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let model_path = args.out.join("model.safetensors");
    let optimizer_path = args.out.join("optimizer.safetensors");
    let optimizer_kind = optimizer_kind(&config.optimizer);

    let mut history: Vec<EpochRecord> = Vec::new();
    let mut done = 0;
    if args.resume {
        let (epochs, previous) = resume(&mut exec, &model_path, &optimizer_path, optimizer_kind)?;
        done = epochs;
        history = previous;
        println!(
            "resuming {} from {} after epoch {done}",
            config.model,
            args.out.display()
        );
    }

    println!(
        "training {} on {} ({} training, {} test samples) for {} epochs, batch {}, {}, {threads} thread{}",
        config.model,
        args.data,
        split.train.len(),
        split.test.len(),
        config.epochs,
        config.batch,
        describe_optimizer(&config.optimizer),
        if threads == 1 { "" } else { "s" }
    );
    if done >= config.epochs {
        println!("already trained for {done} epochs; evaluating");
    }
    let mut progress = Progress::new(config.epochs);
    while done < config.epochs {
        let options = FitOptions {
            epochs: 1,
            batch: config.batch,
            seed: config.seed,
            start_epoch: done,
        };
        let records = train::fit(
            &mut exec,
            &split.train,
            Some(&split.test),
            &options,
            &mut progress,
        )
        .map_err(|e| e.to_string())?;
        history.extend(records);
        done += 1;
        // A checkpoint per epoch: a run stopped at any point resumes from the
        // last one. Both files carry the epoch count, so a run killed
        // between the two renames is recognized.
        let mut optimizer = checkpoint::optimizer_dict(&exec, done);
        optimizer.set_metadata("optimizer", optimizer_kind);
        optimizer.set_metadata(
            "history",
            serde_json::to_string(&history).expect("records serialize"),
        );
        optimizer.save(&optimizer_path).map_err(|e| e.to_string())?;
        model_checkpoint(&exec, done, &config, &args.data, scaling)
            .save(&model_path)
            .map_err(|e| e.to_string())?;
    }

    let evaluation = train::evaluate(&mut exec, &split.test);
    report::print_evaluation(&evaluation, class_names.as_deref());
    let train_seconds: f64 = history.iter().map(|r| r.seconds).sum();
    let trained_samples = split.train.len() * history.len();
    let metrics = Metrics {
        model: &config.model,
        data: args.data.to_string(),
        test_accuracy: evaluation.accuracy,
        test_loss: evaluation.loss,
        test_samples: split.test.len(),
        epochs: Some(done),
        train_samples_per_s: (train_seconds > 0.0).then(|| trained_samples as f64 / train_seconds),
        train_seconds: Some(train_seconds),
        batch: Some(config.batch),
        lr: Some(config.optimizer.lr()),
        seed: Some(config.seed),
        threads,
        confusion_matrix: report::confusion_rows(&evaluation),
        report: evaluation.confusion.report(class_names.as_deref()),
        history: &history,
    };
    let mut written = vec![model_path, optimizer_path];
    written.extend(report::write(
        &args.out,
        &metrics,
        &evaluation,
        class_names.as_deref(),
    )?);
    if let Some(rate) = metrics.train_samples_per_s {
        println!("\ntrained at {rate:.0} samples/s");
    }
    println!("wrote:");
    for path in written {
        println!("  {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_optimizer(optimizer: &nnspec_dsl::ir::Optimizer) -> String {
    match optimizer {
        nnspec_dsl::ir::Optimizer::Sgd { lr, momentum, .. } if *momentum != 0.0 => {
            format!("sgd (lr {lr}, momentum {momentum})")
        }
        nnspec_dsl::ir::Optimizer::Sgd { lr, .. } => format!("sgd (lr {lr})"),
        nnspec_dsl::ir::Optimizer::Adam { lr, .. } => format!("adam (lr {lr})"),
        nnspec_dsl::ir::Optimizer::AdamW {
            lr, weight_decay, ..
        } => {
            format!("adamw (lr {lr}, weight decay {weight_decay})")
        }
    }
}

/// `model.safetensors`: the `state_dict`, and in its metadata what
/// `dslc eval` needs to find the same test split.
fn model_checkpoint(
    exec: &Executor,
    epochs: usize,
    config: &nnspec_dsl::ir::TrainConfig,
    data: &DataSource,
    scaling: Scaling,
) -> nnspec_runtime::safetensors_file::Checkpoint {
    let mut checkpoint = checkpoint::state_dict(exec);
    checkpoint.set_metadata("epochs", epochs.to_string());
    checkpoint.set_metadata("seed", config.seed.to_string());
    checkpoint.set_metadata("data", data.to_string());
    checkpoint.set_metadata("normalize", scaling.to_string());
    checkpoint
}

fn optimizer_kind(optimizer: &nnspec_dsl::ir::Optimizer) -> &'static str {
    match optimizer {
        nnspec_dsl::ir::Optimizer::Sgd { momentum, .. } if *momentum != 0.0 => "sgd with momentum",
        nnspec_dsl::ir::Optimizer::Sgd { .. } => "sgd",
        nnspec_dsl::ir::Optimizer::Adam { .. } => "adam",
        nnspec_dsl::ir::Optimizer::AdamW { .. } => "adamw",
    }
}

/// Loads the run checkpointed in `--out`: weights, optimizer state, the
/// epochs done and their records.
fn resume(
    exec: &mut Executor,
    model_path: &std::path::Path,
    optimizer_path: &std::path::Path,
    optimizer_kind: &str,
) -> Result<(usize, Vec<EpochRecord>), String> {
    session::load_weights(exec, model_path)?;
    let optimizer = session::read_checkpoint(optimizer_path)?;
    let saved_kind = optimizer
        .metadata()
        .get("optimizer")
        .map(String::as_str)
        .unwrap_or("unknown");
    if saved_kind != optimizer_kind {
        return Err(format!(
            "{} holds the state of {saved_kind}, but the train block now says {optimizer_kind}; resume with the same optimizer, or train afresh in another --out",
            optimizer_path.display()
        ));
    }
    let epochs = checkpoint::load_optimizer_dict(exec, &optimizer).map_err(|e| e.to_string())?;
    let model_epochs = session::read_checkpoint(model_path)?
        .metadata()
        .get("epochs")
        .cloned();
    if model_epochs.as_deref() != Some(epochs.to_string().as_str()) {
        return Err(format!(
            "{} and {} are from different epochs ({} and {epochs}): the run stopped while saving them; train afresh",
            model_path.display(),
            optimizer_path.display(),
            model_epochs.unwrap_or_else(|| "unknown".into())
        ));
    }
    let history = optimizer
        .metadata()
        .get("history")
        .and_then(|h| serde_json::from_str::<Vec<EpochRecord>>(h).ok())
        .unwrap_or_default();
    Ok((epochs, history))
}
