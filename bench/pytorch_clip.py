#!/usr/bin/env python3
"""Literal numbers for runtime/tests/clip.rs: PyTorch's gradient clipping
(`torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`) on two fixed
gradients, printed as Rust arrays.

    python3 -m venv /work/venv-bench && /work/venv-bench/bin/pip install torch
    /work/venv-bench/bin/python bench/pytorch_clip.py
"""

import torch


def grads():
    a = torch.tensor([0.5, -1.25, 2.0, 0.125, -0.75, 3.0], dtype=torch.float32)
    b = torch.tensor([-0.3, 0.1, 0.7, -2.2], dtype=torch.float32)
    params = [torch.nn.Parameter(torch.zeros_like(a)), torch.nn.Parameter(torch.zeros_like(b))]
    params[0].grad = a.clone()
    params[1].grad = b.clone()
    return params


def show(name, params):
    # The shortest text that reads back as the same f32.
    values = torch.cat([p.grad.flatten() for p in params]).numpy()
    body = ", ".join(str(v) for v in values)
    print(f"const {name}: [f32; {len(values)}] = [{body}];")


print(f"// torch {torch.__version__}")
for max_norm in (1.0, 100.0):
    params = grads()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    print(f"// clip_grad_norm_(max_norm={max_norm}) returned total norm {total.item()!r}")
    show(f"NORM_{int(max_norm)}", params)
params = grads()
torch.nn.utils.clip_grad_value_(params, 0.6)
show("VALUE_0_6", params)
