#!/usr/bin/env python3
"""Training benchmark, nnspec against PyTorch: one model (`--model mlp|lenet`)
on Fashion-MNIST, trained by `dslc train examples/<model>.nn` (this
checkout's release build) and by bench/pytorch_train.py in three variants
(eager, torch.compile of the model, torch.compile of the whole step), on the
same machine in the same run, `--rounds` times each.

Each round runs nnspec and every PyTorch variant back to back; the order
alternates between rounds (nnspec first in odd rounds, last in even ones).
Reported: each side's median training throughput and test accuracy, the
ratio of nnspec's median to the FASTEST PyTorch variant's median (and to
every variant's), the per-round ratios, and nnspec's GFLOP/s as a fraction
of the FP32 FMA peak of the kernel tier it ran at, measured at run time by
the gemm bench's peak mode (`cargo bench -p nnspec-runtime --bench gemm --
peak`, see bench/README.md): the one-thread peak of that tier times
`--threads`. Both sides time the training loop only (no data loading, no
evaluation; PyTorch's compilation happens in untimed warm-up steps).

`--tier avx2` holds both sides to AVX2 (NNSPEC_KERNELS=avx2 for dslc;
ATEN_CPU_CAPABILITY=avx2, MKL_ENABLE_INSTRUCTIONS=AVX2 and
ONEDNN_MAX_CPU_ISA=AVX2 for PyTorch), `--tier avx512` to AVX-512
(NNSPEC_KERNELS=avx512; ATEN_CPU_CAPABILITY=avx512,
MKL_ENABLE_INSTRUCTIONS=AVX512, ONEDNN_MAX_CPU_ISA=AVX512_CORE), and
`--tier native` (the default) sets none of these (and removes them if
inherited): each side picks the best its CPU runs.

    python3 bench/train_vs_pytorch.py --model mlp|lenet [--rounds 3] [--threads 2]
        [--epochs N] [--tier avx2|avx512|native] [--variants eager,compile-model,compile-step]

The last line on stdout is one JSON object with everything.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
VARIANTS = ("eager", "compile-model", "compile-step")

# FLOPs per training sample (forward + backward; 2 FLOPs per multiply-add).
# The input needs no gradient, so the first layer has no input-gradient product.
#
# mlp (784 -> 128 -> 10): forward 784·128 + 128·10 MACs; backward dW1 784·128,
# dW2 128·10, dH 128·10:
#   2·(784·128 + 128·10) + 2·784·128 + 2·128·10 + 2·128·10 = 409 088
#
# lenet: MACs of a conv = out_channels · out_h · out_w · in_channels · k · k;
# of a dense layer = in · out. Each layer does that many MACs forward, as many
# for its weight gradient, and as many for its input gradient (not conv1):
#   conv1 6·28·28·(1·5·5) = 117 600   (forward + dW: ×2)
#   conv2 16·10·10·(6·5·5) = 240 000  (forward + dW + dX: ×3)
#   fc1 400·120 = 48 000, fc2 120·84 = 10 080, fc3 84·10 = 840 (×3 each)
#   MACs = 2·117 600 + 3·(240 000 + 48 000 + 10 080 + 840) = 1 131 960
#   FLOPs = 2·MACs = 2 263 920
# (Biases, ReLU, pooling, softmax and the update are O(activations), left out.)
FLOPS_PER_SAMPLE = {
    "mlp": 2 * (784 * 128 + 128 * 10) + 2 * 784 * 128 + 2 * 128 * 10 + 2 * 128 * 10,
    "lenet": 2 * (2 * 6 * 28 * 28 * 1 * 5 * 5
                  + 3 * (16 * 10 * 10 * 6 * 5 * 5 + 400 * 120 + 120 * 84 + 84 * 10)),
}
MODEL_FILES = {"mlp": "examples/mnist_mlp.nn", "lenet": "examples/lenet.nn"}

TIER_ENV = {
    "avx2": ({"NNSPEC_KERNELS": "avx2"},
             {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
              "ONEDNN_MAX_CPU_ISA": "AVX2"}),
    "avx512": ({"NNSPEC_KERNELS": "avx512"},
               {"ATEN_CPU_CAPABILITY": "avx512", "MKL_ENABLE_INSTRUCTIONS": "AVX512",
                "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}),
    "native": ({}, {}),
}
PINNING_VARS = ("NNSPEC_KERNELS", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


def env_with(extra):
    env = {k: v for k, v in os.environ.items() if k not in PINNING_VARS}
    env.update(extra)
    return env


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def target_dir():
    """Cargo's target directory for this checkout (honors CARGO_TARGET_DIR and config)."""
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["target_directory"]


def measure_peak(nnspec_env, threads):
    """The FP32 FMA peak of the tier dslc runs at under `nnspec_env`, from the
    gemm bench's peak mode. Its output (runtime/benches/gemm.rs) looks like
        CPU: AMD EPYC; tiers it runs: avx512, avx2, portable; this process's tier: avx2
        peak FP32 FMA, avx2, 1 thread(s): 118 GFLOP/s
    The same NNSPEC_KERNELS value gives the bench process the same tier as dslc."""
    proc = subprocess.run(["cargo", "bench", "-q", "-p", "nnspec-runtime", "--bench", "gemm", "--", "peak"],
                          cwd=ROOT, env=env_with(nnspec_env), check=True, capture_output=True, text=True)
    text = proc.stdout
    m = re.search(r"this process's tier: (\w+)", text)
    tier = m.group(1) if m else None
    peaks = {}
    for t, n, g in re.findall(r"peak FP32 FMA, (\w+), (\d+) thread\(s\): ([\d.]+) GFLOP/s", text):
        peaks.setdefault(t, {})[int(n)] = float(g)
    one = peaks.get(tier, {}).get(1)
    return {
        "tier": tier,
        "per_thread_gflops": one,
        "gflops": one * threads if one else None,  # the one-thread peak times --threads
        "measured_at_threads": peaks.get(tier, {}).get(threads),  # when the bench measured this count
        "all": peaks,
        "source": "cargo bench -p nnspec-runtime --bench gemm -- peak",
    }


def run_nnspec(dslc, model, data, threads, epochs, out, env):
    cmd = [dslc, "train", os.path.join(ROOT, MODEL_FILES[model]), "--data", data,
           "--threads", str(threads), "--out", out]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    return {"test_accuracy": m["test_accuracy"], "train_samples_per_s": m["train_samples_per_s"]}


def run_pytorch(model, variant, data, threads, epochs, env):
    cmd = [sys.executable, os.path.join(ROOT, "bench", "pytorch_train.py"), "--model", model,
           "--variant", variant, "--data", data, "--threads", str(threads)]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        err = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        result = {"available": False, "error": err[:500]}
    if proc.returncode != 0 and result.get("available", True):
        result = {"available": False, "error": f"exit status {proc.returncode}"}
    return result


def fmt_speed(v):
    return f"{v:>12,.0f}" if v is not None else f"{'n/a':>12}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(MODEL_FILES), default="mlp")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, help="passed to both sides (default: the train block's)")
    ap.add_argument("--tier", choices=sorted(TIER_ENV), default="native")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated PyTorch variants (default: all three)")
    ap.add_argument("--data", default=DEFAULT_DATA)
    args = ap.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r} (choose from {', '.join(VARIANTS)})")
    nnspec_extra, torch_extra = TIER_ENV[args.tier]
    nnspec_env, torch_env = env_with(nnspec_extra), env_with(torch_extra)

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "dslc"], cwd=ROOT, check=True)
    dslc = os.path.join(target_dir(), "release", "dslc")
    peak = measure_peak(nnspec_extra, args.threads)
    flops = FLOPS_PER_SAMPLE[args.model]

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"CPU: {cpu_model()}; {os.cpu_count()} logical CPUs; load average {loadavg()}; {started}")
    print(f"model {args.model} ({MODEL_FILES[args.model]}), {args.threads} thread(s), "
          f"epochs {args.epochs if args.epochs is not None else 'of the train block'}, {args.rounds} round(s)")
    print(f"tier {args.tier}: nnspec runs {peak['tier']} "
          f"(env {' '.join(f'{k}={v}' for k, v in nnspec_extra.items()) or 'none'}); PyTorch env "
          f"{' '.join(f'{k}={v}' for k, v in torch_extra.items()) or 'none'}")
    print(f"dslc: {dslc}")
    if peak["per_thread_gflops"]:
        extra = (f" (the bench's own {args.threads}-thread run: {peak['measured_at_threads']:.0f})"
                 if peak["measured_at_threads"] else "")
        print(f"FP32 FMA peak of {peak['tier']} ({peak['source']}): {peak['per_thread_gflops']:.0f} GFLOP/s "
              f"per thread, x{args.threads} = {peak['gflops']:.0f} GFLOP/s{extra}")
    else:
        print(f"FP32 FMA peak of tier {peak['tier']}: not measured by the gemm bench (portable tier?)")
    print(flush=True)

    ours = []
    theirs = {v: [] for v in variants}
    backend = None
    with tempfile.TemporaryDirectory() as tmp:
        # A fresh Inductor cache per run of this script (shared by its rounds, which
        # all use the same tier and thread count): with the default shared cache in
        # /tmp/torchinductor_$USER, filled by earlier runs at other thread counts and
        # tiers, LeNet's compiled variants trained to NaN from the first step at 2
        # threads (2026-11-28, PyTorch 2.15); a fresh cache trained normally.
        torch_env["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(tmp, "inductor-cache")
        for r in range(args.rounds):
            order = ["nnspec"] + variants if r % 2 == 0 else variants + ["nnspec"]
            parts = []
            for side in order:
                if side == "nnspec":
                    res = run_nnspec(dslc, args.model, args.data, args.threads, args.epochs,
                                     os.path.join(tmp, f"run{r}"), nnspec_env)
                    ours.append(res)
                    parts.append(f"nnspec {res['train_samples_per_s']:,.0f}/s acc {res['test_accuracy']:.4f}")
                else:
                    res = run_pytorch(args.model, side, args.data, args.threads, args.epochs, torch_env)
                    theirs[side].append(res)
                    if backend is None and "backend" in res:
                        backend = res["backend"]
                    if res.get("available"):
                        parts.append(f"{side} {res['train_samples_per_s']:,.0f}/s acc {res['test_accuracy']:.4f}"
                                     + (" DIVERGED (loss NaN/inf)" if res.get("diverged") else ""))
                    else:
                        parts.append(f"{side} unavailable")
            print(f"round {r + 1}: " + " | ".join(parts), flush=True)

    if backend:
        print()
        print(f"PyTorch {backend['torch_version']}: CPU capability {backend['cpu_capability']}, "
              f"BLAS {backend['blas']}, MKL available {backend['mkl_available']}, "
              f"oneDNN (mkldnn) available {backend['mkldnn_available']} enabled {backend.get('mkldnn_enabled')}, "
              f"threads {args.threads}")
        for line in backend["config_lines"]:
            print(f"  {line}")
    errors = {v: rs[0].get("error") for v, rs in theirs.items() if rs and not rs[0].get("available")}
    for v, e in errors.items():
        print(f"PyTorch {v}: unavailable: {e}")

    def med(rs, key):
        vals = [x[key] for x in rs if x.get("available", True) and key in x]
        return statistics.median(vals) if len(vals) == len(rs) and vals else None

    speed_ours = med(ours, "train_samples_per_s")
    acc_ours = med(ours, "test_accuracy")
    summary = {v: {"samples_per_s": med(rs, "train_samples_per_s"), "test_accuracy": med(rs, "test_accuracy"),
                   "warmup_seconds": med(rs, "warmup_seconds"),
                   "inductor_isa": next((x["inductor_isa"] for x in rs if "inductor_isa" in x), None)}
               for v, rs in theirs.items()}
    for v, s in summary.items():
        if s["samples_per_s"] is not None and v != "eager":
            print(f"PyTorch {v}: untimed warm-up incl. compilation {s['warmup_seconds']:.1f}s (median), "
                  f"Inductor vector ISA {s['inductor_isa']}")
    avail = {v: s for v, s in summary.items() if s["samples_per_s"] is not None}
    fastest = max(avail, key=lambda v: avail[v]["samples_per_s"]) if avail else None

    print()
    print(f"{'':22} {'test accuracy':>14} {'samples/s (median)':>19} {'nnspec / this':>14}")
    print(f"{'nnspec':22} {acc_ours:>14.4f} {fmt_speed(speed_ours):>19}")
    for v, s in summary.items():
        if s["samples_per_s"] is None:
            print(f"{'pytorch ' + v:22} {'unavailable':>14}")
            continue
        mark = "  <- fastest PyTorch" if v == fastest else ""
        print(f"{'pytorch ' + v:22} {s['test_accuracy']:>14.4f} {fmt_speed(s['samples_per_s']):>19} "
              f"{speed_ours / s['samples_per_s']:>13.2f}x{mark}")

    ratio = round_ratios = None
    if fastest:
        ratio = speed_ours / avail[fastest]["samples_per_s"]
        round_ratios = [o["train_samples_per_s"] / t["train_samples_per_s"]
                        for o, t in zip(ours, theirs[fastest])]
        print(f"nnspec / fastest PyTorch ({fastest}): {ratio:.2f}x (ratio of the medians); per round: "
              f"{', '.join(f'{x:.2f}' for x in round_ratios)}")
        print(f"accuracy difference vs {fastest}: "
              f"{100 * (acc_ours - avail[fastest]['test_accuracy']):+.2f} points")
    gflops = speed_ours * flops / 1e9
    frac = gflops / peak["gflops"] if peak["gflops"] else None
    print(f"nnspec: {flops:,} FLOP per training sample, {gflops:.0f} GFLOP/s"
          + (f" = {100 * frac:.0f}% of the {peak['gflops']:.0f} GFLOP/s {peak['tier']} peak "
             f"({args.threads} x {peak['per_thread_gflops']:.0f})" if frac is not None else ""))
    print(f"load average at the end: {loadavg()}")
    print(json.dumps({
        "model": args.model, "tier": args.tier, "threads": args.threads, "epochs": args.epochs,
        "rounds": args.rounds, "cpu": cpu_model(), "started": started, "dslc": dslc,
        "nnspec_env": nnspec_extra, "pytorch_env": torch_extra, "peak": peak,
        "flops_per_sample": flops, "nnspec_gflops": gflops, "nnspec_peak_fraction": frac,
        "nnspec": ours, "nnspec_median_samples_per_s": speed_ours,
        "pytorch": {v: [{k: x.get(k) for k in ("available", "error", "train_samples_per_s", "test_accuracy",
                                               "warmup_seconds", "inductor_isa", "diverged")} for x in rs]
                    for v, rs in theirs.items()},
        "pytorch_median": summary, "pytorch_backend": backend, "fastest_pytorch": fastest,
        "ratio_vs_fastest": ratio, "round_ratios_vs_fastest": round_ratios,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
