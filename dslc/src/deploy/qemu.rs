//! `dslc deploy --run`: a built firmware run on QEMU's emulated MPS2-AN386
//! (Cortex-M4F) with semihosting, its output passed on, and the stack
//! high-water mark it reports.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The emulator and its board: `qemu-system-arm -cpu cortex-m4 -machine
/// mps2-an386`, semihosting on (output and exit through the debugger).
const QEMU: &str = "qemu-system-arm";
const ARGS: [&str; 7] = [
    "-cpu",
    "cortex-m4",
    "-machine",
    "mps2-an386",
    "-nographic",
    "-semihosting-config",
    "enable=on,target=native",
];

/// Runs `elf` until its semihosting exit, at most `limit`; what it
/// printed. A failing exit, a timeout or a missing QEMU are errors.
pub fn run(elf: &Path, limit: Duration) -> Result<String, String> {
    let mut child = Command::new(QEMU)
        .args(ARGS)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run {QEMU}: {e} (install it: apt-get install qemu-system-arm)")
        })?;
    // Read the pipes on threads, so a chatty firmware never blocks on a
    // full pipe while this waits for it to exit.
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("piped")));
    let stderr = reader(Box::new(child.stderr.take().expect("piped")));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the firmware ran for more than {} s on QEMU without exiting",
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {QEMU}: {e}")),
        }
    };
    let output = stdout.join().unwrap_or_default();
    let errors = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "the firmware failed on QEMU ({status}):\n{output}{errors}"
        ));
    }
    Ok(output)
}

/// The `stack N bytes` line of a firmware's output.
pub fn stack_bytes(output: &str) -> Option<u64> {
    output.lines().find_map(|line| {
        let mut words = line.strip_prefix("stack ")?.split_whitespace();
        let bytes = words.next()?.parse().ok()?;
        (words.next() == Some("bytes")).then_some(bytes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_line_is_found_among_the_outputs() {
        let output = "f32 0 3f800000 argmax 0\nstack 468 bytes\ndone\n";
        assert_eq!(stack_bytes(output), Some(468));
        assert_eq!(stack_bytes("stack overflow\n"), None);
        assert_eq!(stack_bytes(""), None);
    }
}
