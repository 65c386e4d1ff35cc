//! `dslc check FILE...`

use std::path::PathBuf;
use std::process::ExitCode;

use nnspec_dsl::summary;

use crate::{errln, outln};

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
    let several = args.files.len() > 1;
    for path in &args.files {
        // An unreadable file is reported, and the others still checked.
        let bytes = match crate::source::read(path) {
            Ok(bytes) => bytes,
            Err(message) => {
                errln!("error: {message}");
                failed = true;
                continue;
            }
        };
        let compiled = nnspec_dsl::compile_bytes(&bytes);
        let name = path.display().to_string();
        crate::err!("{}", crate::colour::diagnostics(&compiled.render(&name)));
        if several && !compiled.models.is_empty() {
            outln!("{name}:");
        }
        for model in &compiled.models {
            outln!("{}", summary::summary(model));
            if args.ir {
                outln!("{model}");
            }
        }
        let errors = compiled.error_count();
        let warnings = compiled.diagnostics.len() - errors;
        if errors > 0 {
            failed = true;
            errln!(
                "error: {name}: {errors} error{}{}",
                plural(errors),
                if warnings > 0 {
                    format!(", {warnings} warning{}", plural(warnings))
                } else {
                    String::new()
                }
            );
        } else if compiled.models.is_empty() {
            // As rustc does for a crate without `main`: a file that
            // declares nothing is an error, not a silent success.
            failed = true;
            errln!("error: no model in {name}");
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
