#!/usr/bin/env python3
"""The training benchmark: the tutorial MLP (784-128-ReLU-10, cross-entropy,
SGD lr 0.01, batch 100, 10 epochs) on Fashion-MNIST, trained by nnspec
(`dslc train examples/mnist_mlp.nn`) and by PyTorch (bench/pytorch_mlp.py)
on the same machine in the same run, alternating, `--rounds` times each.

Prints both test accuracies, both training throughputs (median over the
rounds), their ratio, and the fraction of the machine's FP32 peak nnspec
reaches. Both time the training loop only (no data loading, no evaluation).
The ratio is the median of the per-round ratios: each round runs the two
back to back, so a slow spell of the (virtual) machine slows both sides of
a round and cancels out of its ratio.

    python3 bench/train_mlp.py [--rounds 3] [--threads 2] [--data DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
# FLOPs per training sample: forward 2·(784·128 + 128·10), backward dW1 and
# dW2 (2·784·128 + 2·128·10) and dX2 (2·128·10); the input needs no gradient.
FLOPS_PER_SAMPLE = 2 * (784 * 128 + 128 * 10) + 2 * 784 * 128 + 2 * 128 * 10 + 2 * 128 * 10
# FP32 FMA peak of this machine, both cores: 543 GFLOP/s measured by
# `cargo bench -p nnspec-runtime --bench gemm -- peak` (bench/README.md);
# the project brief quotes about 380.
PEAK_GFLOPS = 543.0
BRIEF_PEAK_GFLOPS = 380.0


def run_nnspec(data, threads, out):
    dslc = os.path.join(ROOT, "target", "release", "dslc")
    cmd = [dslc, "train", os.path.join(ROOT, "examples", "mnist_mlp.nn"), "--data", data,
           "--threads", str(threads), "--out", out]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    return {"test_accuracy": m["test_accuracy"], "train_samples_per_s": m["train_samples_per_s"]}


def run_pytorch(data, threads):
    cmd = [sys.executable, os.path.join(ROOT, "bench", "pytorch_mlp.py"), "--data", data,
           "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=DEFAULT_DATA)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "dslc"], cwd=ROOT, check=True)

    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            ours.append(run_nnspec(args.data, args.threads, os.path.join(tmp, f"run{r}")))
            theirs.append(run_pytorch(args.data, args.threads))
            print(f"round {r + 1}: nnspec {ours[-1]['train_samples_per_s']:>10,.0f} samples/s "
                  f"acc {ours[-1]['test_accuracy']:.4f} | pytorch {theirs[-1]['train_samples_per_s']:>10,.0f} "
                  f"samples/s acc {theirs[-1]['test_accuracy']:.4f}", flush=True)

    speed_ours = statistics.median(r["train_samples_per_s"] for r in ours)
    speed_theirs = statistics.median(r["train_samples_per_s"] for r in theirs)
    acc_ours = statistics.median(r["test_accuracy"] for r in ours)
    acc_theirs = statistics.median(r["test_accuracy"] for r in theirs)
    gflops = speed_ours * FLOPS_PER_SAMPLE / 1e9
    print()
    print(f"{'':12} {'test accuracy':>14} {'samples/s':>12}")
    print(f"{'nnspec':12} {acc_ours:>14.4f} {speed_ours:>12,.0f}")
    print(f"{'pytorch':12} {acc_theirs:>14.4f} {speed_theirs:>12,.0f}")
    ratios = sorted(o["train_samples_per_s"] / t["train_samples_per_s"] for o, t in zip(ours, theirs))
    ratio = statistics.median(ratios)
    print(f"throughput ratio nnspec/pytorch: {ratio:.2f}x (median of the rounds' ratios; "
          f"rounds {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"accuracy difference: {100 * (acc_ours - acc_theirs):+.2f} points")
    print(f"nnspec: {gflops:.0f} GFLOP/s = {100 * gflops / PEAK_GFLOPS:.0f}% of the measured {PEAK_GFLOPS:.0f} GFLOP/s FP32 peak "
          f"({100 * gflops / BRIEF_PEAK_GFLOPS:.0f}% of the brief's {BRIEF_PEAK_GFLOPS:.0f})")
    print(json.dumps({"nnspec": ours, "pytorch": theirs, "ratio": ratio, "round_ratios": ratios}))


if __name__ == "__main__":
    sys.exit(main())
