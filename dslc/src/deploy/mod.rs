//! `dslc deploy FILE --target TARGET --weights CKPT -o DIR`: a trained model
//! made ready for where it runs (docs/deploy.md).
//!
//! One function per kind of target beside [`run`]'s dispatch (a `host`
//! variant of [`Target`] fits the same way): [`deploy_firmware`] writes a
//! `#![no_std]` firmware crate for a Cortex-M4F (`thumbv7em-none-eabihf`)
//! through [`firmware`], which QEMU's emulated MPS2-AN386 board runs, with
//! the int8 module of [`int8`] beside the f32 one when asked; [`build`]
//! builds it with cargo, and [`elf`] reads the flash and RAM a linked
//! firmware takes (the deploy table's columns: [`elf::footprint_of_file`]);
//! [`qemu`] runs it on the emulated board and reads its stack's
//! high-water mark.
//! The inputs the firmware carries, and the calibration data, come from
//! [`samples`].

mod build;
mod data;
pub mod elf;
mod firmware;
mod host;
mod int8;
pub use int8::module as int8_module;
mod qemu;
mod samples;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::errln;

/// Where a deployed model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// This machine (a server, or anywhere ONNX runs): every variant (f32, fp16, int8,
    /// pruned + int8) as ONNX and Rust (f32 and int8 also as TFLite), measured in a
    /// table, checked against the budgets
    Host,
    /// A Cortex-M4F microcontroller: a `#![no_std]` firmware crate
    /// (cortex-m-rt, semihosting output) for QEMU's MPS2-AN386 or a board
    #[value(name = "thumbv7em-none-eabihf")]
    ThumbV7emNoneEabihf,
}

impl Target {
    /// The Rust target triple the output builds for.
    pub fn triple(self) -> &'static str {
        match self {
            Target::Host => "host",
            Target::ThumbV7emNoneEabihf => "thumbv7em-none-eabihf",
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The model file
    file: PathBuf,
    /// What to deploy for
    #[arg(long, value_enum, default_value = "host")]
    target: Target,
    /// The trained checkpoint (model.safetensors)
    #[arg(long)]
    weights: PathBuf,
    /// The directory to write (created; files in it are replaced)
    #[arg(short = 'o', long = "out")]
    out: PathBuf,
    /// Inputs the firmware runs and prints the outputs of, in raw units as `dslc predict
    /// --input` reads them (CSV, IDX, .npy/.npz, PNG), or `digits` for the embedded digits
    /// (default: `digits` when the checkpoint was trained on them)
    #[arg(long)]
    samples: Option<String>,
    /// How many samples to embed: the first N of --samples
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=samples::MAX_SAMPLES as u64))]
    count: u64,
    /// Also quantize the model to int8 and run the int8 module beside the f32 one
    #[arg(long)]
    int8: bool,
    /// The int8 calibration data, read as --samples is (default: as for --samples); its
    /// first 1000 samples calibrate the activation ranges (min/max)
    #[arg(long, requires = "int8")]
    calibration: Option<String>,
    /// Run the int8 model of this file (model.int8.safetensors from `dslc quantize`) beside the
    /// f32 one, instead of quantizing here
    #[arg(long, value_name = "FILE", conflicts_with_all = ["int8", "calibration"])]
    int8_weights: Option<PathBuf>,
    /// Which model of the file (default: the only one)
    #[arg(long)]
    model: Option<String>,
    /// Also build the firmware (cargo, release) and print the flash and RAM it takes
    #[arg(long)]
    build: bool,
    /// Also run the built firmware on QEMU's emulated MPS2-AN386 (implies --build), print its
    /// output, and count its measured stack into the RAM
    #[arg(long)]
    run: bool,
    /// Host: the data to calibrate, fine-tune and measure on (default: the data the checkpoint
    /// was trained on)
    #[arg(long)]
    data: Option<crate::session::DataSource>,
    /// Host: the share of each prunable layer's neurons and channels the pruned variant removes
    #[arg(long, value_name = "S", default_value_t = 0.5, value_parser = share_below_one)]
    prune: f64,
    /// Host: fine-tuning epochs after pruning
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    finetune: u64,
    /// Host: the most working memory (bytes) a variant may need for one sample
    #[arg(long, value_name = "BYTES")]
    budget_ram: Option<u64>,
    /// Host: the most bytes a variant's weights may take
    #[arg(long, value_name = "BYTES")]
    budget_flash: Option<u64>,
    /// The nnspec-runtime-core source directory the firmware depends on
    /// (default: the one of the nnspec tree this dslc was built from)
    #[arg(long, value_name = "DIR")]
    runtime_core: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    match args.target {
        Target::Host => deploy_host(args),
        Target::ThumbV7emNoneEabihf => {
            let job =
                crate::session::load_job(&args.file, args.model.as_deref(), "deploy stopped")?;
            let checkpoint = crate::session::read_checkpoint(&args.weights)?;
            nnspec_runtime::checkpoint::check_model(&checkpoint, &job.config.model)
                .map_err(|e| e.to_string())?;
            deploy_firmware(args, &job, &checkpoint)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A share of neurons to prune: at least 0 and below 1 (every layer keeps one).
fn share_below_one(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        Ok(x) => Err(format!("must be at least 0 and below 1, not {x}")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// `--target host` (the default): every variant in a table
/// ([`host::deploy`]). The firmware's flags mean nothing here.
fn deploy_host(args: &Args) -> Result<ExitCode, String> {
    let firmware_only = [
        ("--samples", args.samples.is_some()),
        ("--int8", args.int8),
        ("--int8-weights", args.int8_weights.is_some()),
        ("--build", args.build),
        ("--run", args.run),
        ("--runtime-core", args.runtime_core.is_some()),
    ];
    if let Some((flag, _)) = firmware_only.iter().find(|(_, given)| *given) {
        return Err(format!(
            "{flag} is for --target thumbv7em-none-eabihf; the host deploy writes every variant"
        ));
    }
    host::deploy(&host::Request {
        file: &args.file,
        weights: &args.weights,
        out: &args.out,
        model: args.model.as_deref(),
        data: args.data.as_ref(),
        prune: args.prune,
        finetune: args.finetune,
        budget_ram: args.budget_ram,
        budget_flash: args.budget_flash,
    })
}

/// `--target thumbv7em-none-eabihf`: the firmware crate, and with
/// `--build` its flash and RAM.
fn deploy_firmware(
    args: &Args,
    job: &crate::session::Job,
    checkpoint: &nnspec_runtime::safetensors_file::Checkpoint,
) -> Result<(), String> {
    let request = samples::Request {
        source: args.samples.as_deref(),
        flag: "--samples",
        count: args.count as usize,
        weights: &args.weights,
    };
    let inputs = samples::read(&request, job, checkpoint)?;
    let int8 = if let Some(path) = &args.int8_weights {
        let q = int8::load(&job.model, path)?;
        Some(int8::module(&q, &args.file.display().to_string())?)
    } else if args.int8 {
        let request = samples::Request {
            source: args.calibration.as_deref().or(args.samples.as_deref()),
            flag: "--calibration",
            count: int8::CALIBRATION_SAMPLES,
            weights: &args.weights,
        };
        let calibration = samples::read(&request, job, checkpoint)?;
        let q = int8::quantize(&job.model, checkpoint, &calibration)?;
        Some(int8::module(&q, &args.file.display().to_string())?)
    } else {
        None
    };
    let runtime_core = firmware::runtime_core(args.runtime_core.as_deref())?;
    let written = firmware::write(&firmware::Firmware {
        model: &job.model,
        source: &args.file,
        checkpoint,
        inputs: &inputs,
        int8: int8.as_deref(),
        runtime_core: &runtime_core,
        out: &args.out,
    })?;
    errln!(
        "wrote the {} firmware crate for model `{}` (f32{}, {} samples) to {}",
        args.target.triple(),
        job.model.name,
        if int8.is_some() { " and int8" } else { "" },
        inputs.count,
        written.display()
    );
    if args.build || args.run {
        let (elf, footprint) = build::build(&written, args.target.triple())?;
        crate::outln!(
            "firmware {}\nflash {} bytes\nram {} bytes (statics; the firmware prints its stack's high-water mark)",
            elf.display(),
            footprint.flash,
            footprint.ram
        );
        if args.run {
            let output = qemu::run(&elf, std::time::Duration::from_secs(120))?;
            crate::out!("{output}");
            let stack =
                qemu::stack_bytes(&output).ok_or("the firmware printed no `stack N bytes` line")?;
            crate::outln!(
                "ram {} bytes with the stack ({} of statics, {stack} of stack)",
                footprint.ram + stack,
                footprint.ram
            );
        }
    }
    errln!(
        "run it on QEMU's MPS2-AN386: cd {} && cargo run --release",
        written.display()
    );
    Ok(())
}
