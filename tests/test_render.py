"""Layer 1: every option renders, leaves no template syntax and yields the right files."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import variant_params
from tests.support import ALL_VARIANTS, COOKIECUTTER_JSON, OPTION_KEYS, Variant, render

# Files that exist only when an option has a given value (paths use the default package).
OPTION_FILES: dict[tuple[str, Any], list[str]] = {
    ("approval_ui", True): [
        "src/{pkg}/api/app.py",
        "src/{pkg}/api/approval_page.py",
        "src/{pkg}/cli/api.py",
        "deploy/k8s/api.yaml",
        "tests/test_api.py",
        "tests/test_approval_api.py",
        "tests/test_approval_page.py",
        "src/{pkg}/api/conversations.py",
        "tests/test_conversation_api.py",
        "tests/test_streaming_api.py",
        "src/{pkg}/api/events.py",
        "src/{pkg}/api/live_page.py",
        "tests/browser_support.py",
        "tests/test_browser_support.py",
    ],
    ("payload_encryption", True): [
        "src/{pkg}/runtime/codec.py",
        "src/{pkg}/runtime/codec_server.py",
        "src/{pkg}/cli/codec.py",
        "deploy/vault/policies/codec.hcl",
        "tests/test_codec.py",
        "tests/test_codec_server.py",
        "tests/test_payload_encryption.py",
    ],
    ("secrets_backend", "vault"): [
        "deploy/vault/policies/llm.hcl",
        "src/{pkg}/secrets/vault.py",
        "src/{pkg}/secrets/vault_errors.py",
        "src/{pkg}/secrets/vault_server.py",
        "src/{pkg}/secrets/vault_admin.py",
        "src/{pkg}/secrets/vault_tokens.py",
        "src/{pkg}/secrets/vault_session.py",
        "src/{pkg}/cli/secrets.py",
        "tests/test_vault_policies.py",
        "tests/test_health_vault.py",
        "tests/test_secrets_vault.py",
        "tests/test_secrets_e2e.py",
        "tests/test_mcp_vault.py",
    ],
}
ALWAYS_PRESENT = [
    "pyproject.toml",
    "Makefile",
    "README.md",
    "LICENSE",
    "Dockerfile",
    ".dockerignore",
    ".env.example",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".github/workflows/ci.yml",
    "docker-compose.yml",
    "deploy/k8s/worker.yaml",
    "deploy/k8s/autoscaling.yaml",
    "docs/runbooks.md",
    ".cruft.json",
    "src/{pkg}/__init__.py",
    "src/{pkg}/config.py",
    "src/{pkg}/cli/__init__.py",
    "src/{pkg}/py.typed",
    "src/{pkg}/models/__init__.py",
    "src/{pkg}/models/runs.py",
    "src/{pkg}/workflows/agent.py",
    "src/{pkg}/workflows/approval_gate.py",
    "src/{pkg}/cli/app.py",
    "src/{pkg}/runtime/scopes.py",
    "src/{pkg}/activities/agent.py",
    "src/{pkg}/activities/llm_client.py",
    "src/{pkg}/activities/mcp.py",
    "src/{pkg}/mcp_config.py",
    "examples/mcp/orders_server.py",
    "tests/test_mcp.py",
    "src/{pkg}/runtime/worker.py",
    "src/{pkg}/devtools/fake_llm.py",
    "src/{pkg}/agent/tools/__init__.py",
    "src/{pkg}/runtime/approvals.py",
    "src/{pkg}/observability/telemetry.py",
    "tests/histories/agent_tool_run.json",
    "tests/conftest.py",
]
NEVER_PRESENT = ["_licenses"]
# GitHub Actions' own `${{ ... }}` expressions are meant to survive rendering.
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
LEFTOVER_MARKERS = ("{{", "{%", "{#", "cookiecutter.")


def text_files(project: Path) -> list[Path]:
    files = []
    for path in sorted(project.rglob("*")):
        if path.is_file() and path.name != ".cruft.json":  # the answers record names the template
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            files.append(path)
    return files


def test_variants_cover_every_option_value() -> None:
    for key in OPTION_KEYS:
        declared = COOKIECUTTER_JSON[key]
        values = declared if isinstance(declared, list) else [True, False]
        covered = {variant.options[key] for variant in ALL_VARIANTS}
        assert covered == set(values), f"{key}: variants cover {covered}, options are {values}"


@pytest.mark.parametrize("variant", variant_params())
def test_no_template_syntax_is_left(variant: Variant, rendered_projects: dict[str, Path]) -> None:
    project = rendered_projects[variant.id]
    leftovers = [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in text_files(project)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(marker in GITHUB_EXPRESSION.sub("", line) for marker in LEFTOVER_MARKERS)
    ]
    assert leftovers == []


@pytest.mark.parametrize("variant", variant_params())
def test_structured_files_parse(variant: Variant, rendered_projects: dict[str, Path]) -> None:
    project = rendered_projects[variant.id]
    parsed = 0
    for path in sorted(project.rglob("*")):
        if path.suffix == ".toml":
            tomllib.loads(path.read_text())
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix in {".yaml", ".yml"}:
            list(yaml.safe_load_all(path.read_text()))
        else:
            continue
        parsed += 1
    assert parsed >= 4  # pyproject, .cruft.json, CI workflow, pre-commit config at least


@pytest.mark.parametrize("variant", variant_params())
def test_files_follow_the_options(variant: Variant, rendered_projects: dict[str, Path]) -> None:
    project = rendered_projects[variant.id]
    pkg = project.name.replace("-", "_")
    for relative in ALWAYS_PRESENT:
        assert (project / relative.format(pkg=pkg)).exists(), relative
    for relative in NEVER_PRESENT:
        assert not (project / relative).exists(), relative
    for (key, value), relatives in OPTION_FILES.items():
        wanted = variant.options[key] == value
        for relative in relatives:
            path = project / relative.format(pkg=pkg)
            assert path.exists() is wanted, f"{relative} with {key}={variant.options[key]}"


@pytest.mark.parametrize("variant", variant_params())
def test_answers_drive_metadata(variant: Variant, rendered_projects: dict[str, Path]) -> None:
    project = rendered_projects[variant.id]
    options = variant.options
    version = options["python_version"]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={version}"
    assert pyproject["tool"]["mypy"]["python_version"] == version
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert f"python:{version}-slim" in (project / "Dockerfile").read_text()
    dependencies = " ".join(pyproject["project"]["dependencies"])
    assert ("fastapi" in dependencies) is options["approval_ui"]
    assert ("hvac" in dependencies) is (options["secrets_backend"] == "vault")
    assert ("cryptography" in dependencies) is options["payload_encryption"]

    license_text = (project / "LICENSE").read_text()
    expected_license = {
        "MIT": "MIT License",
        "Apache-2.0": "Apache License",
        "Proprietary": "All rights reserved",
    }
    assert expected_license[options["license"]] in license_text


@pytest.mark.parametrize("variant", variant_params())
def test_answers_are_recorded_for_updates(variant: Variant, rendered_projects: dict[str, Path]) -> None:
    project = rendered_projects[variant.id]
    record = json.loads((project / ".cruft.json").read_text())
    # cruft keeps the context current on update (a top-level version would go stale).
    assert "template_version" not in record
    assert record["context"]["cookiecutter"]["__template_version"] == COOKIECUTTER_JSON["__template_version"]
    assert record["commit"] and record["context"]["cookiecutter"]["_commit"] == record["commit"]
    assert Path(record["template"]).resolve() == Path(__file__).resolve().parents[1]
    answers = record["context"]["cookiecutter"]
    for key, value in variant.options.items():
        assert answers[key] == value, key


def test_project_name_derives_slug_and_package(tmp_path: Path) -> None:
    project = render(tmp_path, {"project_name": "Billing Ops Agent"})
    assert project.name == "billing-ops-agent"
    assert (project / "src" / "billing_ops_agent" / "__init__.py").is_file()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "billing-ops-agent"
    assert pyproject["project"]["scripts"] == {"billing-ops-agent": "billing_ops_agent.cli:main"}


def test_slug_and_package_can_be_overridden(tmp_path: Path) -> None:
    project = render(
        tmp_path,
        {"project_name": "Billing Ops Agent", "project_slug": "billing", "package_name": "billing_core"},
    )
    assert project.name == "billing"
    assert (project / "src" / "billing_core" / "cli" / "__init__.py").is_file()
