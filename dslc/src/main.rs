//! `dslc`, the nnspec command line: check, format, train and evaluate `.nn` models.

mod check;
mod format;
mod source;

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
    /// Print a file in canonical form
    Fmt(format::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Fmt(args) => format::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
