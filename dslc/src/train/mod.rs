//! `dslc train FILE`: train a model, evaluate it, write its checkpoint,
//! metrics and plots.
//!
//! After every epoch the run is checkpointed: first `train_state.safetensors`
//! (weights, optimizer state, epochs and their records: one file, renamed
//! into place in one step, so a kill leaves the previous state or the new
//! one), then `model.safetensors` (the weights for `eval` and PyTorch).
//! `--resume` reads only the state file, and rewrites the weights from it.
//!
//! A closed stdout (`dslc train ... | head`) stops the printing only: the
//! run goes on and writes all its files. Ctrl-C stops after the current
//! batch: the finished epochs are kept, reported and written (exit 130).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nnspec_runtime::checkpoint;
use nnspec_runtime::data::Split;
use nnspec_runtime::exec::Executor;
use nnspec_runtime::metrics::EpochRecord;
use nnspec_runtime::plan::ParamKind;
use nnspec_runtime::schedule::LrScheduler;
use nnspec_runtime::train::{self, FitOptions, LrPlan, Selection, TrainError};

use crate::check::plural;
use crate::progress::Progress;
use crate::regression;
use crate::report::{self, Metrics};
use crate::run_dir::{self, BEST, MODEL, STATE};
use crate::run_info::{self, RunInfo, Saved, agree};
use crate::session::{self, DataSource, Scaling};
use crate::{errln, outln};

mod resume;
mod validation;

use resume::{optimizer_kind, resume, saved_selection};

#[derive(clap::Args)]
#[command(
    after_help = "With --resume, --seed, --data, --normalize, --batch and --lr default to \
the checkpoint's; a value that differs from the checkpoint's is refused (the seed also draws the \
80/20 split, so another one would train on test samples). A batch or lr that the train block \
changed since is overridden by the checkpoint's, with a warning. --epochs may change: it is the \
total to reach."
)]
pub struct Args {
    /// The model file
    file: PathBuf,
    /// Which model of the file to train (default: the only one, or the only one with a train block)
    #[arg(long)]
    model: Option<String>,
    /// `digits` (embedded, no download), a directory of MNIST-format IDX files, or a CSV file
    /// [default: digits]
    #[arg(long)]
    data: Option<DataSource>,
    /// Epochs (default: the train block's)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    epochs: Option<u64>,
    /// Samples per step (default: the train block's; on resume, the checkpoint's, and no other)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: Option<u64>,
    /// Learning rate (default: the optimizer's in the train block; on resume, the checkpoint's,
    /// and no other)
    #[arg(long, value_parser = crate::positive_float, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// CSV columns of float targets for a regression loss: header names or numbers from 1
    #[arg(long, value_name = "NAME[,NAME...]")]
    target: Option<crate::regression::TargetList>,
    /// Input scaling (default: tutorial for images and the digits, none for CSV)
    #[arg(long, value_enum)]
    normalize: Option<Scaling>,
    /// Hold out this share of the training split for validation (per-epoch metrics, the best
    /// epoch, early stopping); default: the train block's `validation`, else none
    #[arg(long, value_parser = crate::unit_fraction)]
    val_split: Option<f64>,
    /// A labelled CSV or .npz file to validate on (every sample), instead of a share of the
    /// training split; scaled as the training data
    #[arg(long, conflicts_with = "val_split")]
    val_data: Option<PathBuf>,
    /// Seed for initialization, shuffling, dropout and the train/test split
    #[arg(long, value_parser = crate::seed, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Threads (default: every core; more than the cores are reduced to them)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Where to write model.safetensors, train_state.safetensors, metrics.json, curves.png,
    /// confusion.png
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Continue the run checkpointed in --out up to the epoch count
    #[arg(long)]
    resume: bool,
    /// Replace a run already in --out (without this, training into it is refused)
    #[arg(long, conflicts_with = "resume")]
    force: bool,
}

/// Exit status after Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let mut job = session::load_job(&args.file, args.model.as_deref(), "nothing to train")?;
    // Before --force removes an earlier run: the loss and --target agree, and the targets read.
    if !args.resume {
        regression::check_loss(&job.config, args.target.as_ref())?;
        if let Some(target) = &args.target {
            regression::check_data(args.data.as_ref().unwrap_or(&DataSource::Digits), target)?;
        }
    }
    // Found before any work: a directory that cannot be written, or that
    // holds another run.
    run_dir::prepare(&args.out, args.resume, args.force)?;
    let state_path = args.out.join(STATE);
    let model_path = args.out.join(MODEL);
    let state = if args.resume {
        let state = session::read_checkpoint(&state_path)?;
        checkpoint::check_model(&state, &job.config.model).map_err(|e| e.to_string())?;
        Some(state)
    } else {
        None
    };
    let saved = state.as_ref().map(Saved::read).unwrap_or_default();
    let from = &state_path;

    let config = &mut job.config;
    if let Some(epochs) = args.epochs {
        config.epochs = epochs as usize;
    }
    let batch = args.batch.map(|b| b as usize);
    let (file_batch, file_lr) = (config.batch, config.optimizer.lr());
    if let Some(batch) = agree("batch", batch, saved.batch, from, run_info::STEP_WHY)? {
        config.batch = batch;
    }
    if let Some(seed) = agree("seed", args.seed, saved.seed, from, run_info::SEED_WHY)? {
        config.seed = seed;
    }
    if let Some(lr) = agree("lr", args.lr, saved.lr, from, run_info::STEP_WHY)? {
        config.optimizer = config.optimizer.with_lr(lr);
    }
    // The train block changed since the run started: the run goes on as
    // it began, and says so.
    if args.resume {
        if args.batch.is_none() && config.batch != file_batch {
            errln!(
                "warning: the train block now says batch {file_batch}; the resumed run keeps its batch {}",
                config.batch
            );
        }
        if args.lr.is_none() && config.optimizer.lr() != file_lr {
            errln!(
                "warning: the train block now says lr {file_lr}; the resumed run keeps its lr {}",
                config.optimizer.lr()
            );
        }
        if let Some(clip) = saved.clip
            && clip != config.clip
        {
            errln!(
                "warning: the train block now says clip {}; the resumed run keeps its clip {}",
                run_info::ClipSetting(config.clip),
                run_info::ClipSetting(clip)
            );
            config.clip = clip;
        }
    }
    let data = match (&args.data, &saved.data) {
        (None, Some(text)) => run_info::saved_data(text, from)?,
        (given, _) => run_info::resolve(given.as_ref().unwrap_or(&DataSource::Digits)),
    };
    if let Some(saved_data) = &saved.data
        && *saved_data != data.to_string()
    {
        // The same data at another path (moved, or a copy): the
        // fingerprint says so. Anything else is other data.
        let moved =
            saved.fingerprint.is_some() && run_info::fingerprint(&data).ok() == saved.fingerprint;
        if moved {
            errln!("note: the run's data {saved_data} is now at {data} (same fingerprint)");
        } else {
            agree(
                "data",
                Some(data.to_string()),
                saved.data.clone(),
                from,
                run_info::DATA_WHY,
            )?;
        }
    }
    let target = agree(
        "target",
        args.target.clone(),
        saved.target.clone(),
        from,
        regression::TARGET_WHY,
    )?;
    regression::check_loss(config, target.as_ref())?;
    let validation = validation::choose(args, config.validation, &saved, from)?;
    if config.early_stopping.is_some() && validation.is_none() {
        return Err(TrainError::NoValidation.to_string());
    }
    let config = job.config.clone();
    let threads = session::threads(args.threads.map(|t| t as usize));
    let plan = nnspec_codegen::lower_training(&job.model, &config);
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
    let input_shape = plan.input_shapes[0].clone();
    let Split {
        train: train_set,
        test,
    } = session::load_data(
        &data,
        config.seed,
        (&input_shape, tokens),
        scaling,
        target.as_ref(),
    )?;
    let class_names = session::class_names(&train_set, &plan);
    // The validation split comes out of the training split only: the test
    // split is scored once, after training, and chooses nothing.
    let (train_set, val_set) = validation::hold_out(
        &validation,
        train_set,
        config.seed,
        (&data, scaling, target.as_ref()),
        (&input_shape, tokens),
    )?;
    let fingerprint = run_info::fingerprint(&data)?;
    if let Some(old) = &saved.fingerprint
        && *old != fingerprint
    {
        return Err(format!(
            "the data {data} changed since the run in {} started (fingerprint {old}, now {fingerprint}); train afresh",
            args.out.display()
        ));
    }

    // No batch larger than the data: a huge `batch:` must not allocate for nothing.
    let largest = [Some(&train_set), val_set.as_ref(), Some(&test)]
        .into_iter()
        .flatten()
        .map(|d| d.len())
        .max()
        .unwrap_or(1);
    let capacity = config.batch.min(largest).max(1);
    let mut exec = session::executor(plan, capacity, threads)?;
    exec.init_params(config.seed);
    for set in [Some(&train_set), val_set.as_ref(), Some(&test)]
        .into_iter()
        .flatten()
    {
        train::check_fits(&exec, set).map_err(|e| e.to_string())?;
    }
    if !exec
        .plan()
        .params
        .iter()
        .any(|p| p.kind == ParamKind::Trainable)
    {
        errln!(
            "warning: model `{}` has no trainable parameters; training changes nothing",
            config.model
        );
    }
    let info = RunInfo {
        seed: config.seed,
        data: &data,
        fingerprint: &fingerprint,
        normalize: scaling,
        batch: config.batch,
        lr: config.optimizer.lr(),
        validation: validation.share(),
        val_data: validation.file(),
        target: target.as_ref(),
        clip: config.clip,
    };
    let optimizer_kind = optimizer_kind(&config.optimizer);

    // Built before training, so a schedule that does not fit the run is
    // refused before anything is written.
    let steps_per_epoch = train_set.len().div_ceil(config.batch.clamp(1, capacity));
    let mut lr_scheduler = match (nnspec_codegen::lr_schedule(&config), config.warmup) {
        (None, 0) => None,
        (schedule, warmup) => Some(
            LrScheduler::new(
                schedule,
                warmup,
                config.optimizer.lr(),
                config.epochs,
                steps_per_epoch,
            )
            .map_err(|e| TrainError::Schedule(e).to_string())?,
        ),
    };
    let best_path = args.out.join(BEST);
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut selection = Selection::new(nnspec_codegen::early_stopping(&config));
    let mut done = 0;
    if let Some(state) = &state {
        (done, history) = resume(&mut exec, state, optimizer_kind)?;
        if let Some(saved) = saved_selection(state)? {
            selection = saved;
        }
        if let Some(scheduler) = &mut lr_scheduler {
            let saved = state.metadata().get("lr_schedule").ok_or_else(|| {
                format!(
                    "{} was trained without a learning-rate schedule; the train block now has one: train afresh in another --out",
                    state.origin()
                )
            })?;
            scheduler
                .restore(saved)
                .map_err(|e| format!("{}: {e}; train afresh in another --out", state.origin()))?;
        }
        // The weights file may lag the state by an epoch (a kill between
        // the two saves): bring it up to date.
        save_model(&exec, done, &info, &model_path)?;
        outln!(
            "resuming {} from {} after epoch {done}",
            config.model,
            args.out.display()
        );
    }

    let validation_note = val_set
        .as_ref()
        .map(|v| format!("{} validation, ", v.len()))
        .unwrap_or_default();
    outln!(
        "training {} on {data}\n  {} training, {validation_note}{} test samples; {} epoch{}, batch {}, {}, {threads} thread{}",
        config.model,
        train_set.len(),
        test.len(),
        config.epochs,
        plural(config.epochs),
        config.batch,
        describe_optimizer(&config),
        plural(threads)
    );
    if done >= config.epochs {
        outln!(
            "already trained for {done} epoch{}; evaluating",
            plural(done)
        );
    }
    crate::interrupt::install();
    if selection.stopped {
        outln!("early stopping ended this run after epoch {done}; evaluating");
    }
    let mut progress = Progress::new(config.epochs, config.batch, train_set.len());
    let mut interrupted = false;
    while done < config.epochs && !selection.stopped {
        let options = FitOptions {
            epochs: 1,
            batch: config.batch,
            seed: config.seed,
            start_epoch: done,
            lr: lr_scheduler.as_ref().map(|scheduler| LrPlan {
                schedule: None,
                warmup: 0,
                base_lr: config.optimizer.lr(),
                total_epochs: config.epochs,
                scheduler: Some(scheduler.clone()),
            }),
            ..FitOptions::default()
        };
        let record = match train::fit(
            &mut exec,
            &train_set,
            val_set.as_ref(),
            &options,
            &mut progress,
        ) {
            Ok(mut fitted) => {
                lr_scheduler = fitted.lr_scheduler;
                fitted.records.remove(0)
            }
            Err(TrainError::Interrupted { .. }) => {
                interrupted = true;
                break;
            }
            Err(e) => return Err(e.to_string()),
        };
        done += 1;
        if let (Some(loss), Some(accuracy)) = (record.val_loss, record.val_accuracy) {
            let verdict = selection.observe(done, selection.value(loss, accuracy));
            if verdict.improved {
                save_model(&exec, done, &info, &best_path)?;
            }
        }
        history.push(record);
        let mut state = checkpoint::training_state(&exec, done);
        info.write(&mut state);
        state.set_metadata("optimizer", optimizer_kind);
        if let Some(scheduler) = &lr_scheduler {
            state.set_metadata("lr_schedule", scheduler.state());
        }
        state.set_metadata(
            "selection",
            serde_json::to_string(&selection).expect("selection serializes"),
        );
        state.set_metadata(
            "history",
            serde_json::to_string(&history).expect("records serialize"),
        );
        state.save(&state_path).map_err(|e| e.to_string())?;
        save_model(&exec, done, &info, &model_path)?;
        if selection.stopped {
            outln!(
                "stopping early after epoch {done}: {} has not improved for {} epochs",
                selection.monitor.name(),
                selection.wait
            );
        }
        if crate::interrupt::requested() {
            // Pressed while the epoch was being evaluated or saved.
            interrupted = true;
            break;
        }
    }
    if interrupted {
        if done == 0 {
            errln!("interrupted before the first epoch finished; nothing written");
            return Ok(ExitCode::from(INTERRUPTED));
        }
        errln!(
            "interrupted after epoch {done}; continue with --resume (dslc train {} --out {} --resume)",
            args.file.display(),
            args.out.display()
        );
        // The weights of the last finished epoch, not of the unfinished one.
        let state = session::read_checkpoint(&state_path)?;
        resume(&mut exec, &state, optimizer_kind)?;
    }

    // With early stopping, the run ends with the best epoch's weights.
    if config.early_stopping.is_some()
        && let Some(best) = selection.best
    {
        let weights = session::read_checkpoint(&best_path)?;
        checkpoint::load_state_dict(&mut exec, &weights).map_err(|e| e.to_string())?;
        save_model(&exec, best.epoch, &info, &model_path)?;
    }
    // The test split's one use.
    let evaluation = train::evaluate(&mut exec, &test);
    report::print_evaluation(&evaluation, class_names.as_deref());
    let train_seconds: f64 = history.iter().map(|r| r.seconds).sum();
    let trained_samples = train_set.len() * history.len();
    let metrics = Metrics {
        model: &config.model,
        data: data.to_string(),
        test_accuracy: evaluation.accuracy,
        test_loss: evaluation.loss,
        test_samples: test.len(),
        validation_samples: val_set.as_ref().map(|v| v.len()),
        selection: val_set.as_ref().and(report::selection_summary(
            &selection,
            config.early_stopping.is_some(),
        )),
        epochs: Some(done),
        train_samples_per_s: (train_seconds > 0.0).then(|| trained_samples as f64 / train_seconds),
        train_seconds: Some(train_seconds),
        batch: Some(config.batch),
        lr: Some(config.optimizer.lr()),
        seed: Some(config.seed),
        threads,
        regression: regression::summary(&evaluation),
        confusion_matrix: report::confusion_rows(&evaluation),
        report: report::classification(&evaluation, class_names.as_deref()),
        history: &history,
    };
    if let Some(summary) = &metrics.selection {
        report::print_selection(summary);
    }
    let mut written = vec![model_path, state_path];
    if selection.best.is_some() {
        written.push(best_path);
    }
    written.extend(report::write(
        &args.out,
        &metrics,
        &evaluation,
        class_names.as_deref(),
    )?);
    if let Some(rate) = metrics.train_samples_per_s {
        outln!(
            "\ntrained at {} samples/s",
            crate::progress::thousands(rate)
        );
    }
    outln!("wrote:");
    for path in written {
        outln!("  {}", path.display());
    }
    Ok(if interrupted {
        ExitCode::from(INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The optimizer with its lr, and the schedule if any.
fn describe_optimizer(config: &nnspec_dsl::ir::TrainConfig) -> String {
    let optimizer = match &config.optimizer {
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
    };
    let schedule = nnspec_codegen::lr_schedule(config).map(|s| format!(", {} schedule", s.name()));
    let warmup = (config.warmup > 0).then(|| format!(", {} warmup epochs", config.warmup));
    format!(
        "{optimizer}{}{}",
        schedule.unwrap_or_default(),
        warmup.unwrap_or_default()
    )
}

/// `model.safetensors`: the `state_dict`, and in its metadata the run's
/// settings, which `dslc eval` needs to find the same test split.
fn save_model(exec: &Executor, epochs: usize, info: &RunInfo, path: &Path) -> Result<(), String> {
    let mut checkpoint = checkpoint::state_dict(exec);
    checkpoint.set_metadata("epochs", epochs.to_string());
    info.write(&mut checkpoint);
    checkpoint.save(path).map_err(|e| e.to_string())
}
