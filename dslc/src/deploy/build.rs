//! `dslc deploy --build`: the written firmware crate built with cargo
//! (release, for its target), and the linked ELF's flash and RAM.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::elf::{Footprint, footprint_of_file};

/// Builds the crate in `dir` and returns the linked firmware's path and
/// footprint. Cargo's own messages go to stderr as it prints them.
pub fn build(dir: &Path, triple: &str) -> Result<(PathBuf, Footprint), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Run from the crate, so cargo reads its `.cargo/config.toml` (the
    // target, and the runner).
    let output = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            format!(
                "cannot run {}: {e} (the firmware builds with cargo; is Rust installed?)",
                Path::new(&cargo).display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "building the firmware in {} failed (above); it needs the target: rustup target add {triple}",
            dir.display()
        ));
    }
    let elf = executable(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| {
        format!(
            "cargo built {} but named no executable in its messages",
            dir.display()
        )
    })?;
    let footprint = footprint_of_file(&elf)?;
    Ok((elf, footprint))
}

/// The executable of cargo's last `compiler-artifact` message that has one.
fn executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executable_comes_from_the_artifact_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","executable":null}"#,
            "\n",
            "not json\n",
            r#"{"reason":"compiler-artifact","executable":"/t/release/fw"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(executable(messages), Some(PathBuf::from("/t/release/fw")));
        assert_eq!(executable(""), None);
    }
}
