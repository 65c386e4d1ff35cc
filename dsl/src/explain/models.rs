//! E04xx: models as a whole; E05xx: train blocks.

use super::Explanation;

pub(super) const EXPLANATIONS: &[Explanation] = &[
    Explanation {
        code: "E0401",
        title: "model without output",
        text: r#"
A model has no `output` statement. Outputs are what a model computes for
its caller, what a loss is applied to in training, and what evaluation
reads; a model without one computes nothing anyone can see. The last
statement was probably meant to be an `output` rather than a `let` (which
is then also reported as unused, W0001).
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    let y = x -> dense(10);
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0402",
        title: "model without input",
        text: r#"
A model has no `input` statement. Every value in a model is computed from
its inputs (there are no constants), so without one there is nothing to
compute from, and the names its statements use are undefined too (E0201).
Declare the input with its per-sample shape.
"#,
        wrong: r#"
model Mlp {
    output y = x -> dense(10);
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0501",
        title: "train block names an unknown model",
        text: r#"
`train Name { ... }` says how to train the model called `Name`, and there
is no model of that name in the file. Train blocks refer to models in the
same file only; a close name gets a suggestion.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train MLP {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
}
"#,
    },
    Explanation {
        code: "E0502",
        title: "the loss does not fit the model's output",
        text: r#"
The model cannot be trained with this loss as it stands. A trained model has
exactly one output. `cross_entropy` needs class scores `[classes]` with at
least 2 classes (the labels are class indices); `mse` compares the output
with the one-hot label, so it also needs one value per class.

A binary classifier therefore outputs two scores, not one: the softmax
over two scores is the sigmoid of their difference.
"#,
        wrong: r#"
model Binary {
    input x: f32[16];
    output y = x -> dense(8) -> relu -> dense(1);
}

train Binary {
    loss: cross_entropy,
    optimizer: adam(lr: 0.001),
}
"#,
        fixed: r#"
model Binary {
    input x: f32[16];
    output y = x -> dense(8) -> relu -> dense(2);
}

train Binary {
    loss: cross_entropy,
    optimizer: adam(lr: 0.001),
}
"#,
    },
    Explanation {
        code: "E0503",
        title: "unknown train setting",
        text: r#"
A train block has a setting the language does not know. The settings are
`loss`, `optimizer`, `batch`, `epochs` and `seed`. A misspelled setting is
refused rather than ignored, since ignoring it would train with a default
the user meant to change.

The learning rate and the other optimizer settings are arguments of the
optimizer, not settings of their own: `optimizer: sgd(lr: 0.01)`.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: sgd,
    learning_rate: 0.01,
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.01),
}
"#,
    },
    Explanation {
        code: "E0504",
        title: "missing train setting",
        text: r#"
A train block lacks a required setting: `loss` and `optimizer` have no
default, because no choice of either is right for most models. `batch`,
`epochs` and `seed` default to 32, 1 and 0.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    epochs: 10,
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: adam,
    epochs: 10,
}
"#,
    },
    Explanation {
        code: "E0505",
        title: "train setting given twice",
        text: r#"
A train block gives one setting twice. Only one value could be used, and
the file does not say which was meant, so the block is refused. To try
another value for a run, keep one setting and override it with the
`dslc train` flags (`--batch`, `--epochs`, `--lr`, `--seed`).
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
    batch: 32,
    batch: 64,
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
    batch: 64,
}
"#,
    },
    Explanation {
        code: "E0506",
        title: "unknown loss or optimizer",
        text: r#"
The `loss` or `optimizer` setting names one the language does not have.
The losses are `cross_entropy` and `mse`; the optimizers are `sgd`, `adam`
and `adamw`, each with exactly PyTorch's update rule and defaults. A close
name gets a suggestion.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: rmsprop(lr: 0.01),
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: adam(lr: 0.001),
}
"#,
    },
    Explanation {
        code: "E0507",
        title: "two train blocks for one model",
        text: r#"
A model has more than one train block. `dslc train` trains a model the one
way its train block says; with two it could not tell which was meant. The
second block's settings are still checked.

To compare settings, keep one block and override it for a run with the
`dslc train` flags (`--lr`, `--batch`, `--epochs`, `--seed`), or copy the
model under another name with its own train block.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
}

train Mlp {
    loss: cross_entropy,
    optimizer: adam(lr: 0.001),
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: adam(lr: 0.001),
}
"#,
    },
    Explanation {
        code: "E0508",
        title: "train settings that do not fit together",
        text: r#"
Two settings of a train block contradict each other, or a schedule does
not fit the run:

- `warmup` is as long as `epochs` or longer: no epoch would train at the
  full learning rate;
- `warmup` before `schedule: one_cycle(..)`: one-cycle starts low and rises
  to `max_lr` by itself;
- `schedule: plateau(..)` or `early_stopping` without `validation`: both
  watch the validation split, and the block holds none out;
- a `step` or `multistep` decay the schedule never reaches: the schedule
  counts epochs from 0 once the warmup is over, so a milestone of 30 in a
  30-epoch run never takes effect.

Change one of the settings; the help says which.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
    schedule: plateau(patience: 2),
    epochs: 20,
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10);
}

train Mlp {
    loss: cross_entropy,
    optimizer: sgd(lr: 0.1),
    schedule: plateau(patience: 2),
    validation: 0.1,
    epochs: 20,
}
"#,
    },
];
