#!/usr/bin/env python3
"""The tutorial MLP in int8: nnspec's post-training quantization against
onnxruntime's own static QDQ quantization of the same trained model, in
one run (issue 12, acceptance points 1 and 4).

    /work/venv-ort/bin/python bench/int8_vs_onnxruntime.py [--rounds 5] [--data DIR]

1. Accuracy (Fashion-MNIST): `dslc train examples/mnist_mlp.nn` (the
   tutorial: SGD lr 0.01, batch 100, 10 epochs), then
   * nnspec: `dslc quantize` (min/max calibration on 512 training
     samples): f32 and int8 test accuracy;
   * onnxruntime: `dslc export` of the same checkpoint, quantized by
     `onnxruntime.quantization.quantize_static` (QDQ, per-channel int8
     weights, uint8 activations, min/max on the same 512 samples), run on
     the same 10 000 test images.
2. Speed, batch 1 and batch 1000 on one thread, paired rounds:
   * nnspec's generated int8 and f32 Rust modules
     (`cargo bench -p nnspec-generated-int8-check --bench forward`);
   * onnxruntime running its own static QDQ int8 model, and our QDQ
     export (`dslc quantize`'s model.int8.onnx), all graph optimizations.
   onnxruntime's batch-1 figure includes Python's call overhead (printed
   as the floor: the same call on a one-node Identity graph).

The CPU, nnspec's kernel tiers and onnxruntime's version are printed first.
"""

import argparse
import gzip
import json
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
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
CALIBRATION = 512


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(data, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(data, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{stem} not in {data}")


def tutorial_scaling(images):
    """dslc's default scaling for uint8 images: (x/255 - 0.5)/0.5."""
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return (x - 0.5) / 0.5


def dslc(dslc_bin, *args):
    out = subprocess.run([dslc_bin, *args], cwd=ROOT, check=True, capture_output=True, text=True)
    return out.stdout


class Reader(CalibrationDataReader):
    def __init__(self, x):
        self.batches = iter([{"x": x[i:i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.batches, None)


def session(path, threads=1):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def accuracy(path, x, y):
    s = session(path, 2)
    logits = s.run(None, {"x": x})[0]
    return float((logits.argmax(1) == y).mean())


def time_calls(run, reps):
    for _ in range(min(reps, 200)):
        run()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return best


def identity_model(out_dir):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 784])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 784])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "floor", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = os.path.join(out_dir, "identity.onnx")
    onnx.save(model, path)
    return path


def onnxruntime_round(models, x1, x1000):
    out = {}
    for name, path in models.items():
        s = session(path, 1)
        out[(name, 1)] = time_calls(lambda: s.run(None, {"x": x1}), 20000)
        if name != "floor":
            out[(name, 1000)] = time_calls(lambda: s.run(None, {"x": x1000}), 200)
    return out


def generated_round():
    """The generated int8 and f32 modules' best times, from the bench's output lines
    `<variant> batch <n>: <best> us (median <m> us)`."""
    text = subprocess.run(
        ["cargo", "bench", "-q", "-p", "nnspec-generated-int8-check", "--bench", "forward"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    out = {"text": text}
    for variant in ("int8", "f32"):
        for batch in (1, 1000):
            m = re.search(r"%s\s*, batch %d: ([\d.]+) us" % (variant, batch), text)
            if m is None:
                raise SystemExit(f"no `{variant} batch {batch}` line in:\n{text}")
            out[(variant, batch)] = float(m.group(1)) * 1e-6
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--out", default=None, help="keep the run's files here")
    parser.add_argument("--accuracy-only", action="store_true", help="skip the timing rounds")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}; onnxruntime {ort.__version__}; nproc {os.cpu_count()}")
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "dslc"], cwd=ROOT, check=True)
    if not args.accuracy_only:
        subprocess.run(["cargo", "bench", "-q", "-p", "nnspec-generated-int8-check", "--bench",
                        "forward", "--no-run"], cwd=ROOT, check=True)
    dslc_bin = os.path.join(target_dir(), "release", "dslc")

    test_x = tutorial_scaling(idx(find(args.data, "t10k-images-idx3-ubyte")))
    test_y = idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64)

    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or tmp
        run_dir = os.path.join(work, "run")
        print(dslc(dslc_bin, "train", "examples/mnist_mlp.nn", "--data", args.data,
                   "--out", run_dir, "--force").strip().splitlines()[-1])
        weights = os.path.join(run_dir, "model.safetensors")
        q_dir = os.path.join(work, "int8")
        dslc(dslc_bin, "quantize", "examples/mnist_mlp.nn", "--weights", weights,
             "-o", q_dir, "--samples", str(CALIBRATION))
        with open(os.path.join(q_dir, "quantize.json")) as f:
            summary = json.load(f)
        f32_onnx = os.path.join(work, "mlp.onnx")
        dslc(dslc_bin, "export", "examples/mnist_mlp.nn", "--weights", weights, "-o", f32_onnx)
        # The same 512 calibration samples dslc quantize used: the first
        # of its training split are not the file's first, so onnxruntime
        # calibrates on the file's first 512 training images instead.
        train_x = tutorial_scaling(idx(find(args.data, "train-images-idx3-ubyte")))[:CALIBRATION]
        ort_int8 = os.path.join(work, "mlp.ort-int8.onnx")
        quantize_static(f32_onnx, ort_int8, Reader(train_x), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        ours_onnx = os.path.join(q_dir, "model.int8.onnx")

        print(f"accuracy on the {len(test_y)} test images (test split: the file's own):")
        print(f"  nnspec f32 {summary['f32_accuracy']:.4f}, nnspec int8 "
              f"{summary['int8_accuracy']:.4f} "
              f"({(summary['int8_accuracy'] - summary['f32_accuracy']) * 100:+.2f} points); "
              f"sizes {summary['f32_bytes']} -> {summary['int8_bytes']} bytes "
              f"({summary['int8_bytes'] / summary['f32_bytes'] * 100:.1f}%)")
        f32_ort = accuracy(f32_onnx, test_x, test_y)
        int8_ort = accuracy(ort_int8, test_x, test_y)
        ours_ort = accuracy(ours_onnx, test_x, test_y)
        print(f"  onnxruntime f32 {f32_ort:.4f}, onnxruntime static QDQ int8 {int8_ort:.4f} "
              f"({(int8_ort - f32_ort) * 100:+.2f} points); nnspec's QDQ export in "
              f"onnxruntime {ours_ort:.4f}")

        if args.accuracy_only:
            return
        x1 = test_x[:1].copy()
        x1000 = test_x[:1000].copy()
        models = {"ort-static-int8": ort_int8, "nnspec-qdq-in-ort": ours_onnx,
                  "ort-f32": f32_onnx, "floor": identity_model(work)}
        ratios = {"int8/f32 generated, batch 1000": [], "ort static int8/nnspec int8, batch 1000": [],
                  "ort static int8/nnspec int8, batch 1": []}
        for r in range(args.rounds):
            if r % 2 == 0:
                g, o = generated_round(), onnxruntime_round(models, x1, x1000)
            else:
                o = onnxruntime_round(models, x1, x1000)
                g = generated_round()
            if r == 0:
                print(g["text"].strip())
            ratios["int8/f32 generated, batch 1000"].append(g[("f32", 1000)] / g[("int8", 1000)])
            ratios["ort static int8/nnspec int8, batch 1000"].append(
                o[("ort-static-int8", 1000)] / g[("int8", 1000)])
            ratios["ort static int8/nnspec int8, batch 1"].append(
                o[("ort-static-int8", 1)] / g[("int8", 1)])
            line = [f"round {r + 1}:"]
            for b in (1, 1000):
                line.append(
                    f"batch {b}: nnspec int8 {g[('int8', b)] * 1e6:.2f} us, f32 "
                    f"{g[('f32', b)] * 1e6:.2f} us; onnxruntime static int8 "
                    f"{o[('ort-static-int8', b)] * 1e6:.2f} us, our QDQ "
                    f"{o[('nnspec-qdq-in-ort', b)] * 1e6:.2f} us, f32 {o[('ort-f32', b)] * 1e6:.2f} us")
            line.append(f"python floor {o[('floor', 1)] * 1e6:.2f} us")
            print("\n  ".join(line))
            sys.stdout.flush()
        print("median of per-round ratios (>1: nnspec int8 faster):")
        for key, values in ratios.items():
            print(f"  {key}: {statistics.median(values):.2f} "
                  f"({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
