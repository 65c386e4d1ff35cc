//! Every example model checks clean; its summary table and IR text are
//! snapshots; every example is already in canonical form.

use std::path::PathBuf;

use nnspec::dsl;

fn examples() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "nn"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            (
                stem,
                std::fs::read_to_string(&path).expect("readable example"),
            )
        })
        .collect()
}

#[test]
fn the_required_examples_exist() {
    let names: Vec<String> = examples().into_iter().map(|(stem, _)| stem).collect();
    for required in ["mnist_mlp", "lenet", "residual", "inception"] {
        assert!(
            names.iter().any(|n| n == required),
            "examples/{required}.nn is missing"
        );
    }
    // The batchnorm, dropout and concat example uses all three.
    let (_, inception) = examples()
        .into_iter()
        .find(|(stem, _)| stem == "inception")
        .unwrap();
    for layer in ["batchnorm", "dropout", "concat"] {
        assert!(inception.contains(layer), "inception.nn should use {layer}");
    }
}

#[test]
fn examples_check_clean_with_snapshots() {
    for (stem, source) in examples() {
        let compiled = dsl::compile(&source);
        assert!(
            compiled.diagnostics.is_empty(),
            "{stem}.nn:\n{}",
            compiled.render(&format!("examples/{stem}.nn"))
        );
        assert!(!compiled.models.is_empty(), "{stem}.nn has no model");
        for model in &compiled.models {
            insta::assert_snapshot!(
                format!("{stem}__{}__summary", model.name),
                dsl::summary::summary(model)
            );
            insta::assert_snapshot!(format!("{stem}__{}__ir", model.name), model.to_string());
        }
        // Every train block in the examples refers to a model that checked.
        let train_blocks = compiled
            .file
            .items
            .iter()
            .filter(|i| matches!(i, dsl::ast::Item::Train(_)))
            .count();
        assert_eq!(compiled.trains.len(), train_blocks, "{stem}.nn");
    }
}

#[test]
fn examples_are_canonical_and_round_trip() {
    for (stem, source) in examples() {
        let formatted = dsl::format(&source).expect("examples parse");
        assert_eq!(formatted, source, "{stem}.nn is not in canonical form");
        let original = dsl::parse::parse(&source);
        let reparsed = dsl::parse::parse(&formatted);
        assert!(
            reparsed.errors.is_empty(),
            "{stem}.nn: {:?}",
            reparsed.errors
        );
        assert_eq!(
            dsl::ast::without_spans(&reparsed.file),
            dsl::ast::without_spans(&original.file),
            "{stem}.nn"
        );
    }
}

#[test]
fn the_tutorial_model_has_pytorch_names_and_counts() {
    let (_, source) = examples()
        .into_iter()
        .find(|(stem, _)| stem == "mnist_mlp")
        .unwrap();
    let compiled = dsl::compile(&source);
    let model = compiled.model("MnistMlp").expect("MnistMlp checks");
    let params: Vec<(String, Vec<usize>)> = model
        .params
        .iter()
        .map(|p| (p.name.clone(), p.shape.0.clone()))
        .collect();
    assert_eq!(
        params,
        vec![
            ("fc1.weight".to_string(), vec![128, 784]),
            ("fc1.bias".to_string(), vec![128]),
            ("fc2.weight".to_string(), vec![10, 128]),
            ("fc2.bias".to_string(), vec![10]),
        ]
    );
    // nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)) has 101,770 parameters.
    assert_eq!(model.trainable_parameter_count(), 101_770);
    let train = compiled.train("MnistMlp").expect("train block checks");
    assert_eq!(train.batch, 100);
    assert_eq!(train.epochs, 10);
    assert_eq!(train.loss, dsl::ir::Loss::cross_entropy());
    assert_eq!(
        train.optimizer,
        dsl::ir::Optimizer::Sgd {
            lr: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0
        }
    );
}
