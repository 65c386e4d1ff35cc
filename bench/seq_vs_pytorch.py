#!/usr/bin/env python3
"""Sequence models, nnspec against PyTorch (issue 11, acceptance 2 and 4):
the LSTM classifier (examples/digits_lstm.nn) and the transformer encoder
(examples/digits_transformer.nn) trained on the UCI digits that ship with
nnspec (runtime/assets/digits.csv.gz, 1797 8x8 images, 10 classes), read
as sequences:

* lstm: each image is 8 steps of 8 pixels (its rows), scaled as dslc
  scales the digits, (x/16 - 0.5)/0.5;
* transformer: each image is 64 tokens, one per pixel, the token id being
  position * 17 + intensity (0..16), so the embedding carries the position.

Both sides get the same split (a seeded permutation; the last 360 samples,
20%, are the test set), written as one .npz with `x_train`, `y_train`,
`x_test`, `y_test`, and the same model, loss, optimizer, batch and epochs
(read from the example's train block). PyTorch's modules use nnspec's
parameter names, so each round also loads nnspec's checkpoint into the
PyTorch module with `strict=True` and evaluates it: its test accuracy must
equal the one nnspec reports (the checkpoint is a PyTorch state_dict and
every layer computes what torch.nn's does).

Reported per model: each side's median training throughput (samples/s,
the training loop only: no data loading, no evaluation) and test accuracy,
and the ratio of nnspec's median to PyTorch eager's. Rounds alternate
which side runs first.

    python3 bench/seq_vs_pytorch.py [--models lstm,transformer] [--rounds 3] [--threads 2]
        [--epochs N] [--seed 0] [--dslc PATH]

The last line on stdout is one JSON object with everything.
"""

import argparse
import datetime
import gzip
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "runtime", "assets", "digits.csv.gz")
MODEL_FILES = {"lstm": "examples/digits_lstm.nn", "transformer": "examples/digits_transformer.nn"}
TEST_SAMPLES = 360


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return [x for x in ("avx2", "fma", "avx512f", "avx512_vnni", "amx_tile") if x in flags]
    return []


def train_block(model):
    """The example's optimizer, lr, batch and epochs, read from its train block."""
    with open(os.path.join(ROOT, MODEL_FILES[model])) as f:
        text = f.read()
    opt = re.search(r"optimizer:\s*(\w+)\(lr:\s*([0-9.e-]+)\)", text)
    batch = re.search(r"batch:\s*(\d+)", text)
    epochs = re.search(r"epochs:\s*(\d+)", text)
    if not (opt and batch and epochs) or opt.group(1) != "adam":
        sys.exit(f"{MODEL_FILES[model]}: expected `optimizer: adam(lr: X)`, `batch: N`, `epochs: N`")
    return {"lr": float(opt.group(2)), "batch": int(batch.group(1)), "epochs": int(epochs.group(1))}


def load_digits():
    with gzip.open(DIGITS, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    return rows[:, :64], rows[:, 64]


def sequences(model, pixels):
    if model == "lstm":
        return ((pixels.astype(np.float32) / 16 - 0.5) / 0.5).reshape(-1, 8, 8)
    return (np.arange(64, dtype=np.int64) * 17 + pixels).astype(np.int64)


def write_split(path, model, pixels, labels, seed):
    order = np.random.RandomState(seed).permutation(len(labels))
    train, test = order[:-TEST_SAMPLES], order[-TEST_SAMPLES:]
    x = sequences(model, pixels)
    np.savez(path, x_train=x[train], y_train=labels[train].astype(np.int64),
             x_test=x[test], y_test=labels[test].astype(np.int64))
    return x[train], labels[train], x[test], labels[test]


class DigitsLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 64, batch_first=True)
        self.head = nn.Linear(64, 10)

    def forward(self, rows):
        out, _ = self.rnn(rows)
        return self.head(out[:, -1])


class DigitsTransformer(nn.Module):
    """examples/digits_transformer.nn, attribute for attribute."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1088, 32)
        for i in (1, 2, 3, 4):
            setattr(self, f"ln{i}", nn.LayerNorm(32))
        for i in (1, 2):
            setattr(self, f"attn{i}", nn.MultiheadAttention(32, 4, batch_first=True))
            setattr(self, f"up{i}", nn.Linear(32, 64))
            setattr(self, f"down{i}", nn.Linear(64, 32))
        self.head = nn.Linear(32, 10)

    def block(self, x, i):
        n = self.get_submodule(f"ln{2 * i - 1}")(x)
        a, _ = self.get_submodule(f"attn{i}")(n, n, n, need_weights=False)
        h = x + a
        up, down = self.get_submodule(f"up{i}"), self.get_submodule(f"down{i}")
        return h + down(nn.functional.gelu(up(self.get_submodule(f"ln{2 * i}")(h))))

    def forward(self, tokens):
        x = self.emb(tokens)
        x = self.block(self.block(x, 1), 2)
        return self.head(x.mean(dim=1))


def torch_model(model):
    return DigitsLstm() if model == "lstm" else DigitsTransformer()


def as_tensor(model, x):
    return torch.from_numpy(x) if model == "lstm" else torch.from_numpy(x).long()


def accuracy(net, model, x, y):
    net.eval()
    with torch.no_grad():
        pred = net(as_tensor(model, x)).argmax(dim=1).numpy()
    net.train()
    return float((pred == y).mean())


def run_pytorch(model, cfg, split, seed):
    x_train, y_train, x_test, y_test = split
    torch.manual_seed(seed)
    net = torch_model(model)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()
    xs, ys = as_tensor(model, x_train), torch.from_numpy(y_train)
    n, b = len(ys), cfg["batch"]
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(cfg["epochs"]):
        perm = torch.randperm(n, generator=gen)
        xe, ye = xs[perm], ys[perm]
        for i in range(0, n, b):
            opt.zero_grad(set_to_none=True)
            loss_fn(net(xe[i:i + b]), ye[i:i + b]).backward()
            opt.step()
    seconds = time.perf_counter() - start
    return {"train_samples_per_s": n * cfg["epochs"] / seconds,
            "test_accuracy": accuracy(net, model, x_test, y_test)}


def load_checkpoint(path):
    """A safetensors file as a dict of tensors (numpy only: 8-byte header
    length, JSON header, raw little-endian data)."""
    with open(path, "rb") as f:
        raw = f.read()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + size])
    body = raw[8 + size:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {info['dtype']}, expected F32")
        lo, hi = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(body[lo:hi], dtype="<f4").reshape(info["shape"]).copy())
    return out


def run_nnspec(dslc, model, data, threads, epochs, seed, out, split):
    cmd = [dslc, "train", os.path.join(ROOT, MODEL_FILES[model]), "--data", data,
           "--threads", str(threads), "--seed", str(seed), "--out", out, "--force"]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    net = torch_model(model)
    net.load_state_dict(load_checkpoint(os.path.join(out, "model.safetensors")), strict=True)
    return {"test_accuracy": m["test_accuracy"], "train_samples_per_s": m["train_samples_per_s"],
            "pytorch_on_checkpoint_accuracy": accuracy(net, model, split[2], split[3])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lstm,transformer")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, help="both sides (default: the train block's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dslc", help="a dslc binary (default: this checkout's release build)")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODEL_FILES:
            ap.error(f"unknown model {m!r} (choose from {', '.join(MODEL_FILES)})")
    torch.set_num_threads(args.threads)
    dslc = args.dslc
    if dslc is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "dslc"], cwd=ROOT, check=True)
        meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                              check=True, capture_output=True, text=True).stdout
        dslc = os.path.join(json.loads(meta)["target_directory"], "release", "dslc")

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"CPU: {cpu_model()} ({' '.join(cpu_flags())}); {os.cpu_count()} logical CPUs; {started}")
    print(f"PyTorch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"{args.threads} thread(s) each side; nnspec picks its kernel tier at run time "
          f"(NNSPEC_KERNELS={os.environ.get('NNSPEC_KERNELS', 'unset')})")
    pixels, labels = load_digits()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            cfg = train_block(model)
            if args.epochs is not None:
                cfg["epochs"] = args.epochs
            data = os.path.join(tmp, f"{model}.npz")
            split = write_split(data, model, pixels, labels, args.seed)
            print(f"\n{model} ({MODEL_FILES[model]}): adam lr {cfg['lr']}, batch {cfg['batch']}, "
                  f"{cfg['epochs']} epochs, {len(split[1])} train / {len(split[3])} test samples")
            ours, theirs = [], []
            for r in range(args.rounds):
                seed = args.seed + r
                sides = ["nnspec", "pytorch"] if r % 2 == 0 else ["pytorch", "nnspec"]
                for side in sides:
                    if side == "nnspec":
                        ours.append(run_nnspec(dslc, model, data, args.threads, cfg["epochs"], seed,
                                               os.path.join(tmp, f"{model}-{r}"), split))
                    else:
                        theirs.append(run_pytorch(model, cfg, split, seed))
                o, t = ours[-1], theirs[-1]
                print(f"round {r + 1}: nnspec {o['train_samples_per_s']:,.0f}/s acc {o['test_accuracy']:.4f} "
                      f"(PyTorch on its checkpoint: {o['pytorch_on_checkpoint_accuracy']:.4f}) | "
                      f"pytorch eager {t['train_samples_per_s']:,.0f}/s acc {t['test_accuracy']:.4f}", flush=True)
            med = lambda rs, k: statistics.median(x[k] for x in rs)  # noqa: E731
            ratio = med(ours, "train_samples_per_s") / med(theirs, "train_samples_per_s")
            agree = all(abs(o["test_accuracy"] - o["pytorch_on_checkpoint_accuracy"]) < 0.5 / TEST_SAMPLES
                        for o in ours)
            print(f"{model}: nnspec {med(ours, 'train_samples_per_s'):,.0f}/s, PyTorch eager "
                  f"{med(theirs, 'train_samples_per_s'):,.0f}/s: nnspec / PyTorch = {ratio:.2f}x; "
                  f"median test accuracy nnspec {med(ours, 'test_accuracy'):.4f}, PyTorch "
                  f"{med(theirs, 'test_accuracy'):.4f}; checkpoints in PyTorch: "
                  f"{'same accuracy' if agree else 'ACCURACY DIFFERS'}")
            results[model] = {"config": cfg, "nnspec": ours, "pytorch_eager": theirs, "ratio": ratio,
                              "checkpoint_accuracy_agrees": agree}
    print(json.dumps({"cpu": cpu_model(), "flags": cpu_flags(), "started": started, "threads": args.threads,
                      "torch": torch.__version__, "rounds": args.rounds, "results": results}))
    return 0 if all(r["checkpoint_accuracy_agrees"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
