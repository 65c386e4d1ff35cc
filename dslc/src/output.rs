//! Writing to stdout and stderr as command-line tools do.
//!
//! A reader that stops early (`dslc check m.nn | head -1`) closes the pipe;
//! writing then fails with `EPIPE` (Rust ignores `SIGPIPE`, so `print!`
//! would panic). Here the first failed write marks the stream closed and
//! later output to it is dropped: the command carries on and ends as it
//! would have (for `train`: every epoch, the checkpoint, metrics.json and
//! the plots are still written, the exit status is unchanged).

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout, unless it was closed.
pub fn out(text: &str) {
    write(&mut io::stdout().lock(), text.as_bytes(), &STDOUT_CLOSED);
}

/// Writes `bytes` (a binary file's) to stdout, unless it was closed.
pub fn out_bytes(bytes: &[u8]) {
    write(&mut io::stdout().lock(), bytes, &STDOUT_CLOSED);
}

/// Whether stdout is a terminal, where binary output is refused.
pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// Writes `text` to stderr, unless it was closed.
pub fn err(text: &str) {
    write(&mut io::stderr().lock(), text.as_bytes(), &STDERR_CLOSED);
}

fn write(stream: &mut dyn Write, bytes: &[u8], closed: &AtomicBool) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    if stream
        .write_all(bytes)
        .and_then(|()| stream.flush())
        .is_err()
    {
        // EPIPE, or a full disk behind a redirect: either way nothing more
        // can be shown there, and the work itself is not at fault.
        closed.store(true, Ordering::Relaxed);
    }
}

/// Whether to colour stderr: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub fn colour_stderr() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `println!` that stops quietly at a closed stdout.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::out("\n") };
    ($($arg:tt)*) => { $crate::output::out(&format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that stops quietly at a closed stdout.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::out(&format!($($arg)*)) };
}

/// `eprintln!` that stops quietly at a closed stderr.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::err(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that stops quietly at a closed stderr.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::output::err(&format!($($arg)*)) };
}
