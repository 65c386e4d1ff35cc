#!/usr/bin/env python3
"""Literal numbers for runtime/tests/losses.rs: PyTorch's losses (mean
reduction) and their gradients on fixed inputs, and scikit-learn's
regression metrics on fixed predictions, printed as Rust constants (f32
with 9 significant digits, f64 with 17).

    python3 -m venv /work/venv-bench && /work/venv-bench/bin/pip install torch scikit-learn
    /work/venv-bench/bin/python bench/pytorch_losses.py

The tests hold the printed constants; rerun this when an input changes.
"""

import numpy as np
import sklearn
import torch
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

# Four samples of three values: differences both below and above 1 and
# 0.5 (smooth L1's two branches), one exactly 0 (L1's sign(0) = 0).
Y = [0.5, -1.25, 2.0, 0.125, -0.75, 3.0, -0.3, 0.1, 0.7, -2.2, 1.5, 0.0]
T = [0.25, -1.25, 0.5, 1.0, -0.5, 1.25, 0.0, 0.6, -1.2, -2.0, 3.0, 0.3]
# Logits, some large (the stable path), and 0/1 targets.
X = [0.5, -1.25, 2.0, 30.0, -0.75, 3.0, -0.3, -25.0, 0.7, -2.2, 1.5, 0.0]
B = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
# Cross-entropy: four samples of three classes.
LABELS = [2, 0, 1, 2]
WEIGHT = [0.2, 1.0, 3.0]


def rust_f32(v):
    text = format(float(v), ".9g")
    # A Rust float literal needs a point or an exponent.
    return text if any(c in text for c in ".en") else text + ".0"


def f32(name, values):
    values = np.asarray(values, dtype=np.float32).flatten()
    body = ", ".join(rust_f32(v) for v in values)
    print(f"const {name}: [f32; {len(values)}] = [{body}];")


def f64(name, value):
    print(f"const {name}: f64 = {float(value)!r};")


def run(name, loss_fn, y, target, shape=(-1,)):
    y = torch.tensor(y, dtype=torch.float32).reshape(shape).requires_grad_(True)
    loss = loss_fn(y, target)
    loss.backward()
    f64(f"{name}_LOSS", loss.item())
    f32(f"{name}_GRAD", y.grad)


print(f"// torch {torch.__version__}, scikit-learn {sklearn.__version__}")
t = torch.tensor(T, dtype=torch.float32)
run("MSE", torch.nn.MSELoss(), Y, t)
run("L1", torch.nn.L1Loss(), Y, t)
run("SMOOTH_L1", torch.nn.SmoothL1Loss(beta=1.0), Y, t)
run("SMOOTH_L1_HALF", torch.nn.SmoothL1Loss(beta=0.5), Y, t)
run("BCE", torch.nn.BCEWithLogitsLoss(), X, torch.tensor(B))

labels = torch.tensor(LABELS)
w = torch.tensor(WEIGHT)
for name, kwargs in [
    ("CE", {}),
    ("CE_SMOOTH", {"label_smoothing": 0.1}),
    ("CE_WEIGHT", {"weight": w}),
    ("CE_WEIGHT_SMOOTH", {"weight": w, "label_smoothing": 0.2}),
]:
    run(name, torch.nn.CrossEntropyLoss(**kwargs), Y, labels, shape=(4, 3))

# Regression metrics: five samples of two targets (uniform average).
truth = np.array([[3.0, -0.5], [2.0, 0.0], [7.0, 2.0], [4.5, 1.0], [1.0, 0.25]])
pred = np.array([[2.5, 0.0], [2.0, -0.5], [8.0, 2.0], [4.0, 1.5], [1.5, 0.0]])
f32("METRICS_TRUE", truth)
f32("METRICS_PRED", pred)
f64("SK_MAE", mean_absolute_error(truth, pred))
f64("SK_RMSE", root_mean_squared_error(truth, pred))
f64("SK_R2", r2_score(truth, pred))
