"""Generated projects take template releases with `cruft update`, keeping their owners' edits.

Every test builds its own fixture release: the template is copied into a fresh
git repository and committed, so the tests never depend on this checkout's
history or on the network (the template's git location is a local path or a
file:// URL). cruft runs as a user runs it, through its command line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ALL_VARIANTS, CONFIG_ENV_PREFIXES, TEMPLATE_DIR, WORK_DIR, tools_venv

if importlib.util.find_spec("cruft") is None:  # a clear failure, not a skip: cruft is test tooling
    pytest.fail("cruft is missing: pip install -r requirements-dev.txt", pytrace=False)

# The "everything" variant has every dependency, so the shared tools venv of
# test_static (ruff, mypy and all dependencies) is reused rather than rebuilt.
ANSWERS = next(variant for variant in ALL_VARIANTS if variant.id == "everything").answers
SLUG = "update-check-agent"
PACKAGE = SLUG.replace("-", "_")
CONTEXT_ARGS = [f"project_name={SLUG.replace('-', ' ').title()}"] + [
    f"{key}={'yes' if value is True else 'no' if value is False else value}" for key, value in ANSWERS.items()
]
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv*", ".work", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "results"
)


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    """git with an identity and defaults of its own, whatever the machine's configuration."""
    config = tmp_path / "gitconfig"
    config.write_text(
        "[user]\n\tname = Template Tests\n\temail = tests@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    return {**os.environ, "GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"}


def run(env: dict[str, str], cwd: Path, *command: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if ok:
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


def cruft(
    env: dict[str, str], project: Path, *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(env, project, sys.executable, "-m", "cruft", *args, ok=ok)


def cookiecutter(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, cwd, sys.executable, "-m", "cookiecutter", "--no-input", *args, *CONTEXT_ARGS)


def git_commit(env: dict[str, str], repo: Path, message: str) -> str:
    run(env, repo, "git", "add", "-A")
    run(env, repo, "git", "commit", "-q", "-m", message)
    return run(env, repo, "git", "rev-parse", "HEAD").stdout.strip()


def template_release(env: dict[str, str], root: Path) -> Path:
    """This template, committed as release 1 of a fresh git repository."""
    template = root / "template"
    shutil.copytree(TEMPLATE_DIR, template, ignore=NOT_COPIED)
    run(env, template, "git", "init", "-q")
    git_commit(env, template, "release 1")
    return template


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once"
    path.write_text(text.replace(old, new))


def skip_paths(project: Path) -> list[str]:
    """The user-owned paths, from the one place they are listed."""
    return list(tomllib.loads((project / "pyproject.toml").read_text())["tool"]["cruft"]["skip"])


def owned(project: Path, suffix: str) -> str:
    """The skipped path ending in `suffix` (``tools/``, ``prompts.py``), as the project names it."""
    return next(path for path in skip_paths(project) if path.endswith(suffix))


def template_owned(template: Path, suffix: str) -> Path:
    """The template file behind a skipped path: the same list, read from the unrendered pyproject.toml."""
    pyproject = (template / "{{cookiecutter.project_slug}}" / "pyproject.toml").read_text()
    skip_line = next(line for line in pyproject.splitlines() if line.startswith("skip = ["))
    path = next(path for path in re.findall(r'"([^"]+)"', skip_line) if path.endswith(suffix))
    return template / "{{cookiecutter.project_slug}}" / re.sub(r"\{\{ *(\S+?) *\}\}", r"{{\1}}", path)


def project_files(project: Path) -> list[Path]:
    return [path for path in project.rglob("*") if ".git" not in path.relative_to(project).parts]


# --- the template location every documented way of generating records ---------------------------


@pytest.mark.parametrize(
    "how", ["cookiecutter .", "relative path", "absolute path", "git url", "abbreviation"]
)
def test_every_way_of_generating_records_a_location_cruft_can_use(
    how: str, tmp_path: Path, git_env: dict[str, str]
) -> None:
    template = template_release(git_env, tmp_path)
    commit = run(git_env, template, "git", "rev-parse", "HEAD").stdout.strip()
    out = tmp_path / "out"
    bare = tmp_path / "mirror" / "agent-template.git"
    if how in {"git url", "abbreviation"}:
        run(git_env, tmp_path, "git", "clone", "-q", "--bare", str(template), str(bare))
    config = tmp_path / "cookiecutterrc.yaml"
    # An abbreviation like gh:owner/repo, pointing at the local mirror: `gh:` itself needs GitHub.
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'clones'}\nreplay_dir: {tmp_path / 'replay'}\n"
        f"abbreviations:\n  mirror: file://{bare.parent}/{{0}}.git\n"
    )
    common = ("--config-file", str(config), "-o", str(out))
    expected = {
        "cookiecutter .": (template, (".",)),
        "relative path": (tmp_path, ("template",)),
        "absolute path": (out.parent, (str(template),)),
        "git url": (out.parent, (f"file://{bare}",)),
        "abbreviation": (out.parent, ("mirror:agent-template",)),
    }
    cwd, location = expected[how]
    generated = cookiecutter(git_env, cwd, *common, *location)
    assert "WARNING" not in generated.stderr, generated.stderr

    project = out / SLUG
    record = json.loads((project / ".cruft.json").read_text())
    recorded = f"file://{bare}" if how in {"git url", "abbreviation"} else str(template.resolve())
    assert record["template"] == recorded
    assert record["commit"] == commit
    assert record["context"]["cookiecutter"]["_template"] == recorded
    assert "_repo_dir" not in record["context"]["cookiecutter"]  # machine-local, not an answer

    moved = tmp_path / "elsewhere" / SLUG  # the project must not depend on where it was generated
    shutil.move(project, moved)
    checked = cruft(git_env, moved, "check")
    assert "SUCCESS" in checked.stdout


@pytest.mark.parametrize("state", ["uncommitted changes", "not a git checkout"])
def test_a_template_that_cannot_be_updated_from_is_named(
    state: str, tmp_path: Path, git_env: dict[str, str]
) -> None:
    template = template_release(git_env, tmp_path)
    if state == "uncommitted changes":
        edit(template / "cookiecutter.json", '"Your Name"', '"Someone Else"')
    else:
        shutil.rmtree(template / ".git")
    generated = cookiecutter(git_env, tmp_path, "-o", str(tmp_path / "out"), str(template))
    assert "WARNING" in generated.stderr and str(template) in generated.stderr
    assert ("records no commit" in generated.stderr) is (state == "not a git checkout")
    assert ("uncommitted changes" in generated.stderr) is (state == "uncommitted changes")


def test_plain_cookiecutter_and_cruft_create_generate_the_same_project(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    template = template_release(git_env, tmp_path)
    cookiecutter(git_env, tmp_path, "-o", str(tmp_path / "plain"), str(template))
    created = cruft(
        git_env,
        tmp_path,
        "create",
        str(template),
        "--no-input",
        "--output-dir",
        str(tmp_path / "cruft"),
        "--extra-context",
        json.dumps(dict(arg.split("=", 1) for arg in CONTEXT_ARGS)),
    )
    assert "Next steps" not in created.stdout + created.stderr
    plain, made = tmp_path / "plain" / SLUG, tmp_path / "cruft" / SLUG
    listing = sorted(p.relative_to(plain).as_posix() for p in project_files(plain))
    assert listing == sorted(p.relative_to(made).as_posix() for p in project_files(made))
    for name in listing:
        if (plain / name).is_file():
            assert (plain / name).read_bytes() == (made / name).read_bytes(), name
    # cruft create keeps no skip list of its own: it lives in pyproject.toml, which both carry.
    assert owned(made, "tools/").endswith(f"{PACKAGE}/agent/tools/")


def test_cruft_diff_is_clean_and_quiet_on_a_fresh_project(tmp_path: Path, git_env: dict[str, str]) -> None:
    template = template_release(git_env, tmp_path)
    generated = cookiecutter(git_env, tmp_path, "-o", str(tmp_path / "out"), str(template))
    assert "Next steps" in generated.stdout  # plain cookiecutter still tells the user what to do
    diff = cruft(git_env, tmp_path / "out" / SLUG, "diff", "--exit-code")
    assert diff.stdout == "", diff.stdout


# --- a release arrives ---------------------------------------------------------------------------


def make_release_2(env: dict[str, str], template: Path) -> str:
    """Release 2: a version bump, a README line, a new doc, Makefile changes, fixes to owned examples."""
    edit(template / "cookiecutter.json", '"__template_version": "', '"__template_version": "99.')
    generated = template / "{{cookiecutter.project_slug}}"
    edit(generated / "README.md", "## Quickstart\n", "## Quickstart\n\nRelease 2 was here.\n")
    (generated / "docs" / "release-2.md").write_text("# Release 2\n\nA new file of release 2.\n")
    makefile = generated / "Makefile"
    edit(makefile, "## the whole test suite ", "## the whole test suite, release 2 ")
    edit(makefile, "--runs 200 ", "--runs 300 ")  # the user edits this line too: a conflict
    tools, prompts = template_owned(template, "tools/"), template_owned(template, "prompts.py")
    edit(tools / "search_docs.py", "good enough for a demo", "good enough for a demo (fix 2)")
    edit(prompts, "You are a careful assistant.", "You are a careful assistant (release 2).")
    return git_commit(env, template, "release 2")


NEW_TOOL = '''"""lookup_order: the user's own tool."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

{tooling_import}


class LookupOrderArgs(BaseModel):
    order_id: str = Field(min_length=1, max_length=40, description="the order to look up")


class LookupOrder(Tool):
    name: ClassVar[str] = "lookup_order"
    description: ClassVar[str] = "Look up an order by its id."
    Args: ClassVar[type[BaseModel]] = LookupOrderArgs

    async def run(self, args: LookupOrderArgs, context: ToolContext) -> str:
        return f"order {{args.order_id}}: shipped"
'''


def make_user_edits(project: Path) -> None:
    """A prompt rewrite, a new tool registered in the registry, a Makefile target and a tweak."""
    prompts = project / owned(project, "prompts.py")
    edit(prompts, "You are a careful assistant.", "You are the billing team's assistant.")
    tools = project / owned(project, "tools/")
    example = (tools / "search_docs.py").read_text()
    tooling_import = next(line for line in example.splitlines() if "import Tool" in line)
    (tools / "lookup_order.py").write_text(NEW_TOOL.format(tooling_import=tooling_import))
    edit(
        tools / "__init__.py",
        "from .search_docs import",
        "from .lookup_order import LookupOrder\nfrom .search_docs import",
    )
    edit(tools / "__init__.py", "SendEmail())", "SendEmail(), LookupOrder())")
    for test in (project / "tests").glob("test_*.py"):  # tests that list the registered tools
        test.write_text(test.read_text().replace('"send_email"}', '"send_email", "lookup_order"}'))
    makefile = project / "Makefile"
    makefile.write_text(makefile.read_text() + "\nsmoke:  ## ours: the CLI answers\n\t$(CLI) --help\n")
    edit(makefile, "--runs 200 ", "--runs 50 ")


def resolve_conflicts_keeping_ours(path: Path) -> None:
    """What a user does by hand: keep their side of each conflict, drop the markers."""
    text = re.sub(
        r"<<<<<<< [^\n]*\n(.*?)=======\n.*?>>>>>>> [^\n]*\n", r"\1", path.read_text(), flags=re.DOTALL
    )
    path.write_text(text)


def test_cruft_update_brings_a_release_and_keeps_the_users_edits(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    template = template_release(git_env, tmp_path)
    cookiecutter(git_env, tmp_path, "-o", str(tmp_path / "out"), str(template))
    project = tmp_path / "out" / SLUG
    run(git_env, project, "git", "init", "-q")
    git_commit(git_env, project, "generated from the template")
    make_user_edits(project)
    git_commit(git_env, project, "our prompt, tool and make target")
    release_2 = make_release_2(git_env, template)

    outdated = cruft(git_env, project, "check", ok=False)
    assert outdated.returncode != 0 and "FAILURE" in outdated.stdout

    updated = cruft(git_env, project, "update", "-y")
    output = updated.stdout + updated.stderr
    assert "Next steps" not in output
    assert "different update strategy" not in output, output  # the 3-way merge did not give up

    # Template changes arrive: a changed file, a new file, the recorded commit and version.
    readme = (project / "README.md").read_text()
    assert "Release 2 was here." in readme
    assert (project / "docs" / "release-2.md").is_file()
    record = json.loads((project / ".cruft.json").read_text())
    assert record["commit"] == release_2
    assert record["context"]["cookiecutter"]["__template_version"].startswith("99.")

    # The user's edits stay, and the skipped examples are left alone.
    prompts = (project / owned(project, "prompts.py")).read_text()
    assert "billing team's assistant" in prompts and "release 2" not in prompts
    tools = project / owned(project, "tools/")
    assert (tools / "lookup_order.py").is_file()
    assert "LookupOrder()" in (tools / "__init__.py").read_text()
    assert "(fix 2)" not in (tools / "search_docs.py").read_text()
    makefile = (project / "Makefile").read_text()
    assert "## the whole test suite, release 2 " in makefile  # the template's side, merged
    assert "\nsmoke:  ## ours" in makefile  # the user's target

    # The edit both sides made is a conflict with markers, not a .rej file.
    assert re.search(r"<<<<<<< .*\n.*--runs 50 .*\n=======\n.*--runs 300 .*\n>>>>>>> ", makefile), makefile
    assert not [p for p in project_files(project) if p.suffix == ".rej"]
    status = run(git_env, project, "git", "status", "--porcelain").stdout
    assert "??" not in status, status
    assert "UU Makefile" in status, status

    resolve_conflicts_keeping_ours(project / "Makefile")
    git_commit(git_env, project, "update to release 2")
    assert "--runs 50 " in (project / "Makefile").read_text()
    assert "SUCCESS" in cruft(git_env, project, "check").stdout
    assert "Nothing to do" in cruft(git_env, project, "update", "-y").stdout

    # Taking an example's fix on purpose, as docs/updating.md shows: unskip, diff, apply one path.
    search_docs = owned(project, "tools/") + "search_docs.py"
    pyproject = project / "pyproject.toml"
    edit(pyproject, f'"{owned(project, "tools/")}", ', "")
    patch = cruft(git_env, project, "diff", ok=False).stdout
    run(git_env, project, "git", "checkout", "pyproject.toml")
    applied = subprocess.run(
        ["git", "apply", f"--include={search_docs}"],
        input=patch,
        cwd=project,
        env=git_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    assert "(fix 2)" in (project / search_docs).read_text()
    assert "LookupOrder()" in (tools / "__init__.py").read_text()  # nothing else was touched
    assert run(git_env, project, "git", "status", "--porcelain").stdout.split() == ["M", search_docs]
    git_commit(git_env, project, "take the search_docs fix of release 2")

    check_updated_project(project)


FAST_SUBSET = ["tests/test_workflow.py", "tests/test_worker.py", "tests/test_config.py"]


def check_updated_project(project: Path) -> None:
    """ruff, mypy --strict and a fast subset of the project's own tests, from the shared tools venv."""
    bin_dir = tools_venv(project) / "bin"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(CONFIG_ENV_PREFIXES)},
        "MYPY_CACHE_DIR": str(WORK_DIR / "mypy-cache"),
        "PYTHONPATH": str(project / "src"),
    }
    for command in (
        ["ruff", "check", "--no-cache", "."],
        ["ruff", "format", "--check", "--no-cache", "."],
        ["mypy"],
        ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *FAST_SUBSET],
    ):
        result = run(env, project, str(bin_dir / command[0]), *command[1:], ok=False)
        assert result.returncode == 0, (
            f"{' '.join(command)}\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
        )
