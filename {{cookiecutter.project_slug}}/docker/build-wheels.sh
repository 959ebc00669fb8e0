#!/bin/sh
# Build the wheels the runtime image installs (the Dockerfile's builder stage runs
# this; tests/test_deploy.py runs it outside Docker).
#   with uv.lock (`uv lock`, committed): exactly the locked versions, hash-checked,
#     so every build of the same commit gets the same dependencies;
#   without:                             pip resolves pyproject.toml's ranges.
# Usage: sh docker/build-wheels.sh <wheel dir>   (run from the project folder)
set -eu
out="${1:?usage: build-wheels.sh <wheel dir>}"
# Use the image's Python; never download one.
export UV_PYTHON_DOWNLOADS=never
if [ -f uv.lock ]; then
    python -m pip install --quiet "uv>=0.5,<1"
    locked="$(mktemp)"
    python -m uv export --quiet --frozen --no-emit-project --format requirements-txt \
        --output-file "$locked"
    python -m pip wheel --quiet --require-hashes --wheel-dir "$out" -r "$locked"
    python -m pip wheel --quiet --no-deps --wheel-dir "$out" .
    rm -f "$locked"
else
    python -m pip wheel --quiet --wheel-dir "$out" .
fi
