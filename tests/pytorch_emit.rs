//! The emitted PyTorch files are valid, clean Python: every example model
//! and every model of codegen/tests/pytorch/every_op.nn, as the module
//! (`dslc build --emit pytorch`) and, with a train block, as the torchrun
//! script (`--emit pytorch-train`), pass `python -m py_compile`, `ruff check`
//! (its default rules, no configuration) and `ruff format --check` (they
//! are laid out as the formatter lays them out).
//!
//! Python and ruff come from `NNSPEC_PYTHON` (tests/onnx/requirements.txt;
//! .ci/run installs them); without them the checks are skipped with a note,
//! except under CI. PyTorch itself is too big for CI: whether the modules
//! compute what the executor computes is bench/pytorch_emitted.py's
//! question (bench/README.md records its answer).

#[path = "support/python.rs"]
mod python;

use std::path::{Path, PathBuf};
use std::process::Command;

use nnspec::codegen::pytorch::{module_file, training_script};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every model of the examples and of every_op.nn: (file, model).
fn models() -> Vec<(PathBuf, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "nn"))
        .collect();
    files.sort();
    files.push(Path::new(ROOT).join("codegen/tests/pytorch/every_op.nn"));
    let mut models = Vec::new();
    for file in files {
        let compiled = nnspec::dsl::compile(&std::fs::read_to_string(&file).unwrap());
        assert!(!compiled.has_errors(), "{} has errors", file.display());
        for model in &compiled.models {
            models.push((file.clone(), model.name.clone()));
        }
    }
    models
}

/// Writes each model's emitted files into `dir`; returns their paths.
fn emit_all(dir: &Path) -> Vec<PathBuf> {
    let mut written = Vec::new();
    for (file, name) in models() {
        let compiled = nnspec::dsl::compile(&std::fs::read_to_string(&file).unwrap());
        let source = file.file_name().unwrap().to_string_lossy().into_owned();
        let model = compiled.model(&name).unwrap();
        let code = module_file(model, compiled.train(&name), &source)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let path = dir.join(format!("{}.py", name.to_lowercase()));
        std::fs::write(&path, code).unwrap();
        written.push(path);
        // And the torchrun script, for the models with a train block.
        if let Ok(script) = training_script(model, compiled.train(&name), &source) {
            let path = dir.join(format!("train_{}.py", name.to_lowercase()));
            std::fs::write(&path, script).unwrap();
            written.push(path);
        }
    }
    written
}

fn run(python: &Path, args: &[&str], dir: &Path) {
    let output = Command::new(python)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "`python {}` failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn emitted_python_compiles_and_is_lint_and_format_clean() {
    let Some(python) = python::or_skip("ruff", "Python", "the emitted PyTorch") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("nnspec-pytorch-emit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = emit_all(&dir);
    assert!(files.len() >= 13 + 11, "only {} files emitted", files.len());
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    run(
        &python,
        &[&["-m", "py_compile"], names.as_slice()].concat(),
        &dir,
    );
    // --isolated: ruff's defaults, not whatever configuration a parent
    // directory of the temporary one happens to hold.
    run(
        &python,
        &["-m", "ruff", "check", "--isolated", "--no-cache", "."],
        &dir,
    );
    run(
        &python,
        &[
            "-m",
            "ruff",
            "format",
            "--isolated",
            "--no-cache",
            "--check",
            ".",
        ],
        &dir,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
