"""The README's test command sets up what it needs by itself, and CI runs nothing else.

``scripts/_bootstrap.sh``'s ``ensure_browser`` is exercised with stand-in
``apt-get``, ``sudo`` and ``id`` on a PATH of their own (this machine's own
Chromium is never touched): it installs Debian's chromium as root, through sudo
otherwise, and stops with one clear line when it cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import TEMPLATE_DIR

BOOTSTRAP = TEMPLATE_DIR / "scripts" / "_bootstrap.sh"
CI_RUN = TEMPLATE_DIR / ".ci" / "run"


def test_ci_only_delegates_to_the_readme_test_command() -> None:
    code = [
        line.strip()
        for line in CI_RUN.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert code == [
        "set -euo pipefail",
        'cd "$(dirname "$0")/.."',
        "exec bash scripts/test.sh",
    ]


def test_the_test_command_sets_up_the_browser() -> None:
    lines = (TEMPLATE_DIR / "scripts" / "test.sh").read_text().splitlines()
    assert lines.index("ensure_browser") > lines.index("bootstrap")
    assert lines.index("ensure_browser") < next(
        i for i, l in enumerate(lines) if "pytest" in l and l.startswith("exec")
    )


def stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def sandbox(tmp_path: Path, *, uid: int, sudo: bool, apt: bool) -> tuple[Path, dict[str, str]]:
    """A PATH with only stand-ins: no browser, a chosen uid, sudo and apt-get or not."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("dirname", "cat", "chmod"):
        os.symlink(shutil.which(tool) or f"/usr/bin/{tool}", bin_dir / tool)
    stub(bin_dir, "id", f"echo {uid}")
    if sudo:
        stub(bin_dir, "sudo", f'echo "sudo $*" >> {log}; [ "$1" = -n ] && shift; exec "$@"')
    if apt:
        # `install` puts a stand-in chromium on PATH, as the real package would.
        stub(
            bin_dir,
            "apt-get",
            f'echo "apt-get $* (uid $(id -u))" >> {log}\n'
            f'if [ "$1" = install ]; then printf "#!/bin/bash\\n" > {bin_dir}/chromium; '
            f"chmod +x {bin_dir}/chromium; fi",
        )
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    return log, env


def ensure_browser(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-c", f"source {BOOTSTRAP} && ensure_browser && find_browser"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(("uid", "prefix"), [(0, ""), (1000, "sudo -n ")], ids=["root", "sudo"])
def test_missing_chromium_is_installed_with_apt(tmp_path: Path, uid: int, prefix: str) -> None:
    log, env = sandbox(tmp_path, uid=uid, sudo=True, apt=True)
    done = ensure_browser(env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "bin" / "chromium")
    calls = log.read_text().splitlines()
    apt = [call for call in calls if call.startswith("apt-get")]
    assert [call.split(" (")[0] for call in apt] == ["apt-get update -qq", "apt-get install -y -qq chromium"]
    assert [call for call in calls if call.startswith("sudo")] == (
        [f"{prefix}apt-get update -qq", f"{prefix}apt-get install -y -qq chromium"] if prefix else []
    )


def test_present_browser_or_opt_out_installs_nothing(tmp_path: Path) -> None:
    log, env = sandbox(tmp_path, uid=0, sudo=True, apt=True)
    stub(tmp_path / "bin", "google-chrome", "")
    assert ensure_browser(env).returncode == 0
    assert not log.exists()
    (tmp_path / "bin" / "google-chrome").unlink()
    skipped = subprocess.run(
        ["/bin/bash", "-c", f"source {BOOTSTRAP} && ensure_browser"],
        env={**env, "SKIP_BROWSER_TESTS": "1"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert skipped.returncode == 0
    assert not log.exists()


@pytest.mark.parametrize(
    ("sudo", "apt", "reason"),
    [(False, True, "not root and no sudo"), (True, False, "no apt-get")],
    ids=["no-sudo", "no-apt"],
)
def test_no_way_to_install_stops_with_one_clear_line(
    tmp_path: Path, sudo: bool, apt: bool, reason: str
) -> None:
    _, env = sandbox(tmp_path, uid=1000, sudo=sudo, apt=apt)
    done = ensure_browser(env)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: the browser tests need Chromium")
    assert reason in line
    assert "apt-get install -y chromium" in line and "CHROMIUM_PATH" in line
