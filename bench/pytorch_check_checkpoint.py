#!/usr/bin/env python3
"""Loads a checkpoint written by `dslc train examples/mnist_mlp.nn` into the
same model built in PyTorch and evaluates it on the Fashion-MNIST test set:
the accuracy must equal the one in the run's metrics.json (the checkpoint
uses PyTorch's state_dict names and layouts).

    python3 bench/pytorch_check_checkpoint.py out/model.safetensors out/metrics.json
"""

import json
import os
import sys

import torch
from safetensors.torch import load_file
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_mlp import DEFAULT_DATA, evaluate, load_split  # noqa: E402


def main():
    checkpoint, metrics_path = sys.argv[1], sys.argv[2]
    model = nn.Sequential()
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc1", nn.Linear(784, 128))
    model.add_module("relu", nn.ReLU())
    model.add_module("fc2", nn.Linear(128, 10))
    state = load_file(checkpoint)
    model.load_state_dict(state, strict=True)
    x_test, y_test = load_split(DEFAULT_DATA, "t10k")
    accuracy, loss = evaluate(model, nn.CrossEntropyLoss(), x_test, y_test, 1000)
    with open(metrics_path) as f:
        ours = json.load(f)
    print(f"pytorch on the nnspec checkpoint: accuracy {accuracy:.4f}, loss {loss:.4f}")
    print(f"nnspec's own evaluation:          accuracy {ours['test_accuracy']:.4f}, loss {ours['test_loss']:.4f}")
    same = round(accuracy, 4) == round(ours["test_accuracy"], 4) and abs(loss - ours["test_loss"]) < 1e-4
    print("agree" if same else "DISAGREE")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
