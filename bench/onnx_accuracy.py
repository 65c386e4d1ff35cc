"""The exported model's test accuracy in onnxruntime against nnspec's.

    dslc train examples/mnist_mlp.nn --data /usr/share/datasets/fashion-mnist --out OUT
    dslc export examples/mnist_mlp.nn --weights OUT/model.safetensors -o OUT/model.onnx
    python bench/onnx_accuracy.py OUT [--data /usr/share/datasets/fashion-mnist]

Runs OUT/model.onnx in onnxruntime over the test set (t10k IDX files),
scaled as nnspec's default for images ((x/255 - 0.5)/0.5), and compares
the confusion matrix, sample by sample counts per (label, prediction),
with the one `dslc train` wrote to OUT/metrics.json. Exits 1 if they
differ. Needs numpy and onnxruntime (tests/onnx/requirements.txt).
"""

import argparse
import gzip
import json
import pathlib
import sys

import numpy as np
import onnxruntime as ort


def read_idx(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(directory, stem):
    for name in (stem + ".gz", stem):
        if (directory / name).exists():
            return directory / name
    sys.exit(f"no {stem}[.gz] in {directory}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=pathlib.Path, help="dslc train's --out directory")
    parser.add_argument(
        "--data", type=pathlib.Path, default=pathlib.Path("/usr/share/datasets/fashion-mnist")
    )
    args = parser.parse_args()
    metrics = json.loads((args.out / "metrics.json").read_text())
    images = read_idx(find(args.data, "t10k-images-idx3-ubyte")).astype(np.float32)
    labels = read_idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64)
    session = ort.InferenceSession(
        str(args.out / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    inputs = session.get_inputs()[0]
    per_sample = [d for d in inputs.shape[1:]]
    x = ((images / 255.0 - 0.5) / 0.5).astype(np.float32).reshape([len(images)] + per_sample)
    logits = np.concatenate(
        [session.run(None, {inputs.name: x[i : i + 1000]})[0] for i in range(0, len(x), 1000)]
    )
    predictions = logits.argmax(axis=1)
    classes = logits.shape[1]
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    correct = int(np.trace(confusion))
    nnspec = np.array(metrics["confusion_matrix"], dtype=np.int64)
    nnspec_correct = int(np.trace(nnspec))
    print(f"onnxruntime {ort.__version__}: {correct}/{len(labels)} correct "
          f"(accuracy {correct / len(labels):.4f})")
    print(f"nnspec ({metrics['model']}): {nnspec_correct}/{int(nnspec.sum())} correct "
          f"(accuracy {metrics['test_accuracy']:.4f})")
    same = confusion.shape == nnspec.shape and (confusion == nnspec).all()
    print("confusion matrices: " + ("identical" if same else "DIFFERENT"))
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
