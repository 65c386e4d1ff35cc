#!/usr/bin/env python3
"""The tutorial MLP and LeNet on Fashion-MNIST, exported to TensorFlow
Lite and run by Google's LiteRT: f32 and int8 accuracy and file sizes
(issue 13, acceptance points 2 and 3).

    /work/venv-ort/bin/python bench/tflite_accuracy.py [--data DIR] [--out DIR]

For each model: `dslc train` on the data (the model's train block:
the tutorial MLP is SGD lr 0.01, batch 100, 10 epochs), `dslc quantize`
(nnspec's own f32 and int8 test accuracy, min/max calibration on 512
training samples), `dslc export -o model.tflite` and `dslc export --int8
-o model.int8.tflite` (the same calibration), then LiteRT runs both files
on the 10 000 test images (NHWC for LeNet, as the export's metadata says).
The target: LiteRT's int8 accuracy within 0.5 points of LiteRT's f32, and
the int8 file at most 30% of the f32 file.

The CPU and LiteRT's version are printed first.
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from ai_edge_litert import interpreter as litert

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
MODELS = [("tutorial MLP", "examples/mnist_mlp.nn"), ("LeNet", "examples/lenet.nn")]


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


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


def dslc(dslc_bin, *args):
    out = subprocess.run([dslc_bin, *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"dslc {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
    return out.stdout


def litert_accuracy(path, x, y, batch=1000):
    """Top-1 accuracy of the .tflite file at `path` on images `x` (already
    in the file's input layout and scaling)."""
    interp = litert.Interpreter(model_path=path, num_threads=2)
    index = interp.get_input_details()[0]["index"]
    out_index = interp.get_output_details()[0]["index"]
    interp.resize_tensor_input(index, [batch, *x.shape[1:]], strict=True)
    interp.allocate_tensors()
    right = 0
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        if len(chunk) != batch:
            interp.resize_tensor_input(index, [len(chunk), *x.shape[1:]], strict=True)
            interp.allocate_tensors()
        interp.set_tensor(index, chunk)
        interp.invoke()
        right += int((interp.get_tensor(out_index).argmax(1) == y[start:start + batch]).sum())
    return right / len(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--out", default=None, help="keep the run's files here")
    args = parser.parse_args()
    from importlib.metadata import version
    print(f"CPU: {cpu_name()}; ai-edge-litert {version('ai-edge-litert')}; nproc {os.cpu_count()}")
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "dslc"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    dslc_bin = os.path.join(target, "release", "dslc")

    images = idx(find(args.data, "t10k-images-idx3-ubyte")).astype(np.float32)
    # dslc's default scaling of uint8 images, (x / 255 - 0.5) / 0.5; the
    # exported metadata records it as mean 127.5, std 127.5 on raw pixels.
    scaled = (images / 255.0 - 0.5) / 0.5
    labels = idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64)
    inputs = {
        "examples/mnist_mlp.nn": scaled.reshape(len(scaled), 784),
        "examples/lenet.nn": scaled.reshape(len(scaled), 28, 28, 1),  # NHWC
    }

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or tmp
        for name, source in MODELS:
            stem = os.path.splitext(os.path.basename(source))[0]
            run_dir = os.path.join(work, stem)
            last = dslc(dslc_bin, "train", source, "--data", args.data, "--out", run_dir,
                        "--force").strip().splitlines()[-1]
            print(f"{name}: {last}")
            weights = os.path.join(run_dir, "model.safetensors")
            q_dir = os.path.join(run_dir, "int8")
            dslc(dslc_bin, "quantize", source, "--weights", weights, "-o", q_dir,
                 "--samples", "512")
            with open(os.path.join(q_dir, "quantize.json")) as f:
                summary = json.load(f)
            f32_file = os.path.join(run_dir, "model.tflite")
            int8_file = os.path.join(run_dir, "model.int8.tflite")
            print(dslc(dslc_bin, "export", source, "--weights", weights, "-o", f32_file).strip())
            print(dslc(dslc_bin, "export", source, "--weights", weights, "--int8",
                       "--samples", "512", "-o", int8_file).strip())
            f32 = litert_accuracy(f32_file, inputs[source], labels)
            int8 = litert_accuracy(int8_file, inputs[source], labels)
            rows.append((name, summary["f32_accuracy"], f32, summary["int8_accuracy"], int8,
                         os.path.getsize(f32_file), os.path.getsize(int8_file)))

    print(f"\naccuracy on the {len(labels)} Fashion-MNIST test images:")
    print("| model | nnspec f32 | LiteRT f32 | nnspec int8 | LiteRT int8 | LiteRT int8 - f32 "
          "| f32 file | int8 file | int8/f32 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    failed = False
    for name, nn_f32, lt_f32, nn_int8, lt_int8, f32_bytes, int8_bytes in rows:
        drop = (lt_int8 - lt_f32) * 100
        ratio = int8_bytes / f32_bytes
        failed |= drop < -0.5 or ratio > 0.30
        print(f"| {name} | {nn_f32:.2%} | {lt_f32:.2%} | {nn_int8:.2%} | {lt_int8:.2%} "
              f"| {drop:+.2f} points | {f32_bytes} B | {int8_bytes} B | {ratio:.1%} |")
    print("targets (int8 within 0.5 points of f32 in LiteRT, int8 file <= 30%):",
          "MISSED" if failed else "met")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
