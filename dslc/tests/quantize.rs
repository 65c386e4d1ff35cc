//! Post-training int8 quantization: the builder, the executor, the int8
//! checkpoint and `dslc quantize`, held to naive references and to the
//! float plan.

use nnspec_runtime::exec::Executor;
use nnspec_runtime::plan::Plan;
use nnspec_runtime::quant::run;
use nnspec_runtime::quant::scheme::ACT_MAX;
use nnspec_runtime::quantize::{self, CalibrationMethod, QPlan, QStep};
use nnspec_runtime::threads::Serial;

/// The first model of `source`, lowered for training (as `dslc` does).
fn lowered(source: &str) -> Plan {
    let compiled = nnspec_dsl::compile(source);
    assert!(!compiled.has_errors(), "{}", compiled.render("test.nn"));
    let model = &compiled.models[0];
    match compiled.train(&model.name) {
        Some(config) => nnspec_codegen::lower_training(model, config),
        None => nnspec_codegen::lower_inference(model),
    }
}

/// The plan's parameters as initialized from `seed`, in `infer`'s layout.
fn initial_params(plan: &Plan, seed: u64) -> Vec<f32> {
    let mut exec = Executor::new(plan.clone(), 1, 1).unwrap();
    exec.init_params(seed);
    let state = nnspec_runtime::checkpoint::state_dict(&exec);
    quantize::params_from_checkpoint(plan, &state).unwrap()
}

fn digits_mlp() -> Plan {
    lowered(include_str!("../../examples/digits_mlp.nn"))
}

/// The int8 outputs of `q` on `inputs` as the executor computes them.
fn executor_u8(q: &QPlan, inputs: &[f32], batch: usize) -> (Vec<u8>, Vec<f32>) {
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

/// A naive reference for dense-only int8 plans, one sample at a time,
/// from the plan's integers: `Σ (x − x_zp)·w + bias`, requantized.
fn reference_u8(q: &QPlan, sample: &[f32]) -> Vec<u8> {
    let mut values: Vec<Option<Vec<u8>>> = vec![None; q.tensors.len()];
    for step in &q.steps {
        match step {
            QStep::Quantize { y, .. } => {
                let p = q.tensor(*y).q;
                values[y.index()] = Some(sample.iter().map(|&v| p.quantize(v)).collect());
            }
            QStep::Dense { x, layer, y, relu } => {
                let l = &q.layers[*layer];
                let xs = values[x.index()].clone().unwrap();
                let (x_zp, y_zp) = (q.tensor(*x).q.zero_point as i64, q.tensor(*y).q.zero_point);
                let out = (0..l.n)
                    .map(|c| {
                        let acc: i64 = (0..l.k)
                            .map(|i| (xs[i] as i64 - x_zp) * l.weight[c * l.k + i] as i64)
                            .sum::<i64>()
                            + l.bias[c] as i64;
                        let v = l.requant[c].apply(i32::try_from(acc).unwrap()) + y_zp as i32;
                        let lo = if *relu { y_zp as i32 } else { 0 };
                        v.clamp(lo, ACT_MAX as i32) as u8
                    })
                    .collect();
                values[y.index()] = Some(out);
            }
            QStep::Dequantize { .. } => {}
            other => panic!("the reference runs dense plans, not {other:?}"),
        }
    }
    values[run::output_tensor(q, 0).unwrap().index()]
        .clone()
        .unwrap()
}

#[test]
fn dense_int8_outputs_equal_a_naive_reference() {
    let plan = digits_mlp();
    let params = initial_params(&plan, 7);
    let data = nnspec_runtime::data::digits::digits();
    let inputs = &data.features[..200 * 64];
    let cal = quantize::calibrate(&plan, &params, inputs, 200, CalibrationMethod::MinMax).unwrap();
    let q = quantize::build(&plan, &params, &cal).unwrap();
    assert!(
        quantize::float_step_names(&q).is_empty(),
        "an MLP runs in int8 only"
    );
    let batch = 37;
    let (got, _) = executor_u8(&q, &inputs[..batch * 64], batch);
    for s in 0..batch {
        let want = reference_u8(&q, &inputs[s * 64..(s + 1) * 64]);
        assert_eq!(&got[s * 10..(s + 1) * 10], want.as_slice(), "sample {s}");
    }
    // Not a degenerate plan: the outputs use the range.
    assert!(
        got.iter().any(|&v| v > 10)
            && got.iter().collect::<std::collections::HashSet<_>>().len() > 20
    );
}
