#!/usr/bin/env python3
"""PyTorch literals for runtime/tests/kernels_seq_blocks.rs: the layers of
issue 11 that reuse existing kernels, checked against torch at the kernel
calls their steps make (run under every kernel tier):

* `a * b` (torch.mul) forward and both gradients;
* `last` (x[:, -1]) forward and gradient on [batch, len, features];
* `dense` at every position of [batch, len, in] (nn.Linear) forward and
  the input, weight and bias gradients;
* `global_avgpool2d` (nn.AdaptiveAvgPool2d(1)) forward and gradient.

Inputs are smooth waves, so the file is reproducible without a seed.

    /work/venv-bench/bin/python bench/pytorch_seq_blocks.py > literals.txt
"""

import math

import torch
from torch import nn


def wave(n, phase, scale=1.0):
    return torch.tensor([scale * math.sin(0.7 * i + phase) for i in range(n)],
                        dtype=torch.float32)


def show(name, t):
    values = ", ".join(f"{float(v)!r}" for v in t.detach().reshape(-1).tolist())
    print(f"pub const {name}: [f32; {t.numel()}] = [{values}];")


def main():
    print(f"// torch {torch.__version__}, f32")
    # a * b on [2, 3, 4]
    a = wave(24, 0.1, 2.0).reshape(2, 3, 4).requires_grad_()
    b = wave(24, 1.3, 1.5).reshape(2, 3, 4).requires_grad_()
    dy = wave(24, 2.2)
    y = a * b
    y.backward(dy.reshape(2, 3, 4))
    for n, t in [("MUL_A", a), ("MUL_B", b), ("MUL_DY", dy), ("MUL_Y", y), ("MUL_DA", a.grad), ("MUL_DB", b.grad)]:
        show(n, t)
    # last on [2, 3, 4]
    x = wave(24, 0.4).reshape(2, 3, 4).requires_grad_()
    dy = wave(8, 1.1)
    y = x[:, -1]
    y.backward(dy.reshape(2, 4))
    for n, t in [("LAST_X", x), ("LAST_DY", dy), ("LAST_Y", y), ("LAST_DX", x.grad)]:
        show(n, t)
    # dense(5) on [2, 3, 4]
    lin = nn.Linear(4, 5)
    with torch.no_grad():
        lin.weight.copy_(wave(20, 0.9, 0.5).reshape(5, 4))
        lin.bias.copy_(wave(5, 2.5, 0.1))
    x = wave(24, 0.2, 1.2).reshape(2, 3, 4).requires_grad_()
    dy = wave(30, 1.7)
    y = lin(x)
    y.backward(dy.reshape(2, 3, 5))
    for n, t in [("DENSE_X", x), ("DENSE_W", lin.weight), ("DENSE_B", lin.bias), ("DENSE_DY", dy), ("DENSE_Y", y),
                 ("DENSE_DX", x.grad), ("DENSE_DW", lin.weight.grad), ("DENSE_DB", lin.bias.grad)]:
        show(n, t)
    # global_avgpool2d on [2, 3, 4, 5]
    x = wave(120, 0.3, 3.0).reshape(2, 3, 4, 5).requires_grad_()
    dy = wave(6, 0.8)
    y = nn.AdaptiveAvgPool2d(1)(x)
    y.backward(dy.reshape(2, 3, 1, 1))
    for n, t in [("GAP_X", x), ("GAP_DY", dy), ("GAP_Y", y), ("GAP_DX", x.grad)]:
        show(n, t)


if __name__ == "__main__":
    main()
