"""Forward and backward values of nn.Embedding, from PyTorch.

Prints Rust literal arrays (9 significant digits, enough to round-trip an
f32) for `runtime/tests/kernels_embedding.rs`: a [6, 3] table of fixed
values, a batch of 2 samples of 4 token ids with repeats (id 1 three
times, id 4 twice, id 2 never), an output gradient of fixed values, and
PyTorch's output and table gradient (the rows of repeated ids add up; the
rows of absent ids are 0).

    /work/venv-bench/bin/python bench/pytorch_embedding.py
"""

import torch

NUM, DIM = 6, 3
IDS = [[1, 3, 1, 4], [5, 0, 1, 4]]


def number(v, digits=9):
    """`v` to `digits` significant digits as a float literal (`-30.0`)."""
    text = f"{v:.{digits}g}"
    return text if any(c in text for c in ".en") else text + ".0"


def literal(values):
    return "[" + ", ".join(number(v) for v in values) + "]"


def main():
    torch.set_num_threads(1)
    emb = torch.nn.Embedding(NUM, DIM)
    with torch.no_grad():
        emb.weight.copy_(
            torch.tensor([[0.1 * i - 0.37 * j + 0.05 * i * j for j in range(DIM)] for i in range(NUM)])
        )
    ids = torch.tensor(IDS, dtype=torch.int64)
    y = emb(ids)
    n = y.numel()
    dy = torch.tensor([0.25 * ((7 * k) % 11) - 1.1 for k in range(n)], dtype=torch.float32).reshape(y.shape)
    y.backward(dy)
    flat = lambda t: t.detach().reshape(-1).tolist()
    print(f"// torch {torch.__version__}, f32, nn.Embedding({NUM}, {DIM})")
    print(f"pub const IDS: [i64; {len(IDS) * len(IDS[0])}] = [{', '.join(str(i) for row in IDS for i in row)}];")
    print(f"pub const WEIGHT: [f32; {NUM * DIM}] = {literal(flat(emb.weight))};")
    print(f"pub const DY: [f32; {n}] = {literal(flat(dy))};")
    print(f"pub const Y: [f32; {n}] = {literal(flat(y))};")
    print(f"pub const DWEIGHT: [f32; {NUM * DIM}] = {literal(flat(emb.weight.grad))};")


if __name__ == "__main__":
    main()
