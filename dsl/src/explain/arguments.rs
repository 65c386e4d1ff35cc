//! E01xx: layers and their arguments.

use super::Explanation;

pub(super) const EXPLANATIONS: &[Explanation] = &[
    Explanation {
        code: "E0101",
        title: "unknown layer",
        text: r#"
The name after `->` (or before the `(` of a call) is not a layer the
language has. The layers are: dense, conv2d, maxpool2d, avgpool2d,
global_avgpool2d, adaptive_avgpool2d, flatten, reshape, relu, leaky_relu,
sigmoid, tanh, gelu, silu, hardswish, elu, softplus, softmax, dropout,
batchnorm, add and concat. A name close to one of them gets a "did you
mean" suggestion.

Layers are built in rather than defined in the file, because each one comes
with its shape rule, its parameters and its backward pass; an unknown name
has none of these. PyTorch's `Linear` is `dense` here.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(128) -> relu -> linear(10);
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(128) -> relu -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0102",
        title: "unknown argument",
        text: r#"
A named argument is not one the layer, loss or optimizer takes. The note
lists the arguments it does take, and a close name gets a suggestion.

Arguments are checked by name so that a misspelled one cannot be ignored:
`strides: 2` silently falling back to the default stride of 1 would give a
model of a different shape than intended. The argument names follow
PyTorch's, in the singular (`stride`, `padding`, `kernel`).
"#,
        wrong: r#"
model Conv {
    input x: f32[1, 28, 28];
    output y = x -> conv2d(6, kernel: 5, strides: 2) -> flatten -> dense(10);
}
"#,
        fixed: r#"
model Conv {
    input x: f32[1, 28, 28];
    output y = x -> conv2d(6, kernel: 5, stride: 2) -> flatten -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0103",
        title: "missing argument",
        text: r#"
The layer has an argument without a default and the call does not give
it. `dense` needs `out_features`, `conv2d` needs `out_channels` and
`kernel`, the pooling layers need `kernel`, `reshape` needs `shape`.

There is no sensible default for these: they decide the model's shape and
its number of parameters, so the file has to say them. Give the argument
by position (in the order of the layer's signature) or by name.
"#,
        wrong: r#"
model Conv {
    input x: f32[1, 28, 28];
    output y = x -> conv2d(6) -> flatten -> dense(10);
}
"#,
        fixed: r#"
model Conv {
    input x: f32[1, 28, 28];
    output y = x -> conv2d(6, kernel: 5) -> flatten -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0104",
        title: "argument given twice",
        text: r#"
One argument is given twice: by name twice, or by position and then again
by name. Only one of the values could be used, and neither is more likely
to be the intended one than the other, so the call is refused.

Positional arguments fill the signature in order, so
`dense(10, out_features: 20)` gives `out_features` twice.
"#,
        wrong: r#"
model Conv {
    input x: f32[1, 28, 28];
    output y = x -> conv2d(6, kernel: 3, kernel: 5) -> flatten -> dense(10);
}
"#,
        fixed: r#"
model Conv {
    input x: f32[1, 28, 28];
    output y = x -> conv2d(6, kernel: 5) -> flatten -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0105",
        title: "wrong argument type",
        text: r#"
An argument's value has the wrong type: a name or a number where a
boolean is expected, a float where an integer is expected, a list where a
single value is expected. The message says what the argument accepts.

Values are not converted: `bias: 1` is not read as `true`, and `dense(10.0)`
is not rounded, so a model never means something other than what it says.
An integer is accepted where a float is expected, since that loses nothing.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10, bias: yes);
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(10, bias: true);
}
"#,
    },
    Explanation {
        code: "E0106",
        title: "too many positional arguments",
        text: r#"
The call gives more positional arguments than the layer, loss or optimizer
takes. Activations such as `relu`, `sigmoid` and `tanh` take none at all.

Extra arguments are refused rather than ignored: a value the user wrote
must change something. To configure a layer, give its arguments by name;
the message says how many it takes.
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(128) -> relu(0.1) -> dense(10);
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(128) -> leaky_relu(0.1) -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0107",
        title: "argument value out of range",
        text: r#"
The argument has the right type but a value the layer cannot use: zero
output features, a stride of 0, a dropout probability outside [0, 1), a
kernel list with three entries, a reshape with two inferred (`-1`) dims.
The label says which values are allowed.

These are refused at check time, where the file is, rather than when
training starts (or, worse, producing a model that trains to nothing).
"#,
        wrong: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(128) -> relu -> dropout(p: 50) -> dense(10);
}
"#,
        fixed: r#"
model Mlp {
    input x: f32[784];
    output y = x -> dense(128) -> relu -> dropout(p: 0.5) -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0108",
        title: "wrong number of inputs to a layer in call form",
        text: r#"
In call form, `layer(a, b, ...)`, the leading positional arguments that are
values are the layer's inputs. This call gives a layer more or fewer inputs
than it takes: `add` takes exactly two, `concat` two or more, every other
layer one.

To add three values, add them in steps, or write the sum with `+`, which
takes any number of terms.
"#,
        wrong: r#"
model Sum3 {
    input a: f32[16];
    input b: f32[16];
    input c: f32[16];
    output y = add(a, b, c);
}
"#,
        fixed: r#"
model Sum3 {
    input a: f32[16];
    input b: f32[16];
    input c: f32[16];
    output y = a + b + c;
}
"#,
    },
];
