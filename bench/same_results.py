#!/usr/bin/env python3
"""Whether two `dslc train --out` folders hold the same results.

    python3 bench/same_results.py BEFORE_DIR AFTER_DIR

Used to show a restructuring changed no number: the model weights and the
optimizer state must be byte for byte equal (the optimizer state is in
train_state.safetensors, or optimizer.safetensors for runs made before it), and metrics.json (and the
history kept in the checkpoint's metadata) equal in every field except the
timings (`*seconds*`, `*per_s*`), which no two runs share. Exits 1 on any
difference, naming it.
"""
import json
import struct
import sys
from pathlib import Path


def is_timing(key):
    return "seconds" in key or "per_s" in key


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if not is_timing(k)}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def safetensors(path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {}) or {}
    meta = {k: strip(json.loads(v)) if v.startswith(("[", "{")) else v for k, v in meta.items()}
    return header, meta, data[8 + n :]


def main(before, after):
    before, after = Path(before), Path(after)
    problems = []
    # Runs since the atomic training state keep the optimizer in
    # train_state.safetensors; older ones in optimizer.safetensors.
    def state(run):
        for name in ["train_state.safetensors", "optimizer.safetensors"]:
            if (run / name).exists():
                return run / name
        sys.exit(f"{run}: no training state file")

    for name, a_path, b_path in [
        ("model.safetensors", before / "model.safetensors", after / "model.safetensors"),
        ("training state", state(before), state(after)),
    ]:
        a, b = safetensors(a_path), safetensors(b_path)
        for part, label in zip(range(3), ["tensor index", "metadata", "tensor bytes"]):
            if a[part] != b[part]:
                problems.append(f"{name}: {label} differ")
    a = strip(json.loads((before / "metrics.json").read_text()))
    b = strip(json.loads((after / "metrics.json").read_text()))
    if a != b:
        problems.append("metrics.json differs beyond timings")
    for problem in problems:
        print(problem)
    print("identical (timings aside)" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
