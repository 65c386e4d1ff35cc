//! The lowered plans of the example models, forward and backward, as
//! snapshots: a change in lowering shows here as a reviewable diff.

use nnspec::{codegen, dsl};

#[test]
fn example_plans() {
    for example in ["mnist_mlp", "lenet", "residual", "inception"] {
        let path = format!("{}/examples/{example}.nn", env!("CARGO_MANIFEST_DIR"));
        let compiled = dsl::compile(&std::fs::read_to_string(path).unwrap());
        for model in &compiled.models {
            let plan = match compiled.train(&model.name) {
                Some(config) => codegen::lower_training(model, config),
                None => codegen::lower_inference(model),
            };
            insta::assert_snapshot!(format!("{example}__{}", model.name), plan.to_string());
        }
    }
}

/// Gradients of values used twice are summed; views share storage.
#[test]
fn shared_value_plan() {
    let source = "
model Shared {
    input x: f32[4];
    let h = x -> dense(4) as fc;
    output y = (h + h -> relu) -> flatten -> dense(2) as out;
}

train Shared {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
}
";
    let compiled = dsl::compile(source);
    assert!(!compiled.has_errors(), "{}", compiled.render("shared.nn"));
    let plan = codegen::lower_training(&compiled.models[0], &compiled.trains[0]);
    insta::assert_snapshot!(plan.to_string());
}

/// Attention's parameters start as PyTorch's `_reset_parameters` leaves
/// them (`in_proj_weight` xavier-uniform, `±√(6/(16+48))`; `out_proj.weight`
/// `±1/√16`; zero biases); its step saves q/k/v, the probabilities and the
/// joined heads, which its backward reads.
#[test]
fn attention_plan() {
    let source = "
model Attend {
    input x: f32[4, 16];
    output y = x -> attention(4, causal: true) as attn -> flatten -> dense(2) as out;
}

train Attend {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
}
";
    let compiled = dsl::compile(source);
    assert!(!compiled.has_errors(), "{}", compiled.render("attend.nn"));
    let plan = codegen::lower_training(&compiled.models[0], &compiled.trains[0]);
    insta::assert_snapshot!(plan.to_string());
}
