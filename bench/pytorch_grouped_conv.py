"""Forward and backward values of grouped and depthwise convolutions, from
PyTorch.

Prints Rust literal arrays (9 significant digits, enough to round-trip an
f32) for `runtime/tests/kernels_grouped.rs`. Inputs are smooth patterns
computed in f64 and rounded to f32 on both sides: `x = sin(0.37·i)`,
`w = cos(0.91·i)`, `b = 0.1·k - 0.2`, and the output gradient
`dy = sin(0.53·i + 0.2)`; the gradients are those of `Σ y·dy`.

    /work/venv-bench/bin/python bench/pytorch_grouped_conv.py
"""

import math

import torch
import torch.nn.functional as F

# name: (batch, in_channels, [h, w], out_channels, kernel, stride, padding, dilation, groups, bias)
CASES = [
    # depthwise, multiplier 2, "same" padding
    ("DEPTHWISE", (2, 3, [6, 7], 6, [3, 3], [1, 1], [1, 1], [1, 1], 3, True)),
    # depthwise, stride 2, dilated, rectangular kernel, no bias
    ("DEPTHWISE_STRIDED", (2, 4, [7, 8], 4, [3, 2], [2, 2], [2, 1], [2, 2], 4, False)),
    # two groups of two input channels, three filters each
    ("GROUPED", (2, 4, [5, 6], 6, [3, 3], [2, 1], [1, 1], [1, 1], 2, True)),
]


def pattern(n, f):
    return torch.tensor([f(i) for i in range(n)], dtype=torch.float64).to(torch.float32)


def number(v, digits=9):
    text = f"{v:.{digits}g}"
    return text if any(c in text for c in ".en") else text + ".0"


def literal(values):
    return "[" + ", ".join(number(v) for v in values) + "]"


def main():
    torch.set_num_threads(1)
    print(f"// torch {torch.__version__}, f32")
    for name, (n, c, hw, co, k, s, p, d, g, bias) in CASES:
        x = pattern(n * c * hw[0] * hw[1], lambda i: math.sin(0.37 * i)).reshape(n, c, *hw)
        w = pattern(co * (c // g) * k[0] * k[1], lambda i: math.cos(0.91 * i)).reshape(co, c // g, *k)
        b = pattern(co, lambda i: 0.1 * i - 0.2) if bias else None
        x.requires_grad_(True)
        w.requires_grad_(True)
        if b is not None:
            b.requires_grad_(True)
        y = F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
        dy = pattern(y.numel(), lambda i: math.sin(0.53 * i + 0.2)).reshape(y.shape)
        y.backward(dy)
        print(f"// {name}: F.conv2d(x {list(x.shape)}, w {list(w.shape)}, bias {bias}, "
              f"stride={s}, padding={p}, dilation={d}, groups={g}) -> {list(y.shape)}")
        print(f"pub const {name}_Y: [f32; {y.numel()}] = {literal(y.detach().flatten().tolist())};")
        print(f"pub const {name}_DX: [f32; {x.numel()}] = {literal(x.grad.flatten().tolist())};")
        print(f"pub const {name}_DW: [f32; {w.numel()}] = {literal(w.grad.flatten().tolist())};")
        if b is not None:
            print(f"pub const {name}_DB: [f32; {co}] = {literal(b.grad.tolist())};")


if __name__ == "__main__":
    main()
