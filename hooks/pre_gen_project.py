"""Validate the answers before anything is generated.

Every answer reaches this script as JSON data (``tojson``), never as Python
source, so quotes, backslashes or ``__import__`` in an answer cannot run code.
On the first invalid answer the script prints what is wrong, the rule and an
example that passes, and exits non-zero; cookiecutter then removes the
half-created output directory.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Callable

ANSWERS: dict[str, object] = json.loads({{ cookiecutter | tojson | tojson }})

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# Import names the generated service depends on (directly or through its
# tooling); a package with one of these names would shadow it.
DEPENDENCY_IMPORT_NAMES = frozenset(
    {
        "anyio", "click", "cryptography", "fastapi", "google", "grpc", "httpx",
        "hvac", "jinja2", "mypy", "nexusrpc", "openai", "opentelemetry",
        "pydantic", "pydantic_core", "pydantic_settings", "pytest", "requests",
        "ruff", "starlette", "structlog", "temporalio", "test", "tests", "typer",
        "typing_extensions", "uvicorn", "yaml",
    }
)

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "secrets_backend": ("vault", "env"),
    "license": ("MIT", "Apache-2.0", "Proprietary"),
}


class InvalidAnswer(Exception):
    def __init__(self, field: str, rule: str, example: str) -> None:
        super().__init__(field)
        self.field = field
        self.rule = rule
        self.example = example


def _single_line(field: str, example: str, max_length: int) -> Callable[[object], None]:
    def check(value: object) -> None:
        rule = f"a non-empty single line of at most {max_length} characters, without control characters"
        if not isinstance(value, str) or not value.strip() or len(value) > max_length or CONTROL_RE.search(value):
            raise InvalidAnswer(field, rule, example)

    return check


def check_slug(value: object) -> None:
    rule = (
        "a lowercase distribution name: starts with a letter, then letters, digits "
        "and single dashes, at most 40 characters"
    )
    if not isinstance(value, str) or len(value) > 40 or not SLUG_RE.match(value):
        raise InvalidAnswer("project_slug", rule, "billing-ops-agent")


def check_package(value: object) -> None:
    example = "billing_ops_agent"
    if not isinstance(value, str) or not PACKAGE_RE.match(value) or not value.isidentifier():
        raise InvalidAnswer(
            "package_name",
            "a lowercase Python identifier: starts with a letter, then letters, digits and underscores",
            example,
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise InvalidAnswer("package_name", "must not be a Python keyword", example)
    if value in sys.stdlib_module_names:
        raise InvalidAnswer("package_name", "must not shadow a standard-library module", example)
    if value in DEPENDENCY_IMPORT_NAMES:
        raise InvalidAnswer("package_name", "must not shadow a dependency of the generated service", example)


def check_email(value: object) -> None:
    if not isinstance(value, str) or len(value) > 254 or not EMAIL_RE.match(value):
        raise InvalidAnswer("author_email", "an email address such as name@domain.tld", "team@example.com")


def _choice(field: str) -> Callable[[object], None]:
    def check(value: object) -> None:
        allowed = CHOICES[field]
        if value not in allowed:
            raise InvalidAnswer(field, "one of " + ", ".join(allowed), allowed[0])

    return check


def _boolean(field: str) -> Callable[[object], None]:
    def check(value: object) -> None:
        if not isinstance(value, bool):
            raise InvalidAnswer(field, "a boolean: yes/no, true/false", "no")

    return check


CHECKS: dict[str, Callable[[object], None]] = {
    "project_name": _single_line("project_name", "Billing Ops Agent", 80),
    "project_slug": check_slug,
    "package_name": check_package,
    "description": _single_line("description", "Answers billing questions and issues refunds.", 200),
    "author_name": _single_line("author_name", "Billing Team", 100),
    "author_email": check_email,
    "python_version": _choice("python_version"),
    "secrets_backend": _choice("secrets_backend"),
    "approval_ui": _boolean("approval_ui"),
    "payload_encryption": _boolean("payload_encryption"),
    "license": _choice("license"),
}


def check_combinations(answers: dict[str, object]) -> None:
    if answers["payload_encryption"] and answers["secrets_backend"] != "vault":
        raise InvalidAnswer(
            "payload_encryption",
            "payload encryption keeps its keys in Vault, so it needs secrets_backend=vault",
            "payload_encryption=yes secrets_backend=vault",
        )


def validate(answers: dict[str, object]) -> None:
    for field, check in CHECKS.items():
        check(answers.get(field))
    check_combinations(answers)


def main() -> int:
    try:
        validate(ANSWERS)
    except InvalidAnswer as error:
        value = ANSWERS.get(error.field)
        example = error.example if "=" in error.example else f"{error.field}={error.example}"
        print(
            f"ERROR: invalid answer {error.field}={value!r}\n"
            f"  rule: {error.rule}\n"
            f"  example that passes: {example}\n"
            "Nothing was generated. Run cookiecutter again with a valid answer.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
