"""Summarize a ``py-spy record --format raw`` profile: where the worker's CPU goes.

Two views: *self* time by library (the frame that was on the CPU, grouped by the
top-level package of its file), and *inclusive* time by module of the generated
package (a stack counts once for each of its modules, so interceptors, log
processors and the converter show what they cost including what they call).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def library(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/src/" in path:
        rest = path.split("/src/", 1)[1]
        parts = rest.split("/")
        return "/".join(parts[:2]) if len(parts) > 2 else parts[0]
    if "/lib/python3" in path:
        return "stdlib:" + path.rsplit("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
    return Path(path).name or "?"


def summarize(raw: str, package: str, top: int = 12) -> dict[str, Any]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [FRAME.match(frame) for frame in stack.split(";")]
        files = [match.group("file") for match in frames if match]
        if files:
            self_time[library(files[-1])] += count
        # The entry point (the CLI starting the worker) is under every sample: left out.
        ours = {
            f"{package}/" + file.split(f"/{package}/", 1)[1]
            for file in files
            if f"/{package}/" in file and f"/{package}/cli/" not in file
        }
        for module in ours:
            inclusive[module] += count
    share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {
        "samples": total,
        "self_by_library": [(name, share(n)) for name, n in self_time.most_common(top)],
        "inclusive_by_module": [(name, share(n)) for name, n in inclusive.most_common(top)],
    }


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1]).read_text(), sys.argv[2]))
