//! The tutorial workflow with `model!`: a model written inline and checked
//! when this file compiles, trained on the embedded handwritten digits by
//! its generated `fit` (the loop of `dslc train` over the generated
//! `train_step`), then predicting through its generated `forward`.
//!
//!     cargo run --release --example model_macro

use nnspec::runtime::data::{digits, train_test_split};
use nnspec::runtime::parallel::Parallel;

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
    use digits_mlp::training;
    let split = train_test_split(&digits(), 0.2, 0).expect("a split of the digits");

    // Train as the train block says: 30 epochs of SGD with momentum in
    // batches of 32, on two threads.
    let mut net = DigitsMlp::new(training::SEED);
    let mut state = training::state(training::SEED);
    // The test split is not shown to training: it is scored once, below.
    let fitted = net
        .fit(&split.train, None, &mut state, &Parallel::new(2))
        .expect("training");
    let last = fitted.records.last().expect("an epoch");
    println!("epoch {}: train loss {:.4}", last.epoch, last.train_loss);

    // Save the weights as `dslc train` does (PyTorch's state_dict): `dslc
    // eval` and PyTorch read the file.
    let path = std::env::temp_dir().join("nnspec-model-macro-example.safetensors");
    net.save_safetensors(&path).expect("saving the checkpoint");

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
