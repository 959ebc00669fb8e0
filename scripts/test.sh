#!/usr/bin/env bash
# Run the template's whole test suite: render every option, lint and type-check
# each variant, install generated projects and run their own test suites
# (their browser tests need Chromium: installed with apt-get when missing).
# It runs on several pytest-xdist workers (TEST_WORKERS, default: the number of
# cores but at least 3): the suite mostly waits on installs and local servers, so
# the generated projects' suites run side by side rather than one after another.
# Extra arguments go to pytest (e.g. `scripts/test.sh -k hooks`, or `-n 0` to run
# in one process).
source "$(dirname "$0")/_bootstrap.sh"
bootstrap
ensure_browser
cd "$ROOT"
cores="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
workers="${TEST_WORKERS:-$((cores > 3 ? cores : 3))}"
# loadgroup hands out one test at a time in collection order (tests/conftest.py
# puts the longest first), so no long test waits behind another on a busy worker.
exec "$VENV/bin/pytest" tests -n "$workers" --dist loadgroup "$@"
