//! Generated `train_step` against the executor's: for every model with a
//! `train` block, several steps on random data at two batch sizes and two
//! thread counts, and after each step bit-identical losses, correct
//! counts, gradients, weights (BatchNorm statistics included), optimizer
//! moments and step counts, counters, and the outputs of the trained
//! model; on whatever kernel tier this process runs (CI runs it under each).

use nnspec_generated_check as generated;
use nnspec_runtime::exec::Executor;
use nnspec_runtime::parallel::Parallel;
use nnspec_runtime::plan::{ParamId, ParamKind, Plan};
use nnspec_runtime::rng::Rng;

fn training_plan(file: &str, model: &str) -> Plan {
    let path = match file {
        "extras.nn" => format!("{}/models/{file}", env!("CARGO_MANIFEST_DIR")),
        _ => format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR")),
    };
    let source = std::fs::read_to_string(&path).expect("model file");
    let compiled = nnspec_dsl::compile(&source);
    assert!(!compiled.has_errors(), "{}", compiled.render(file));
    let config = compiled.train(model).expect("a train block");
    nnspec_codegen::lower_training(compiled.model(model).expect("model"), config)
}

/// `len` input values: token ids drawn from their table's ids (as the
/// f32 the arena carries them in) for a model reading tokens, else floats
/// in [-1, 1).
fn inputs(rng: &mut Rng, plan: &Plan, len: usize) -> Vec<f32> {
    match plan.token_bound(0) {
        Some(num) => (0..len).map(|_| rng.below(num) as f32).collect(),
        None => (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect(),
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The executor's f32 parameters (or their gradients) in the generated
/// layout (`params::ALL`, which is `state_dict` order without counters).
fn flat(exec: &Executor, of: impl Fn(ParamId) -> Vec<f32>) -> Vec<f32> {
    exec.plan()
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind != ParamKind::Counter)
        .flat_map(|(i, _)| of(ParamId(i as u32)))
        .collect()
}

macro_rules! train_differential {
    ($test:ident, $module:ident, $ty:ident, $file:literal, $model:literal, $input:ident) => {
        #[test]
        fn $test() {
            use generated::$module as m;
            let plan = training_plan($file, $model);
            let classes = plan.loss.as_ref().expect("trains").kind.width();
            let mut rng = Rng::new(11);
            for batch in [5, 16] {
                for threads in [1, 2] {
                    let at = format!("{}: batch {batch}, {threads} threads", $model);
                    let par = Parallel::new(threads);
                    let mut exec = Executor::new(plan.clone(), batch, threads).unwrap();
                    exec.init_params(m::training::SEED);
                    let mut model = m::$ty::new(m::training::SEED);
                    let mut state = m::training::state(m::training::SEED);
                    // NaN-filled: a step reading memory no step wrote shows.
                    let mut arena = vec![f32::NAN; m::training::arena_len(batch, threads)];
                    for step in 0..3 {
                        let at = format!("{at}, step {step}");
                        let x = inputs(&mut rng, &plan, batch * m::$input);
                        let labels: Vec<u32> =
                            (0..batch).map(|_| rng.below(classes) as u32).collect();
                        let (x_slot, label_slot) = exec.batch_slots(batch);
                        x_slot.copy_from_slice(&x);
                        label_slot.copy_from_slice(&labels);
                        let want = exec.train_step(batch);
                        let got = model.train_step(&x, &labels, &mut state, &mut arena, &par);
                        assert_eq!(got.loss.to_bits(), want.loss.to_bits(), "{at}: loss");
                        assert_eq!(got.correct, want.correct, "{at}: correct");
                        assert!(got.loss.is_finite(), "{at}: a finite loss");

                        let grads = flat(&exec, |id| {
                            if plan.param(id).kind == ParamKind::Trainable {
                                exec.grad(id).to_vec()
                            } else {
                                vec![0.0; plan.param(id).len()]
                            }
                        });
                        assert_eq!(bits(state.grads()), bits(&grads), "{at}: gradients");
                        let weights = flat(&exec, |id| exec.param(id).to_vec());
                        assert_eq!(bits(model.weights()), bits(&weights), "{at}: weights");
                        let optimizer = exec.optimizer_state().expect("trains");
                        // Each moment buffer parameter by parameter: the
                        // executor starts each on a cache line, the
                        // generated state packs them.
                        let (first, second) = optimizer.buffers();
                        let moments: Vec<f32> = [first, second]
                            .into_iter()
                            .filter(|buffer| !buffer.is_empty())
                            .flat_map(|buffer| {
                                flat(&exec, |id| {
                                    let start = exec.param_offsets()[id.index()];
                                    buffer[start..start + plan.param(id).len()].to_vec()
                                })
                            })
                            .collect();
                        assert_eq!(bits(state.moments()), bits(&moments), "{at}: moments");
                        let mut counters = Vec::new();
                        for (i, p) in plan.params.iter().enumerate() {
                            assert_eq!(
                                state.steps(i),
                                optimizer.steps(i),
                                "{at}: steps of {}",
                                p.name
                            );
                            if p.kind == ParamKind::Counter {
                                counters.extend_from_slice(exec.counter(ParamId(i as u32)));
                            }
                        }
                        assert_eq!(&state.counters()[..], &counters[..], "{at}: counters");
                    }

                    // The trained model's outputs.
                    let x = inputs(&mut rng, &plan, batch * m::$input);
                    exec.input_mut(batch).copy_from_slice(&x);
                    exec.forward(batch, false);
                    let want = exec.output(0, batch).to_vec();
                    let mut got = vec![0.0f32; want.len()];
                    let mut arena = vec![f32::NAN; m::arena_len(batch, threads)];
                    model.forward_batch(&x, &mut got, &mut arena, &par);
                    assert_eq!(bits(&got), bits(&want), "{at}: outputs after training");
                }
            }
        }
    };
}

train_differential!(
    mnist_mlp,
    mnist_mlp,
    MnistMlp,
    "mnist_mlp.nn",
    "MnistMlp",
    X_LEN
);
train_differential!(
    digits_mlp,
    digits_mlp,
    DigitsMlp,
    "digits_mlp.nn",
    "DigitsMlp",
    X_LEN
);
train_differential!(lenet, lenet, LeNet, "lenet.nn", "LeNet", X_LEN);
train_differential!(
    digits_resnet,
    digits_resnet,
    DigitsResNet,
    "residual.nn",
    "DigitsResNet",
    X_LEN
);
train_differential!(
    mini_inception,
    mini_inception,
    MiniInception,
    "inception.nn",
    "MiniInception",
    X_LEN
);
train_differential!(extras, extras, Extras, "extras.nn", "Extras", X_LEN);
train_differential!(smooth, smooth, Smooth, "extras.nn", "Smooth", X_LEN);
train_differential!(attend, attend, Attend, "extras.nn", "Attend", X_LEN);
train_differential!(
    seq_blocks,
    seq_blocks,
    SeqBlocks,
    "extras.nn",
    "SeqBlocks",
    X_LEN
);
train_differential!(
    sequence1d,
    sequence1d,
    Sequence1d,
    "extras.nn",
    "Sequence1d",
    X_LEN
);
train_differential!(
    recurrent,
    recurrent,
    Recurrent,
    "extras.nn",
    "Recurrent",
    X_LEN
);
train_differential!(tokens, tokens, Tokens, "extras.nn", "Tokens", TOKENS_LEN);
train_differential!(grouped, grouped, Grouped, "extras.nn", "Grouped", X_LEN);
train_differential!(
    residual_block,
    residual_block,
    ResidualBlock,
    "extras.nn",
    "ResidualBlock",
    X_LEN
);

#[test]
fn a_training_step_learns() {
    // Not only the executor's numbers: the loss falls on a fixed batch.
    use generated::digits_mlp as m;
    let mut model = m::DigitsMlp::new(3);
    let mut state = m::training::state(3);
    let batch = 32;
    let mut rng = Rng::new(2);
    let x: Vec<f32> = (0..batch * m::X_LEN)
        .map(|_| rng.uniform(0.0, 1.0))
        .collect();
    let labels: Vec<u32> = (0..batch).map(|i| (i % 10) as u32).collect();
    let mut arena = vec![0.0f32; m::training::arena_len(batch, 1)];
    let serial = nnspec_runtime::threads::Serial;
    let first = model.train_step(&x, &labels, &mut state, &mut arena, &serial);
    let mut last = first;
    for _ in 0..50 {
        last = model.train_step(&x, &labels, &mut state, &mut arena, &serial);
    }
    assert!(
        last.loss < first.loss / 4.0,
        "the loss fell from {} to only {}",
        first.loss,
        last.loss
    );
    assert_eq!(last.correct, batch, "a batch of 32 memorized");
}

#[test]
fn the_train_blocks_clipping_applies() {
    // ResidualBlock clips by value (0.001), Extras by norm (0.005): after a
    // step the gradients the update used are within the limits, and were
    // not already (the limits bind). The differential tests above hold the
    // executor to the same numbers.
    use nnspec_runtime::plan::Clip;
    let serial = nnspec_runtime::threads::Serial;
    let mut rng = Rng::new(4);
    {
        use generated::residual_block as m;
        assert_eq!(m::training::CLIP, Some(Clip::Value { clip_value: 0.001 }));
        let batch = 8;
        let x: Vec<f32> = (0..batch * m::X_LEN)
            .map(|_| rng.uniform(-1.0, 1.0))
            .collect();
        let labels: Vec<u32> = (0..batch).map(|_| rng.below(64) as u32).collect();
        let mut model = m::ResidualBlock::new(0);
        let mut state = m::training::state(0);
        let mut arena = vec![0.0f32; m::training::arena_len(batch, 1)];
        model.train_step(&x, &labels, &mut state, &mut arena, &serial);
        let largest = state.grads().iter().fold(0.0f32, |a, g| a.max(g.abs()));
        assert_eq!(largest, 0.001, "clamped to the limit, which binds");
    }
    {
        use generated::extras as m;
        assert_eq!(m::training::CLIP, Some(Clip::Norm { max_norm: 0.005 }));
        let batch = 8;
        let x: Vec<f32> = (0..batch * m::X_LEN)
            .map(|_| rng.uniform(-1.0, 1.0))
            .collect();
        let labels: Vec<u32> = (0..batch).map(|_| rng.below(24) as u32).collect();
        let mut model = m::Extras::new(0);
        let mut state = m::training::state(0);
        let mut arena = vec![0.0f32; m::training::arena_len(batch, 1)];
        model.train_step(&x, &labels, &mut state, &mut arena, &serial);
        let norm = state.grads().iter().map(|g| g * g).sum::<f32>().sqrt();
        assert!((norm - 0.005).abs() < 1e-5, "clipped to max_norm: {norm}");
    }
}
