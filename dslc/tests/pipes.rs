//! Every subcommand with its stdout piped into a reader that closes the
//! pipe early (`dslc ... | head -0`): no "Broken pipe" panic, and `train`
//! still finishes its run and writes every file.

mod common;

use std::io::Read;
use std::process::Stdio;

use common::*;

/// Runs `dslc args` with stdout a pipe whose reader reads `keep` bytes,
/// then closes it.
fn closed_early(args: &[&str], keep: usize) -> std::process::Output {
    let mut child = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; keep];
    let _ = stdout.read_exact(&mut first);
    drop(stdout);
    child.wait_with_output().unwrap()
}

#[test]
fn every_subcommand_survives_a_closed_stdout() {
    let dir = scratch("pipes");
    let messy = dir.join("messy.nn");
    std::fs::write(&messy, "model M{input x:f32[4];output y=x->dense(2);}\n").unwrap();
    let out_dir = dir.join("run");
    let weights = out_dir.join("model.safetensors");
    let runs: Vec<Vec<String>> = vec![
        vec![
            "check".into(),
            "examples/lenet.nn".into(),
            "examples/residual.nn".into(),
        ],
        vec![
            "check".into(),
            "--ir".into(),
            "examples/inception.nn".into(),
        ],
        vec!["fmt".into(), messy.display().to_string()],
        vec!["fmt".into(), "--check".into(), messy.display().to_string()],
        vec![
            "train".into(),
            "examples/digits_mlp.nn".into(),
            "--epochs".into(),
            "2".into(),
            "--out".into(),
            out_dir.display().to_string(),
        ],
        vec![
            "eval".into(),
            "examples/digits_mlp.nn".into(),
            "--weights".into(),
            weights.display().to_string(),
        ],
        vec!["explain".into(), "--list".into()],
        vec!["explain".into(), "E0301".into()],
    ];
    for args in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Closed before the first byte, and after the first line.
        for keep in [0, 8] {
            let out = closed_early(&args, keep);
            assert_no_panic(&out, &args.join(" "));
            if args[0] == "train" {
                assert_eq!(out.status.code(), Some(0), "{}", both(&out));
                for file in [
                    "model.safetensors",
                    "train_state.safetensors",
                    "metrics.json",
                    "curves.png",
                    "confusion.png",
                ] {
                    assert!(
                        out_dir.join(file).is_file(),
                        "{file} missing: {}",
                        both(&out)
                    );
                }
                assert_eq!(metrics(&out_dir)["epochs"], 2);
                std::fs::remove_dir_all(&out_dir).unwrap();
            }
        }
        if args[0] == "train" {
            // The eval that follows needs a run.
            assert!(dslc(&args).status.success());
        }
    }
}
