"""The package's layering holds: no import cycle, no import from a lower layer to a higher one.

The import graph is computed from the source (``ast``), so a new module or a
new import is checked without anyone registering it. The layers and their
rules are explained in the README's "Layout" section.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import {{ cookiecutter.package_name }}

PACKAGE = Path({{ cookiecutter.package_name }}.__file__).parent
ROOT = {{ cookiecutter.package_name }}.__name__

# Top to bottom. A module may import its own sub-package and any layer below
# its own; never a layer above, nor a sibling on the same layer (the workflows
# never import the activities, the HTTP API never imports the dev tools).
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"api", "devtools"},
    {"runtime"},
    {"workflows", "activities"},
    {"agent"},
    {"secrets"},
    {"observability"},
    # The base: the modules at the package's top (SERVICE_NAME, config, models),
    # the vocabulary every layer shares.
    {""},
]
RANK = {group: rank for rank, groups in enumerate(LAYERS) for group in groups}
# Workflow code is replayed inside Temporal's sandbox: it may reach only these
# modules (no I/O, no clients, no secrets), directly or through what they import.
WORKFLOW_SAFE = {
    "",
    "models",
    "models.approvals",
    "models.base",
    "models.conversations",
    "models.events",
    "models.names",
    "models.runs",
    "agent",
    "agent.policies",
    "observability",
    "observability.metrics",
    "observability.workflow_telemetry",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _absolute(current: str, is_package: bool, level: int, target: str | None) -> str:
    base = current.split(".") if current else []
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def _local(name: str) -> str | None:
    """``name`` relative to the package ("" for the package itself), or None if outside it."""
    if name == ROOT:
        return ""
    if name.startswith(ROOT + "."):
        return name[len(ROOT) + 1 :]
    return None


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every package module ``name`` imports, at the top or inside a function."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (local := _local(alias.name)) is not None:
                    yield local
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _absolute(name, is_package, node.level, node.module)
            elif (local := _local(node.module or "")) is not None:
                target = local
            else:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}" if target else alias.name
                # `from . import policies` imports a module, not its package's names
                yield submodule if submodule in known else target
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.startswith(".")
        ):
            # importlib.import_module(".codec", __package__): modules an option may remove
            relative = node.args[0].value
            level = len(relative) - len(relative.lstrip("."))
            target = _absolute(name, is_package, level, relative.lstrip("."))
            if target in known:
                yield target


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        name: {target for target in imports_of(name, path, known) if target != name}
        for name, path in found.items()
    }


def group_of(module: str) -> str:
    """The sub-package a module belongs to; "" for the base modules at the top."""
    head = module.split(".")[0]
    return head if head in RANK else ""


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            if (cycle := visit(target)) is not None:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if (cycle := visit(start)) is not None:
            return cycle
    return None


def against_layers(graph: dict[str, set[str]]) -> list[str]:
    """The imports that reach a higher layer or a sibling on the same layer."""
    return [
        f"{source} ({group_of(source) or 'base'}) imports {target} ({group_of(target) or 'base'})"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if group_of(source) != group_of(target) and RANK[group_of(target)] <= RANK[group_of(source)]
    ]


def test_the_graph_sees_the_package() -> None:
    # A guard against a checker that silently reads nothing.
    graph = import_graph()
    assert {"models", "agent.policies"} <= graph["workflows.agent_loop"]
    assert "workflows.agent" in graph["runtime.worker"]


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_reaches_up_or_sideways() -> None:
    wrong = against_layers(import_graph())
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_workflow_code_reaches_only_sandbox_safe_modules() -> None:
    graph = import_graph()
    reached: set[str] = set()
    todo = [name for name in graph if group_of(name) == "workflows"]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(graph[name])
    outside = sorted(m for m in reached if group_of(m) != "workflows" and m not in WORKFLOW_SAFE)
    assert not outside, f"workflow code imports modules that do I/O: {outside}"


def test_the_checks_catch_a_cycle_an_upward_and_a_sideways_import() -> None:
    # The cycle this layout removed: the secret layer reading the tool registry.
    cycle = {"secrets.scopes": {"agent.tools"}, "agent.tools": {"secrets.scopes"}}
    assert find_cycle(cycle) == ["agent.tools", "secrets.scopes", "agent.tools"]
    assert against_layers(cycle) == ["secrets.scopes (secrets) imports agent.tools (agent)"]
    sideways = {"workflows.agent": {"activities.agent"}, "activities.agent": {"models"}}
    assert find_cycle(sideways) is None
    assert against_layers(sideways) == [
        "workflows.agent (workflows) imports activities.agent (activities)"
    ]
