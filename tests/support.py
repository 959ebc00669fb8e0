"""Rendering helpers shared by the template's tests.

The option variants are built from cookiecutter.json itself, so a new option or
a new choice is tested without anyone remembering to add it here.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
WORK_DIR = TEMPLATE_DIR / ".work"
COOKIECUTTER_JSON: dict[str, Any] = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
DEFAULTS: dict[str, Any] = {
    key: (value[0] if isinstance(value, list) else value)
    for key, value in COOKIECUTTER_JSON.items()
    if not key.startswith("_")
}
PYTHON_VERSIONS: list[str] = COOKIECUTTER_JSON["python_version"]
# Variables a generated service reads; the tests must not inherit them from this shell.
CONFIG_ENV_PREFIXES = ("AGENT_", "TEMPORAL_", "VAULT_", "OPENAI_", "OTEL_")


CHOICE_KEYS = [k for k, v in COOKIECUTTER_JSON.items() if not k.startswith("_") and isinstance(v, list)]
BOOL_KEYS = [k for k, v in COOKIECUTTER_JSON.items() if not k.startswith("_") and isinstance(v, bool)]
OPTION_KEYS = CHOICE_KEYS + BOOL_KEYS


@dataclass(frozen=True)
class Variant:
    id: str
    answers: dict[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> dict[str, Any]:
        """Every option's value in this variant, defaults filled in."""
        return {key: self.answers.get(key, DEFAULTS[key]) for key in OPTION_KEYS}


def _needs(answers: dict[str, Any]) -> dict[str, Any]:
    """Add what an answer requires to be a supported combination."""
    if answers.get("payload_encryption") is True:
        return {"secrets_backend": "vault", **answers}
    return answers


def option_variants() -> list[Variant]:
    """The defaults, then every non-default value of every option once."""
    variants = [Variant("defaults")]
    for key in CHOICE_KEYS:
        for value in COOKIECUTTER_JSON[key][1:]:
            variants.append(Variant(f"{key}={value}", _needs({key: value})))
    for key in BOOL_KEYS:
        value = not COOKIECUTTER_JSON[key]
        variants.append(Variant(f"{key}={'yes' if value else 'no'}", _needs({key: value})))
    return variants


# Combinations worth their own render: everything off, everything on, a named project.
COMBINATIONS = [
    Variant(
        "minimal",
        {
            "approval_ui": False,
            "secrets_backend": "env",
            "payload_encryption": False,
            "python_version": "3.11",
            "license": "Apache-2.0",
        },
    ),
    Variant(
        "everything",
        {
            "approval_ui": True,
            "secrets_backend": "vault",
            "payload_encryption": True,
            "python_version": "3.13",
            "license": "Proprietary",
        },
    ),
    Variant("billing-ops-agent", {"project_name": "Billing Ops Agent"}),
    # The longest slug allowed (40 characters): generated code must format the same.
    Variant(
        "longest-name",
        {"project_name": "Quarterly Revenue Reconciliation Agent X", "payload_encryption": True},
    ),
]

ALL_VARIANTS = option_variants() + COMBINATIONS


def render(output_dir: Path, answers: dict[str, Any], template: Path = TEMPLATE_DIR) -> Path:
    """Generate a project the way `cookiecutter . --no-input key=value` does."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stringified = {k: ("yes" if v is True else "no" if v is False else v) for k, v in answers.items()}
    project = cookiecutter(
        str(template),
        no_input=True,
        extra_context=stringified,
        output_dir=str(output_dir),
        default_config=True,
    )
    return Path(project)


def cookiecutter_cli(output_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the cookiecutter command line exactly as a user types it."""
    output_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR), "--no-input", "-o", str(output_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def find_python(version: str) -> str | None:
    """An interpreter of exactly `version`, from PATH or pyenv's installs (no download)."""
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p / "bin" / "python") for p in sorted(pyenv_root.glob(f"{version}.*"), reverse=True)]
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def project_dependencies(project: Path) -> list[str]:
    """Runtime and dev requirements declared by a generated pyproject.toml."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return list(pyproject["dependencies"]) + list(pyproject["optional-dependencies"]["dev"])


def tools_venv(project: Path) -> Path:
    """A venv holding every dependency of `project` (not the project itself), reused across runs.

    ruff and mypy run from it against each rendered variant; it is rebuilt when the
    declared dependencies change.
    """
    requirements = sorted(project_dependencies(project))
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:16]
    venv = WORK_DIR / "tools-venv"
    with exclusive(WORK_DIR / "tools-venv.lock"):  # parallel workers build it once
        return _build_tools_venv(venv, requirements, digest)


def _build_tools_venv(venv: Path, requirements: list[str], digest: str) -> Path:
    marker = venv / "requirements.sha"
    if marker.exists() and marker.read_text() == digest:
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    python = find_python("3.12") or sys.executable
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        check=True,
    )
    marker.write_text(digest)
    return venv


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (created if missing), across processes.

    The suite runs on several xdist workers; what they share on disk (the tools
    venv, a generated project installed once for two test items) is built under it.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
