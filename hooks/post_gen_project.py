"""Trim the generated project to the chosen options and record the answers.

Runs inside the freshly generated project directory. Options remove whole
files (never scattered template conditionals) and the chosen licence text
becomes ``LICENSE``.

Under plain ``cookiecutter`` the hook also writes ``.cruft.json`` (the same
record ``cruft create`` writes: an absolute template path or an expanded git
URL, the commit, every answer) and prints the next steps. Under cruft (create,
update, diff: cruft renders the template into temporary directories and adds
``_commit`` to the context) it does neither: cruft owns ``.cruft.json``, an
extra copy in its renders breaks its 3-way merge, and a banner would land in
every update and in ``cruft diff``'s output. The paths cruft must never
overwrite are listed once, under ``[tool.cruft] skip`` in pyproject.toml.
No network access.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS: dict[str, object] = json.loads({{ cookiecutter | tojson | tojson }})
# tojson sorts keys; cookiecutter.json's order is kept so .cruft.json matches what cruft writes.
ANSWER_ORDER: list[str] = json.loads({{ cookiecutter.keys() | list | tojson | tojson }})

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
            Path("tests") / "test_conversation_api.py",
            Path("tests") / "test_streaming_api.py",
            Path("tests") / "browser_support.py",
            Path("tests") / "test_browser_support.py",
        ]
    if answers["secrets_backend"] != "vault":
        removed += [
            PACKAGE / "secrets" / "vault.py",
            PACKAGE / "secrets" / "vault_errors.py",
            PACKAGE / "secrets" / "vault_server.py",
            PACKAGE / "secrets" / "vault_admin.py",
            PACKAGE / "secrets" / "vault_tokens.py",
            PACKAGE / "secrets" / "vault_session.py",
            PACKAGE / "devtools" / "dev_vault.py",
            PACKAGE / "cli" / "secrets.py",
            Path("tests") / "test_secrets_vault.py",
            Path("tests") / "test_mcp_vault.py",
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
            Path("tests") / "test_unreadable_run.py",
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


def git(repo_dir: Path, *args: str) -> str | None:
    """One line of local git output; None if git fails or is missing."""
    try:
        result = subprocess.run(
            ["git", "-C", str(repo_dir), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def is_template_dir(path: Path) -> bool:
    return (path / "cookiecutter.json").is_file() and (path / "hooks" / "post_gen_project.py").is_file()


def template_dir(answers: dict[str, object]) -> Path | None:
    """The absolute directory cookiecutter rendered from (its clone, for a remote template).

    cookiecutter passes ``_repo_dir`` as typed (``cookiecutter .`` gives ``"."``)
    and runs this hook in the new project, so a relative path cannot be resolved
    against our own working directory. While hooks run, cookiecutter's process
    sits in the template directory (Linux: /proc/<parent>/cwd); elsewhere the
    shell's $PWD is where the user typed the command.
    """
    repo_dir = Path(str(answers.get("_repo_dir") or "."))
    candidates = [repo_dir] if repo_dir.is_absolute() else []
    candidates.append(Path(f"/proc/{os.getppid()}/cwd"))
    if "PWD" in os.environ:
        candidates.append(Path(os.environ["PWD"]) / repo_dir)
    for candidate in candidates:
        try:
            if is_template_dir(candidate):
                return candidate.resolve()
        except OSError:
            continue
    return None


def is_local(answers: dict[str, object]) -> bool:
    """True when cookiecutter rendered the typed path itself, not a clone of a URL or abbreviation."""
    typed, repo_dir = str(answers.get("_template", "")), str(answers.get("_repo_dir", ""))
    return repo_dir == typed or repo_dir.startswith(typed.rstrip("/\\") + os.sep)  # --directory


def template_location(answers: dict[str, object]) -> tuple[str, str | None, str | None]:
    """(template, commit, directory) as ``cruft create`` would record them."""
    typed = str(answers.get("_template", ""))
    rendered_from = template_dir(answers)
    if rendered_from is None:
        return typed, None, None
    top = git(rendered_from, "rev-parse", "--show-toplevel")
    commit = git(rendered_from, "rev-parse", "HEAD")
    if top is None:
        return str(rendered_from), None, None
    top_dir = Path(top).resolve()
    inner = rendered_from.relative_to(top_dir).as_posix()
    directory = None if inner == "." else inner
    if not is_local(answers):
        # cookiecutter cloned the expanded URL (gh:owner/repo -> https://github.com/owner/repo.git).
        return git(top_dir, "remote", "get-url", "origin") or typed, commit, directory
    return str(top_dir), commit, directory


def write_answers_record(answers: dict[str, object]) -> None:
    template, commit, directory = template_location(answers)
    # cookiecutter's own bookkeeping (paths on this machine) is not an answer.
    context = {
        key: answers[key]
        for key in ANSWER_ORDER
        if key in answers and key not in {"_output_dir", "_repo_dir", "_checkout", "_template", "_commit"}
    }
    context |= {"_template": template, "_commit": commit}
    record = {
        "template": template,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": directory,
    }
    (PROJECT / ".cruft.json").write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if commit is None:
        print(
            f"WARNING: {template} is not a git checkout, so .cruft.json records no commit and "
            "`cruft update` cannot use it. Generate from a git checkout or URL (`cruft create <url>`), "
            "or run `cruft link <url>` in the project.",
            file=sys.stderr,
        )
    elif Path(template).is_dir() and git(Path(template), "status", "--porcelain", "--untracked-files=no"):
        print(
            f"WARNING: the template checkout {template} has uncommitted changes; .cruft.json records "
            f"commit {commit[:12]}, which does not contain them, so a later `cruft update` will "
            "re-apply or revert them. Commit the template first for a clean update path.",
            file=sys.stderr,
        )


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
    if "_commit" not in ANSWERS:  # plain cookiecutter; cruft renders carry _commit
        write_answers_record(ANSWERS)
        print_next_steps(ANSWERS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
