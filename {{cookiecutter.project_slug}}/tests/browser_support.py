"""Find the system Chromium/Chrome the browser tests drive (Playwright never downloads one).

``CHROMIUM_PATH`` wins when set; otherwise the usual names on PATH (Debian's
``chromium``, Ubuntu's ``chromium-browser``, Google Chrome as GitHub's runners
ship it) and their usual install paths are tried in order.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_PATHS = (
    "/usr/bin/chromium",
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/opt/google/chrome/chrome",
)
INSTALL_ADVICE = (
    "install one (Debian/Ubuntu: sudo apt-get install -y chromium) or set CHROMIUM_PATH "
    "to a Chromium/Chrome executable; SKIP_BROWSER_TESTS=1 skips the browser tests on purpose"
)


class BrowserNotFoundError(Exception):
    """No usable browser; the message says what was tried and what to do."""


def find_browser(
    environ: Mapping[str, str] | None = None, paths: Sequence[str] = BROWSER_PATHS
) -> str:
    """The browser executable to launch, or ``BrowserNotFoundError`` naming what to do."""
    env = os.environ if environ is None else environ
    chosen = env.get("CHROMIUM_PATH", "").strip()
    if chosen:
        if shutil.which(chosen) is None:
            raise BrowserNotFoundError(
                f"CHROMIUM_PATH={chosen} is not an executable file; {INSTALL_ADVICE}"
            )
        return chosen
    for name in BROWSER_NAMES:
        found = shutil.which(name, path=env.get("PATH"))
        if found is not None:
            return found
    for candidate in paths:
        if os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    raise BrowserNotFoundError(
        f"no Chromium/Chrome found (tried {', '.join(BROWSER_NAMES)} on PATH and "
        f"{', '.join(paths)}); {INSTALL_ADVICE}"
    )
