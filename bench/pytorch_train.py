#!/usr/bin/env python3
"""PyTorch peer for the nnspec training benchmarks (bench/train_vs_pytorch.py).

Models (`--model`), each exactly as the nnspec example defines it:

* `mlp` (examples/mnist_mlp.nn): Flatten, Linear(784, 128), ReLU,
  Linear(128, 10); cross-entropy, SGD lr 0.01, batch 100, 10 epochs.
* `lenet` (examples/lenet.nn): Conv2d(1, 6, 5, padding=2), ReLU,
  MaxPool2d(2), Conv2d(6, 16, 5), ReLU, MaxPool2d(2), Flatten,
  Linear(400, 120), ReLU, Linear(120, 84), ReLU, Linear(84, 10);
  cross-entropy, SGD lr 0.05 momentum 0.9, batch 64, 5 epochs.

Both on Fashion-MNIST from the IDX .gz files (gzip + numpy, no torchvision),
normalized as `dslc train` does by default for IDX images (`--normalize
tutorial`): (x/255 - 0.5)/0.5. Parameters get PyTorch's default
initialization (nnspec uses the same distributions), seeded by `--seed`.
The last batch of an epoch may be short (drop_last=False), as in nnspec.

Variants (`--variant`), what a competent PyTorch user runs:

* `eager`: the plain loop.
* `compile-model`: `torch.compile(model)`, the loop as in eager.
* `compile-step`: `torch.compile` of the whole step (zero_grad, forward,
  loss, backward, optimizer step) as one function.

All variants: the training set is preloaded as tensors; each epoch permutes
the whole tensor once (`x[perm]`, one gather per epoch) and each step takes
the contiguous view `xs[i:i+B]`; the loss is accumulated as a tensor and
read once per epoch (no `.item()` per step).

Timing: compilation is excluded. Before the timed loop, a few warm-up steps
run on the real model and optimizer at the full batch size and at the size
of the short last batch (this is where torch.compile compiles); then the
parameters are copied back in place and the momentum buffers zeroed in
place (the same as no buffer for SGD with dampening 0), so training starts
from the initial state with the compiled code warm. The warm-up time is
reported as `warmup_seconds`. The timed region is the training loop of
every epoch (the per-epoch permutation included, test evaluation excluded).

If a variant cannot run here (torch.compile needs a working C++ compiler),
the script prints the error and the JSON line says `"available": false`
with the error, instead of crashing. The last line on stdout is always a
single JSON object.
"""

import argparse
import gzip
import json
import math
import os
import sys
import time
import traceback

import numpy as np
import torch
from torch import nn

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
VARIANTS = ("eager", "compile-model", "compile-step")

# The train blocks of examples/mnist_mlp.nn and examples/lenet.nn.
CONFIGS = {
    "mlp": {"lr": 0.01, "momentum": 0.0, "batch": 100, "epochs": 10},
    "lenet": {"lr": 0.05, "momentum": 0.9, "batch": 64, "epochs": 5},
}


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


def build_model(name="mlp"):
    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
    if name == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        )
    raise ValueError(f"unknown model {name!r}")


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


def backend_info():
    """What PyTorch says about its CPU backends (for the report)."""
    info = {
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl_available": torch.backends.mkl.is_available(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "openmp_available": torch.backends.openmp.is_available(),
        "blas": None,
        "lapack": None,
        "config_lines": [],
        "env": {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
                                           "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS")
                if k in os.environ},
    }
    try:
        info["mkldnn_enabled"] = bool(torch.backends.mkldnn.enabled)
    except AttributeError:
        pass
    config = torch.__config__.show()
    for line in config.splitlines():
        s = line.strip()
        if s.startswith("- ") and not s.startswith("- Build settings") and any(w in s for w in ("MKL", "OneDNN", "oneDNN", "MKL-DNN",
                                                       "OpenMP", "CPU capability")):
            info["config_lines"].append(s[2:])
        if "BLAS_INFO=" in s or "LAPACK_INFO=" in s:
            for item in s.replace(",", " ").split():
                if item.startswith("BLAS_INFO="):
                    info["blas"] = item.split("=", 1)[1]
                elif item.startswith("LAPACK_INFO="):
                    info["lapack"] = item.split("=", 1)[1]
    return info


def inductor_isa():
    """The vector ISA Inductor's C++ code generation picks (compiled variants)."""
    try:
        from torch._inductor import cpu_vec_isa
        return str(cpu_vec_isa.pick_vec_isa())
    except Exception as e:  # noqa: BLE001 - informational only
        return f"unknown ({type(e).__name__})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(CONFIGS), default="mlp")
    ap.add_argument("--variant", choices=VARIANTS, default="eager")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, help="default: the model's train block")
    ap.add_argument("--batch", type=int, help="default: the model's train block")
    ap.add_argument("--lr", type=float, help="default: the model's train block")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup-steps", type=int, default=3,
                    help="untimed steps per batch shape before training (compilation happens here)")
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory with the IDX .gz files")
    args = ap.parse_args()
    cfg = dict(CONFIGS[args.model])
    for key in ("epochs", "batch", "lr"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # parameter initialization (PyTorch's defaults)

    result = {
        "framework": "pytorch",
        "model": args.model,
        "variant": args.variant,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "epochs": cfg["epochs"],
        "batch": cfg["batch"],
        "lr": cfg["lr"],
        "momentum": cfg["momentum"],
        "seed": args.seed,
        "backend": backend_info(),
        "available": True,
    }

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    n_train = x_train.shape[0]
    batch = cfg["batch"]

    model = build_model(args.model)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])
    gen = torch.Generator().manual_seed(args.seed)  # shuffling

    def eager_step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.detach()

    try:
        if args.variant == "eager":
            step = eager_step
        elif args.variant == "compile-model":
            cmodel = torch.compile(model)

            def step(xb, yb):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(cmodel(xb), yb)
                loss.backward()
                opt.step()
                return loss.detach()
        else:
            step = torch.compile(eager_step)
        if args.variant != "eager":
            result["inductor_isa"] = inductor_isa()

        print(
            f"pytorch {torch.__version__}, model={args.model}, variant={args.variant}, "
            f"threads={torch.get_num_threads()}, capability={result['backend']['cpu_capability']}, "
            f"train={n_train}, test={x_test.shape[0]}, epochs={cfg['epochs']}, batch={batch}, "
            f"lr={cfg['lr']}, momentum={cfg['momentum']}, seed={args.seed}",
            flush=True,
        )

        # Warm-up (untimed): compile for the full batch and the short last one,
        # then put the parameters back and zero the momentum buffers, in place.
        initial = [p.detach().clone() for p in model.parameters()]
        model.train()
        t0 = time.perf_counter()
        sizes = [batch] + ([n_train % batch] if n_train % batch else [])
        for size in sizes:
            for _ in range(args.warmup_steps):
                step(x_train[:size], y_train[:size]).item()
        result["warmup_seconds"] = round(time.perf_counter() - t0, 3)
        with torch.no_grad():
            for p, p0 in zip(model.parameters(), initial):
                p.copy_(p0)
            for state in opt.state.values():
                buf = state.get("momentum_buffer")
                if buf is not None:
                    buf.zero_()
        print(f"warm-up ({args.warmup_steps} steps per batch size {sizes}): "
              f"{result['warmup_seconds']:.2f}s", flush=True)
    except Exception as e:  # noqa: BLE001 - report the variant as unavailable
        traceback.print_exc(file=sys.stderr)
        msg = f"{type(e).__name__}: {e}".strip()
        result["available"] = False
        result["error"] = msg.splitlines()[0][:500] if msg else type(e).__name__
        print(f"variant {args.variant} unavailable: {result['error']}", flush=True)
        print(json.dumps(result), flush=True)
        return 0

    train_seconds = 0.0
    history = []
    for epoch in range(1, cfg["epochs"] + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n_train, generator=gen)
        xs = x_train[perm]  # one gather per epoch; each step below is a contiguous view
        ys = y_train[perm]
        running = torch.zeros(())
        steps = 0
        for start in range(0, n_train, batch):
            running += step(xs[start:start + batch], ys[start:start + batch])
            steps += 1
        train_loss = running.item() / steps  # the one sync of the epoch
        dt = time.perf_counter() - t0
        train_seconds += dt
        # The per-epoch test evaluation is outside the timed region (eager module,
        # the same parameters the compiled code trains).
        acc, test_loss = evaluate(model, loss_fn, x_test, y_test, 1000)
        history.append({"epoch": epoch, "train_loss": round(train_loss, 4), "test_accuracy": round(acc, 4),
                        "seconds": round(dt, 4), "samples_per_s": round(n_train / dt, 1)})
        print(
            f"epoch {epoch:2d}: train_loss {train_loss:.4f}  "
            f"test_acc {acc:.4f}  test_loss {test_loss:.4f}  "
            f"{dt:.2f}s  {n_train / dt:,.0f} samples/s",
            flush=True,
        )

    acc, test_loss = evaluate(model, loss_fn, x_test, y_test, 1000)
    result.update({
        "train_seconds": round(train_seconds, 4),
        "train_samples_per_s": round(cfg["epochs"] * n_train / train_seconds, 1),
        "test_accuracy": round(acc, 4),
        "test_loss": round(test_loss, 4),
        "history": history,
        # NaN or inf training loss in any epoch: the run is not a valid measurement.
        "diverged": any(not math.isfinite(h["train_loss"]) for h in history),
    })
    if result["diverged"]:
        print("WARNING: the training loss is not finite; this run is not a valid measurement", flush=True)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
