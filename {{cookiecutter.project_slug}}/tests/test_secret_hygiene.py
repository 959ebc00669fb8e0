"""What ships with the project holds no secret: .env.example, .gitignore, Dockerfile."""

from __future__ import annotations

import re
from pathlib import Path

from {{ cookiecutter.package_name }}.config import PLACEHOLDER_VALUES
from {{ cookiecutter.package_name }}.observability.redaction import is_secret_key

PROJECT = Path(__file__).resolve().parents[1]
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def test_env_example_holds_placeholders_only() -> None:
    checked = 0
    for line in (PROJECT / ".env.example").read_text().splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match and is_secret_key(match.group(1)):
            checked += 1
            assert match.group(2).strip().lower() in PLACEHOLDER_VALUES, line
    assert checked >= 2  # OPENAI_API_KEY and the secrets backend's credentials at least


def test_dotenv_is_git_ignored() -> None:
    ignored = (PROJECT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert "!.env.example" in ignored


def test_dockerfile_bakes_in_no_secret() -> None:
    dockerfile = (PROJECT / "Dockerfile").read_text()
    for name in re.findall(r"^\s*(?:ENV|ARG)\s+([A-Za-z_][A-Za-z0-9_]*)", dockerfile, re.M):
        assert not is_secret_key(name), name
    assert ".env" not in dockerfile
    dockerignore = (PROJECT / ".dockerignore").read_text().splitlines()
    assert ".env" in dockerignore
