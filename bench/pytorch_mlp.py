#!/usr/bin/env python3
"""PyTorch peer for the nnspec training benchmark.

Workload: the classic tutorial MLP
    nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
trained with nn.CrossEntropyLoss() and plain SGD (no momentum) on Fashion-MNIST,
normalized as in the tutorial: (x/255 - 0.5)/0.5.

The data is read from the IDX .gz files with gzip + numpy (no torchvision, no
downloads) and preloaded as tensors once; only the training loop is timed.
The last line on stdout is a single JSON object with the results.
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """Read a gzip-compressed IDX file into a numpy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file")
    dtype_code, ndim = data[2], data[3]
    dtypes = {
        0x08: np.uint8,
        0x09: np.int8,
        0x0B: np.dtype(">i2"),
        0x0C: np.dtype(">i4"),
        0x0D: np.dtype(">f4"),
        0x0E: np.dtype(">f8"),
    }
    if dtype_code not in dtypes:
        raise ValueError(f"{path}: unknown IDX type code 0x{dtype_code:02x}")
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    offset = 4 + 4 * ndim
    arr = np.frombuffer(data, dtype=dtypes[dtype_code], offset=offset)
    expected = int(np.prod(dims))
    if arr.size != expected:
        raise ValueError(f"{path}: expected {expected} values, found {arr.size}")
    return arr.reshape(tuple(int(d) for d in dims))


def load_split(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{prefix}: {images.shape[0]} images but {labels.shape[0]} labels")
    # ToTensor() -> [0, 1], then Normalize((0.5,), (0.5,)) -> [-1, 1]; shape [N, 1, 28, 28].
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    x = (x / 255.0 - 0.5) / 0.5
    y = torch.from_numpy(labels.astype(np.int64))
    return x.contiguous(), y.contiguous()


def build_model():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def evaluate(model, loss_fn, x, y, batch):
    model.eval()
    total_loss = 0.0
    correct = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            xb = x[start:start + batch]
            yb = y[start:start + batch]
            logits = model(xb)
            # sum of per-sample losses, so the mean is exact even for a short last batch
            total_loss += loss_fn(logits, yb).item() * xb.shape[0]
            correct += (logits.argmax(dim=1) == yb).sum().item()
    n = x.shape[0]
    return correct / n, total_loss / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory with the IDX .gz files")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # parameter initialization

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    n_train = x_train.shape[0]

    model = build_model()
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)  # shuffling

    print(
        f"pytorch {torch.__version__}, threads={torch.get_num_threads()}, "
        f"train={n_train}, test={x_test.shape[0]}, epochs={args.epochs}, "
        f"batch={args.batch}, lr={args.lr}, seed={args.seed}",
        flush=True,
    )

    train_seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n_train, generator=gen)
        running = 0.0
        steps = 0
        for start in range(0, n_train, args.batch):
            idx = perm[start:start + args.batch]
            xb = x_train[idx]
            yb = y_train[idx]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            running += loss.item()
            steps += 1
        dt = time.perf_counter() - t0
        train_seconds += dt
        # The per-epoch test evaluation below is outside the timed region.
        acc, test_loss = evaluate(model, loss_fn, x_test, y_test, 1000)
        print(
            f"epoch {epoch:2d}: train_loss {running / steps:.4f}  "
            f"test_acc {acc:.4f}  test_loss {test_loss:.4f}  "
            f"{dt:.2f}s  {n_train / dt:,.0f} samples/s",
            flush=True,
        )

    acc, test_loss = evaluate(model, loss_fn, x_test, y_test, 1000)
    result = {
        "framework": "pytorch",
        "torch_version": torch.__version__,
        "threads": args.threads,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "train_seconds": round(train_seconds, 4),
        "train_samples_per_s": round(args.epochs * n_train / train_seconds, 1),
        "test_accuracy": round(acc, 4),
        "test_loss": round(test_loss, 4),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
