"""The settings' vocabulary that needs no ``Settings``: the variable prefix, placeholder
values, the environments, ``ConfigError`` and a model's price. ``config`` re-exports them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

ENV_PREFIX = "AGENT_"
# Values that mean "nobody filled this in"; refused outside development.
PLACEHOLDER_VALUES = frozenset(
    {"", "changeme", "change-me", "replace-me", "todo", "xxx", "placeholder"}
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ConfigError(Exception):
    """The configuration is unusable; each problem names its variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ModelPrice(BaseModel):
    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / (
            1_000_000
        )
