//! E03xx: shapes.

use super::Explanation;

pub(super) const EXPLANATIONS: &[Explanation] = &[
    Explanation {
        code: "E0301",
        title: "shapes do not match",
        text: r#"
The inputs of `+` (or `add`) must have exactly the same shape, and the
inputs of `concat` must agree in every dim except the one they are joined
along. Here they do not. The report labels each operand with its shape and
notes how that shape was derived, layer by layer.

There is no broadcasting: adding a [64] value to a [784] one is almost
always a mistake (a residual connection around layers that changed the
width), and reading it as something else would hide it until training.
Make the shapes agree, for example by giving the last layer of the branch
the width of the value it is added to.
"#,
        wrong: r#"
model Residual {
    input x: f32[784];
    let h = x -> dense(128) -> relu;
    output y = h -> dense(64) + x;
}
"#,
        fixed: r#"
model Residual {
    input x: f32[784];
    let h = x -> dense(128) -> relu;
    output y = h -> dense(784) + x;
}
"#,
    },
    Explanation {
        code: "E0302",
        title: "input of the wrong rank for a layer",
        text: r#"
A layer received a value of a rank it does not take. `dense` takes a vector
`[features]` (or a sequence `[len, features]`, each position alike);
`conv2d` and the pooling layers take an image
`[channels, height, width]`; `batchnorm` takes rank 1, 2 or 3; `lstm`
and `last` take a sequence `[len, features]`, one row per step. Shapes are
per sample: the batch dimension is implicit and never written.

Layers do not flatten or reshape implicitly, because guessing the layout
would hide mistakes. Flatten an image before `dense`, and reshape a vector
into an image before `conv2d`.
"#,
        wrong: r#"
model Conv {
    input x: f32[1, 28, 28];
    output y = x -> conv2d(8, kernel: 3) -> relu -> dense(10);
}
"#,
        fixed: r#"
model Conv {
    input x: f32[1, 28, 28];
    output y = x -> conv2d(8, kernel: 3) -> relu -> flatten -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0303",
        title: "a zero or negative dim",
        text: r#"
An input's dims must be positive. An input shape is per sample: the batch
dimension is implicit, so PyTorch's habit of writing it as `-1` or `None`
does not carry over, and a zero dim would make a value with no elements.

(`-1` does have a meaning inside `reshape`, where it is inferred from the
element count.)
"#,
        wrong: r#"
model Mlp {
    input x: f32[-1, 784];
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
        code: "E0304",
        title: "a tensor of more than 2^32 elements",
        text: r#"
A value (per sample) or a parameter would have more than 2^32 elements.
Such a tensor would not fit in memory alongside its gradient and optimizer
state; here it is certainly a mistake, and the bound keeps every later size
computation far from overflow.

The usual cause is a `dense` layer on a large flattened image: its weight
has one entry per input element per output feature. Shrink the image with
strided convolutions or pooling first.
"#,
        wrong: r#"
model Big {
    input x: f32[3, 224, 224];
    output y = x -> flatten -> dense(65536) -> relu -> dense(10);
}
"#,
        fixed: r#"
model Big {
    input x: f32[3, 224, 224];
    output y = x -> conv2d(16, kernel: 3, stride: 2) -> relu -> maxpool2d(4)
        -> flatten -> dense(256) -> relu -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0305",
        title: "a convolution or pooling output would be empty",
        text: r#"
A convolution or pooling window does not fit its input: with PyTorch's
formula, `floor((H + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1`,
the output would have no rows or columns. The label shows the formula with
the numbers filled in.

This happens when earlier layers have already shrunk the image: each
unpadded convolution takes `kernel - 1` off each side's length and each
pooling divides it. Pad the convolutions, pool less, or use a smaller
kernel.
"#,
        wrong: r#"
model Small {
    input x: f32[1, 12, 12];
    output y = x -> conv2d(6, kernel: 5) -> maxpool2d(2) -> conv2d(16, kernel: 5)
        -> flatten -> dense(10);
}
"#,
        fixed: r#"
model Small {
    input x: f32[1, 12, 12];
    output y = x -> conv2d(6, kernel: 5, padding: 2) -> maxpool2d(2)
        -> conv2d(16, kernel: 5) -> flatten -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0306",
        title: "pooling padding above half the kernel",
        text: r#"
Pooling padding may be at most half the kernel size (rounded down), as in
PyTorch, which refuses it too. With more padding, a window could cover only
padding: a max pool would produce -infinity and an average pool a zero that
comes from no input at all.
"#,
        wrong: r#"
model Pool {
    input x: f32[1, 28, 28];
    output y = x -> maxpool2d(3, padding: 2) -> flatten -> dense(10);
}
"#,
        fixed: r#"
model Pool {
    input x: f32[1, 28, 28];
    output y = x -> maxpool2d(3, padding: 1) -> flatten -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0307",
        title: "reshape to a different element count",
        text: r#"
`reshape` rearranges a value's elements into a new shape; it cannot add or
drop any, so the new shape must have the same number of elements as the
input (at most one dim may be `-1`, inferred from the count, and it must
divide evenly). The message gives both counts.
"#,
        wrong: r#"
model Image {
    input x: f32[784];
    output y = x -> reshape([1, 28, 27]) -> conv2d(6, kernel: 5) -> flatten -> dense(10);
}
"#,
        fixed: r#"
model Image {
    input x: f32[784];
    output y = x -> reshape([1, 28, 28]) -> conv2d(6, kernel: 5) -> flatten -> dense(10);
}
"#,
    },
    Explanation {
        code: "E0308",
        title: "axis out of range",
        text: r#"
An `axis` argument (of `softmax` or `concat`) names an axis the value does
not have. Axes are per sample, so a value of rank r has axes 0 to r-1, and
-r to -1 counting from the end. The batch axis is not one of them: axis 0
of an image is its channel axis, PyTorch's `dim=1`.
"#,
        wrong: r#"
model Classes {
    input x: f32[784];
    output p = x -> dense(10) -> softmax(axis: 1);
}
"#,
        fixed: r#"
model Classes {
    input x: f32[784];
    output p = x -> dense(10) -> softmax(axis: 0);
}
"#,
    },
    Explanation {
        code: "E0309",
        title: "attention heads that do not divide the features",
        text: r#"
`attention(heads)` splits each position's features into `heads` equal
parts, one per head (PyTorch's `embed_dim` must be divisible by
`num_heads`). The number of heads must divide the feature count of its
input `[len, features]`.
"#,
        wrong: r#"
model Mixer {
    input x: f32[8, 30];
    output y = x -> attention(4);
}
"#,
        fixed: r#"
model Mixer {
    input x: f32[8, 30];
    output y = x -> attention(5);
}
"#,
    },
    Explanation {
        code: "E0310",
        title: "a value of the wrong element type",
        text: r#"
Values are f32 numbers or i64 token ids. Token ids come from an input
declared `i64` and are indices into a table, not quantities: `embedding`
is the one layer that reads them, and it reads nothing else. Every other
layer (and `+`) computes with f32 values, and a model's outputs are f32.

Map token ids to vectors with `embedding(num_embeddings, embedding_dim)`
before any other layer; feed `embedding` from an i64 input.
"#,
        wrong: r#"
model Bag {
    input tokens: i64[16];
    output y = tokens -> dense(4);
}
"#,
        fixed: r#"
model Bag {
    input tokens: i64[16];
    output y = tokens -> embedding(100, 8) -> flatten -> dense(4);
}
"#,
    },
    Explanation {
        code: "E0311",
        title: "a count not divisible by the argument that splits it",
        text: r#"
`conv2d(..., groups: g)` splits the input channels and the output channels
into `g` groups, each convolved on its own (as `nn.Conv2d` does), so `g`
must divide both. A depthwise convolution, one input channel per group,
has `groups` equal to the input's channels and `out_channels` a multiple
of it. The message names the count that does not divide.
"#,
        wrong: r#"
model Depthwise {
    input x: f32[6, 28, 28];
    output y = x -> conv2d(6, kernel: 3, groups: 4) -> flatten -> dense(10);
}
"#,
        fixed: r#"
model Depthwise {
    input x: f32[6, 28, 28];
    output y = x -> conv2d(6, kernel: 3, groups: 6) -> flatten -> dense(10);
}
"#,
    },
];
