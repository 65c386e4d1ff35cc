//! Training end to end through the library: front end, lowering, executor.

use nnspec::codegen;
use nnspec::dsl;
use nnspec::runtime::data::{self, Dataset};
use nnspec::runtime::exec::Executor;
use nnspec::runtime::train::{self, FitOptions, Silent};

fn compile(source: &str, model: &str) -> (dsl::ir::Model, dsl::ir::TrainConfig) {
    let compiled = dsl::compile(source);
    assert!(!compiled.has_errors(), "{}", compiled.render("test.nn"));
    (
        compiled.model(model).unwrap().clone(),
        compiled.train(model).unwrap().clone(),
    )
}

fn digits_split() -> data::Split {
    data::train_test_split(&data::digits::digits(), 0.2, 0).expect("split")
}

fn train_digits(
    seed: u64,
    threads: usize,
) -> (
    Vec<nnspec::runtime::metrics::EpochRecord>,
    Vec<f32>,
    train::Evaluation,
) {
    let source = include_str!("../examples/digits_mlp.nn");
    let (model, config) = compile(source, "DigitsMlp");
    let plan = codegen::lower_training(&model, &config);
    let split = digits_split();
    let mut exec = Executor::new(plan, config.batch, threads).expect("fits in memory");
    exec.init_params(seed);
    let options = FitOptions {
        epochs: config.epochs,
        batch: config.batch,
        seed,
        start_epoch: 0,
        validation: Some(0.1),
        ..FitOptions::default()
    };
    let records = train::fit(&mut exec, &split.train, None, &options, &mut Silent)
        .expect("trains")
        .records;
    let weights = exec.param(nnspec::runtime::plan::ParamId(0)).to_vec();
    let evaluation = train::evaluate(&mut exec, &split.test);
    (records, weights, evaluation)
}

#[test]
fn the_digits_mlp_learns() {
    let (records, _, evaluation) = train_digits(0, 2);
    for r in &records {
        eprintln!(
            "epoch {} loss {:.4} acc {:.4} validation {:.4}",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            r.val_accuracy.unwrap()
        );
    }
    assert!(records.last().unwrap().train_loss < records[0].train_loss / 4.0);
    assert!(
        evaluation.accuracy >= 0.95,
        "test accuracy {}",
        evaluation.accuracy
    );
}

#[test]
fn same_seed_same_numbers() {
    let (a_records, a_weights, _) = train_digits(7, 2);
    let (b_records, b_weights, _) = train_digits(7, 2);
    let losses = |r: &[nnspec::runtime::metrics::EpochRecord]| {
        r.iter().map(|e| e.train_loss).collect::<Vec<_>>()
    };
    assert_eq!(losses(&a_records), losses(&b_records));
    assert_eq!(a_weights, b_weights);
    let (c_records, _, _) = train_digits(8, 2);
    assert_ne!(losses(&a_records), losses(&c_records));
}

/// The executor's storage, every buffer and every parameter start on a
/// 64-byte cache line: the matrix kernels' rows then never straddle two
/// lines (runtime/src/exec/aligned.rs; the MLP trains about 5% faster).
#[test]
fn buffers_and_parameters_start_on_cache_lines() {
    use nnspec::runtime::plan::{BufferId, BufferType, ParamId, ParamKind};
    for (source, name) in [
        (include_str!("../examples/mnist_mlp.nn"), "MnistMlp"),
        (include_str!("../examples/lenet.nn"), "LeNet"),
        (include_str!("../examples/residual.nn"), "DigitsResNet"),
    ] {
        let (model, config) = compile(source, name);
        let plan = codegen::lower_training(&model, &config);
        let batch = 7;
        let exec = Executor::new(plan.clone(), batch, 1).expect("fits in memory");
        let on_a_line = |what: &str, values: &[f32]| {
            assert_eq!(
                values.as_ptr() as usize % 64,
                0,
                "{name}: {what} starts inside a cache line"
            );
        };
        for (i, buffer) in plan.buffers.iter().enumerate() {
            if buffer.ty == BufferType::F32 {
                on_a_line(&buffer.name, exec.buffer(BufferId(i as u32), batch));
            }
        }
        for (i, param) in plan.params.iter().enumerate() {
            let id = ParamId(i as u32);
            if param.kind != ParamKind::Counter {
                on_a_line(&param.name, exec.param(id));
            }
            if param.kind == ParamKind::Trainable {
                on_a_line(&format!("d {}", param.name), exec.grad(id));
            }
        }
    }
}

#[allow(dead_code)]
fn unused(_: Dataset) {}
