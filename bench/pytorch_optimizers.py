#!/usr/bin/env python3
"""Prints the parameters PyTorch gives after three steps of each optimizer
configuration; runtime/src/optim.rs tests against these numbers."""
import torch
torch.set_printoptions(precision=10)
def run(opt_fn, steps=3):
    p = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = opt_fn([p])
    grads = [torch.tensor([0.1, -0.2, 0.3]), torch.tensor([0.05, 0.4, -0.1]), torch.tensor([-0.3, 0.0, 0.2])]
    out=[]
    for g in grads[:steps]:
        opt.zero_grad()
        p.grad = g.clone()
        opt.step()
        out.append([float(v) for v in p.detach()])
    return out
cases = {
 "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
 "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
 "sgd_momentum_dampening_wd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01),
 "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
 "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
 "adam_wd": lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
 "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01),
 "adamw_wd": lambda ps: torch.optim.AdamW(ps, lr=0.05, betas=(0.5, 0.9), eps=1e-4, weight_decay=0.2),
}
for k,f in cases.items():
    print(k, run(f))
