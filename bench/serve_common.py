"""Shared pieces of the serving benchmarks (serve_vs_fastapi.py and
serve_soak.py): building the tools, training the tutorial MLP, starting a
server and waiting until it is ready, and measuring a process tree's CPU
and memory from /proc. Standard library only."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL_FILE = REPO / "examples" / "mnist_mlp.nn"
FASHION = Path("/usr/share/datasets/fashion-mnist")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message):
    print(message, file=sys.stderr, flush=True)


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def build_load():
    """The load generator, built in release mode (it must not be the bottleneck)."""
    manifest = REPO / "bench" / "serve-load" / "Cargo.toml"
    log("building bench/serve-load (release) ...")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", str(manifest)], check=True)
    return target_dir() / "release" / "load"


def build_dslc():
    log("building dslc (release) ...")
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "dslc"], check=True, cwd=REPO)
    return target_dir() / "release" / "dslc"


def has_serve(dslc):
    """Whether this dslc has the `serve` subcommand (issue 14)."""
    probe = subprocess.run([str(dslc), "serve", "--help"], capture_output=True)
    return probe.returncode == 0


def trained_weights(dslc, work, weights=None, data=FASHION):
    """The tutorial MLP's checkpoint: `weights` if given, else one trained
    on `data` into work/model (reused when already there)."""
    if weights:
        return Path(weights)
    out = work / "model"
    checkpoint = out / "model.safetensors"
    if not checkpoint.is_file():
        log(f"training {MODEL_FILE.name} on {data} ...")
        subprocess.run(
            [str(dslc), "train", str(MODEL_FILE), "--data", str(data), "--out", str(out), "--force"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return checkpoint


class Server:
    """A server process that prints `listening on http://HOST:PORT` as its
    first stdout line and answers /v2/health/ready once it can serve."""

    def __init__(self, argv, name, start_timeout_s=60.0):
        self.name = name
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # so stop() reaches its worker processes
        )
        self.stderr_lines = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.base_url = self._read_url(start_timeout_s)
        self._wait_ready(start_timeout_s)

    def _drain_stderr(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            del self.stderr_lines[:-200]

    def _read_url(self, timeout_s):
        found = {}

        def read_first_line():
            found["line"] = self.process.stdout.readline()
            # Keep reading so the server never blocks on a full pipe.
            for _ in self.process.stdout:
                pass

        threading.Thread(target=read_first_line, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while "line" not in found and time.monotonic() < deadline and self.process.poll() is None:
            time.sleep(0.05)
        line = found.get("line", "")
        prefix = "listening on "
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError(
                f"{self.name} did not print '{prefix}URL' first (got {line!r}); stderr:\n"
                + "".join(self.stderr_lines[-20:])
            )
        return line[len(prefix):].strip().rstrip("/")

    def _wait_ready(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.base_url + "/v2/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} never became ready; stderr:\n" + "".join(self.stderr_lines[-20:]))

    def model_name(self, candidates):
        """The first of `candidates` the server has metadata for."""
        for name in candidates:
            try:
                with urllib.request.urlopen(f"{self.base_url}/v2/models/{name}", timeout=5) as answer:
                    if answer.status == 200:
                        json.load(answer)
                        return name
            except (urllib.error.URLError, OSError, ValueError):
                continue
        raise RuntimeError(f"{self.name} serves none of the model names {candidates}")

    def pids(self):
        """The server's process and its descendants (uvicorn's workers)."""
        children = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int(stat_fields(entry.name)[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def cpu_seconds(self):
        """User + system CPU time of the server's process tree so far."""
        total = 0
        for pid in self.pids():
            try:
                fields = stat_fields(pid)
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
        return total / CLOCK_TICKS

    def rss_kib(self):
        """Resident memory of the server's process tree, from /proc/PID/status."""
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except (OSError, ValueError):
                pass
        return total

    def stop(self, grace_s=10.0):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def stat_fields(pid):
    """/proc/PID/stat's fields after the command name (state is [0], ppid [1])."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def run_load(load, url, concurrency, duration_s, warmup_s, extra=()):
    argv = [
        str(load), "--url", url, "--concurrency", str(concurrency),
        "--duration-s", str(duration_s), "--warmup-s", str(warmup_s), "--json", *extra,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + warmup_s + 120)
    if not done.stdout.strip():
        raise RuntimeError(f"load generator failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def cpu_model():
    """The CPU's name, with its family and model numbers: a virtual
    machine often reports only the vendor's brand ("AMD EPYC")."""
    info = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    name = info.get("model name", "unknown CPU")
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']}, model {info['model']})"
    return name


def machine():
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "kernel": os.uname().release,
    }
