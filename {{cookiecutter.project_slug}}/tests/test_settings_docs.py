"""Every setting is documented: in the README's settings table and in .env.example.

The settings class is the source of truth; a field added without documentation
fails here. Options that were not generated (Vault, payload encryption, the
HTTP API) leave their settings out of both documents, as the files that use
them are absent too.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"
VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]+)`")
EXAMPLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]+)=")

# Settings that only matter when an option was generated: (module that option
# ships, field names or prefixes it owns).
OPTIONAL: list[tuple[str, tuple[str, ...]]] = [
    (f"{PACKAGE}.secrets.vault", ("vault_", "secrets_cache_ttl_seconds")),
    (f"{PACKAGE}.codec", ("codec_", "payload_encryption")),
    (f"{PACKAGE}.api", ("api_",)),
]


def _generated(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def applicable_fields() -> list[str]:
    skipped = tuple(
        prefix for module, prefixes in OPTIONAL if not _generated(module) for prefix in prefixes
    )
    return [name for name in Settings.model_fields if not name.startswith(skipped)]


def env_names(field_name: str) -> set[str]:
    """The variables that feed a field (any one of them documents it)."""
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, str):
        return {alias}
    if isinstance(alias, AliasChoices):
        return {str(choice) for choice in alias.choices}
    return {f"{ENV_PREFIX}{field_name.upper()}"}


def readme_table_variables() -> set[str]:
    text = (PROJECT / "README.md").read_text()
    table = text.split("| variable | default | meaning |", 1)[1].split("\n\n", 1)[0]
    return set(VARIABLE.findall(table))


def env_example_variables() -> set[str]:
    lines = (PROJECT / ".env.example").read_text().splitlines()
    return {match.group(1) for line in lines if (match := EXAMPLE_LINE.match(line))}


@pytest.mark.parametrize(
    ("document", "variables"),
    [("README.md settings table", readme_table_variables), (".env.example", env_example_variables)],
)
def test_every_setting_is_documented(document: str, variables: object) -> None:
    assert callable(variables)
    documented: set[str] = variables()
    missing = sorted(
        " or ".join(sorted(env_names(field)))
        for field in applicable_fields()
        if not env_names(field) & documented
    )
    assert missing == [], f"{document} does not mention: {', '.join(missing)}"


def test_documents_name_no_unknown_agent_setting() -> None:
    known = {name for field in Settings.model_fields for name in env_names(field)}
    for variables in (readme_table_variables(), env_example_variables()):
        unknown = {
            name
            for name in variables
            if name.startswith(ENV_PREFIX) and not name.startswith(f"{ENV_PREFIX}SECRET__")
        } - known
        assert unknown == set()
