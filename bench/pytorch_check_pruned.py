#!/usr/bin/env python3
"""Loads the checkpoints `dslc prune` wrote for the tutorial MLP into the
same model built in PyTorch, with `load_state_dict(strict=True)`, and
evaluates them on the Fashion-MNIST test set: the accuracy must equal the
one in prune.json. The hidden width is read off the checkpoint (a
structured prune makes fc1 narrower); the fp16 checkpoint's F16 tensors
are copied into the f32 model, as PyTorch's load_state_dict casts.

    python3 bench/pytorch_check_pruned.py DIR   # DIR holds model.safetensors, prune.json
"""

import json
import os
import sys

from safetensors.torch import load_file
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_train import DEFAULT_DATA, evaluate, load_split  # noqa: E402


def mlp(state):
    hidden, inputs = state["fc1.weight"].shape
    classes = state["fc2.weight"].shape[0]
    model = nn.Sequential()
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc1", nn.Linear(inputs, hidden))
    model.add_module("relu", nn.ReLU())
    model.add_module("fc2", nn.Linear(hidden, classes))
    model.load_state_dict(state, strict=True)
    return model, hidden


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "prune.json")) as f:
        report = json.load(f)
    x_test, y_test = load_split(DEFAULT_DATA, "t10k")
    checks = [("model.safetensors", report["accuracy_after"])]
    if report.get("fp16"):
        checks.append(("model.fp16.safetensors", report["fp16"]["accuracy"]))
    agree = True
    for name, ours in checks:
        state = load_file(os.path.join(out, name))
        dtypes = sorted({str(t.dtype) for t in state.values()})
        model, hidden = mlp(state)
        accuracy, loss = evaluate(model, nn.CrossEntropyLoss(), x_test, y_test, 1000)
        same = round(accuracy, 4) == round(ours, 4)
        agree &= same
        print(f"{name} ({', '.join(dtypes)}, hidden {hidden}): PyTorch accuracy {accuracy:.4f}, "
              f"dslc prune's {ours:.4f}: {'agree' if same else 'DISAGREE'}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
