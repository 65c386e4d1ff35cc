"""Forward and backward values of multi-head self-attention, from PyTorch.

Prints Rust literal arrays (9 significant digits, enough to round-trip an
f32) for `runtime/tests/kernels_attention.rs`: `nn.MultiheadAttention(8,
2, batch_first=True)` called as `mha(x, x, x, need_weights=False)` on a
batch of 2 sequences of 4 positions, with and without the causal mask
(`attn_mask` upper-triangular -inf, `is_causal=True`), its parameters set
from a formula the Rust test repeats (`pattern`), and the gradients of
`sum(y * dy)` for a patterned `dy`.

    /work/venv-bench/bin/python bench/pytorch_attention.py
"""

import torch
import torch.nn as nn

BATCH, LEN, DIM, HEADS = 2, 4, 8, 2


def pattern(n, seed, scale):
    """`n` values in [-scale/2, scale/2): exact in f64, then rounded to f32
    (the Rust test computes the same)."""
    return [((i * 37 + seed * 17) % 97 / 97.0 - 0.5) * scale for i in range(n)]


def tensor(n, seed, scale, shape):
    return torch.tensor(pattern(n, seed, scale), dtype=torch.float32).reshape(shape)


def number(v, digits=9):
    text = f"{v:.{digits}g}"
    return text if any(c in text for c in ".en") else text + ".0"


def literal(values):
    return "[" + ", ".join(number(v) for v in values) + "]"


def main():
    torch.set_num_threads(1)
    print(f"// torch {torch.__version__}, f32, batch {BATCH}, len {LEN}, dim {DIM}, heads {HEADS}")
    for causal in [False, True]:
        mha = nn.MultiheadAttention(DIM, HEADS, batch_first=True)
        with torch.no_grad():
            mha.in_proj_weight.copy_(tensor(3 * DIM * DIM, 1, 2.0, (3 * DIM, DIM)))
            mha.in_proj_bias.copy_(tensor(3 * DIM, 2, 0.5, (3 * DIM,)))
            mha.out_proj.weight.copy_(tensor(DIM * DIM, 3, 1.0, (DIM, DIM)))
            mha.out_proj.bias.copy_(tensor(DIM, 4, 0.5, (DIM,)))
        x = tensor(BATCH * LEN * DIM, 5, 2.0, (BATCH, LEN, DIM)).requires_grad_()
        dy = tensor(BATCH * LEN * DIM, 6, 1.0, (BATCH, LEN, DIM))
        if causal:
            mask = nn.Transformer.generate_square_subsequent_mask(LEN)
            y, _ = mha(x, x, x, need_weights=False, attn_mask=mask, is_causal=True)
        else:
            y, _ = mha(x, x, x, need_weights=False)
        (y * dy).sum().backward()
        name = "CAUSAL" if causal else "FULL"
        grads = [
            ("Y", y),
            ("DX", x.grad),
            ("D_IN_WEIGHT", mha.in_proj_weight.grad),
            ("D_IN_BIAS", mha.in_proj_bias.grad),
            ("D_OUT_WEIGHT", mha.out_proj.weight.grad),
            ("D_OUT_BIAS", mha.out_proj.bias.grad),
        ]
        for suffix, t in grads:
            values = t.detach().flatten().tolist()
            print(f"pub const {name}_{suffix}: [f32; {len(values)}] = {literal(values)};")


if __name__ == "__main__":
    main()
