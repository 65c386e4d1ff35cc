//! `dslc check FILE...`

use std::path::PathBuf;
use std::process::ExitCode;

use nnspec_dsl::summary;

#[derive(clap::Args)]
pub struct Args {
    /// Model files to check
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also print each model's typed IR
    #[arg(long)]
    ir: bool,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let mut failed = false;
    for path in &args.files {
        // An unreadable file is reported, and the others still checked.
        let bytes = match crate::source::read(path) {
            Ok(bytes) => bytes,
            Err(message) => {
                eprintln!("error: {message}");
                failed = true;
                continue;
            }
        };
        let compiled = nnspec_dsl::compile_bytes(&bytes);
        let name = path.display().to_string();
        eprint!("{}", compiled.render(&name));
        for model in &compiled.models {
            println!("{}", summary::summary(model));
            if args.ir {
                println!("{model}");
            }
        }
        let errors = compiled.error_count();
        let warnings = compiled.diagnostics.len() - errors;
        if errors > 0 {
            failed = true;
            eprintln!(
                "error: {name}: {errors} error{}{}",
                plural(errors),
                if warnings > 0 {
                    format!(", {warnings} warning{}", plural(warnings))
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
