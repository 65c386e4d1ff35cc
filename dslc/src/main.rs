//! `dslc`, the nnspec command line: check, format, train and evaluate `.nn`
//! models, generate code for them and export them to ONNX, and explain
//! their diagnostics.
//!
//! Output goes through [`output`]: a reader that closes the pipe early
//! (`dslc ... | head`) stops the printing, never the work.

mod build;
mod check;
mod colour;
mod deploy;
mod eval;
mod explain;
mod export;
mod format;
mod interrupt;
mod output;
mod predict;
mod progress;
mod prune;
mod quantize;
mod regression;
mod report;
mod run_dir;
mod run_info;
mod serve;
mod session;
mod source;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "dslc", version, about = "The nnspec model compiler")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check models: report every error, print a summary table per model
    Check(check::Args),
    /// Print files in canonical form, check them (--check) or rewrite them (--write)
    Fmt(format::Args),
    /// Train a model, evaluate it, and write its checkpoint, metrics and plots
    Train(train::Args),
    /// Evaluate a trained model on a data set's test split
    Eval(eval::Args),
    /// Predict with a trained model: classes and probabilities (or outputs) for unlabelled
    /// inputs (CSV, IDX, .npy/.npz, PNG files), as CSV or JSON
    Predict(predict::Args),
    /// Explain a diagnostic code (E0301) at length, with a wrong and a fixed example
    Explain(explain::Args),
    /// Generate code for a model: a Rust module (--emit rust), ONNX with the
    /// initial weights (--emit onnx), a Graphviz graph (--emit dot), or a
    /// PyTorch module (--emit pytorch) and torchrun training script
    /// (--emit pytorch-train)
    Build(build::Args),
    /// Export a trained model (or its initial weights) as ONNX
    Export(export::Args),
    /// Quantize a trained model to int8: calibrate, write the int8 checkpoint, report the error
    Quantize(quantize::Args),
    /// Prune a trained model by weight magnitude (--structured: remove neurons and channels,
    /// writing a smaller model), optionally fine-tune it and store it in half precision
    Prune(prune::Args),
    /// Deploy a trained model: a Cortex-M4F firmware crate (--target thumbv7em-none-eabihf)
    Deploy(deploy::Args),
    /// Serve trained models over HTTP (the Open Inference Protocol, KServe v2) with dynamic
    /// batching, metrics and checkpoint reloads
    Serve(serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Fmt(args) => format::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Quantize(args) => quantize::run(&args),
        Command::Prune(args) => prune::run(&args),
        Command::Deploy(args) => deploy::run(&args),
        Command::Serve(args) => serve::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            errln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A share strictly between 0 and 1 (`--val-split`).
fn unit_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x > 0.0 && x < 1.0 => Ok(x),
        Ok(x) => Err(format!("must be strictly between 0 and 1, not {x}")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// A finite number greater than zero (learning rates).
fn positive_float(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a finite number greater than 0, not {x}")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// A seed: a whole number from 0 to 2^64 - 1 (`-1` is a value error, not
/// an unknown flag).
fn seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>().map_err(|_| {
        format!("a seed is a whole number from 0 to 18446744073709551615, not `{text}`")
    })
}
