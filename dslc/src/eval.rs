//! `dslc eval FILE --weights CKPT`: test metrics of a trained model.

use std::path::PathBuf;
use std::process::ExitCode;

use nnspec_runtime::train;

use crate::report::{self, Metrics};
use crate::session::{self, DataSource, Scaling};

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
    #[arg(long)]
    model: Option<String>,
    /// Input scaling (default: the one the checkpoint was trained with)
    #[arg(long, value_enum)]
    normalize: Option<Scaling>,
    /// Seed of the train/test split for data sets without a test set
    /// (default: the one the checkpoint was trained with)
    #[arg(long)]
    seed: Option<u64>,
    /// Samples per forward pass
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Where to write metrics.json and confusion.png (default: an `eval` folder beside the weights)
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let job = session::load_job(&args.file, args.model.as_deref())?;
    let checkpoint = session::read_checkpoint(&args.weights)?;
    // Train and test halves are drawn by a seed: evaluating with another
    // seed than training's would score the model on its training samples.
    let trained_seed = checkpoint
        .metadata()
        .get("seed")
        .and_then(|s| s.parse::<u64>().ok());
    let seed = args.seed.or(trained_seed).unwrap_or(job.config.seed);
    if let (Some(given), Some(trained)) = (args.seed, trained_seed)
        && given != trained
    {
        eprintln!(
            "warning: {} was trained with --seed {trained}; with seed {given}, the test split of a data set without one holds training samples",
            args.weights.display()
        );
    }
    let trained_data = checkpoint
        .metadata()
        .get("data")
        .map(|d| d.parse::<DataSource>());
    let data = match (&args.data, trained_data) {
        (Some(data), _) => data.clone(),
        (None, Some(Ok(data))) => data,
        (None, _) => DataSource::Digits,
    };
    let threads = session::threads(args.threads.map(|t| t as usize));
    let plan = nnspec_codegen::lower_training(&job.model, &job.config);
    let trained_scaling = checkpoint
        .metadata()
        .get("normalize")
        .and_then(|s| s.parse::<Scaling>().ok());
    let scaling = args
        .normalize
        .or(trained_scaling)
        .unwrap_or_else(|| Scaling::default_for(&data));
    let split = session::load_data(&data, seed, &plan.input_shapes[0].clone(), scaling)?;
    let class_names = session::class_names(&split.test, &plan);
    let capacity = (args.batch as usize).min(split.test.len()).max(1);
    let mut exec = session::executor(plan, capacity, threads)?;
    nnspec_runtime::checkpoint::load_state_dict(&mut exec, &checkpoint)
        .map_err(|e| e.to_string())?;
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
        test_samples: split.test.len(),
        epochs: None,
        train_samples_per_s: None,
        train_seconds: None,
        batch: None,
        lr: None,
        seed: Some(seed),
        threads,
        confusion_matrix: report::confusion_rows(&evaluation),
        report: evaluation.confusion.report(class_names.as_deref()),
        history: &[],
    };
    let written = report::write(&out, &metrics, &evaluation, class_names.as_deref())?;
    println!("wrote:");
    for path in written {
        println!("  {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
