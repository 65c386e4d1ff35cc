#!/usr/bin/env python3
"""Issue 15, acceptance 1: every example model emitted as a PyTorch module
(`dslc build FILE --emit pytorch --model M`) and loaded with nnspec's
weights computes the executor's outputs within 1e-5 and the same parameter
gradients within 1e-4 relative, on one batch.

The executor's side is bench/pytorch-check (a Rust tool outside the
workspace): for every model of examples/*.nn (and of the emitter's
codegen/tests/pytorch/every_op.nn, the layers and losses the examples do
not use, and of bench/pytorch-check/losses.nn, l1) it writes one safetensors file with the state_dict, the batch,
the inference and training-mode outputs, the training loss and every
trainable parameter's gradient. This script emits each model, imports
the file, loads the state_dict with strict=True and compares:

- outputs, eval mode:   |torch - nnspec| <= 1e-5 * max(1, |nnspec|) per element;
- train mode:           the same bound on the outputs (batch statistics) and
                        on the loss of the batch;
- gradients:            ||g_torch - g_nnspec|| / ||g_nnspec|| <= 1e-4 per parameter;
  except a gradient that is zero in exact arithmetic (the module run in
  float64 gives ~1e-15: a bias before a BatchNorm over the batch, a head
  the loss does not read), which has no meaningful relative error; both float32 values must then be below 1e-6
  of the model's largest gradient norm.

The same module run in float64 is a third opinion: the columns nn~f64 and
pt~f64 give the largest relative gradient error of nnspec's and of torch's
float32 gradients against it, so a difference shows which side it is on.

A model with dropout is differentiated with its rate set to 0 (the
executor's masks are not torch's): its eval outputs come from the module
emitted from the file as written, its gradients from the module emitted
from the rewritten text pytorch-check saved. A model without a train block
is differentiated under the loss pytorch-check chose (in its index).

    cargo build -p dslc
    /work/venv-bench/bin/python bench/pytorch_emitted.py --dslc target/debug/dslc
    # or with references already written:
    #   cargo run --manifest-path bench/pytorch-check/Cargo.toml -- --out /tmp/refs
    #   ... bench/pytorch_emitted.py --dslc target/debug/dslc --refs /tmp/refs

Prints one row per model and PASS or FAIL; exits 1 on any failure.
"""

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT_TOLERANCE = 1e-5
GRADIENT_TOLERANCE = 1e-4
# A gradient is zero in exact arithmetic when the float64 module's is below
# ZERO_EXACT times the model's largest gradient norm; float32 rounding noise
# must then stay below ZERO_NOISE times it.
ZERO_EXACT = 1e-10
ZERO_NOISE = 1e-6
# Names in a reference file that are not the model's state_dict.
BATCH_NAMES = ("input", "target", "loss")
BATCH_PREFIXES = ("output.", "train_output.", "grad.")
DEFAULT_LOSSES = {"cross_entropy": nn.CrossEntropyLoss, "mse": nn.MSELoss}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dslc",
        default=os.environ.get("DSLC"),
        help="the dslc binary (default: $DSLC, else $CARGO_TARGET_DIR or target/, debug/dslc)",
    )
    parser.add_argument(
        "--refs",
        help="a directory pytorch-check wrote (default: run it into a temporary one)",
    )
    parser.add_argument("--batch", type=int, default=4, help="samples in the batch (default 4)")
    return parser.parse_args()


def find_dslc(given):
    if given:
        return given
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "debug", "dslc")


def write_references(out_dir, batch):
    """Runs bench/pytorch-check into `out_dir`; returns what it printed."""
    manifest = os.path.join(ROOT, "bench", "pytorch-check", "Cargo.toml")
    command = ["cargo", "run", "--quiet", "--manifest-path", manifest, "--"]
    command += ["--out", out_dir, "--batch", str(batch)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"pytorch-check failed:\n{done.stderr}")
    return done.stdout


def emit(dslc, source, model, out_path):
    """`dslc build SOURCE --emit pytorch --model MODEL -o OUT`; None or the error."""
    command = [dslc, "build", source, "--emit", "pytorch", "--model", model, "-o", out_path]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        return f"dslc build failed: {done.stderr.strip()[:300]}"
    return None


def import_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def state_dict_of(reference):
    return {
        name: tensor
        for name, tensor in reference.items()
        if name not in BATCH_NAMES and not name.startswith(BATCH_PREFIXES)
    }


def as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def output_error(got, expected):
    """Largest |got - expected|, largest relative error, and whether every
    element is within OUTPUT_TOLERANCE * max(1, |expected|)."""
    got, expected = got.detach().double(), expected.double()
    if got.shape != expected.shape:
        return float("inf"), float("inf"), False
    difference = (got - expected).abs()
    relative = difference / expected.abs().clamp_min(1e-30)
    bound = OUTPUT_TOLERANCE * expected.abs().clamp_min(1.0)
    return difference.max().item(), relative.max().item(), bool((difference <= bound).all())


def build_module(path, import_name, state):
    """The emitted file's MODEL with the reference's state_dict (strict)."""
    module = import_file(path, import_name)
    torch.manual_seed(0)
    model = module.MODEL()
    model.load_state_dict(state, strict=True)
    return module, model


class Row:
    """One model's results; `problems` says why it failed."""

    def __init__(self, name):
        self.name = name
        self.output_abs = self.output_rel = self.train_abs = float("nan")
        self.loss_diff = float("nan")
        self.grad_rel = float("nan")
        self.grad_param = "-"
        self.worst_element = float("nan")
        self.problems = []
        # Parameters whose gradient is zero in exact arithmetic, and the
        # largest float32 noise on them (relative to the largest gradient).
        self.zero_gradients = []
        self.zero_noise = 0.0
        # The largest relative gradient error against the float64 module,
        # of nnspec's float32 gradients and of torch's: which side a
        # difference comes from.
        self.nnspec_vs_exact = self.torch_vs_exact = float("nan")

    def line(self):
        verdict = "ok" if not self.problems else "FAIL: " + "; ".join(self.problems)
        if self.zero_gradients:
            verdict += (
                f" ({len(self.zero_gradients)} gradients zero in float64;"
                f" float32 noise <= {self.zero_noise:.1e} of the largest)"
            )
        return (
            f"{self.name:<18} {self.output_abs:>9.2e} {self.output_rel:>9.2e}"
            f" {self.train_abs:>9.2e}"
            f" {self.loss_diff:>9.2e}"
            f" {self.grad_rel:>9.2e} {self.worst_element:>9.2e}"
            f" {self.nnspec_vs_exact:>9.2e} {self.torch_vs_exact:>9.2e}"
            f"  {self.grad_param:<22} {verdict}"
        )


HEADER = (
    f"{'model':<18} {'out |d|':>9} {'out rel':>9} {'train |d|':>9} {'loss |d|':>9}"
    f" {'grad rel':>9} {'elem |d|':>9} {'nn~f64':>9} {'pt~f64':>9}  {'worst gradient':<22} result"
)


def check_outputs(row, model, outputs_names, reference):
    model.eval()
    with torch.no_grad():
        results = as_tuple(model(reference["input"]))
    if len(results) != len(outputs_names):
        row.problems.append(f"{len(results)} outputs, OUTPUTS names {len(outputs_names)}")
        return
    worst_abs = worst_rel = 0.0
    for name, got in zip(outputs_names, results):
        key = f"output.{name}"
        if key not in reference:
            row.problems.append(f"output {name!r} not in the reference")
            continue
        abs_error, rel_error, ok = output_error(got, reference[key])
        worst_abs, worst_rel = max(worst_abs, abs_error), max(worst_rel, rel_error)
        if not ok:
            row.problems.append(f"output {name}: max |d| {abs_error:.2e}")
    row.output_abs, row.output_rel = worst_abs, worst_rel


def train_gradients(module, model, loss_name, reference, dtype):
    """The loss of the batch in training mode and each parameter's gradient,
    with the model's floats in `dtype` (token ids and class labels stay int64)."""
    model.to(dtype)
    model.train()

    def cast(tensor):
        return tensor.to(dtype) if tensor.is_floating_point() else tensor

    results = as_tuple(model(cast(reference["input"])))
    if hasattr(module, "loss_function"):
        loss_function = module.loss_function()
    else:
        loss_function = DEFAULT_LOSSES[loss_name]()
    # .to casts the loss's own tensors too (cross-entropy's class weights).
    loss = loss_function.to(dtype)(results[0], cast(reference["target"]))
    loss.backward()
    gradients = {
        name: torch.zeros_like(p) if p.grad is None else p.grad.detach()
        for name, p in model.named_parameters()
    }
    return results, loss.item(), gradients


def check_gradients(row, module, model, exact_model, loss_name, reference):
    """Loss and gradients in float32 against nnspec's. A gradient that is
    zero in exact arithmetic (a bias before a BatchNorm normalizing over the
    batch: the float64 module's gradient is below ZERO_EXACT of the model's
    largest) has no relative error to speak of, both sides' float32 values
    being rounding noise; there both must stay below ZERO_NOISE of the
    model's largest gradient instead."""
    results, loss, gradients = train_gradients(module, model, loss_name, reference, torch.float32)
    _, _, exact = train_gradients(module, exact_model, loss_name, reference, torch.float64)
    # Training-mode outputs (batch statistics): a forward difference shows
    # here before it shows in the gradients.
    row.train_abs = 0.0
    for name, got in zip(module.MODEL.OUTPUTS, results):
        abs_error, _, ok = output_error(got, reference[f"train_output.{name}"])
        row.train_abs = max(row.train_abs, abs_error)
        if not ok:
            row.problems.append(f"training-mode output {name}: max |d| {abs_error:.2e}")
    expected_loss = reference["loss"].double().item()
    row.loss_diff = abs(loss - expected_loss)
    if row.loss_diff > OUTPUT_TOLERANCE * max(1.0, abs(expected_loss)):
        row.problems.append(f"loss {loss:.7g} vs {expected_loss:.7g}")
    expected_names = {n[len("grad.") :] for n in reference if n.startswith("grad.")}
    if set(gradients) != expected_names:
        missing, extra = expected_names - set(gradients), set(gradients) - expected_names
        row.problems.append(
            f"trainable parameters differ: missing {sorted(missing)}, extra {sorted(extra)}"
        )
    names = sorted(expected_names & set(gradients))
    largest = max((reference[f"grad.{n}"].double().norm().item() for n in names), default=0.0)
    worst_rel, worst_param, worst_element = 0.0, "-", 0.0
    row.nnspec_vs_exact = row.torch_vs_exact = 0.0
    for name in names:
        expected = reference[f"grad.{name}"].double()
        got = gradients[name].double()
        norm = expected.norm().item()
        element = (got - expected).abs().max().item()
        if exact[name].norm().item() <= ZERO_EXACT * largest:
            noise = max(norm, got.norm().item())
            row.zero_gradients.append(name)
            row.zero_noise = max(row.zero_noise, noise / largest)
            if noise > ZERO_NOISE * largest:
                row.problems.append(f"grad {name}: zero in float64, yet norm {noise:.2e}")
            continue
        relative = (got - expected).norm().item() / (norm if norm > 0 else 1.0)
        truth = exact[name].double()
        truth_norm = truth.norm().item()
        nnspec_error = (expected - truth).norm().item() / truth_norm
        torch_error = (got - truth).norm().item() / truth_norm
        row.nnspec_vs_exact = max(row.nnspec_vs_exact, nnspec_error)
        row.torch_vs_exact = max(row.torch_vs_exact, torch_error)
        if relative > worst_rel or worst_param == "-":
            worst_rel, worst_param, worst_element = relative, name, element
        if relative > GRADIENT_TOLERANCE:
            row.problems.append(f"grad {name}: rel {relative:.2e}, max |d| {element:.2e}")
    row.grad_rel, row.grad_param, row.worst_element = worst_rel, worst_param, worst_element


def check_model(entry, refs, dslc, work):
    name = entry["model"]
    row = Row(name)
    reference = load_file(os.path.join(refs, entry["reference"]))
    state = state_dict_of(reference)
    eval_path = os.path.join(work, f"{name}_eval.py")
    problem = emit(dslc, entry["file"], name, eval_path)
    if problem:
        row.problems.append(problem)
        return row
    try:
        module, model = build_module(eval_path, f"emitted_{name}_eval", state)
        check_outputs(row, model, module.MODEL.OUTPUTS, reference)
        if entry["train_source"]:
            train_path = os.path.join(work, f"{name}_train.py")
            problem = emit(dslc, entry["train_source"], name, train_path)
            if problem:
                row.problems.append(problem)
                return row
        else:
            train_path = eval_path
        module, model = build_module(train_path, f"emitted_{name}_train", state)
        _, exact_model = build_module(train_path, f"emitted_{name}_exact", state)
        check_gradients(row, module, model, exact_model, entry["loss"], reference)
    # A broken emitted file is a finding: reported in its row, the other models still run.
    except Exception as error:  # noqa: BLE001
        row.problems.append(f"{type(error).__name__}: {str(error)[:300]}")
    return row


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    args = parse_args()
    dslc = find_dslc(args.dslc)
    if not os.path.exists(dslc):
        sys.exit(f"no dslc binary at {dslc}: run `cargo build -p dslc` or pass --dslc")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="pytorch-emitted-") as work:
        refs = args.refs
        if refs is None:
            refs = os.path.join(work, "refs")
            print(write_references(refs, args.batch), end="")
        with open(os.path.join(refs, "index.json")) as f:
            index = json.load(f)
        print(f"cpu: {cpu_name()}; {os.cpu_count()} cores")
        print(f"nnspec kernel tier: {index['kernel_tier']}; torch {torch.__version__}, 1 thread")
        print(f"batch of {index['batch']}; outputs eval mode, loss and gradients train mode")
        print(
            f"pass: outputs and loss |d| <= {OUTPUT_TOLERANCE:g} * max(1, |nnspec|),"
            f" gradients ||d|| / ||g|| <= {GRADIENT_TOLERANCE:g}"
            f" (zero in float64: both ||g|| <= {ZERO_NOISE:g} of the largest)"
        )
        for entry in index["models"]:
            if entry["added_train_block"]:
                print(f"note: {entry['model']} has no train block; gradients of {entry['loss']}")
            if entry["train_source"]:
                print(f"note: {entry['model']} has dropout; gradients with its rate set to 0")
        print()
        print(HEADER)
        rows = [check_model(entry, refs, dslc, work) for entry in index["models"]]
        for row in rows:
            print(row.line())
    failed = [row.name for row in rows if row.problems]
    print()
    if failed:
        print(f"FAIL: {len(failed)} of {len(rows)} models ({', '.join(failed)})")
        return 1
    print(f"PASS: all {len(rows)} models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
