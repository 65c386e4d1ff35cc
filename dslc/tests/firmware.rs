//! The microcontroller deploy, for real: after `dslc train` and `dslc
//! quantize`, `dslc deploy --target thumbv7em-none-eabihf --int8-weights
//! FILE --run` writes and builds the digits MLP's firmware (the f32 and
//! the int8 module) and runs it on QEMU's emulated MPS2-AN386
//! (Cortex-M4F); the test runs it again and holds what it prints to the
//! host: f32
//! outputs within 1e-5 of the executor's with the same class, int8 outputs
//! equal to the int8 executor's, bit for bit.
//!
//! It needs the Rust target (`rustup target add thumbv7em-none-eabihf`),
//! Debian's `qemu-system-arm` and the cortex-m crates from crates.io
//! (`.ci/run` installs all three). Under `CI=true` a missing one fails the
//! test; elsewhere the test says what is missing and passes.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{both, dslc, root, scratch, text};
use nnspec_runtime::quantize::{self, CalibrationMethod, QPlan};

const TARGET: &str = "thumbv7em-none-eabihf";
/// Digits samples the firmware carries.
const SAMPLES: usize = 6;

/// What is missing to build and run firmware here, if anything.
fn missing_tools() -> Option<String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| text(&o.stdout).lines().any(|l| l.trim() == TARGET))
        // Without rustup the toolchain may still have the target: let the
        // build say.
        .unwrap_or(true);
    if !installed {
        return Some(format!(
            "the Rust target {TARGET} (rustup target add {TARGET})"
        ));
    }
    let qemu = Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if !qemu.is_ok_and(|s| s.success()) {
        return Some("qemu-system-arm (apt-get install qemu-system-arm)".into());
    }
    None
}

/// False (after saying why) when the tools are missing outside CI.
fn tools_present(test: &str) -> bool {
    let Some(missing) = missing_tools() else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: CI=true and {missing} is missing");
    }
    eprintln!("{test}: skipped: {missing} is missing");
    false
}

/// Runs `elf` on QEMU's MPS2-AN386 with semihosting; its standard output
/// and whether it exited successfully, within `limit`.
fn run_on_qemu(elf: &Path, limit: Duration) -> (String, bool) {
    let mut child = Command::new("qemu-system-arm")
        .args(["-cpu", "cortex-m4", "-machine", "mps2-an386", "-nographic"])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-arm starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for qemu") {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().expect("qemu can be stopped");
            let _ = child.wait();
            panic!("the firmware ran for more than {limit:?} without exiting");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (format!("{out}{err}"), status.success())
}

/// The `f32 SAMPLE BITS... argmax CLASS` lines: outputs and class.
fn f32_lines(output: &str) -> Vec<(Vec<f32>, usize)> {
    lines(output, "f32 ")
        .into_iter()
        .map(|(words, class)| {
            let values = words
                .iter()
                .map(|w| f32::from_bits(u32::from_str_radix(w, 16).expect("hex bits")))
                .collect();
            (values, class)
        })
        .collect()
}

/// The `u8 SAMPLE HEX... argmax CLASS` lines: the int8 outputs and class.
fn u8_lines(output: &str) -> Vec<(Vec<u8>, usize)> {
    lines(output, "u8 ")
        .into_iter()
        .map(|(words, class)| {
            let values = words
                .iter()
                .map(|w| u8::from_str_radix(w, 16).expect("hex"))
                .collect();
            (values, class)
        })
        .collect()
}

/// The lines starting with `prefix`: their value words and class, the
/// samples checked to come in order.
fn lines<'a>(output: &'a str, prefix: &str) -> Vec<(Vec<&'a str>, usize)> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .enumerate()
        .map(|(i, rest)| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            assert_eq!(words[0], i.to_string(), "samples in order: {rest}");
            let n = words.len();
            assert_eq!(words[n - 2], "argmax", "{rest}");
            (
                words[1..n - 2].to_vec(),
                words[n - 1].parse().expect("a class"),
            )
        })
        .collect()
}

/// The number of a `NAME N bytes...` line.
fn bytes_line(output: &str, name: &str) -> u64 {
    output
        .lines()
        .find_map(|l| {
            let mut words = l.strip_prefix(name)?.split_whitespace();
            let n = words.next()?.parse().ok()?;
            (words.next() == Some("bytes")).then_some(n)
        })
        .unwrap_or_else(|| panic!("no `{name} N bytes` line in:\n{output}"))
}

/// The executor's outputs for the first `count` embedded digits, scaled as
/// `dslc train` scales them by default.
fn host_outputs(weights: &Path, count: usize) -> Vec<Vec<f32>> {
    let source = std::fs::read(root().join("examples/digits_mlp.nn")).unwrap();
    let compiled = nnspec_dsl::compile_bytes(&source);
    let model = &compiled.models[0];
    let plan = nnspec_codegen::lower_training(model, compiled.train(&model.name).unwrap());
    let output = plan.loss.as_ref().unwrap().output;
    let mut exec = nnspec_runtime::exec::Executor::new(plan, count, 1).unwrap();
    let checkpoint = nnspec_runtime::safetensors_file::Checkpoint::load(weights).unwrap();
    nnspec_runtime::checkpoint::load_state_dict(&mut exec, &checkpoint).unwrap();
    let digits = nnspec_runtime::data::digits();
    exec.input_mut(count)
        .copy_from_slice(&digits.features[..count * 64]);
    exec.forward(count, false);
    exec.buffer(output, count)
        .chunks(10)
        .map(<[f32]>::to_vec)
        .collect()
}

/// The int8 plan of the digits MLP, quantized as `dslc deploy --int8`
/// does it (min/max calibration on the first 1000 digits, scaled as
/// trained), or read from `int8_weights` (`dslc quantize`'s file).
fn int8_plan(weights: &Path, int8_weights: Option<&Path>) -> QPlan {
    let source = std::fs::read(root().join("examples/digits_mlp.nn")).unwrap();
    let compiled = nnspec_dsl::compile_bytes(&source);
    let plan = nnspec_codegen::lower_inference(&compiled.models[0]);
    if let Some(path) = int8_weights {
        let checkpoint = nnspec_runtime::safetensors_file::Checkpoint::load(path).unwrap();
        return quantize::load(&plan, &checkpoint).unwrap();
    }
    let checkpoint = nnspec_runtime::safetensors_file::Checkpoint::load(weights).unwrap();
    let params = quantize::params_from_checkpoint(&plan, &checkpoint).unwrap();
    let digits = nnspec_runtime::data::digits();
    let calibration = &digits.features[..1000 * 64];
    let ranges =
        quantize::calibrate(&plan, &params, calibration, 1000, CalibrationMethod::MinMax).unwrap();
    quantize::build(&plan, &params, &ranges).unwrap()
}

/// The int8 executor's `u8` outputs of `q` for the first `count`
/// embedded digits.
fn host_int8_outputs(q: &QPlan, count: usize) -> Vec<Vec<u8>> {
    use nnspec_runtime::quant::run;
    let digits = nnspec_runtime::data::digits();
    // Acceptance 6 compares with the host's portable tier (every tier gives
    // its integers: runtime/tests/kernels_int8.rs).
    nnspec_runtime::quant::kernels::force_int8_tier(
        nnspec_runtime::quant::kernels::Int8Tier::Portable,
    );
    let sizes = run::arena_sizes(q, count, 1).unwrap();
    let mut floats = vec![f32::NAN; sizes.f32_len];
    let mut bytes = vec![0xAAu8; sizes.u8_len];
    let mut scratch = vec![0u8; sizes.scratch_len];
    floats[run::input_range(q, count)].copy_from_slice(&digits.features[..count * 64]);
    run::run(
        q,
        &mut floats,
        &mut bytes,
        &mut scratch,
        count,
        &nnspec_runtime::threads::Serial,
    );
    bytes[run::u8_output_range(q, count, 0).unwrap()]
        .chunks(10)
        .map(<[u8]>::to_vec)
        .collect()
}

fn argmax<T: PartialOrd>(values: &[T]) -> usize {
    (0..values.len()).fold(0, |best, i| if values[i] > values[best] { i } else { best })
}

fn train(dir: &Path) -> PathBuf {
    let out = dslc(&[
        "train",
        "examples/digits_mlp.nn",
        "--epochs",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    dir.join("model.safetensors")
}

#[test]
fn digits_mlp_firmware_on_the_emulated_cortex_m4_matches_the_host() {
    if !tools_present("digits_mlp_firmware_on_the_emulated_cortex_m4_matches_the_host") {
        return;
    }
    let dir = scratch("firmware-digits");
    let weights = train(&dir.join("run"));
    // The tutorial's way: `dslc quantize` writes the int8 model, deploy
    // puts it beside the f32 one.
    let int8_dir = dir.join("int8");
    let out = dslc(&[
        "quantize",
        "examples/digits_mlp.nn",
        "--weights",
        weights.to_str().unwrap(),
        "-o",
        int8_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let int8_weights = int8_dir.join("model.int8.safetensors");
    let crate_dir = dir.join("firmware");
    let count = SAMPLES.to_string();
    let mut deploy = common::command(&[
        "deploy",
        "examples/digits_mlp.nn",
        "--target",
        TARGET,
        "--weights",
        weights.to_str().unwrap(),
        "--samples",
        "digits",
        "--count",
        &count,
        "-o",
        crate_dir.to_str().unwrap(),
        "--int8-weights",
        int8_weights.to_str().unwrap(),
        "--run",
    ]);
    // The firmware's build outlives the scratch directory (the cortex-m
    // crates compile once), in a target directory of its own.
    if std::env::var_os("CARGO_TARGET_DIR").is_none() {
        deploy.env("CARGO_TARGET_DIR", root().join("target/firmware"));
    }
    let out = deploy.output().expect("dslc runs");
    assert!(out.status.success(), "{}", both(&out));
    let report = text(&out.stdout);
    let elf = PathBuf::from(
        report
            .lines()
            .find_map(|l| l.strip_prefix("firmware "))
            .unwrap_or_else(|| panic!("no firmware path in:\n{report}")),
    );
    let flash = bytes_line(&report, "flash");
    let ram = bytes_line(&report, "ram");

    let (output, exited) = run_on_qemu(&elf, Duration::from_secs(60));
    assert!(exited, "the firmware failed:\n{output}");
    assert!(output.lines().any(|l| l == "done"), "{output}");
    let device = f32_lines(&output);
    let host = host_outputs(&weights, SAMPLES);
    assert_eq!(device.len(), SAMPLES, "{output}");
    let mut worst = 0.0f32;
    for (i, ((values, class), expected)) in device.iter().zip(&host).enumerate() {
        assert_eq!(values.len(), 10, "sample {i}: {output}");
        for (c, (&got, &want)) in values.iter().zip(expected).enumerate() {
            worst = worst.max((got - want).abs());
            assert!(
                (got - want).abs() <= 1e-5,
                "sample {i}, output {c}: the Cortex-M4 computed {got}, the host {want}"
            );
        }
        assert_eq!(*class, argmax(values), "sample {i}: the printed argmax");
        assert_eq!(*class, argmax(expected), "sample {i}: the host's class");
    }

    // The int8 module on the device gives the host executor's integers.
    let device_u8 = u8_lines(&output);
    let host_u8 = host_int8_outputs(&int8_plan(&weights, Some(&int8_weights)), SAMPLES);
    assert_eq!(device_u8.len(), SAMPLES, "{output}");
    let mut int8_agrees = 0;
    for (i, ((values, class), expected)) in device_u8.iter().zip(&host_u8).enumerate() {
        assert_eq!(
            values, expected,
            "sample {i}: int8 outputs, Cortex-M4 against host"
        );
        assert_eq!(
            *class,
            argmax(values),
            "sample {i}: the printed int8 argmax"
        );
        int8_agrees += usize::from(*class == argmax(&host[i]));
    }
    // A trained model's int8 classes are the f32 ones on nearly all digits.
    assert!(int8_agrees + 1 >= SAMPLES, "int8 and f32 classes: {output}");

    let stack = bytes_line(&output, "stack");
    // `--run` ran the same firmware, and counts the stack it measured in.
    assert!(
        report.contains(&format!("ram {} bytes with the stack", ram + stack)),
        "{report}"
    );
    eprintln!(
        "{SAMPLES} samples: largest |Cortex-M4 - host| = {worst:e}; flash {flash} bytes, RAM {ram} bytes + {stack} bytes of stack"
    );

    // Flash holds at least the weights (4810 floats) and the samples; RAM
    // at least the arena (64 floats: fc1's output, reused for fc2's).
    let weights_bytes = 4 * (64 * 64 + 64 + 64 * 10 + 10);
    let samples_bytes = 4 * 64 * SAMPLES as u64;
    assert!(flash >= weights_bytes + samples_bytes, "flash {flash}");
    assert!(
        flash < weights_bytes + samples_bytes + 256 * 1024,
        "flash {flash}"
    );
    assert!((4 * 64..64 * 1024).contains(&ram), "ram {ram}");
    assert!((64..64 * 1024).contains(&stack), "stack {stack}");
    if let Some(sections) = readelf_sizes(&elf) {
        assert_eq!(
            (flash, ram),
            sections,
            "dslc's ELF reading against readelf's"
        );
    }
}

/// Flash and RAM by binutils' `readelf -S` (an independent reading of the
/// section table), when it is installed.
fn readelf_sizes(elf: &Path) -> Option<(u64, u64)> {
    let out = Command::new("readelf").arg("-SW").arg(elf).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let (mut flash, mut ram) = (0, 0);
    for line in text(&out.stdout).lines() {
        // `[Nr] Name Type Address Off Size ES Flg Lk Inf Al`, after the
        // bracket; Flg is left out when a section has none.
        let Some((_, rest)) = line
            .trim_start()
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
        else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let flags = match words.len() {
            10 => words[6],
            9 => "",
            _ => continue,
        };
        if words[0] == "Name" || !flags.contains('A') {
            continue;
        }
        let size = u64::from_str_radix(words[4], 16).ok()?;
        if words[1] != "NOBITS" {
            flash += size;
        }
        if flags.contains('W') {
            ram += size;
        }
    }
    Some((flash, ram))
}

/// What `dslc deploy` refuses, with messages naming the problem; none of
/// it needs QEMU or the target.
#[test]
fn deploy_refuses_bad_inputs_clearly() {
    let dir = scratch("firmware-errors");
    let weights = train(&dir.join("run"));
    let w = weights.to_str().unwrap();
    let out_dir = dir.join("fw");
    let o = out_dir.to_str().unwrap();
    let base = [
        "deploy",
        "examples/digits_mlp.nn",
        "--target",
        TARGET,
        "--weights",
        w,
        "-o",
        o,
    ];
    let refused = |extra: &[&str], expected: &str| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = dslc(&args);
        common::assert_no_panic(&out, expected);
        assert!(!out.status.success(), "{extra:?}: {}", both(&out));
        assert!(
            text(&out.stderr).contains(expected),
            "{extra:?} should say `{expected}`: {}",
            both(&out)
        );
    };
    // Samples of the wrong width, named with the file.
    let narrow = dir.join("narrow.csv");
    std::fs::write(&narrow, "1,2,3\n4,5,6\n").unwrap();
    refused(&["--samples", narrow.to_str().unwrap()], "narrow.csv");
    refused(&["--samples", "no-such-file.csv"], "no such file");
    refused(&["--runtime-core", dir.to_str().unwrap()], "--runtime-core");
    refused(&["--calibration", "digits"], "--int8");
    refused(&["--int8-weights", w], "int8");
    refused(&["--int8", "--int8-weights", w], "cannot be used with");
    refused(&["--count", "0"], "--count");
    let other = [
        "deploy",
        "examples/lenet.nn",
        "--target",
        TARGET,
        "--weights",
        w,
        "-o",
        o,
    ];
    let out = dslc(&other);
    common::assert_no_panic(&out, "lenet with the MLP's weights");
    assert!(!out.status.success(), "{}", both(&out));
    assert!(!out_dir.exists(), "nothing is written after an error");

    // Without --build it writes the crate, its runtime core named by path.
    let out = dslc(&base);
    assert!(out.status.success(), "{}", both(&out));
    let manifest = std::fs::read_to_string(out_dir.join("Cargo.toml")).unwrap();
    let core = root().join("runtime/core").canonicalize().unwrap();
    assert!(
        manifest.contains(&format!("path = \"{}\"", core.display())),
        "{manifest}"
    );
    assert!(manifest.contains("[workspace]"), "{manifest}");
    for file in [
        "src/model.rs",
        "src/weights.rs",
        "src/samples.rs",
        "Cargo.lock",
        "memory.x",
    ] {
        assert!(out_dir.join(file).is_file(), "{file}");
    }
    assert!(!out_dir.join("src/model_int8.rs").exists());

    // With --int8 it calibrates on the digits itself: the int8 module of
    // the plan quantized that way, exactly.
    let with_int8: Vec<&str> = base.iter().copied().chain(["--int8"]).collect();
    let out = dslc(&with_int8);
    assert!(out.status.success(), "{}", both(&out));
    let options = nnspec_codegen::RustOptions {
        source: "examples/digits_mlp.nn".into(),
        ..Default::default()
    };
    let expected = nnspec_codegen::int8_module(&int8_plan(&weights, None), &options).unwrap();
    let written = std::fs::read_to_string(out_dir.join("src/model_int8.rs")).unwrap();
    assert!(
        written == expected,
        "the int8 module differs from the calibrated plan's"
    );
}
