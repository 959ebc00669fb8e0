"""Layer 2: ruff and mypy --strict pass on the generated code of every variant."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import variant_params
from tests.support import WORK_DIR, Variant, tools_venv

pytestmark = pytest.mark.static


@pytest.fixture(scope="session")
def tools(rendered_projects: dict[str, Path]) -> Path:
    """ruff, mypy and every dependency of the fullest variant, in one reusable venv."""
    return tools_venv(rendered_projects["everything"]) / "bin"


def run_tool(tools: Path, project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYPY_CACHE_DIR": str(WORK_DIR / "mypy-cache")}
    return subprocess.run(
        [str(tools / command[0]), *command[1:]],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("variant", variant_params())
def test_ruff_check(variant: Variant, rendered_projects: dict[str, Path], tools: Path) -> None:
    result = run_tool(tools, rendered_projects[variant.id], "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", variant_params())
def test_ruff_format(variant: Variant, rendered_projects: dict[str, Path], tools: Path) -> None:
    result = run_tool(tools, rendered_projects[variant.id], "ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", variant_params())
def test_mypy_strict(variant: Variant, rendered_projects: dict[str, Path], tools: Path) -> None:
    result = run_tool(tools, rendered_projects[variant.id], "mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
