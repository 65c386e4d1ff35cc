//! W00xx: warnings (the file checks, but probably does not say what was meant).

use super::Explanation;

pub(super) const EXPLANATIONS: &[Explanation] = &[
    Explanation {
        code: "W0001",
        title: "a value or input that is never used",
        text: r#"
A value named by `let`, or an input, is never used by any output. It is
computed for nothing; more often, a later statement was meant to use it
and names another value by mistake, as when a residual branch is built and
then left out of the sum.

This is a warning, not an error: the model is still checked and can be
trained. Use the value, or remove its statement.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    let h = x -> dense(128) -> relu;
    output y = x -> dense(10);
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    let h = x -> dense(128) -> relu;
    output y = h -> dense(10);
}
"#,
    },
    Explanation {
        code: "W0002",
        title: "`cross_entropy` after a final `softmax`",
        text: r#"
The model's output ends in `softmax` and it is trained with
`cross_entropy`, which applies log-softmax itself (as PyTorch's
`CrossEntropyLoss` does). The scores are then squashed twice: training
still runs, but the gradients are much weaker and the model learns slowly
or stalls.

Remove the final `softmax` so the output is raw scores (logits). If you
need probabilities at inference, keep them in a separate model, or apply
softmax to the scores afterwards; the predicted class is the same either
way.
"#,
        wrong: r#"
model Classifier {
    input x: f32[784];
    output p = x -> dense(128) -> relu -> dense(10) -> softmax;
}

train Classifier {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
}
"#,
        fixed: r#"
model Classifier {
    input x: f32[784];
    output logits = x -> dense(128) -> relu -> dense(10);
}

train Classifier {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
}
"#,
    },
];
