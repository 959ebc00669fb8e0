"""Layer 3: generated projects install the way their README says and their own suites pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import COMBINATIONS, CONFIG_ENV_PREFIXES, Variant, find_python, render

pytestmark = pytest.mark.generated_suite

RUN_VARIANTS = [v for v in COMBINATIONS if v.id in {"billing-ops-agent", "minimal", "everything"}]
# The named project runs its whole suite, slow resilience tests included; the
# other variants skip those (they exercise the same code) to keep CI short, and
# the minimal one runs only the fast layer (no dev server, no OpenBao): its
# options only remove code that the other variants' integration tests cover.
FULL_SUITE_VARIANT = "billing-ops-agent"
MARKERS = {"minimal": "not slow and not integration"}


def run(
    command: list[str], cwd: Path, timeout: float = 1500, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_ENV_PREFIXES)}
    env.update(extra_env or {})
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


# One variant installs the way the README's uv block says, the others with pip.
UV_VARIANT = "minimal"


def readme_install_commands(project: Path, installer: str = "pip") -> list[str]:
    """The quickstart's shell lines, so the test follows the README rather than a copy of it."""
    readme = (project / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1]
    if installer == "uv":
        quickstart = quickstart.split("with [uv]", 1)[1]
    block = quickstart.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines() if line.strip()]


@pytest.mark.parametrize("variant", [pytest.param(v, id=v.id) for v in RUN_VARIANTS])
def test_generated_project_installs_and_its_suite_passes(variant: Variant, tmp_path: Path) -> None:
    project = render(tmp_path, variant.answers)
    version = variant.options["python_version"]
    python = find_python(version)
    if python is None:
        pytest.fail(f"Python {version} is needed for this variant; install it (e.g. with pyenv)")

    markers = MARKERS.get(variant.id, "not slow")
    pytest_options = {} if variant.id == FULL_SUITE_VARIANT else {"PYTEST_ADDOPTS": f"-m '{markers}'"}
    installer = "uv" if variant.id == UV_VARIANT else "pip"
    if installer == "uv":
        # uv from the template's tooling (requirements-dev.txt), on a local Python only.
        tooling = str(Path(sys.executable).parent)
        pytest_options |= {"PATH": f"{tooling}:{os.environ['PATH']}", "UV_PYTHON": python}
        pytest_options["UV_PYTHON_DOWNLOADS"] = "never"
    for line in readme_install_commands(project, installer):
        # The README says `pythonX.Y`; use the interpreter found for that version.
        command = re.sub(rf"^python{re.escape(version)}\b", python, line)
        result = run(["bash", "-c", command], cwd=project, extra_env=pytest_options)
        assert result.returncode == 0, f"`{line}` failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"

    for check in (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]):
        result = run([str(project / ".venv" / "bin" / check[0]), *check[1:]], cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
