//! `dslc build --emit pytorch` and `--emit pytorch-train`: the library's
//! module (and trainer) on stdout or in a file, and clear errors for what
//! cannot be emitted. tests/pytorch_emit.rs holds the files to Python's
//! compiler and ruff; bench/pytorch_emitted.py to the executor's numbers.

mod common;

use common::{assert_no_panic, both, dslc, scratch, text};

fn library_module(file: &str, model: &str) -> String {
    let source = std::fs::read_to_string(common::root().join(file)).unwrap();
    let compiled = nnspec_dsl::compile(&source);
    let name = file.rsplit('/').next().unwrap();
    nnspec_codegen::pytorch::module_file(
        compiled.model(model).unwrap(),
        compiled.train(model),
        name,
    )
    .unwrap()
}

#[test]
fn prints_the_module_the_library_makes() {
    let out = dslc(&["build", "examples/digits_mlp.nn", "--emit", "pytorch"]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(
        text(&out.stdout),
        library_module("examples/digits_mlp.nn", "DigitsMlp")
    );
}

#[test]
fn writes_the_chosen_model_atomically() {
    let dir = scratch("build_pytorch_writes");
    let path = dir.join("resnet.py");
    let out = dslc(&[
        "build",
        "examples/residual.nn",
        "--model",
        "DigitsResNet",
        "--emit",
        "pytorch",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(out.stdout.is_empty());
    let code = std::fs::read_to_string(&path).unwrap();
    assert_eq!(code, library_module("examples/residual.nn", "DigitsResNet"));
    assert!(code.contains("class DigitsResNet(nn.Module):"), "{code}");
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1, "a temporary file was left: {names:?}");
}

#[test]
fn the_training_script_is_the_module_and_the_trainer() {
    let out = dslc(&["build", "examples/digits_mlp.nn", "--emit", "pytorch-train"]);
    assert!(out.status.success(), "{}", both(&out));
    let script = text(&out.stdout);
    let module = library_module("examples/digits_mlp.nn", "DigitsMlp");
    assert!(script.starts_with(&module), "the module comes first");
    let trainer = &script[module.len()..];
    assert!(trainer.contains("DistributedDataParallel"), "{trainer}");
    assert!(trainer.ends_with("if __name__ == \"__main__\":\n    main()\n"));
}

#[test]
fn what_cannot_be_emitted_is_a_clear_error() {
    let dir = scratch("build_pytorch_errors");
    let keyword = dir.join("keyword.nn");
    std::fs::write(
        &keyword,
        "model M { input x: f32[3]; output y = x -> dense(2) as state_dict; }",
    )
    .unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "build",
                "examples/residual.nn",
                "--model",
                "Residual",
                "--emit",
                "pytorch-train",
            ],
            "model `Residual` has no train block: the training script needs one",
        ),
        (
            &["build", keyword.to_str().unwrap(), "--emit", "pytorch"],
            "layer `state_dict` is an attribute every torch.nn.Module already has, so it \
             cannot name a PyTorch submodule",
        ),
        (
            &[
                "build",
                "examples/lenet.nn",
                "--emit",
                "pytorch",
                "--with-test",
            ],
            "--with-test applies to --emit rust, not --emit pytorch",
        ),
    ];
    for (args, message) in cases {
        let out = dslc(args);
        assert_no_panic(&out, message);
        assert!(!out.status.success(), "{args:?}: {}", both(&out));
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            both(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", both(&out));
    }
}
