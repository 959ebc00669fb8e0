"""Trim the generated project to the chosen options and record the answers.

Runs inside the freshly generated project directory. Options remove whole
files (never scattered template conditionals), the chosen licence text becomes
``LICENSE``, and ``.cruft.json`` records the template, its version and commit
and every answer, so the project can be regenerated or updated later
(``cruft update`` understands the file). No network access.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS: dict[str, object] = json.loads({{ cookiecutter | tojson | tojson }})

PROJECT = Path.cwd()
PACKAGE = Path("src") / str(ANSWERS["package_name"])


def files_to_remove(answers: dict[str, object]) -> list[Path]:
    """Paths (relative to the project) that the chosen options do not need."""
    removed: list[Path] = []
    if not answers["approval_ui"]:
        removed += [
            PACKAGE / "api",
            PACKAGE / "cli" / "api.py",
            Path("deploy") / "k8s" / "api.yaml",
            Path("tests") / "test_api.py",
            Path("tests") / "test_approval_api.py",
            Path("tests") / "test_approval_page.py",
            Path("tests") / "test_streaming_api.py",
        ]
    if answers["secrets_backend"] != "vault":
        removed += [
            PACKAGE / "secrets" / "vault.py",
            PACKAGE / "secrets" / "vault_errors.py",
            PACKAGE / "secrets" / "vault_server.py",
            PACKAGE / "secrets" / "vault_admin.py",
            PACKAGE / "devtools" / "dev_vault.py",
            PACKAGE / "cli" / "secrets.py",
            Path("tests") / "test_secrets_vault.py",
            Path("tests") / "test_vault_policies.py",
            Path("tests") / "test_secrets_cli.py",
            Path("tests") / "test_vault_kubernetes.py",
            Path("tests") / "test_secrets_e2e.py",
            Path("tests") / "vault_support.py",
            Path("tests") / "test_health_vault.py",
            Path("tests") / "test_chaos_vault.py",
            Path("deploy") / "vault",
        ]
    if not answers["payload_encryption"]:
        removed += [
            PACKAGE / "runtime" / "codec.py",
            PACKAGE / "runtime" / "codec_server.py",
            PACKAGE / "cli" / "codec.py",
            Path("tests") / "test_codec.py",
            Path("tests") / "test_codec_server.py",
            Path("tests") / "test_payload_encryption.py",
            Path("deploy") / "vault" / "policies" / "codec.hcl",
        ]
    return removed


def remove(path: Path) -> None:
    target = PROJECT / path
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()


def install_license(choice: str) -> None:
    licenses = PROJECT / "_licenses"
    shutil.move(str(licenses / choice), str(PROJECT / "LICENSE"))
    shutil.rmtree(licenses)


def template_commit(repo_dir: str) -> str | None:
    """The template's git commit, read locally; None outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "-C", repo_dir, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def write_answers_record(answers: dict[str, object]) -> None:
    context = {
        key: value
        for key, value in answers.items()
        if not key.startswith("_") or key in {"_template", "_extensions", "_copy_without_render"}
    }
    template = str(answers.get("_template", ""))
    if "://" not in template and not template.startswith(("gh:", "gl:", "bb:", "git@")):
        template = str(answers.get("_repo_dir", template))  # a local checkout: keep its full path
    record = {
        "template": template,
        "commit": template_commit(str(answers.get("_repo_dir", ""))),
        "checkout": answers.get("_checkout"),
        "template_version": answers.get("__template_version"),
        "context": {"cookiecutter": context},
        "directory": None,
        "skip": [
            ".env",
            *(
                f"src/{answers['package_name']}/{owned}"
                for owned in ("agent/tools/", "agent/prompts.py", "agent/policies.py")
            ),
        ],
    }
    (PROJECT / ".cruft.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def print_next_steps(answers: dict[str, object]) -> None:
    slug = answers["project_slug"]
    print(
        f"\nCreated {slug}/. Next steps:\n"
        f"  cd {slug}\n"
        f"  python{answers['python_version']} -m venv .venv && .venv/bin/pip install -e '.[dev]'\n"
        "  cp .env.example .env      # then edit it\n"
        "  make test                 # the service's own test suite\n"
        "  make dev                  # local Temporal + the service\n"
        "See README.md for the full tour."
    )


def main() -> int:
    for path in files_to_remove(ANSWERS):
        remove(path)
    install_license(str(ANSWERS["license"]))
    write_answers_record(ANSWERS)
    print_next_steps(ANSWERS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
