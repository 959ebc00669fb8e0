"""The README's promises hold: both commands exist, every option is documented, CI runs the tests."""

from __future__ import annotations

import os
import re

from tests.support import OPTION_KEYS, TEMPLATE_DIR

README = (TEMPLATE_DIR / "README.md").read_text()
FREE_TEXT_KEYS = [
    "project_name",
    "project_slug",
    "package_name",
    "description",
    "author_name",
    "author_email",
]


def two_commands() -> list[str]:
    block = README.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_readme_shows_two_executable_commands() -> None:
    commands = two_commands()
    assert commands == ["scripts/demo.sh", "scripts/test.sh"]
    for command in commands:
        assert os.access(TEMPLATE_DIR / command, os.X_OK), command


def test_ci_runs_the_readme_test_command() -> None:
    ci = (TEMPLATE_DIR / ".ci" / "run").read_text()
    assert re.search(r"^exec bash scripts/test\.sh$", ci, re.MULTILINE)


def test_every_option_is_documented() -> None:
    options_doc = (TEMPLATE_DIR / "docs" / "options.md").read_text()
    for key in OPTION_KEYS + FREE_TEXT_KEYS:
        assert f"`{key}`" in README, f"{key} missing from the README options table"
        assert key in options_doc, f"{key} missing from docs/options.md"


def test_docs_links_resolve() -> None:
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)\)", README):
        assert (TEMPLATE_DIR / target).is_file(), target
