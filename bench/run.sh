#!/usr/bin/env bash
# Benchmark the generated service against a bare Temporal baseline, from a fresh clone:
# prepares the template's tooling (.venv), renders the default project, installs it
# in its own virtualenv, starts one Temporal dev server and measures both.
# Results: bench/results/<time>.{json,md} and the results block of docs/benchmarks.md.
# Extra arguments go to bench/run.py (e.g. `bench/run.sh --runs 200 --concurrency 20`).
source "$(dirname "$0")/../scripts/_bootstrap.sh"
bootstrap
exec "$VENV/bin/python" "$ROOT/bench/run.py" "$@"
