#!/usr/bin/env python3
"""What a Python user would build to serve the tutorial model: FastAPI +
uvicorn + onnxruntime, speaking the same Open Inference Protocol (KServe v2
REST JSON) endpoints as `dslc serve`, so one load generator
(bench/serve-load) measures both.

  python bench/serve_fastapi.py --onnx mlp.onnx --model mnist_mlp [--port 0] [--workers 2]

Choices, each the ordinary one for a FastAPI service:
- idiomatic FastAPI: pydantic models validate the request and a dict
  returned is the JSON answer;
- an `async def` infer endpoint, run on the event loop: the MLP's
  onnxruntime call takes tens of microseconds, and measured here this
  beat a plain `def` endpoint (which FastAPI runs on its thread pool, as
  its docs advise for blocking calls) by 1.4x at 1 and 16 clients, with
  equal throughput at 256. `--sync-endpoint` serves the `def` variant;
- uvicorn with one worker process per core (`--workers`, default the core
  count), each with its own onnxruntime session using one intra-op thread,
  so workers do not fight over the cores;
- uvicorn's standard extras (uvloop, httptools) when installed, which
  `pip install "uvicorn[standard]"` or `"fastapi[standard]"` brings;
- the access log is off (`--access-log` turns it on): a log line per request
  costs a Python server noticeably, and the comparison should not charge it
  for logging.
The first stdout line is `listening on http://127.0.0.1:PORT`, as
`dslc serve` prints it, so scripts can use `--port 0` (then wait for
/v2/health/ready: the line comes before uvicorn accepts).
"""

import argparse
import os
import socket
import sys

import numpy as np

ONNX_ENV = "SERVE_FASTAPI_ONNX"
MODEL_ENV = "SERVE_FASTAPI_MODEL"
SYNC_ENV = "SERVE_FASTAPI_SYNC"

# The KServe v2 datatype names of the numpy dtypes onnxruntime returns.
DATATYPES = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "int32": "INT32"}
ORT_DATATYPES = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(int64)": "INT64"}
NUMPY_DTYPES = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}


def build_app():
    """The FastAPI app; built in each uvicorn worker from the environment."""
    import onnxruntime as ort
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel

    onnx_path = os.environ[ONNX_ENV]
    model_name = os.environ[MODEL_ENV]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    output_names = [o.name for o in session.get_outputs()]

    class RequestTensor(BaseModel):
        name: str
        shape: list[int]
        datatype: str
        data: list[float]

    class InferRequest(BaseModel):
        id: str | None = None
        inputs: list[RequestTensor]

    app = FastAPI()

    def check_model(name: str):
        if name != model_name:
            raise HTTPException(status_code=404, detail={"error": f"unknown model '{name}'"})

    def tensor_metadata(t):
        shape = [-1 if not isinstance(d, int) else d for d in t.shape]
        return {"name": t.name, "datatype": ORT_DATATYPES.get(t.type, t.type), "shape": shape}

    @app.get("/v2/health/live")
    def live():
        return {"live": True}

    @app.get("/v2/health/ready")
    def ready():
        return {"ready": True}

    @app.get("/v2/models/{name}")
    def metadata(name: str):
        check_model(name)
        return {
            "name": model_name,
            "platform": "onnxruntime",
            "inputs": [tensor_metadata(t) for t in session.get_inputs()],
            "outputs": [tensor_metadata(t) for t in session.get_outputs()],
        }

    def infer(name: str, request: InferRequest):
        check_model(name)
        feeds = {}
        for tensor in request.inputs:
            if tensor.name not in inputs:
                raise HTTPException(status_code=400, detail={"error": f"unknown input '{tensor.name}'"})
            dtype = NUMPY_DTYPES.get(tensor.datatype)
            if dtype is None:
                raise HTTPException(status_code=400, detail={"error": f"unsupported datatype '{tensor.datatype}'"})
            array = np.asarray(tensor.data, dtype=dtype)
            if array.size != int(np.prod(tensor.shape)):
                raise HTTPException(
                    status_code=400,
                    detail={"error": f"input '{tensor.name}': {array.size} values do not fill shape {tensor.shape}"},
                )
            feeds[tensor.name] = array.reshape(tensor.shape).astype(np.float32, copy=False)
        try:
            results = session.run(output_names, feeds)
        except Exception as e:  # onnxruntime reports shape and type errors this way
            raise HTTPException(status_code=400, detail={"error": str(e)}) from e
        answer = {
            "model_name": model_name,
            "outputs": [
                {
                    "name": out_name,
                    "shape": list(value.shape),
                    "datatype": DATATYPES.get(str(value.dtype), str(value.dtype)),
                    "data": value.ravel().tolist(),
                }
                for out_name, value in zip(output_names, results)
            ],
        }
        if request.id is not None:
            answer["id"] = request.id
        return answer

    if os.environ.get(SYNC_ENV) == "1":

        @app.post("/v2/models/{name}/infer")
        def infer_on_thread_pool(name: str, request: InferRequest):
            return infer(name, request)

    else:

        @app.post("/v2/models/{name}/infer")
        async def infer_on_event_loop(name: str, request: InferRequest):
            return infer(name, request)

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", required=True, help="the ONNX model to serve")
    parser.add_argument("--model", default="mnist_mlp", help="the model name in the URL paths")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn worker processes")
    parser.add_argument("--sync-endpoint", action="store_true", help="a plain `def` infer endpoint (FastAPI's thread pool)")
    parser.add_argument("--access-log", action="store_true", help="log every request, as uvicorn does by default")
    args = parser.parse_args()
    if not os.path.isfile(args.onnx):
        sys.exit(f"error: --onnx {args.onnx}: no such file")

    import uvicorn

    os.environ[ONNX_ENV] = os.path.abspath(args.onnx)
    os.environ[MODEL_ENV] = args.model
    os.environ[SYNC_ENV] = "1" if args.sync_endpoint else "0"
    # The workers import this file as a module: leave no __pycache__ in bench/.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    port = args.port
    if port == 0:
        # Ask the kernel for a free port, then let uvicorn bind it by
        # number. Handing uvicorn the bound socket (`fd=`) would be
        # race-free, but uvicorn wraps such a socket as AF_UNIX, so asyncio
        # skips TCP_NODELAY and every keep-alive answer waits ~40 ms on
        # the client's delayed ACK: a handicap no real deployment has.
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind((args.host, 0))
        port = probe.getsockname()[1]
        probe.close()
    # Printed before uvicorn is accepting: callers wait for /v2/health/ready.
    print(f"listening on http://{args.host}:{port}", flush=True)
    uvicorn.run(
        "serve_fastapi:app",
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host=args.host,
        port=port,
        workers=args.workers,
        access_log=args.access_log,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
elif ONNX_ENV in os.environ:
    # Imported by a uvicorn worker as `serve_fastapi:app`.
    app = build_app()
