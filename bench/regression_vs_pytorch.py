#!/usr/bin/env python3
"""Regression against PyTorch: scikit-learn's diabetes data (442 patients,
10 features, disease progression after a year), the same MLP and training
in `dslc train --target` and in PyTorch, on the same train/test split;
prints both test RMSEs and their ratio for several seeds.

Needs torch and scikit-learn in the bench environment (scikit-learn is not
in every PyTorch install; this script loads its bundled data set):

    /work/venv-bench/bin/pip install torch scikit-learn
    /work/venv-bench/bin/python bench/regression_vs_pytorch.py [--seeds 0,1,2] [--dslc PATH]

How the two sides are made to agree:

- Split: dslc splits a data set with float targets by a seeded shuffle
  (runtime/src/data/mod.rs `train_test_split`: `ceil(0.2 n)` test samples,
  the first of `Rng::new(seed).shuffle(0..n)`). This script reimplements
  that Rng (xoshiro256++ seeded by splitmix64, runtime/core/src/rng.rs)
  to get the same rows for PyTorch, and checks it against dslc itself:
  `dslc eval` of a one-weight model that outputs the row number on a
  copy of the CSV gives the test rows' mean and mean square as its MAE
  and RMSE, which must match the replica's.
- Features: standardized by the training split's mean and standard
  deviation, here, before either side sees them (`--normalize none`).
  Targets are left as they are (25 to 346).
- Model and training: 10 -> 64 -> ReLU -> 1, `mse`, Adam lr 0.01, batch
  32, 200 epochs, a fresh shuffle every epoch, the last batch smaller.
  Both initialize with PyTorch's default (uniform in +-1/sqrt(fan_in)),
  from their own random streams: the seeds do not give the same draws.
"""

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from sklearn.datasets import load_diabetes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M64 = (1 << 64) - 1

MODEL = """model Diabetes {
    input x: f32[10];
    output y = x -> dense(64) -> relu -> dense(1);
}

train Diabetes {
    loss: mse,
    optimizer: adam(lr: 0.01),
    batch: 32,
    epochs: 200,
    seed: %d,
}
"""

# The row-number model of the split check: y = 1 * row.
ROW_MODEL = """model Row {
    input x: f32[1];
    output y = x -> dense(1);
}

train Row {
    loss: mse,
    optimizer: sgd,
    seed: %d,
}
"""


class Rng:
    """runtime/core/src/rng.rs: xoshiro256++ seeded by splitmix64."""

    def __init__(self, seed):
        sm = seed & M64
        state = []
        for _ in range(4):
            sm = (sm + 0x9E3779B97F4A7C15) & M64
            z = sm
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            state.append(z ^ (z >> 31))
        self.s = state

    def next_u64(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        result = (rotl((s[0] + s[3]) & M64, 23) + s[0]) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        while True:
            m = self.next_u64() * n
            if (m & M64) >= ((-n) & M64) % n:
                return m >> 64

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def dslc_split(n, seed, fraction=0.2):
    """The test rows of dslc's split of n samples with float targets."""
    n_test = math.ceil(n * fraction)
    members = list(range(n))
    Rng(seed).shuffle(members)
    return sorted(members[:n_test])


def write_csv(path, features, target):
    with open(path, "w") as f:
        names = [f"f{i}" for i in range(features.shape[1])]
        f.write(",".join(names + ["target"]) + "\n")
        for row, t in zip(features, target):
            f.write(",".join(repr(float(v)) for v in row) + "," + repr(float(t)) + "\n")


def write_safetensors(path, tensors):
    """A minimal safetensors file of f32 tensors."""
    header, data = {}, b""
    for name, values in tensors.items():
        raw = np.asarray(values, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(values)),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def check_split(dslc, tmp, n, seed, test_rows):
    """dslc's own test rows against the replica, through a row-number model."""
    data = os.path.join(tmp, "rows.csv")
    write_csv(data, np.arange(n, dtype=np.float64)[:, None], np.zeros(n))
    model = os.path.join(tmp, "row.nn")
    with open(model, "w") as f:
        f.write(ROW_MODEL % seed)
    weights = os.path.join(tmp, "row.safetensors")
    write_safetensors(weights, {"dense_1.weight": [[1.0]], "dense_1.bias": [0.0]})
    out = os.path.join(tmp, "row-eval")
    run([dslc, "eval", model, "--weights", weights, "--data", data, "--target", "target",
         "--normalize", "none", "--seed", str(seed), "--out", out])
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    rows = np.array(test_rows, dtype=np.float64)
    want = (rows.mean(), math.sqrt((rows ** 2).mean()))
    got = (m["test_mae"], m["test_rmse"])
    if m["test_samples"] != len(rows) or any(abs(a - b) > 1e-6 * b for a, b in zip(got, want)):
        sys.exit(f"seed {seed}: dslc's test rows differ from the replica's: {got} against {want}")


def nnspec_rmse(dslc, tmp, data, seed):
    model = os.path.join(tmp, "diabetes.nn")
    with open(model, "w") as f:
        f.write(MODEL % seed)
    out = os.path.join(tmp, f"run-{seed}")
    run([dslc, "train", model, "--data", data, "--target", "target", "--normalize", "none",
         "--threads", "1", "--out", out, "--force"])
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)["test_rmse"]


def torch_rmse(x_train, y_train, x_test, y_test, seed, epochs=200, batch=32):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(10, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = torch.nn.MSELoss()
    x = torch.tensor(x_train, dtype=torch.float32)
    y = torch.tensor(y_train, dtype=torch.float32)[:, None]
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
    with torch.no_grad():
        pred = model(torch.tensor(x_test, dtype=torch.float32))[:, 0].double().numpy()
    return float(np.sqrt(np.mean((pred - y_test) ** 2)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--dslc", default=os.path.join(ROOT, "target", "release", "dslc"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    d = load_diabetes(scaled=False)
    x, y = d.data.astype(np.float64), d.target.astype(np.float64)
    n = len(y)
    print(f"diabetes: {n} samples, {x.shape[1]} features; torch {torch.__version__}; dslc {args.dslc}")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in [int(s) for s in args.seeds.split(",")]:
            test = dslc_split(n, seed)
            check_split(args.dslc, tmp, n, seed, test)
            is_test = np.zeros(n, dtype=bool)
            is_test[test] = True
            mean = x[~is_test].mean(axis=0)
            std = x[~is_test].std(axis=0)
            xs = (x - mean) / std
            data = os.path.join(tmp, f"diabetes-{seed}.csv")
            write_csv(data, xs, y)
            ours = nnspec_rmse(args.dslc, tmp, data, seed)
            theirs = torch_rmse(xs[~is_test], y[~is_test], xs[is_test], y[is_test], seed)
            ratios.append(ours / theirs)
            print(f"seed {seed}: test RMSE nnspec {ours:.3f}, PyTorch {theirs:.3f}, "
                  f"ratio {ours / theirs:.4f} ({len(test)} test samples, split checked against dslc)")
    worst = max(abs(r - 1) for r in ratios)
    print(f"mean ratio {np.mean(ratios):.4f}; largest |ratio - 1| {worst:.4f} "
          f"({'within' if worst <= 0.05 else 'outside'} 5%)")


if __name__ == "__main__":
    main()
