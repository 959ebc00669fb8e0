"""Layer 3: generated projects install the way their README says and their own suites pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import COMBINATIONS, CONFIG_ENV_PREFIXES, Variant, exclusive, find_python, render

pytestmark = pytest.mark.generated_suite

VARIANTS = {v.id: v for v in COMBINATIONS}
# (variant, the generated suite's `-m` expression), longest first. Together they run
# the named project's whole suite, split in two items so that its slow layer (chaos,
# recovery, scale-out; only here, to keep CI short) runs beside its other tests on
# another xdist worker, from the same install. The other variants skip the slow
# layer (it exercises the same code), and the minimal one runs only the fast layer
# (no dev server, no OpenBao): its options only remove code that the other
# variants' integration tests cover.
LAYERS = [
    ("billing-ops-agent", "slow"),
    ("billing-ops-agent", "not slow"),
    ("everything", "not slow"),
    ("minimal", "not slow and not integration"),
]
# One variant installs the way the README's uv block says, the others with pip.
UV_VARIANT = "minimal"


def run(
    command: list[str], cwd: Path, timeout: float = 1500, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_ENV_PREFIXES)}
    env.update(extra_env or {})
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def readme_install_commands(project: Path, installer: str = "pip") -> list[str]:
    """The quickstart's shell lines, so the test follows the README rather than a copy of it."""
    readme = (project / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1]
    if installer == "uv":
        quickstart = quickstart.split("with [uv]", 1)[1]
    block = quickstart.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines() if line.strip()]


def runs_tests(line: str) -> bool:
    """`.venv/bin/pytest ...` or `uv run --extra dev pytest ...`: the README's test command."""
    return any(Path(word).name == "pytest" for word in line.split())


class Installed:
    """A variant rendered and installed once by its README, for every item that tests it."""

    def __init__(self, variant: Variant, shared: Path) -> None:
        self.variant = variant
        self.installer = "uv" if variant.id == UV_VARIANT else "pip"
        version = variant.options["python_version"]
        python = find_python(version)
        if python is None:
            pytest.fail(f"Python {version} is needed for this variant; install it (e.g. with pyenv)")
        self.python, self.version = python, version
        self.env: dict[str, str] = {}
        if self.installer == "uv":
            # uv from the template's tooling (requirements-dev.txt), on a local Python only.
            tooling = str(Path(sys.executable).parent)
            self.env = {"PATH": f"{tooling}:{os.environ['PATH']}", "UV_PYTHON": python}
            self.env["UV_PYTHON_DOWNLOADS"] = "never"
        root = shared / "generated" / variant.id
        with exclusive(shared / "generated" / f"{variant.id}.lock"):
            result = root / "install.json"
            if not result.exists():
                result.parent.mkdir(parents=True, exist_ok=True)
                result.write_text(json.dumps(self._install(root / "render")))
        outcome = json.loads(result.read_text())
        assert not outcome["error"], outcome["error"]
        self.project = Path(outcome["project"])
        self.test_lines = [line for line in self.commands() if runs_tests(line)]

    def commands(self, project: Path | None = None) -> list[str]:
        # The README says `pythonX.Y`; use the interpreter found for that version.
        lines = readme_install_commands(project or self.project, self.installer)
        return [re.sub(rf"^python{re.escape(self.version)}\b", self.python, line) for line in lines]

    def _install(self, target: Path) -> dict[str, str]:
        project = render(target, self.variant.answers)
        for line in self.commands(project):
            if runs_tests(line):
                continue  # each item runs the README's test command with its own markers
            result = run(["bash", "-c", line], cwd=project, extra_env=self.env)
            if result.returncode != 0:
                return {
                    "project": str(project),
                    "error": f"`{line}` failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}",
                }
        return {"project": str(project), "error": ""}


@pytest.fixture(scope="session")
def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this session sees (the session's base temp)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.mark.parametrize(
    ("variant_id", "markers"),
    [pytest.param(v, m, id=v if m != "slow" else f"{v}-slow") for v, m in LAYERS],
)
def test_generated_project_installs_and_its_suite_passes(
    variant_id: str, markers: str, shared_tmp: Path
) -> None:
    installed = Installed(VARIANTS[variant_id], shared_tmp)
    project = installed.project
    assert installed.test_lines, "the README's quickstart runs the tests"
    for line in installed.test_lines:
        result = run(
            ["bash", "-c", line],
            cwd=project,
            extra_env={**installed.env, "PYTEST_ADDOPTS": f"-m '{markers}'"},
        )
        assert result.returncode == 0, f"`{line}` failed:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
        # Nothing silently left out: the layer ran tests and skipped none without saying why.
        assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]

    if markers == "slow":
        return  # lint and types: once per variant, in its main item
    for check in (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]):
        result = run([str(project / ".venv" / "bin" / check[0]), *check[1:]], cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_each_quickstart_has_one_test_command_after_the_install(installer: str, tmp_path: Path) -> None:
    """The items above install once, then run that one line per layer: it must be found."""
    lines = readme_install_commands(render(tmp_path, {}), installer)
    assert [runs_tests(line) for line in lines].count(True) == 1, lines
    assert runs_tests(lines[-1]), lines
