//! `dslc fmt FILE [--check]`

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The model file to format
    file: PathBuf,
    /// Print nothing; exit 1 when the file is not in canonical form
    #[arg(long)]
    check: bool,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let bytes = crate::source::read(&args.file)?;
    let name = args.file.display().to_string();
    let Ok(source) = std::str::from_utf8(&bytes) else {
        eprint!("{}", nnspec_dsl::compile_bytes(&bytes).render(&name));
        return Ok(ExitCode::FAILURE);
    };
    match nnspec_dsl::format(source) {
        Ok(formatted) if args.check => {
            if formatted == source {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{name}: not in canonical form (run `dslc fmt {name}` to see it)");
                Ok(ExitCode::FAILURE)
            }
        }
        Ok(formatted) => {
            print!("{formatted}");
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            eprint!(
                "{}",
                nnspec_dsl::diagnostic::render(&diagnostics, &name, source)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
