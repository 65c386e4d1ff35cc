//! `dslc eval FILE --weights CKPT`: test metrics of a trained model.
//!
//! The data, seed and scaling default to those the checkpoint records; a
//! `--seed` or `--normalize` that differs from the checkpoint's is refused
//! (another seed draws another split, whose "test" samples were trained
//! on). Another `--data` is allowed, with a note: evaluating on other data
//! is what the flag is for.

use std::path::PathBuf;
use std::process::ExitCode;

use nnspec_runtime::train;

use crate::report::{self, Metrics};
use crate::run_info::{self, Saved, agree};
use crate::session::{self, DataSource, Scaling};
use crate::{errln, outln};

#[derive(clap::Args)]
pub struct Args {
    /// The model file
    file: PathBuf,
    /// The checkpoint (model.safetensors) to evaluate
    #[arg(long)]
    weights: PathBuf,
    /// `digits`, a directory of MNIST-format IDX files, or a CSV file (its test split is used);
    /// default: the data the checkpoint was trained on
    #[arg(long)]
    data: Option<DataSource>,
    /// Which model of the file to evaluate (default: the only one, or the only one with a train
    /// block); it must be the model the checkpoint was trained from
    #[arg(long)]
    model: Option<String>,
    /// CSV columns of float targets (default, and the only one accepted: the checkpoint's)
    #[arg(long, value_name = "NAME[,NAME...]")]
    target: Option<crate::regression::TargetList>,
    /// Input scaling (default, and the only one accepted: the one the checkpoint was trained with)
    #[arg(long, value_enum)]
    normalize: Option<Scaling>,
    /// Seed of the train/test split for data sets without a test set
    /// (default, and the only one accepted: the one the checkpoint was trained with)
    #[arg(long, value_parser = crate::seed, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Samples per forward pass (default: the batch the checkpoint was trained with, so that
    /// eval reproduces train's test numbers to the bit on every kernel tier; else 256)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: Option<u64>,
    /// Threads (default: every core; more than the cores are reduced to them)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Where to write metrics.json and confusion.png (scatter.png for a regression) (default: an `eval` folder beside the weights)
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let job = session::load_job(&args.file, args.model.as_deref(), "eval stopped")?;
    let checkpoint = session::read_checkpoint(&args.weights)?;
    // Whose checkpoint it is, before anything is said about its data.
    nnspec_runtime::checkpoint::check_model(&checkpoint, &job.config.model)
        .map_err(|e| e.to_string())?;
    let saved = Saved::read(&checkpoint);
    let from = &args.weights;
    let seed =
        agree("seed", args.seed, saved.seed, from, run_info::SEED_WHY)?.unwrap_or(job.config.seed);
    let data = match (&args.data, &saved.data) {
        (Some(data), _) => run_info::resolve(data),
        (None, Some(text)) => run_info::saved_data(text, from)?,
        (None, None) => DataSource::Digits,
    };
    let same_data = saved.data.as_deref() == Some(data.to_string().as_str());
    if let Some(trained) = &saved.data
        && !same_data
    {
        errln!(
            "note: {} was trained on {trained}; evaluating on {data}",
            from.display()
        );
    }
    let plan = nnspec_codegen::lower_training(&job.model, &job.config);
    let tokens = session::token_bound(&job.model, &plan);
    let scaling = session::input_scaling(
        agree(
            "normalize",
            args.normalize,
            saved.normalize,
            from,
            run_info::NORMALIZE_WHY,
        )?,
        tokens,
        || Scaling::default_for(&data),
    )?;
    let target = agree(
        "target",
        args.target.clone(),
        saved.target.clone(),
        from,
        crate::regression::TARGET_WHY,
    )?;
    crate::regression::check_loss(&job.config, target.as_ref())?;
    let threads = session::threads(args.threads.map(|t| t as usize));
    let split = session::load_data(
        &data,
        seed,
        (&plan.input_shapes[0].clone(), tokens),
        scaling,
        target.as_ref(),
    )?;
    if same_data
        && let Some(old) = &saved.fingerprint
        && *old != run_info::fingerprint(&data)?
    {
        errln!(
            "warning: the data {data} changed since {} was trained on it; its test split may hold training samples",
            from.display()
        );
    }
    let class_names = session::class_names(&split.test, &plan);
    // Kernels may sum a row in another order at another batch size (the
    // portable tier does): the training run's batch gives its numbers.
    let batch = args
        .batch
        .map(|b| b as usize)
        .or(saved.batch)
        .unwrap_or(256);
    let capacity = batch.min(split.test.len()).max(1);
    let mut exec = session::restore(plan, &checkpoint, capacity, threads)?;
    train::check_fits(&exec, &split.test).map_err(|e| e.to_string())?;
    let evaluation = train::evaluate(&mut exec, &split.test);
    report::print_evaluation(&evaluation, class_names.as_deref());
    let out = args.out.clone().unwrap_or_else(|| {
        args.weights
            .parent()
            .map_or_else(|| PathBuf::from("eval"), |dir| dir.join("eval"))
    });
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let metrics = Metrics {
        model: &job.config.model,
        data: data.to_string(),
        test_accuracy: evaluation.accuracy,
        test_loss: evaluation.loss,
        validation_samples: None,
        selection: None,
        test_samples: split.test.len(),
        epochs: None,
        train_samples_per_s: None,
        train_seconds: None,
        batch: None,
        lr: None,
        seed: Some(seed),
        threads,
        regression: crate::regression::summary(&evaluation),
        confusion_matrix: report::confusion_rows(&evaluation),
        report: report::classification(&evaluation, class_names.as_deref()),
        history: &[],
    };
    let written = report::write(&out, &metrics, &evaluation, class_names.as_deref())?;
    outln!("wrote:");
    for path in written {
        outln!("  {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
