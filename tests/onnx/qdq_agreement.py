"""onnxruntime on nnspec's int8 QDQ exports, run by tests/onnx_int8.rs.

    python qdq_agreement.py DIR

DIR holds manifest.json and the files it names, written by the Rust test:
for each model, its QDQ .onnx export, test inputs (raw little-endian
float32), nnspec's int8 outputs for them (dequantized, float32) and their
argmax (int32). Each model must pass the ONNX checker with full_check,
import only the standard domain, and, run by onnxruntime with all graph
optimizations, give the same argmax as nnspec on at least the manifest's
`min_agreement` of the samples. The optimized graph onnxruntime writes
(SessionOptions.optimized_model_filepath) must hold at least as many
integer operators (QLinearConv, QLinearMatMul, QGemm, ...) as the model
has int8 layers: the QDQ pattern was recognized and fused. Prints one line
per model; exits 1 listing every failure, after checking all.
"""

import collections
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

# The operators onnxruntime runs a fused QDQ group as (some in its
# com.microsoft domain: its own optimized graph, not the export).
INTEGER_OPS = {
    "QLinearConv",
    "QLinearMatMul",
    "QGemm",
    "MatMulInteger",
    "ConvInteger",
    "MatMulIntegerToFloat",
}
# Float products left in the optimized graph: unfused int8 layers, or
# layers the int8 plan runs in f32.
FLOAT_PRODUCTS = {"Conv", "Gemm", "MatMul", "FusedConv", "FusedGemm", "FusedMatMul"}


def load(root, name, dtype, shape=None):
    data = np.fromfile(root / name, dtype=dtype)
    return data if shape is None else data.reshape(shape)


def check_model(root, entry, minimum, failures):
    name = entry["name"]
    path = root / entry["onnx"]
    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # the checker raises several types
        failures.append(f"{name}: onnx.checker: {error}")
        return
    domains = {node.domain for node in model.graph.node}
    if domains - {"", "ai.onnx"}:
        failures.append(f"{name}: non-standard domains {sorted(domains)}")
    if [(o.domain, o.version) for o in model.opset_import] != [("", 17)]:
        failures.append(f"{name}: opsets {model.opset_import}")

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    optimized = root / f"{name}.optimized.onnx"
    options.optimized_model_filepath = str(optimized)
    # Not the warning that an optimized model saved at this level may be
    # specific to this machine: it is only read back here.
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )
    x = load(root, entry["input"]["file"], "<f4", entry["input"]["shape"])
    samples = x.shape[0]
    want = load(root, entry["argmax"], "<i4")
    nnspec_out = load(root, entry["outputs"], "<f4", (samples, -1))
    (got,) = session.run([entry["output"]], {entry["input"]["name"]: x})
    got = got.reshape(samples, -1)
    agree = int((got.argmax(axis=1) == want).sum())
    fraction = agree / samples
    # Disagreements where nnspec's two largest outputs are equal: a tie
    # that a one-step difference anywhere decides.
    top2 = np.sort(nnspec_out, axis=1)[:, -2:]
    ties = int(((got.argmax(axis=1) != want) & (top2[:, 0] == top2[:, 1])).sum())
    # The outputs in units of the output tensor's quantization step.
    steps = np.abs(got.astype(np.float64) - nnspec_out) / entry["output_scale"]
    within_one = float((steps <= 1.0 + 1e-3).mean())

    ops = collections.Counter(node.op_type for node in onnx.load(str(optimized)).graph.node)
    integer = sum(n for op, n in ops.items() if op in INTEGER_OPS)
    products = sum(n for op, n in ops.items() if op in FLOAT_PRODUCTS)
    fused = ", ".join(f"{op} {n}" for op, n in sorted(ops.items()) if op in INTEGER_OPS)
    print(
        f"{name}: argmax agreement {fraction:.4f} ({agree}/{samples}, {ties} of the "
        f"{samples - agree} others tied in nnspec); outputs within one "
        f"quantization step {within_one:.4f}, at most {steps.max():.1f} steps; optimized "
        f"graph: {integer} integer ops ({fused or 'none'}) for {entry['int8_layers']} int8 "
        f"layers, {products} float products"
    )
    if not fraction >= minimum:
        failures.append(f"{name}: argmax agreement {fraction:.4f} below {minimum}")
    if integer < entry["int8_layers"]:
        failures.append(
            f"{name}: onnxruntime fused {integer} integer ops for "
            f"{entry['int8_layers']} int8 layers: {dict(ops)}"
        )


def main():
    root = pathlib.Path(sys.argv[1])
    manifest = json.loads((root / "manifest.json").read_text())
    failures = []
    for entry in manifest["models"]:
        check_model(root, entry, manifest["min_agreement"], failures)
    print(
        f"onnx {onnx.__version__}, onnxruntime {ort.__version__}: "
        f"{len(manifest['models'])} models, {len(failures)} failures"
    )
    for failure in failures:
        print(f"FAIL {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
