//! `dslc deploy FILE --weights CKPT -o DIR` for a host (a server, a phone
//! through ONNX): every deploy variant of a trained model written as ONNX
//! and Rust, measured side by side, and held to RAM and flash budgets.
//!
//! The variants, each in its own folder of DIR:
//!
//! * `f32`: the checkpoint as trained;
//! * `fp16`: the same weights stored in half precision (widened to f32
//!   when loaded: smaller, not faster);
//! * `int8`: post-training quantization (`dslc quantize`);
//! * `pruned_int8`: structured pruning of the hidden neurons and channels
//!   with fine-tuning (`dslc prune --structured`), then quantized.
//!
//! The int8 and pruned variants run the `quantize` and `prune` commands
//! themselves, whose reports are printed as they go; the table at the end
//! measures every variant the same way: test accuracy on the data's test
//! split, batch-1 latency and batch-1000 throughput on one thread (best
//! of repeated runs), the working memory (RAM) the runtime needs for one
//! sample, and the weights' bytes (flash) as the variant stores them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use nnspec_runtime::infer;
use nnspec_runtime::plan::Plan;
use nnspec_runtime::quant::run as qrun;
use nnspec_runtime::quantize::{self, QPlan};
use nnspec_runtime::safetensors_file::Checkpoint;
use nnspec_runtime::threads::Serial;

use super::data::{TestSplit, test_split};
use crate::outln;
use crate::session::{self, DataSource};

/// What the host deploy is asked for (from `dslc deploy`'s flags).
pub struct Request<'a> {
    pub file: &'a Path,
    pub weights: &'a Path,
    pub out: &'a Path,
    pub model: Option<&'a str>,
    pub data: Option<&'a DataSource>,
    /// Share of each prunable layer's neurons the pruned variant removes.
    pub prune: f64,
    pub finetune: u64,
    pub budget_ram: Option<u64>,
    pub budget_flash: Option<u64>,
}

/// One row of the deploy table.
struct Variant {
    name: &'static str,
    /// The weights file and its size on disk.
    weights: PathBuf,
    disk_bytes: u64,
    /// What the deployed weights take: f32/f16 values, or the int8 module's
    /// integer tables.
    flash_bytes: u64,
    accuracy: f64,
    latency: Duration,
    /// Samples per second at batch 1000.
    throughput: f64,
    /// The runtime's working memory for one sample.
    ram_bytes: u64,
    files: Vec<PathBuf>,
}

pub fn deploy(request: &Request) -> Result<ExitCode, String> {
    let job = session::load_job(request.file, request.model, "deploy stopped")?;
    let checkpoint = session::read_checkpoint(request.weights)?;
    nnspec_runtime::checkpoint::check_model(&checkpoint, &job.config.model)
        .map_err(|e| e.to_string())?;
    let split = test_split(&job, &checkpoint, request.weights, request.data)?;
    let source = crate::source::read(request.file)?;
    let mut variants = Vec::new();

    let dir = folder(request.out, "f32")?;
    let weights = dir.join("model.safetensors");
    checkpoint.save(&weights).map_err(|e| e.to_string())?;
    let files = float_outputs(&dir, request, &job.model, &checkpoint, &source, false)?;
    variants.push(float_variant(
        "f32",
        &job.model,
        &checkpoint,
        weights,
        files,
        4,
        &split,
    )?);

    let dir = folder(request.out, "fp16")?;
    if let Some((name, index, value)) = nnspec_runtime::prune::half_range(&checkpoint) {
        return Err(format!(
            "the fp16 variant: tensor `{name}` holds {value} at element {index}, beyond half \
             precision's range"
        ));
    }
    let weights = dir.join("model.fp16.safetensors");
    let mut half = checkpoint.clone();
    half.set_half_floats(true);
    half.save(&weights).map_err(|e| e.to_string())?;
    let half = session::read_checkpoint(&weights)?;
    let files = float_outputs(&dir, request, &job.model, &half, &source, true)?;
    variants.push(float_variant(
        "fp16", &job.model, &half, weights, files, 2, &split,
    )?);

    let dir = request.out.join("int8");
    outln!("== int8: dslc quantize");
    run_quantize(request, request.file, request.weights, &dir)?;
    variants.push(int8_variant("int8", &job.model, &dir, &split)?);

    let pruned_dir = request.out.join("pruned");
    outln!(
        "== pruned: dslc prune --structured --sparsity {} --finetune {}",
        request.prune,
        request.finetune
    );
    run_prune(request, &pruned_dir)?;
    let pruned_file = pruned_dir.join(request.file.file_name().unwrap_or_default());
    let pruned_weights = pruned_dir.join(crate::run_dir::MODEL);
    let pruned = session::load_job(&pruned_file, request.model, "deploy stopped")?;
    let dir = request.out.join("pruned_int8");
    outln!("== pruned_int8: dslc quantize on the pruned model");
    run_quantize(request, &pruned_file, &pruned_weights, &dir)?;
    variants.push(int8_variant("pruned_int8", &pruned.model, &dir, &split)?);

    print_table(&variants, split.len);
    over_budget(&variants, request)
}

/// `DIR/name`, created.
fn folder(out: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = out.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The f32 module's Rust, the ONNX model and (f32 only) the TFLite
/// model of a float variant (`half`: the ONNX initializers in FLOAT16,
/// widened by `Cast`).
fn float_outputs(
    dir: &Path,
    request: &Request,
    model: &nnspec_dsl::ir::Model,
    weights: &Checkpoint,
    source: &[u8],
    half: bool,
) -> Result<Vec<PathBuf>, String> {
    let file_name = request.file.display().to_string();
    let provenance = nnspec_codegen::onnx::Provenance {
        source_file: &file_name,
        source,
        weights: if half { "fp16 weights" } else { "f32 weights" }.to_string(),
    };
    let mut onnx = nnspec_codegen::onnx::export(model, weights, &provenance)
        .map_err(|e| format!("cannot export as ONNX: {e}"))?;
    if half {
        onnx = nnspec_codegen::onnx::with_half_weights(onnx);
    }
    let onnx_path = dir.join("model.onnx");
    crate::export::write(&onnx_path, &nnspec_codegen::onnx::to_bytes(&onnx))?;
    let options = nnspec_codegen::RustOptions {
        source: file_name.clone(),
        ..nnspec_codegen::RustOptions::default()
    };
    let rust = nnspec_codegen::model_module(model, None, &options).map_err(|e| e.to_string())?;
    let rust_path = dir.join("model.rs");
    crate::export::write(&rust_path, rust.as_bytes())?;
    let mut files = vec![onnx_path, rust_path];
    // The f32 TFLite file for phones (fp16 storage is ONNX's here); a
    // model TFLite cannot express does not stop the deployment.
    if !half {
        match nnspec_codegen::tflite::export(model, weights) {
            Ok(tf) => {
                let bytes = crate::export::tflite_bytes(
                    model,
                    tf,
                    &provenance,
                    weights,
                    request.weights,
                    false,
                )?;
                let tflite_path = dir.join("model.tflite");
                crate::export::write(&tflite_path, &bytes)?;
                files.push(tflite_path);
            }
            Err(e) => crate::errln!("note: no model.tflite: {e}"),
        }
    }
    Ok(files)
}

fn float_variant(
    name: &'static str,
    model: &nnspec_dsl::ir::Model,
    weights: &Checkpoint,
    path: PathBuf,
    files: Vec<PathBuf>,
    bytes_per_value: u64,
    split: &TestSplit,
) -> Result<Variant, String> {
    let plan = nnspec_codegen::lower_inference(model);
    let params = quantize::params_from_checkpoint(&plan, weights).map_err(|e| e.to_string())?;
    let outputs =
        quantize::run_float(&plan, &params, &split.features).map_err(|e| e.to_string())?;
    let (latency, throughput) = float_speed(&plan, &params, split);
    Ok(Variant {
        name,
        disk_bytes: file_len(&path),
        weights: path,
        flash_bytes: params.len() as u64 * bytes_per_value,
        accuracy: split.accuracy(&outputs),
        latency,
        throughput,
        ram_bytes: infer::arena_len(&plan, 1, 1).unwrap_or(0) as u64 * 4,
        files,
    })
}

fn int8_variant(
    name: &'static str,
    model: &nnspec_dsl::ir::Model,
    dir: &Path,
    split: &TestSplit,
) -> Result<Variant, String> {
    let path = dir.join("model.int8.safetensors");
    let plan = nnspec_codegen::lower_inference(model);
    let checkpoint = session::read_checkpoint(&path)?;
    let q = quantize::load(&plan, &checkpoint).map_err(|e| e.to_string())?;
    let outputs = quantize::run_int8(&q, &split.features).map_err(|e| e.to_string())?;
    let (latency, throughput) = int8_speed(&q, split);
    let sizes = qrun::arena_sizes(&q, 1, 1).ok_or("the int8 arena's size overflows")?;
    Ok(Variant {
        name,
        disk_bytes: file_len(&path),
        weights: path,
        flash_bytes: int8_flash(&q),
        accuracy: split.accuracy(&outputs),
        latency,
        throughput,
        ram_bytes: (sizes.f32_len * 4 + sizes.u8_len + sizes.scratch_len) as u64,
        files: ["model.int8.onnx", "model.int8.tflite", "model_int8.rs"]
            .iter()
            .map(|f| dir.join(f))
            .filter(|path| path.is_file())
            .collect(),
    })
}

/// The int8 module's weight tables: packed weights, their sums, biases
/// and requantization constants, and the float parameters of f32 steps.
fn int8_flash(q: &QPlan) -> u64 {
    let layers: usize = q
        .layers
        .iter()
        .map(|l| l.packed.len() + 4 * (l.weight_sums.len() + l.bias.len() + 2 * l.requant.len()))
        .sum();
    let float_steps = q
        .steps
        .iter()
        .any(|s| matches!(s, nnspec_runtime::quant::plan::QStep::Float(_)));
    let floats = if float_steps {
        q.float_params.len() * 4
    } else {
        0
    };
    (layers + floats) as u64
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `f` repeated for about `budget`, the fastest run.
fn fastest(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut best = Duration::MAX;
    while start.elapsed() < budget || best == Duration::MAX {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    best
}

const THROUGHPUT_BATCH: usize = 1000;

/// The batch of `batch` test samples (repeated when the test split is smaller).
fn batch_of(split: &TestSplit, batch: usize) -> Vec<f32> {
    split
        .features
        .chunks(split.width)
        .cycle()
        .take(batch)
        .flatten()
        .copied()
        .collect()
}

fn float_speed(plan: &Plan, params: &[f32], split: &TestSplit) -> (Duration, f64) {
    let time = |batch: usize, budget: Duration| {
        let inputs = batch_of(split, batch);
        let mut arena = vec![0.0f32; infer::arena_len(plan, batch, 1).unwrap_or(0)];
        arena[infer::input_range(plan, batch)].copy_from_slice(&inputs);
        fastest(budget, || {
            infer::run(plan, params, &mut arena, batch, &Serial);
        })
    };
    let latency = time(1, Duration::from_millis(200));
    let big = time(THROUGHPUT_BATCH, Duration::from_millis(400));
    (latency, THROUGHPUT_BATCH as f64 / big.as_secs_f64())
}

fn int8_speed(q: &QPlan, split: &TestSplit) -> (Duration, f64) {
    let time = |batch: usize, budget: Duration| {
        let Some(sizes) = qrun::arena_sizes(q, batch, 1) else {
            return Duration::MAX;
        };
        let mut floats = vec![0.0f32; sizes.f32_len];
        let mut bytes = vec![0u8; sizes.u8_len];
        let mut scratch = vec![0u8; sizes.scratch_len];
        floats[qrun::input_range(q, batch)].copy_from_slice(&batch_of(split, batch));
        fastest(budget, || {
            qrun::run(q, &mut floats, &mut bytes, &mut scratch, batch, &Serial);
        })
    };
    let latency = time(1, Duration::from_millis(200));
    let big = time(THROUGHPUT_BATCH, Duration::from_millis(400));
    (latency, THROUGHPUT_BATCH as f64 / big.as_secs_f64())
}

/// `dslc quantize` in this process, writing into `out`.
fn run_quantize(request: &Request, file: &Path, weights: &Path, out: &Path) -> Result<(), String> {
    let mut argv = vec![
        "quantize".into(),
        file.display().to_string(),
        "--weights".into(),
        weights.display().to_string(),
        "-o".into(),
        out.display().to_string(),
    ];
    if let Some(data) = request.data {
        argv.extend(["--data".into(), data.to_string()]);
    }
    if let Some(model) = request.model {
        argv.extend(["--model".into(), model.to_string()]);
    }
    let args = Sub::<crate::quantize::Args>::try_parse_from(argv).map_err(|e| e.to_string())?;
    succeeded("dslc quantize", crate::quantize::run(&args.args)?)
}

/// `dslc prune --structured` in this process, writing into `out`.
fn run_prune(request: &Request, out: &Path) -> Result<(), String> {
    let mut argv = vec![
        "prune".into(),
        request.file.display().to_string(),
        "--weights".into(),
        request.weights.display().to_string(),
        "--structured".into(),
        "--sparsity".into(),
        request.prune.to_string(),
        "--finetune".into(),
        request.finetune.to_string(),
        "-o".into(),
        out.display().to_string(),
    ];
    if let Some(data) = request.data {
        argv.extend(["--data".into(), data.to_string()]);
    }
    if let Some(model) = request.model {
        argv.extend(["--model".into(), model.to_string()]);
    }
    let args = Sub::<crate::prune::Args>::try_parse_from(argv).map_err(|e| e.to_string())?;
    succeeded("dslc prune", crate::prune::run(&args.args)?)
}

fn succeeded(what: &str, code: ExitCode) -> Result<(), String> {
    if code == ExitCode::SUCCESS {
        Ok(())
    } else {
        Err(format!("{what} failed (above); no deploy table"))
    }
}

/// A subcommand's flags, parsed as its command line would be.
#[derive(Parser)]
struct Sub<A: clap::Args> {
    #[command(flatten)]
    args: A,
}

fn kib(bytes: u64) -> String {
    if bytes < 10 * 1024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn print_table(variants: &[Variant], test_samples: usize) {
    outln!();
    outln!(
        "deploy variants (accuracy on {test_samples} test samples; speed on 1 thread, kernels: \
         f32 {}, int8 {}):",
        nnspec_runtime::cpu::tier().name(),
        nnspec_runtime::quant::kernels::int8_tier().name()
    );
    outln!(
        "{:<12} {:>11} {:>11} {:>9} {:>12} {:>16} {:>11}",
        "variant",
        "disk",
        "flash",
        "accuracy",
        "batch 1",
        "batch 1000",
        "RAM"
    );
    for v in variants {
        outln!(
            "{:<12} {:>11} {:>11} {:>8.2}% {:>9.2} us {:>10.0} /s {:>11}",
            v.name,
            kib(v.disk_bytes),
            kib(v.flash_bytes),
            v.accuracy * 100.0,
            v.latency.as_secs_f64() * 1e6,
            v.throughput,
            kib(v.ram_bytes)
        );
    }
    outln!("wrote:");
    for v in variants {
        outln!("  {}", v.weights.display());
        for f in &v.files {
            outln!("  {}", f.display());
        }
    }
}

/// An error naming every variant over a budget (after the table, so the
/// numbers are there to read).
fn over_budget(variants: &[Variant], request: &Request) -> Result<ExitCode, String> {
    let mut problems = Vec::new();
    for v in variants {
        if let Some(budget) = request.budget_ram.filter(|&b| v.ram_bytes > b) {
            problems.push(format!(
                "{} needs {} of RAM, over --budget-ram {budget} ({})",
                v.name,
                v.ram_bytes,
                kib(budget)
            ));
        }
        if let Some(budget) = request.budget_flash.filter(|&b| v.flash_bytes > b) {
            problems.push(format!(
                "{} needs {} of flash, over --budget-flash {budget} ({})",
                v.name,
                v.flash_bytes,
                kib(budget)
            ));
        }
    }
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let fitting: Vec<&str> = variants
        .iter()
        .filter(|v| {
            !problems
                .iter()
                .any(|p| p.starts_with(&format!("{} ", v.name)))
        })
        .map(|v| v.name)
        .collect();
    Err(format!(
        "over budget:\n  {}\n{}",
        problems.join("\n  "),
        if fitting.is_empty() {
            "no variant fits the budget".to_string()
        } else {
            format!("within budget: {}", fitting.join(", "))
        }
    ))
}
