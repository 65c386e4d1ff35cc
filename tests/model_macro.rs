//! A `model!` model and `dslc train`: the generated `fit` trains as the
//! executor does (the same records and weights, bit for bit); the
//! generated model loads the `model.safetensors` the executor writes
//! (PyTorch's `state_dict`), computes the executor's outputs bit for bit,
//! and saves a file the executor loads back.

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

    // Dropout (reseeded every epoch) and BatchNorm (running statistics,
    // counters) in training mode, Adam, a last batch smaller than the rest.
    model DigitsDropout {
        input x: f32[64];
        output logits = x -> dense(32) as fc1 -> batchnorm as bn -> relu -> dropout(0.2)
                          -> dense(10) as fc2;
    }

    train DigitsDropout {
        loss: cross_entropy,
        optimizer: adam(lr: 0.01),
        batch: 25,
        epochs: 2,
        seed: 5,
    }

    // The run settings around the steps: a validation split held out of
    // the training data, a warmup then a plateau schedule driven by the
    // validation loss, and early stopping that ends with the best weights.
    model DigitsScheduled {
        input x: f32[64];
        output logits = x -> dense(32) as fc1 -> relu -> dense(10) as fc2;
    }

    train DigitsScheduled {
        loss: cross_entropy,
        optimizer: sgd(lr: 0.2, momentum: 0.9),
        batch: 64,
        epochs: 12,
        validation: 0.25,
        warmup: 1,
        schedule: plateau(factor: 0.5, patience: 0),
        early_stopping: val_loss(patience: 2, min_delta: 0.002),
    }
}

/// The executor's f32 parameters in the generated layout.
fn executor_weights(exec: &Executor) -> Vec<f32> {
    use nnspec::runtime::plan::{ParamId, ParamKind};
    (0..exec.plan().params.len())
        .filter(|&i| exec.plan().params[i].kind != ParamKind::Counter)
        .flat_map(|i| exec.param(ParamId(i as u32)).to_vec())
        .collect()
}

macro_rules! fit_agrees {
    ($test:ident, $module:ident, $ty:ident, $name:literal, $validation:ident) => {
        #[test]
        fn $test() {
            use $module::training;
            let split = train_test_split(&digits(), 0.2, 0).unwrap();
            let compiled = nnspec::dsl::compile($module::SOURCE);
            let config = compiled.train($name).unwrap();
            let plan = nnspec::codegen::lower_training(compiled.model($name).unwrap(), config);
            let mut exec = Executor::new(plan, config.batch, 2).unwrap();
            exec.init_params(config.seed);
            let options = nnspec::codegen::fit_options(config);
            let $validation = $validation(&split);
            let fitted = fit(&mut exec, &split.train, $validation, &options, &mut Silent).unwrap();
            let want = fitted.records;

            let mut net = $ty::new(training::SEED);
            let mut state = training::state(training::SEED);
            let par = nnspec::runtime::parallel::Parallel::new(2);
            let got_fitted = net
                .fit(&split.train, $validation, &mut state, &par)
                .unwrap();
            assert_eq!(got_fitted.best, fitted.best);
            assert_eq!(got_fitted.stopped_early, fitted.stopped_early);
            let got = got_fitted.records;
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(
                    g.train_loss.to_bits(),
                    w.train_loss.to_bits(),
                    "epoch {}",
                    w.epoch
                );
                assert_eq!(g.train_accuracy, w.train_accuracy, "epoch {}", w.epoch);
                assert_eq!(g.val_loss, w.val_loss, "epoch {}", w.epoch);
                assert_eq!(g.val_accuracy, w.val_accuracy, "epoch {}", w.epoch);
                assert_eq!(g.lr, w.lr, "epoch {}", w.epoch);
            }
            assert!(want.last().unwrap().val_accuracy.unwrap() > 0.8, "{want:?}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(net.weights()),
                bits(&executor_weights(&exec)),
                "trained weights"
            );
        }
    };
}

/// Validation on the test split given explicitly.
fn given(split: &nnspec::runtime::data::Split) -> Option<&nnspec::runtime::data::Dataset> {
    Some(&split.test)
}

/// No validation set given: the train block's `validation` share is held out.
fn held_out(_: &nnspec::runtime::data::Split) -> Option<&nnspec::runtime::data::Dataset> {
    None
}

fit_agrees!(
    fit_trains_as_the_executor_does,
    digits_mlp,
    DigitsMlp,
    "DigitsMlp",
    given
);
fit_agrees!(
    fit_with_dropout_and_batchnorm_trains_as_the_executor_does,
    digits_dropout,
    DigitsDropout,
    "DigitsDropout",
    given
);
fit_agrees!(
    fit_with_validation_schedule_and_early_stopping_trains_as_the_executor_does,
    digits_scheduled,
    DigitsScheduled,
    "DigitsScheduled",
    held_out
);

/// The scheduled model's run did what its block says: the warmup, the
/// plateau's reductions and the stop are visible in its records.
#[test]
fn the_scheduled_model_warms_up_reduces_and_stops() {
    let split = train_test_split(&digits(), 0.2, 0).unwrap();
    let mut net = DigitsScheduled::new(digits_scheduled::training::SEED);
    let mut state = digits_scheduled::training::state(digits_scheduled::training::SEED);
    let par = nnspec::runtime::parallel::Parallel::new(2);
    let fitted = net.fit(&split.train, None, &mut state, &par).unwrap();
    let lrs: Vec<f64> = fitted.records.iter().map(|r| r.lr.unwrap()).collect();
    eprintln!(
        "{lrs:?} best {:?} stopped {}",
        fitted.best, fitted.stopped_early
    );
    // The warmup's last step is below the lr; after it the lr is back
    // (to PyTorch's rounding of its recursive LinearLR), then only falls.
    assert!(lrs[0] < 0.19 && (lrs[1] - 0.2).abs() < 1e-12, "{lrs:?}");
    assert!(
        lrs.last().unwrap() < &0.1,
        "the plateau reduced the lr: {lrs:?}"
    );
    assert!(fitted.stopped_early && fitted.records.len() < 12);
    assert!(lrs.windows(2).skip(1).all(|w| w[1] <= w[0]), "{lrs:?}");
    let best = fitted.best.unwrap();
    assert_eq!(
        best.value,
        fitted.records[best.epoch - 1].val_loss.unwrap(),
        "the best epoch's own loss"
    );
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
        ..FitOptions::default()
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
    // The same batch size, so the same kernel paths on every tier (the
    // portable dense kernel sums a lone row in another order).
    let mut got = vec![0.0f32; batch * 10];
    let mut arena = vec![0.0f32; digits_mlp::arena_len(batch, 1)];
    net.forward_batch(
        &input,
        &mut got,
        &mut arena,
        &nnspec::runtime::threads::Serial,
    );
    assert_eq!(bits(&got), bits(&want));

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
