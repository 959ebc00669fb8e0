from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import ALL_VARIANTS, Variant, render

# The longest files first: `scripts/test.sh` runs the suite on several xdist workers
# with `--dist loadgroup`, which hands out one item at a time in collection order,
# so the generated projects' suites start at once side by side and the short
# checks fill the gaps (a long item picked up last would set the wall time alone).
LONGEST_FIRST = [
    "test_generated_projects.py",
    "test_layout_migration.py",
    "test_bench.py",
    "test_static.py",
    "test_update.py",
]
VARIANTS = {variant.id: variant for variant in ALL_VARIANTS}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: a file's items keep their order


class LazyRenders(dict[str, Path]):
    """Variants rendered on first use: an xdist worker renders only what its items need."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, variant_id: str) -> Path:
        variant = VARIANTS[variant_id]
        self[variant_id] = render(self.root / variant.id, variant.answers)
        return self[variant_id]


@pytest.fixture(scope="session")
def rendered_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every variant rendered once per session (per worker), keyed by variant id."""
    return LazyRenders(tmp_path_factory.mktemp("variants"))


def variant_params() -> list[object]:
    return [pytest.param(variant, id=variant.id) for variant in ALL_VARIANTS]


def project_of(rendered_projects: dict[str, Path], variant: Variant) -> Path:
    return rendered_projects[variant.id]
