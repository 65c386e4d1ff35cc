//! Generated int8 code against the int8 executor (`quant::run`) on the
//! same plans: the same `u8` outputs and the same dequantized f32 outputs,
//! bit for bit, for every checked model at several batch sizes and thread
//! counts, on the int8 kernel tier this process runs; `every_int8_tier`
//! runs them again in a process per tier (`NNSPEC_INT8_KERNELS`).

#[path = "../plans.rs"]
mod plans;

use nnspec_generated_int8_check as generated;
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::threads::Threads;
use nnspec_runtime_core::quant::plan::QPlan;
use nnspec_runtime_core::quant::run;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The int8 plan the build script printed as `stem`'s module.
fn plan_of(stem: &str) -> QPlan {
    let (file, model, _) = plans::MODELS
        .into_iter()
        .find(|m| m.2 == stem)
        .expect("a checked model");
    plans::quantized(&plans::float_plan(env!("CARGO_MANIFEST_DIR"), file, model))
}

/// The executor's outputs for `input`: (f32, u8) of the one output.
fn executor(q: &QPlan, input: &[f32], batch: usize, par: &dyn Threads) -> (Vec<f32>, Vec<u8>) {
    let sizes = run::arena_sizes(q, batch, par.threads()).expect("small sizes");
    let mut floats = vec![0.0f32; sizes.f32_len];
    let mut bytes = vec![0u8; sizes.u8_len];
    let mut scratch = vec![0u8; sizes.scratch_len];
    floats[run::input_range(q, batch)].copy_from_slice(input);
    run::run(q, &mut floats, &mut bytes, &mut scratch, batch, par);
    let u8_range = run::u8_output_range(q, batch, 0).expect("every output has integers");
    (
        floats[run::output_range(q, batch, 0)].to_vec(),
        bytes[u8_range].to_vec(),
    )
}

macro_rules! differential {
    ($test:ident, $module:ident, $ty:ident, $stem:literal, $input:ident, $output:ident, $output_u8:ident) => {
        #[test]
        fn $test() {
            use generated::$module as m;
            let q = plan_of($stem);
            assert_eq!(
                m::arena_len(1),
                m::ARENA_U8_LEN,
                "ARENA_U8_LEN is arena_len(1)"
            );
            assert_eq!(m::float_arena_len(1, 1), m::ARENA_F32_LEN);
            let float = &q.float;
            for batch in [1, 5, 64] {
                for threads in [1, 2] {
                    let par = Parallel::new(threads);
                    // Inputs beyond the calibrated [0, 1), so that
                    // quantization saturates too.
                    let seed = (batch * 10 + threads) as u64;
                    let input = plans::inputs(float, batch, seed, -0.5, 1.5);
                    let (want, want_u8) = executor(&q, &input, batch, &par);

                    let mut arena = vec![0u8; m::arena_len(batch)];
                    let mut float_arena = vec![0.0f32; m::float_arena_len(batch, threads)];
                    let mut got = vec![0.0f32; batch * m::$output];
                    m::$ty.forward_batch(&input, &mut got, &mut arena, &mut float_arena, &par);
                    let got_u8 = m::$output_u8(&arena, batch);
                    assert_eq!(
                        got_u8,
                        want_u8.as_slice(),
                        "{}: u8 outputs, batch {batch}, {threads} thread(s)",
                        $stem
                    );
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{}: f32 outputs, batch {batch}, {threads} thread(s)",
                        $stem
                    );

                    // The outputs really vary: a constant output would
                    // agree without proving anything.
                    let mut distinct = want_u8.clone();
                    distinct.sort_unstable();
                    distinct.dedup();
                    assert!(distinct.len() > 3, "{}: outputs {distinct:?}", $stem);

                    if batch == 1 {
                        let x: &[f32; m::$input] = input.as_slice().try_into().unwrap();
                        assert_eq!(bits(&m::$ty.forward(x)), bits(&want), "{}: forward", $stem);
                        assert_eq!(
                            m::$ty.forward_u8(x).as_slice(),
                            want_u8.as_slice(),
                            "{}: forward_u8",
                            $stem
                        );
                    }
                }
            }
        }
    };
}

differential!(
    digits_mlp,
    digits_mlp,
    DigitsMlp,
    "DigitsMlp",
    X_LEN,
    LOGITS_LEN,
    logits_u8
);
differential!(lenet, lenet, LeNet, "LeNet", X_LEN, LOGITS_LEN, logits_u8);
differential!(
    mnist_mlp, mnist_mlp, MnistMlp, "MnistMlp", X_LEN, LOGITS_LEN, logits_u8
);
differential!(
    float_steps,
    float_steps,
    FloatSteps,
    "FloatSteps",
    X_LEN,
    PROBS_LEN,
    probs_u8
);

/// The steps of the float-step model really run in f32 (else it would not
/// test the f32 steps' printing).
#[test]
fn the_float_model_has_float_steps() {
    use nnspec_runtime_core::quant::plan::QStep;
    let q = plan_of("FloatSteps");
    let floats = q
        .steps
        .iter()
        .filter(|s| matches!(s, QStep::Float(_)))
        .count();
    assert!(floats >= 2, "sigmoid and softmax run in f32: {:?}", q.steps);
}

/// The differential tests again under each int8 tier, a process each (the
/// tier is chosen once per process, from `NNSPEC_INT8_KERNELS`; a tier
/// this CPU lacks falls back to the best it has). Skipped in those
/// processes, and wherever the environment already picks a tier.
#[test]
fn every_int8_tier() {
    const TIER: &str = "NNSPEC_INT8_KERNELS";
    if std::env::var_os(TIER).is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    for tier in ["portable", "avx2", "avxvnni", "avx512vnni"] {
        let out = std::process::Command::new(&exe)
            .args(["--exact", "digits_mlp", "lenet", "mnist_mlp", "float_steps"])
            .env(TIER, tier)
            .output()
            .expect("the test binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "under {TIER}={tier}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("4 passed"), "under {TIER}={tier}: {stdout}");
    }
}
