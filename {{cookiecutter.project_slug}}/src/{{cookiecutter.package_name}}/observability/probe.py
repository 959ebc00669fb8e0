"""Probe a health endpoint with the standard library: what ``healthcheck`` runs in a
container ``HEALTHCHECK`` or a Kubernetes exec probe, where there is no curl."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    healthy: bool
    summary: str


def probe(url: str, *, timeout: float) -> ProbeResult:
    """GET ``url``; healthy only on HTTP 200. The summary names what failed."""
    if not url.startswith(("http://", "https://")):
        return ProbeResult(False, f"{url}: not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - checked above
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return ProbeResult(False, f"{url}: no answer ({reason})")
    return ProbeResult(status == 200, f"{url}: HTTP {status}{_describe(body)}")


def _describe(body: bytes) -> str:
    try:
        report = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(report, dict):
        return ""
    parts = []
    for dependency in report.get("dependencies", []):
        if isinstance(dependency, dict):
            state = "ok" if dependency.get("healthy") else f"FAIL: {dependency.get('detail')}"
            parts.append(f"{dependency.get('name')} {state}")
    status = report.get("status", "?")
    return f" {status}" + (f" ({'; '.join(parts)})" if parts else "")
