"""Layer 4: the pre-generation hook refuses bad answers clearly and leaves nothing behind."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.support import cookiecutter_cli

# (answers, field named in the message, a fragment of the rule)
REFUSALS = [
    (["project_slug=Bad Slug"], "project_slug", "lowercase distribution name"),
    (["project_slug=1agent"], "project_slug", "starts with a letter"),
    (["project_slug=agent--ops"], "project_slug", "single dashes"),
    (["project_slug=agent_ops"], "project_slug", "lowercase distribution name"),
    (["project_slug=" + "a" * 41], "project_slug", "at most 40 characters"),
    (["package_name=1agent"], "package_name", "lowercase Python identifier"),
    (["package_name=Billing"], "package_name", "lowercase Python identifier"),
    (["package_name=class"], "package_name", "Python keyword"),
    (["package_name=match"], "package_name", "Python keyword"),
    (["package_name=typing"], "package_name", "standard-library module"),
    (["package_name=test"], "package_name", "shadow a dependency"),
    (["package_name=json"], "package_name", "standard-library module"),
    (["package_name=temporalio"], "package_name", "shadow a dependency"),
    (["package_name=openai"], "package_name", "shadow a dependency"),
    (["package_name=pydantic"], "package_name", "shadow a dependency"),
    (["author_email=not-an-email"], "author_email", "email address"),
    (["author_email=someone@localhost"], "author_email", "email address"),
    (["author_email=a b@example.com"], "author_email", "email address"),
    (["project_name=", "project_slug=ok-agent"], "project_name", "non-empty single line"),
    (["project_name=Line one\nline two", "project_slug=ok-agent"], "project_name", "single line"),
    (["description=first\nsecond"], "description", "single line"),
    (["author_name=" + "x" * 101], "author_name", "at most 100 characters"),
    (["payload_encryption=yes", "secrets_backend=env"], "payload_encryption", "needs secrets_backend=vault"),
]


def refusal_id(case: tuple[list[str], str, str]) -> str:
    answers = " ".join(answer.replace("\n", "\\n") for answer in case[0])
    return answers if len(answers) < 40 else answers[:37] + "..."


@pytest.mark.parametrize("case", REFUSALS, ids=[refusal_id(c) for c in REFUSALS])
def test_refused_answer_is_named_and_leaves_nothing(case: tuple[list[str], str, str], tmp_path: Path) -> None:
    answers, field, rule = case
    result = cookiecutter_cli(tmp_path, *answers)
    assert result.returncode != 0
    assert f"ERROR: invalid answer {field}=" in result.stderr
    assert rule in result.stderr
    assert "example that passes:" in result.stderr
    assert list(tmp_path.iterdir()) == [], "a refused answer must leave no output directory"


@pytest.mark.parametrize(
    ("answer", "variable"),
    [
        ("python_version=3.10", "python_version"),
        ("secrets_backend=aws", "secrets_backend"),
        ("license=GPL", "license"),
        ("approval_ui=maybe", "approval_ui"),
    ],
)
def test_unknown_choice_is_refused_by_cookiecutter(answer: str, variable: str, tmp_path: Path) -> None:
    # Choices and booleans are checked by cookiecutter itself before our hook runs.
    result = cookiecutter_cli(tmp_path, answer)
    assert result.returncode != 0
    assert f"variable {variable}" in result.stderr
    assert list(tmp_path.iterdir()) == []


HOSTILE = {
    "project_name": 'O\'Brien "Ops" \\ Agent \'\'\' """',
    "project_slug": "obrien-ops-agent",
    "description": "__import__('os').system('touch PWNED') \"\"\" ''' \\n \\\"",
    "author_name": 'Ann "The Hacker" O\'Neil \\',
}


def test_hostile_answers_are_treated_as_data(tmp_path: Path) -> None:
    result = cookiecutter_cli(tmp_path / "out", *(f"{key}={value}" for key, value in HOSTILE.items()))
    assert result.returncode == 0, result.stderr
    project = tmp_path / "out" / "obrien-ops-agent"
    assert not list(tmp_path.rglob("PWNED")), "an answer was executed"
    assert not (Path.cwd() / "PWNED").exists()

    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["description"] == HOSTILE["description"]
    assert metadata["authors"] == [{"name": HOSTILE["author_name"], "email": "you@example.com"}]
    recorded = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    for key, value in HOSTILE.items():
        assert recorded[key] == value
    assert HOSTILE["project_name"] in (project / "README.md").read_text()


def test_newline_is_refused_not_executed(tmp_path: Path) -> None:
    hostile = "x\n__import__('os').system('touch PWNED')"
    result = cookiecutter_cli(tmp_path / "out", f"description={hostile}")
    assert result.returncode != 0
    assert "ERROR: invalid answer description=" in result.stderr
    assert not list(tmp_path.rglob("PWNED"))
