"""Forward and backward values of layernorm and mean, from PyTorch.

Prints Rust literal arrays (9 significant digits, enough to round-trip an
f32) for `runtime/tests/kernels_norm_mean.rs`: `nn.LayerNorm` over the last
dim of a [3, 20] input (one row with a large offset, where a one-pass
variance would cancel; 20 values, more than one 16-lane block), with a
weight and bias off their initial values and with `elementwise_affine=False`
and `eps=1e-3`; and `torch.mean` over dim 1 and dim 2 of a [2, 3, 4] input
(per-sample axes 0 and 1 of a batch of 2). Every gradient is for the loss
`sum(y * dy)` with a fixed `dy`.

    /work/venv-bench/bin/python bench/pytorch_norm_mean.py
    /work/venv-bench/bin/python bench/pytorch_norm_mean.py --time

`--time` instead prints PyTorch's forward + backward time of nn.LayerNorm
at transformer shapes ([1024, 32], [1024, 256], [8192, 512]),
one thread.
"""

import sys
import time

import torch


def number(v, digits=9):
    """`v` to `digits` significant digits as a float literal (`-30.0`)."""
    text = f"{v:.{digits}g}"
    return text if any(c in text for c in ".en") else text + ".0"


def literal(values):
    return "[" + ", ".join(number(v) for v in values) + "]"


def emit(name, tensor):
    values = tensor.detach().reshape(-1).tolist()
    print(f"pub const {name}: [f32; {len(values)}] = {literal(values)};")


def f32(values):
    # Rounded to what the literal says, so Rust reads the same inputs.
    return torch.tensor([float(number(v)) for v in values], dtype=torch.float32)


def main():
    torch.set_num_threads(1)
    print(f"// torch {torch.__version__}, f32")
    k = torch.arange(60, dtype=torch.float64)
    x = f32((torch.sin(k * 0.7) * 2.0 + (k // 20) * torch.tensor(0.0)).tolist())
    x = x.reshape(3, 20)
    x[1] += 1000.0  # a large mean: the variance must be taken around it
    x[2] *= 0.01
    dy = f32(torch.cos(k * 1.3).tolist()).reshape(3, 20)
    weight = f32((1.0 + 0.1 * torch.sin(torch.arange(20.0))).tolist())
    bias = f32((0.05 * torch.cos(torch.arange(20.0))).tolist())
    emit("LN_X", x)
    emit("LN_DY", dy)
    emit("LN_WEIGHT", weight)
    emit("LN_BIAS", bias)

    ln = torch.nn.LayerNorm(20)
    with torch.no_grad():
        ln.weight.copy_(weight)
        ln.bias.copy_(bias)
    xg = x.clone().requires_grad_(True)
    y = ln(xg)
    (y * dy).sum().backward()
    emit("LN_Y", y)
    emit("LN_DX", xg.grad)
    emit("LN_DWEIGHT", ln.weight.grad)
    emit("LN_DBIAS", ln.bias.grad)

    plain = torch.nn.LayerNorm(20, eps=1e-3, elementwise_affine=False)
    xg = x.clone().requires_grad_(True)
    y = plain(xg)
    (y * dy).sum().backward()
    emit("LN_PLAIN_Y", y)
    emit("LN_PLAIN_DX", xg.grad)

    m = f32((torch.sin(torch.arange(24.0) * 0.9) * 3.0).tolist()).reshape(2, 3, 4)
    emit("MEAN_X", m)
    for axis in (0, 1):
        mg = m.clone().requires_grad_(True)
        y = torch.mean(mg, dim=axis + 1)
        g = f32(torch.cos(torch.arange(float(y.numel()))).tolist()).reshape(y.shape)
        (y * g).sum().backward()
        emit(f"MEAN{axis}_Y", y)
        emit(f"MEAN{axis}_DY", g)
        emit(f"MEAN{axis}_DX", mg.grad)


def timing():
    torch.set_num_threads(1)
    for rows, width in [(64 * 16, 32), (64 * 16, 256), (64 * 128, 512)]:
        ln = torch.nn.LayerNorm(width)
        x = torch.randn(rows, width, requires_grad=True)
        dy = torch.randn(rows, width)

        def step():
            y = ln(x)
            y.backward(dy)

        step()
        runs = max(20_000_000 // (rows * width), 3)
        start = time.perf_counter()
        for _ in range(runs):
            step()
        micros = (time.perf_counter() - start) * 1e6 / runs
        print(f"torch {torch.__version__} layernorm [{rows}, {width}] forward + backward: {micros:.1f} us")


if __name__ == "__main__":
    timing() if "--time" in sys.argv else main()
