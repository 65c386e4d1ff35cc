"""Forward and backward values of conv1d, maxpool1d and avgpool1d, from PyTorch.

Prints Rust literal arrays (9 significant digits, enough to round-trip an
f32) for `runtime/tests/kernels_conv1d.rs`. Inputs are rebuilt the same way
on both sides: x = sin(0.37·i), weight = cos(0.91·i), dy = sin(0.23·i + 0.5),
computed in f64 and rounded to f32; biases are listed. Each case prints
`*_Y` (the forward output), `*_DX` (the input's gradient for that dy) and,
for convolutions, `*_DW` and `*_DB`.

    /work/venv-bench/bin/python bench/pytorch_conv1d.py
"""

import math

import torch
import torch.nn.functional as F

# name, batch, in channels, length, out channels, kernel, stride, padding, dilation, bias
CONVS = [
    # strided, padded and dilated
    ("CONV_STRIDED", 2, 3, 11, 4, 3, 2, 2, 2, [0.1, -0.2, 0.3, -0.4]),
    # stride 1 (the windowed path on the AVX tiers), no bias
    ("CONV_SAME", 3, 4, 16, 5, 5, 1, 2, 1, None),
    # stride 1, dilated, longer sequence
    ("CONV_DILATED", 2, 2, 40, 3, 3, 1, 0, 3, [0.25, -0.5, 0.125]),
]

# name, kind, batch, channels, length, kernel, stride, padding
POOLS = [
    ("MAX_PADDED", "max", 2, 3, 13, 3, 2, 1),
    ("MAX_OVERLAP", "max", 1, 2, 20, 4, 1, 2),
    ("AVG_PADDED", "avg", 2, 3, 13, 4, 3, 2),
    ("AVG_OVERLAP", "avg", 1, 2, 20, 3, 1, 1),
]


def ramp(n, f):
    return torch.tensor([f(i) for i in range(n)], dtype=torch.float64).to(torch.float32)


def number(v, digits=9):
    text = f"{v:.{digits}g}"
    return text if any(c in text for c in ".en") else text + ".0"


def literal(values):
    return "[" + ", ".join(number(v) for v in values) + "]"


def emit(name, tensor):
    values = tensor.detach().flatten().tolist()
    print(f"const {name}: [f32; {len(values)}] = {literal(values)};")


def main():
    torch.set_num_threads(1)
    print(f"// torch {torch.__version__}, f32")
    for name, n, c, length, out, k, s, p, d, bias in CONVS:
        x = ramp(n * c * length, lambda i: math.sin(0.37 * i)).reshape(n, c, length).requires_grad_()
        w = ramp(out * c * k, lambda i: math.cos(0.91 * i)).reshape(out, c, k).requires_grad_()
        b = torch.tensor(bias, dtype=torch.float32, requires_grad=True) if bias else None
        y = F.conv1d(x, w, b, stride=s, padding=p, dilation=d)
        dy = ramp(y.numel(), lambda i: math.sin(0.23 * i + 0.5)).reshape(y.shape)
        y.backward(dy)
        print(f"// {name}: F.conv1d on [{n}, {c}, {length}], {out} filters, "
              f"kernel {k}, stride {s}, padding {p}, dilation {d}, bias {bias}")
        emit(f"{name}_Y", y)
        emit(f"{name}_DX", x.grad)
        emit(f"{name}_DW", w.grad)
        if b is not None:
            emit(f"{name}_DB", b.grad)
    for name, kind, n, c, length, k, s, p in POOLS:
        x = ramp(n * c * length, lambda i: math.sin(0.37 * i)).reshape(n, c, length).requires_grad_()
        if kind == "max":
            y = F.max_pool1d(x, k, stride=s, padding=p)
        else:
            y = F.avg_pool1d(x, k, stride=s, padding=p, count_include_pad=True)
        dy = ramp(y.numel(), lambda i: math.sin(0.23 * i + 0.5)).reshape(y.shape)
        y.backward(dy)
        print(f"// {name}: {kind}_pool1d on [{n}, {c}, {length}], kernel {k}, stride {s}, padding {p}")
        emit(f"{name}_Y", y)
        emit(f"{name}_DX", x.grad)


if __name__ == "__main__":
    main()
