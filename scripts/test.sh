#!/usr/bin/env bash
# Run the template's whole test suite: render every option, lint and type-check
# each variant, install generated projects and run their own test suites
# (their browser tests need Chromium: installed with apt-get when missing).
# Extra arguments go to pytest (e.g. `scripts/test.sh -k hooks`).
source "$(dirname "$0")/_bootstrap.sh"
bootstrap
ensure_browser
cd "$ROOT"
exec "$VENV/bin/pytest" tests "$@"
