"""LiteRT (TensorFlow Lite's runtime) on nnspec's .tflite exports, run by
the Rust tests through tests/support/litert.rs.

    python run.py DIR

DIR holds manifest.json and the files it names:

    {"models": [{"name": "lenet", "tflite": "lenet.tflite",
                 "inputs": [{"file": "lenet.in0.f32", "shape": [8, 28, 28, 1]}]}]}

With "delegates": false in the manifest, LiteRT runs its builtin kernels
alone (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES: no XNNPACK).
Each input is raw little-endian float32 (int32 or int64 when the model's
input tensor is), resized to its shape before the tensors are allocated.
Writes, per model, each output as raw little-endian float32 (cast when the
tensor is an integer type) to NAME.out{i}.f32 and, in DIR/report.json, per
model: its outputs' files, shapes and dtypes, the builtin operators the
interpreter runs (in order), and its input and output details (dtype,
quantization). Errors are recorded per model (`error`), not raised, so one
bad file does not hide the others' results.
"""

import json
import pathlib
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def run(root, entry, resolver=OpResolverType.AUTO):
    interpreter = Interpreter(
        model_path=str(root / entry["tflite"]), num_threads=1, experimental_op_resolver_type=resolver
    )
    details = interpreter.get_input_details()
    if len(details) != len(entry["inputs"]):
        raise ValueError(f"the model has {len(details)} inputs, the manifest {len(entry['inputs'])}")
    for detail, given in zip(details, entry["inputs"]):
        interpreter.resize_tensor_input(detail["index"], given["shape"], strict=True)
    interpreter.allocate_tensors()
    for detail, given in zip(interpreter.get_input_details(), entry["inputs"]):
        dtype = detail["dtype"]
        raw = np.fromfile(root / given["file"], dtype=np.dtype(dtype).newbyteorder("<"))
        interpreter.set_tensor(detail["index"], raw.reshape(given["shape"]).astype(dtype))
    interpreter.invoke()
    outputs = []
    for i, detail in enumerate(interpreter.get_output_details()):
        value = interpreter.get_tensor(detail["index"])
        file = f"{entry['name']}.out{i}.f32"
        value.astype("<f4").tofile(root / file)
        outputs.append({"file": file, "shape": list(value.shape), "dtype": str(value.dtype)})
    ops = [op["op_name"] for op in interpreter._get_ops_details()]

    def describe(detail):
        scale, zero_point = detail["quantization"]
        return {
            "name": detail["name"],
            "dtype": np.dtype(detail["dtype"]).name,
            "shape_signature": [int(d) for d in detail["shape_signature"]],
            "scale": float(scale),
            "zero_point": int(zero_point),
        }

    return {
        "outputs": outputs,
        "ops": ops,
        "inputs_detail": [describe(d) for d in interpreter.get_input_details()],
        "outputs_detail": [describe(d) for d in interpreter.get_output_details()],
    }


def main():
    root = pathlib.Path(sys.argv[1])
    manifest = json.loads((root / "manifest.json").read_text())
    report = {}
    # "delegates": false runs the builtin kernels alone (no XNNPACK).
    resolver = (
        OpResolverType.AUTO
        if manifest.get("delegates", True)
        else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    for entry in manifest["models"]:
        try:
            report[entry["name"]] = run(root, entry, resolver)
        except Exception as error:  # LiteRT raises several types
            report[entry["name"]] = {"error": f"{type(error).__name__}: {error}"}
    (root / "report.json").write_text(json.dumps(report, indent=1))
    for name, result in report.items():
        print(f"{name}: {result.get('error') or ' '.join(result['ops'])}")


if __name__ == "__main__":
    main()
