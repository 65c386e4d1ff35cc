"""Forward and backward values of nn.LSTM (batch_first), from PyTorch.

Prints Rust literal arrays (9 significant digits, enough to round-trip an
f32) for `runtime/tests/kernels_lstm.rs`: an LSTM of 1 and of 2 layers
(batch 2, len 3, 4 input features, hidden 3) with every parameter and the
input set by a formula (`value(n, phase)` below, mirrored in the test),
its output at every step, and the gradients of `Σ y · r` (`r` by the same
formula) with respect to the input and every parameter, in state_dict
order.

    /work/venv-bench/bin/python bench/pytorch_lstm.py
"""

import math

import torch

BATCH, LEN, FEATURES, HIDDEN = 2, 3, 4, 3


def value(n, phase):
    """`n` values in [-0.6, 0.6]: `0.6 · sin(0.7·i + phase)`."""
    return [0.6 * math.sin(0.7 * i + phase) for i in range(n)]


def number(v, digits=9):
    text = f"{v:.{digits}g}"
    return text if any(c in text for c in ".en") else text + ".0"


def literal(values):
    return "[" + ", ".join(number(v) for v in values) + "]"


def case(layers):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(FEATURES, HIDDEN, num_layers=layers, batch_first=True)
    with torch.no_grad():
        for k, (name, p) in enumerate(lstm.named_parameters()):
            p.copy_(torch.tensor(value(p.numel(), 1.0 + k)).reshape(p.shape))
    x = torch.tensor(value(BATCH * LEN * FEATURES, 0.25)).reshape(BATCH, LEN, FEATURES)
    x.requires_grad_(True)
    y, _ = lstm(x)
    r = torch.tensor(value(y.numel(), 2.5)).reshape(y.shape)
    (y * r).sum().backward()
    tag = f"L{layers}"
    print(f"pub const {tag}_Y: [f32; {y.numel()}] = {literal(y.detach().flatten().tolist())};")
    print(f"pub const {tag}_DX: [f32; {x.numel()}] = {literal(x.grad.flatten().tolist())};")
    for name, p in lstm.named_parameters():
        print(f"pub const {tag}_D_{name.upper()}: [f32; {p.numel()}] = {literal(p.grad.flatten().tolist())};")


def main():
    torch.set_num_threads(1)
    print(f"// torch {torch.__version__}, f32, batch {BATCH}, len {LEN}, features {FEATURES}, hidden {HIDDEN}")
    case(1)
    case(2)


if __name__ == "__main__":
    main()
