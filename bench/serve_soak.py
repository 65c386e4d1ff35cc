#!/usr/bin/env python3
"""Issue 14's soak: `dslc serve` under a fixed request rate for a long time
(default 10 minutes), sampling the server's resident memory (VmRSS from
/proc/PID/status, summed over its process tree) every few seconds into a
CSV, then reporting errors and whether memory grew beyond noise.

  python3 bench/serve_soak.py [--duration-s 600] [--rate 500] [--csv rss.csv]

Memory is judged flat when the mean RSS of the last minute exceeds the
mean of the first minute after the warm-up by no more than the larger of
1 MiB and 2% (allocator arenas and the kernel's accounting move by about
that much on their own). Runs shorter than three minutes compare the first
and last fifth instead. Exit status 0 only with no errors and flat memory.
`--server fastapi` soaks bench/serve_fastapi.py instead (to try the
script, or for comparison). Bounded: duration + about a minute of setup.
"""

import argparse
import csv
import json
import os
import statistics
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


def start_server(args, dslc, weights, work):
    if args.server == "fastapi":
        onnx = work / "mlp.onnx"
        subprocess.run([str(dslc), "export", str(sc.MODEL_FILE), "--weights", str(weights), "-o", str(onnx)],
                       check=True, stdout=subprocess.DEVNULL)
        return sc.Server([args.python, str(FASTAPI), "--onnx", str(onnx), "--model", "mnist_mlp",
                          "--port", "0", "--workers", str(args.workers)], "the FastAPI server")
    if not sc.has_serve(dslc):
        sc.log(f"SKIPPED: {dslc} has no `serve` subcommand yet (issue 14)")
        sys.exit(0)
    return sc.Server([str(dslc), "serve", str(sc.MODEL_FILE), "--weights", str(weights), "--port", "0",
                      *args.serve_arg], "dslc serve")


def windows(samples, duration_s, warmup_s):
    """(first, last) windows of (t, rss) samples to compare."""
    if duration_s - warmup_s >= 180:
        first = [s for s in samples if warmup_s <= s[0] < warmup_s + 60]
        last = [s for s in samples if s[0] >= duration_s - 60]
    else:
        span = (duration_s - warmup_s) / 5
        first = [s for s in samples if warmup_s <= s[0] < warmup_s + span]
        last = [s for s in samples if s[0] >= duration_s - span]
    return first, last


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second, fixed")
    parser.add_argument("--concurrency", type=int, default=32, help="connections carrying the fixed rate")
    parser.add_argument("--warmup-s", type=float, default=30.0,
                        help="seconds at the start left out of the memory comparison (errors still count)")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--csv", help="where the RSS samples go (default: WORK/rss.csv)")
    parser.add_argument("--work", help="where the model and checkpoint go (default: a temporary directory)")
    parser.add_argument("--weights", help="a trained mnist_mlp checkpoint to reuse instead of training")
    parser.add_argument("--data", default=str(sc.FASHION))
    parser.add_argument("--dslc", help="a dslc binary (default: cargo build --release -p dslc)")
    parser.add_argument("--load", help="the load binary (default: cargo build --release in bench/serve-load)")
    parser.add_argument("--server", choices=["dslc", "fastapi"], default="dslc")
    parser.add_argument("--serve-arg", action="append", default=[], help="an extra argument for dslc serve")
    parser.add_argument("--python", default=os.environ.get("NNSPEC_PYTHON", sys.executable))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn workers (--server fastapi)")
    parser.add_argument("--json", help="also write the report as JSON here")
    args = parser.parse_args()
    if args.warmup_s >= args.duration_s:
        parser.error("--warmup-s must be shorter than --duration-s")

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="serve-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    dslc = Path(args.dslc) if args.dslc else sc.build_dslc()
    load = Path(args.load) if args.load else sc.build_load()
    weights = sc.trained_weights(dslc, work, args.weights, args.data)
    csv_path = Path(args.csv) if args.csv else work / "rss.csv"

    server = start_server(args, dslc, weights, work)
    try:
        model = server.model_name(["mnist_mlp", "MnistMlp"])
        url = f"{server.base_url}/v2/models/{model}/infer"
        sc.log(f"soak: {args.duration_s:.0f} s at {args.rate:g} requests/s against {url}; RSS every {args.sample_s:g} s -> {csv_path}")
        generator = subprocess.Popen(
            [str(load), "--url", url, "--concurrency", str(args.concurrency), "--rate", str(args.rate),
             "--duration-s", str(args.duration_s), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        start = time.monotonic()
        samples = []
        with open(csv_path, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["t_s", "rss_kib", "server_cpu_s"])
            while generator.poll() is None and time.monotonic() - start < args.duration_s + 60:
                t = time.monotonic() - start
                rss = server.rss_kib()
                samples.append((t, rss))
                out.writerow([f"{t:.1f}", rss, f"{server.cpu_seconds():.2f}"])
                f.flush()
                time.sleep(args.sample_s)
        if generator.poll() is None:
            generator.kill()
        stdout, stderr = generator.communicate()
        alive = server.process.poll() is None
    finally:
        exit_code = server.stop()

    if not stdout.strip():
        sc.log(f"the load generator failed: {stderr.strip()}")
        sys.exit(1)
    result = json.loads(stdout)
    first, last = windows(samples, args.duration_s, args.warmup_s)
    report = {"machine": sc.machine(), "server": args.server, "rate": args.rate, "duration_s": args.duration_s,
              "load": result, "server_alive_at_end": alive, "exit_code_after_sigterm": exit_code,
              "csv": str(csv_path)}
    if first and last:
        first_mean = statistics.mean(r for _, r in first)
        last_mean = statistics.mean(r for _, r in last)
        allowed = max(1024.0, 0.02 * first_mean)
        report["rss_kib"] = {
            "first_window_mean": round(first_mean), "first_window_max": max(r for _, r in first),
            "last_window_mean": round(last_mean), "last_window_max": max(r for _, r in last),
            "growth": round(last_mean - first_mean), "allowed_growth": round(allowed),
        }
        flat = last_mean - first_mean <= allowed
    else:
        flat = False
        report["rss_kib"] = None
    report["memory_flat"] = flat
    achieved = result["ok"] / result["elapsed_s"]
    lat = result["latency_ms"]
    print(f"CPU: {report['machine']['cpu']}; server: {args.server}; {result['ok']} ok, {result['errors']} errors "
          f"{result['errors_by_cause'] or ''}")
    print(f"rate asked {args.rate:g}/s, achieved {achieved:.1f}/s; latency ms p50 {lat['p50']} p99 {lat['p99']} max {lat['max']}")
    if report["rss_kib"]:
        m = report["rss_kib"]
        print(f"RSS KiB: first window mean {m['first_window_mean']} (max {m['first_window_max']}), "
              f"last window mean {m['last_window_mean']} (max {m['last_window_max']}); growth {m['growth']} "
              f"(allowed {m['allowed_growth']}): {'flat' if flat else 'GREW'}")
    else:
        print("RSS: too few samples to compare (lengthen --duration-s or shorten --sample-s)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    ok = result["errors"] == 0 and flat and alive
    print("soak:", "passed" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
