//! What the quantization tests share: lowering a model, seeded weights,
//! running the int8 executor.
#![allow(dead_code)]

use nnspec_runtime::exec::Executor;
use nnspec_runtime::plan::Plan;
use nnspec_runtime::quant::run;
use nnspec_runtime::quantize::{self, QPlan};
use nnspec_runtime::threads::Serial;

/// The first model of `source`, lowered for training (as `dslc` does).
pub fn lowered(source: &str) -> Plan {
    let compiled = nnspec_dsl::compile(source);
    assert!(!compiled.has_errors(), "{}", compiled.render("test.nn"));
    let model = &compiled.models[0];
    match compiled.train(&model.name) {
        Some(config) => nnspec_codegen::lower_training(model, config),
        None => nnspec_codegen::lower_inference(model),
    }
}

/// The plan's parameters as initialized from `seed`, in `infer`'s layout.
pub fn initial_params(plan: &Plan, seed: u64) -> Vec<f32> {
    let mut exec = Executor::new(plan.clone(), 1, 1).unwrap();
    exec.init_params(seed);
    let state = nnspec_runtime::checkpoint::state_dict(&exec);
    quantize::params_from_checkpoint(plan, &state).unwrap()
}

pub fn digits_mlp() -> Plan {
    lowered(include_str!("../../../examples/digits_mlp.nn"))
}

/// The int8 outputs of `q` on `inputs` as the executor computes them.
pub fn executor_u8(q: &QPlan, inputs: &[f32], batch: usize) -> (Vec<u8>, Vec<f32>) {
    let sizes = run::arena_sizes(q, batch, 1).unwrap();
    let mut f = vec![f32::NAN; sizes.f32_len];
    let mut u = vec![0xAAu8; sizes.u8_len];
    let mut s = vec![0u8; sizes.scratch_len];
    f[run::input_range(q, batch)].copy_from_slice(inputs);
    run::run(q, &mut f, &mut u, &mut s, batch, &Serial);
    (
        u[run::u8_output_range(q, batch, 0).unwrap()].to_vec(),
        f[run::output_range(q, batch, 0)].to_vec(),
    )
}
