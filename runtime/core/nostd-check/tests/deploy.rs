//! The no_std inference path gives the `std` executor's outputs, bit for
//! bit, and a deploy build depends on nothing but the core (and libm).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

fn same_as_executor(file: &str, model: &str, train_steps: usize) {
    let (plan, batch) = common::lower(file, model);
    let mut exec = common::executor(&plan, batch, train_steps);
    let input = exec.input_mut(batch).to_vec();
    exec.forward(batch, false);
    let want = exec.output(0, batch).to_vec();

    let params = common::params(&exec);
    let mut arena = vec![f32::NAN; nnspec_nostd_check::arena_len(&plan, batch)];
    let got = nnspec_nostd_check::classify(&plan, &params, &mut arena, &input, batch);
    assert_eq!(got.len(), want.len());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(got), bits(&want), "{model}: outputs differ");
    // A smaller batch in the same arena, against the executor at that
    // batch: the portable tier's products (the gemm crate) may sum in
    // another order for 3 rows than for the full batch, so the first rows
    // of the full batch are not the reference.
    let small = &input[..input.len() / batch * 3];
    exec.input_mut(3).copy_from_slice(small);
    exec.forward(3, false);
    let want = exec.output(0, 3).to_vec();
    let got = nnspec_nostd_check::classify(&plan, &params, &mut arena, small, 3);
    assert_eq!(bits(got), bits(&want), "{model}: batch of 3");
}

#[test]
fn mlp_outputs_are_the_executors() {
    same_as_executor("mnist_mlp.nn", "MnistMlp", 0);
}

#[test]
fn cnn_outputs_are_the_executors() {
    // Convolutions, BatchNorm (with moved statistics), both poolings,
    // concat and dropout.
    same_as_executor("inception.nn", "MiniInception", 2);
}

/// The crates `cargo tree` lists for `package`'s normal dependencies
/// with its default features.
fn deploy_crates(package: &str) -> BTreeSet<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../..");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_deploy_build_pulls_in_only_the_core() {
    let allowed: BTreeSet<&str> = [
        "nnspec-runtime-core",
        "nnspec-nostd-check",
        "nnspec-example-no-std",
        "libm",
    ]
    .into();
    // The example is generated code as a device crate would hold it.
    for package in [
        "nnspec-runtime-core",
        "nnspec-nostd-check",
        "nnspec-example-no-std",
    ] {
        let crates = deploy_crates(package);
        assert!(
            crates.contains("nnspec-runtime-core"),
            "{package}: {crates:?}"
        );
        for forbidden in [
            "plotters",
            "ab_glyph",
            "flate2",
            "serde",
            "serde_json",
            "safetensors",
            "gemm",
            "rayon",
            "thiserror",
            "nnspec-runtime",
        ] {
            assert!(
                !crates.contains(forbidden),
                "{package} depends on {forbidden}"
            );
        }
        let extra: Vec<&String> = crates
            .iter()
            .filter(|c| !allowed.contains(c.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "{package} depends on {extra:?}, outside the allow-list"
        );
    }
}
