"""Reads .tflite files back with the flatc-generated Python reader that
ships with ai-edge-litert (ai_edge_litert.schema_py_generated, generated
from TFLite's schema.fbs), independently of the Rust writer's field ids,
and prints, as JSON, every field nnspec writes.

    python read_back.py FILE...   ->   {"FILE": {...}, ...}
"""

import json
import sys

from ai_edge_litert import schema_py_generated as schema


def numbers(table, name):
    """A vector field as a list ([] when absent)."""
    if getattr(table, name + "IsNone")():
        return None
    return [getattr(table, name)(i) for i in range(getattr(table, name + "Length")())]


def options(operator):
    """The builtin_options union as {"type": name, fields...}."""
    kind = operator.BuiltinOptionsType()
    names = {v: k for k, v in vars(schema.BuiltinOptions).items() if not k.startswith("_")}
    result = {"type": names.get(kind, kind)}
    table = operator.BuiltinOptions()
    if kind == 0 or table is None:
        return result
    cls = getattr(schema, names[kind])
    value = cls()
    value.Init(table.Bytes, table.Pos)
    for field in dir(cls):
        if not field[0].isupper() or field.startswith("GetRootAs") or field == "Init":
            continue
        if field.endswith(("AsNumpy", "Length", "IsNone")) or "BufferHasIdentifier" in field:
            continue
        try:
            result[field] = getattr(value, field)()
        except TypeError:
            pass  # a vector element accessor; no options nnspec writes has one
    return result


def quantization(tensor):
    q = tensor.Quantization()
    if q is None:
        return None
    return {
        "scale": numbers(q, "Scale"),
        "zero_point": numbers(q, "ZeroPoint"),
        "quantized_dimension": q.QuantizedDimension(),
    }


def describe(path):
    data = open(path, "rb").read()
    model = schema.Model.GetRootAs(data, 0)
    buffers = []
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataIsNone():
            buffers.append({"data": None})
        else:
            raw = buffer.DataAsNumpy()
            # Where the bytes start in the file, for the alignment check.
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            buffers.append({"data": list(raw.tobytes()), "offset": start})
    subgraphs = []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        tensors = []
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            tensors.append(
                {
                    "name": tensor.Name().decode(),
                    "shape": numbers(tensor, "Shape"),
                    "shape_signature": numbers(tensor, "ShapeSignature"),
                    "type": tensor.Type(),
                    "buffer": tensor.Buffer(),
                    "has_rank": tensor.HasRank(),
                    "quantization": quantization(tensor),
                }
            )
        operators = []
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            operators.append(
                {
                    "opcode_index": op.OpcodeIndex(),
                    "inputs": numbers(op, "Inputs"),
                    "outputs": numbers(op, "Outputs"),
                    "options": options(op),
                }
            )
        subgraphs.append(
            {
                "name": graph.Name().decode(),
                "inputs": numbers(graph, "Inputs"),
                "outputs": numbers(graph, "Outputs"),
                "tensors": tensors,
                "operators": operators,
            }
        )
    signatures = []
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        maps = lambda n, get: [
            [get(j).Name().decode(), get(j).TensorIndex()] for j in range(n)
        ]
        signatures.append(
            {
                "key": sig.SignatureKey().decode(),
                "subgraph_index": sig.SubgraphIndex(),
                "inputs": maps(sig.InputsLength(), sig.Inputs),
                "outputs": maps(sig.OutputsLength(), sig.Outputs),
            }
        )
    return {
        "identifier": data[4:8].decode(),
        "version": model.Version(),
        "description": model.Description().decode(),
        "buffers": buffers,
        "metadata": [
            {"name": model.Metadata(i).Name().decode(), "buffer": model.Metadata(i).Buffer()}
            for i in range(model.MetadataLength())
        ],
        "operator_codes": [
            {
                "deprecated_builtin_code": model.OperatorCodes(i).DeprecatedBuiltinCode(),
                "builtin_code": model.OperatorCodes(i).BuiltinCode(),
                "version": model.OperatorCodes(i).Version(),
            }
            for i in range(model.OperatorCodesLength())
        ],
        "subgraphs": subgraphs,
        "signature_defs": signatures,
    }


if __name__ == "__main__":
    print(json.dumps({path: describe(path) for path in sys.argv[1:]}))
