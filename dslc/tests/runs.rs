//! Training runs over time: killed, interrupted, resumed, evaluated from
//! elsewhere, with flags that must agree with the checkpoint.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

const IRIS_MODEL: &str = "model Iris {\n    input x: f32[4];\n    output y = x -> dense(8) -> relu -> dense(3);\n}\n\ntrain Iris {\n    loss: cross_entropy,\n    optimizer: sgd(lr: 0.05),\n    batch: 16,\n    epochs: 2,\n}\n";

fn epochs_of(state: &Path) -> usize {
    safetensors_metadata(state)["epochs"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Waits (up to a generous bound, so a broken build fails instead of
/// hanging) until `path` exists.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Kills land after a checkpoint exists, at several moments of the next
/// epoch (including mid-save); each time the run resumes, and evaluates.
/// Temporaries of dead processes are removed by the next run.
#[test]
fn a_killed_run_never_leaves_a_torn_checkpoint() {
    let dir = scratch("killed");
    let state = dir.join("train_state.safetensors");
    let weights = dir.join("model.safetensors");
    let out = dir.to_str().unwrap();
    let mut kills_after_checkpoint = 0;
    for (attempt, extra_ms) in [0u64, 1, 3, 7, 15, 40].into_iter().enumerate() {
        let mut args = vec![
            "train",
            "examples/digits_mlp.nn",
            "--epochs",
            "100000",
            "--out",
            out,
        ];
        if attempt > 0 {
            args.push("--resume");
        }
        let mut child = command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let before = if state.exists() { epochs_of(&state) } else { 0 };
        wait_for(&state);
        // A new checkpoint of this process (not only the previous one).
        while epochs_of(&state) == before {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        kills_after_checkpoint += 1;

        // Resumes (one more epoch), whatever the moment of the kill.
        let done = epochs_of(&state);
        let target = (done + 1).to_string();
        let resumed = dslc(&[
            "train",
            "examples/digits_mlp.nn",
            "--epochs",
            &target,
            "--out",
            out,
            "--resume",
        ]);
        assert!(
            resumed.status.success(),
            "resume after a kill {extra_ms} ms after epoch {done}: {}",
            both(&resumed)
        );
        assert!(
            text(&resumed.stdout).contains(&format!("after epoch {done}")),
            "{}",
            both(&resumed)
        );
        assert_eq!(epochs_of(&state), done + 1);
        assert_eq!(
            safetensors_metadata(&weights)["epochs"].as_str(),
            Some(target.as_str())
        );
        let eval = dslc(&[
            "eval",
            "examples/digits_mlp.nn",
            "--weights",
            weights.to_str().unwrap(),
            "--out",
            dir.join("e").to_str().unwrap(),
        ]);
        assert!(eval.status.success(), "{}", both(&eval));
    }
    assert!(kills_after_checkpoint >= 6);

    // A temporary file of a process that no longer runs (no pid is that
    // large) is removed by the next run; no temporaries remain after it.
    let stale = dir.join(".model.safetensors.999999999.0.tmp");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    let done = epochs_of(&state);
    let resumed = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        &(done + 1).to_string(),
        "--out",
        out,
        "--resume",
    ]);
    assert!(resumed.status.success(), "{}", both(&resumed));
    assert!(
        text(&resumed.stderr).contains("removed 1 temporary file"),
        "{}",
        both(&resumed)
    );
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporaries left: {left:?}");
}

/// Flags that change the split, the scaling, the data or the steps must
/// agree with the checkpoint on resume; omitted, they take its values.
#[test]
fn resume_refuses_flags_that_differ_from_the_checkpoint() {
    let dir = scratch("resume-flags");
    let out = dir.to_str().unwrap();
    let first = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--seed",
        "5",
        "--epochs",
        "1",
        "--out",
        out,
    ]);
    assert!(first.status.success(), "{}", both(&first));
    let iris = root().join("runtime/tests/data/iris.csv");
    let iris = iris.to_str().unwrap();
    for (flag, value, saved) in [
        ("--seed", "6", "--seed 5"),
        ("--normalize", "unit", "--normalize tutorial"),
        ("--batch", "16", "--batch 32"),
        ("--lr", "0.5", "--lr 0.1"),
        ("--data", iris, "--data digits"),
    ] {
        let out = dslc(&[
            "train",
            "examples/digits_mlp.nn",
            "--epochs",
            "2",
            "--out",
            out,
            "--resume",
            flag,
            value,
        ]);
        assert_eq!(out.status.code(), Some(1), "{flag}: {}", both(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "{flag} {value} differs from the checkpoint's {saved}"
            )) && stderr.contains("train_state.safetensors"),
            "{flag}: {stderr}"
        );
        assert!(
            !text(&out.stdout).contains("epoch 2/2"),
            "{flag}: trained anyway"
        );
    }
    // The same values, or none, resume; the seed stays the checkpoint's.
    let same = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "2",
        "--out",
        out,
        "--resume",
        "--seed",
        "5",
    ]);
    assert!(same.status.success(), "{}", both(&same));
    let none = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "3",
        "--out",
        out,
        "--resume",
    ]);
    assert!(none.status.success(), "{}", both(&none));
    assert_eq!(metrics(&dir)["seed"], 5);
    assert_eq!(metrics(&dir)["epochs"], 3);
    // A train block changed since: the run keeps its batch, and says so.
    let model = std::fs::read_to_string(root().join("examples/digits_mlp.nn")).unwrap();
    assert!(model.contains("batch: 32"));
    let changed = dir.join("changed.nn");
    std::fs::write(&changed, model.replace("batch: 32", "batch: 64")).unwrap();
    let warned = dslc(&[
        "train",
        changed.to_str().unwrap(),
        "--epochs",
        "4",
        "--out",
        out,
        "--resume",
    ]);
    assert!(warned.status.success(), "{}", both(&warned));
    assert!(
        text(&warned.stderr).contains("now says batch 64; the resumed run keeps its batch 32"),
        "{}",
        both(&warned)
    );
    assert_eq!(metrics(&dir)["batch"], 32);
    let help = dslc(&["train", "--help"]);
    assert!(text(&help.stdout).contains("is refused"), "{}", both(&help));
}

/// A data path is stored resolved, with a fingerprint: `eval` works from
/// another directory, names the checkpoint when the data are gone, and
/// notices changed data; resume refuses them.
#[test]
fn data_paths_are_stored_resolved_and_fingerprinted() {
    let dir = scratch("data-paths");
    std::fs::write(dir.join("iris.nn"), IRIS_MODEL).unwrap();
    std::fs::copy(
        root().join("runtime/tests/data/iris.csv"),
        dir.join("iris.csv"),
    )
    .unwrap();
    let run = |args: &[&str], cwd: &Path| command(args).current_dir(cwd).output().unwrap();
    let out = run(
        &["train", "iris.nn", "--data", "iris.csv", "--out", "run"],
        &dir,
    );
    assert!(out.status.success(), "{}", both(&out));
    let weights = dir.join("run/model.safetensors");
    let meta = safetensors_metadata(&weights);
    let stored = dir.canonicalize().unwrap().join("iris.csv");
    assert_eq!(meta["data"].as_str(), Some(stored.to_str().unwrap()));
    assert!(
        meta["data_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("fnv1a64:")
    );

    // From another directory: the stored path is absolute.
    let model = dir.join("iris.nn");
    let eval = |cwd: &Path| {
        run(
            &[
                "eval",
                model.to_str().unwrap(),
                "--weights",
                weights.to_str().unwrap(),
                "--out",
                dir.join("e").to_str().unwrap(),
            ],
            cwd,
        )
    };
    let out = eval(&root());
    assert!(out.status.success(), "{}", both(&out));

    // Changed data: eval warns, resume refuses.
    let mut csv = std::fs::read_to_string(dir.join("iris.csv")).unwrap();
    csv.push_str("5.0,3.0,1.5,0.2,0\n");
    let csv = csv.replacen("150,4,", "151,4,", 1);
    std::fs::write(dir.join("iris.csv"), csv).unwrap();
    let out = eval(&root());
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stderr).contains("changed since"),
        "{}",
        both(&out)
    );
    let out = run(
        &[
            "train", "iris.nn", "--epochs", "3", "--out", "run", "--resume",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        text(&out.stderr).contains("changed since the run"),
        "{}",
        both(&out)
    );

    // Gone: the error names the path and the checkpoint it came from.
    std::fs::remove_file(dir.join("iris.csv")).unwrap();
    let out = eval(&root());
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let expected = format!(
        "data path {} from checkpoint {}: no such file or directory",
        stored.display(),
        weights.display()
    );
    assert!(text(&out.stderr).contains(&expected), "{}", both(&out));

    // The same data at another path: resume accepts it, with a note.
    std::fs::copy(
        root().join("runtime/tests/data/iris.csv"),
        dir.join("moved.csv"),
    )
    .unwrap();
    let out = run(
        &[
            "train",
            "iris.nn",
            "--data",
            "moved.csv",
            "--epochs",
            "3",
            "--out",
            "run",
            "--resume",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stderr).contains("(same fingerprint)"),
        "{}",
        both(&out)
    );
}

/// `--out` is checked before training: not writable, or holding a run.
#[test]
fn the_output_directory_is_checked_before_training() {
    let dir = scratch("out-checks");
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    let inside = file.join("run");
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--out",
        inside.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        text(&out.stderr).contains("cannot create --out"),
        "{}",
        both(&out)
    );
    assert!(
        !text(&out.stdout).contains("epoch"),
        "trained first: {}",
        both(&out)
    );

    let run = dir.join("run");
    let run = run.to_str().unwrap();
    let first = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "1",
        "--out",
        run,
    ]);
    assert!(first.status.success(), "{}", both(&first));
    let again = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "2",
        "--out",
        run,
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", both(&again));
    assert!(
        text(&again.stderr).contains("already holds a run")
            && text(&again.stderr).contains("--force"),
        "{}",
        both(&again)
    );
    assert_eq!(
        metrics(&dir.join("run"))["epochs"],
        1,
        "the first run was overwritten"
    );
    let forced = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "2",
        "--out",
        run,
        "--force",
    ]);
    assert!(forced.status.success(), "{}", both(&forced));
    assert_eq!(metrics(&dir.join("run"))["epochs"], 2);
}

/// Ctrl-C stops after the current batch, says how to continue, and writes
/// metrics.json and the curves of the finished epochs.
#[test]
fn ctrl_c_reports_and_keeps_the_finished_epochs() {
    let dir = scratch("ctrl-c");
    let out_dir = dir.to_str().unwrap();
    // Enough epochs that the run is still going when Ctrl-C comes, few
    // enough that a run that ignores it ends (and fails below) on its own.
    let mut child = command(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "1000",
        "--out",
        out_dir,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with("epoch ") {
            break;
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}\n{rest:?}");
    assert!(
        stderr.contains("interrupted after epoch") && stderr.contains("continue with --resume"),
        "{stderr}"
    );
    let m = metrics(&dir);
    let epochs = m["epochs"].as_u64().unwrap();
    assert!(epochs >= 1);
    assert_eq!(m["history"].as_array().unwrap().len() as u64, epochs);
    assert!(dir.join("curves.png").is_file() && dir.join("confusion.png").is_file());
    let resumed = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        &(epochs + 1).to_string(),
        "--out",
        out_dir,
        "--resume",
    ]);
    assert!(resumed.status.success(), "{}", both(&resumed));
}

/// A train block whose clipping changed since the run started: the resumed
/// run keeps the run's clipping (with a warning) and ends exactly where an
/// uninterrupted run with that clipping ends.
#[test]
fn resume_keeps_the_runs_gradient_clipping() {
    let dir = scratch("resume-clip");
    let block = |clip: &str| {
        format!(
            "model M {{\n    input x: f32[64];\n    output y = x -> dense(16) -> relu -> dense(10);\n}}\n\ntrain M {{\n    loss: cross_entropy,\n    optimizer: sgd(lr: 0.5),\n    clip: {clip},\n    batch: 64,\n    epochs: 2,\n}}\n"
        )
    };
    let (tight, loose) = (dir.join("tight.nn"), dir.join("loose.nn"));
    std::fs::write(&tight, block("norm(max_norm: 0.05)")).unwrap();
    std::fs::write(&loose, block("value(clip_value: 10.0)")).unwrap();
    let run = |file: &Path, out: &str, extra: &[&str]| {
        let out = dir.join(out);
        let mut args = vec![
            "train",
            file.to_str().unwrap(),
            "--threads",
            "1",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        dslc(&args)
    };
    let straight = run(&tight, "straight", &[]);
    assert!(straight.status.success(), "{}", both(&straight));
    let first = run(&tight, "resumed", &["--epochs", "1"]);
    assert!(first.status.success(), "{}", both(&first));
    let resumed = run(&loose, "resumed", &["--resume"]);
    assert!(resumed.status.success(), "{}", both(&resumed));
    assert!(
        text(&resumed.stderr).contains(
            "the train block now says clip value(10); the resumed run keeps its clip norm(0.05)"
        ),
        "{}",
        both(&resumed)
    );
    let losses = |m: serde_json::Value| -> Vec<serde_json::Value> {
        let history = m["history"].as_array().unwrap().clone();
        history.iter().map(|r| r["train_loss"].clone()).collect()
    };
    assert_eq!(
        losses(metrics(&dir.join("straight"))),
        losses(metrics(&dir.join("resumed")))
    );
    assert_eq!(
        safetensors_metadata(&dir.join("resumed/model.safetensors"))["clip"],
        "norm(0.05)"
    );
}
