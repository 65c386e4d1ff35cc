//! The generated Rust of every example model, as insta snapshots: a
//! reviewer sees every change to generated code.

use nnspec_codegen::{RustOptions, model_module};

fn module_of(file: &str, model: &str) -> String {
    let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    let compiled = nnspec_dsl::compile(&source);
    assert!(compiled.diagnostics.is_empty(), "{file} has errors");
    let options = RustOptions {
        source: format!("examples/{file}"),
        ..RustOptions::default()
    };
    model_module(
        compiled.model(model).unwrap(),
        compiled.train(model),
        &options,
    )
    .unwrap()
}

#[test]
fn every_example_model_as_rust() {
    for (file, model) in [
        ("mnist_mlp.nn", "MnistMlp"),
        ("digits_mlp.nn", "DigitsMlp"),
        ("lenet.nn", "LeNet"),
        ("residual.nn", "Residual"),
        ("residual.nn", "DigitsResNet"),
        ("inception.nn", "MiniInception"),
    ] {
        let code = module_of(file, model);
        assert_eq!(code, module_of(file, model), "{model}: deterministic");
        insta::assert_snapshot!(model, code);
    }
}
