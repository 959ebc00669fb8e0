# Shared by demo.sh and test.sh: find a Python >= 3.12 and prepare .venv with
# the template's tooling. Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# pip's version check is noise in every install the scripts and tests run.
export PIP_DISABLE_PIP_VERSION_CHECK=1

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

# The generated approval page is tested in a real headless browser: a system
# Chromium or Chrome, driven by Playwright (which never downloads a browser).
# Without one, install Debian's chromium with apt-get: as root, or through sudo.
BROWSER_NAMES=(chromium chromium-browser google-chrome google-chrome-stable)
BROWSER_ADVICE="install it yourself (Debian/Ubuntu: sudo apt-get install -y chromium), \
or set CHROMIUM_PATH=/path/to/chromium-or-chrome, or SKIP_BROWSER_TESTS=1 to skip the browser tests"

find_browser() {
    local name
    for name in "${BROWSER_NAMES[@]}"; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

ensure_browser() {
    if [ -n "${CHROMIUM_PATH:-}" ] || [ "${SKIP_BROWSER_TESTS:-}" = 1 ] || find_browser >/dev/null; then
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "error: the browser tests need Chromium; not root and no sudo to install it: $BROWSER_ADVICE" >&2
            return 1
        fi
        # Ask for a password only when someone is there to type it.
        if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: the browser tests need Chromium and this machine has no apt-get: $BROWSER_ADVICE" >&2
        return 1
    fi
    echo "installing Debian's chromium for the browser tests (apt-get)..." >&2
    if ! { "${sudo[@]}" apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >/dev/null; }; then
        echo "error: apt-get could not install chromium: $BROWSER_ADVICE" >&2
        return 1
    fi
    find_browser >/dev/null || {
        echo "error: chromium was installed but is not on PATH: $BROWSER_ADVICE" >&2
        return 1
    }
}
