//! The tutorial workflow with `model!`: a model written inline and checked
//! when this file compiles, trained on the embedded handwritten digits,
//! then predicting through its generated code.
//!
//!     cargo run --release --example model_macro
//!
//! `model!` generates inference code; training runs on nnspec's executor
//! (generated `fit`/`train_step` are not built yet), and the trained
//! weights reach the generated model through the same safetensors file
//! `dslc train` writes.

use nnspec::runtime::checkpoint::state_dict;
use nnspec::runtime::data::{digits, train_test_split};
use nnspec::runtime::exec::Executor;
use nnspec::runtime::train::{FitOptions, Silent, evaluate, fit};

nnspec::model! {
    model DigitsMlp {
        input x: f32[64];
        output logits = x -> dense(64) as fc1 -> relu -> dense(10) as fc2;
    }

    train DigitsMlp {
        loss: cross_entropy,
        optimizer: sgd(lr: 0.1, momentum: 0.9),
        batch: 32,
        epochs: 30,
    }
}

fn main() {
    // Train: the same text, compiled for the executor.
    let compiled = nnspec::dsl::compile(digits_mlp::SOURCE);
    let (model, config) = (
        compiled.model("DigitsMlp").unwrap(),
        compiled.train("DigitsMlp").unwrap(),
    );
    let plan = nnspec::codegen::lower_training(model, config);
    let mut exec = Executor::new(plan, config.batch, 2).expect("fits in memory");
    exec.init_params(0);
    let split = train_test_split(&digits(), 0.2, 0).expect("a split of the digits");
    let options = FitOptions {
        epochs: config.epochs,
        batch: config.batch,
        seed: 0,
        start_epoch: 0,
    };
    fit(
        &mut exec,
        &split.train,
        Some(&split.test),
        &options,
        &mut Silent,
    )
    .expect("training");
    let report = evaluate(&mut exec, &split.test);
    println!("executor: test accuracy {:.2}%", 100.0 * report.accuracy);

    // Save the executor's weights as dslc train does (PyTorch's
    // state_dict in model.safetensors) and load them into the generated
    // model, by name.
    let path = std::env::temp_dir().join("nnspec-model-macro-example.safetensors");
    state_dict(&exec)
        .save(&path)
        .expect("saving the checkpoint");
    let net = DigitsMlp::load_safetensors(&path).expect("loading the checkpoint");

    // Predict with the generated code.
    let mut correct = 0;
    for i in 0..split.test.len() {
        let x: &[f32; 64] = split.test.sample(i).try_into().expect("64 features");
        let logits = net.forward(x);
        let guess = (0..10)
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap();
        correct += usize::from(guess as u32 == split.test.labels[i]);
    }
    println!(
        "generated code: test accuracy {:.2}% ({} of {})",
        100.0 * correct as f64 / split.test.len() as f64,
        correct,
        split.test.len()
    );
}
