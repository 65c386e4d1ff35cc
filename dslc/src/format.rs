//! `dslc fmt FILE... [--check | --write]`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::{err, errln, out, outln};

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 when every file is (or now is) in canonical form; \
1 with --check when a file differs; 2 when a file cannot be read, written or parsed."
)]
pub struct Args {
    /// The model files to format (printed one after another, each after a `// FILE` line when
    /// there are several)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print nothing but the names of the files that are not in canonical
    /// form; exit 1 if there are any
    #[arg(long, conflicts_with = "write")]
    check: bool,
    /// Rewrite the files in place (atomically: a temporary file renamed over
    /// the original) instead of printing them
    #[arg(long)]
    write: bool,
}

/// Exit status with --check when a file is not in canonical form.
const DIFFERS: u8 = 1;
/// Exit status when a file cannot be read, written or parsed.
const FAILED: u8 = 2;

enum Outcome {
    Same,
    Differs,
    Failed,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let mut differs = false;
    let mut failed = false;
    for path in &args.files {
        match one(args, path) {
            Outcome::Same => {}
            Outcome::Differs => differs = true,
            Outcome::Failed => failed = true,
        }
    }
    Ok(if failed {
        ExitCode::from(FAILED)
    } else if differs && args.check {
        ExitCode::from(DIFFERS)
    } else {
        ExitCode::SUCCESS
    })
}

fn one(args: &Args, path: &Path) -> Outcome {
    let name = path.display().to_string();
    let bytes = match crate::source::read(path) {
        Ok(bytes) => bytes,
        Err(message) => {
            errln!("error: {message}");
            return Outcome::Failed;
        }
    };
    let Ok(source) = std::str::from_utf8(&bytes) else {
        err!(
            "{}",
            crate::colour::diagnostics(&nnspec_dsl::compile_bytes(&bytes).render(&name))
        );
        return Outcome::Failed;
    };
    let formatted = match nnspec_dsl::format(source) {
        Ok(formatted) => formatted,
        Err(diagnostics) => {
            err!(
                "{}",
                crate::colour::diagnostics(&nnspec_dsl::diagnostic::render(
                    &diagnostics,
                    &name,
                    source
                ))
            );
            return Outcome::Failed;
        }
    };
    let same = formatted == source;
    if args.check {
        if !same {
            outln!("{name}");
        }
    } else if args.write {
        if !same
            && let Err(e) = nnspec_runtime::atomic_write::write_atomically(path, |w| {
                w.write_all(formatted.as_bytes())
            })
        {
            errln!("error: cannot write {name}: {e}");
            return Outcome::Failed;
        }
    } else {
        if args.files.len() > 1 {
            outln!("// {name}");
        }
        out!("{formatted}");
    }
    if same {
        Outcome::Same
    } else {
        Outcome::Differs
    }
}
