#!/usr/bin/env python3
"""The tutorial MLP's forward pass: nnspec's generated code against
onnxruntime running the same model exported to ONNX, in one run.

    python3 -m venv /work/venv-ort && /work/venv-ort/bin/pip install onnx onnxruntime numpy
    /work/venv-ort/bin/python bench/forward_vs_onnxruntime.py [--rounds 5]

Each round times both sides one after the other (alternating which goes
first): the generated side through `cargo bench -p nnspec-generated-check
--bench forward` (its own process, batch 1 and batch 1000 on 1 and 2
threads), onnxruntime through its Python API with the same thread counts.
onnxruntime's batch-1 figure includes Python's call overhead; the Python
floor (the same session call on a one-node Identity graph) is printed
beside it so the C++ core's share can be read off.

Every figure is the best of many repetitions, with the median; the ratios
printed are per round, then their median. The CPU and nnspec's kernel tier
are printed first.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def export_mlp(out_dir):
    """The tutorial MLP as ONNX, through `dslc export` (initial weights)."""
    path = os.path.join(out_dir, "mnist_mlp.onnx")
    subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "dslc", "--", "export",
         "examples/mnist_mlp.nn", "--no-weights", "-o", path],
        cwd=ROOT, check=True)
    return path


def identity_model(out_dir):
    """A one-node graph with the MLP's input: the cost of a session call."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 784])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 784])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "floor", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = os.path.join(out_dir, "identity.onnx")
    onnx.save(model, path)
    return path


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def time_calls(run, reps):
    for _ in range(min(reps, 200)):
        run()
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t)
    samples.sort()
    return samples[0], samples[len(samples) // 2]


def onnxruntime_round(mlp, floor):
    """{(batch, threads): (best seconds, median seconds)} and the floor."""
    out = {}
    x1 = np.full((1, 784), 0.25, dtype=np.float32)
    x1000 = (np.arange(1000 * 784, dtype=np.float32) % 255 / 255).reshape(1000, 784)
    for threads in (1, 2):
        s = session(mlp, threads)
        name = s.get_inputs()[0].name
        out[(1, threads)] = time_calls(lambda: s.run(None, {name: x1}), 20000)
        out[(1000, threads)] = time_calls(lambda: s.run(None, {name: x1000}), 200)
    f = session(floor, 1)
    fname = f.get_inputs()[0].name
    out["floor"] = time_calls(lambda: f.run(None, {fname: x1}), 20000)
    return out


def generated_round():
    """The generated code's figures, from its bench binary's output."""
    text = subprocess.run(
        ["cargo", "bench", "-q", "-p", "nnspec-generated-check", "--bench", "forward"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    out = {"header": text.splitlines()[0]}
    m = re.search(r"batch 1: ([\d.]+) us \(median ([\d.]+) us\)", text)
    out[(1, 1)] = (float(m.group(1)) * 1e-6, float(m.group(2)) * 1e-6)
    m = re.search(r"batch 1, 2 threads: ([\d.]+) us \(median ([\d.]+) us\)", text)
    out[(1, 2)] = (float(m.group(1)) * 1e-6, float(m.group(2)) * 1e-6)
    for threads in (1, 2):
        m = re.search(
            r"batch 1000, %d thread\(s\): ([\d.]+) us = [\d.]+ samples/s \(median ([\d.]+)\)"
            % threads, text)
        # The median is printed as samples/s: back to seconds per batch.
        out[(1000, threads)] = (float(m.group(1)) * 1e-6, 1000 / float(m.group(2)))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}; onnxruntime {ort.__version__}; nproc {os.cpu_count()}")
    subprocess.run(["cargo", "bench", "-q", "-p", "nnspec-generated-check", "--bench",
                    "forward", "--no-run"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        mlp, floor = export_mlp(tmp), identity_model(tmp)
        ratios = {k: [] for k in [(1, 1), (1, 2), (1000, 1), (1000, 2)]}
        for r in range(args.rounds):
            if r % 2 == 0:
                g, o = generated_round(), onnxruntime_round(mlp, floor)
            else:
                o = onnxruntime_round(mlp, floor)
                g = generated_round()
            if r == 0:
                print(g["header"])
            line = [f"round {r + 1}:"]
            for key in ratios:
                ratio = o[key][0] / g[key][0]
                ratios[key].append(ratio)
                batch, threads = key
                line.append(
                    f"batch {batch} {threads}t: nnspec {g[key][0] * 1e6:.2f} us, "
                    f"onnxruntime {o[key][0] * 1e6:.2f} us (x{ratio:.2})")
            line.append(f"python floor {o['floor'][0] * 1e6:.2f} us")
            print("\n  ".join(line))
            sys.stdout.flush()
        print("median ratio onnxruntime/nnspec (best times; >1: nnspec faster):")
        for (batch, threads), values in ratios.items():
            print(f"  batch {batch}, {threads} thread(s): {statistics.median(values):.2f}")


if __name__ == "__main__":
    main()
