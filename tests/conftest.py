from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import ALL_VARIANTS, Variant, render


@pytest.fixture(scope="session")
def rendered_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every variant rendered once per session, keyed by variant id."""
    root = tmp_path_factory.mktemp("variants")
    return {variant.id: render(root / variant.id, variant.answers) for variant in ALL_VARIANTS}


def variant_params() -> list[object]:
    return [pytest.param(variant, id=variant.id) for variant in ALL_VARIANTS]


def project_of(rendered_projects: dict[str, Path], variant: Variant) -> Path:
    return rendered_projects[variant.id]
