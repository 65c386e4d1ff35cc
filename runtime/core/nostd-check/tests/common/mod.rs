//! Shared by the tests: a model lowered and run by the `std` executor.

use nnspec_runtime::exec::Executor;
use nnspec_runtime::plan::{ParamKind, Plan};
use nnspec_runtime::rng::Rng;

/// The training plan of `model` in `file` (under examples/) and its batch.
pub fn lower(file: &str, model: &str) -> (Plan, usize) {
    let path = format!("{}/../../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).expect("example model");
    let compiled = nnspec_dsl::compile(&source);
    assert!(!compiled.has_errors(), "{}", compiled.render(file));
    let config = compiled.train(model).expect("train block").clone();
    let model = compiled.model(model).expect("model");
    (nnspec_codegen::lower_training(model, &config), config.batch)
}

/// An executor for `plan` with initialized parameters, after `steps`
/// training steps on random data (so BatchNorm statistics move), with a
/// fresh random batch of `batch` samples in its input.
pub fn executor(plan: &Plan, batch: usize, steps: usize) -> Executor {
    let mut exec = Executor::new(plan.clone(), batch, 1).expect("fits in memory");
    exec.init_params(3);
    let mut rng = Rng::new(11);
    let classes = plan.outputs[0].2.iter().product::<usize>() as u32;
    for step in 0..=steps {
        let (x, labels) = exec.batch_slots(batch);
        x.iter_mut().for_each(|v| *v = rng.uniform(-1.0, 1.0));
        for (i, l) in labels.iter_mut().enumerate() {
            *l = (i as u32 + step as u32) % classes;
        }
        if step < steps {
            exec.seed_dropout(step as u64);
            exec.train_step(batch);
        }
    }
    exec
}

/// The executor's parameters in the layout `infer::run` reads.
pub fn params(exec: &Executor) -> Vec<f32> {
    let plan = exec.plan();
    plan.params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind != ParamKind::Counter)
        .flat_map(|(i, _)| exec.param(nnspec_runtime::plan::ParamId(i as u32)).to_vec())
        .collect()
}
