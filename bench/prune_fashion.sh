#!/usr/bin/env bash
# Issue 12, acceptance 5: structured pruning of the tutorial MLP
# (examples/mnist_mlp.nn, 784-128-ReLU-10) on Fashion-MNIST to 50% of its
# hidden neurons, with 2 fine-tuning epochs: test accuracy before and
# after, and training and inference speed of the pruned model against the
# original (release build, kernel tier and CPU recorded).
#
#     bench/prune_fashion.sh [OUT]    # default bench/results/<today>-prune
#
# Needs the data set (`apt-get install dataset-fashion-mnist`) and, for the
# PyTorch load check, /work/venv-bench/bin/python (or $PYTHON) with torch
# and safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
OUT=${1:-bench/results/$(date -u +%F)-prune}
PYTHON=${PYTHON:-/work/venv-bench/bin/python}
ROUNDS=${ROUNDS:-3}
cargo build --release -p dslc
DSLC=${CARGO_TARGET_DIR:-target}/release/dslc
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

{
    echo "date: $(date -u '+%F %H:%M UTC')"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
    echo "avx512f: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "commit: $(git rev-parse --short HEAD)"
} > "$OUT/machine.txt"

# The original: the train block's 10 epochs.
"$DSLC" train examples/mnist_mlp.nn --data "$DATA" --out "$work/original" > "$OUT/train_original.log"
cp "$work/original/metrics.json" "$OUT/original_metrics.json"

# Half the hidden neurons, 2 fine-tuning epochs, and the fp16 copy.
"$DSLC" prune examples/mnist_mlp.nn --weights "$work/original/model.safetensors" \
    --sparsity 0.5 --structured --finetune 2 --fp16 -o "$work/pruned" > "$OUT/prune.log"
cp "$work/pruned/prune.json" "$work/pruned/mnist_mlp.nn" "$OUT/"

# `dslc eval` of the written model reproduces the report's accuracy.
"$DSLC" eval "$work/pruned/mnist_mlp.nn" --weights "$work/pruned/model.safetensors" \
    --out "$work/eval" > "$OUT/eval_pruned.log"

# Training speed: each model from scratch, 3 epochs, alternating rounds.
for round in $(seq "$ROUNDS"); do
    for model in original pruned; do
        file=examples/mnist_mlp.nn
        [ "$model" = pruned ] && file="$work/pruned/mnist_mlp.nn"
        "$DSLC" train "$file" --data "$DATA" --epochs 3 --out "$work/speed-$model-$round" > /dev/null
    done
done

if [ -x "$PYTHON" ]; then
    "$PYTHON" bench/pytorch_check_pruned.py "$work/pruned" > "$OUT/pytorch_check.txt" || true
fi

python3 - "$OUT" "$work" "$ROUNDS" <<'PY' | tee "$OUT/summary.txt"
import json, statistics, sys
out, work, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = json.load(open(f"{out}/prune.json"))
ev = json.load(open(f"{work}/eval/metrics.json"))
def rate(model, r):
    return json.load(open(f"{work}/speed-{model}-{r}/metrics.json"))["train_samples_per_s"]
orig = [rate("original", r) for r in range(1, rounds + 1)]
pruned = [rate("pruned", r) for r in range(1, rounds + 1)]
ratios = [b / a for a, b in zip(orig, pruned)]
before, after = p["accuracy_before"], p["accuracy_after"]
print(f"model: {p['model']} on {p['data']}, {p['mode']}")
print(f"parameters: {p['params_before'][0]} -> {p['params_after'][0]}")
print(f"checkpoint bytes: {p['bytes_before']} -> {p['bytes_after']} (fp16: {p['fp16']['bytes']})")
print(f"test accuracy: {before:.4f} before, {p['accuracy_pruned']:.4f} pruned, {after:.4f} after 2 fine-tuning epochs "
      f"({100 * (after - before):+.2f} points); fp16 {p['fp16']['accuracy']:.4f}")
print(f"dslc eval of the written model: {ev['test_accuracy']:.4f} ({'same' if ev['test_accuracy'] == after else 'DIFFERENT'})")
print(f"training samples/s, {rounds} rounds of 3 epochs: original {[round(x) for x in orig]}, pruned {[round(x) for x in pruned]}; "
      f"median ratio {statistics.median(ratios):.2f}x")
print(f"inference samples/s (batch 1000, best pass, {p['tier']} kernels, {p['threads']} threads): "
      f"original {p['inference_before']:.0f}, pruned {p['inference_after']:.0f}, ratio {p['inference_after'] / p['inference_before']:.2f}x")
print("loses at most 1 point:", "yes" if after >= before - 0.01 else "NO")
PY
