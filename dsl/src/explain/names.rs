//! E02xx: names, values and types.

use super::Explanation;

pub(super) const EXPLANATIONS: &[Explanation] = &[
    Explanation {
        code: "E0201",
        title: "undefined name",
        text: r#"
A value is used by a name that is not defined at that point in the model.
Values are named by `input`, `let` and `output` statements, and a name can
be used only after the statement that defines it: statements run in order,
and a model cannot refer to its own later values (it has no cycles).

A close name gets a suggestion; a layer's name used as a value (`relu`
alone) is pointed out, since layers are applied with `->` or a call.
"#,
        wrong: r#"
model Residual {
    input x: f32[64];
    let h = x -> dense(64) -> relu;
    output y = h -> dense(64) + skip;
}
"#,
        fixed: r#"
model Residual {
    input x: f32[64];
    let h = x -> dense(64) -> relu;
    output y = h -> dense(64) + x;
}
"#,
    },
    Explanation {
        code: "E0202",
        title: "name defined twice",
        text: r#"
A name is defined a second time in one model, by `input`, `let` or
`output`. Names in a model are bound once and never reassigned, so each one
means one value wherever it is used, and the report of a shape can say
exactly where that value came from.

Give the new value its own name.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    let x = x -> dense(128) -> relu;
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
        code: "E0203",
        title: "two layers with one name",
        text: r#"
Two layer instances in one model are given the same name with `as`
(generated names, such as `dense_1`, skip the names taken). Layer names
become the names of their parameters, `fc.weight` and `fc.bias`, as in a
PyTorch `state_dict`, and checkpoints are saved and loaded by these names,
so they must be unique in a model.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(128) as fc -> relu -> dense(10) as fc;
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(128) as fc1 -> relu -> dense(10) as fc2;
}
"#,
    },
    Explanation {
        code: "E0204",
        title: "model defined twice",
        text: r#"
Two models in one file have the same name. Train blocks, `dslc train
--model` and the checkpoint files refer to a model by its name, which would
be ambiguous. The second model's body is still checked, so its other errors
are reported too.

Rename one of them; a variant of a model is a model of its own.
"#,
        wrong: r#"
model Net {
    input x: f32[784];
    output y = x -> dense(10);
}

model Net {
    input x: f32[784];
    output y = x -> dense(128) -> relu -> dense(10);
}
"#,
        fixed: r#"
model Net {
    input x: f32[784];
    output y = x -> dense(10);
}

model DeepNet {
    input x: f32[784];
    output y = x -> dense(128) -> relu -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0205",
        title: "a literal where a value is expected",
        text: r#"
A number, boolean or list stands where a value (a tensor flowing through
the model) is expected: as a term of `+`, as an input of a call, or as a
whole output. Literals configure layers; they are not tensors, and there is
no broadcasting of constants.

A learned offset is what a layer's bias is for; a fixed scale or shift
belongs in the data's normalization.
"#,
        wrong: r#"
model Shift {
    input x: f32[16];
    output y = x -> dense(16) + 1;
}
"#,
        fixed: r#"
model Shift {
    input x: f32[16];
    output y = x -> dense(16);
}
"#,
    },
    Explanation {
        code: "E0206",
        title: "unknown element type",
        text: r#"
An input's element type is not one the language has. There are two: `f32`
for numbers (the kernels, the optimizers and the checkpoints all work in
32-bit floats, as PyTorch does by default), and `i64` for token ids, the
input of `embedding`.
"#,
        wrong: r#"
model Mlp {
    input x: f64[784];
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
];
