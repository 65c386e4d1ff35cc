#!/usr/bin/env python3
"""Issue 15's round trip: the emitted torchrun script trains, nnspec takes the weights back.

1. `dslc build --emit pytorch-train` writes the training script of examples/digits_mlp.nn;
   it trains on the digits CSV in 1 process and under `torchrun --nproc_per_node 2` (gloo).
   Each checkpoint must pass `dslc eval` at >= 95%, with exactly the accuracy the script
   printed (the same test split and scaling: the check that the data port is exact).
2. The 2-process checkpoint goes through `dslc export` (ONNX, run in onnxruntime when it is
   installed), `dslc quantize` and `dslc serve` (one request, compared with the module).
3. The reverse: a `dslc train` checkpoint loads into the emitted module with strict=True, and
   the module gives `dslc predict`'s probabilities and `dslc eval`'s accuracy.
4. examples/mnist_mlp.nn on ../shared/data/fashion-mnist-small (IDX, 1 process), to show
   the IDX path and its scaling agree.

Usage: bench/pytorch_torchrun.py [--dslc target/debug/dslc] [--out DIR] [--record DIR]
Needs torch, numpy and safetensors (bench/requirements.txt). Exit 1 when a check fails.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import numpy as np
import torch
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
TORCHRUN = os.path.join(os.path.dirname(PYTHON), "torchrun")
failures = []


def run(cmd, log=None, env=None):
    """Runs a command, echoing it; its output goes to `log` (kept with the results)."""
    print("$", " ".join(cmd), flush=True)
    started = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    text = done.stdout + done.stderr
    if log:
        with open(log, "w") as f:
            f.write("$ " + " ".join(cmd) + "\n" + text)
    if done.returncode != 0:
        print(text)
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}")
    return done.stdout, time.time() - started


def check(name, ok, detail):
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)
    if not ok:
        failures.append(name)
    return {"check": name, "ok": bool(ok), "detail": detail}


def script_for(args, nn_file, out, model=()):
    """The training script of `nn_file`: `dslc build --emit pytorch-train`."""
    path = os.path.join(out, os.path.basename(nn_file).replace(".nn", "_train.py"))
    run([args.dslc, "build", nn_file, *model, "--emit", "pytorch-train", "-o", path])
    return path


def import_script(path):
    """The training script as a module (its main() runs only as __main__)."""
    spec = importlib.util.spec_from_file_location("emitted_" + str(abs(hash(path))), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def eval_accuracy(args, nn_file, weights, log, model=()):
    """`dslc eval`'s test accuracy, sample count and loss, from the metrics.json it writes."""
    out_dir = weights + ".eval"
    run([args.dslc, "eval", nn_file, *model, "--weights", weights, "--out", out_dir], log)
    with open(os.path.join(out_dir, "metrics.json")) as f:
        metrics = json.load(f)
    return metrics["test_accuracy"], metrics["test_samples"], metrics["test_loss"]


def train_with_script(script, data, out, processes, epochs, log, extra=()):
    cmd = [script, "--data", data, "--out", out, "--epochs", str(epochs), "--threads", "1"]
    cmd += list(extra)
    if processes == 1:
        cmd = [PYTHON, *cmd]
    else:
        cmd = [TORCHRUN, "--standalone", f"--nproc_per_node={processes}", *cmd]
    _, seconds = run(cmd, log)
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f), seconds


def digits_runs(args, out, results):
    nn_file = "examples/digits_mlp.nn"
    script = script_for(args, nn_file, out)
    data = os.path.join(ROOT, "runtime/assets/digits.csv.gz")
    # The CSV's default scaling is `none` (values as stored, 0..16); the tutorial's [-1, 1]
    # is what `--data digits` uses, and what SGD at lr 0.1 with momentum 0.9 is tuned for.
    extra = ["--normalize", "tutorial"]
    runs = {}
    for processes in (1, 2):
        run_dir = os.path.join(out, f"digits-{processes}proc")
        log = os.path.join(out, f"digits-{processes}proc.log")
        metrics, seconds = train_with_script(
            script, data, run_dir, processes, args.epochs, log, extra
        )
        weights = os.path.join(run_dir, "model.safetensors")
        accuracy, samples, loss = eval_accuracy(
            args, nn_file, weights, os.path.join(out, f"digits-{processes}proc-eval.log")
        )
        runs[processes] = {
            "trainer_test_accuracy": metrics["test_accuracy"],
            "dslc_eval_accuracy": accuracy,
            "trainer_test_loss": metrics["test_loss"],
            "dslc_eval_loss": loss,
            "test_samples": samples,
            "wall_seconds": round(seconds, 1),
            "train_seconds": round(metrics["train_seconds"], 3),
        }
        results["checks"].append(
            check(
                f"digits {processes} process(es): dslc eval >= 95%",
                accuracy >= 0.95,
                f"{accuracy:.4f} on {samples} samples",
            )
        )
        results["checks"].append(
            check(
                f"digits {processes} process(es): dslc eval == trainer's accuracy",
                accuracy == metrics["test_accuracy"],
                f"dslc eval {accuracy!r}, trainer {metrics['test_accuracy']!r}",
            )
        )
        loss_gap = abs(loss - metrics["test_loss"]) / max(abs(loss), 1e-12)
        results["checks"].append(
            check(
                f"digits {processes} process(es): dslc eval test loss == trainer's (1e-5 relative)",
                loss_gap <= 1e-5,
                f"dslc eval {loss!r}, trainer {metrics['test_loss']!r}",
            )
        )
    gap = abs(runs[1]["dslc_eval_accuracy"] - runs[2]["dslc_eval_accuracy"])
    results["checks"].append(
        check(
            "1 and 2 processes reach similar accuracy (within 2 points)", gap <= 0.02, f"{gap:.4f}"
        )
    )
    results["digits"] = runs
    return script, os.path.join(out, "digits-2proc", "model.safetensors")


def downstream(args, out, script, weights, results):
    """export, quantize and serve take the torchrun checkpoint unchanged."""
    nn_file = "examples/digits_mlp.nn"
    onnx_path = os.path.join(out, "digits.onnx")
    run(
        [args.dslc, "export", nn_file, "--weights", weights, "-o", onnx_path],
        os.path.join(out, "export.log"),
    )
    emitted = import_script(script)
    model = emitted.MODEL()
    model.load_state_dict(load_file(weights), strict=True)
    model.eval()
    x = torch.from_numpy(np.random.default_rng(15).uniform(-1, 1, (5, 64)).astype(np.float32))
    with torch.no_grad():
        expected = model(x).numpy()
    # onnxruntime may live in another environment (--ort-python): it runs the model there.
    np.save(os.path.join(out, "onnx-input.npy"), x.numpy())
    ort_python = args.ort_python or PYTHON
    snippet = (
        "import sys, numpy, onnxruntime; s = onnxruntime.InferenceSession(sys.argv[1]); "
        "numpy.save(sys.argv[3], s.run(None, {s.get_inputs()[0].name: numpy.load(sys.argv[2])})[0])"
    )
    got_path = os.path.join(out, "onnx-output.npy")
    run([ort_python, "-c", snippet, onnx_path, os.path.join(out, "onnx-input.npy"), got_path])
    diff = float(np.abs(np.load(got_path) - expected).max())
    results["checks"].append(
        check(
            "dslc export: onnxruntime gives the module's output",
            diff <= 1e-5,
            f"5 samples, max |diff| {diff:.2e}",
        )
    )
    quant_dir = os.path.join(out, "quantize")
    run(
        [args.dslc, "quantize", nn_file, "--weights", weights, "-o", quant_dir],
        os.path.join(out, "quantize.log"),
    )
    with open(os.path.join(quant_dir, "quantize.json")) as f:
        quant = json.load(f)
    results["quantize"] = {k: v for k, v in quant.items() if "accuracy" in k}
    results["checks"].append(
        check(
            "dslc quantize ran on the checkpoint",
            os.path.isfile(os.path.join(quant_dir, "model.int8.safetensors")),
            json.dumps(results["quantize"]),
        )
    )
    server = subprocess.Popen(
        [args.dslc, "serve", nn_file, "--weights", weights, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = server.stdout.readline().split()[-1]
        body = {
            "inputs": [
                {"name": "x", "shape": [5, 64], "datatype": "FP32", "data": x.reshape(-1).tolist()}
            ]
        }
        request = urllib.request.Request(
            f"{url}/v2/models/{emitted.MODEL.__name__}/infer",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            served = np.array(json.load(answer)["outputs"][0]["data"], dtype=np.float32).reshape(
                expected.shape
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    diff = float(np.abs(served - expected).max())
    results["checks"].append(
        check(
            "dslc serve answers the module's output",
            diff <= 1e-5,
            f"5 samples in one request, max |diff| {diff:.2e}",
        )
    )


def reverse(args, out, script, results):
    """A `dslc train` checkpoint in the emitted module (strict), against predict and eval."""
    nn_file = "examples/digits_mlp.nn"
    data = os.path.join(ROOT, "runtime/assets/digits.csv.gz")
    run_dir = os.path.join(out, "dslc-train")
    run(
        [
            args.dslc,
            "train",
            nn_file,
            "--data",
            data,
            "--normalize",
            "tutorial",
            "--epochs",
            str(args.epochs),
            "--threads",
            "1",
            "--out",
            run_dir,
            "--val-split",
            "0.1",
            "--force",
        ],
        os.path.join(out, "dslc-train.log"),
    )
    weights = os.path.join(run_dir, "model.safetensors")
    emitted = import_script(script)
    model = emitted.MODEL()
    model.load_state_dict(load_file(weights), strict=True)
    model.eval()
    # The trainer's own loader and split, as the script would see the data.
    train, test, _, _, _ = emitted.load_data(data, "tutorial", emitted.SEED, None)
    task = emitted.Task(emitted.loss_function(), 10)
    _, module_accuracy, _ = emitted.evaluate(model, task, test, torch.device("cpu"), 256)
    # dslc held out 10% of the training split for validation: the port must hold out the same
    # samples, so the module scores them as dslc did after its last epoch.
    seed = emitted.SEED ^ emitted.VALIDATION_STREAM
    _, held = emitted.held_out_split(train[1].tolist(), 10, 0.1, seed, "validation")
    val_loss, val_accuracy, _ = emitted.evaluate(
        model, task, (train[0][held], train[1][held]), torch.device("cpu"), 256
    )
    with open(os.path.join(run_dir, "metrics.json")) as f:
        last = json.load(f)["history"][-1]
    same = val_accuracy == last["val_accuracy"] and abs(val_loss - last["val_loss"]) <= 1e-5
    results["checks"].append(
        check(
            "dslc train --val-split 0.1: the module on the ported validation split gives dslc's",
            same,
            f"{len(held)} samples: loss {val_loss!r} vs {last['val_loss']!r}, "
            f"accuracy {val_accuracy!r} vs {last['val_accuracy']!r}",
        )
    )
    accuracy, _, _ = eval_accuracy(args, nn_file, weights, os.path.join(out, "dslc-train-eval.log"))
    results["checks"].append(
        check(
            "dslc train checkpoint: module accuracy on the ported split == dslc eval",
            module_accuracy == accuracy,
            f"module {module_accuracy!r}, dslc eval {accuracy!r}",
        )
    )
    raw = np.loadtxt(data, delimiter=",", dtype=np.float32)[:20, :-1]
    np.save(os.path.join(out, "predict-input.npy"), raw)
    predictions = os.path.join(out, "predict.csv")
    run(
        [
            args.dslc,
            "predict",
            nn_file,
            "--weights",
            weights,
            "--input",
            os.path.join(out, "predict-input.npy"),
            "-o",
            predictions,
        ]
    )
    table = np.loadtxt(predictions, delimiter=",", skiprows=1)
    x = emitted.normalize(torch.from_numpy(raw), "tutorial", 16.0)
    with torch.no_grad():
        probabilities = torch.softmax(model(x), dim=1).numpy()
    diff = float(np.abs(table[:, 2:] - probabilities).max())
    same_class = bool((table[:, 1] == probabilities.argmax(axis=1)).all())
    results["checks"].append(
        check(
            "dslc train checkpoint: module gives dslc predict's probabilities",
            diff <= 1e-5 and same_class,
            f"20 samples, max |diff| {diff:.2e}, classes equal: {same_class}",
        )
    )


def idx_run(args, out, results):
    nn_file = "examples/mnist_mlp.nn"
    data = os.path.realpath(os.path.join(ROOT, "..", "shared", "data", "fashion-mnist-small"))
    script = script_for(args, nn_file, out)
    run_dir = os.path.join(out, "fashion-1proc")
    metrics, seconds = train_with_script(
        script, data, run_dir, 1, args.idx_epochs, os.path.join(out, "fashion-1proc.log")
    )
    accuracy, samples, loss = eval_accuracy(
        args,
        nn_file,
        os.path.join(run_dir, "model.safetensors"),
        os.path.join(out, "fashion-1proc-eval.log"),
    )
    results["fashion"] = {
        "trainer_test_accuracy": metrics["test_accuracy"],
        "dslc_eval_accuracy": accuracy,
        "trainer_test_loss": metrics["test_loss"],
        "dslc_eval_loss": loss,
        "test_samples": samples,
        "wall_seconds": round(seconds, 1),
    }
    results["checks"].append(
        check(
            "fashion-mnist-small (IDX): dslc eval == trainer's accuracy",
            accuracy == metrics["test_accuracy"],
            f"dslc eval {accuracy!r}, trainer {metrics['test_accuracy']!r} on {samples} samples",
        )
    )


# Every other example model with a train block: (file, --model, data, processes, epochs, flags).
# Short runs: the point is that the script trains each one and that `dslc eval` then scores
# the checkpoint exactly as the script did (BatchNorm buffers, LSTM, token ids, two models in
# one file), not the accuracy.
EXAMPLES = [
    ("examples/lenet.nn", (), "fashion", 1, 1, ()),
    ("examples/mobilenet.nn", (), "fashion", 2, 1, ()),
    ("examples/inception.nn", (), "fashion", 1, 1, ()),
    (
        "examples/residual.nn",
        ("--model", "DigitsResNet"),
        "digits",
        2,
        3,
        ("--normalize", "tutorial"),
    ),
    ("examples/digits_lstm.nn", (), "digits", 1, 3, ("--normalize", "tutorial")),
    ("examples/digits_transformer.nn", (), "tokens", 1, 1, ()),
]


# Every train block feature the trainer drives, under 2 processes: Adam, dropout, gradient
# clipping, a warmup, a plateau schedule on the validation loss, a validation share and early
# stopping that restores the best epoch.
FEATURES_NN = """model DigitsMlp {
    input x: f32[64];
    output logits = x -> dense(64) as fc1 -> relu -> dropout(0.1) -> dense(10) as fc2;
}

train DigitsMlp {
    loss: cross_entropy,
    optimizer: adam(lr: 0.01),
    batch: 32,
    epochs: 12,
    clip: norm(max_norm: 1.0),
    schedule: plateau(patience: 1),
    warmup: 1,
    validation: 0.1,
    early_stopping: val_accuracy(patience: 3),
}
"""


def every_example(args, out, results):
    fashion = os.path.realpath(os.path.join(ROOT, "..", "shared", "data", "fashion-mnist-small"))
    digits = np.loadtxt(os.path.join(ROOT, "runtime/assets/digits.csv.gz"), delimiter=",")
    # digits_transformer's tokens: each pixel's position times 17 plus its intensity.
    tokens = np.concatenate([np.arange(64) * 17 + digits[:, :-1], digits[:, -1:]], axis=1)
    np.savetxt(os.path.join(out, "digit-tokens.csv"), tokens, fmt="%d", delimiter=",")
    data = {
        "fashion": fashion,
        "digits": os.path.join(ROOT, "runtime/assets/digits.csv.gz"),
        "tokens": os.path.join(out, "digit-tokens.csv"),
    }
    features = os.path.join(out, "train_block_features.nn")
    with open(features, "w") as f:
        f.write(FEATURES_NN)
    examples = [*EXAMPLES, (features, (), "digits", 2, 12, ("--normalize", "tutorial"))]
    results["examples"] = {}
    for nn_file, model, source, processes, epochs, flags in examples:
        name = os.path.basename(nn_file)[: -len(".nn")]
        script = script_for(args, nn_file, out, model)
        run_dir = os.path.join(out, f"{name}-{processes}proc")
        log = run_dir + ".log"
        metrics, seconds = train_with_script(
            script, data[source], run_dir, processes, epochs, log, flags
        )
        weights = os.path.join(run_dir, "model.safetensors")
        accuracy, samples, loss = eval_accuracy(
            args, nn_file, weights, run_dir + "-eval.log", model
        )
        results["examples"][name] = {
            "data": source,
            "processes": processes,
            "epochs": epochs,
            "trainer_test_accuracy": metrics["test_accuracy"],
            "dslc_eval_accuracy": accuracy,
            "trainer_test_loss": metrics["test_loss"],
            "dslc_eval_loss": loss,
            "wall_seconds": round(seconds, 1),
        }
        if "selection" in metrics:
            results["examples"][name]["selection"] = metrics["selection"]
        same = accuracy == metrics["test_accuracy"] and abs(
            loss - metrics["test_loss"]
        ) <= 1e-4 * abs(loss)
        results["checks"].append(
            check(
                f"{name} ({processes} process(es), {source}): dslc eval == trainer's",
                same,
                f"accuracy {accuracy!r} vs {metrics['test_accuracy']!r}, "
                f"loss {loss:.6f} vs {metrics['test_loss']:.6f} on {samples} samples",
            )
        )


def record(out, keep):
    """The small outputs, for bench/results/: logs, metrics.json files, results.json."""
    os.makedirs(keep, exist_ok=True)
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if name.endswith((".log", ".json")) or name == "predict.csv":
            shutil.copy(path, os.path.join(keep, name))
        metrics = os.path.join(path, "metrics.json")
        if os.path.isfile(metrics):
            shutil.copy(metrics, os.path.join(keep, name + "-metrics.json"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dslc", default=os.path.join(ROOT, "target/debug/dslc"))
    parser.add_argument("--out", default="/tmp/pytorch_torchrun")
    parser.add_argument("--record", help="copy the logs, metrics and results.json here")
    parser.add_argument("--ort-python", help="a Python with onnxruntime (default: this one)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--idx-epochs", type=int, default=3)
    args = parser.parse_args()
    args.dslc = os.path.abspath(args.dslc)
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    results = {
        "torch": torch.__version__,
        "script": "dslc build --emit pytorch-train",
        "epochs": args.epochs,
        "checks": [],
    }
    script, weights = digits_runs(args, args.out, results)
    downstream(args, args.out, script, weights, results)
    reverse(args, args.out, script, results)
    idx_run(args, args.out, results)
    every_example(args, args.out, results)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))
    if args.record:
        record(args.out, args.record)
    if failures:
        raise SystemExit(f"{len(failures)} check(s) failed: {failures}")


if __name__ == "__main__":
    main()
