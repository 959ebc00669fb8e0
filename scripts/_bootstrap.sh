# Shared by demo.sh and test.sh: find a Python >= 3.12 and prepare .venv with
# the template's tooling. Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python() {
    # Prefer an explicit choice, then PATH, then pyenv's installs (no network).
    local candidate
    for candidate in "${TEMPLATE_PYTHON:-}" python3.12 python3.13 \
        "$HOME"/.pyenv/versions/3.12*/bin/python "$HOME"/.pyenv/versions/3.13*/bin/python; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.12 or newer is needed (set TEMPLATE_PYTHON=/path/to/python3.12)" >&2
    return 1
}

bootstrap() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$(find_python)" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt"
}
