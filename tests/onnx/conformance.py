"""ONNX conformance of nnspec's exports, run by tests/onnx_conformance.rs.

    python conformance.py DIR

DIR holds manifest.json and the files it names, written by the Rust test:
for each model, its .onnx export and, per batch size, the inputs and the
outputs nnspec's executor computed from them (raw little-endian float32;
token-id inputs, marked "dtype": "int64", as little-endian int64).
Each model must pass the ONNX checker with full_check (strict shape
inference over the declared value_info), import only the standard domain,
and give in onnxruntime the executor's outputs within the manifest's
absolute tolerance. Exits 1 listing every failure, after checking all.
"""

import collections
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort


def load_array(root, entry):
    # Token ids are int64, everything else float32.
    dtype = "<i8" if entry.get("dtype") == "int64" else "<f4"
    data = np.fromfile(root / entry["file"], dtype=dtype)
    return data.reshape(entry["shape"])


def check_model(root, entry, tolerance, failures, operators):
    """Checks one model; returns (comparisons, largest difference)."""
    name = entry["name"]
    path = root / entry["onnx"]
    model = onnx.load(str(path))
    operators.update(node.op_type for node in model.graph.node)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # the checker raises several types
        failures.append(f"{name}: onnx.checker: {error}")
        return 0, 0.0
    domains = {node.domain for node in model.graph.node}
    if domains - {"", "ai.onnx"}:
        failures.append(f"{name}: non-standard domains {sorted(domains)}")
    options = ort.SessionOptions()
    session = ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )
    comparisons, largest = 0, 0.0
    for run in entry["runs"]:
        feeds = {i["name"]: load_array(root, i) for i in run["inputs"]}
        names = [o["name"] for o in run["outputs"]]
        got = session.run(names, feeds)
        for expected, actual in zip(run["outputs"], got):
            want = load_array(root, expected)
            where = f"{name}: output {expected['name']} at batch {run['batch']}"
            if actual.shape != want.shape:
                failures.append(f"{where}: shape {actual.shape}, nnspec {want.shape}")
                continue
            diff = np.abs(actual.astype(np.float64) - want.astype(np.float64))
            worst = float(diff.max()) if diff.size else 0.0
            if not np.isfinite(actual).all() or not worst <= tolerance:
                at = np.unravel_index(int(diff.argmax()), diff.shape)
                failures.append(
                    f"{where}: |onnxruntime - nnspec| = {worst:.3g} at {at} "
                    f"(onnxruntime {actual[at]!r}, nnspec {want[at]!r}), "
                    f"over the tolerance {tolerance}"
                )
            largest = max(largest, worst)
            comparisons += 1
    return comparisons, largest


def main():
    root = pathlib.Path(sys.argv[1])
    manifest = json.loads((root / "manifest.json").read_text())
    tolerance = manifest["tolerance"]
    failures = []
    operators = collections.Counter()
    total = 0
    for entry in manifest["models"]:
        comparisons, largest = check_model(root, entry, tolerance, failures, operators)
        total += comparisons
        print(f"{entry['name']}: {comparisons} outputs compared, largest difference {largest:.3g}")
    print(
        f"onnx {onnx.__version__}, onnxruntime {ort.__version__}: "
        f"{len(manifest['models'])} models, {total} outputs compared, "
        f"{len(failures)} failures"
    )
    print("operators: " + ", ".join(f"{op} {n}" for op, n in sorted(operators.items())))
    for failure in failures:
        print(f"FAIL {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
