//! A `model!` model and `dslc train`'s checkpoints: the generated model
//! loads the `model.safetensors` the executor writes (PyTorch's
//! `state_dict`), computes the executor's outputs bit for bit, and saves a
//! file the executor loads back.

use nnspec::runtime::checkpoint::{load_state_dict, state_dict};
use nnspec::runtime::data::{digits, train_test_split};
use nnspec::runtime::exec::Executor;
use nnspec::runtime::safetensors_file::Checkpoint;
use nnspec::runtime::train::{FitOptions, Silent, fit};

nnspec::model! {
    model DigitsMlp {
        input x: f32[64];
        output logits = x -> dense(64) as fc1 -> relu -> dense(10) as fc2;
    }

    train DigitsMlp {
        loss: cross_entropy,
        optimizer: sgd(lr: 0.1, momentum: 0.9),
        batch: 32,
        epochs: 2,
    }
}

fn trained_executor() -> Executor {
    let compiled = nnspec::dsl::compile(digits_mlp::SOURCE);
    let model = compiled.model("DigitsMlp").unwrap();
    let config = compiled.train("DigitsMlp").unwrap();
    let plan = nnspec::codegen::lower_training(model, config);
    let mut exec = Executor::new(plan, 32, 1).unwrap();
    exec.init_params(0);
    let split = train_test_split(&digits(), 0.2, 0).unwrap();
    let options = FitOptions {
        epochs: config.epochs,
        batch: config.batch,
        seed: 0,
        start_epoch: 0,
    };
    fit(&mut exec, &split.train, None, &options, &mut Silent).unwrap();
    exec
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nnspec-model-macro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn loads_the_executors_checkpoint_and_computes_its_outputs() {
    let mut exec = trained_executor();
    let path = scratch("trained.safetensors");
    state_dict(&exec).save(&path).unwrap();
    let net = DigitsMlp::load_safetensors(&path).unwrap();

    let data = digits();
    let batch = 7;
    let input: Vec<f32> = (0..batch).flat_map(|i| data.sample(i).to_vec()).collect();
    exec.input_mut(batch).copy_from_slice(&input);
    exec.forward(batch, false);
    let want = exec.output(0, batch).to_vec();
    for i in 0..batch {
        let x: &[f32; 64] = input[i * 64..][..64].try_into().unwrap();
        assert_eq!(
            bits(&net.forward(x)),
            bits(&want[i * 10..][..10]),
            "sample {i}"
        );
    }

    // Saved by the generated model, loaded by the executor: the same weights.
    let saved = scratch("saved.safetensors");
    net.save_safetensors(&saved).unwrap();
    let mut fresh = Executor::new(exec.plan().clone(), batch, 1).unwrap();
    load_state_dict(&mut fresh, &Checkpoint::load(&saved).unwrap()).unwrap();
    fresh.input_mut(batch).copy_from_slice(&input);
    fresh.forward(batch, false);
    assert_eq!(bits(fresh.output(0, batch)), bits(&want));
}

#[test]
fn bad_checkpoints_are_errors_naming_the_problem() {
    let missing = DigitsMlp::load_safetensors(scratch("does-not-exist.safetensors"));
    let message = missing
        .err()
        .expect("a missing file is an error")
        .to_string();
    assert!(message.contains("does-not-exist.safetensors"), "{message}");

    // fc1.weight with the wrong shape.
    let mut wrong = Checkpoint::new();
    wrong
        .insert_f32("fc1.weight", &[64, 63], &vec![0.0; 64 * 63])
        .unwrap();
    let path = scratch("wrong-shape.safetensors");
    wrong.save(&path).unwrap();
    let message = DigitsMlp::load_safetensors(&path)
        .err()
        .expect("a wrong shape is an error")
        .to_string();
    assert!(message.contains("fc1.weight"), "{message}");
}
