//! Whole-model gradients against central finite differences.
//!
//! For every example model, and for models written to stress the lowering
//! (shared values, views, every activation, both losses), the gradient the
//! backward plan computes for each trainable parameter is compared with
//! `(L(p + h) - L(p - h)) / 2h`, the loss evaluated by the forward plan and
//! summed in f64. Dropout masks are redrawn from the same seed for every
//! evaluation, so the function being differentiated does not change.

use nnspec::codegen;
use nnspec::dsl;
use nnspec::runtime::exec::Executor;
use nnspec::runtime::plan::{ParamId, ParamKind};
use nnspec::runtime::rng::Rng;

const BATCH: usize = 3;

/// Checks every trainable parameter of `model` (sampling at most 40 entries each).
fn check_model(model: &dsl::ir::Model, config: &dsl::ir::TrainConfig) {
    let plan = codegen::lower_training(model, config);
    let input_len: usize = plan.input_shapes[0].iter().product();
    let classes = model.value(model.outputs[0].value).shape.elements();
    let mut exec = Executor::new(plan, BATCH, 1).expect("fits in memory");
    exec.init_params(11);
    let mut rng = Rng::new(5);
    // Token ids are not perturbed (they have no gradient): the ones given
    // are drawn from the table's ids.
    let tokens = exec.plan().token_bound(0);
    let inputs: Vec<f32> = (0..BATCH * input_len)
        .map(|_| match tokens {
            Some(num) => rng.below(num) as f32,
            None => rng.uniform(-1.0, 1.0),
        })
        .collect();
    let labels: Vec<u32> = (0..BATCH).map(|_| rng.below(classes) as u32).collect();

    let loss = |exec: &mut Executor, with_grad: bool| -> f64 {
        let (x, y) = exec.batch_slots(BATCH);
        x.copy_from_slice(&inputs);
        y.copy_from_slice(&labels);
        exec.seed_dropout(3);
        exec.forward(BATCH, true);
        exec.loss(BATCH, with_grad).expect("training plan").loss
    };
    loss(&mut exec, true);
    exec.backward(BATCH);

    let params: Vec<(ParamId, String)> = exec
        .plan()
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind == ParamKind::Trainable)
        .map(|(i, p)| (ParamId(i as u32), p.name.clone()))
        .collect();
    assert!(
        !params.is_empty(),
        "{} has no trainable parameters",
        model.name
    );
    let (mut checked, mut kinks) = (0, 0);
    for (id, name) in params {
        let analytic = exec.grad(id).to_vec();
        let len = analytic.len();
        let stride = (len / 40).max(1);
        for index in (0..len).step_by(stride) {
            let original = exec.param(id)[index];
            // Central and one-sided differences at step `h`.
            let mut differences = |h: f32| {
                let at = loss(&mut exec, false);
                exec.param_mut(id)[index] = original + h;
                let plus = loss(&mut exec, false);
                exec.param_mut(id)[index] = original - h;
                let minus = loss(&mut exec, false);
                exec.param_mut(id)[index] = original;
                let up = (
                    (original + h) as f64 - original as f64,
                    (original - h) as f64 - original as f64,
                );
                let central = (plus - minus) / (up.0 - up.1);
                ((plus - at) / up.0, central, (minus - at) / up.1)
            };
            let h = 2e-3f32.max(original.abs() * 2e-3);
            let (_, coarse, _) = differences(h);
            let (forward, fine, backward) = differences(h / 4.0);
            let agree = |a: f64, b: f64| (a - b).abs() <= 1e-3 + 1e-2 * b.abs();
            let a = analytic[index] as f64;
            if !agree(a, fine) {
                // A relu or max-pool kink within ±h makes the step sizes or
                // the two sides disagree; the derivative there is one-sided.
                if !agree(coarse, fine) || !agree(forward, backward) {
                    kinks += 1;
                    continue;
                }
                panic!(
                    "{}: d loss / d {name}[{index}]: backward gives {a}, finite differences {fine}",
                    model.name
                );
            }
            checked += 1;
        }
    }
    assert!(
        kinks * 10 <= checked,
        "{}: {kinks} kinks in {checked} checks",
        model.name
    );
    assert!(checked > 0);
}

fn check_source(source: &str) {
    let compiled = dsl::compile(source);
    assert!(
        !compiled.has_errors(),
        "{}",
        compiled.render("gradients.nn")
    );
    for model in &compiled.models {
        let config = compiled
            .train(&model.name)
            .cloned()
            .unwrap_or_else(|| dsl::ir::TrainConfig {
                model: model.name.clone(),
                loss: dsl::ir::Loss::cross_entropy(),
                optimizer: dsl::ir::Optimizer::Sgd {
                    lr: 0.1,
                    momentum: 0.0,
                    dampening: 0.0,
                    nesterov: false,
                    weight_decay: 0.0,
                },
                clip: None,
                schedule: None,
                warmup: 0,
                validation: None,
                early_stopping: None,
                batch: BATCH,
                epochs: 1,
                seed: 0,
                span: Default::default(),
            });
        check_model(model, &config);
    }
}

#[test]
fn example_models() {
    for example in ["mnist_mlp", "digits_mlp", "lenet", "residual", "inception"] {
        let path = format!("{}/examples/{example}.nn", env!("CARGO_MANIFEST_DIR"));
        check_source(&std::fs::read_to_string(path).unwrap());
    }
}

#[test]
fn shared_values_and_views() {
    check_source(
        "
model SelfAdd {
    input x: f32[6];
    let h = x -> dense(6) -> tanh;
    output y = (h + h) -> dense(4);
}

model ConcatTwice {
    input x: f32[5];
    let h = x -> dense(3) -> sigmoid;
    output y = concat(h, h, h -> leaky_relu(negative_slope: 0.2)) -> dense(3);
}

model ViewsAndFanOut {
    input x: f32[2, 3, 3];
    let c = x -> conv2d(2, kernel: 2) -> relu;
    let f = c -> flatten;
    let r = c -> reshape([4, 2]) -> softmax(axis: 0) -> flatten;
    output y = (f + r) -> dense(3) + f -> dense(3);
}

model DenseWithoutBias {
    input x: f32[4];
    output y = x -> dense(5, bias: false) -> relu -> dense(3, bias: false);
}
",
    );
}

/// Gradients that share storage (`+`, views) while another value still
/// reads them: every in-place write must leave the other readers intact.
#[test]
fn shared_gradient_storage() {
    check_source(
        "
model DocResidual {
    input x: f32[6];
    let a = x -> dense(8) as stem -> tanh;
    let b = a -> dense(8) as block -> relu + a;
    output o = b -> dense(3) as head;
}

model AccumulateIntoShared {
    input x: f32[3];
    let z = x -> dense(4) as d1;
    let h = x -> dense(4) as d2;
    let b = z -> tanh;
    let s = h + z;
    output o = (s + b) -> dense(3) as head;
}

model FusedMaskShared {
    input x: f32[3];
    let z = x -> dense(4) as d1;
    let h = x -> dense(4) as d2 -> relu;
    output o = (h + z) -> dense(3) as head;
}

model SkipTwice {
    input x: f32[4];
    let a = x -> dense(4) as stem -> tanh;
    let b = a -> dense(4) as f1 -> tanh + a;
    output o = (b -> dense(4) as f2 -> tanh + a) -> dense(3) as head;
}

model SelfAddShared {
    input x: f32[4];
    let a = x -> dense(4) as p;
    let h = x -> dense(4) as q -> tanh;
    let s = (h + h) + a;
    output o = (s + h) -> dense(3) as head;
}

model ViewOfShared {
    input x: f32[2, 2, 2];
    let c = x -> conv2d(2, kernel: 1) as c1;
    let d = x -> conv2d(2, kernel: 1) as c2 -> relu;
    let s = c + d;
    let f = s -> flatten;
    output o = (f + c -> flatten -> dense(8) as mix -> relu) -> dense(3) as head;
}
",
    );
}

#[test]
fn pooling_normalization_and_dropout() {
    check_source(
        "
model Pools {
    input x: f32[2, 6, 6];
    let a = x -> conv2d(3, kernel: 3, padding: 1, stride: 2) -> maxpool2d(2, stride: 1, padding: 1);
    let b = x -> conv2d(3, kernel: [3, 1], dilation: 2) -> avgpool2d(2, padding: 1);
    output y = concat(a -> flatten, b -> flatten) -> dense(4);
}

model Normalized {
    input x: f32[2, 4, 4];
    let c = x -> conv2d(3, kernel: 3) -> batchnorm -> relu -> flatten;
    output y = c -> dropout(0.3) -> dense(6) -> batchnorm(momentum: 0.5) -> tanh -> dense(3);
}
",
    );
}

#[test]
fn mse_loss() {
    let source = "
model Regress {
    input x: f32[4];
    output y = x -> dense(8) -> sigmoid -> dense(3);
}

train Regress {
    loss: mse,
    optimizer: adam,
}
";
    check_source(source);
}

#[test]
fn regression_and_binary_losses() {
    // With class labels (as these checks feed), the element-wise losses
    // take the one-hot encoding of the label as their targets.
    let template = "
model Regress {
    input x: f32[4];
    output y = x -> dense(8) -> tanh -> dense(3);
}

train Regress {
    LOSS
    optimizer: adam,
}
";
    for loss in [
        "loss: l1,",
        "loss: smooth_l1(beta: 0.5),",
        "loss: bce_with_logits,",
    ] {
        check_source(&template.replace("LOSS", loss));
    }
}

#[test]
fn cross_entropy_with_label_smoothing_and_class_weights() {
    let source = "
model Weighted {
    input x: f32[4];
    output y = x -> dense(8) -> relu -> dense(3);
}

train Weighted {
    loss: cross_entropy(label_smoothing: 0.1, weight: [0.5, 2.0, 1.0]),
    optimizer: sgd(lr: 0.1),
}
";
    check_source(source);
}

/// The smooth activations, each after a dense layer so its gradient
/// reaches parameters; `gelu` in both forms, and arguments off their
/// defaults.
#[test]
fn smooth_activations() {
    check_source(
        "
model Smooth {
    input x: f32[6];
    let g = x -> dense(8) -> gelu -> dense(8) -> gelu(approximate: tanh);
    let s = g -> dense(8) -> silu -> dense(8) -> hardswish;
    let e = s -> dense(8) -> elu -> dense(8) -> elu(alpha: 0.5);
    output y = e -> dense(8) -> softplus -> dense(8) -> softplus(beta: 2.0, threshold: 5.0) -> dense(3);
}
",
    );
}

/// `layernorm` with and without its affine part, fed by a dense layer so
/// its input gradient reaches parameters; the input is read twice (the
/// layernorm and a residual sum), so two contributions accumulate.
#[test]
fn layer_norm() {
    check_source(
        "
model LayerNorm {
    input x: f32[4, 6];
    let h = x -> flatten -> dense(24) -> reshape([4, 6]);
    let n = h -> layernorm as ln -> layernorm(eps: 0.001, elementwise_affine: false);
    output y = (n + h) -> flatten -> dense(3);
}
",
    );
}

/// `mean` over each axis of a `[len, features]` value and of an image,
/// after dense layers so the gradient reaches parameters.
#[test]
fn mean_over_an_axis() {
    check_source(
        "
model Mean {
    input x: f32[12];
    let s = x -> dense(20) -> tanh -> reshape([4, 5]);
    let i = x -> dense(24) -> reshape([2, 3, 4]);
    let p = concat(s -> mean(axis: 0), s -> mean(axis: -1), axis: 0);
    output y = concat(p, i -> mean(axis: 1) -> flatten, axis: 0) -> dense(3);
}
",
    );
}

/// Elementwise `*`: a GLU-style gate, a value times itself (both
/// gradients land on one value), and a product of three.
#[test]
fn elementwise_product() {
    check_source(
        "
model Gate {
    input x: f32[6];
    let h = x -> dense(8);
    let g = h * x -> dense(8) -> sigmoid;
    let s = g * g + h;
    output y = (s * h * g) -> dense(3);
}
",
    );
}

/// `dense` at every position of a `[len, features]` value (with and
/// without bias, fused with a relu or not), as in a transformer's MLP,
/// with the residual `+` on `[len, f]`.
#[test]
fn dense_per_position() {
    check_source(
        "
model PerPosition {
    input x: f32[12];
    let s = x -> reshape([4, 3]) -> dense(5) -> relu;
    let f = s -> dense(6, bias: false) -> gelu -> dense(5);
    output y = (s + f) -> mean(axis: 0) -> dense(3);
}
",
    );
}

/// The 1-D layers on `[channels, len]`: conv1d with padding, stride and
/// dilation (fused with its relu, and without bias), and both pools with
/// padding. Max pooling's ties are measure-zero for random inputs.
#[test]
fn one_dimensional_layers() {
    check_source(
        "
model Sequence {
    input x: f32[3, 20];
    let c = x -> conv1d(4, kernel: 3, padding: 1) -> relu -> maxpool1d(3, stride: 2, padding: 1);
    let d = c -> conv1d(5, kernel: 3, stride: 2, dilation: 2, bias: false) -> avgpool1d(2, padding: 1);
    output y = d -> flatten -> dense(3);
}
",
    );
}

/// Self-attention, plain and causal, with a residual around one so `x`
/// gets two contributions; three and two heads.
#[test]
fn attention() {
    check_source(
        "
model Attend {
    input x: f32[5, 6];
    let a = x -> attention(3) as attn;
    let h = x + a;
    let c = h -> attention(2, causal: true) as causal_attn;
    output y = c -> flatten -> dense(3);
}
",
    );
}

/// `lstm` of one and of two layers (every parameter reaches the loss
/// through the recurrence) and `last`, which leaves the earlier steps'
/// outputs without a gradient of their own.
#[test]
fn sequences() {
    check_source(
        "
model Recurrent {
    input x: f32[5, 4];
    let s = x -> lstm(6, layers: 2) as rnn -> tanh -> lstm(3) as head;
    output y = s -> last -> dense(3);
}
",
    );
}

/// Token ids through embeddings: few ids per table, so ids repeat within
/// a sample and across the batch (their rows' gradients add up), and two
/// tables reading one input.
#[test]
fn embeddings() {
    check_source(
        "
model Tokens {
    input tokens: i64[6];
    let e = tokens -> embedding(5, 3) as emb;
    output y = e -> flatten -> tanh -> dense(4);
}

model TwoTables {
    input tokens: i64[2, 3];
    let a = tokens -> embedding(4, 2) as first -> flatten;
    let b = tokens -> embedding(3, 2) as second -> flatten -> sigmoid;
    output y = (a + b) -> dense(3);
}
",
    );
}

#[test]
fn grouped_and_depthwise_convolutions() {
    // Depthwise with a multiplier and a fused relu, two groups strided
    // without bias, four groups of two channels dilated: the gradients of
    // the layers before them go through every grouped path's dx.
    check_source(
        "
model Grouped {
    input x: f32[2, 7, 7];
    let a = x -> conv2d(4, kernel: 3, padding: 1);
    let d = a -> conv2d(8, kernel: 3, padding: 1, groups: 4) -> relu -> conv2d(8, kernel: 3, stride: 2, groups: 2, bias: false);
    output y = d -> conv2d(4, kernel: [2, 3], dilation: [1, 2], padding: 1, groups: 4) -> hardswish -> flatten -> dense(3);
}

model Pooled {
    input x: f32[2, 5, 6];
    let c = x -> conv2d(6, kernel: 3, padding: 1) -> tanh;
    let a = c -> adaptive_avgpool2d([3, 4]) -> flatten -> dense(3);
    output y = c -> global_avgpool2d -> flatten -> dense(3) + a;
}
",
    );
}
