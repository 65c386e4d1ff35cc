//! The PyTorch module of every example model, and of the models in
//! tests/pytorch/every_op.nn that use every other layer and train-block
//! setting, as insta snapshots: a reviewer sees every change to the
//! generated Python. tests/pytorch_emit.rs (root package) holds the same
//! files to Python's compiler and to ruff; bench/pytorch_emitted.py holds
//! them to the executor's outputs and gradients under PyTorch.

use nnspec_codegen::pytorch::{PytorchError, module_file};

fn compiled(path: &str) -> nnspec_dsl::Compiled {
    let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    let compiled = nnspec_dsl::compile(&source);
    assert!(!compiled.has_errors(), "{path} has errors");
    compiled
}

fn python_of(path: &str, model: &str) -> String {
    let compiled = compiled(path);
    let source = path.rsplit('/').next().unwrap();
    module_file(
        compiled.model(model).unwrap(),
        compiled.train(model),
        source,
    )
    .unwrap()
}

#[test]
fn every_example_model_as_pytorch() {
    for (file, model) in [
        ("mnist_mlp.nn", "MnistMlp"),
        ("digits_mlp.nn", "DigitsMlp"),
        ("lenet.nn", "LeNet"),
        ("residual.nn", "Residual"),
        ("residual.nn", "DigitsResNet"),
        ("inception.nn", "MiniInception"),
        ("mobilenet.nn", "MobileNet"),
        ("digits_lstm.nn", "DigitsLstm"),
        ("digits_transformer.nn", "DigitsTransformer"),
    ] {
        let path = format!("../examples/{file}");
        let code = python_of(&path, model);
        assert_eq!(code, python_of(&path, model), "{model}: deterministic");
        insta::assert_snapshot!(format!("pytorch_{model}"), code);
    }
}

#[test]
fn every_other_layer_and_setting_as_pytorch() {
    for model in ["Signals", "Sequences", "Tagger", "TwoHeads"] {
        let code = python_of("tests/pytorch/every_op.nn", model);
        insta::assert_snapshot!(format!("pytorch_{model}"), code);
    }
}

#[test]
fn state_dict_names_are_the_checkpoint_names() {
    // Every parameter is reached as `self.<its checkpoint name>` in
    // reset_parameters, so the attribute paths, which are the state_dict
    // names, are the checkpoint's.
    for (path, model) in [
        ("../examples/digits_transformer.nn", "DigitsTransformer"),
        ("../examples/mobilenet.nn", "MobileNet"),
        ("tests/pytorch/every_op.nn", "Sequences"),
    ] {
        let code = python_of(path, model);
        let compiled = compiled(path);
        for param in &compiled.model(model).unwrap().params {
            assert!(
                code.contains(&format!("(self.{}", param.name))
                    || code.contains(&format!("self.{}.zero_()", param.name)),
                "{model}: {} is not initialized by its name",
                param.name
            );
        }
    }
}

#[test]
fn names_python_cannot_take_are_refused_with_the_fix() {
    let compiled =
        nnspec_dsl::compile("model M { input x: f32[4]; output y = x -> dense(2) as training; }");
    assert!(!compiled.has_errors());
    let error = module_file(compiled.model("M").unwrap(), None, "m.nn").unwrap_err();
    assert_eq!(
        error,
        PytorchError::LayerName {
            layer: "training".into(),
            problem: "an attribute every torch.nn.Module already has"
        }
    );
    assert!(error.to_string().contains("rename it with `as`"), "{error}");

    // A value's variable may be renamed freely: a parameterless layer
    // named `lambda` only changes a local variable.
    let compiled = nnspec_dsl::compile(
        "model M { input x: f32[4]; let lambda = x -> relu; output y = lambda -> dense(2); }",
    );
    assert!(!compiled.has_errors());
    let code = module_file(compiled.model("M").unwrap(), None, "m.nn").unwrap();
    assert!(code.contains("lambda_ = F.relu(x)"), "{code}");
}
