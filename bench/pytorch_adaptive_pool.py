"""Forward and backward values of adaptive average pooling, from PyTorch.

Prints Rust literal arrays (9 significant digits) for
`runtime/tests/kernels_adaptive_pool.rs`: `F.adaptive_avg_pool2d` on
`x = sin(0.37·i)` (computed in f64, rounded to f32 on both sides) to
output sizes whose windows overlap and differ in size, one larger than
the input, a uniform one and 1x1; the input gradient of `Σ y·dy` with
`dy = cos(0.53·i)`.

    /work/venv-bench/bin/python bench/pytorch_adaptive_pool.py
"""

import math

import torch
import torch.nn.functional as F

# name: ([batch, channels, h, w], [out_h, out_w])
CASES = [
    ("OVERLAPPING", ([2, 3, 7, 5], [3, 2])),
    ("MIXED", ([1, 2, 5, 9], [2, 4])),
    ("LARGER", ([1, 2, 3, 4], [5, 6])),
    ("UNIFORM", ([2, 2, 8, 6], [4, 3])),
    ("GLOBAL", ([2, 3, 5, 6], [1, 1])),
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
    for name, (shape, out) in CASES:
        x = pattern(math.prod(shape), lambda i: math.sin(0.37 * i)).reshape(shape).requires_grad_(True)
        y = F.adaptive_avg_pool2d(x, out)
        dy = pattern(y.numel(), lambda i: math.cos(0.53 * i)).reshape(y.shape)
        y.backward(dy)
        print(f"// {name}: F.adaptive_avg_pool2d(x {shape}, {out})")
        print(f"pub const {name}_Y: [f32; {y.numel()}] = {literal(y.detach().flatten().tolist())};")
        print(f"pub const {name}_DX: [f32; {x.numel()}] = {literal(x.grad.flatten().tolist())};")


if __name__ == "__main__":
    main()
