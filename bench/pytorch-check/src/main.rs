//! The executor's side of issue 15's first acceptance check: for every
//! model of the example files, its outputs, training loss and parameter
//! gradients on one batch, written for `bench/pytorch_emitted.py`, which
//! loads the same weights into the emitted PyTorch module and compares.
//!
//! ```text
//! cargo run --manifest-path bench/pytorch-check/Cargo.toml -- --out DIR [--batch 4] [FILE.nn ...]
//! ```
//!
//! Without files, every `examples/*.nn` and the emitter's
//! `codegen/tests/pytorch/every_op.nn` (the layers and losses the examples
//! do not use), and `losses.nn` beside this crate (l1, the one loss
//! left). For each model it writes `DIR/<model>.safetensors` (see `reference.rs`), `DIR/<model>.nn` when
//! the text had to change (dropout set to 0, see `source.rs`), and one
//! `DIR/index.json` listing them. Not a workspace member: it is a bench
//! tool, run by hand next to PyTorch, and CI has no PyTorch.

mod reference;
mod source;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nnspec::runtime::atomic_write::write_atomically;
use nnspec::runtime::cpu;
use serde_json::json;

const USAGE: &str = "usage: pytorch-check --out DIR [--batch N] [FILE.nn ...]";

struct Args {
    out: PathBuf,
    batch: usize,
    files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pytorch-check: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut out = None;
    let mut batch = 4;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value; {USAGE}"));
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--batch" => {
                let text = value("--batch")?;
                batch = text.parse().ok().filter(|&b| b > 0).ok_or(format!(
                    "--batch {text:?}: expected a positive whole number"
                ))?;
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}; {USAGE}")),
            file => files.push(PathBuf::from(file)),
        }
    }
    let out = out.ok_or(format!("--out is required; {USAGE}"))?;
    if files.is_empty() {
        files = example_files()?;
    }
    Ok(Args { out, batch, files })
}

/// `examples/*.nn` of this repository, sorted, then `every_op.nn` and
/// `losses.nn` (beside this crate: the loss neither of them uses).
fn example_files() -> Result<Vec<PathBuf>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "nn"))
        .collect();
    files.sort();
    for extra in [
        "../codegen/tests/pytorch/every_op.nn",
        "../bench/pytorch-check/losses.nn",
    ] {
        let path = dir.join(extra);
        files.push(
            path.canonicalize()
                .map_err(|e| format!("{}: {e}", path.display()))?,
        );
    }
    Ok(files)
}

fn run(args: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let tier = cpu::tier();
    println!(
        "kernel tier {tier} (best this CPU runs: {}; NNSPEC_KERNELS={})",
        cpu::best_supported(),
        std::env::var("NNSPEC_KERNELS").unwrap_or_else(|_| "unset".into())
    );
    let mut index = Vec::new();
    for file in &args.files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let names = source::model_names(&text).map_err(|e| format!("{}:\n{e}", file.display()))?;
        for name in names {
            let entry = one_model(args, file, &text, &name)
                .map_err(|e| format!("{} model {name}: {e}", file.display()))?;
            index.push(entry);
        }
    }
    let index = json!({
        "batch": args.batch,
        "kernel_tier": tier.name(),
        "models": index,
    });
    let path = args.out.join("index.json");
    let text = serde_json::to_string_pretty(&index).expect("plain JSON values");
    write_atomically(&path, |w| w.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Writes one model's reference (and its rewritten text); its index entry.
fn one_model(
    args: &Args,
    file: &Path,
    text: &str,
    name: &str,
) -> Result<serde_json::Value, String> {
    let prepared = source::prepare(text, name)?;
    let mut reference = reference::compute(&prepared.model, &prepared.config, args.batch)?;
    reference.set_metadata("kernel_tier", cpu::tier().name());
    let reference_file = format!("{name}.safetensors");
    reference
        .save(args.out.join(&reference_file))
        .map_err(|e| e.to_string())?;
    let train_source = match &prepared.zero_dropout_source {
        Some(rewritten) => {
            let path = args.out.join(format!("{name}.nn"));
            write_atomically(&path, |w| w.write_all(rewritten.as_bytes()))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Some(path.canonicalize().map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let loss = match prepared.config.loss {
        nnspec::dsl::ir::Loss::CrossEntropy { .. } => "cross_entropy",
        nnspec::dsl::ir::Loss::Mse => "mse",
        nnspec::dsl::ir::Loss::L1 => "l1",
        nnspec::dsl::ir::Loss::SmoothL1 { .. } => "smooth_l1",
        nnspec::dsl::ir::Loss::BceWithLogits => "bce_with_logits",
    };
    let notes: Vec<&str> = [
        prepared
            .added_train_block
            .then_some("no train block: one added here"),
        train_source
            .is_some()
            .then_some("dropout set to 0 for training mode"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let file_name = file.file_name().unwrap_or_default().to_string_lossy();
    println!(
        "{name:<18} {file_name:<24} loss {loss:<14} {}",
        notes.join("; ")
    );
    Ok(json!({
        "file": file.canonicalize().map_err(|e| e.to_string())?,
        "model": name,
        "reference": reference_file,
        "train_source": train_source,
        "added_train_block": prepared.added_train_block,
        "loss": loss,
    }))
}
