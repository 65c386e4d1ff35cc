//! Generated code for a model reading token ids (extras.nn's `Tokens`)
//! against the executor: the same N(0, 1) tables for a seed, and the same
//! output bits from `forward_batch` (ids as f32) and from `forward` (ids
//! as i64); `forward` and the executor's `set_tokens` refuse an id
//! outside the table with the same error, and `forward_batch` gives NaN
//! for it rather than reading out of bounds.

use nnspec_generated_check::tokens as m;
use nnspec_runtime::exec::Executor;
use nnspec_runtime::kernels::embedding::TokenError;
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::plan::{ParamId, Plan};
use nnspec_runtime::rng::Rng;

fn plan() -> Plan {
    let path = format!("{}/models/extras.nn", env!("CARGO_MANIFEST_DIR"));
    let compiled = nnspec_dsl::compile(&std::fs::read_to_string(path).expect("extras.nn"));
    assert!(!compiled.has_errors(), "{}", compiled.render("extras.nn"));
    nnspec_codegen::lower_inference(compiled.model("Tokens").expect("model"))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The executor's weights in the generated layout.
fn weights_of(exec: &Executor) -> Vec<f32> {
    let mut weights = Vec::new();
    for (name, range, _) in m::params::ALL {
        let id = exec
            .plan()
            .params
            .iter()
            .position(|p| p.name == *name)
            .expect("same names");
        assert_eq!(weights.len(), range.start);
        weights.extend_from_slice(exec.param(ParamId(id as u32)));
    }
    weights
}

#[test]
fn generated_code_matches_the_executor_on_token_ids() {
    let plan = plan();
    assert_eq!(
        plan.token_bound(0),
        Some(7),
        "the smaller table bounds the ids"
    );
    let mut exec = Executor::new(plan.clone(), 64, 2).expect("fits");
    exec.init_params(17);
    let fresh = m::Tokens::new(17);
    let weights = weights_of(&exec);
    assert_eq!(bits(fresh.weights()), bits(&weights), "new(seed)");
    // N(0, 1): a table of 28 draws has mean near 0 and spread near 1.
    let table = fresh.param("emb.weight").expect("emb.weight");
    let mean = table.iter().sum::<f32>() / table.len() as f32;
    let var = table.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / table.len() as f32;
    assert!(
        mean.abs() < 0.6 && (0.4..2.0).contains(&var),
        "mean {mean}, variance {var}"
    );

    let model = m::Tokens::from_weights(weights.as_slice()).expect("WEIGHTS_LEN");
    let mut rng = Rng::new(5);
    for batch in [1, 5, 64] {
        for threads in [1, 2] {
            let par = Parallel::new(threads);
            let mut exec = Executor::new(plan.clone(), batch, threads).unwrap();
            for (i, p) in plan.params.iter().enumerate() {
                let (_, range, _) = m::params::ALL.iter().find(|e| e.0 == p.name).unwrap();
                exec.param_mut(ParamId(i as u32))
                    .copy_from_slice(&weights[range.clone()]);
            }
            let ids: Vec<i64> = (0..batch * m::TOKENS_LEN)
                .map(|_| rng.below(7) as i64)
                .collect();
            exec.set_tokens(batch, &ids).expect("ids of the table");
            exec.forward(batch, false);
            let want = exec.output(0, batch).to_vec();
            let as_f32: Vec<f32> = ids.iter().map(|&i| i as f32).collect();
            let mut arena = vec![f32::NAN; m::arena_len(batch, threads)];
            let mut got = vec![0.0f32; batch * m::LOGITS_LEN];
            model.forward_batch(&as_f32, &mut got, &mut arena, &par);
            assert_eq!(bits(&got), bits(&want), "batch {batch}, {threads} threads");
            if batch == 1 {
                let one: &[i64; m::TOKENS_LEN] = ids.as_slice().try_into().unwrap();
                assert_eq!(
                    bits(&model.forward(one).expect("valid ids")),
                    bits(&want),
                    "forward"
                );
            }
        }
    }
}

#[test]
fn ids_outside_the_table_are_errors_or_nan_never_reads_out_of_bounds() {
    let model = m::Tokens::new(3);
    let mut ids = [0i64; m::TOKENS_LEN];
    ids[4] = 7;
    let want = TokenError {
        position: 4,
        id: 7,
        num: 7,
    };
    assert_eq!(model.forward(&ids), Err(want));
    ids[4] = -2;
    assert_eq!(model.forward(&ids).unwrap_err().position, 4);

    let mut exec = Executor::new(plan(), 1, 1).unwrap();
    exec.init_params(3);
    ids[4] = 7;
    assert_eq!(exec.set_tokens(1, &ids), Err(want));

    // forward_batch takes ids as floats, unchecked: a bad one makes NaN.
    let mut x = [0.0f32; m::TOKENS_LEN];
    x[2] = 1e9;
    let mut out = [0.0f32; m::LOGITS_LEN];
    let mut arena = vec![0.0f32; m::arena_len(1, 1)];
    model.forward_batch(&x, &mut out, &mut arena, &nnspec_runtime::threads::Serial);
    assert!(out.iter().all(|v| v.is_nan()), "{out:?}");
}
