//! Generated code against the executor: the same initial weights for a
//! seed, and bit-identical outputs for every example model, at several
//! batch sizes and thread counts, on whatever kernel tier this process
//! runs (CI runs it under each).

use nnspec_generated_check as generated;
use nnspec_runtime::exec::Executor;
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::plan::{ParamId, Plan};
use nnspec_runtime::rng::Rng;

fn inference_plan(file: &str, model: &str) -> Plan {
    let path = match file {
        "extras.nn" => format!("{}/models/{file}", env!("CARGO_MANIFEST_DIR")),
        _ => format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR")),
    };
    let source = std::fs::read_to_string(&path).expect("example model");
    let compiled = nnspec_dsl::compile(&source);
    assert!(!compiled.has_errors(), "{}", compiled.render(file));
    nnspec_codegen::lower_inference(compiled.model(model).expect("model"))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The executor's weights in the generated layout (`params::ALL`).
fn weights_of(exec: &Executor, table: &[(&str, std::ops::Range<usize>, &[usize])]) -> Vec<f32> {
    let plan = exec.plan();
    let mut weights = vec![f32::NAN; table.last().map_or(0, |t| t.1.end)];
    for (name, range, shape) in table {
        let id = plan
            .params
            .iter()
            .position(|p| p.name == *name)
            .expect("same names");
        assert_eq!(plan.params[id].shape, *shape, "{name}: shape");
        weights[range.clone()].copy_from_slice(exec.param(ParamId(id as u32)));
    }
    weights
}

macro_rules! differential {
    ($test:ident, $module:ident, $ty:ident, $file:literal, $model:literal, $input:ident, $output:ident) => {
        #[test]
        fn $test() {
            use generated::$module as m;
            let plan = inference_plan($file, $model);
            let mut rng = Rng::new(5);

            // The same initialization for a seed.
            let mut exec = Executor::new(plan.clone(), 64, 2).expect("fits in memory");
            exec.init_params(17);
            let fresh = m::$ty::new(17);
            assert_eq!(
                bits(fresh.weights()),
                bits(&weights_of(&exec, &m::params::ALL)),
                "{}: new(seed) differs from the executor's initialization",
                $model
            );

            // Weights moved off their initial values (BatchNorm statistics
            // included), the same in both.
            for id in 0..plan.params.len() {
                let values = exec.param_mut(ParamId(id as u32));
                values
                    .iter_mut()
                    .for_each(|v| *v += rng.uniform(-0.05, 0.05));
            }
            let weights = weights_of(&exec, &m::params::ALL);
            let model = m::$ty::from_weights(weights.as_slice()).expect("WEIGHTS_LEN");
            assert!(m::$ty::from_weights(&weights[1..]).is_none());

            for batch in [1, 5, 64] {
                for threads in [1, 2] {
                    let par = Parallel::new(threads);
                    let mut exec = Executor::new(plan.clone(), batch, threads).unwrap();
                    for id in 0..plan.params.len() {
                        let name = &plan.params[id].name;
                        if let Some((_, range, _)) = m::params::ALL.iter().find(|p| p.0 == name) {
                            exec.param_mut(ParamId(id as u32))
                                .copy_from_slice(&weights[range.clone()]);
                        }
                    }
                    let input: Vec<f32> = (0..batch * m::$input)
                        .map(|_| rng.uniform(-1.0, 1.0))
                        .collect();
                    exec.input_mut(batch).copy_from_slice(&input);
                    exec.forward(batch, false);
                    let want = exec.output(0, batch).to_vec();

                    // A NaN-filled arena: reading memory no step wrote shows.
                    let mut arena = vec![f32::NAN; m::arena_len(batch, threads)];
                    let mut got = vec![0.0f32; batch * m::$output];
                    model.forward_batch(&input, &mut got, &mut arena, &par);
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{}: batch {batch}, {threads} threads",
                        $model
                    );
                    if batch == 1 {
                        let one: &[f32; m::$input] = input.as_slice().try_into().unwrap();
                        assert_eq!(
                            bits(&model.forward(one)),
                            bits(&want),
                            "{}: forward",
                            $model
                        );
                    }
                }
            }
        }
    };
}

differential!(
    mnist_mlp,
    mnist_mlp,
    MnistMlp,
    "mnist_mlp.nn",
    "MnistMlp",
    X_LEN,
    LOGITS_LEN
);
differential!(
    digits_mlp,
    digits_mlp,
    DigitsMlp,
    "digits_mlp.nn",
    "DigitsMlp",
    X_LEN,
    LOGITS_LEN
);
differential!(lenet, lenet, LeNet, "lenet.nn", "LeNet", X_LEN, LOGITS_LEN);
differential!(
    residual,
    residual,
    Residual,
    "residual.nn",
    "Residual",
    X_LEN,
    Y_LEN
);
differential!(
    digits_resnet,
    digits_resnet,
    DigitsResNet,
    "residual.nn",
    "DigitsResNet",
    X_LEN,
    LOGITS_LEN
);
differential!(
    mini_inception,
    mini_inception,
    MiniInception,
    "inception.nn",
    "MiniInception",
    X_LEN,
    LOGITS_LEN
);
differential!(
    extras,
    extras,
    Extras,
    "extras.nn",
    "Extras",
    X_LEN,
    PROBS_LEN
);
differential!(smooth, smooth, Smooth, "extras.nn", "Smooth", X_LEN, Y_LEN);
differential!(
    seq_blocks,
    seq_blocks,
    SeqBlocks,
    "extras.nn",
    "SeqBlocks",
    X_LEN,
    Y_LEN
);
differential!(
    sequence1d,
    sequence1d,
    Sequence1d,
    "extras.nn",
    "Sequence1d",
    X_LEN,
    Y_LEN
);
differential!(attend, attend, Attend, "extras.nn", "Attend", X_LEN, Y_LEN);
differential!(
    recurrent,
    recurrent,
    Recurrent,
    "extras.nn",
    "Recurrent",
    X_LEN,
    Y_LEN
);

differential!(
    grouped,
    grouped,
    Grouped,
    "extras.nn",
    "Grouped",
    X_LEN,
    LOGITS_LEN
);
#[test]
fn memory_constants_describe_the_arena() {
    use generated::lenet as m;
    assert_eq!(m::ARENA_LEN, m::arena_len(1, 1));
    assert_eq!(m::ARENA_BYTES, 4 * m::ARENA_LEN);
    assert_eq!(m::WEIGHTS_BYTES, 4 * m::WEIGHTS_LEN);
    // The first pooling reads the first convolution's 6x28x28 output and
    // writes its 6x14x14 one: the most floats alive at once.
    assert_eq!(m::PEAK_LAYER, "maxpool2d_1");
    // Liveness: LeNet's per-sample values (relu_1, maxpool2d_1, relu_2, f,
    // relu_3, relu_4 if every value had its own memory) share space.
    let every_value: usize = 4704 + 1176 + 1600 + 400 + 120 + 84;
    assert!(m::arena_len(64, 1) < 64 * every_value, "buffers reused");
}

/// `include_model!` includes what the build script generated (a whole
/// module, of which the test uses a part).
#[allow(dead_code)]
mod included {
    nnspec::include_model!("MnistMlp");
}

#[test]
fn include_model_includes_the_build_scripts_module() {
    use generated::mnist_mlp as m;
    assert_eq!(included::WEIGHTS_LEN, m::WEIGHTS_LEN);
    let x = [0.25f32; 784];
    let (a, b) = (included::MnistMlp::new(4), m::MnistMlp::new(4));
    assert_eq!(bits(&a.forward(&x)), bits(&b.forward(&x)));
}
