//! Inputs and messages that were silent, late or unclear: empty files,
//! several files, too many threads, a file with errors given to eval, a
//! negative seed, colour, `fmt` on several files, very long class names,
//! help texts.

mod common;

use std::process::Stdio;

use common::*;

const BAD: &str = "model M {\n    input x: f32[4];\n    output y = x -> dense(3) + x;\n}\n";

#[test]
fn check_says_when_a_file_has_no_model() {
    let dir = scratch("check-empty");
    for (name, content) in [("empty.nn", ""), ("comments.nn", "// nothing yet\n")] {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let out = dslc(&["check", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", both(&out));
        let expected = format!("error: no model in {}", path.display());
        assert!(text(&out.stderr).contains(&expected), "{}", both(&out));
    }
}

#[test]
fn check_names_each_file_above_its_summaries() {
    let out = dslc(&["check", "examples/mnist_mlp.nn", "examples/lenet.nn"]);
    assert!(out.status.success(), "{}", both(&out));
    let stdout = text(&out.stdout);
    let first = stdout.find("examples/mnist_mlp.nn:\n").expect(&stdout);
    let mlp = stdout.find("Model: MnistMlp").unwrap();
    let second = stdout.find("examples/lenet.nn:\n").expect(&stdout);
    let lenet = stdout.find("Model: LeNet").unwrap();
    assert!(first < mlp && mlp < second && second < lenet, "{stdout}");
    // One file: no name line.
    let one = dslc(&["check", "examples/lenet.nn"]);
    assert!(!text(&one.stdout).contains("examples/lenet.nn:"));
}

#[test]
fn threads_beyond_the_cores_are_reduced_with_a_note() {
    let dir = scratch("threads");
    let cores = std::thread::available_parallelism().unwrap().get();
    let asked = (cores * 4).to_string();
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "1",
        "--threads",
        &asked,
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stderr).contains(&format!("note: --threads {asked} is more than the {cores}")),
        "{}",
        both(&out)
    );
    assert_eq!(metrics(&dir)["threads"], cores);
    // "1 epoch", not "1 epochs".
    assert!(text(&out.stdout).contains("; 1 epoch,"), "{}", both(&out));
}

#[test]
fn eval_on_a_file_with_errors_shows_them_and_stops() {
    let dir = scratch("eval-errors");
    let bad = dir.join("bad.nn");
    std::fs::write(&bad, BAD).unwrap();
    let out = dslc(&[
        "eval",
        bad.to_str().unwrap(),
        "--weights",
        "nowhere.safetensors",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error[E0301]"), "{stderr}");
    assert!(stderr.contains("1 error; eval stopped"), "{stderr}");
    assert!(!stderr.contains("nothing to train"), "{stderr}");
}

#[test]
fn a_negative_seed_is_a_value_error() {
    for command in ["train", "eval"] {
        let mut args = vec![command, "examples/digits_mlp.nn", "--seed", "-1"];
        if command == "eval" {
            args.extend(["--weights", "w.safetensors"]);
        }
        let out = dslc(&args);
        assert_eq!(out.status.code(), Some(2), "{}", both(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("a seed is a whole number") && !stderr.contains("unexpected argument"),
            "{stderr}"
        );
    }
}

/// Colour on a terminal (through `script`, which gives dslc a pty), none
/// with NO_COLOR or when piped.
#[test]
fn diagnostics_are_coloured_only_on_a_terminal() {
    let dir = scratch("colour");
    let bad = dir.join("bad.nn");
    std::fs::write(&bad, BAD).unwrap();
    let piped = dslc(&["check", bad.to_str().unwrap()]);
    assert!(text(&piped.stderr).contains("error[E0301]"));
    assert!(!text(&piped.stderr).contains('\x1b'), "{}", both(&piped));
    if std::process::Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("no `script` to make a terminal; the terminal half is skipped");
        return;
    }
    let line = format!("{} check {}", env!("CARGO_BIN_EXE_dslc"), bad.display());
    let on_terminal = |no_color: bool| {
        let mut command = std::process::Command::new("script");
        command
            .args(["-qec", &line, "/dev/null"])
            .env_remove("NO_COLOR");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        text(&command.output().unwrap().stdout)
    };
    let coloured = on_terminal(false);
    assert!(coloured.contains("\x1b[1;31merror[E0301]"), "{coloured:?}");
    let plain = on_terminal(true);
    assert!(
        plain.contains("error[E0301]") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

#[test]
fn fmt_takes_several_files_writes_and_checks_them() {
    let dir = scratch("fmt-many");
    let messy = dir.join("messy.nn");
    let clean = dir.join("clean.nn");
    let broken = dir.join("broken.nn");
    let messy_text = "model M{input x:f32[4];output y=x->relu;}";
    let canonical = "model M {\n    input x: f32[4];\n    output y = x -> relu;\n}\n";
    std::fs::write(&messy, messy_text).unwrap();
    std::fs::write(&clean, canonical).unwrap();
    std::fs::write(&broken, "model M { input x: f32[4]; output y = x -> ; }").unwrap();
    let (m, c, b) = (
        messy.to_str().unwrap(),
        clean.to_str().unwrap(),
        broken.to_str().unwrap(),
    );

    // --check lists the files that differ; 1 = differs, 2 = cannot parse.
    let out = dslc(&["fmt", "--check", m, c]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert_eq!(text(&out.stdout), format!("{m}\n"));
    let out = dslc(&["fmt", "--check", c]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let out = dslc(&["fmt", "--check", b]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(text(&out.stderr).contains("error"), "{}", both(&out));
    let help = text(&dslc(&["fmt", "--help"]).stdout);
    assert!(
        help.contains("1 with --check") && help.contains("2 when"),
        "{help}"
    );

    // --write rewrites in place, and only what differs.
    let out = dslc(&["fmt", "--write", m, c]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), canonical);
    assert_eq!(std::fs::read_to_string(&clean).unwrap(), canonical);
    let out = dslc(&["fmt", "--write", b]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "model M { input x: f32[4]; output y = x -> ; }"
    );
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
}

/// A CSV header naming a class with a 70 000-character name (beyond what
/// `{:>width$}` accepts) trains, reports and writes every file.
#[test]
fn very_long_class_names_do_not_stop_the_report() {
    let dir = scratch("long-names");
    let model = dir.join("m.nn");
    std::fs::write(
        &model,
        "model M {\n    input x: f32[2];\n    output y = x -> dense(2);\n}\n\ntrain M {\n    loss: cross_entropy,\n    optimizer: sgd(lr: 0.1),\n    batch: 4,\n    epochs: 1,\n}\n",
    )
    .unwrap();
    let long = "A".repeat(70_000);
    let mut csv = format!("20,2,{long},short\n");
    for i in 0..20 {
        csv.push_str(&format!("{},{},{}\n", i % 2, i % 3, i % 2));
    }
    let data = dir.join("d.csv");
    std::fs::write(&data, csv).unwrap();
    let out = dslc(&[
        "train",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    assert_no_panic(&out, "long class name");
    assert!(out.status.success(), "{}", both(&out));
    assert!(text(&out.stdout).contains(&long));
    for file in ["metrics.json", "curves.png", "confusion.png"] {
        assert!(dir.join("run").join(file).is_file(), "{file}");
    }
}

#[test]
fn every_flag_has_help() {
    for command in [
        "check", "fmt", "train", "eval", "explain", "build", "export",
    ] {
        let help = text(&dslc(&[command, "--help"]).stdout);
        let flags: Vec<&str> = help
            .lines()
            .filter(|l| l.trim_start().starts_with("--"))
            .collect();
        for (i, line) in help.lines().enumerate() {
            let trimmed = line.trim_start();
            if !trimmed.starts_with("--") || trimmed.starts_with("--help") {
                continue;
            }
            // Help follows on the same line (short form) or the next.
            let next = help.lines().nth(i + 1).unwrap_or("").trim();
            let inline = trimmed
                .split_once("  ")
                .is_some_and(|(_, h)| !h.trim().is_empty());
            assert!(
                inline || !next.is_empty(),
                "`dslc {command}`: {trimmed} has no help\n{help}"
            );
        }
        assert!(!flags.is_empty() || command == "check");
    }
}

/// A label beyond the model's classes is reported against the labels
/// file, not the images file.
#[test]
fn an_idx_label_out_of_range_names_the_labels_file() {
    let dir = scratch("idx-labels");
    let images = |n: u32| {
        let mut bytes = vec![0, 0, 8, 3];
        for d in [n, 28, 28] {
            bytes.extend(d.to_be_bytes());
        }
        bytes.resize(16 + (n * 28 * 28) as usize, 7);
        bytes
    };
    let labels = |values: &[u8]| {
        let mut bytes = vec![0, 0, 8, 1];
        bytes.extend((values.len() as u32).to_be_bytes());
        bytes.extend(values);
        bytes
    };
    std::fs::write(dir.join("train-images-idx3-ubyte"), images(3)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels(&[1, 12, 3])).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), images(1)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels(&[0])).unwrap();
    let out = dslc(&[
        "train",
        "examples/mnist_mlp.nn",
        "--data",
        dir.to_str().unwrap(),
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("train-labels-idx1-ubyte has labels up to 12")
            && !stderr.contains("train-images"),
        "{stderr}"
    );
}
