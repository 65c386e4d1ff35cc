"""Forward and backward values of the smooth activations, from PyTorch.

Prints Rust literal arrays (9 significant digits, enough to round-trip an
f32) for `runtime/tests/kernels_activations.rs`: each activation at a fixed
input vector covering large negatives, -3 and 3 (hardswish's corners), the
neighbourhood of 0, and both sides of softplus's threshold (20 with beta 1;
5 with beta 2, so x = 2.5), forward and the gradient with dy = 1, in f32
(`*_Y`, `*_DX`, what PyTorch gives) and in f64 (`*_Y64`, `*_DX64`, the
function itself to ~1e-16, for where f32 cancels: gelu's `1 + erf(x/√2)`
near x = -3, whose f32 value depends on the erf of PyTorch's CPU path).

    /work/venv-bench/bin/python bench/pytorch_activations.py
"""

import torch
import torch.nn.functional as F

X = [-30.0, -20.5, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0,
     2.5, 2.625, 3.0, 19.5, 20.0, 20.5, 30.0]

CASES = [
    ("GELU", lambda x: F.gelu(x)),
    ("GELU_TANH", lambda x: F.gelu(x, approximate="tanh")),
    ("SILU", F.silu),
    ("HARDSWISH", F.hardswish),
    ("ELU", lambda x: F.elu(x, alpha=1.0)),
    ("ELU_HALF", lambda x: F.elu(x, alpha=0.5)),
    ("SOFTPLUS", lambda x: F.softplus(x, beta=1.0, threshold=20.0)),
    ("SOFTPLUS_BETA2", lambda x: F.softplus(x, beta=2.0, threshold=5.0)),
]


def number(v, digits=9):
    """`v` to `digits` significant digits as a float literal (`-30.0`)."""
    text = f"{v:.{digits}g}"
    return text if any(c in text for c in ".en") else text + ".0"


def literal(values, digits=9):
    return "[" + ", ".join(number(v, digits) for v in values) + "]"


def main():
    torch.set_num_threads(1)
    print(f"// torch {torch.__version__}, f32, dy = 1")
    print(f"const X: [f32; {len(X)}] = {literal(X)};")
    for name, f in CASES:
        for dtype, suffix in [(torch.float32, ""), (torch.float64, "64")]:
            x = torch.tensor(X, dtype=dtype, requires_grad=True)
            y = f(x)
            y.backward(torch.ones_like(y))
            rust = "f32" if dtype == torch.float32 else "f64"
            n = len(X)
            digits = 9 if dtype == torch.float32 else 17
            ys, dxs = literal(y.detach().tolist(), digits), literal(x.grad.tolist(), digits)
            print(f"const {name}_Y{suffix}: [{rust}; {n}] = {ys};")
            print(f"const {name}_DX{suffix}: [{rust}; {n}] = {dxs};")


if __name__ == "__main__":
    main()
