#!/usr/bin/env python3
"""Loads the checkpoint of `dslc train examples/mobilenet.nn` (a
depthwise-separable CNN: grouped convolutions, batchnorm, hardswish, global
average pooling) into the same network built from torch.nn modules, with
`strict=True`, and evaluates it on the Fashion-MNIST test set. The
accuracy and loss must equal those in the run's metrics.json: the
checkpoint holds PyTorch's state_dict names, shapes and layouts
(`dw1.weight` is `[16, 1, 3, 3]`, as nn.Conv2d(16, 16, 3, groups=16) has it).

    /work/venv-bench/bin/python bench/pytorch_mobilenet_checkpoint.py out/model.safetensors out/metrics.json [DATA_DIR]

Prints both evaluations and `agree` (exit 0) or `DISAGREE` (exit 1).
"""

import json
import os
import sys

import torch
from safetensors.torch import load_file
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_train import DEFAULT_DATA, evaluate, load_split  # noqa: E402


def separable(inp, out, stride, index):
    """A depthwise 3x3 convolution and a pointwise 1x1 one, each with
    batchnorm and hardswish, named as in examples/mobilenet.nn."""
    return [
        (f"dw{index}", nn.Conv2d(inp, inp, 3, stride=stride, padding=1, groups=inp, bias=False)),
        (f"dw{index}_bn", nn.BatchNorm2d(inp)),
        (f"dw{index}_act", nn.Hardswish()),
        (f"pw{index}", nn.Conv2d(inp, out, 1, bias=False)),
        (f"pw{index}_bn", nn.BatchNorm2d(out)),
        (f"pw{index}_act", nn.Hardswish()),
    ]


def mobilenet():
    layers = [
        ("stem", nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False)),
        ("stem_bn", nn.BatchNorm2d(16)),
        ("stem_act", nn.Hardswish()),
        *separable(16, 32, 1, 1),
        *separable(32, 64, 2, 2),
        *separable(64, 64, 1, 3),
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(64, 10)),
    ]
    model = nn.Sequential()
    for name, module in layers:
        model.add_module(name, module)
    return model


def main():
    checkpoint, metrics_path = sys.argv[1], sys.argv[2]
    data = sys.argv[3] if len(sys.argv) > 3 else DEFAULT_DATA
    torch.set_num_threads(1)
    model = mobilenet()
    model.load_state_dict(load_file(checkpoint), strict=True)
    x_test, y_test = load_split(data, "t10k")
    accuracy, loss = evaluate(model, nn.CrossEntropyLoss(), x_test, y_test, 1000)
    with open(metrics_path) as f:
        ours = json.load(f)
    n = len(y_test)
    correct, ours_correct = round(accuracy * n), round(ours["test_accuracy"] * n)
    print(f"torch {torch.__version__} on the nnspec checkpoint: {correct}/{n} correct, "
          f"accuracy {accuracy:.4f}, loss {loss:.6f}")
    print(f"nnspec's own evaluation (metrics.json):      {ours_correct}/{n} correct, "
          f"accuracy {ours['test_accuracy']:.4f}, loss {ours['test_loss']:.6f}")
    same = correct == ours_correct and abs(loss - ours["test_loss"]) < 1e-4
    print("agree" if same else "DISAGREE")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
