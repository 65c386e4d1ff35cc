//! `dslc train FILE`: train a model, evaluate it, write its checkpoint,
//! metrics and plots.

use std::path::PathBuf;
use std::process::ExitCode;

use nnspec_runtime::exec::Executor;
use nnspec_runtime::metrics::EpochRecord;
use nnspec_runtime::state;
use nnspec_runtime::train::{self, FitOptions};

use crate::progress::Progress;
use crate::report::{self, Metrics};
use crate::session::{self, DataSource};

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
    let split = session::load_data(&args.data, config.seed, &input_shape)?;
    let class_names = split.train.class_names.clone();

    let mut exec = Executor::new(plan, config.batch, threads);
    exec.init_params(config.seed);
    train::check_fits(&exec, &split.train).map_err(|e| e.to_string())?;
    train::check_fits(&exec, &split.test).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let model_path = args.out.join("model.safetensors");
    let optimizer_path = args.out.join("optimizer.safetensors");
    let metrics_path = args.out.join("metrics.json");

    let mut history: Vec<EpochRecord> = Vec::new();
    let mut done = 0;
    if args.resume {
        session::load_weights(&mut exec, &model_path)?;
        let checkpoint = session::read_checkpoint(&optimizer_path)?;
        done = state::load_optimizer_dict(&mut exec, &checkpoint).map_err(|e| e.to_string())?;
        history = previous_history(&metrics_path, done);
        exec.seed_dropout(config.seed ^ done as u64);
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
        // A checkpoint per epoch: a run stopped at any point resumes from the last one.
        state::state_dict(&exec)
            .save(&model_path)
            .map_err(|e| e.to_string())?;
        state::optimizer_dict(&exec, done)
            .save(&optimizer_path)
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
    // The checkpoint may not exist yet when resuming a finished run.
    state::state_dict(&exec)
        .save(&model_path)
        .map_err(|e| e.to_string())?;
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

/// The epoch records of the run being resumed, from its metrics.json.
fn previous_history(path: &std::path::Path, epochs: usize) -> Vec<EpochRecord> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut history: Vec<EpochRecord> = value
        .get("history")
        .and_then(|h| serde_json::from_value(h.clone()).ok())
        .unwrap_or_default();
    history.truncate(epochs);
    history
}
