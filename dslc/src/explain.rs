//! `dslc explain CODE` and `dslc explain --list`: the long explanation of a
//! diagnostic code, as `rustc --explain` gives it.

use std::io::Write;
use std::process::ExitCode;

use nnspec_dsl::explain;

#[derive(clap::Args)]
pub struct Args {
    /// The code, as printed in `error[E0301]`; case and leading zeros are
    /// optional (`e301`, `0301`), a bare number is an error code
    #[arg(required_unless_present = "list", conflicts_with = "list")]
    code: Option<String>,
    /// List every code with its title
    #[arg(long)]
    list: bool,
}

/// Exit status for a code that has no explanation: 2, as for any other
/// unusable command-line argument (clap's usage errors are 2 too).
const UNKNOWN_CODE: u8 = 2;

pub fn run(args: &Args) -> Result<ExitCode, String> {
    if args.list {
        let list: String = explain::all()
            .map(|e| format!("{}  {}\n", e.code, e.title))
            .collect();
        return print(&list);
    }
    let query = args.code.as_deref().unwrap_or_default();
    match explain::lookup(query) {
        Ok(explanation) => print(&explain::render(explanation)),
        Err(unknown) => {
            crate::errln!("error: {unknown}");
            crate::errln!("note: `dslc explain --list` lists every code with its title");
            Ok(ExitCode::from(UNKNOWN_CODE))
        }
    }
}

/// Writes to stdout. A reader that stops early (`dslc explain --list | head`)
/// has all it wanted: that is success, not a panic from `print!`.
fn print(text: &str) -> Result<ExitCode, String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(error) => Err(format!("cannot write to stdout: {error}")),
    }
}
