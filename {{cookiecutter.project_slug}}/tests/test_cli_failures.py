"""Every CLI command fails in one line (exit 1 or 2), never a traceback, for expected failures.

Swept here: Temporal is down, and a run id that does not exist. (A run that
cannot be read because its codec key is gone: tests/test_unreadable_run.py.)
"""

from __future__ import annotations

import pytest

from tests.support import run_cli

pytestmark = pytest.mark.integration

# No Vault in these tests: the payload codec (when the template has one) stays off.
NO_VAULT = {"AGENT_PAYLOAD_ENCRYPTION": "false"}


def assert_one_line_failure(args: tuple[str, ...], env: dict[str, str], *needles: str) -> None:
    result = run_cli(*args, env=env)
    assert result.returncode in (1, 2), (args, result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, (args, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, (args, result.stderr)
    for needle in needles:
        assert needle in lines[0], (args, lines[0])


UNKNOWN = "agent-does-not-exist"


@pytest.mark.parametrize(
    "args",
    [
        ("status", UNKNOWN),
        ("approve", UNKNOWN, "--by", "alice"),
        ("reject", UNKNOWN, "--by", "alice"),
        ("export", UNKNOWN),
        ("replay", UNKNOWN),
    ],
    ids=lambda args: args[0],
)
def test_an_unknown_run_id_is_one_line(args: tuple[str, ...], temporal_address: str) -> None:
    assert_one_line_failure(args, {"TEMPORAL_ADDRESS": temporal_address, **NO_VAULT}, UNKNOWN)


@pytest.mark.parametrize(
    "args",
    [
        ("status", UNKNOWN),
        ("pending",),
        ("approve", UNKNOWN, "--by", "alice"),
        ("reject", UNKNOWN, "--by", "alice"),
        ("run", "hello"),
        ("export", UNKNOWN),
        ("replay", UNKNOWN),
    ],
    ids=lambda args: args[0],
)
def test_temporal_down_is_one_line(args: tuple[str, ...], closed_address: str) -> None:
    assert_one_line_failure(args, {"TEMPORAL_ADDRESS": closed_address, **NO_VAULT}, closed_address)
