//! `dslc quantize FILE --weights CKPT -o DIR`: post-training int8
//! quantization of a trained model.
//!
//! Calibrates on the first `--samples` samples of the training split (the
//! data, seed and scaling the checkpoint records, as `eval` reads them),
//! builds the int8 plan, writes `DIR/model.int8.safetensors` and
//! `DIR/quantize.json`, and prints the per-layer error report and the f32
//! and int8 test accuracies and sizes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nnspec_runtime::quantize::{self, CalibrationMethod, ErrorReport, QPlan};
use serde::Serialize;

use crate::outln;
use crate::session::{self, DataSource, Job, Scaling};

#[derive(clap::Args)]
pub struct Args {
    /// The model file
    file: PathBuf,
    /// The trained checkpoint (model.safetensors)
    #[arg(long)]
    weights: PathBuf,
    /// `digits`, a directory of MNIST-format IDX files, a CSV file or an .npz
    /// (calibration on its training split, accuracy on its test split);
    /// default: the data the checkpoint was trained on
    #[arg(long)]
    data: Option<DataSource>,
    /// Where to write model.int8.safetensors and quantize.json
    #[arg(short = 'o', long = "out")]
    out: PathBuf,
    /// Calibration samples, the first of the training split (default: 512, or
    /// all of them when fewer)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    samples: Option<u64>,
    /// How activation ranges are taken: `minmax` or `percentile:P` (P in (0, 100])
    #[arg(long, default_value = "minmax")]
    calibration: CalibrationMethod,
    /// Which model of the file (default: the only one, or the only one with a train block)
    #[arg(long)]
    model: Option<String>,
    /// Input scaling (default, and the only one accepted: the checkpoint's)
    #[arg(long, value_enum)]
    normalize: Option<Scaling>,
    /// Seed of the train/test split (default, and the only one accepted: the checkpoint's)
    #[arg(long, value_parser = crate::seed, allow_negative_numbers = true)]
    seed: Option<u64>,
}

/// The default number of calibration samples.
const DEFAULT_SAMPLES: usize = 512;

/// `DIR/quantize.json`.
#[derive(Serialize)]
struct Summary<'a> {
    model: &'a str,
    data: String,
    calibration: String,
    calibration_samples: usize,
    test_samples: usize,
    f32_accuracy: f64,
    int8_accuracy: f64,
    argmax_agreement: f64,
    f32_bytes: u64,
    int8_bytes: u64,
    /// `sqnr_db` is null where the int8 values are exact.
    layers: Vec<serde_json::Value>,
    float_steps: &'a [String],
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let job = session::load_job(&args.file, args.model.as_deref(), "quantize stopped")?;
    let checkpoint = session::read_checkpoint(&args.weights)?;
    nnspec_runtime::checkpoint::check_model(&checkpoint, &job.config.model)
        .map_err(|e| e.to_string())?;
    let flags = session::DataFlags {
        data: args.data.as_ref(),
        seed: args.seed,
        normalize: args.normalize,
    };
    let Calibrated {
        data,
        split,
        plan,
        params,
        q,
        samples,
        calibration,
    } = calibrated(
        &job,
        &checkpoint,
        &args.weights,
        flags,
        args.samples,
        args.calibration,
    )?;
    let test = &split.test;
    let report = quantize::report(&plan, &params, &q, &test.features)
        .map_err(|e| format!("the test split of {data}: {e}"))?;
    let classes = plan.outputs[0].2.iter().product::<usize>().max(1);
    let accuracy = |outputs: &[f32]| {
        let right = outputs
            .chunks(classes)
            .zip(&test.labels)
            .filter(|(o, label)| quantize::argmax(o) == **label as usize)
            .count();
        right as f64 / test.len().max(1) as f64
    };
    let f32_accuracy =
        accuracy(&quantize::run_float(&plan, &params, &test.features).map_err(|e| e.to_string())?);
    let int8_accuracy =
        accuracy(&quantize::run_int8(&q, &test.features).map_err(|e| e.to_string())?);

    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let int8_path = args.out.join("model.int8.safetensors");
    let mut int8 = quantize::to_checkpoint(&q).map_err(|e| e.to_string())?;
    // What the inputs were and how they were scaled travel with the
    // weights (and nothing else: in a small model every byte shows).
    for key in ["data", "normalize", "seed"] {
        if let Some(value) = checkpoint.metadata().get(key) {
            int8.set_metadata(key, value.clone());
        }
    }
    int8.save(&int8_path).map_err(|e| e.to_string())?;
    let size = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let (f32_bytes, int8_bytes) = (size(&args.weights)?, size(&int8_path)?);

    print_report(&report, &cal_text(&calibration, samples, &data));
    let points = (int8_accuracy - f32_accuracy) * 100.0;
    outln!(
        "test accuracy ({} samples): f32 {:.2}%, int8 {:.2}% ({points:+.2} points)",
        test.len(),
        f32_accuracy * 100.0,
        int8_accuracy * 100.0
    );
    outln!(
        "size on disk: f32 {} ({}), int8 {} ({:.1}% of f32)",
        bytes(f32_bytes),
        args.weights.display(),
        bytes(int8_bytes),
        int8_bytes as f64 / f32_bytes.max(1) as f64 * 100.0
    );
    let summary = Summary {
        model: &job.config.model,
        data: data.to_string(),
        calibration: calibration.to_string(),
        calibration_samples: samples,
        test_samples: test.len(),
        f32_accuracy,
        int8_accuracy,
        argmax_agreement: report.argmax_agreement,
        f32_bytes,
        int8_bytes,
        layers: report
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "layer": l.layer,
                    "value": l.value,
                    "max_abs_error": l.max_abs_error,
                    "sqnr_db": l.sqnr_db.is_finite().then_some(l.sqnr_db),
                })
            })
            .collect(),
        float_steps: &report.float_steps,
    };
    let json_path = args.out.join("quantize.json");
    let json = serde_json::to_string_pretty(&summary).expect("the summary serializes");
    nnspec_runtime::atomic_write::write_atomically(&json_path, |w| w.write_all(json.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    let mut written = vec![int8_path, json_path];
    written.extend(deploy_outputs(&args.out, args, &job, &q, &checkpoint)?);
    outln!("wrote:");
    for path in written {
        outln!("  {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A trained model's int8 plan, calibrated on the first samples of the
/// training split it was trained on, with what was used to make it.
pub struct Calibrated {
    pub data: DataSource,
    pub split: nnspec_runtime::data::Split,
    /// The float inference plan and its parameters.
    pub plan: nnspec_runtime::plan::Plan,
    pub params: Vec<f32>,
    pub q: QPlan,
    pub samples: usize,
    pub calibration: CalibrationMethod,
}

/// Calibrates `checkpoint` (already checked against `job`'s model) on
/// `samples` samples (default [`DEFAULT_SAMPLES`]) of its recorded
/// training split and builds the int8 plan: for `quantize` and for
/// `export --int8`.
pub fn calibrated(
    job: &Job,
    checkpoint: &nnspec_runtime::safetensors_file::Checkpoint,
    weights: &Path,
    flags: session::DataFlags,
    samples: Option<u64>,
    method: CalibrationMethod,
) -> Result<Calibrated, String> {
    let (data, split) = session::recorded_split(job, checkpoint, weights, flags)?;
    // The inference lowering: what deployed code runs, and what a loader of
    // the int8 checkpoint re-lowers.
    let plan = nnspec_codegen::lower_inference(&job.model);
    let params = quantize::params_from_checkpoint(&plan, checkpoint).map_err(|e| e.to_string())?;
    let samples = match samples {
        Some(n) => n as usize,
        None => DEFAULT_SAMPLES.min(split.train.len()),
    };
    let cal = quantize::calibrate(&plan, &params, &split.train.features, samples, method)
        .map_err(|e| format!("calibration on the training split of {data}: {e}"))?;
    let q = quantize::build(&plan, &params, &cal).map_err(|e| e.to_string())?;
    Ok(Calibrated {
        data,
        split,
        plan,
        params,
        q,
        samples,
        calibration: cal.method,
    })
}

/// The int8 plan's deploy outputs beside its checkpoint: the standard
/// ONNX QDQ model (`model.int8.onnx`), TFLite's full-integer model
/// (`model.int8.tflite`, docs/tflite.md) and the `#![no_std]` int8 Rust
/// module with its weights as statics (`model_int8.rs`).
fn deploy_outputs(
    dir: &Path,
    args: &Args,
    job: &Job,
    q: &QPlan,
    checkpoint: &nnspec_runtime::safetensors_file::Checkpoint,
) -> Result<Vec<PathBuf>, String> {
    let source = crate::source::read(&args.file)?;
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    let provenance = nnspec_codegen::onnx::Provenance {
        source_file: &file_name(&args.file),
        source: &source,
        weights: format!("{} quantized to int8", file_name(&args.weights)),
    };
    let onnx = nnspec_codegen::onnx::qdq_model(&job.model, q, &provenance)
        .map_err(|e| format!("cannot export the int8 model as ONNX: {e}"))?;
    let onnx_path = dir.join("model.int8.onnx");
    crate::export::write(&onnx_path, &nnspec_codegen::onnx::to_bytes(&onnx))?;
    // TFLite's full-integer file, for phones; a model TFLite cannot
    // express does not stop the quantization.
    let mut written = vec![onnx_path];
    match nnspec_codegen::tflite::export_int8(&job.model, q) {
        Ok(tf) => {
            let bytes = crate::export::tflite_bytes(
                &job.model,
                tf,
                &provenance,
                checkpoint,
                &args.weights,
                true,
            )?;
            let tflite_path = dir.join("model.int8.tflite");
            crate::export::write(&tflite_path, &bytes)?;
            written.push(tflite_path);
        }
        Err(e) => crate::errln!("note: no model.int8.tflite: {e}"),
    }
    let rust = crate::deploy::int8_module(q, &args.file.display().to_string())?;
    let rust_path = dir.join("model_int8.rs");
    nnspec_runtime::atomic_write::write_atomically(&rust_path, |w| w.write_all(rust.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", rust_path.display()))?;
    written.push(rust_path);
    Ok(written)
}

fn cal_text(method: &CalibrationMethod, samples: usize, data: &DataSource) -> String {
    format!("calibration: {method} over {samples} samples of the training split of {data}")
}

fn print_report(report: &ErrorReport, calibration: &str) {
    outln!("{calibration}");
    outln!(
        "int8 layers against f32 over {} test samples:",
        report.samples
    );
    let width = report
        .layers
        .iter()
        .map(|l| l.layer.len() + l.value.len() + 4)
        .max()
        .unwrap_or(0);
    for l in &report.layers {
        let name = if l.layer == l.value {
            l.layer.clone()
        } else {
            format!("{} -> {}", l.layer, l.value)
        };
        let sqnr = if l.sqnr_db.is_finite() {
            format!("{:6.1} dB", l.sqnr_db)
        } else {
            "exact".to_string()
        };
        outln!(
            "  {name:width$}  max |error| {:<10.4}  SQNR {sqnr}",
            l.max_abs_error
        );
    }
    if report.float_steps.is_empty() {
        outln!("runs in f32: nothing (every step has an int8 kernel)");
    } else {
        outln!(
            "runs in f32 (between dequantize and quantize): {}",
            report.float_steps.join(", ")
        );
    }
    outln!(
        "argmax agreement with f32: {:.2}%",
        report.argmax_agreement * 100.0
    );
}

fn bytes(n: u64) -> String {
    if n < 10 * 1024 {
        format!("{n} B")
    } else if n < 10 * 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}
