#!/usr/bin/env bash
# How long `dslc check` takes on the example models, end to end (process
# start, read, parse, check, print). Needs hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p dslc
hyperfine -N --warmup 10 --min-runs 200 \
    './target/release/dslc check examples/mnist_mlp.nn' \
    './target/release/dslc check examples/lenet.nn' \
    './target/release/dslc check examples/inception.nn' \
    "$@"
