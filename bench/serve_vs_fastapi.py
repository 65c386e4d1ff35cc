#!/usr/bin/env python3
"""Issue 14's serving benchmark: `dslc serve` against what a Python user
would build (FastAPI + uvicorn + onnxruntime, bench/serve_fastapi.py), on
the tutorial MLP, with the same Open Inference Protocol load generator
(bench/serve-load) at 1, 16 and 256 concurrent clients.

  python3 bench/serve_vs_fastapi.py [--duration-s 10] [--out DIR]

It trains the MLP on Fashion-MNIST (or takes --weights), exports it to
ONNX, serves it with each server in turn (never both at once: the machine
has 2 cores), and prints a table of throughput and p50/p99 latency per
concurrency, the ratios, and the issue's goals: at 256 clients at least 5x
the Python server's throughput with a lower p99, and p99 under 2 ms at 16
clients. Without `dslc serve` (before issue 14 lands) that side is skipped.
Every run is bounded: (warm-up + duration) per concurrency per server.
Needs: cargo, and a Python with fastapi, uvicorn and onnxruntime
(bench/requirements-serve.txt) given by --python or NNSPEC_PYTHON.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# No __pycache__ left in bench/ by importing the shared module.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve_common as sc  # noqa: E402

FASTAPI = Path(__file__).resolve().parent / "serve_fastapi.py"
# Names `dslc serve` might give the MLP by default: the file's stem or the
# model's own name. The first the server has metadata for is used.
MODEL_NAMES = ["mnist_mlp", "MnistMlp"]


def measure(server, load, args, label):
    model = server.model_name(([args.model_name] if args.model_name else []) + MODEL_NAMES)
    url = f"{server.base_url}/v2/models/{model}/infer"
    rows = []
    for concurrency in args.concurrency:
        cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
        result = sc.run_load(load, url, concurrency, args.duration_s, args.warmup_s, ["--threads", str(args.load_threads)])
        wall = time.monotonic() - wall_before
        # Includes the warm-up: the server's CPU share over the whole run.
        result["server_cpu_percent"] = 100.0 * (server.cpu_seconds() - cpu_before) / wall
        result["server_rss_kib"] = server.rss_kib()
        rows.append(result)
        lat = result["latency_ms"]
        sc.log(
            f"  {label} c={concurrency:>3}: {result['requests_per_s']:9.0f} req/s  "
            f"p50 {fmt(lat['p50'])} ms  p99 {fmt(lat['p99'])} ms  errors {result['errors']}  "
            f"server CPU {result['server_cpu_percent']:.0f}%"
        )
    return {"model_name": model, "runs": rows}


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def table(results):
    fast = {r["concurrency"]: r for r in results["fastapi"]["runs"]} if results.get("fastapi") else {}
    ours = {r["concurrency"]: r for r in results["dslc"]["runs"]} if results.get("dslc") else {}
    lines = [
        f"CPU: {results['machine']['cpu']} ({results['machine']['cores']} cores), "
        f"load average before: {' '.join(results['machine']['loadavg_before'])}",
        "",
        "| clients | FastAPI req/s | FastAPI p50 ms | FastAPI p99 ms | dslc serve req/s | dslc p50 ms | dslc p99 ms | throughput ratio | p99 ratio (FastAPI/dslc) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in sorted(set(fast) | set(ours)):
        f, o = fast.get(c), ours.get(c)
        f_rps = f and f["requests_per_s"]
        o_rps = o and o["requests_per_s"]
        f_lat = f["latency_ms"] if f else {}
        o_lat = o["latency_ms"] if o else {}
        lines.append(
            f"| {c} | {fmt(f_rps, 0)} | {fmt(f_lat.get('p50'))} | {fmt(f_lat.get('p99'))} | "
            f"{fmt(o_rps, 0)} | {fmt(o_lat.get('p50'))} | {fmt(o_lat.get('p99'))} | "
            f"{fmt(ratio(o_rps, f_rps), 2)} | {fmt(ratio(f_lat.get('p99'), o_lat.get('p99')), 2)} |"
        )
    errors = {k: sum(r["errors"] for r in v["runs"]) for k, v in results.items() if isinstance(v, dict) and "runs" in v}
    lines += ["", "errors: " + ", ".join(f"{k} {n}" for k, n in errors.items())]
    lines.append("goals: " + goals(fast, ours))
    return "\n".join(lines)


def goals(fast, ours):
    if not ours:
        return "not judged (dslc serve was not measured)"
    verdicts = []
    if 256 in fast and 256 in ours:
        r = ratio(ours[256]["requests_per_s"], fast[256]["requests_per_s"])
        lower = (ours[256]["latency_ms"]["p99"] or 1e9) < (fast[256]["latency_ms"]["p99"] or 1e9)
        verdicts.append(f">=5x throughput at 256: {'met' if r and r >= 5 else 'NOT met'} ({fmt(r, 2)}x)")
        verdicts.append(f"lower p99 at 256: {'met' if lower else 'NOT met'}")
    if 16 in ours:
        p99 = ours[16]["latency_ms"]["p99"]
        verdicts.append(f"p99 < 2 ms at 16: {'met' if p99 is not None and p99 < 2 else 'NOT met'} ({fmt(p99)} ms)")
    return "; ".join(verdicts) or "not judged (run 16 and 256 clients)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=10.0, help="measured seconds per concurrency")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="discarded seconds before each measurement")
    parser.add_argument("--concurrency", default="1,16,256", help="comma-separated client counts")
    parser.add_argument("--work", help="where the model, checkpoint and ONNX go (default: a temporary directory)")
    parser.add_argument("--weights", help="a trained mnist_mlp checkpoint to reuse instead of training")
    parser.add_argument("--data", default=str(sc.FASHION), help="the data set to train on")
    parser.add_argument("--dslc", help="a dslc binary (default: cargo build --release -p dslc)")
    parser.add_argument("--load", help="the load binary (default: cargo build --release in bench/serve-load)")
    parser.add_argument("--load-threads", type=int, default=1, help="the load generator's threads")
    parser.add_argument("--python", default=os.environ.get("NNSPEC_PYTHON", sys.executable),
                        help="the Python with fastapi, uvicorn and onnxruntime")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn workers")
    parser.add_argument("--fastapi-arg", action="append", default=[],
                        help="an extra argument for serve_fastapi.py (repeatable), e.g. --fastapi-arg=--sync-endpoint")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="an extra argument for dslc serve (repeatable), e.g. --serve-arg=--max-batch=64")
    parser.add_argument("--model-name", help="the model's name in the URL (default: discovered)")
    parser.add_argument("--skip-fastapi", action="store_true")
    parser.add_argument("--skip-dslc", action="store_true")
    parser.add_argument("--out", help="a directory for results.json and table.md")
    args = parser.parse_args()
    try:
        args.concurrency = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        parser.error(f"--concurrency {args.concurrency!r}: expected numbers separated by commas")

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="serve-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    dslc = Path(args.dslc) if args.dslc else sc.build_dslc()
    load = Path(args.load) if args.load else sc.build_load()
    weights = sc.trained_weights(dslc, work, args.weights, args.data)
    onnx = work / "mlp.onnx"
    subprocess.run([str(dslc), "export", str(sc.MODEL_FILE), "--weights", str(weights), "-o", str(onnx)],
                   check=True, stdout=subprocess.DEVNULL)

    results = {"machine": sc.machine(), "duration_s": args.duration_s, "warmup_s": args.warmup_s,
               "weights": str(weights), "uvicorn_workers": args.workers}
    if not args.skip_fastapi:
        sc.log(f"FastAPI + uvicorn ({args.workers} workers) + onnxruntime:")
        server = sc.Server([args.python, str(FASTAPI), "--onnx", str(onnx), "--model", "mnist_mlp",
                            "--port", "0", "--workers", str(args.workers), *args.fastapi_arg], "the FastAPI server")
        try:
            results["fastapi"] = measure(server, load, args, "FastAPI")
            results["fastapi"]["fastapi_args"] = args.fastapi_arg
        finally:
            server.stop()
    if args.skip_dslc:
        pass
    elif not sc.has_serve(dslc):
        sc.log(f"SKIPPED dslc serve: {dslc} has no `serve` subcommand yet (issue 14)")
        results["dslc"] = None
    else:
        sc.log("dslc serve:")
        server = sc.Server([str(dslc), "serve", str(sc.MODEL_FILE), "--weights", str(weights),
                            "--port", "0", *args.serve_arg], "dslc serve")
        try:
            results["dslc"] = measure(server, load, args, "dslc serve")
            results["dslc"]["serve_args"] = args.serve_arg
        finally:
            code = server.stop()
            results["dslc"]["exit_code_after_sigterm"] = code

    text = table(results)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / "table.md").write_text(text + "\n")
        sc.log(f"wrote {out}/results.json and table.md")


if __name__ == "__main__":
    main()
